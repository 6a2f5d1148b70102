package contacts

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/pbx365/pbx365/store"
	"github.com/pbx365/pbx365/sync/plan"
	"github.com/pbx365/pbx365/sync/progress"
	"github.com/pbx365/pbx365/sync/users"
)

// StoreState is State on pbx365's bbolt store.
type StoreState struct {
	S *store.Store
}

var _ State = StoreState{}

// changeKeyPrefix marks this engine's intents in the shared intent bucket.
const changeKeyPrefix = "contacts/"

// Settings reads the contacts.* settings and users.phone_region.
func (st StoreState) Settings() (Settings, error) {
	s, err := st.S.Settings()
	if err != nil {
		return Settings{}, err
	}
	return Settings{Personal: s.Contacts.Personal, SharedMailboxes: s.Contacts.SharedMailboxes, Folders: s.Contacts.Folders,
		PhoneRegion: s.Users.PhoneRegion}, nil
}

// Links reads the user links (users linked by user sync).
func (st StoreState) Links() ([]plan.Link, error) { return users.StoreState{S: st.S}.Links() }

// Maps reads the contact maps of one phonebook.
func (st StoreState) Maps(phonebook string) ([]Map, error) {
	ms, err := st.S.ContactMaps(phonebook)
	if err != nil {
		return nil, err
	}
	out := make([]Map, len(ms))
	for i, m := range ms {
		out[i] = Map{Phonebook: m.Phonebook, SourceID: m.SourceID, PBXContactID: m.PBXContactID, Hash: m.Hash}
	}
	return out, nil
}

// DeltaLinks reads one source's stored contact delta tokens, by name.
func (st StoreState) DeltaLinks(prefix string) (map[string]string, error) {
	ts, err := st.S.DeltaTokensUnder(prefix)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(ts))
	for _, t := range ts {
		out[t.Name] = t.Token
	}
	return out, nil
}

// SaveDeltaLinks replaces each source's tokens in one transaction.
func (st StoreState) SaveDeltaLinks(byPrefix map[string]map[string]string) error {
	return st.S.Update(func(tx *store.Tx) error {
		for prefix, links := range byPrefix {
			if err := tx.ReplaceDeltaTokens(prefix, links); err != nil {
				return fmt.Errorf("save contact delta tokens %s: %w", prefix, err)
			}
		}
		return nil
	})
}

// BeginRun records a running run of kind "contacts/<kind>".
func (st StoreState) BeginRun(kind, planHash string) (uint64, error) {
	r, err := st.S.StartRun("contacts/"+kind, planHash)
	return r.ID, err
}

// EndRun records a run's outcome (the same counts and statuses as user sync).
func (st StoreState) EndRun(runID uint64, sum progress.Summary) error {
	return users.StoreState{S: st.S}.EndRun(runID, sum)
}

// intentPayload is what an intent carries beyond the store's fields.
type intentPayload struct {
	Phonebook string `json:"phonebook"`
	SourceID  string `json:"source_id,omitempty"`
	Tag       string `json:"tag,omitempty"`
	PBXID     int32  `json:"pbx_contact_id,omitempty"`
}

// OpenIntents lists this engine's intents left open.
func (st StoreState) OpenIntents() ([]Intent, error) {
	ins, err := st.S.ListOpenIntents()
	if err != nil {
		return nil, err
	}
	var out []Intent
	for _, in := range ins {
		if !strings.HasPrefix(in.ChangeKey, changeKeyPrefix) {
			continue // another engine's
		}
		var p intentPayload
		if err := json.Unmarshal(in.Payload, &p); err != nil {
			return nil, fmt.Errorf("contact intent %d: %w", in.ID, err)
		}
		out = append(out, Intent{ID: in.ID, RunID: in.Run, Action: plan.Action(in.Action), Phonebook: p.Phonebook,
			Number: in.Number, Mailbox: in.ObjectID, SourceID: p.SourceID, Tag: p.Tag, PBXID: p.PBXID})
	}
	return out, nil
}

// PutIntents stores intents in one shared transaction.
func (st StoreState) PutIntents(ins []Intent) ([]uint64, error) {
	recs := make([]store.Intent, len(ins))
	for i, in := range ins {
		payload, err := json.Marshal(intentPayload{Phonebook: in.Phonebook, SourceID: in.SourceID, Tag: in.Tag, PBXID: in.PBXID})
		if err != nil {
			return nil, err
		}
		recs[i] = store.Intent{Run: in.RunID, ChangeKey: changeKeyPrefix + string(in.Action) + "/" + in.Phonebook + "/" + in.Mailbox + "/" + in.SourceID + in.Tag,
			Action: string(in.Action), ObjectID: in.Mailbox, Number: in.Number, Payload: payload}
	}
	ids := make([]uint64, len(ins))
	err := st.S.Batch(func(tx *store.Tx) error {
		for i, r := range recs {
			id, err := tx.PutIntent(r)
			if err != nil {
				return err
			}
			ids[i] = id
		}
		return nil
	})
	return ids, err
}

// Settle writes the maps and the audit items first, then closes the
// intents in one transaction: a crash in between leaves intents open whose
// settling writes the same maps again.
func (st StoreState) Settle(ss []Settlement) error {
	var puts []store.ContactMap
	drops := map[string][]string{}
	var items []AuditItem
	for _, s := range ss {
		if s.Put != nil {
			puts = append(puts, store.ContactMap{Phonebook: s.Put.Phonebook, SourceID: s.Put.SourceID, PBXContactID: s.Put.PBXContactID, Hash: s.Put.Hash})
		}
		if s.Drop != nil {
			drops[s.Drop.Phonebook] = append(drops[s.Drop.Phonebook], s.Drop.SourceID)
		}
		if s.Item != nil {
			items = append(items, *s.Item)
		}
	}
	if len(puts) > 0 {
		if err := st.S.PutContactMaps(puts); err != nil {
			return err
		}
	}
	for pb, ids := range drops {
		if err := st.S.DeleteContactMaps(pb, ids...); err != nil {
			return err
		}
	}
	if err := st.AppendAudit(items); err != nil {
		return err
	}
	return st.S.Batch(func(tx *store.Tx) error {
		for _, s := range ss {
			if s.IntentID == 0 {
				continue
			}
			outcome := store.OutcomeNotWritten
			switch s.Outcome {
			case "ok":
				outcome = store.OutcomeDone
			case "failed":
				outcome = store.OutcomeFailed
			}
			if err := tx.SettleIntent(s.IntentID, outcome); err != nil {
				return err
			}
		}
		return nil
	})
}

// AppendAudit writes audit items in one transaction.
func (st StoreState) AppendAudit(items []AuditItem) error {
	return users.StoreState{S: st.S}.AppendAudit(items)
}
