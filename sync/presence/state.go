package presence

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/pbx365/pbx365/store"
)

// Settings are the calendar.* settings the engine reads.
type Settings struct {
	Enabled     bool
	Users       string   // all or selected
	Selected    []string // object ids or UPNs (Users = selected)
	BusyProfile string   // for busy and working elsewhere
	AwayProfile string   // for out of office
	Protected   []string // profile names or custom names, any case
	Refresh     time.Duration
}

// Defaults of PRODUCT.md, used for settings left empty.
const (
	DefaultBusyProfile = "Out of office" // shown as Do Not Disturb by 3CX V20
	DefaultAwayProfile = "Away"
	DefaultRefresh     = 5 * time.Minute
)

// DefaultProtected are the protected profiles when none are configured.
var DefaultProtected = []string{"Business Trip", "Holiday"}

func (s *Settings) fill() {
	if s.BusyProfile == "" {
		s.BusyProfile = DefaultBusyProfile
	}
	if s.AwayProfile == "" {
		s.AwayProfile = DefaultAwayProfile
	}
	if len(s.Protected) == 0 {
		s.Protected = DefaultProtected
	}
	if s.Refresh <= 0 {
		s.Refresh = DefaultRefresh
	}
}

// Link is a synced user: its Entra object id and its PBX extension.
type Link struct {
	ObjectID  string
	PBXUserID int32
	Number    string
}

// UserState is a user's persisted state. Set non-empty: pbx365 set that
// profile and will restore Previous at the end of the block (Until). Set
// empty with Until: the calendar is held off until Until (a manual change won,
// or the user already had the status), nothing will be restored.
type UserState struct {
	ObjectID string
	Number   string
	Set      string
	Previous string
	Until    time.Time
	Updated  time.Time
}

// AuditItem is one line of the audit log.
type AuditItem struct {
	Time     time.Time
	ObjectID string
	Number   string
	Action   string // set_profile, restore_profile, forget
	Rule     string
	Before   string
	After    string
	OK       bool
	Skipped  bool
	Err      string
}

// State is what the engine keeps in (and reads from) the store.
type State interface {
	Settings() (Settings, error)
	Links() ([]Link, error)
	States() ([]UserState, error)
	PutStates(states []UserState) error
	DeleteStates(objectIDs []string) error
	// Audit records one pass's items as a run of kind "presence".
	Audit(items []AuditItem) error
}

// StoreState is State on pbx365's bbolt store.
type StoreState struct {
	S *store.Store
}

var _ State = StoreState{}

// Settings reads the calendar settings.
func (st StoreState) Settings() (Settings, error) {
	s, err := st.S.Settings()
	if err != nil {
		return Settings{}, err
	}
	c := s.Calendar
	return Settings{Enabled: c.Enabled, Users: c.Users, Selected: c.Selected, BusyProfile: c.BusyProfile,
		AwayProfile: c.AwayProfile, Protected: c.ProtectedProfiles, Refresh: c.Refresh}, nil
}

// Links returns the synced users: linked, in scope and not disabled.
func (st StoreState) Links() ([]Link, error) {
	ls, err := st.S.Links()
	if err != nil {
		return nil, err
	}
	out := make([]Link, 0, len(ls))
	for _, l := range ls {
		if l.PBXUserID == 0 || l.Disabled || !l.LeftAt.IsZero() {
			continue
		}
		out = append(out, Link{ObjectID: l.ObjectID, PBXUserID: l.PBXUserID, Number: l.Number})
	}
	return out, nil
}

// States reads every stored presence state.
func (st StoreState) States() ([]UserState, error) {
	ps, err := st.S.PresenceStates()
	if err != nil {
		return nil, err
	}
	out := make([]UserState, len(ps))
	for i, p := range ps {
		out[i] = UserState{ObjectID: p.ObjectID, Number: p.Number, Set: p.SetProfile, Previous: p.Previous, Until: p.Until, Updated: p.Updated}
	}
	return out, nil
}

// PutStates writes states in one transaction.
func (st StoreState) PutStates(states []UserState) error {
	if len(states) == 0 {
		return nil
	}
	ps := make([]store.Presence, len(states))
	for i, s := range states {
		ps[i] = store.Presence{ObjectID: s.ObjectID, Number: s.Number, SetProfile: s.Set, Previous: s.Previous, Until: s.Until.UTC()}
	}
	return st.S.PutPresence(ps)
}

// DeleteStates forgets states in one transaction.
func (st StoreState) DeleteStates(ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	return st.S.DeletePresence(ids...)
}

type profileJSON struct {
	Profile string `json:"profile"`
}

// Audit writes items as one run of kind "presence".
func (st StoreState) Audit(items []AuditItem) error {
	if len(items) == 0 {
		return nil
	}
	run, err := st.S.StartRun("presence", "")
	if err != nil {
		return err
	}
	counts := map[string]int{}
	failed := 0
	out := make([]store.RunItem, len(items))
	for i, it := range items {
		ri := store.RunItem{Time: it.Time, Run: run.ID, ObjectID: it.ObjectID, Number: it.Number, Action: it.Action,
			Rule: it.Rule, Error: it.Err, Result: store.ResultOK}
		switch {
		case it.Skipped:
			ri.Result = store.ResultSkipped
			counts["skip"]++
		case !it.OK:
			ri.Result = store.ResultFailed
			counts[it.Action+"_failed"]++
			failed++
		default:
			counts[it.Action]++
		}
		if it.Before != "" {
			ri.Before, _ = json.Marshal(profileJSON{it.Before})
		}
		if it.After != "" {
			ri.After, _ = json.Marshal(profileJSON{it.After})
		}
		out[i] = ri
	}
	if err := st.S.AppendRunItems(out); err != nil {
		return err
	}
	status, msg := store.RunOK, ""
	if failed > 0 {
		status, msg = store.RunFailed, fmt.Sprintf("%d profile change(s) failed", failed)
	}
	return st.S.FinishRun(run.ID, status, counts, msg)
}

// eqFold compares profile names.
func eqFold(a, b string) bool { return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b)) }
