package users

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/pbx365/pbx365/store"
	"github.com/pbx365/pbx365/sync/plan"
	"github.com/pbx365/pbx365/sync/progress"
)

// StoreState is State on pbx365's bbolt store.
type StoreState struct {
	S *store.Store
}

var _ State = StoreState{}

// PlanSettings converts the stored settings into the planner's.
func PlanSettings(s store.Settings) Settings {
	u := s.Users
	return Settings{
		Plan: plan.Settings{
			Scope: u.Scope, Selected: u.Selected, IncludeGuests: u.IncludeGuests, IncludeUntyped: u.IncludeUntyped,
			ExtStart: u.ExtStart, ExtEnd: u.ExtEnd, CallerID: u.CallerID, Photos: u.Photos, PhoneRegion: u.PhoneRegion,
			Department: u.Department, Removal: u.Removal, RemovalGrace: u.RemovalGrace, MaxRemovals: u.MaxRemovals.String(),
			SSOEnabled: s.SSO.Enabled, SSOUsers: s.SSO.Users, SSOSelected: s.SSO.Selected,
		},
		Groups: u.Groups,
	}
}

// Settings reads the settings.
func (st StoreState) Settings() (Settings, error) {
	s, err := st.S.Settings()
	if err != nil {
		return Settings{}, err
	}
	return PlanSettings(s), nil
}

// Links reads every link.
func (st StoreState) Links() ([]plan.Link, error) {
	ls, err := st.S.Links()
	if err != nil {
		return nil, err
	}
	out := make([]plan.Link, len(ls))
	for i, l := range ls {
		out[i] = plan.Link{ObjectID: l.ObjectID, PBXUserID: l.PBXUserID, Number: l.Number, LeftAt: l.LeftAt, Disabled: l.Disabled, PhotoETag: l.PhotoETag}
	}
	return out, nil
}

func toStoreLink(l plan.Link) store.Link {
	return store.Link{ObjectID: l.ObjectID, PBXUserID: l.PBXUserID, Number: l.Number, LeftAt: l.LeftAt, Disabled: l.Disabled, PhotoETag: l.PhotoETag}
}

// DeltaLink reads a stored delta link ("" when none).
func (st StoreState) DeltaLink(name string) (string, error) {
	t, ok, err := st.S.DeltaToken(name)
	if err != nil || !ok {
		return "", err
	}
	return t.Token, nil
}

// SaveDeltaLink stores a delta link.
func (st StoreState) SaveDeltaLink(name, link string) error { return st.S.PutDeltaToken(name, link) }

// BeginRun records a running run.
func (st StoreState) BeginRun(kind, planHash string) (uint64, error) {
	r, err := st.S.StartRun("users/"+kind, planHash)
	return r.ID, err
}

// EndRun records a run's outcome.
func (st StoreState) EndRun(runID uint64, sum progress.Summary) error {
	counts := map[string]int{}
	failed := 0
	for a, n := range sum.Done {
		counts[string(a)] = n
	}
	for a, n := range sum.Failed {
		counts[string(a)+"_failed"] = n
		failed += n
	}
	if sum.Skipped > 0 {
		counts["skip"] = sum.Skipped
	}
	if sum.Conflict > 0 {
		counts["conflict"] = sum.Conflict
	}
	status, msg := store.RunOK, sum.Err
	switch {
	case sum.Guard != nil:
		status, msg = store.RunStopped, sum.Guard.Message
	case sum.Canceled:
		status = store.RunInterrupted
	case failed > 0 || sum.Err != "":
		status = store.RunFailed
	}
	return st.S.FinishRun(runID, status, counts, msg)
}

// intentPayload is what an intent carries beyond the store's fields.
type intentPayload struct {
	UPN       string `json:"upn,omitempty"`
	PBXUserID int32  `json:"pbx_user_id,omitempty"`
}

// OpenIntents lists the intents left open.
func (st StoreState) OpenIntents() ([]Intent, error) {
	ins, err := st.S.ListOpenIntents()
	if err != nil {
		return nil, err
	}
	out := make([]Intent, 0, len(ins))
	for _, in := range ins {
		if !strings.HasPrefix(in.ChangeKey, "users/") {
			continue // another engine's
		}
		var p intentPayload
		if len(in.Payload) > 0 {
			if err := json.Unmarshal(in.Payload, &p); err != nil {
				return nil, fmt.Errorf("intent %d: %w", in.ID, err)
			}
		}
		out = append(out, Intent{ID: in.ID, RunID: in.Run, Action: plan.Action(in.Action), ObjectID: in.ObjectID,
			UPN: p.UPN, Number: in.Number, Email: in.Email, PBXUserID: p.PBXUserID})
	}
	return out, nil
}

// PutIntent stores an intent and, when reserve is set, the link reserving
// its number, in one transaction.
func (st StoreState) PutIntent(in Intent, reserve *plan.Link) (uint64, error) {
	payload, err := json.Marshal(intentPayload{UPN: in.UPN, PBXUserID: in.PBXUserID})
	if err != nil {
		return 0, err
	}
	var id uint64
	// Batch: the workers' intents and settlements share disk syncs.
	err = st.S.Batch(func(tx *store.Tx) error {
		var err error
		id, err = tx.PutIntent(store.Intent{Run: in.RunID, ChangeKey: "users/" + string(in.Action) + "/" + in.ObjectID,
			Action: string(in.Action), ObjectID: in.ObjectID, Number: in.Number, Email: in.Email, Payload: payload})
		if err != nil {
			return err
		}
		if reserve != nil {
			return tx.PutLinks([]store.Link{toStoreLink(*reserve)})
		}
		return nil
	})
	return id, err
}

// Settle closes an intent with its link and audit item in one transaction.
func (st StoreState) Settle(s Settlement) error {
	outcome := store.OutcomeNotWritten
	switch s.Outcome {
	case "ok":
		outcome = store.OutcomeDone
	case "failed":
		outcome = store.OutcomeFailed
	}
	var item []store.RunItem
	if s.Item != nil {
		it, err := toRunItem(*s.Item)
		if err != nil {
			return err
		}
		item = []store.RunItem{it}
	}
	var drop string
	if s.DropLink != "" {
		l, ok, err := st.S.Link(s.DropLink)
		if err != nil {
			return err
		}
		if ok && l.PBXUserID == 0 { // only a reservation, never a real link
			drop = s.DropLink
		}
	}
	return st.S.Batch(func(tx *store.Tx) error {
		if err := tx.SettleIntent(s.IntentID, outcome); err != nil {
			return err
		}
		if s.Link != nil {
			if err := tx.PutLinks([]store.Link{toStoreLink(*s.Link)}); err != nil {
				return err
			}
		}
		if drop != "" {
			if err := tx.Unlink(drop); err != nil {
				return err
			}
		}
		if len(item) > 0 {
			return tx.AppendRunItems(item)
		}
		return nil
	})
}

// AppendAudit writes audit items in one transaction.
func (st StoreState) AppendAudit(items []AuditItem) error {
	if len(items) == 0 {
		return nil
	}
	out := make([]store.RunItem, 0, len(items))
	for _, it := range items {
		ri, err := toRunItem(it)
		if err != nil {
			return err
		}
		out = append(out, ri)
	}
	return st.S.AppendRunItems(out)
}

func toRunItem(it AuditItem) (store.RunItem, error) {
	ri := store.RunItem{Time: it.Time, Run: it.RunID, ObjectID: it.ObjectID, UPN: it.UPN, Number: it.Number,
		Action: string(it.Action), Rule: it.Rule, Error: it.Err}
	switch {
	case it.Skipped:
		ri.Result = store.ResultSkipped
	case it.OK:
		ri.Result = store.ResultOK
	default:
		ri.Result = store.ResultFailed
	}
	var err error
	if it.Before != nil {
		if ri.Before, err = json.Marshal(it.Before); err != nil {
			return ri, fmt.Errorf("audit before: %w", err)
		}
	}
	if it.After != nil {
		if ri.After, err = json.Marshal(it.After); err != nil {
			return ri, fmt.Errorf("audit after: %w", err)
		}
	}
	return ri, nil
}

// PutLinks writes links in one transaction.
func (st StoreState) PutLinks(links []plan.Link) error {
	out := make([]store.Link, len(links))
	for i, l := range links {
		out[i] = toStoreLink(l)
	}
	return st.S.PutLinks(out)
}
