package backend

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/pbx365/pbx365/pbxclient"
	"github.com/pbx365/pbx365/store"
	"github.com/pbx365/pbx365/sync/contacts"
	"github.com/pbx365/pbx365/sync/presence"
	"github.com/pbx365/pbx365/sync/progress"
	"github.com/pbx365/pbx365/ui/common"
)

var (
	_ common.ContactsBackend = (*Local)(nil)
	_ common.PresenceBackend = (*Local)(nil)
	_ common.SSOBackend      = (*Local)(nil)
	_ common.ContactsBackend = (*Remote)(nil)
	_ common.PresenceBackend = (*Remote)(nil)
	_ common.SSOBackend      = (*Remote)(nil)
)

// extras is what a Local keeps for the optional backends: the contact
// snapshot a shown plan was made from, and the presence engine a refresh
// built (it then keeps the statuses moving while the TUI runs).
type extras struct {
	mu       sync.Mutex
	contacts map[string]contactPlan // plan hash → the plan and its snapshot
	presence *presence.Engine
}

var (
	extrasMu  sync.Mutex
	extrasFor = map[*Local]*extras{}
)

func (l *Local) extras() *extras {
	extrasMu.Lock()
	defer extrasMu.Unlock()
	x := extrasFor[l]
	if x == nil {
		x = &extras{contacts: map[string]contactPlan{}}
		extrasFor[l] = x
	}
	return x
}

type contactPlan struct {
	p    contacts.Plan
	snap *contacts.Snapshot
}

// ContactsStatus settles (when no run is in flight), reads every mailbox in
// full and plans.
func (l *Local) ContactsStatus(ctx context.Context) (common.ContactsStatus, error) {
	var out common.ContactsStatus
	eng, err := l.App.Contacts(ctx)
	if err != nil {
		return out, fmt.Errorf("contacts: %w", err)
	}
	if err := l.settleIdle(ctx, eng.Settle); err != nil {
		return out, fmt.Errorf("contacts: settle the previous run: %w", err)
	}
	p, snap, err := eng.Plan(ctx, contacts.Options{Full: true})
	if err != nil {
		return out, fmt.Errorf("contacts: plan: %w", err)
	}
	x := l.extras()
	x.mu.Lock()
	x.contacts = map[string]contactPlan{p.Hash: {p, snap}} // only the plan on screen can run
	x.mu.Unlock()
	set := snap.Input.Settings
	out = common.ContactsStatus{Personal: set.Personal, SharedMailboxes: set.SharedMailboxes, Folders: set.Folders,
		Plan: p, Books: contactBooks(snap.Input, p)}
	runs, err := l.Runs(ctx, common.RunFilter{Limit: 200})
	if err != nil {
		return out, err
	}
	for _, r := range runs {
		if r.Kind == "contacts" {
			out.LastRun = &r
			break
		}
	}
	return out, nil
}

// contactBooks counts per phonebook what was read and what the plan does.
func contactBooks(in contacts.Input, p contacts.Plan) []common.ContactsBook {
	idx := map[string]int{}
	out := make([]common.ContactsBook, 0, len(in.Books))
	for _, b := range in.Books {
		cb := common.ContactsBook{Phonebook: b.Phonebook, Number: b.Number, Entries: len(b.Entries), Owned: len(b.Maps),
			Quota: b.Quota, Skipped: map[string]int{}}
		for _, s := range b.Sources {
			cb.Mailboxes = append(cb.Mailboxes, s.Label)
			cb.PerSource = append(cb.PerSource, len(s.Contacts))
			cb.Source += len(s.Contacts)
			if s.Err != "" {
				cb.Errors = append(cb.Errors, s.Label+": "+s.Err)
			}
		}
		idx[b.Phonebook] = len(out)
		out = append(out, cb)
	}
	for _, c := range p.Changes {
		i, ok := idx[c.Phonebook]
		if !ok {
			continue
		}
		if c.Action == "skip" {
			out[i].Skipped[c.Rule]++
		} else {
			out[i].Pending++
		}
	}
	return out
}

// ApplyContacts runs the plan ContactsStatus last made.
func (l *Local) ApplyContacts(ctx context.Context, planHash string) (<-chan progress.Event, error) {
	x := l.extras()
	x.mu.Lock()
	cp, ok := x.contacts[planHash]
	x.mu.Unlock()
	if !ok {
		return nil, contacts.ErrStale
	}
	if !l.App.RunMu.TryLock() {
		return nil, ErrBusy
	}
	eng, err := l.App.Contacts(ctx)
	if err != nil {
		l.App.RunMu.Unlock()
		return nil, err
	}
	run, err := eng.Apply(ctx, cp.p, cp.snap, contacts.ApplyOptions{Kind: "tui"})
	if err != nil {
		l.App.RunMu.Unlock()
		return nil, err
	}
	x.mu.Lock()
	delete(x.contacts, planHash)
	x.mu.Unlock()
	done := make(chan struct{})
	go func() { // cancelling ctx cancels the run; the final event still comes
		select {
		case <-ctx.Done():
			run.Cancel()
		case <-done:
		}
	}()
	out := make(chan progress.Event)
	go func() {
		defer close(out)
		defer close(done)
		defer l.App.RunMu.Unlock()
		for ev := range run.Events() {
			out <- ev
		}
	}()
	return out, nil
}

// Presence reports the calendar users' states: from the engine a refresh
// built, else from the store. refresh runs a live refresh first.
func (l *Local) Presence(ctx context.Context, refresh bool) (common.PresenceStatus, error) {
	x := l.extras()
	x.mu.Lock()
	eng := x.presence
	x.mu.Unlock()
	if refresh && eng == nil {
		e, err := l.App.Presence(ctx)
		if err != nil {
			return common.PresenceStatus{}, fmt.Errorf("presence: %w", err)
		}
		eng = e
		x.mu.Lock()
		x.presence = e
		x.mu.Unlock()
	}
	if eng != nil {
		return presenceOf(ctx, eng, refresh, l.pbxUsers)
	}
	return l.storedPresence(ctx)
}

// presenceOf reads an engine's snapshot (after a refresh when asked) and
// adds the profile each user's PBX shows now.
func presenceOf(ctx context.Context, eng *presence.Engine, refresh bool, pbxUsers func(context.Context) ([]pbxclient.User, error)) (common.PresenceStatus, error) {
	if refresh {
		if err := eng.RefreshAll(ctx); err != nil {
			return common.PresenceStatus{}, fmt.Errorf("presence: refresh: %w", err)
		}
	}
	h := eng.Health()
	st := common.PresenceStatus{Live: true, Enabled: h.Enabled, Users: h.Users, LastRefresh: h.LastRefresh, Err: h.Err}
	for _, u := range eng.Snapshot() {
		st.Rows = append(st.Rows, common.PresenceRow{ObjectID: u.ObjectID, Number: u.Number, Address: u.Address,
			State: u.State, Profile: u.Profile, Previous: u.Previous, Reason: u.Reason, Since: u.Since,
			Until: u.Until, Next: u.Next, NextTo: nextTo(u), Err: u.Err})
	}
	addCurrent(ctx, &st, pbxUsers)
	return st, nil
}

func nextTo(u presence.UserPresence) string {
	if u.Next.IsZero() {
		return ""
	}
	return u.NextTo.String()
}

// storedPresence is the state the store holds (the engine's persisted
// state machines) for every calendar user.
func (l *Local) storedPresence(ctx context.Context) (common.PresenceStatus, error) {
	ps := presence.StoreState{S: l.App.Store}
	set, err := ps.Settings()
	if err != nil {
		return common.PresenceStatus{}, fmt.Errorf("presence: settings: %w", err)
	}
	links, err := ps.Links()
	if err != nil {
		return common.PresenceStatus{}, fmt.Errorf("presence: links: %w", err)
	}
	states, err := ps.States()
	if err != nil {
		return common.PresenceStatus{}, fmt.Errorf("presence: states: %w", err)
	}
	byID := map[string]presence.UserState{}
	for _, s := range states {
		byID[s.ObjectID] = s
	}
	st := common.PresenceStatus{Enabled: set.Enabled, Users: len(links)}
	for _, lk := range links {
		r := common.PresenceRow{ObjectID: lk.ObjectID, Number: lk.Number, State: "idle"}
		if s, ok := byID[lk.ObjectID]; ok && !s.Until.IsZero() {
			r.State, r.Profile, r.Previous, r.Since, r.Until = "held", s.Set, s.Previous, s.Updated, s.Until
			if s.Set != "" {
				r.State = "set"
			}
		}
		st.Rows = append(st.Rows, r)
	}
	slices.SortFunc(st.Rows, func(a, b common.PresenceRow) int { return strings.Compare(a.Number, b.Number) })
	if len(st.Rows) > 0 {
		addCurrent(ctx, &st, l.pbxUsers)
	}
	return st, nil
}

// addCurrent fills in each row's current PBX profile (one list call); a
// failure is shown as the status's error, not a failed screen.
func addCurrent(ctx context.Context, st *common.PresenceStatus, pbxUsers func(context.Context) ([]pbxclient.User, error)) {
	us, err := pbxUsers(ctx)
	if err != nil {
		if st.Err == "" {
			st.Err = "read the PBX's current profiles: " + err.Error()
		}
		return
	}
	cur := make(map[string]string, len(us))
	for _, u := range us {
		cur[u.Number] = u.CurrentProfileName
	}
	for i := range st.Rows {
		st.Rows[i].Current = cur[st.Rows[i].Number]
	}
}

func (l *Local) pbxUsers(ctx context.Context) ([]pbxclient.User, error) {
	p, err := l.App.PBX()
	if err != nil {
		return nil, err
	}
	return p.ListUsers(ctx)
}

// SSOStatus reads the sso.* settings, the synced users' switches on the
// PBX and its Microsoft 365 settings.
func (l *Local) SSOStatus(ctx context.Context) (common.SSOStatus, error) {
	var st common.SSOStatus
	s, pbx, cur, err := l.m365(ctx)
	if err != nil {
		return st, err
	}
	st.Enabled, st.Users, st.Selected = s.SSO.Enabled, s.SSO.Users, s.SSO.Selected
	st.Want = common.M365{TenantID: s.MS.Tenant, ApplicationID: s.MS.ClientID, SSOEnabled: true}
	st.PBX = m365(cur)
	st.Want.UserSyncEnabled = cur.UserSyncEnabled // never changed by pbx365
	st.Changes = st.PBX != st.Want
	links, err := l.App.Store.Links()
	if err != nil {
		return st, fmt.Errorf("sso: links: %w", err)
	}
	us, err := pbx.ListUsers(ctx)
	if err != nil {
		return st, fmt.Errorf("sso: list the PBX users: %w", err)
	}
	byID := make(map[int32]pbxclient.User, len(us))
	for _, u := range us {
		byID[u.ID] = u
	}
	chosen := map[string]bool{}
	for _, v := range s.SSO.Selected {
		chosen[strings.ToLower(v)] = true
	}
	for _, lk := range links {
		if lk.Disabled {
			continue
		}
		st.Synced++
		u := byID[lk.PBXUserID]
		if u.MS365SignInEnabled {
			st.On++
		}
		if s.SSO.Enabled && (s.SSO.Users != "selected" || chosen[strings.ToLower(lk.ObjectID)] ||
			(u.EmailAddress != "" && chosen[strings.ToLower(u.EmailAddress)])) {
			st.Planned++
		}
	}
	return st, nil
}

// m365 reads the settings, the PBX client and the PBX's Microsoft 365
// settings.
func (l *Local) m365(ctx context.Context) (store.Settings, *pbxclient.XAPI, pbxclient.M365Settings, error) {
	var cur pbxclient.M365Settings
	s, err := l.App.Store.Settings()
	if err != nil {
		return s, nil, cur, err
	}
	pbx, err := l.App.PBX()
	if err != nil {
		return s, nil, cur, fmt.Errorf("sso: %w", err)
	}
	if cur, err = pbx.M365Settings(ctx); err != nil {
		return s, nil, cur, fmt.Errorf("sso: read the PBX's Microsoft 365 settings: %w", err)
	}
	return s, pbx, cur, nil
}

func m365(s pbxclient.M365Settings) common.M365 {
	return common.M365{TenantID: s.TenantID, ApplicationID: s.ApplicationID, SSOEnabled: s.SSOEnabled, UserSyncEnabled: s.UserSyncEnabled}
}

// ApplySSO writes the tenant and application ID and enables Microsoft
// sign-in on the PBX, leaving 3CX's own user sync as it is, and reads back
// what the PBX holds.
func (l *Local) ApplySSO(ctx context.Context) (common.SSOResult, error) {
	var res common.SSOResult
	if err := l.App.Store.RequireSettings("ms.tenant", "ms.client_id"); err != nil {
		return res, err
	}
	s, pbx, cur, err := l.m365(ctx)
	if err != nil {
		return res, err
	}
	res.Before = m365(cur)
	want := pbxclient.M365Settings{TenantID: s.MS.Tenant, ApplicationID: s.MS.ClientID, SSOEnabled: true}
	if err := pbx.SetM365Settings(ctx, want); err != nil {
		return res, fmt.Errorf("sso: the PBX refused: %w", err)
	}
	got, err := pbx.M365Settings(ctx)
	if err != nil {
		return res, fmt.Errorf("sso: read back: %w", err)
	}
	res.After = m365(got)
	res.Kept = got.TenantID == want.TenantID && got.ApplicationID == want.ApplicationID && got.SSOEnabled
	return res, nil
}

// callExtra serves the optional backends' methods over the socket; ok is
// false for an unknown method.
func (s *Server) callExtra(ctx context.Context, method string, args callArgs) (res any, ok bool, err error) {
	l := s.Local
	switch method {
	case "ContactsStatus":
		res, err = l.ContactsStatus(ctx)
	case "Presence":
		if s.Presence != nil {
			res, err = presenceOf(ctx, s.Presence, args.Refresh, l.pbxUsers)
		} else {
			res, err = l.Presence(ctx, args.Refresh)
		}
	case "SSOStatus":
		res, err = l.SSOStatus(ctx)
	case "ApplySSO":
		res, err = l.ApplySSO(ctx)
	default:
		return nil, false, nil
	}
	return res, true, err
}

// applyContacts runs a contact plan the service made and streams its
// events (also to every subscriber). A client that leaves cancels the run,
// which stops after the writes in flight.
func (s *Server) applyContacts(w http.ResponseWriter, r *http.Request) {
	var args callArgs
	if err := json.NewDecoder(r.Body).Decode(&args); err != nil {
		writeErr(w, http.StatusBadRequest, err)
		return
	}
	ch, err := s.Local.ApplyContacts(r.Context(), args.PlanHash)
	if err != nil {
		writeErr(w, http.StatusConflict, err)
		return
	}
	relay := make(chan progress.Event)
	go func() {
		defer close(relay)
		for ev := range ch {
			s.Publish(ev)
			relay <- ev
		}
	}()
	s.stream(w, r, relay)
	for range relay { // the client left: the run still settles
	}
}

// ContactsStatus reads and plans contacts in the service.
func (r *Remote) ContactsStatus(ctx context.Context) (out common.ContactsStatus, err error) {
	return out, r.call(ctx, "ContactsStatus", callArgs{}, &out)
}

// ApplyContacts runs the service's contact plan with this hash and streams
// its events; cancelling ctx cancels the run.
func (r *Remote) ApplyContacts(ctx context.Context, planHash string) (<-chan progress.Event, error) {
	resp, err := r.do(ctx, http.MethodPost, "/v1/apply-contacts", callArgs{PlanHash: planHash})
	if err != nil {
		return nil, err
	}
	return readEvents(resp.Body), nil
}

// Presence reports the calendar users' states as the service sees them.
func (r *Remote) Presence(ctx context.Context, refresh bool) (out common.PresenceStatus, err error) {
	return out, r.call(ctx, "Presence", callArgs{Refresh: refresh}, &out)
}

// SSOStatus reads the SSO state through the service.
func (r *Remote) SSOStatus(ctx context.Context) (out common.SSOStatus, err error) {
	return out, r.call(ctx, "SSOStatus", callArgs{}, &out)
}

// ApplySSO writes the PBX's Microsoft 365 settings through the service.
func (r *Remote) ApplySSO(ctx context.Context) (out common.SSOResult, err error) {
	return out, r.call(ctx, "ApplySSO", callArgs{}, &out)
}
