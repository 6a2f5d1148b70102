// Package notify is the change-notification side of pbx365 serve: an HTTP(S)
// listener that answers Graph's validation handshake and receives change and
// lifecycle notifications, and a subscription manager that keeps Graph
// subscriptions for users, for each calendar user's events and for each
// contact mailbox created, renewed before expiry, recreated when missing and
// removed when no longer needed.
//
// A notification only triggers work — a users delta run, a presence refresh
// for one user, a contacts run for one mailbox — its content is never taken
// as data. Each subscription has its own random clientState, kept in the
// store; a notification carrying a wrong one is refused with 403 and changes
// nothing. Polling never depends on this package: every failure here is
// logged and retried with backoff.
package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pbx365/pbx365/graphclient"
	"github.com/pbx365/pbx365/store"
)

// Graph's maximum subscription lifetimes (graph.md §5.2) and the margin kept
// below them for clock skew.
const (
	MaxUsersLifetime   = 41760 * time.Minute
	MaxOutlookLifetime = 10080 * time.Minute
	lifetimeMargin     = time.Hour
)

// Defaults of Config.
const (
	DefaultMaxBody     = 1 << 20
	DefaultDebounce    = 2 * time.Second
	DefaultRecheck     = 15 * time.Minute
	DefaultRetryMin    = 30 * time.Second
	DefaultRetryMax    = time.Hour
	DefaultConcurrency = 4
)

// Config is the notify.* settings and the manager's tuning. Zero tuning
// fields take the defaults.
type Config struct {
	PublicURL string // notify.public_url: the https URL Graph posts to
	Listen    string // notify.listen: the local host:port served
	CertFile  string // notify.cert_file: with KeyFile, serve HTTPS; both empty: plain HTTP
	KeyFile   string // notify.key_file

	UsersLifetime   time.Duration    // lifetime asked for users subscriptions (default Graph's maximum less an hour)
	OutlookLifetime time.Duration    // the same for events and contacts
	MaxBody         int64            // largest notification body accepted (default 1 MiB; larger: 413)
	Debounce        time.Duration    // notifications for one target within this window trigger one more run, at its end
	Recheck         time.Duration    // how often the calendar and contact targets are re-read (default 15 min)
	RetryMin        time.Duration    // first backoff after a failed Graph call (default 30 s), doubling
	RetryMax        time.Duration    // longest backoff (default 1 h)
	Concurrency     int              // Graph subscription calls and presence refreshes at once (default 4)
	Now             func() time.Time // default time.Now
}

// FromSettings makes a Config from the notify.* settings.
func FromSettings(s store.NotifySettings) Config {
	return Config{PublicURL: s.PublicURL, Listen: s.Listen, CertFile: s.CertFile, KeyFile: s.KeyFile}
}

func (c *Config) fill() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.UsersLifetime, MaxUsersLifetime-lifetimeMargin)
	def(&c.OutlookLifetime, MaxOutlookLifetime-lifetimeMargin)
	def(&c.Debounce, DefaultDebounce)
	def(&c.Recheck, DefaultRecheck)
	def(&c.RetryMin, DefaultRetryMin)
	def(&c.RetryMax, DefaultRetryMax)
	if c.MaxBody <= 0 {
		c.MaxBody = DefaultMaxBody
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// parsePublicURL checks notify.public_url and returns it parsed.
func parsePublicURL(raw string) (*url.URL, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, errors.New("notify.public_url is not set")
	}
	u, err := url.Parse(raw)
	if err != nil || !strings.EqualFold(u.Scheme, "https") || u.Host == "" || u.Fragment != "" {
		return nil, fmt.Errorf("notify.public_url %q must be an https:// URL without a #fragment (Graph posts only to https)", raw)
	}
	return u, nil
}

// Graph is the subscriptions part of the Graph client (*graphclient.Client).
type Graph interface {
	CreateSubscription(ctx context.Context, s graphclient.Subscription) (graphclient.Subscription, error)
	RenewSubscription(ctx context.Context, id string, until time.Time) (graphclient.Subscription, error)
	DeleteSubscription(ctx context.Context, id string) error
	ListSubscriptions(ctx context.Context) ([]graphclient.Subscription, error)
}

// Store keeps the subscriptions (*store.Store).
type Store interface {
	Subscriptions() ([]store.Subscription, error)
	PutSubscription(sub store.Subscription) error
	DeleteSubscription(resource string) error
}

// Targets are the mailboxes that get subscriptions besides users.
type Targets struct {
	Calendar []string // object ids of the calendar users (users/{id}/events)
	Contacts []string // contact mailboxes, object ids or addresses (users/{mailbox}/contacts)
}

// Deps are what the manager works with. Graph and Store are required; a nil
// trigger means notifications of that kind only get acknowledged.
type Deps struct {
	Graph Graph
	Store Store
	// Targets returns the calendar and contact mailboxes to subscribe to
	// (nil: users only). See StoreTargets.
	Targets func(ctx context.Context) (Targets, error)
	// SyncUsers asks for a users delta run (scheduler.Trigger with Reason
	// "notification"); it must not block.
	SyncUsers func()
	// RefreshPresence re-reads one calendar user's free/busy
	// (presence.Engine.RefreshUser).
	RefreshPresence func(ctx context.Context, objectID string) error
	// SyncContacts asks for a contacts run for one mailbox (object id or
	// address, as in Targets.Contacts); it must not block.
	SyncContacts func(mailbox string)
	Log          *slog.Logger
}

// Manager is the listener and the subscription manager. Make it with New and
// run it with Run.
type Manager struct {
	cfg    Config
	deps   Deps
	log    *slog.Logger
	public string // notify.public_url as configured (the notificationUrl)
	path   string // the path served
	tlsCfg *tls.Config

	mu     sync.Mutex
	byID   map[string]*store.Subscription // live subscriptions by Graph id
	byRes  map[string]*entry              // wanted or known resources
	loaded bool
	list   bool              // list Graph's subscriptions at the next reconcile
	due    time.Time         // when the targets are read next (zero: at once)
	tfails int               // consecutive failed target reads
	lfails int               // consecutive failed listings
	events map[string]string // lifecycle events waiting, by subscription id
	addr   net.Addr          // the listener's address once listening

	poke chan struct{}
	d    dispatcher

	stats Stats
}

// entry is the manager's view of one resource.
type entry struct {
	sub      *store.Subscription // the live subscription; nil when none
	wanted   bool
	renewNow bool // reauthorizationRequired arrived
	fails    int
	retryAt  time.Time // no Graph call for it before this
	resync   bool      // trigger its sync once it is (re)created: notifications may have been lost
}

// Stats count what the listener received.
type Stats struct {
	Accepted   atomic.Int64 // notifications acted on
	Ignored    atomic.Int64 // notifications for unknown subscriptions
	Rejected   atomic.Int64 // requests refused (wrong clientState, method, type, size, body)
	Lifecycle  atomic.Int64 // lifecycle events received
	Handshakes atomic.Int64 // validation handshakes answered
}

// New checks cfg and deps. It starts nothing: see Run.
func New(cfg Config, deps Deps) (*Manager, error) {
	u, err := parsePublicURL(cfg.PublicURL)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(cfg.Listen) == "" {
		return nil, errors.New("notify.listen is not set: name the local host:port pbx365 listens on for notifications (e.g. 0.0.0.0:8443)")
	}
	if _, _, err := net.SplitHostPort(cfg.Listen); err != nil {
		return nil, fmt.Errorf("notify.listen %q must be host:port: %w", cfg.Listen, err)
	}
	if deps.Graph == nil || deps.Store == nil {
		return nil, errors.New("notify: Graph and Store are required")
	}
	cfg.fill()
	m := &Manager{cfg: cfg, deps: deps, log: deps.Log, public: cfg.PublicURL, path: u.EscapedPath(),
		byID: map[string]*store.Subscription{}, byRes: map[string]*entry{}, events: map[string]string{},
		list: true, poke: make(chan struct{}, 1)}
	if m.path == "" {
		m.path = "/"
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	if m.tlsCfg, _, err = loadTLS(cfg.CertFile, cfg.KeyFile, m.log); err != nil {
		return nil, err
	}
	m.d.init(m)
	return m, nil
}

// loadTLS loads the listener's certificate, reloaded when its files change;
// both files empty means plain HTTP (nil, nil).
func loadTLS(certFile, keyFile string, log *slog.Logger) (*tls.Config, *certSource, error) {
	switch {
	case certFile == "" && keyFile == "":
		return nil, nil, nil
	case certFile == "" || keyFile == "":
		return nil, nil, errors.New("notify.cert_file and notify.key_file must be set together (or both unset for plain HTTP behind a proxy)")
	}
	src, err := newCertSource(certFile, keyFile, log)
	if err != nil {
		return nil, nil, err
	}
	return &tls.Config{GetCertificate: src.get, MinVersion: tls.VersionTLS12}, src, nil
}

// Stats returns the listener's counters.
func (m *Manager) Stats() *Stats { return &m.stats }

// Addr is the listener's address once Run listens (nil before).
func (m *Manager) Addr() net.Addr {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.addr
}

// Refresh makes the manager re-read its targets and reconcile the
// subscriptions now (call it after a user-sync run or a settings change).
func (m *Manager) Refresh() {
	m.mu.Lock()
	m.due = time.Time{}
	m.mu.Unlock()
	m.wake()
}

func (m *Manager) wake() { kick(m.poke) }

// kick signals a one-slot channel without blocking.
func kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Run serves notifications and manages the subscriptions until ctx ends. It
// never gives up: a listener that cannot start and failing Graph calls are
// logged and retried with backoff. On return the listener is closed; the
// subscriptions stay (they are reused at the next start).
func (m *Manager) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { m.d.run(ctx) })
	ready := make(chan struct{})
	wg.Go(func() { m.serve(ctx, ready) })
	select {
	case <-ready:
		m.manage(ctx)
	case <-ctx.Done():
	}
	cancel()
	wg.Wait()
	return nil
}

// backoff is the delay after n consecutive failures.
func (m *Manager) backoff(n int) time.Duration {
	d := m.cfg.RetryMin
	for i := 1; i < n && d < m.cfg.RetryMax; i++ {
		d *= 2
	}
	return min(d, m.cfg.RetryMax)
}

// sleep waits d or until ctx ends; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
