package pbxclient

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// tokenCache holds the one access token of an API client. Fetches are
// serialised: while one is in flight every other caller waits for it, so
// concurrent requests never make 3CX revoke each other's token.
//
// When tokens are revoked soon after they were issued, another holder of
// the same API client (another process) keeps signing in. Then each fetch
// waits a jittered pause that grows while this goes on (contention
// backoff), so both sides get windows to work in instead of revoking each
// other on every request.
type tokenCache struct {
	mu         sync.Mutex
	token      string
	gen        uint64    // bumped on every new token
	renewAt    time.Time // refresh early, at 80% of the lifetime
	fetchedAt  time.Time
	contention int       // tokens revoked in a row soon after issue
	notBefore  time.Time // no fetch before this (contention backoff)
	inflight   chan struct{}
}

var (
	tokenCachesMu sync.Mutex
	tokenCaches   = map[string]*tokenCache{}
)

// sharedTokenCache returns the process-wide cache for one API client, so two
// XAPI values for the same PBX and client do not revoke each other's token.
func sharedTokenCache(base, clientID, secret string) *tokenCache {
	sum := sha256.Sum256([]byte(secret))
	key := base + "\x00" + clientID + "\x00" + string(sum[:])
	tokenCachesMu.Lock()
	defer tokenCachesMu.Unlock()
	c := tokenCaches[key]
	if c == nil {
		c = &tokenCache{}
		tokenCaches[key] = c
	}
	return c
}

// get returns a valid token and its generation, fetching one if needed.
func (c *tokenCache) get(ctx context.Context, x *XAPI) (string, uint64, error) {
	for {
		c.mu.Lock()
		if c.token != "" && time.Now().Before(c.renewAt) {
			t, g := c.token, c.gen
			c.mu.Unlock()
			return t, g, nil
		}
		wait := c.inflight
		var pause time.Duration
		if wait == nil {
			pause = time.Until(c.notBefore)
		}
		if wait != nil || pause > 0 {
			c.mu.Unlock()
			if err := waitFor(ctx, wait, pause); err != nil {
				return "", 0, &Error{Op: "get access token", Kind: ErrUnavailable, Err: err}
			}
			continue
		}
		done := make(chan struct{})
		c.inflight = done
		c.mu.Unlock()

		tok, life, err := x.fetchToken(ctx)

		c.mu.Lock()
		c.inflight = nil
		close(done)
		if err != nil {
			c.mu.Unlock()
			return "", 0, err
		}
		c.token, c.fetchedAt = tok, time.Now()
		c.gen++
		c.renewAt = time.Now().Add(life * 8 / 10)
		t, g := c.token, c.gen
		c.mu.Unlock()
		x.log.Debug("xapi token fetched", "client_id", x.clientID, "lifetime", life, "generation", g)
		return t, g, nil
	}
}

// waitFor waits until ch closes (when non-nil) or else for d, or until ctx ends.
func waitFor(ctx context.Context, ch <-chan struct{}, d time.Duration) error {
	var timer <-chan time.Time
	if ch == nil {
		t := time.NewTimer(d)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ch:
	case <-timer:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// contentionWindow: a token revoked sooner than this after it was issued
// counts as contention with another holder of the same API client.
const contentionWindow = 30 * time.Second

// invalidate drops the token of generation gen after the PBX refused it. A
// newer token (fetched meanwhile by another request) is kept. It reports
// whether this looks like contention, and then delays the next fetch.
func (c *tokenCache) invalidate(gen uint64, x *XAPI) (contended bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen || c.token == "" {
		return false
	}
	c.token = ""
	if time.Since(c.fetchedAt) >= contentionWindow {
		c.contention = 0 // expired, or revoked once: fetch at once
		return false
	}
	c.contention++
	c.notBefore = time.Now().Add(x.backoff(c.contention - 1))
	return true
}

// tokenReply is the body of a successful /connect/token.
type tokenReply struct {
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	AccessToken string `json:"access_token"`
}

// tokenLifetime reads expires_in: minutes up to 20.0.8 (60), seconds since
// 20.0.9 (3600). Values up to 120 are taken as minutes.
func tokenLifetime(expiresIn int64) time.Duration {
	switch {
	case expiresIn <= 0:
		return 5 * time.Minute
	case expiresIn <= 120:
		return time.Duration(expiresIn) * time.Minute
	default:
		return time.Duration(expiresIn) * time.Second
	}
}

// fetchToken asks /connect/token for a new token (client credentials,
// form-encoded). Transport errors and 5xx are retried with backoff; a refusal
// of the credentials is ErrAuth naming the settings.
func (x *XAPI) fetchToken(ctx context.Context) (string, time.Duration, error) {
	const op = "get access token"
	form := url.Values{
		"client_id":     {x.clientID},
		"client_secret": {x.secret},
		"grant_type":    {"client_credentials"},
	}.Encode()
	for attempt := 0; ; attempt++ {
		tok, life, retry, err := x.tokenAttempt(ctx, form)
		if err == nil {
			return tok, life, nil
		}
		if !retry || attempt >= x.retries || ctx.Err() != nil {
			return "", 0, err
		}
		if werr := x.sleepBackoff(ctx, attempt, 0); werr != nil {
			return "", 0, &Error{Op: op, Kind: ErrUnavailable, Err: werr}
		}
	}
}

func (x *XAPI) tokenAttempt(ctx context.Context, form string) (tok string, life time.Duration, retry bool, err error) {
	const op = "get access token"
	actx, cancel := context.WithTimeout(ctx, x.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, x.base+"/connect/token", strings.NewReader(form))
	if err != nil {
		return "", 0, false, &Error{Op: op, Kind: ErrUnavailable, Err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", x.userAgent)
	start := time.Now()
	resp, err := x.http.Do(req)
	if err != nil {
		x.log.Debug("xapi token request failed", "error", err, "elapsed", time.Since(start))
		return "", 0, !isCertError(err), &Error{Op: op, Kind: ErrUnavailable, Message: transportHint(err), Err: err}
	}
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	x.noteVersion(resp.Header)
	x.log.Debug("xapi token request", "status", resp.StatusCode, "elapsed", time.Since(start))
	if rerr != nil {
		return "", 0, true, &Error{Op: op, Kind: ErrUnavailable, Status: resp.StatusCode, Err: rerr}
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		var tr tokenReply
		if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
			return "", 0, false, &Error{Op: op, Kind: ErrAuth, Status: resp.StatusCode,
				Message: "the PBX answered /connect/token without an access token: check pbx.url points at a 3CX V20 PBX"}
		}
		if tr.TokenType != "" && !strings.EqualFold(tr.TokenType, "Bearer") {
			return "", 0, false, &Error{Op: op, Kind: ErrAuth, Status: resp.StatusCode,
				Message: fmt.Sprintf("unexpected token type %q", tr.TokenType)}
		}
		return tr.AccessToken, tokenLifetime(tr.ExpiresIn), false, nil
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return "", 0, true, &Error{Op: op, Kind: ErrUnavailable, Status: resp.StatusCode, Message: snippet(body)}
	case resp.StatusCode == http.StatusNotFound:
		return "", 0, false, &Error{Op: op, Kind: ErrAuth, Status: resp.StatusCode,
			Message: "no /connect/token at this address: check pbx.url (https://host, without /xapi/v1)"}
	default:
		// 3CX answers bad credentials with 401 {"error":"unauthorized",...};
		// treat every other refusal the same way.
		return "", 0, false, &Error{Op: op, Kind: ErrAuth, Status: resp.StatusCode,
			Message: "the PBX refused the API credentials: check pbx.client_id and pbx.secret (Admin Console → Integrations → API; the client needs \"XAPI Access Enabled\", which needs a 3CX Enterprise licence)"}
	}
}

func (x *XAPI) noteVersion(h http.Header) {
	if v := h.Get("X-3CX-Version"); v != "" {
		x.version.Store(v)
	}
}

// snippet is the start of a body for an error message.
func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
