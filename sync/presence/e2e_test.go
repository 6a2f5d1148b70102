package presence_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pbx365/pbx365/graphclient/m365sim"
	"github.com/pbx365/pbx365/store"
	"github.com/pbx365/pbx365/sync/app"
	"github.com/pbx365/pbx365/sync/presence"
	"github.com/pbx365/pbx365/sync/users"
)

func (e *env) at(min int) time.Time { return e.base.Add(time.Duration(min) * time.Minute) }

// env is a data dir configured against both simulators over HTTPS, users
// synced, and a presence engine on one manual clock shared with m365sim.
type env struct {
	t       *testing.T
	clock   *presence.ManualClock
	base    time.Time
	sims    *app.Sims
	dataDir string
	app     *app.App
	eng     *presence.Engine
	changes <-chan presence.Change
	// pending holds per-user changes read while awaiting another one: the
	// engine applies due transitions in parallel, so the order in which
	// users' changes arrive is not fixed.
	pending []presence.Change
	stop    func()
}

// calUser is a synced user with a mailbox.
type calUser struct {
	ObjectID string
	Mail     string
	PBXID    int32
	Number   string
}

func newEnv(t *testing.T, n int, settings map[string]string) *env {
	t.Helper()
	dir := t.TempDir()
	// One clock for the engine and m365sim. It starts at the wall clock's
	// minute: the simulated Entra checks client assertions (made on the wall
	// clock) against it.
	base := time.Now().UTC().Truncate(time.Minute)
	clock := presence.NewManualClock(base)
	sims, err := app.StartSims(app.SimOptions{Seed: 11, Users: n, Dir: dir, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sims.Close)
	e := &env{t: t, clock: clock, base: base, sims: sims, dataDir: filepath.Join(dir, "data")}
	e.open()
	if err := sims.Configure(e.app.Store); err != nil {
		t.Fatal(err)
	}
	all := map[string]string{"calendar.enabled": "true", "calendar.refresh": "1h"}
	for k, v := range settings {
		all[k] = v
	}
	if err := e.app.Store.SetMany(all); err != nil {
		t.Fatal(err)
	}
	e.syncUsers()
	return e
}

func (e *env) open() {
	a, err := app.Open(e.dataDir)
	if err != nil {
		e.t.Fatal(err)
	}
	e.app = a
	e.t.Cleanup(func() { a.Close() })
}

func (e *env) syncUsers() {
	ctx := context.Background()
	eng, err := e.app.Users(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := eng.Settle(ctx); err != nil {
		e.t.Fatal(err)
	}
	p, snap, err := eng.Plan(ctx, users.Options{Full: true})
	if err != nil {
		e.t.Fatal(err)
	}
	run, err := eng.Apply(ctx, p, snap, users.ApplyOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	for range run.Events() {
	}
	if sum := run.Wait(); sum.Err != "" {
		e.t.Fatalf("user sync: %s", sum.Err)
	}
}

// engine builds the presence engine through app.Presence, on the manual clock.
func (e *env) engine() *presence.Engine {
	eng, err := e.app.Presence(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	eng.Clock = e.clock
	return eng
}

// start runs a new engine's Start and waits for its first refresh.
func (e *env) start() {
	e.t.Helper()
	e.eng = e.engine()
	ch, unsub := e.eng.Subscribe(4096)
	e.changes = ch
	e.pending = nil
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.eng.Start(ctx) }()
	e.stop = func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("Start: %v", err)
		}
		unsub()
		e.stop = nil
	}
	e.t.Cleanup(func() {
		if e.stop != nil {
			e.stop()
		}
	})
	e.await("", "refresh")
}

// await waits for a change of that action (for that user, when set). A
// user's change that arrived while another was awaited is kept and matched
// first, in arrival order.
func (e *env) await(objectID, action string) presence.Change {
	e.t.Helper()
	match := func(c presence.Change) bool {
		return c.Action == action && (objectID == "" || c.ObjectID == objectID)
	}
	if objectID != "" {
		for i, c := range e.pending {
			if match(c) {
				e.pending = append(e.pending[:i], e.pending[i+1:]...)
				return c
			}
		}
	}
	deadline := time.After(20 * time.Second)
	for {
		select {
		case c := <-e.changes:
			if c.Action == "refresh" && c.Err != "" {
				e.t.Logf("refresh error: %s", c.Err)
			}
			if match(c) {
				return c
			}
			if c.ObjectID != "" {
				e.pending = append(e.pending, c)
			}
			if objectID != "" && c.ObjectID == objectID {
				e.t.Logf("change %+v", c)
			}
		case <-deadline:
			e.t.Fatalf("no %q change for %q within 20s", action, objectID)
		}
	}
}

// refresh runs RefreshAll and waits for its change.
func (e *env) refresh() {
	e.t.Helper()
	if err := e.eng.RefreshAll(context.Background()); err != nil {
		e.t.Fatalf("refresh: %v", err)
	}
	e.await("", "refresh")
}

// users returns n synced users with a mailbox, their generated meetings
// cancelled so that only the test's own count.
func (e *env) users(n int) []calUser {
	e.t.Helper()
	links, err := e.app.Store.Links()
	if err != nil {
		e.t.Fatal(err)
	}
	var out []calUser
	for _, l := range links {
		u, ok := e.sims.M365.User(l.ObjectID)
		if !ok || u.Mailbox != m365sim.MailboxUser || u.Mail == "" || l.PBXUserID == 0 {
			continue
		}
		for _, ev := range e.sims.M365.Mailbox(l.ObjectID).Events {
			if !ev.IsCancelled {
				if err := e.sims.M365.CancelMeeting(l.ObjectID, ev.ID); err != nil {
					e.t.Fatal(err)
				}
			}
		}
		out = append(out, calUser{ObjectID: l.ObjectID, Mail: u.Mail, PBXID: l.PBXUserID, Number: l.Number})
		if len(out) == n {
			return out
		}
	}
	e.t.Fatalf("only %d synced users with a mailbox, want %d", len(out), n)
	return nil
}

func (e *env) meeting(u calUser, from, to int, showAs, subject string) string {
	e.t.Helper()
	id, err := e.sims.M365.AddMeeting(u.ObjectID, m365sim.Meeting{Subject: subject, Start: e.at(from), End: e.at(to), ShowAs: showAs})
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

func (e *env) profile(u calUser) string {
	e.t.Helper()
	p, ok := e.sims.PBX.User(u.PBXID)
	if !ok {
		e.t.Fatalf("extension %s is gone", u.Number)
	}
	return p.CurrentProfileName
}

func (e *env) setProfile(u calUser, name string) {
	e.t.Helper()
	if err := e.sims.PBX.SetUserProfile(u.PBXID, name); err != nil {
		e.t.Fatal(err)
	}
}

// writes counts the PATCHes of the user's extension (profile writes).
func (e *env) writes(u calUser) int {
	return e.sims.PBX.RequestCount("PATCH", fmt.Sprintf("/xapi/v1/Users(%d)", u.PBXID))
}

// advance moves the shared clock to minute m.
func (e *env) advance(m int) { e.clock.Set(e.at(m)) }

func (e *env) want(u calUser, profile string) {
	e.t.Helper()
	if got := e.profile(u); got != profile {
		e.t.Errorf("%s: PBX shows %q, want %q", u.Number, got, profile)
	}
}

func (e *env) snapshot(u calUser) presence.UserPresence {
	e.t.Helper()
	for _, p := range e.eng.Snapshot() {
		if p.ObjectID == u.ObjectID {
			return p
		}
	}
	e.t.Fatalf("%s is not in the snapshot", u.Number)
	return presence.UserPresence{}
}

func TestMeetingStartAndEndSetAndRestore(t *testing.T) {
	e := newEnv(t, 40, nil)
	u := e.users(1)[0]
	e.setProfile(u, "Custom 1")
	e.meeting(u, 10, 40, "busy", "Quarterly review")
	e.start()
	if s := e.snapshot(u); s.State != "idle" || !s.Next.Equal(e.at(10)) || s.NextTo != presence.KindBusy {
		t.Errorf("before: %+v, want idle with the next transition at the start", s)
	}
	e.advance(10)
	c := e.await(u.ObjectID, "set_profile")
	e.want(u, "Out of office")
	if !c.Due.Equal(e.at(10)) || c.From != "Custom 1" || c.To != "Out of office" {
		t.Errorf("change %+v", c)
	}
	s := e.snapshot(u)
	if s.State != "busy" || s.Previous != "Custom 1" || !s.Until.Equal(e.at(40)) || !strings.Contains(s.Reason, "Quarterly review") ||
		!s.Since.Equal(e.at(10)) || !s.Next.Equal(e.at(40)) {
		t.Errorf("during: %+v", s)
	}
	e.advance(39)
	e.want(u, "Out of office")
	e.advance(40)
	e.await(u.ObjectID, "restore_profile")
	e.want(u, "Custom 1")
	if n := e.writes(u); n != 3 { // the test's own change + set + restore
		t.Errorf("%d PATCHes, want 3", n)
	}
	// Both changes are audited, as a run of kind presence.
	page, err := e.app.Store.Audit(store.AuditQuery{User: u.ObjectID})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, it := range page.Items {
		r, _, err := e.app.Store.Run(it.Run)
		if err != nil {
			t.Fatal(err)
		}
		if r.Kind == "presence" {
			actions = append(actions, it.Action+"/"+it.Result)
		}
	}
	if strings.Join(actions, ",") != "restore_profile/ok,set_profile/ok" {
		t.Errorf("audit %v", actions)
	}
	if st, ok, err := e.app.Store.Presence(u.ObjectID); err != nil || ok {
		t.Errorf("state left after the end: %+v %v", st, err)
	}
}

func TestManualChangeDuringMeetingWins(t *testing.T) {
	e := newEnv(t, 40, nil)
	u := e.users(1)[0]
	e.meeting(u, 5, 20, "busy", "Standup")
	e.meeting(u, 20, 30, "oof", "Errand") // a switch to Away while overridden must not happen
	e.start()
	e.advance(5)
	e.await(u.ObjectID, "set_profile")
	e.want(u, "Out of office")
	e.setProfile(u, "Custom 1") // the user picks another status by hand
	before := e.writes(u)
	e.advance(20)
	c := e.await(u.ObjectID, "forget")
	if c.From != "Out of office" || c.To != "Custom 1" {
		t.Errorf("forget %+v", c)
	}
	if s := e.snapshot(u); s.State != "held" || !s.Until.Equal(e.at(30)) {
		t.Errorf("after the manual change: %+v", s)
	}
	e.advance(30)
	e.refresh()
	e.want(u, "Custom 1")
	if n := e.writes(u) - before; n != 0 {
		t.Errorf("%d profile writes after the manual change, want none", n)
	}
	if st, ok, _ := e.app.Store.Presence(u.ObjectID); ok {
		t.Errorf("state left: %+v", st)
	}
}

func TestProtectedProfileIsLeftAlone(t *testing.T) {
	e := newEnv(t, 40, nil)
	us := e.users(2)
	e.sims.PBX.SetProfileNames("Holiday", "Lunch")
	u, v := us[0], us[1]
	e.setProfile(u, "Custom 1") // Holiday, by its custom name
	e.meeting(u, 10, 20, "busy", "Call")
	e.meeting(v, 10, 20, "busy", "Call") // v is not protected: the control
	e.start()
	before := e.writes(u)
	e.advance(10)
	e.await(u.ObjectID, "protected")
	e.await(v.ObjectID, "set_profile")
	if s := e.snapshot(u); s.State != "protected" {
		t.Errorf("snapshot %+v, want protected", s)
	}
	e.advance(20)
	e.await(v.ObjectID, "restore_profile")
	e.want(u, "Custom 1")
	if n := e.writes(u) - before; n != 0 {
		t.Errorf("%d writes to a protected user", n)
	}
}

func TestOverlapAndBackToBackDoNotFlap(t *testing.T) {
	e := newEnv(t, 40, nil)
	u := e.users(1)[0]
	e.meeting(u, 10, 20, "busy", "A")
	e.meeting(u, 15, 30, "busy", "B")             // overlaps A
	e.meeting(u, 30, 40, "workingElsewhere", "C") // back to back with B
	e.meeting(u, 35, 38, "tentative", "D")        // changes nothing
	e.start()
	before := e.writes(u)
	e.advance(10)
	e.await(u.ObjectID, "set_profile")
	for _, m := range []int{15, 20, 25, 30, 35, 38} {
		e.advance(m)
	}
	e.refresh() // a refresh in the middle changes nothing either
	e.want(u, "Out of office")
	if s := e.snapshot(u); !s.Next.Equal(e.at(40)) || !s.Until.Equal(e.at(40)) {
		t.Errorf("snapshot %+v, want the end of the merged block next", s)
	}
	e.advance(40)
	e.await(u.ObjectID, "restore_profile")
	e.want(u, "Available")
	if n := e.writes(u) - before; n != 2 {
		t.Errorf("%d profile writes, want 2 (one set, one restore)", n)
	}
}

func TestBusyWinsOverOOF(t *testing.T) {
	e := newEnv(t, 40, nil)
	u := e.users(1)[0]
	e.meeting(u, 5, 50, "oof", "Offsite")
	e.meeting(u, 20, 30, "busy", "Call")
	e.start()
	e.advance(5)
	if c := e.await(u.ObjectID, "set_profile"); c.To != "Away" {
		t.Errorf("oof set %q, want Away", c.To)
	}
	e.advance(20)
	if c := e.await(u.ObjectID, "set_profile"); c.To != "Out of office" || c.From != "Away" {
		t.Errorf("busy during oof: %+v", c)
	}
	if s := e.snapshot(u); s.State != "busy" || s.Previous != "Available" || !s.Until.Equal(e.at(50)) {
		t.Errorf("snapshot %+v", s)
	}
	e.advance(30)
	e.await(u.ObjectID, "set_profile")
	e.want(u, "Away")
	e.advance(50)
	if c := e.await(u.ObjectID, "restore_profile"); c.To != "Available" {
		t.Errorf("restored %q, want the profile from before the first meeting", c.To)
	}
	e.want(u, "Available")
}

func TestRestartInTheMiddleOfAMeeting(t *testing.T) {
	e := newEnv(t, 40, nil)
	u := e.users(1)[0]
	e.setProfile(u, "Custom 1")
	e.meeting(u, 2, 40, "busy", "Workshop")
	e.start()
	e.advance(2)
	e.await(u.ObjectID, "set_profile")
	e.stop()
	// A new process: the store is reopened, a new engine (and Graph client,
	// whose sign-in the simulated Entra checks against the wall clock,
	// give or take 5 minutes) starts.
	if err := e.app.Close(); err != nil {
		t.Fatal(err)
	}
	e.advance(4)
	e.open()
	before := e.writes(u)
	e.start()
	e.want(u, "Out of office")
	if n := e.writes(u) - before; n != 0 {
		t.Errorf("restart wrote %d times", n)
	}
	if s := e.snapshot(u); s.State != "busy" || s.Previous != "Custom 1" || !s.Next.Equal(e.at(40)) {
		t.Errorf("after restart: %+v", s)
	}
	e.advance(40)
	e.await(u.ObjectID, "restore_profile")
	e.want(u, "Custom 1")
}

func TestThrottledRefreshConverges(t *testing.T) {
	e := newEnv(t, 40, nil)
	us := e.users(2)
	u, v := us[0], us[1]
	e.meeting(u, 10, 40, "busy", "Planning")
	// The first refresh meets inner 429s; the retries get through.
	e.sims.M365.ThrottleNextMatching("POST", "/v1.0/users/", 2, time.Second)
	e.start()
	if thr, _ := e.sims.M365.FaultCounts(); thr < 2 {
		t.Fatalf("%d throttled requests, the test did not throttle", thr)
	}
	if s := e.snapshot(u); !s.Next.Equal(e.at(10)) || s.Err != "" {
		t.Errorf("after a throttled refresh: %+v", s)
	}
	e.advance(10)
	e.await(u.ObjectID, "set_profile")
	// A refresh throttled beyond the retries: the users get an error, the
	// meeting is not ended early, nothing is fatal.
	e.meeting(v, 15, 25, "busy", "Call")
	e.sims.M365.ThrottleNextMatching("POST", "/v1.0/users/", 100, time.Second)
	e.refresh()
	if s := e.snapshot(u); !strings.Contains(s.Err, "TooManyRequests") || s.State != "busy" {
		t.Errorf("snapshot after a failed read: %+v", s)
	}
	e.want(u, "Out of office")
	e.sims.M365.ClearFaults()
	e.refresh()
	if s := e.snapshot(v); s.Err != "" || !s.Next.Equal(e.at(15)) {
		t.Errorf("after the throttling ended: %+v", s)
	}
	e.advance(15)
	e.await(v.ObjectID, "set_profile")
	e.advance(40)
	e.await(u.ObjectID, "restore_profile")
	e.want(u, "Available")
	e.want(v, "Available")
}

func TestCancelledMeeting(t *testing.T) {
	e := newEnv(t, 40, nil)
	u := e.users(1)[0]
	early := e.meeting(u, 10, 40, "busy", "Cancelled later")
	never := e.meeting(u, 45, 55, "busy", "Cancelled before")
	if err := e.sims.M365.CancelMeeting(u.ObjectID, never); err != nil {
		t.Fatal(err)
	}
	e.start()
	e.advance(10)
	e.await(u.ObjectID, "set_profile")
	// Cancelled during the meeting: the change notification's RefreshUser
	// restores at once.
	if err := e.sims.M365.CancelMeeting(u.ObjectID, early); err != nil {
		t.Fatal(err)
	}
	e.advance(12)
	if err := e.eng.RefreshUser(context.Background(), u.ObjectID); err != nil {
		t.Fatal(err)
	}
	e.await(u.ObjectID, "restore_profile")
	e.want(u, "Available")
	if s := e.snapshot(u); !s.Next.IsZero() || s.State != "idle" {
		t.Errorf("after cancel: %+v, want idle with nothing ahead", s)
	}
	before := e.writes(u)
	e.advance(50)
	e.refresh()
	if n := e.writes(u) - before; n != 0 {
		t.Errorf("a cancelled meeting wrote %d times", n)
	}
}

func TestSelectedUsersAndMissingMailbox(t *testing.T) {
	e := newEnv(t, 80, nil)
	us := e.users(2)
	// A synced user without a mailbox.
	links, err := e.app.Store.Links()
	if err != nil {
		t.Fatal(err)
	}
	var nomb calUser
	for _, l := range links {
		if u, ok := e.sims.M365.User(l.ObjectID); ok && u.Mailbox == m365sim.MailboxNone && l.PBXUserID != 0 {
			nomb = calUser{ObjectID: l.ObjectID, PBXID: l.PBXUserID, Number: l.Number}
			break
		}
	}
	if nomb.ObjectID == "" {
		t.Fatal("the generated tenant has no synced user without a mailbox")
	}
	upn := ""
	if u, ok := e.sims.M365.User(us[1].ObjectID); ok {
		upn = u.UserPrincipalName
	}
	if err := e.app.Store.SetMany(map[string]string{"calendar.users": "selected",
		"calendar.selected": us[0].ObjectID + "," + upn + "," + nomb.ObjectID}); err != nil {
		t.Fatal(err)
	}
	e.meeting(us[1], 5, 10, "busy", "By UPN")
	e.start()
	snap := e.eng.Snapshot()
	if len(snap) != 3 {
		t.Fatalf("snapshot has %d users, want the 3 selected: %+v", len(snap), snap)
	}
	if h := e.eng.Health(); !h.Enabled || h.Users != 3 || h.Addresses != 3 || h.Err != "" || !h.LastRefresh.Equal(e.at(0)) {
		t.Errorf("health %+v", h)
	}
	if s := e.snapshot(nomb); !strings.Contains(s.Err, "5009") {
		t.Errorf("user without a mailbox: %+v, want the 5009 reason", s)
	}
	e.advance(5)
	e.await(us[1].ObjectID, "set_profile")
	e.advance(10)
	e.await(us[1].ObjectID, "restore_profile")
	// Turning the calendar off restores whoever pbx365 still holds.
	e.meeting(us[0], 20, 30, "busy", "X")
	e.refresh()
	e.advance(20)
	e.await(us[0].ObjectID, "set_profile")
	if err := e.app.Store.SetMany(map[string]string{"calendar.enabled": "false"}); err != nil {
		t.Fatal(err)
	}
	e.refresh()
	e.want(us[0], "Available")
	if n := len(e.eng.Snapshot()); n != 0 {
		t.Errorf("%d users in the snapshot with the calendar off", n)
	}
	// A selected UPN the directory does not know stops the refresh, named.
	if err := e.app.Store.SetMany(map[string]string{"calendar.enabled": "true", "calendar.selected": "nobody@" + strings.SplitN(upn, "@", 2)[1]}); err != nil {
		t.Fatal(err)
	}
	err = e.eng.RefreshAll(context.Background())
	if err == nil || !strings.Contains(err.Error(), "calendar.selected") || !strings.Contains(err.Error(), "nobody@") {
		t.Errorf("refresh with an unknown selected user: %v", err)
	}
	if h := e.eng.Health(); h.Err == "" {
		t.Errorf("health %+v, want the error", h)
	}
}

func TestProfileNamesFromSettings(t *testing.T) {
	e := newEnv(t, 40, map[string]string{"calendar.busy_profile": "lunch", "calendar.away_profile": "Gone fishing"})
	us := e.users(3)
	u, v, w := us[0], us[1], us[2]
	e.meeting(u, 5, 10, "busy", "Custom name")
	e.meeting(v, 5, 10, "oof", "Unknown profile")
	e.setProfile(w, "Custom 1") // already on the busy status
	e.meeting(w, 5, 10, "busy", "Already")
	e.start()
	e.advance(5)
	// The busy profile is given by its custom name (any case): Custom 1 is "Lunch".
	if c := e.await(u.ObjectID, "set_profile"); c.To != "Custom 1" {
		t.Errorf("set %q, want Custom 1", c.To)
	}
	if c := e.await(v.ObjectID, "error"); !strings.Contains(c.Err, `"Gone fishing"`) || !strings.Contains(c.Err, "calendar.away_profile") {
		t.Errorf("unknown profile error %q does not name it and the setting", c.Err)
	}
	e.await(w.ObjectID, "hold")
	if s := e.snapshot(v); !strings.Contains(s.Err, "Gone fishing") {
		t.Errorf("snapshot %+v, want the error", s)
	}
	wBefore := e.writes(w)
	e.advance(10)
	e.await(u.ObjectID, "restore_profile")
	e.want(u, "Available")
	e.want(v, "Available")
	e.refresh()
	e.want(w, "Custom 1") // nothing set, nothing restored
	if n := e.writes(w) - wBefore; n != 0 {
		t.Errorf("%d writes for a user already on the status", n)
	}
}
