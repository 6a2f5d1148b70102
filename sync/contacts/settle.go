package contacts

import (
	"context"
	"fmt"

	"github.com/pbx365/pbx365/pbxclient"
	"github.com/pbx365/pbx365/sync/plan"
)

// Settle finishes what a previous run left open: for each open intent it
// looks the entry up by its marker and records what really happened (the
// map of an entry that exists, or that the write never landed), so the next
// plan starts from the truth. It returns how many intents it settled.
func (e *Engine) Settle(ctx context.Context) (int, error) {
	open, err := e.State.OpenIntents()
	if err != nil {
		return 0, fmt.Errorf("read open contact intents: %w", err)
	}
	books := map[string][]pbxclient.Contact{}
	var sts []Settlement
	for _, in := range open {
		entries, ok := books[in.Phonebook]
		if !ok {
			if entries, err = readPhonebook(ctx, e.PBX, in.Number); err != nil {
				return 0, fmt.Errorf("settle: read phonebook %s: %w", in.Phonebook, err)
			}
			books[in.Phonebook] = entries
		}
		sts = append(sts, e.settleOne(in, entries))
	}
	if len(sts) == 0 {
		return 0, nil
	}
	if err := e.State.Settle(sts); err != nil {
		return 0, fmt.Errorf("settle %d open contact intents: %w", len(sts), err)
	}
	return len(sts), nil
}

func (e *Engine) settleOne(in Intent, entries []pbxclient.Contact) Settlement {
	item := &AuditItem{RunID: in.RunID, Time: e.now(), ObjectID: in.Mailbox, Number: in.Number, Action: in.Action,
		Rule: "settle.after_interruption"}
	st := Settlement{IntentID: in.ID, Item: item}
	var x pbxclient.Contact
	found := false
	if in.Tag != "" {
		x, found, _ = byTag(entries, in.Tag)
	}
	key := sourceKey(in.Mailbox, in.SourceID)
	switch {
	case in.SourceID == "":
		// An orphan's removal: the next plan looks again.
		st.Outcome, item.Skipped, item.Err = "replanned", true, "interrupted; the next plan compares again"
	case in.Action == plan.ActDelete && !found:
		st.Outcome, item.OK = "ok", true
		st.Drop = &Map{Phonebook: in.Phonebook, SourceID: key}
	case in.Action == plan.ActDelete:
		st.Outcome, item.Skipped, item.Err = "replanned", true, "the interrupted removal did not reach the PBX; planned again"
	case found:
		// Created, adopted or updated: map the entry as it is now; the next
		// plan puts back any field the write did not reach.
		st.Outcome, item.OK = "ok", true
		st.Put = &Map{Phonebook: in.Phonebook, SourceID: key, PBXContactID: x.ID, Hash: EntryHash(x)}
		item.After = map[string]string{"Phonebook": in.Phonebook, "Tag": in.Tag}
	default:
		st.Outcome, item.Skipped, item.Err = "absent", true, "the interrupted write did not reach the PBX; planned again"
	}
	return st
}
