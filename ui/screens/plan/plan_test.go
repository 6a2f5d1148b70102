package plan_test

import (
	"context"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	syncplan "github.com/pbx365/pbx365/sync/plan"
	"github.com/pbx365/pbx365/ui/common"
	"github.com/pbx365/pbx365/ui/screens/plan"
	"github.com/pbx365/pbx365/ui/uitest"
)

const idle = 80 * time.Millisecond

type planScreen interface {
	common.Screen
	Plan() (syncplan.Plan, bool)
}

func newScreen(t *testing.T, f *uitest.Fake) (*common.Context, planScreen) {
	c := common.NewContext(context.Background(), f, false)
	s := plan.New(c).(planScreen)
	s.SetSize(100, 24)
	return c, s
}

func press(s common.Screen, keys ...string) []tea.Msg { return uitest.Press(s.Update, keys...) }

func chosen(f *uitest.Fake, n int) common.Selection {
	snap, _ := f.Directory(context.Background())
	sel := common.Selection{Scope: common.ScopeSelected}
	for _, u := range snap.Users[:n] {
		sel.Users = append(sel.Users, u.ObjectID)
	}
	return sel
}

func TestGroupedCountsExplainAndApplyAsks(t *testing.T) {
	f := uitest.NewFake(60)
	_, s := newScreen(t, f)
	if out := ansi.Strip(s.View()); !strings.Contains(out, "Choose who to sync on the Users screen") {
		t.Fatalf("empty plan screen:\n%s", out)
	}
	uitest.Send(s.Update, idle, common.SelectionChosenMsg{Selection: chosen(f, 3)})
	out := ansi.Strip(s.View())
	if !strings.Contains(out, "[all] · 3 create · 57 skip") {
		t.Fatalf("counts line:\n%s", out)
	}
	// Grouped: every create comes before the first skip.
	if strings.Index(out, "skip ") < strings.LastIndex(out, "create ") {
		t.Fatalf("not grouped by action:\n%s", out)
	}
	press(s, "right") // only creates
	out = ansi.Strip(s.View())
	if !strings.Contains(out, "[3 create]") || strings.Contains(out, "  skip ") {
		t.Fatalf("action filter:\n%s", out)
	}
	press(s, "enter")
	out = ansi.Strip(s.View())
	for _, want := range []string{"Explain", "[pass] eligibility.enabled", "[pass] scope.selected", "FirstName", "outcome: create 100"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain lacks %q:\n%s", want, out)
		}
	}
	press(s, "esc")
	msgs := press(s, "a")
	var ask *common.ConfirmMsg
	for _, m := range msgs {
		if m, ok := m.(common.ConfirmMsg); ok {
			ask = &m
		}
	}
	if ask == nil || ask.Title != "Apply this plan?" || !strings.Contains(ask.Body, "3 changes") {
		t.Fatalf("apply did not ask: %+v", ask)
	}
	var start *common.StartRunMsg
	for _, m := range uitest.Collect(ask.Yes, idle) {
		if m, ok := m.(common.StartRunMsg); ok {
			start = &m
		}
	}
	p, _ := s.Plan()
	if start == nil || start.AllowRemovals || start.Plan.Hash != p.Hash {
		t.Fatalf("yes started %+v", start)
	}
}

func TestExcludedExplainShowsFailingRule(t *testing.T) {
	f := uitest.NewFake(60)
	_, s := newScreen(t, f)
	uitest.Send(s.Update, idle, common.SelectionChosenMsg{Selection: common.Selection{Scope: common.ScopeAll}})
	press(s, "/")
	for _, k := range uitest.Type("guest") {
		uitest.Send(s.Update, idle, k)
	}
	press(s, "enter", "enter")
	if out := ansi.Strip(s.View()); !strings.Contains(out, `[fail] eligibility.user_type`) || !strings.Contains(out, `userType "Guest"`) {
		t.Fatalf("guest explain:\n%s", out)
	}
}

func TestStalePlanDropped(t *testing.T) {
	f := uitest.NewFake(30)
	_, s := newScreen(t, f)
	c1 := s.Update(common.SelectionChosenMsg{Selection: chosen(f, 1)})
	c2 := s.Update(common.SelectionChosenMsg{Selection: chosen(f, 2)})
	m1, m2 := c1(), c2()
	s.Update(m2)
	s.Update(m1) // older answer arrives last
	if p, _ := s.Plan(); p.Counts[syncplan.ActCreate] != 2 {
		t.Fatalf("plan shows %d creates: the stale plan replaced the newer one", p.Counts[syncplan.ActCreate])
	}
}

func TestNothingToApply(t *testing.T) {
	f := uitest.NewFake(5)
	c, s := newScreen(t, f)
	uitest.Send(s.Update, idle, common.SelectionChosenMsg{Selection: common.Selection{Scope: common.ScopeAllExcept, Users: chosen(f, 5).Users}})
	msgs := press(s, "a")
	if len(msgs) != 1 {
		t.Fatalf("a with nothing to do: %v", msgs)
	}
	if st, ok := msgs[0].(common.StatusMsg); !ok || !strings.Contains(st.Text, "nothing to apply") {
		t.Fatalf("status %#v", msgs[0])
	}
	c.RunActive = true
	uitest.Send(s.Update, idle, common.SelectionChosenMsg{Selection: chosen(f, 2)})
	if msgs := press(s, "a"); len(msgs) != 1 || !strings.Contains(msgs[0].(common.StatusMsg).Text, "a run is active") {
		t.Fatalf("apply during a run: %v", msgs)
	}
}
