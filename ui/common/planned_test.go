package common

import (
	"testing"

	"github.com/pbx365/pbx365/sync/plan"
)

func TestPlannedStates(t *testing.T) {
	users := []DirectoryUser{
		{ObjectID: "new"}, {ObjectID: "adopt"}, {ObjectID: "clash"}, {ObjectID: "guest"},
		{ObjectID: "stays", Linked: "101"}, {ObjectID: "leaves", Linked: "102"}, {ObjectID: "changes", Linked: "103"},
		{ObjectID: "nobody"},
	}
	p := plan.Plan{Changes: []plan.Change{
		{ObjectID: "new", Action: plan.ActCreate, Number: "110"},
		{ObjectID: "adopt", Action: plan.ActAdopt, Number: "120"},
		{ObjectID: "clash", Action: plan.ActConflict, Rule: "email.unique", Reason: "used by 104"},
		{ObjectID: "guest", Action: plan.ActSkip, Rule: "eligibility.guest", Reason: "guest"},
		{ObjectID: "leaves", Action: plan.ActDisable, Number: "102", Rule: "removal", Reason: "left scope"},
		{ObjectID: "changes", Action: plan.ActUpdate, Number: "103"},
	}}
	want := map[string][3]string{
		"new":     {string(StateCreate), "110", ""},
		"adopt":   {string(StateAdopt), "120", ""},
		"clash":   {string(StateConflict), "", "email.unique: used by 104"},
		"guest":   {string(StateExcluded), "", "eligibility.guest: guest"},
		"stays":   {string(StateLinked), "101", ""},
		"leaves":  {string(StateExcluded), "102", "removal: left scope"},
		"changes": {string(StateLinked), "103", ""},
		"nobody":  {string(StateExcluded), "", "not planned"},
	}
	got := PlannedStates(users, p)
	for _, u := range got {
		if w := want[u.ObjectID]; [3]string{string(u.State), u.Extension, u.Reason} != w {
			t.Errorf("%s: %s %q %q, want %v", u.ObjectID, u.State, u.Extension, u.Reason, w)
		}
	}
	if users[0].State != "" {
		t.Error("PlannedStates changed its input")
	}
}
