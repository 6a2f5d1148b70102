package m365sim

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Options configures a simulated tenant.
type Options struct {
	// Seed makes the generated tenant deterministic.
	Seed int64
	// Users is the number of user objects (shared mailboxes included):
	// default 300, 10..100000.
	Users int
	// TenantID and ClientID default to fixed GUIDs.
	TenantID, ClientID string
	// Now is the sim clock's source (default time.Now). Advance and SetNow
	// shift it; the generated calendars are anchored at its value in New.
	Now func() time.Time
	// Logger receives request and delivery logs (default: discard).
	Logger *slog.Logger
}

// Default identifiers of the simulated tenant and app registration.
const (
	DefaultTenantID = "8f2a9c3e-1b47-4d6a-9e51-3c0b7d2f6a18"
	DefaultClientID = "5d3b1e7a-9c42-4f08-b6e3-2a1f9d8c7e55"
	// Domain is the tenant's verified domain (usable instead of the tenant id in login URLs).
	Domain = "contoso.onmicrosoft.com"
)

// Sim is a simulated Microsoft 365 tenant: Entra login and Graph v1.0 on one
// HTTPS server. All methods are safe for concurrent use.
type Sim struct {
	opts               Options
	tenantID, clientID string
	log                *slog.Logger

	mu sync.RWMutex // guards t
	t  *tenant

	hookMu sync.Mutex
	hooks  []func(Change)

	clockMu     sync.Mutex
	clockOffset time.Duration

	auth   authState
	faults faultState
	reqs   requestLog

	graph      *http.ServeMux // patterns relative to the server root, e.g. "GET /v1.0/users"
	controlMux *http.ServeMux
	controlKey string
	signKey    *rsa.PrivateKey
	secret     []byte // HMAC key for skip and delta tokens

	extMu   sync.Mutex
	extData map[string]any

	srvMu    sync.Mutex
	srv      *http.Server
	baseURL  string
	caPEM    []byte
	tlsCert  tls.Certificate
	ctx      context.Context
	cancel   context.CancelFunc
	bg       sync.WaitGroup
	closed   bool
	startErr error
}

// extensions are installed by New after the core routes; files of this
// package (mailbox_*.go, subscriptions_*.go) add to it from init.
var extensions []func(*Sim)

// registerExtension adds f to the set every new Sim runs at construction.
// Use it from an init function to add routes (s.graphRoute) and change hooks
// (s.OnChange).
func registerExtension(f func(*Sim)) { extensions = append(extensions, f) }

// Validate reports options New would refuse, naming what to fix.
func (o Options) Validate() error {
	if o.Users != 0 && (o.Users < 10 || o.Users > 100000) {
		return fmt.Errorf("m365sim: users = %d: use 10..100000 (0 means 300)", o.Users)
	}
	for name, v := range map[string]string{"tenant id": o.TenantID, "client id": o.ClientID} {
		if v != "" && !isGUID(v) {
			return fmt.Errorf("m365sim: %s %q is not a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", name, v)
		}
	}
	return nil
}

// isGUID reports whether s looks like 8-4-4-4-12 hex digits.
func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
				return false
			}
		}
	}
	return true
}

// New generates a tenant deterministically from opts.Seed and opts.Users.
// It panics on options Validate refuses (call Validate first for user input).
func New(opts Options) *Sim {
	if err := opts.Validate(); err != nil {
		panic(err.Error())
	}
	if opts.Users == 0 {
		opts.Users = 300
	}
	if opts.TenantID == "" {
		opts.TenantID = DefaultTenantID
	}
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Sim{opts: opts, tenantID: strings.ToLower(opts.TenantID), clientID: strings.ToLower(opts.ClientID), log: opts.Logger}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(fmt.Sprintf("m365sim: generate signing key: %v", err))
	}
	s.signKey = key
	s.secret = randomBytes(32)
	s.controlKey = hex.EncodeToString(randomBytes(24))
	s.auth.init()
	s.faults.init(opts.Seed)
	s.t = newTenant(Domain)
	generate(s.t, opts.Seed, opts.Users, s.Now())
	s.graph = http.NewServeMux()
	s.installGraphRoutes()
	s.controlMux = http.NewServeMux()
	s.installControlRoutes()
	for _, ext := range extensions {
		ext(s)
	}
	return s
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return b
}

// Start serves the sim over HTTPS (HTTP/2) on a free loopback port.
func (s *Sim) Start() error { return s.StartOn("127.0.0.1:0") }

// StartOn serves the sim over HTTPS on addr (host:port).
func (s *Sim) StartOn(addr string) error {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.srv != nil {
		return errors.New("m365sim: already started")
	}
	if s.closed {
		return errors.New("m365sim: closed")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("m365sim: listen on %s: %w", addr, err)
	}
	host, _, _ := net.SplitHostPort(addr)
	caPEM, cert, err := makeServerCert(host)
	if err != nil {
		ln.Close()
		return fmt.Errorf("m365sim: make TLS certificate: %w", err)
	}
	s.caPEM, s.tlsCert = caPEM, cert
	port := ln.Addr().(*net.TCPAddr).Port
	urlHost := host
	if urlHost == "" || urlHost == "0.0.0.0" || urlHost == "::" {
		urlHost = "127.0.0.1"
	}
	s.baseURL = fmt.Sprintf("https://%s", net.JoinHostPort(urlHost, fmt.Sprint(port)))
	s.srv = &http.Server{
		Handler:           s,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		if err := s.srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("m365sim server stopped", "err", err)
		}
	}()
	return nil
}

// Close stops the server and every background delivery.
func (s *Sim) Close() {
	s.srvMu.Lock()
	s.closed = true
	srv := s.srv
	s.srvMu.Unlock()
	s.cancel()
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			srv.Close()
		}
	}
	s.bg.Wait()
}

// Context is cancelled when the sim closes (for background work of extensions).
func (s *Sim) Context() context.Context { return s.ctx }

// extension returns the per-Sim state stored under key, creating it with
// init on first use. Extension files keep their state here (e.g. mailbox
// throttling counters, subscriptions) instead of adding fields to Sim.
func (s *Sim) extension(key string, init func() any) any {
	s.extMu.Lock()
	defer s.extMu.Unlock()
	if v, ok := s.extData[key]; ok {
		return v
	}
	if s.extData == nil {
		s.extData = map[string]any{}
	}
	v := init()
	s.extData[key] = v
	return v
}

// goBackground runs f in a goroutine that Close waits for.
func (s *Sim) goBackground(f func(ctx context.Context)) {
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		f(s.ctx)
	}()
}

// URL is the server's base URL, https://127.0.0.1:PORT: the login authority
// host (ms.login_url).
func (s *Sim) URL() string {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	return s.baseURL
}

// GraphURL is URL()+"/v1.0" (ms.graph_url).
func (s *Sim) GraphURL() string { return s.URL() + "/v1.0" }

// CACertPEM is the PEM of the CA that signed the server certificate (valid after Start).
func (s *Sim) CACertPEM() []byte {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	return append([]byte(nil), s.caPEM...)
}

// TenantID is the directory (tenant) id.
func (s *Sim) TenantID() string { return s.tenantID }

// ClientID is the application (client) id of the registered app.
func (s *Sim) ClientID() string { return s.clientID }

// ControlKey is the secret the /_sim/ control API requires
// (header "Authorization: Bearer KEY").
func (s *Sim) ControlKey() string { return s.controlKey }

// Now is the sim clock: token lifetimes, delta token expiry and calendars use it.
func (s *Sim) Now() time.Time {
	s.clockMu.Lock()
	off := s.clockOffset
	s.clockMu.Unlock()
	return s.opts.Now().Add(off).UTC()
}

// SetNow moves the sim clock to t (it keeps running from there at the source's pace).
func (s *Sim) SetNow(t time.Time) {
	s.clockMu.Lock()
	s.clockOffset = t.Sub(s.opts.Now())
	s.clockMu.Unlock()
}

// Advance moves the sim clock forward by d.
func (s *Sim) Advance(d time.Duration) {
	s.clockMu.Lock()
	s.clockOffset += d
	s.clockMu.Unlock()
}

// OnChange registers f to be called after every tenant change, outside the
// lock, in log order, on the goroutine that made the change. f must not block
// for long (start a goroutine with goBackground for deliveries).
func (s *Sim) OnChange(f func(Change)) {
	s.hookMu.Lock()
	s.hooks = append(s.hooks, f)
	s.hookMu.Unlock()
}

// read runs f with the tenant under the read lock.
func (s *Sim) read(f func(t *tenant)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	f(s.t)
}

// changeRecorder appends one change (Resource, Type, SoftDelete; Seq and Time are
// filled in) to the tenant's change log.
type changeRecorder func(c Change)

// write runs f with the tenant under the write lock. f reports its changes by
// calling rec; they are appended to the change log (delta) and, after the
// lock is released, passed to the change hooks in order.
func (s *Sim) write(f func(t *tenant, rec changeRecorder) error) error {
	var changes []Change
	now := s.Now()
	s.mu.Lock()
	err := f(s.t, func(c Change) {
		changes = append(changes, s.t.record(now, c.Resource, c.Type, c.SoftDelete))
	})
	s.mu.Unlock()
	s.fire(changes)
	return err
}

// fire passes changes to the change hooks.
func (s *Sim) fire(changes []Change) {
	if len(changes) == 0 {
		return
	}
	s.hookMu.Lock()
	hooks := slices.Clone(s.hooks)
	s.hookMu.Unlock()
	for _, c := range changes {
		for _, h := range hooks {
			h(c)
		}
	}
}

// ServeHTTP routes login, Graph and control requests.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/v1.0/") || r.URL.Path == "/v1.0":
		s.serveGraph(w, r, false)
	case strings.HasPrefix(r.URL.Path, "/_sim/"):
		s.serveControl(w, r)
	default:
		s.serveLogin(w, r)
	}
}
