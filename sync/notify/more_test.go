package notify

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pbx365/pbx365/graphclient"
	"github.com/pbx365/pbx365/graphclient/m365sim"
	"github.com/pbx365/pbx365/store"
)

// Plain HTTP behind the admin's TLS reverse proxy: Graph (the sim) talks
// HTTPS to the proxy, the proxy plain HTTP to the listener.
func TestPlainHTTPBehindAReverseProxy(t *testing.T) {
	e := newEnv(t)
	port := strconv.Itoa(freePort(t))
	backend, _ := url.Parse("http://127.0.0.1:" + port)
	proxy := httptest.NewTLSServer(httputil.NewSingleHostReverseProxy(backend))
	t.Cleanup(proxy.Close)
	proxyCA := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: proxy.Certificate().Raw})
	if err := e.sim.TrustNotificationCA(proxyCA); err != nil {
		t.Fatal(err)
	}
	e.certPEM = proxyCA
	e.cfg.PublicURL, e.cfg.Listen, e.cfg.CertFile, e.cfg.KeyFile = proxy.URL+"/pbx365/notify", "127.0.0.1:"+port, "", ""
	e.setTargets(Targets{})
	m, _ := e.start()
	e.waitSubs(resUsers)
	if err := e.sim.UpdateUser(e.sim.Users()[2].ID, func(u *m365sim.User) { u.Department = "Proxy" }); err != nil {
		t.Fatal(err)
	}
	if !waitFor(3*time.Second, func() bool { n, _, _ := e.rec.counts(); return n > 0 }) {
		t.Fatalf("no trigger through the proxy; stats %+v", m.Stats())
	}
	lines := Check(context.Background(), e.cfg, e.roots())
	if len(lines) != 3 || lines[2].Status != graphclient.CheckOK || !strings.Contains(lines[1].Detail, "plain http") {
		t.Errorf("check: %v", lines)
	}
}

// Object ids of TestStoreTargets.
const (
	oidA = "00000000-0000-4000-8000-00000000000a"
	oidB = "00000000-0000-4000-8000-00000000000b"
	oidC = "00000000-0000-4000-8000-00000000000c"
	oidD = "00000000-0000-4000-8000-00000000000d"
)

func TestStoreTargets(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.PutLinks([]store.Link{
		{ObjectID: oidA, PBXUserID: 1, Number: "101"},
		{ObjectID: oidB, PBXUserID: 2, Number: "102"},
		{ObjectID: oidC, PBXUserID: 3, Number: "103", Disabled: true},
		{ObjectID: oidD, PBXUserID: 4, Number: "104", LeftAt: time.Now()},
	}); err != nil {
		t.Fatal(err)
	}
	resolved := 0
	resolve := func(_ context.Context, upn string) (string, error) {
		resolved++
		if upn == "b@contoso.com" {
			return oidB, nil
		}
		return "", errors.New("no such user")
	}
	targets := StoreTargets(st, resolve)
	ctx := context.Background()
	got := func() Targets {
		t.Helper()
		tg, err := targets(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return tg
	}
	if tg := got(); tg.Calendar != nil || tg.Contacts != nil {
		t.Errorf("nothing enabled: %+v", tg)
	}
	if err := st.SetMany(map[string]string{"calendar.enabled": "true", "contacts.shared_mailboxes": "Shared@Contoso.com"}); err != nil {
		t.Fatal(err)
	}
	if tg := got(); !slices.Equal(tg.Calendar, []string{oidA, oidB}) || !slices.Equal(tg.Contacts, []string{"shared@contoso.com"}) {
		t.Errorf("all calendar users and a shared mailbox: %+v", tg)
	}
	if err := st.SetMany(map[string]string{"calendar.users": "selected", "calendar.selected": "b@contoso.com," + oidC, "contacts.personal": "true"}); err != nil {
		t.Fatal(err)
	}
	if tg := got(); !slices.Equal(tg.Calendar, []string{oidB}) || !slices.Equal(tg.Contacts, []string{oidA, oidB, "shared@contoso.com"}) || resolved != 1 {
		t.Errorf("selected calendar users and personal contacts: %+v (resolved %d)", tg, resolved)
	}
	if err := st.SetMany(map[string]string{"calendar.selected": "x@contoso.com"}); err != nil {
		t.Fatal(err)
	}
	if _, err := targets(ctx); err == nil || !strings.Contains(err.Error(), "calendar.selected") {
		t.Errorf("unresolvable UPN: %v", err)
	}
}

// A failing target source keeps the subscriptions (nothing is removed
// because a read failed) and is retried.
func TestTargetsFailureKeepsSubscriptions(t *testing.T) {
	e := newEnv(t)
	fail, failedReads := false, 0
	deps := e.deps()
	inner := deps.Targets
	deps.Targets = func(ctx context.Context) (Targets, error) {
		e.tmu.Lock()
		f := fail
		if f {
			failedReads++
		}
		e.tmu.Unlock()
		if f {
			return Targets{}, fmt.Errorf("read links: disk on fire")
		}
		return inner(ctx)
	}
	m, err := New(e.cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	run(t, m)
	want := e.wanted()
	e.waitSubs(want...)
	e.tmu.Lock()
	fail = true
	e.tmu.Unlock()
	m.Refresh()
	time.Sleep(500 * time.Millisecond) // retries at 50, 100, 200, 200 ms
	e.waitSubs(want...)
	e.tmu.Lock()
	n := failedReads
	e.tmu.Unlock()
	if n < 2 || n > 6 {
		t.Errorf("%d failed target reads in 500 ms; want a few, with backoff", n)
	}
}

func BenchmarkReceiveBatch(b *testing.B) {
	m, err := New(Config{PublicURL: "https://pbx.example.com/n", Listen: "127.0.0.1:0"}, Deps{Graph: nopGraph{}, Store: nopStore{}})
	if err != nil {
		b.Fatal(err)
	}
	var body strings.Builder
	body.WriteString(`{"value":[`)
	for i := range 100 {
		id := fmt.Sprintf("sub-%d", i)
		cs := newClientState()
		m.byID[id] = &store.Subscription{ID: id, Resource: eventsResource(fmt.Sprintf("oid-%d", i)), ClientState: cs}
		if i > 0 {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, `{"subscriptionId":%q,"clientState":%q,"changeType":"updated","resource":"Users/oid-%d/Events/e","resourceData":{"id":"e"}}`, id, cs, i)
	}
	body.WriteString(`]}`)
	raw := body.String()
	h := m.Handler()
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/n", strings.NewReader(raw))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusAccepted {
			b.Fatal(rec.Code)
		}
	}
}

// BenchmarkTenantChangeToTrigger measures the time from a directory change
// at the sim to the users trigger firing (delivery over HTTPS, handshake
// done, clientState checked, queued, dispatched).
func BenchmarkTenantChangeToTrigger(b *testing.B) {
	sim, g := startSim(b)
	st, err := store.Open(filepath.Join(b.TempDir(), "data"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	certFile, keyFile, certPEM := listenerCert(b)
	if err := sim.TrustNotificationCA(certPEM); err != nil {
		b.Fatal(err)
	}
	port := strconv.Itoa(freePort(b))
	fired := make(chan struct{}, 16)
	m, err := New(Config{PublicURL: "https://127.0.0.1:" + port + "/n", Listen: "127.0.0.1:" + port, CertFile: certFile, KeyFile: keyFile, Debounce: time.Nanosecond},
		Deps{Graph: g, Store: st, Log: testLog(), SyncUsers: func() { fired <- struct{}{} }})
	if err != nil {
		b.Fatal(err)
	}
	stop := run(b, m)
	defer stop()
	if !waitFor(10*time.Second, func() bool { return len(m.Subscriptions()) == 1 && m.Subscriptions()[0].ID != "" }) {
		b.Fatal("not subscribed")
	}
	uid := sim.Users()[1].ID
	b.ResetTimer()
	for i := range b.N {
		if err := sim.UpdateUser(uid, func(u *m365sim.User) { u.JobTitle = strconv.Itoa(i) }); err != nil {
			b.Fatal(err)
		}
		select {
		case <-fired:
		case <-time.After(10 * time.Second):
			b.Fatal("no trigger")
		}
	}
}

type nopGraph struct{}

func (nopGraph) CreateSubscription(context.Context, graphclient.Subscription) (graphclient.Subscription, error) {
	return graphclient.Subscription{}, errors.New("not in a benchmark")
}
func (nopGraph) RenewSubscription(context.Context, string, time.Time) (graphclient.Subscription, error) {
	return graphclient.Subscription{}, errors.New("not in a benchmark")
}
func (nopGraph) DeleteSubscription(context.Context, string) error { return nil }
func (nopGraph) ListSubscriptions(context.Context) ([]graphclient.Subscription, error) {
	return nil, nil
}

type nopStore struct{}

func (nopStore) Subscriptions() ([]store.Subscription, error) { return nil, nil }
func (nopStore) PutSubscription(store.Subscription) error     { return nil }
func (nopStore) DeleteSubscription(string) error              { return nil }
