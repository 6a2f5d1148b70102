package graphclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	abstractions "github.com/microsoft/kiota-abstractions-go"
	khttp "github.com/microsoft/kiota-http-go"
	msgraph "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	msgraphauth "github.com/microsoftgraph/msgraph-sdk-go-core/authentication"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
)

// Cloud names accepted in Config.Cloud (setting ms.cloud).
const (
	CloudGlobal = "global"
	CloudUSGov  = "usgov"
	CloudChina  = "china"
)

// CloudEndpoints are the login and Graph hosts of one national cloud.
type CloudEndpoints struct {
	LoginURL string // Entra authority host, https
	GraphURL string // Graph root without version
}

// Clouds maps ms.cloud values to their endpoints.
var Clouds = map[string]CloudEndpoints{
	CloudGlobal: {LoginURL: "https://login.microsoftonline.com", GraphURL: "https://graph.microsoft.com"},
	CloudUSGov:  {LoginURL: "https://login.microsoftonline.us", GraphURL: "https://graph.microsoft.us"},
	CloudChina:  {LoginURL: "https://login.chinacloudapi.cn", GraphURL: "https://microsoftgraph.chinacloudapi.cn"},
}

// Defaults applied by New.
const (
	DefaultHTTPTimeout = 100 * time.Second
	DefaultMaxRetries  = 5
	DefaultRetryDelay  = 2 * time.Second
	// MaxRetryAfter is the longest Retry-After pbx365 waits for; a longer one
	// fails the request (the next scheduled run tries again).
	MaxRetryAfter = 5 * time.Minute
)

// Config selects the tenant, the app and the endpoints.
type Config struct {
	Cloud       string // ms.cloud: global (default), usgov, china
	TenantID    string // ms.tenant
	ClientID    string // ms.client_id
	KeyFile     string // ms.key_file: private key + certificate PEM
	GraphURL    string // ms.graph_url override, e.g. https://127.0.0.1:8443/v1.0
	LoginURL    string // ms.login_url override, e.g. https://127.0.0.1:8443
	CAFile      string // ms.ca_file: extra trusted CA bundle
	CAPEM       []byte // extra trusted CA certificates (in addition to CAFile)
	HTTPTimeout time.Duration
	MaxRetries  int           // retries of 429/503/504 per request (default 5, at most 10)
	RetryDelay  time.Duration // backoff base when Graph sends no Retry-After (default 2s)
	Logger      *slog.Logger  // nil: slog.Default()
}

// Client talks to Microsoft Graph as the app. It is safe for concurrent use.
type Client struct {
	cfg      Config
	log      *slog.Logger
	scope    string
	baseURL  string // Graph URL including the version, no trailing slash
	tokenURL string // Entra token endpoint (for error messages)
	cred     *ringCredential
	adapter  *msgraph.GraphRequestAdapter
	sdk      *msgraph.GraphServiceClient
	http     *http.Client // the SDK's pipeline (auth is added by the adapter, not here)
	retry    khttp.RetryHandlerOptions

	badAnchors  sync.Map // lower-case address → time.Time it failed as a getSchedule anchor
	goodAnchors sync.Map // lower-case address → true: served as a getSchedule anchor
}

var registerErrorsOnce sync.Once

// registerErrorFactories makes $batch items and page iterators return
// *odataerrors.ODataError instead of a generic error (msgraph-sdk-local pitfall 10).
func registerErrorFactories() {
	registerErrorsOnce.Do(func() {
		m := abstractions.ErrorMappings{
			"4XX": odataerrors.CreateODataErrorFromDiscriminatorValue,
			"5XX": odataerrors.CreateODataErrorFromDiscriminatorValue,
		}
		_ = msgraphcore.RegisterError(msgraphcore.BatchRequestErrorRegistryKey, m)
		_ = msgraphcore.RegisterError(msgraphcore.PageIteratorErrorRegistryKey, m)
	})
}

// resolved holds the validated endpoints of a Config.
type resolved struct {
	loginURL, graphURL, scope string
	customLogin               bool
	validHosts                []string
}

func (cfg Config) resolve() (resolved, error) {
	var r resolved
	name := strings.ToLower(strings.TrimSpace(cfg.Cloud))
	if name == "" {
		name = CloudGlobal
	}
	ep, ok := Clouds[name]
	if !ok {
		return r, fmt.Errorf("ms.cloud %q is not valid: use global, usgov or china", cfg.Cloud)
	}
	r.scope = ep.GraphURL + "/.default"
	r.loginURL = ep.LoginURL
	if cfg.LoginURL != "" {
		u, err := parseHTTPSURL(cfg.LoginURL)
		if err != nil {
			return r, fmt.Errorf("ms.login_url %q: %w", cfg.LoginURL, err)
		}
		r.loginURL = strings.TrimRight(u.String(), "/")
		r.customLogin = r.loginURL != ep.LoginURL
	}
	r.graphURL = ep.GraphURL + "/v1.0"
	if cfg.GraphURL != "" {
		u, err := parseHTTPSURL(cfg.GraphURL)
		if err != nil {
			return r, fmt.Errorf("ms.graph_url %q: %w", cfg.GraphURL, err)
		}
		if strings.Trim(u.Path, "/") == "" {
			u.Path = "/v1.0"
		}
		r.graphURL = strings.TrimRight(u.String(), "/")
	}
	hosts := map[string]bool{}
	for _, ep := range Clouds {
		u, _ := url.Parse(ep.GraphURL)
		hosts[u.Hostname()] = true
	}
	gu, _ := url.Parse(r.graphURL)
	hosts[strings.ToLower(gu.Hostname())] = true
	for h := range hosts {
		r.validHosts = append(r.validHosts, h)
	}
	return r, nil
}

func parseHTTPSURL(s string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return nil, err
	}
	if u.Scheme != "https" {
		return nil, errors.New("must be an https:// URL")
	}
	if u.Host == "" {
		return nil, errors.New("has no host")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("must not carry a query or fragment")
	}
	return u, nil
}

// New validates cfg, loads the key pair(s) and builds the credential and the
// Graph client. It does not contact Entra or Graph.
func New(ctx context.Context, cfg Config) (*Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if strings.TrimSpace(cfg.TenantID) == "" {
		return nil, errors.New("ms.tenant is not set: enter the Directory (tenant) ID of your Entra tenant")
	}
	if !validTenant(cfg.TenantID) {
		return nil, fmt.Errorf("ms.tenant %q is not valid: use the tenant ID (a GUID) or a verified domain", cfg.TenantID)
	}
	if strings.TrimSpace(cfg.ClientID) == "" {
		return nil, errors.New("ms.client_id is not set: enter the Application (client) ID of the app registration")
	}
	r, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	keys, err := LoadKeyRing(cfg.KeyFile, time.Now())
	if err != nil {
		return nil, err
	}
	transport, err := newTransport(cfg)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	timeout := cfg.HTTPTimeout
	if timeout <= 0 {
		timeout = DefaultHTTPTimeout
	}
	transport.ResponseHeaderTimeout = timeout

	cred, err := newRingCredential(cfg.TenantID, cfg.ClientID, keys, r, transport, log)
	if err != nil {
		return nil, err
	}

	registerErrorFactories()
	auth, err := msgraphauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cred, []string{r.scope}, r.validHosts)
	if err != nil {
		return nil, fmt.Errorf("graph auth provider: %w", err)
	}
	c := &Client{cfg: cfg, log: log, scope: r.scope, baseURL: r.graphURL, cred: cred,
		tokenURL: r.loginURL + "/" + cfg.TenantID + "/oauth2/v2.0/token"}
	c.retry = c.retryOptions()
	// No http.Client.Timeout: it would also cover the retry middleware's
	// Retry-After sleeps. Each attempt is bounded by ResponseHeaderTimeout, the
	// whole call by the caller's context.
	c.http = &http.Client{
		Transport:     khttp.NewCustomTransportWithParentTransport(transport, c.middlewares()...),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	adapter, err := msgraph.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(auth, nil, nil, c.http)
	if err != nil {
		return nil, fmt.Errorf("graph request adapter: %w", err)
	}
	adapter.SetBaseUrl(r.graphURL) // before NewGraphServiceClient (pitfall 5)
	c.adapter = adapter
	c.sdk = msgraph.NewGraphServiceClient(adapter)
	if st, err := os.Stat(cfg.KeyFile); err == nil && st.Mode().Perm()&0o077 != 0 {
		log.Warn("ms.key_file is readable by others: run chmod 600 on it", "file", cfg.KeyFile, "mode", st.Mode().Perm().String())
	}
	if w := keys[0].ExpiryWarningText(time.Now()); w != "" {
		log.Warn("graph certificate", "warning", w)
	}
	return c, nil
}

func validTenant(t string) bool {
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-') {
			return false
		}
	}
	return t != ""
}

// newTransport clones the default transport with system roots plus the extra
// CA from ms.ca_file / CAPEM. TLS verification is never turned off.
func newTransport(cfg Config) (*http.Transport, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ForceAttemptHTTP2 = true
	tr.MaxIdleConnsPerHost = 32
	tr.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	if cfg.CAFile == "" && len(cfg.CAPEM) == 0 {
		return tr, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if cfg.CAFile != "" {
		pemData, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ms.ca_file: %w", err)
		}
		if !pool.AppendCertsFromPEM(pemData) {
			return nil, fmt.Errorf("ms.ca_file %s holds no PEM certificate", cfg.CAFile)
		}
	}
	if len(cfg.CAPEM) > 0 && !pool.AppendCertsFromPEM(cfg.CAPEM) {
		return nil, errors.New("extra CA: no PEM certificate found")
	}
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return tr, nil
}

// retryOptions is the retry policy of every Graph call: 429/503/504 retried
// up to MaxRetries times after Retry-After (or exponential backoff), never
// past the caller's deadline and never for a Retry-After above MaxRetryAfter.
func (c *Client) retryOptions() khttp.RetryHandlerOptions {
	maxRetries := c.cfg.MaxRetries
	if maxRetries <= 0 {
		maxRetries = DefaultMaxRetries
	}
	delay := c.cfg.RetryDelay
	if delay <= 0 {
		delay = DefaultRetryDelay
	}
	return khttp.RetryHandlerOptions{
		MaxRetries:   maxRetries,
		DelaySeconds: max(1, int(delay/time.Second)),
		ShouldRetry: func(_ time.Duration, attempt int, req *http.Request, resp *http.Response) bool {
			wait := retryAfter(resp.Header.Get("Retry-After"), time.Now())
			if wait > MaxRetryAfter {
				c.log.Warn("graph throttled: Retry-After too long, giving up", "url", redactURL(req.URL), "retry_after", wait)
				return false
			}
			if dl, ok := req.Context().Deadline(); ok && time.Now().Add(wait).After(dl) {
				return false
			}
			c.log.Debug("graph retry", "status", resp.StatusCode, "attempt", attempt+1, "retry_after", wait, "url", redactURL(req.URL))
			return true
		},
	}
}

// middlewares is the SDK's default pipeline in a fixed order, compression before
// retry (pitfall 7: a retried gzip body would otherwise go out uncompressed with
// Content-Encoding: gzip).
func (c *Client) middlewares() []khttp.Middleware {
	opts := msgraph.GetDefaultClientOptions()
	return []khttp.Middleware{
		msgraphcore.NewGraphTelemetryHandler(&opts),
		khttp.NewUrlReplaceHandler(true, msgraphcore.ReplacementPairs),
		khttp.NewCompressionHandler(),
		khttp.NewRetryHandlerWithOptions(c.retry),
		serverErrorRetry{max: 2, delay: time.Second, log: c.log},
		khttp.NewRedirectHandler(),
		khttp.NewParametersNameDecodingHandler(),
		khttp.NewUserAgentHandler(),
		khttp.NewHeadersInspectionHandler(),
	}
}

// serverErrorRetry retries reads (GET, HEAD) that failed with 500 or 502:
// Graph's generalException and bad gateways are usually transient. Writes are
// not retried on these statuses, since a POST may already have taken effect
// (a second sendMail would send the mail twice). 429/503/504 belong to the
// SDK's retry handler, which wraps this one.
type serverErrorRetry struct {
	max   int
	delay time.Duration
	log   *slog.Logger
}

// Intercept implements khttp.Middleware.
func (m serverErrorRetry) Intercept(p khttp.Pipeline, next int, req *http.Request) (*http.Response, error) {
	resp, err := p.Next(req, next)
	for attempt := 1; err == nil && attempt <= m.max && req.Body == nil &&
		(req.Method == http.MethodGet || req.Method == http.MethodHead) &&
		(resp.StatusCode == http.StatusInternalServerError || resp.StatusCode == http.StatusBadGateway); attempt++ {
		m.log.Debug("graph server error, retrying read", "status", resp.StatusCode, "attempt", attempt, "url", redactURL(req.URL))
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
		if err := sleepCtx(req.Context(), m.delay*time.Duration(attempt)); err != nil {
			return nil, err
		}
		resp, err = p.Next(req, next)
	}
	return resp, err
}

// redactURL drops the query (tokens live there) for logs.
func redactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	return u.Scheme + "://" + u.Host + u.Path
}

// Close releases idle connections. The Client must not be used afterwards.
func (c *Client) Close() {
	c.http.CloseIdleConnections()
	c.cred.close()
}

// BaseURL is the Graph URL in use, with version (e.g. https://graph.microsoft.com/v1.0).
func (c *Client) BaseURL() string { return c.baseURL }

// Scope is the token scope requested (the cloud's Graph "/.default").
func (c *Client) Scope() string { return c.scope }

// KeyInfo describes the key pair currently used to authenticate.
func (c *Client) KeyInfo() KeyInfo {
	kp := c.cred.current()
	return kp.Info(kp.Path)
}

// ringCredential authenticates with the newest key pair and falls back to older
// rotated pairs while Entra does not know the new certificate (AADSTS700027),
// so rotation never interrupts service.
type ringCredential struct {
	mu     sync.Mutex
	keys   []*KeyPair
	creds  []*azidentity.ClientCertificateCredential
	active int
	log    *slog.Logger

	transport *http.Transport // shared with the Graph pipeline
}

func newRingCredential(tenant, client string, keys []*KeyPair, r resolved, tr *http.Transport, log *slog.Logger) (*ringCredential, error) {
	rc := &ringCredential{keys: keys, log: log, transport: tr}
	for _, kp := range keys {
		cred, err := azidentity.NewClientCertificateCredential(tenant, client, []*x509.Certificate{kp.Cert}, kp.Key,
			&azidentity.ClientCertificateCredentialOptions{
				ClientOptions: azcore.ClientOptions{
					Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: r.loginURL + "/"},
					Transport: &http.Client{Transport: tr, Timeout: 60 * time.Second},
				},
				DisableInstanceDiscovery: r.customLogin,
			})
		if err != nil {
			return nil, fmt.Errorf("certificate credential (ms.tenant, ms.client_id, ms.key_file): %w", err)
		}
		rc.creds = append(rc.creds, cred)
	}
	return rc, nil
}

// knows reports whether thumb (hex, SHA-1 or SHA-256) is one of the ring's certificates.
func (rc *ringCredential) knows(thumb string) bool {
	for _, k := range rc.keys {
		if strings.EqualFold(thumb, k.ThumbprintSHA1()) || strings.EqualFold(thumb, k.ThumbprintSHA256()) {
			return true
		}
	}
	return false
}

func (rc *ringCredential) close() {
	if rc.transport != nil {
		rc.transport.CloseIdleConnections()
	}
}

func (rc *ringCredential) current() *KeyPair {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.keys[rc.active]
}

// GetToken implements azcore.TokenCredential.
func (rc *ringCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	rc.mu.Lock()
	start := rc.active
	rc.mu.Unlock()
	var firstErr error
	for i := 0; i < len(rc.creds); i++ {
		idx := (start + i) % len(rc.creds)
		tok, err := rc.creds[idx].GetToken(ctx, opts)
		if err == nil {
			rc.mu.Lock()
			if rc.active != idx {
				rc.log.Info("graph credential: using key pair", "thumbprint", rc.keys[idx].ThumbprintSHA1(), "file", rc.keys[idx].Path)
				rc.active = idx
			}
			rc.mu.Unlock()
			return tok, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if aadCode(err) != "AADSTS700027" || ctx.Err() != nil {
			break // only an unknown certificate is worth trying the next pair for
		}
	}
	return azcore.AccessToken{}, firstErr
}
