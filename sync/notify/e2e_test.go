package notify

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pbx365/pbx365/graphclient"
	"github.com/pbx365/pbx365/graphclient/m365sim"
)

func TestSubscribesAndNotificationsTriggerWork(t *testing.T) {
	e := newEnv(t)
	m, _ := e.start()
	subs := e.waitSubs(e.wanted()...)
	stored, err := e.st.Subscriptions()
	if err != nil || len(stored) != 4 {
		t.Fatalf("stored %+v %v", stored, err)
	}
	seen := map[string]bool{}
	for _, s := range stored {
		sim := bySubResource(subs, s.Resource)
		if sim.ID != s.ID || sim.ClientState != s.ClientState || len(s.ClientState) != 43 || seen[s.ClientState] {
			t.Errorf("%s: stored %+v, sim %+v (clientState must be 32 random bytes, one per subscription)", s.Resource, s, sim)
		}
		seen[s.ClientState] = true
		if sim.LifecycleNotificationURL != e.cfg.PublicURL || sim.NotificationURL != e.cfg.PublicURL {
			t.Errorf("%s: urls %q %q", s.Resource, sim.NotificationURL, sim.LifecycleNotificationURL)
		}
	}
	if m.Stats().Handshakes.Load() == 0 {
		t.Error("no validation handshake answered")
	}

	// A directory change → a users delta run asked for.
	users := e.sim.Users()
	start := time.Now()
	if err := e.sim.UpdateUser(users[5].ID, func(u *m365sim.User) { u.JobTitle = "Changed" }); err != nil {
		t.Fatal(err)
	}
	if !waitFor(3*time.Second, func() bool { n, _, _ := e.rec.counts(); return n > 0 }) {
		t.Fatalf("users change not triggered; deliveries %+v", e.sim.Deliveries())
	}
	t.Logf("tenant change → users trigger: %s", time.Since(start))

	// A meeting → that user's presence refreshed.
	cal := e.targets.Calendar[1]
	now := e.sim.Now()
	if _, err := e.sim.AddMeeting(cal, m365sim.Meeting{Subject: "Sync", Start: now.Add(time.Hour), End: now.Add(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if !waitFor(3*time.Second, func() bool { _, p, _ := e.rec.counts(); return slices.Contains(p, cal) }) {
		t.Fatal("event change did not refresh the user's presence")
	}
	// A contact → that mailbox's contacts run.
	mb := e.targets.Contacts[0]
	if _, err := e.sim.AddContact(mb, "", m365sim.Contact{DisplayName: "New Contact", GivenName: "New"}); err != nil {
		t.Fatal(err)
	}
	if !waitFor(3*time.Second, func() bool { _, _, c := e.rec.counts(); return slices.Contains(c, mb) }) {
		t.Fatal("contact change did not ask for a contacts run")
	}
	_, p, c := e.rec.counts()
	if len(p) != 1 || len(c) != 1 {
		t.Errorf("other users or mailboxes triggered: presence %v contacts %v", p, c)
	}

	// A burst of changes is merged: far fewer runs than changes.
	before, _, _ := e.rec.counts()
	for i := range 20 {
		if err := e.sim.UpdateUser(users[10+i].ID, func(u *m365sim.User) { u.JobTitle = "Burst" }); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(2*time.Second, func() bool { return m.Stats().Accepted.Load() >= 23 })
	time.Sleep(3 * e.cfg.Debounce)
	after, _, _ := e.rec.counts()
	if runs := after - before; runs < 1 || runs > 3 {
		t.Errorf("20 changes gave %d users runs; want them merged into 1..3", runs)
	}
}

func TestRefusesBadRequestsAndIgnoresUnknownSubscriptions(t *testing.T) {
	e := newEnv(t)
	m, _ := e.start()
	e.waitSubs(e.wanted()...)
	stored, _, _ := e.st.Subscription(resUsers)
	hc := e.client()
	post := func(ct, body string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, e.cfg.PublicURL, strings.NewReader(body))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	note := func(subID, clientState string) string {
		return `{"value":[{"subscriptionId":"` + subID + `","clientState":"` + clientState + `","changeType":"updated","resource":"Users/x","resourceData":{"id":"x"}}]}`
	}
	time.Sleep(3 * e.cfg.Debounce) // let any start-up notifications settle
	users0, _, _ := e.rec.counts()

	if code := post("application/json", note(stored.ID, "wrong"+stored.ClientState[5:])); code != http.StatusForbidden {
		t.Errorf("wrong clientState: %d, want 403", code)
	}
	// One good and one forged notification in one request: all refused.
	mixed := `{"value":[` + note(stored.ID, stored.ClientState)[10:len(note(stored.ID, stored.ClientState))-2] + `,` + note(stored.ID, "forged")[10:len(note(stored.ID, "forged"))-2] + `]}`
	if code := post("application/json", mixed); code != http.StatusForbidden {
		t.Errorf("mixed batch: %d, want 403", code)
	}
	if code := post("application/json", note("00000000-0000-0000-0000-000000000000", stored.ClientState)); code != http.StatusAccepted {
		t.Errorf("unknown subscription: %d, want 202", code)
	}
	if code := post("text/plain", note(stored.ID, stored.ClientState)); code != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain: %d, want 415", code)
	}
	if code := post("application/json", "{not json"); code != http.StatusBadRequest {
		t.Errorf("bad JSON: %d, want 400", code)
	}
	big := `{"value":[],"pad":"` + strings.Repeat("x", DefaultMaxBody) + `"}`
	if code := post("application/json", big); code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized: %d, want 413", code)
	}
	// Chunked (no Content-Length): the limit still holds.
	req, _ := http.NewRequest(http.MethodPost, e.cfg.PublicURL, io.MultiReader(strings.NewReader(big)))
	req.Header.Set("Content-Type", "application/json")
	req.ContentLength = -1
	if resp, err := hc.Do(req); err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized chunked: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		req, _ := http.NewRequest(method, e.cfg.PublicURL, nil)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != http.MethodPost {
			t.Errorf("%s: %d allow %q, want 405 POST", method, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
	other := strings.Replace(e.cfg.PublicURL, "/graph/notify", "/other", 1)
	req, _ = http.NewRequest(http.MethodPost, other, strings.NewReader(note(stored.ID, stored.ClientState)))
	req.Header.Set("Content-Type", "application/json")
	if resp, err := hc.Do(req); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("other path: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	time.Sleep(3 * e.cfg.Debounce)
	if n, _, _ := e.rec.counts(); n != users0 {
		t.Errorf("refused or ignored requests triggered %d runs", n-users0)
	}
	if m.Stats().Rejected.Load() < 9 || m.Stats().Ignored.Load() != 1 {
		t.Errorf("rejected %d ignored %d", m.Stats().Rejected.Load(), m.Stats().Ignored.Load())
	}
	// The right clientState works, and the answer is 202.
	if code := post("application/json; charset=utf-8", note(stored.ID, stored.ClientState)); code != http.StatusAccepted {
		t.Errorf("good notification: %d", code)
	}
	if !waitFor(3*time.Second, func() bool { n, _, _ := e.rec.counts(); return n == users0+1 }) {
		t.Error("good notification did not trigger")
	}
}

func TestLifecycleEvents(t *testing.T) {
	e := newEnv(t)
	e.start()
	subs := e.waitSubs(e.wanted()...)
	users := bySubResource(subs, resUsers)

	// reauthorizationRequired → renewed: a later expiry at the sim.
	e.clock.Advance(10 * time.Minute)
	if err := e.sim.TriggerLifecycle(users.ID, m365sim.LifecycleReauthorizationRequired); err != nil {
		t.Fatal(err)
	}
	if !waitFor(5*time.Second, func() bool {
		s := bySubResource(e.sim.Subscriptions(), resUsers)
		return s.ID == users.ID && s.Expiration.After(users.Expiration.Add(5*time.Minute)) && !s.NeedsReauthorization
	}) {
		t.Fatalf("not renewed after reauthorizationRequired: before %v, now %+v", users.Expiration, bySubResource(e.sim.Subscriptions(), resUsers))
	}
	if !waitFor(3*time.Second, func() bool { s, _, _ := e.st.Subscription(resUsers); return s.Expiration.After(users.Expiration) }) {
		s, _, _ := e.st.Subscription(resUsers)
		t.Errorf("store kept the old expiry: %+v", s)
	}

	// subscriptionRemoved → recreated (a new id) and the user's presence resynced.
	cal := e.targets.Calendar[0]
	ev := bySubResource(subs, eventsResource(cal))
	if err := e.sim.TriggerLifecycle(ev.ID, m365sim.LifecycleSubscriptionRemoved); err != nil {
		t.Fatal(err)
	}
	if !waitFor(5*time.Second, func() bool {
		s := bySubResource(e.sim.Subscriptions(), eventsResource(cal))
		return s.ID != "" && s.ID != ev.ID
	}) {
		t.Fatalf("not recreated: %+v", e.sim.Subscriptions())
	}
	if !waitFor(3*time.Second, func() bool { _, p, _ := e.rec.counts(); return slices.Contains(p, cal) }) {
		t.Error("recreated subscription did not resync the user's presence")
	}
	if !waitFor(3*time.Second, func() bool {
		s, _, _ := e.st.Subscription(eventsResource(cal))
		return s.ID != "" && s.ID != ev.ID && s.ClientState != ev.ClientState
	}) {
		t.Errorf("store not updated after the recreation")
	}

	// missed → a resync of that mailbox's contacts.
	mb := e.targets.Contacts[0]
	ct := bySubResource(subs, contactsResource(mb))
	if err := e.sim.TriggerLifecycle(ct.ID, m365sim.LifecycleMissed); err != nil {
		t.Fatal(err)
	}
	if !waitFor(3*time.Second, func() bool { _, _, c := e.rec.counts(); return slices.Contains(c, mb) }) {
		t.Error("missed did not resync the mailbox's contacts")
	}
	e.waitSubs(e.wanted()...)
}

func TestRenewsAtThreeQuartersOfTheLifetime(t *testing.T) {
	e := newEnv(t)
	m, _ := e.start()
	before := e.waitSubs(e.wanted()...)
	e.clock.Advance(80 * time.Minute) // < 75% of 2 h: not yet
	m.Refresh()
	time.Sleep(200 * time.Millisecond)
	for _, s := range e.sim.Subscriptions() {
		if !s.Expiration.Equal(bySubResource(before, s.Resource).Expiration) {
			t.Errorf("%s renewed too early", s.Resource)
		}
	}
	e.clock.Advance(15 * time.Minute) // 95 min > 90 min
	m.Refresh()
	if !waitFor(5*time.Second, func() bool {
		for _, s := range m.Subscriptions() {
			if s.Err != "" || !s.RenewAt.After(e.clock.Now()) {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("not renewed: %+v", m.Subscriptions())
	}
	after := e.sim.Subscriptions()
	if len(after) != len(before) {
		t.Fatalf("sim: %+v", after)
	}
	for _, s := range after {
		b := bySubResource(before, s.Resource)
		if s.ID != b.ID || !s.Expiration.After(b.Expiration.Add(90*time.Minute)) {
			t.Errorf("%s: expiry %v → %v", s.Resource, b.Expiration, s.Expiration)
		}
	}
}

func TestRestartKeepsClientStateAndRepairsDrift(t *testing.T) {
	e := newEnv(t)
	_, stop := e.start()
	first := e.waitSubs(e.wanted()...)
	// A stray subscription to our URL (as made by a pbx365 that lost its
	// store): the running listener answers its handshake.
	ctx := context.Background()
	stray, err := e.graph.CreateSubscription(ctx, graphclient.Subscription{Resource: resUsers, ChangeType: "updated,deleted",
		NotificationURL: e.cfg.PublicURL, ClientState: "lost", Expiration: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	strayID := stray.ID
	stop()
	// While stopped, one subscription vanishes at Graph.
	lost := eventsResource(e.targets.Calendar[0])
	if err := e.graph.DeleteSubscription(ctx, bySubResource(first, lost).ID); err != nil {
		t.Fatal(err)
	}

	// Restart: same clientStates, the lost one recreated (with a resync), the stray one deleted.
	m, _ := e.start()
	e.waitSubs(e.wanted()...)
	after := e.sim.Subscriptions()
	for _, s := range after {
		b := bySubResource(first, s.Resource)
		if s.ID == strayID {
			t.Error("stray subscription kept")
		}
		if s.Resource != lost && (s.ID != b.ID || s.ClientState != b.ClientState) {
			t.Errorf("%s: recreated on restart (%s → %s)", s.Resource, b.ID, s.ID)
		}
	}
	if !waitFor(3*time.Second, func() bool { _, p, _ := e.rec.counts(); return slices.Contains(p, e.targets.Calendar[0]) }) {
		t.Error("lost subscription recreated without a resync")
	}
	if _, p, _ := e.rec.counts(); len(p) != 1 {
		t.Errorf("kept subscriptions resynced too: %v", p)
	}
	// Notifications of the kept subscriptions are still accepted after the restart.
	acc := m.Stats().Accepted.Load()
	if err := e.sim.UpdateUser(e.sim.Users()[3].ID, func(u *m365sim.User) { u.JobTitle = "After restart" }); err != nil {
		t.Fatal(err)
	}
	if !waitFor(3*time.Second, func() bool { return m.Stats().Accepted.Load() > acc }) {
		t.Errorf("notification after restart not accepted; deliveries %+v", e.sim.Deliveries())
	}
}

func TestFollowsTargetsAndSurvivesGraphFailures(t *testing.T) {
	e := newEnv(t)
	// Creation of subscriptions fails for a while: logged, retried with backoff.
	e.sim.FailNextMatching(http.MethodPost, "/v1.0/subscriptions", 6, http.StatusInternalServerError)
	m, _ := e.start()
	e.waitSubs(e.wanted()...)
	for _, s := range m.Subscriptions() {
		if s.ID == "" || s.Err != "" {
			t.Errorf("status after recovery: %+v", s)
		}
	}
	// Fewer calendar users, no contacts: the others are removed at Graph and in the store.
	e.setTargets(Targets{Calendar: e.targets.Calendar[:1]})
	m.Refresh()
	e.waitSubs(e.wanted()...)
	if subs, _ := e.st.Subscriptions(); len(subs) != 2 {
		t.Errorf("store after shrinking: %+v", subs)
	}
	if !waitFor(3*time.Second, func() bool { return len(m.Subscriptions()) == 2 }) {
		t.Errorf("status %+v", m.Subscriptions())
	}
}

func TestCheckAndHandshake(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	lines := Check(ctx, Config{}, nil)
	if len(lines) != 1 || lines[0].Status != graphclient.CheckMissing || !strings.Contains(lines[0].String(), "notify.public_url") {
		t.Errorf("unset: %v", lines)
	}
	lines = Check(ctx, Config{PublicURL: "http://example.com/n"}, nil)
	if len(lines) != 1 || lines[0].Status != graphclient.CheckError || !strings.Contains(lines[0].Detail, "https") {
		t.Errorf("http URL: %v", lines)
	}
	// Nothing listening yet: the handshake line is an error.
	lines = Check(ctx, e.cfg, e.roots())
	if len(lines) != 3 || lines[0].Status != "ok" || lines[1].Status != "ok" || lines[2].Status != graphclient.CheckError {
		t.Errorf("not running: %v", lines)
	}
	e.start()
	e.waitSubs(e.wanted()...)
	lines = Check(ctx, e.cfg, e.roots())
	for _, l := range lines {
		if l.Status != graphclient.CheckOK {
			t.Errorf("running: %v", l)
		}
	}
	// Without the listener's CA the check fails as Graph would (TLS verified).
	if _, err := Handshake(ctx, e.cfg.PublicURL, nil); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusted certificate: %v", err)
	}
	// Every handshake the sim made was answered well within Graph's 10 s.
	var worst time.Duration
	for _, d := range e.sim.Deliveries() {
		if d.Kind == "validation" {
			if !d.Delivered {
				t.Errorf("handshake failed: %+v", d)
			}
			worst = max(worst, d.Duration)
		}
	}
	if worst == 0 || worst > HandshakeTimeout/2 {
		t.Errorf("slowest handshake %s", worst)
	}
	t.Logf("slowest validation handshake: %s", worst)
	// Bad settings are named.
	if _, err := New(Config{PublicURL: e.cfg.PublicURL, Listen: "nope"}, e.deps()); err == nil || !strings.Contains(err.Error(), "notify.listen") {
		t.Errorf("bad listen: %v", err)
	}
	if _, err := New(Config{PublicURL: e.cfg.PublicURL, Listen: e.cfg.Listen, CertFile: e.cfg.CertFile}, e.deps()); err == nil || !strings.Contains(err.Error(), "notify.key_file") {
		t.Errorf("cert without key: %v", err)
	}
	u, _ := url.Parse(e.cfg.PublicURL)
	if lines := Check(ctx, Config{PublicURL: e.cfg.PublicURL, Listen: u.Host, CertFile: "/nonexistent.crt", KeyFile: "/nonexistent.key"}, e.roots()); lines[1].Status != graphclient.CheckError {
		t.Errorf("unreadable cert: %v", lines)
	}
}

func TestMovedPublicURLRecreatesEverything(t *testing.T) {
	e := newEnv(t)
	_, stop := e.start()
	first := e.waitSubs(e.wanted()...)
	stop()
	port := strconv.Itoa(freePort(t))
	e.cfg.PublicURL, e.cfg.Listen = "https://127.0.0.1:"+port+"/moved", "127.0.0.1:"+port
	e.start()
	e.waitSubs(e.wanted()...)
	if !waitFor(5*time.Second, func() bool {
		for _, s := range e.sim.Subscriptions() {
			if s.NotificationURL != e.cfg.PublicURL || bySubResource(first, s.Resource).ID == s.ID {
				return false
			}
		}
		stored, _ := e.st.Subscriptions()
		for _, s := range stored {
			if s.NotificationURL != e.cfg.PublicURL {
				return false
			}
		}
		return len(stored) == len(first)
	}) {
		t.Fatalf("not moved: sim %+v", e.sim.Subscriptions())
	}
}

// The content of a notification is never taken as data: the work follows
// from the subscription it belongs to, whatever resource it names.
func TestNotificationContentIsNotTrusted(t *testing.T) {
	e := newEnv(t)
	e.start()
	e.waitSubs(e.wanted()...)
	cal := e.targets.Calendar[0]
	sub, _, _ := e.st.Subscription(eventsResource(cal))
	other := e.targets.Calendar[1]
	body := `{"value":[{"subscriptionId":"` + sub.ID + `","clientState":"` + sub.ClientState + `","changeType":"deleted","resource":"Users/` + other +
		`/Events/x","resourceData":{"@odata.type":"#Microsoft.Graph.User","id":"` + other + `"},"tenantId":"evil"}]}`
	req, _ := http.NewRequest(http.MethodPost, e.cfg.PublicURL, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if !waitFor(3*time.Second, func() bool { _, p, _ := e.rec.counts(); return len(p) > 0 }) {
		t.Fatal("no refresh")
	}
	time.Sleep(3 * e.cfg.Debounce)
	users, p, c := e.rec.counts()
	if !slices.Equal(p, []string{cal}) || users != 0 || len(c) != 0 {
		t.Errorf("refreshed %v, users runs %d, contacts %v; want only %s", p, users, c, cal)
	}
}
