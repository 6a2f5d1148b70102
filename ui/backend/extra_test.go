package backend_test

import (
	"context"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/pbx365/pbx365/graphclient/m365sim"
	"github.com/pbx365/pbx365/sync/app"
	"github.com/pbx365/pbx365/sync/contacts"
	"github.com/pbx365/pbx365/sync/plan"
	"github.com/pbx365/pbx365/sync/presence"
	"github.com/pbx365/pbx365/sync/progress"
	"github.com/pbx365/pbx365/sync/scheduler"
	"github.com/pbx365/pbx365/ui/backend"
	"github.com/pbx365/pbx365/ui/common"
	contactscreen "github.com/pbx365/pbx365/ui/screens/contacts"
	presencescreen "github.com/pbx365/pbx365/ui/screens/presence"
	ssoscreen "github.com/pbx365/pbx365/ui/screens/sso"
	"github.com/pbx365/pbx365/ui/uitest"
)

// syncUsers links n directory users that have a mailbox (user sync through
// the Local backend) and returns their links.
func syncUsers(t *testing.T, l *backend.Local, sims *app.Sims, n int) []plan.Link {
	t.Helper()
	ctx := context.Background()
	dir, err := l.Directory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var pick []string
	for _, u := range dir.Users {
		mu, ok := sims.M365.User(u.ObjectID)
		if u.State == common.StateCreate && ok && mu.Mailbox == m365sim.MailboxUser && mu.Mail != "" && len(pick) < n {
			pick = append(pick, u.ObjectID)
		}
	}
	p, err := l.Plan(ctx, common.Selection{Scope: common.ScopeSelected, Users: pick})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := l.Apply(ctx, p, false)
	if err != nil {
		t.Fatal(err)
	}
	for range ch {
	}
	links, err := contacts.StoreState{S: l.App.Store}.Links()
	if err != nil || len(links) != n {
		t.Fatalf("links %d %v, want %d", len(links), err, n)
	}
	return links
}

// screen drives one screen as the program would, answering prompts yes.
type screen struct {
	t      *testing.T
	s      common.Screen
	update func(tea.Msg) tea.Cmd
	asked  []common.ConfirmMsg
}

func newScreen(t *testing.T, s common.Screen) *screen {
	sc := &screen{t: t, s: s}
	sc.update = uitest.Answering(s.Update, true, &sc.asked)
	s.SetSize(120, 30)
	uitest.Pump(sc.update, s.Init(), 300*time.Millisecond)
	if act, ok := s.(common.Activatable); ok { // shown
		uitest.Pump(sc.update, act.Activated(), 300*time.Millisecond)
	}
	return sc
}

func (sc *screen) view() string { return ansi.Strip(sc.s.View()) }

func (sc *screen) press(k string) {
	uitest.Pump(sc.update, sc.update(uitest.Key(k)), 300*time.Millisecond)
}

// waitFor pumps until the view shows what.
func (sc *screen) waitFor(what string) {
	sc.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(sc.view(), what) {
		if time.Now().After(deadline) {
			sc.t.Fatalf("waiting for %q; the screen shows:\n%s", what, sc.view())
		}
		uitest.Pump(sc.update, nil, 50*time.Millisecond)
	}
}

// The three screens on the Local backend against the simulators: SSO
// explains the counts and writes the PBX's settings; Presence shows a user
// in a meeting after a live refresh; Contacts shows the counts, applies the
// plan with a confirmation and then has nothing to do.
func TestExtraScreensAgainstTheSimulators(t *testing.T) {
	sims, a := setup(t, 30)
	for k, v := range map[string]string{"contacts.personal": "true", "sso.enabled": "true", "calendar.enabled": "true"} {
		if _, err := a.Store.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	l := backend.NewLocal(a)
	links := syncUsers(t, l, sims, 3)
	ctx := context.Background()
	c := common.NewContext(ctx, l, false)

	// SSO: user sync turned the switch on for the 3; the PBX is not set up.
	sso := newScreen(t, ssoscreen.New(c))
	sso.waitFor("Synced users: 3 · sign-in on at the PBX now: 3 · on after the next user sync: 3")
	if !strings.Contains(sso.view(), "→ "+sims.M365.TenantID()) {
		t.Fatalf("the change is not shown:\n%s", sso.view())
	}
	sso.press("a")
	sso.waitFor("OK The PBX now has")
	if len(sso.asked) != 1 || !strings.Contains(sso.asked[0].Body, sims.M365.ClientID()) {
		t.Fatalf("confirmation %+v", sso.asked)
	}
	got := sims.PBX.M365Settings()
	if got.TenantID != sims.M365.TenantID() || got.ApplicationID != sims.M365.ClientID() || !got.SSOEnabled || got.UserSyncEnabled {
		t.Fatalf("the PBX holds %+v", got)
	}
	sso.waitFor("OK the PBX already has these settings.")

	// Presence: a meeting now for the second user.
	now := time.Now().UTC()
	if _, err := sims.M365.AddMeeting(links[1].ObjectID, m365sim.Meeting{Subject: "Weekly sync", Start: now.Add(-10 * time.Minute),
		End: now.Add(50 * time.Minute), ShowAs: "busy"}); err != nil {
		t.Fatal(err)
	}
	pr := newScreen(t, presencescreen.New(c))
	pr.waitFor("stored state")
	if st := pr.s.(*presencescreen.Screen).Status(); st == nil || len(st.Rows) != 3 || st.Live {
		t.Fatalf("stored presence %+v", st)
	}
	pr.press("r")
	pr.waitFor("live")
	st := pr.s.(*presencescreen.Screen).Status()
	var busy *common.PresenceRow
	for i, r := range st.Rows {
		if r.ObjectID == links[1].ObjectID {
			busy = &st.Rows[i]
		}
	}
	if busy == nil || busy.State != "busy" || busy.Current != presence.DefaultBusyProfile || busy.Until.IsZero() {
		t.Fatalf("the user in a meeting: %+v (all %+v)", busy, st.Rows)
	}
	if !strings.Contains(pr.view(), presence.DefaultBusyProfile) || !strings.Contains(pr.view(), "busy") {
		t.Fatalf("presence screen:\n%s", pr.view())
	}

	// Contacts: one good contact and one without a number in the first
	// user's mailbox.
	uid := links[0].ObjectID
	if _, err := sims.M365.AddContact(uid, "", m365sim.Contact{DisplayName: "Ada Lovelace", GivenName: "Ada", Surname: "Lovelace", MobilePhone: "+1 212 555 0142"}); err != nil {
		t.Fatal(err)
	}
	if _, err := sims.M365.AddContact(uid, "", m365sim.Contact{GivenName: "No", Surname: "Number", MobilePhone: "call me"}); err != nil {
		t.Fatal(err)
	}
	cs := newScreen(t, contactscreen.New(c))
	cs.waitFor("Plan: ")
	book := contacts.PersonalBook(links[0].Number)
	cst := cs.s.(*contactscreen.Screen).Status()
	var b common.ContactsBook
	for _, x := range cst.Books {
		if x.Phonebook == book {
			b = x
		}
	}
	skipped := 0
	for _, n := range b.Skipped {
		skipped += n
	}
	if len(b.PerSource) != 1 || b.PerSource[0] != b.Source || len(b.Mailboxes) != 1 {
		t.Errorf("per-mailbox counts %v for %v, source %d", b.PerSource, b.Mailboxes, b.Source)
	}
	if b.Source < 2 || b.Pending < 1 || skipped < 1 || b.Owned != 0 || cst.LastRun != nil {
		t.Fatalf("phonebook %s before the run: %+v", book, b)
	}
	cs.press("p")
	if !strings.Contains(cs.view(), "Ada Lovelace") || !strings.Contains(cs.view(), "skip") {
		t.Fatalf("contact plan:\n%s", cs.view())
	}
	cs.press("a")
	cs.waitFor("Run #")
	cs.waitFor("last run #")
	if len(cs.asked) != 1 || !strings.Contains(cs.asked[0].Body, "create") {
		t.Fatalf("confirmation %+v", cs.asked)
	}
	found := false
	for _, pc := range sims.PBX.Snapshot().Contacts {
		if pc.Owner == links[0].Number && pc.FirstName == "Ada" && strings.HasPrefix(pc.Tag, contacts.TagPrefix) {
			found = true
		}
	}
	if !found {
		t.Fatalf("the PBX has no Ada in %s's phonebook: %+v", links[0].Number, sims.PBX.Snapshot().Contacts)
	}
	cst = cs.s.(*contactscreen.Screen).Status()
	for _, x := range cst.Books {
		if x.Phonebook == book && (x.Owned < 1 || x.Pending != 0) {
			t.Fatalf("phonebook after the run: %+v", x)
		}
	}
	if cst.LastRun == nil || cst.LastRun.Status != "ok" || cst.LastRun.Done[plan.ActCreate] < 1 {
		t.Fatalf("last run %+v", cst.LastRun)
	}
	// The plan that ran cannot run twice.
	if _, err := l.ApplyContacts(ctx, "stale"); err == nil {
		t.Fatal("an unknown plan hash was applied")
	}
}

// The optional backends through the service's socket: SSO status and
// presence from the service, a contact plan applied with its events
// streamed back.
func TestExtraBackendsThroughTheServiceSocket(t *testing.T) {
	sims, a := setup(t, 30)
	if _, err := a.Store.Set("contacts.personal", "true"); err != nil {
		t.Fatal(err)
	}
	local := backend.NewLocal(a)
	links := syncUsers(t, local, sims, 2)
	eng, err := a.Users(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sch := &scheduler.Scheduler{Users: eng, Interval: time.Hour, RunLock: &a.RunMu}
	srv := &backend.Server{Local: local, Sched: sch}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- srv.Listen(ctx, backend.SocketPath(a.Dir)) }()
	var r *backend.Remote
	deadline := time.Now().Add(10 * time.Second)
	for {
		if r, err = backend.Dial(ctx, a.Dir); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dial: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	defer r.Close()

	sst, err := r.SSOStatus(ctx)
	if err != nil || sst.Synced != 2 || sst.Want.TenantID != sims.M365.TenantID() || !sst.Changes {
		t.Fatalf("sso status %+v %v", sst, err)
	}
	pst, err := r.Presence(ctx, false)
	if err != nil || len(pst.Rows) != 2 || pst.Live {
		t.Fatalf("presence %+v %v", pst, err)
	}

	if _, err := sims.M365.AddContact(links[0].ObjectID, "", m365sim.Contact{DisplayName: "Grace Hopper", GivenName: "Grace", Surname: "Hopper", BusinessPhones: []string{"+1 202 555 0100"}}); err != nil {
		t.Fatal(err)
	}
	cst, err := r.ContactsStatus(ctx)
	if err != nil || cst.Plan.Counts[plan.ActCreate] < 1 {
		t.Fatalf("contacts status %+v %v", cst.Plan.Counts, err)
	}
	ch, err := r.ApplyContacts(ctx, cst.Plan.Hash)
	if err != nil {
		t.Fatal(err)
	}
	var last progress.Event
	for ev := range ch {
		last = ev
	}
	if last.Summary == nil || last.Summary.Done[plan.ActCreate] != cst.Plan.Counts[plan.ActCreate] {
		t.Fatalf("last event %+v", last)
	}
	if _, err := r.ApplyContacts(ctx, cst.Plan.Hash); err == nil || !strings.Contains(err.Error(), "preview it again") {
		t.Fatalf("a used contact plan: %v", err)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}
