package common

import (
	"context"

	"github.com/pbx365/pbx365/sync/plan"
)

// PreviewBackend is implemented by backends that plan a selection for show
// only: nothing is settled or kept, so the plan cannot be applied (use
// Backend.Plan for that). The Users screen uses it to show the numbers and
// states the chosen selection would get.
type PreviewBackend interface {
	Preview(ctx context.Context, sel Selection) (plan.Plan, error)
}

// PlannedStates returns a copy of users with the state, extension and reason
// plan p gives each: will create or adopt (with the number), conflict,
// excluded with the rule and reason (a linked user leaving scope keeps its
// extension on show), linked when the plan leaves a linked user alone, and
// excluded "not planned" for anyone else. Users carry Linked for linked users.
func PlannedStates(users []DirectoryUser, p plan.Plan) []DirectoryUser {
	byUser := make(map[string]*plan.Change, len(p.Changes))
	for i := range p.Changes {
		byUser[p.Changes[i].ObjectID] = &p.Changes[i]
	}
	out := make([]DirectoryUser, len(users))
	for i, u := range users {
		u.State, u.Extension, u.Reason = plannedState(u.Linked, byUser[u.ObjectID])
		out[i] = u
	}
	return out
}

func plannedState(linked string, c *plan.Change) (UserState, string, string) {
	if c == nil {
		if linked != "" {
			return StateLinked, linked, ""
		}
		return StateExcluded, "", "not planned"
	}
	why := c.Rule + ": " + c.Reason
	switch c.Action {
	case plan.ActCreate:
		return StateCreate, c.Number, ""
	case plan.ActAdopt:
		return StateAdopt, c.Number, ""
	case plan.ActConflict:
		return StateConflict, "", why
	case plan.ActSkip, plan.ActDisable, plan.ActDelete:
		return StateExcluded, linked, why
	}
	if linked != "" { // update, enable, recreate: stays linked
		return StateLinked, linked, ""
	}
	return StateExcluded, "", "not planned"
}
