package pbxsim

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Options configure a simulator. The zero value is usable.
type Options struct {
	// ClientID is the API client (service principal) ID; default "pbx365".
	ClientID string
	// Secret is the API key; random when empty (read it with Sim.Secret).
	Secret string
	// Version is sent as X-3CX-Version; default "20.0.10.123".
	Version string
	// MaxUsers is the licence limit on users; 0 means unlimited.
	MaxUsers int
	// LegacyExpiresIn makes /connect/token report expires_in 60 (minutes,
	// as before 20.0.9) instead of 3600 (seconds). The lifetime is one hour
	// either way.
	LegacyExpiresIn bool
	// ControlKey guards the /_sim/ control API (header X-Sim-Key); random
	// when empty (read it with Sim.ControlKey).
	ControlKey string
	// ClientRole is the role of the API client in its department; default
	// system_owners. Lower roles get 403 as described on Sim.SetClientRole.
	ClientRole string
	// Hosts are extra host names or IPs for the server certificate.
	Hosts []string
	// Logger receives one debug line per request; nil means no logging.
	Logger *slog.Logger
}

// TokenLifetime is the lifetime of an access token.
const TokenLifetime = time.Hour

// Sim is a simulated 3CX V20 PBX. All methods are safe for concurrent use.
type Sim struct {
	opts   Options
	caPEM  []byte
	cert   tls.Certificate
	jwtKey *ecdsa.PrivateKey

	srv    *http.Server
	ln     net.Listener
	url    string
	closed chan struct{}
	once   sync.Once
	wg     sync.WaitGroup

	mu     sync.Mutex
	offset time.Duration // sim clock = wall clock + offset
	st     *state
	tokens map[string]tokenInfo // access token -> info
	active map[string]string    // client id -> its one valid token
	role   string

	fmu      sync.Mutex
	latency  time.Duration
	failRate float64
	rng      *mrand.Rand
	faults   []*Fault
	log      []Request
}

type tokenInfo struct {
	client  string
	expires time.Time
}

// New makes a simulator with a DEFAULT department and nothing else. It
// panics only if the machine cannot generate keys.
func New(opts Options) *Sim {
	if opts.ClientID == "" {
		opts.ClientID = "pbx365"
	}
	if opts.Secret == "" {
		opts.Secret = randomString(24)
	}
	if opts.Version == "" {
		opts.Version = "20.0.10.123"
	}
	if opts.ControlKey == "" {
		opts.ControlKey = randomString(24)
	}
	if opts.ClientRole == "" {
		opts.ClientRole = "system_owners"
	}
	caPEM, cert, err := newTLS(opts.Hosts)
	if err != nil {
		panic(fmt.Sprintf("pbxsim: %v", err))
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(fmt.Sprintf("pbxsim: generate token key: %v", err))
	}
	st := newState(opts.MaxUsers)
	// The API client is a service principal whose Client ID is its number.
	st.addNumbered("ServicePrincipal", opts.ClientID, "pbx365 API client")
	return &Sim{
		opts:   opts,
		caPEM:  caPEM,
		cert:   cert,
		jwtKey: key,
		closed: make(chan struct{}),
		st:     st,
		tokens: map[string]tokenInfo{},
		active: map[string]string{},
		role:   opts.ClientRole,
		rng:    mrand.New(mrand.NewPCG(1, 2)),
	}
}

func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("pbxsim: random: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}

// Start serves HTTPS on a random loopback port.
func (s *Sim) Start() error { return s.StartOn("127.0.0.1:0") }

// StartOn serves HTTPS on addr (host:port).
func (s *Sim) StartOn(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("pbxsim listen on %s: %w", addr, err)
	}
	s.ln = ln
	s.srv = &http.Server{
		Handler:           s,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{s.cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(slog.New(slog.NewTextHandler(io.Discard, nil)).Handler(), slog.LevelError),
	}
	host := ln.Addr().String()
	s.url = "https://" + host
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = s.srv.ServeTLS(ln, "", "")
	}()
	return nil
}

// Close stops the server and releases requests held by TimeoutNext.
func (s *Sim) Close() {
	s.once.Do(func() {
		close(s.closed)
		if s.srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := s.srv.Shutdown(ctx); err != nil {
				_ = s.srv.Close()
			}
		}
		s.wg.Wait()
	})
}

// URL is the base URL without /xapi/v1, e.g. https://127.0.0.1:41234.
func (s *Sim) URL() string { return s.url }

// CACertPEM is the PEM of the CA that signed the server certificate.
func (s *Sim) CACertPEM() []byte { return append([]byte(nil), s.caPEM...) }

// ClientID is the API client ID.
func (s *Sim) ClientID() string { return s.opts.ClientID }

// Secret is the API key.
func (s *Sim) Secret() string { return s.opts.Secret }

// ControlKey is the key of the /_sim/ control API (header X-Sim-Key).
func (s *Sim) ControlKey() string { return s.opts.ControlKey }

// Version is the version the PBX reports in X-3CX-Version.
func (s *Sim) Version() string { return s.opts.Version }

// Now is the simulator clock: the wall clock plus everything Advance added.
func (s *Sim) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nowLocked()
}

func (s *Sim) nowLocked() time.Time { return time.Now().Add(s.offset) }

// Advance moves the simulator clock forward (tokens expire on this clock).
func (s *Sim) Advance(d time.Duration) {
	s.mu.Lock()
	s.offset += d
	s.mu.Unlock()
}

// RevokeTokens makes every issued access token invalid.
func (s *Sim) RevokeTokens() {
	s.mu.Lock()
	s.active = map[string]string{}
	s.mu.Unlock()
}

// SetClientRole changes the API client's role. system_owners may do
// everything; system_admins everything but changing Microsoft365Integration;
// group_owners, managers and group_admins may read but not write; lower roles
// get 403 on everything except Defs.
func (s *Sim) SetClientRole(role string) error {
	if !contains(roleNames, role) {
		return fmt.Errorf("pbxsim: unknown role %q (one of %s)", role, strings.Join(roleNames, ", "))
	}
	s.mu.Lock()
	s.role = role
	s.mu.Unlock()
	return nil
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// ServeHTTP serves /connect/token, /xapi/v1 and /_sim/.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &Request{Time: start, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery}
	var body []byte
	if r.Body != nil {
		var err error
		body, err = io.ReadAll(io.LimitReader(r.Body, 8<<20+1))
		if err != nil {
			return
		}
	}
	if r.Method != http.MethodGet && len(body) > 0 {
		rec.Body = truncate(string(body), 4096)
		if r.URL.Path == "/connect/token" {
			rec.Body = redactTokenRequest(body)
		}
	}
	isControl := strings.HasPrefix(r.URL.Path, "/_sim/")
	cw := &captureWriter{ResponseWriter: w}
	logged := false
	finish := func() {
		if logged {
			return
		}
		logged = true
		rec.Status = cw.status
		rec.Duration = time.Since(start)
		if !isControl {
			s.fmu.Lock()
			s.log = append(s.log, *rec)
			s.fmu.Unlock()
		}
		if s.opts.Logger != nil {
			s.opts.Logger.Debug("pbxsim request", "method", rec.Method, "path", rec.Path, "status", rec.Status, "fault", rec.Fault)
		}
	}
	cw.onHeader = finish
	defer finish()
	if isControl {
		s.serveControl(cw, r, body)
		return
	}
	if d := s.currentLatency(); d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		case <-s.closed:
			return
		}
	}
	if len(body) > 8<<20 {
		writeError(cw, &apiError{status: http.StatusRequestEntityTooLarge, empty: true})
		return
	}
	switch {
	case r.URL.Path == "/connect/token":
		s.serveToken(cw, r, body)
	case r.URL.Path == "/xapi/v1" || strings.HasPrefix(r.URL.Path, "/xapi/v1/"):
		cw.Header().Set("X-3CX-Version", s.opts.Version)
		f := s.takeFault(r.Method, r.URL.Path)
		if f != nil {
			rec.Fault = f.Kind.String()
		}
		switch {
		case f == nil:
			s.serveAPI(cw, r, body)
		case f.Kind == FaultStatus:
			writeError(cw, &apiError{status: f.Status, message: http.StatusText(f.Status)})
		case f.Kind == FaultTimeout:
			select {
			case <-r.Context().Done():
			case <-s.closed:
			}
		case f.Kind == FaultLoseResponse:
			// Perform the request in full, then drop the connection so the
			// client never sees the reply.
			s.serveAPI(newDiscardWriter(), r, body)
			finish() // logged before the client can notice the broken connection
			abortConnection(w)
		}
	default:
		http.NotFound(cw, r)
	}
}

// abortConnection closes the client's connection without a reply: an
// HTTP/1 connection is hijacked and closed; an HTTP/2 stream is reset.
func abortConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// captureWriter remembers the status written and calls onHeader before
// the status reaches the client, so the request log is complete by the time
// the client has its answer.
type captureWriter struct {
	http.ResponseWriter
	status   int
	onHeader func()
}

func (c *captureWriter) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
		if c.onHeader != nil {
			c.onHeader()
		}
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *captureWriter) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.WriteHeader(http.StatusOK)
	}
	return c.ResponseWriter.Write(b)
}

// discardWriter swallows a response whose delivery is being "lost".
type discardWriter struct{ h http.Header }

func newDiscardWriter() *discardWriter               { return &discardWriter{h: http.Header{}} }
func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

// --- /connect/token ---

func (s *Sim) serveToken(w http.ResponseWriter, r *http.Request, body []byte) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeError(w, &apiError{status: http.StatusMethodNotAllowed, empty: true})
		return
	}
	form, err := parseTokenForm(r, body)
	if err != nil {
		tokenJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_request", "error_description": err.Error()})
		return
	}
	if gt := form["grant_type"]; gt != "client_credentials" {
		tokenJSON(w, http.StatusBadRequest, map[string]any{"error": "unsupported_grant_type", "error_description": fmt.Sprintf("The specified 'grant_type' %q is not supported; use client_credentials.", gt)})
		return
	}
	if form["client_id"] == "" {
		tokenJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_request", "error_description": "The mandatory 'client_id' parameter is missing."})
		return
	}
	if form["client_id"] != s.opts.ClientID || form["client_secret"] != s.opts.Secret {
		tokenJSON(w, http.StatusUnauthorized, map[string]any{"error": "unauthorized", "error_description": "The request requires valid user authentication."})
		return
	}
	s.mu.Lock()
	now := s.nowLocked()
	tok := s.signToken(form["client_id"], now)
	s.tokens[tok] = tokenInfo{client: form["client_id"], expires: now.Add(TokenLifetime)}
	s.active[form["client_id"]] = tok // revokes the previous one
	s.mu.Unlock()
	expires := 3600
	if s.opts.LegacyExpiresIn {
		expires = 60
	}
	w.Header().Set("Cache-Control", "no-store")
	tokenJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": expires, "access_token": tok, "refresh_token": nil})
}

// tokenJSON writes a /connect/token answer (plain JSON, not OData).
func tokenJSON(w http.ResponseWriter, status int, v any) {
	writeJSONAs(w, status, v, "application/json;charset=UTF-8")
}

func parseTokenForm(r *http.Request, body []byte) (map[string]string, error) {
	ct := r.Header.Get("Content-Type")
	req := r.Clone(r.Context())
	req.Body = io.NopCloser(strings.NewReader(string(body)))
	switch {
	case strings.HasPrefix(ct, "application/x-www-form-urlencoded"):
		if err := req.ParseForm(); err != nil {
			return nil, fmt.Errorf("the form body cannot be read: %v", err)
		}
	case strings.HasPrefix(ct, "multipart/form-data"):
		if err := req.ParseMultipartForm(1 << 20); err != nil {
			return nil, fmt.Errorf("the multipart body cannot be read: %v", err)
		}
	default:
		return nil, fmt.Errorf("the 'Content-Type' must be application/x-www-form-urlencoded or multipart/form-data, not %q", ct)
	}
	out := map[string]string{}
	for k, v := range req.PostForm {
		if len(v) > 1 {
			return nil, fmt.Errorf("the '%s' parameter must not be repeated", k)
		}
		out[k] = v[0]
	}
	if req.MultipartForm != nil {
		for k, v := range req.MultipartForm.Value {
			if len(v) > 1 {
				return nil, fmt.Errorf("the '%s' parameter must not be repeated", k)
			}
			out[k] = v[0]
		}
	}
	return out, nil
}

// signToken makes an ES256 JWT like 3CX's (the simulator checks tokens by
// lookup, the signature only makes them look real).
func (s *Sim) signToken(client string, now time.Time) string {
	enc := base64.RawURLEncoding
	kid := sha256.Sum256(elliptic.MarshalCompressed(elliptic.P256(), s.jwtKey.X, s.jwtKey.Y))
	header, _ := json.Marshal(map[string]any{"alg": "ES256", "kid": strings.ToUpper(hex.EncodeToString(kid[:8])), "typ": "at+jwt"})
	claims, _ := json.Marshal(map[string]any{
		"sub": client, "client_id": client, "iat": now.Unix(), "nbf": now.Unix(),
		"exp": now.Add(TokenLifetime).Unix(), "jti": randomString(16), "scope": "xapi",
	})
	signing := enc.EncodeToString(header) + "." + enc.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signing))
	r, sg, err := ecdsa.Sign(rand.Reader, s.jwtKey, sum[:])
	if err != nil {
		panic(fmt.Sprintf("pbxsim: sign token: %v", err))
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	sg.FillBytes(sig[32:])
	return signing + "." + enc.EncodeToString(sig)
}

// authenticate checks the bearer token: it must be the client's current
// token and unexpired on the sim clock.
func (s *Sim) authenticate(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	info, ok := s.tokens[tok]
	if !ok || s.active[info.client] != tok {
		return false
	}
	return s.nowLocked().Before(info.expires)
}

// redactTokenRequest is what the request log keeps of a token request: the
// form with client_secret replaced (the log is served by the control API), or
// nothing of a body that is not a plain form (multipart).
func redactTokenRequest(body []byte) string {
	q, err := url.ParseQuery(string(body))
	if err != nil || !q.Has("grant_type") {
		return "[token request body not recorded]"
	}
	if q.Has("client_secret") {
		q.Set("client_secret", "[redacted]")
	}
	return truncate(q.Encode(), 4096)
}
