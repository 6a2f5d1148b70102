package users

import (
	"context"
	"errors"
	"fmt"

	"github.com/pbx365/pbx365/pbxclient"
	"github.com/pbx365/pbx365/sync/plan"
)

// Settle finishes what a previous run left open: for each open intent it
// looks at the PBX and records what really happened, so the next plan starts
// from the truth. It returns how many intents it settled.
func (e *Engine) Settle(ctx context.Context) (int, error) {
	open, err := e.State.OpenIntents()
	if err != nil {
		return 0, fmt.Errorf("read open intents: %w", err)
	}
	n := 0
	for _, in := range open {
		st, err := e.settleOne(ctx, in)
		if err != nil {
			return n, fmt.Errorf("settle %s of %s (extension %s): %w", in.Action, in.UPN, in.Number, err)
		}
		if err := e.State.Settle(st); err != nil {
			return n, fmt.Errorf("settle intent %d: %w", in.ID, err)
		}
		n++
	}
	return n, nil
}

func (e *Engine) settleOne(ctx context.Context, in Intent) (Settlement, error) {
	item := &AuditItem{RunID: in.RunID, Time: e.now(), ObjectID: in.ObjectID, UPN: in.UPN, Number: in.Number,
		Action: in.Action, Rule: "settle.after_interruption"}
	st := Settlement{IntentID: in.ID, Item: item}
	switch in.Action {
	case plan.ActCreate, plan.ActRecreate:
		u, ok, err := lookupExtension(ctx, e.PBX, in.Number, in.Email)
		if err != nil {
			return st, err
		}
		if ok {
			item.OK, st.Outcome = true, "ok"
			st.Link = &plan.Link{ObjectID: in.ObjectID, PBXUserID: u.ID, Number: u.Number}
			item.After = map[string]string{"Number": u.Number}
			return st, nil
		}
		// It did not happen. A create's reservation stays, so the user keeps
		// the number; the next plan creates the extension.
		st.Outcome, item.Skipped = "absent", true
		item.Err = "the interrupted write did not reach the PBX; planned again"
		return st, nil
	case plan.ActAdopt:
		u, err := e.PBX.GetUser(ctx, in.PBXUserID)
		switch {
		case errors.Is(err, pbxclient.ErrNotFound):
			st.Outcome, item.Skipped = "absent", true
			item.Err = "the extension to adopt is gone; planned again"
			return st, nil
		case err != nil:
			return st, err
		}
		if in.Email == "" || lowerEq(u.EmailAddress, in.Email) {
			item.OK, st.Outcome = true, "ok"
			st.Link = &plan.Link{ObjectID: in.ObjectID, PBXUserID: u.ID, Number: u.Number}
			return st, nil
		}
		st.Outcome, item.Skipped = "absent", true
		item.Err = "the adoption did not complete; planned again"
		return st, nil
	default:
		// Updates, enables, disables and deletes are re-planned from the
		// PBX's current state; nothing to record but the interruption.
		st.Outcome, item.Skipped = "replanned", true
		item.Err = "interrupted; the next plan compares again"
		return st, nil
	}
}
