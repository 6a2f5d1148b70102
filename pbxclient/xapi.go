package pbxclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config is what New needs to talk to a 3CX V20 PBX. The settings map to the
// pbx.* keys of pbx365's configuration.
type Config struct {
	// URL is the PBX base URL without /xapi/v1, e.g. https://pbx.example.com (pbx.url).
	URL string
	// ClientID and Secret are the API client's ID and API key
	// (Admin Console → Integrations → API; pbx.client_id, pbx.secret).
	ClientID, Secret string
	// CAFile (pbx.ca_file) and CAPEM add trusted CAs to the system roots.
	// Verification is never turned off.
	CAFile string
	CAPEM  []byte
	// Concurrency bounds the requests in flight at once (default 8).
	Concurrency int
	// Timeout bounds one HTTP attempt, reply body included (default 30s).
	Timeout time.Duration
	// UserAgent is sent on every request (default "pbx365").
	UserAgent string
	// PageSize is the $top of list requests (default 500).
	PageSize int
	// Retries bounds the retries of a retryable call after 5xx or a
	// timeout (default 4; negative means none).
	Retries int
	// Logger receives debug logs (default slog.Default()). Secrets are never logged.
	Logger *slog.Logger
}

const (
	defaultConcurrency = 8
	defaultTimeout     = 30 * time.Second
	defaultPageSize    = 500
	defaultRetries     = 4
	apiPrefix          = "/xapi/v1/"
	maxBody            = 64 << 20
)

// XAPI is the Port implementation for the 3CX V20 Configuration API. It is
// safe for concurrent use; every value made for the same URL and client ID in
// one process shares one access token, since 3CX keeps one token per API
// client and a new token revokes the previous one.
type XAPI struct {
	base      string // scheme://host[:port][/prefix], no trailing slash
	clientID  string
	secret    string
	http      *http.Client
	sem       chan struct{}
	timeout   time.Duration
	userAgent string
	pageSize  int
	retries   int
	log       *slog.Logger
	tokens    *tokenCache
	version   atomic.Value // string, from the last X-3CX-Version header

	contentionWarned atomic.Int64 // unix nanos of the last token contention warning

	namesMu sync.Mutex
	names   map[string]chan struct{} // per-name locks of EnsureDepartment

	// backoff base and cap; tests shorten them.
	backoffBase, backoffMax time.Duration
}

var _ Port = (*XAPI)(nil)

// New checks cfg and returns a client. It does not contact the PBX; call
// Check or Version for that. Errors name the setting to fix.
func New(cfg Config) (*XAPI, error) {
	base, err := parseBaseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(cfg.ClientID) == "" {
		return nil, errors.New("pbx.client_id is not set: enter the API client ID from the 3CX Admin Console (Integrations → API)")
	}
	if cfg.Secret == "" {
		return nil, errors.New("pbx.secret is not set: enter the API key shown once when the 3CX API client was created")
	}
	roots, err := rootPool(cfg.CAFile, cfg.CAPEM)
	if err != nil {
		return nil, err
	}
	x := &XAPI{
		base:        base,
		clientID:    cfg.ClientID,
		secret:      cfg.Secret,
		timeout:     cfg.Timeout,
		userAgent:   cfg.UserAgent,
		pageSize:    cfg.PageSize,
		retries:     cfg.Retries,
		log:         cfg.Logger,
		backoffBase: 200 * time.Millisecond,
		backoffMax:  5 * time.Second,
	}
	conc := cfg.Concurrency
	if conc <= 0 {
		conc = defaultConcurrency
	}
	x.sem = make(chan struct{}, conc)
	if x.timeout <= 0 {
		x.timeout = defaultTimeout
	}
	if x.userAgent == "" {
		x.userAgent = "pbx365"
	}
	if x.pageSize <= 0 {
		x.pageSize = defaultPageSize
	}
	if x.retries == 0 {
		x.retries = defaultRetries
	} else if x.retries < 0 {
		x.retries = 0
	}
	if x.log == nil {
		x.log = slog.Default()
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	tr.MaxIdleConnsPerHost = conc
	tr.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	x.http = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		// A redirect would resend the bearer token elsewhere; 3CX does not redirect the API.
		return http.ErrUseLastResponse
	}}
	x.tokens = sharedTokenCache(base, cfg.ClientID, cfg.Secret)
	x.version.Store("")
	return x, nil
}

// Close releases idle connections.
func (x *XAPI) Close() { x.http.CloseIdleConnections() }

func parseBaseURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", errors.New("pbx.url is not set: enter the PBX address as https://host (without /xapi/v1)")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("pbx.url %q must be https://host[:port] (without /xapi/v1)", raw)
	}
	p := strings.TrimRight(u.Path, "/")
	if strings.HasSuffix(strings.ToLower(p), "/xapi/v1") {
		return "", fmt.Errorf("pbx.url %q must not end in /xapi/v1: enter only https://host[:port]", raw)
	}
	return "https://" + u.Host + p, nil
}

func rootPool(file string, pemData []byte) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("pbx.ca_file unreadable: %w", err)
		}
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("pbx.ca_file %s holds no PEM certificate", file)
		}
	}
	if len(pemData) > 0 && !pool.AppendCertsFromPEM(pemData) {
		return nil, errors.New("pbx CA: the given PEM holds no certificate")
	}
	return pool, nil
}

// acquire takes a concurrency slot; release gives it back.
func (x *XAPI) acquire(ctx context.Context) error {
	select {
	case x.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (x *XAPI) release() { <-x.sem }

// lastVersion is the X-3CX-Version seen on the latest reply.
func (x *XAPI) lastVersion() string { return x.version.Load().(string) }
