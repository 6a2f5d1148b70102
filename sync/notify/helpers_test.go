package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pbx365/pbx365/graphclient"
	"github.com/pbx365/pbx365/graphclient/m365sim"
	"github.com/pbx365/pbx365/store"
	"github.com/pbx365/pbx365/sync/app/apptest"
)

var (
	graphKeyOnce sync.Once
	graphKey     *graphclient.KeyPair
	graphKeyErr  error
)

// startSim runs a simulated tenant with every permission granted and returns
// a real Graph client for it (one shared RSA key pair: generation is slow).
func startSim(t testing.TB) (*m365sim.Sim, *graphclient.Client) {
	t.Helper()
	graphKeyOnce.Do(func() { graphKey, graphKeyErr = graphclient.GenerateKeyPair(0) })
	if graphKeyErr != nil {
		t.Fatal(graphKeyErr)
	}
	s := m365sim.New(m365sim.Options{Seed: 11, Users: 40})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	s.GrantAll()
	if err := s.RegisterCertificate(graphKey.CertificatePEM()); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "keys", "pbx365.pem")
	if err := graphKey.Write(keyFile); err != nil {
		t.Fatal(err)
	}
	c, err := graphclient.New(context.Background(), graphclient.Config{TenantID: s.TenantID(), ClientID: s.ClientID(), KeyFile: keyFile,
		GraphURL: s.GraphURL(), LoginURL: s.URL(), CAPEM: s.CACertPEM(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return s, c
}

// listenerCert is a listener certificate valid for a day.
func listenerCert(t testing.TB) (certFile, keyFile string, certPEM []byte) {
	t.Helper()
	return apptest.ListenerCert(t, time.Now().Add(24*time.Hour))
}

// freePort returns a loopback port nothing listens on right now.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// clock is a settable offset from the wall clock.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// recorder counts the triggers the manager fires.
type recorder struct {
	mu       sync.Mutex
	users    []time.Time
	presence []string
	contacts []string
}

func (r *recorder) syncUsers() {
	r.mu.Lock()
	r.users = append(r.users, time.Now())
	r.mu.Unlock()
}

func (r *recorder) refresh(_ context.Context, id string) error {
	r.mu.Lock()
	r.presence = append(r.presence, id)
	r.mu.Unlock()
	return nil
}

func (r *recorder) syncContacts(mb string) {
	r.mu.Lock()
	r.contacts = append(r.contacts, mb)
	r.mu.Unlock()
}

func (r *recorder) counts() (users int, presence, contacts []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.users), slices.Clone(r.presence), slices.Clone(r.contacts)
}

// env is a tenant, a store, a listener certificate the sim trusts, and the
// pieces of a Manager.
type env struct {
	t        *testing.T
	sim      *m365sim.Sim
	graph    *graphclient.Client
	st       *store.Store
	cfg      Config
	clock    *clock
	rec      *recorder
	targets  Targets
	tmu      sync.Mutex
	certPEM  []byte
	calendar []string // users with a mailbox
}

func newEnv(t *testing.T) *env {
	t.Helper()
	sim, g := startSim(t)
	st, err := store.Open(filepath.Join(t.TempDir(), "data"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	certFile, keyFile, certPEM := listenerCert(t)
	if err := sim.TrustNotificationCA(certPEM); err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(freePort(t))
	e := &env{t: t, sim: sim, graph: g, st: st, clock: &clock{}, rec: &recorder{}, certPEM: certPEM}
	e.cfg = Config{PublicURL: "https://127.0.0.1:" + port + "/graph/notify?tenant=contoso", Listen: "127.0.0.1:" + port,
		CertFile: certFile, KeyFile: keyFile, UsersLifetime: 2 * time.Hour, OutlookLifetime: 2 * time.Hour,
		Debounce: 50 * time.Millisecond, RetryMin: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond, Now: e.clock.Now}
	for _, u := range sim.Users() {
		if u.Mailbox == m365sim.MailboxUser && !u.SoftDeleted() && len(e.calendar) < 3 {
			e.calendar = append(e.calendar, u.ID)
		}
	}
	e.targets = Targets{Calendar: e.calendar[:2], Contacts: e.calendar[2:3]}
	return e
}

func (e *env) setTargets(t Targets) {
	e.tmu.Lock()
	e.targets = t
	e.tmu.Unlock()
}

func (e *env) deps() Deps {
	return Deps{Graph: e.graph, Store: e.st, SyncUsers: e.rec.syncUsers, RefreshPresence: e.rec.refresh, SyncContacts: e.rec.syncContacts,
		Log: testLog(),
		Targets: func(context.Context) (Targets, error) {
			e.tmu.Lock()
			defer e.tmu.Unlock()
			return e.targets, nil
		}}
}

// start runs a Manager until the test ends (or the returned stop is called).
func (e *env) start() (*Manager, func()) {
	e.t.Helper()
	m, err := New(e.cfg, e.deps())
	if err != nil {
		e.t.Fatal(err)
	}
	return m, run(e.t, m)
}

// run runs m until the test ends or stop is called (stop waits for Run to return).
func run(tb testing.TB, m *Manager) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Run(ctx)
	}()
	stop = func() {
		cancel()
		<-done
	}
	tb.Cleanup(stop)
	return stop
}

// waitSubs waits until the sim holds exactly the resources wanted.
func (e *env) waitSubs(want ...string) []m365sim.SubscriptionInfo {
	e.t.Helper()
	slices.Sort(want)
	var got []string
	var subs []m365sim.SubscriptionInfo
	ok := waitFor(10*time.Second, func() bool {
		subs = e.sim.Subscriptions()
		got = got[:0]
		for _, s := range subs {
			got = append(got, s.Resource)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			return false
		}
		stored, err := e.st.Subscriptions()
		if err != nil || len(stored) != len(subs) {
			return false
		}
		for _, st := range stored {
			if bySubResource(subs, st.Resource).ID != st.ID {
				return false
			}
		}
		return true
	})
	if !ok {
		e.t.Fatalf("subscriptions at the sim %v, want %v (and the same in the store)", got, want)
	}
	return subs
}

func (e *env) wanted() []string {
	e.tmu.Lock()
	defer e.tmu.Unlock()
	out := []string{resUsers}
	for _, id := range e.targets.Calendar {
		out = append(out, eventsResource(id))
	}
	for _, mb := range e.targets.Contacts {
		out = append(out, contactsResource(mb))
	}
	return out
}

// client is an HTTPS client trusting the listener's certificate.
func (e *env) client() *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(e.certPEM)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
}

func (e *env) roots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(e.certPEM)
	return pool
}

func bySubResource(subs []m365sim.SubscriptionInfo, res string) m365sim.SubscriptionInfo {
	for _, s := range subs {
		if s.Resource == res {
			return s
		}
	}
	return m365sim.SubscriptionInfo{}
}

// testLog logs to stderr when PBX365_TEST_LOG is set.
func testLog() *slog.Logger {
	if os.Getenv("PBX365_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func waitFor(d time.Duration, f func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if f() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}
