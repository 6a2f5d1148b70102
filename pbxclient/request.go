package pbxclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// retryPolicy says what may be repeated after a failure.
//
// Retried (retryIdempotent): GET; PATCH, which sets absolute values so a
// repeat leaves the same state; DELETE of one entity, where a 404 after a
// repeated attempt means the first one worked; and the bulk delete by ids.
// Not retried once sent (retryUnsentOnly): POST creates and the create
// actions, where a lost reply becomes ErrOutcomeUnknown so the caller can
// look before trying again. Any request that provably never left (dial or TLS
// failure before the request was written) is retried.
type retryPolicy int

const (
	retryIdempotent retryPolicy = iota
	retryUnsentOnly
)

// request is one XAPI call.
type request struct {
	op     string
	method string
	path   string // below /xapi/v1/, already escaped, e.g. "Users(12)"
	query  string // encoded query string without '?'
	body   any    // marshalled to JSON when non-nil
	policy retryPolicy
	// goneOK: a 404 on a repeated attempt means an earlier one succeeded (DELETE).
	goneOK bool
}

// reply is a successful answer.
type reply struct {
	status int
	body   []byte
}

func (x *XAPI) get(ctx context.Context, op, path, query string, out any) error {
	rep, err := x.do(ctx, request{op: op, method: http.MethodGet, path: path, query: query})
	if err != nil {
		return err
	}
	return decode(op, rep, out)
}

func decode(op string, rep reply, out any) error {
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(rep.body, out); err != nil {
		return &Error{Op: op, Status: rep.status, Kind: ErrUnavailable,
			Message: "unreadable reply: " + snippet(rep.body), Err: err}
	}
	return nil
}

// do sends r with the access token, the concurrency bound, retries and
// re-authentication, and maps failures to *Error.
func (x *XAPI) do(ctx context.Context, r request) (reply, error) {
	var payload []byte
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return reply{}, fmt.Errorf("%s: encode body: %w", r.op, err)
		}
		payload = b
	}
	reauths := 0
	sentBefore := false
	for attempt := 0; ; {
		tok, gen, err := x.tokens.get(ctx, x)
		if err != nil {
			return reply{}, withOp(err, r.op)
		}
		status, hdr, body, sent, err := x.send(ctx, r, payload, tok)
		if err != nil {
			if ctx.Err() != nil {
				kind := ErrUnavailable
				if sent && r.policy == retryUnsentOnly {
					kind = ErrOutcomeUnknown
				}
				return reply{}, &Error{Op: r.op, Kind: kind, Err: ctx.Err()}
			}
			if sent && r.policy == retryUnsentOnly {
				x.log.Debug("xapi reply lost", "op", r.op, "error", err)
				return reply{}, &Error{Op: r.op, Kind: ErrOutcomeUnknown,
					Message: "the request was sent but no reply came; look before trying again", Err: err}
			}
			if attempt >= x.retries || isCertError(err) {
				return reply{}, &Error{Op: r.op, Kind: ErrUnavailable, Message: transportHint(err), Err: err}
			}
			sentBefore = sentBefore || sent
			if werr := x.sleepBackoff(ctx, attempt, 0); werr != nil {
				return reply{}, &Error{Op: r.op, Kind: ErrUnavailable, Err: werr}
			}
			attempt++
			continue
		}
		switch {
		case status >= 200 && status < 300:
			return reply{status: status, body: body}, nil
		case status == http.StatusNotFound && r.goneOK && sentBefore:
			return reply{status: http.StatusNoContent}, nil
		case status == http.StatusUnauthorized:
			// Re-authenticate and repeat: once for an expired or revoked
			// token; a few more times when another holder of the same API
			// client keeps revoking fresh tokens, each fetch then waiting
			// out the cache's contention backoff.
			if reauths < maxReauths {
				reauths++
				if x.tokens.invalidate(gen, x) {
					x.warnTokenContention()
				}
				x.log.Debug("xapi token refused, re-authenticating", "op", r.op, "round", reauths)
				continue
			}
			e := parseError(r.op, status, body)
			e.Message = "the PBX keeps refusing fresh access tokens: another program is using the same API client (pbx.client_id); give each its own"
			return reply{}, e
		case status >= 500 || status == http.StatusTooManyRequests:
			if r.policy == retryIdempotent && attempt < x.retries {
				sentBefore = true
				if werr := x.sleepBackoff(ctx, attempt, retryAfter(hdr)); werr != nil {
					return reply{}, &Error{Op: r.op, Kind: ErrUnavailable, Status: status, Err: werr}
				}
				attempt++
				continue
			}
			e := parseError(r.op, status, body)
			if r.policy == retryUnsentOnly && status == http.StatusGatewayTimeout {
				// A gateway gave up waiting: the PBX may have done it.
				e.Kind = ErrOutcomeUnknown
			}
			return reply{}, e
		default:
			return reply{}, parseError(r.op, status, body)
		}
	}
}

// send makes one HTTP attempt. sent reports whether the request was written
// to the connection (after which a lost reply leaves the outcome unknown).
func (x *XAPI) send(ctx context.Context, r request, payload []byte, token string) (status int, hdr http.Header, body []byte, sent bool, err error) {
	if err := x.acquire(ctx); err != nil {
		return 0, nil, nil, false, err
	}
	defer x.release()
	actx, cancel := context.WithTimeout(ctx, x.timeout)
	defer cancel()
	var wrote atomic.Bool
	trace := &httptrace.ClientTrace{
		WroteHeaders: func() { wrote.Store(true) },
		WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Store(true) },
	}
	actx = httptrace.WithClientTrace(actx, trace)
	u := x.base + apiPrefix + r.path
	if r.query != "" {
		u += "?" + r.query
	}
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(actx, r.method, u, rd)
	if err != nil {
		return 0, nil, nil, false, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", x.userAgent)
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	resp, err := x.http.Do(req)
	if err != nil {
		x.log.Debug("xapi request failed", "op", r.op, "method", r.method, "path", r.path,
			"sent", wrote.Load(), "error", err, "elapsed", time.Since(start))
		return 0, nil, nil, wrote.Load(), err
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, maxBody))
	x.noteVersion(resp.Header)
	x.log.Debug("xapi request", "op", r.op, "method", r.method, "path", r.path,
		"status", resp.StatusCode, "elapsed", time.Since(start))
	if err != nil {
		return 0, nil, nil, true, err
	}
	return resp.StatusCode, resp.Header, body, true, nil
}

// maxReauths bounds the re-authentications for one request.
const maxReauths = 6

// warnTokenContention logs, at most once a minute, that another program
// revokes this client's tokens.
func (x *XAPI) warnTokenContention() {
	now := time.Now().UnixNano()
	last := x.contentionWarned.Load()
	if now-last < int64(time.Minute) || !x.contentionWarned.CompareAndSwap(last, now) {
		return
	}
	x.log.Warn("the PBX revoked a fresh access token: another program signs in with the same API client; give each program its own (pbx.client_id)",
		"client_id", x.clientID)
}

// backoff is the pause before retry number attempt+1: exponential from
// backoffBase, capped at backoffMax, with jitter over its upper half.
func (x *XAPI) backoff(attempt int) time.Duration {
	d := x.backoffBase << min(attempt, 16)
	if d > x.backoffMax || d <= 0 {
		d = x.backoffMax
	}
	return d/2 + rand.N(d/2+1)
}

// sleepBackoff waits the backoff before retry number attempt+1, at least
// hint (Retry-After) within the cap, cut short by ctx.
func (x *XAPI) sleepBackoff(ctx context.Context, attempt int, hint time.Duration) error {
	d := x.backoff(attempt)
	if hint > d {
		d = min(hint, x.backoffMax)
	}
	return waitFor(ctx, nil, d)
}

func retryAfter(h http.Header) time.Duration {
	if h == nil {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(h.Get("Retry-After"))); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	return 0
}

// withOp puts the caller's operation name on an error from the token fetch.
func withOp(err error, op string) error {
	var e *Error
	if errors.As(err, &e) {
		c := *e
		c.Op = op + ": " + e.Op
		return &c
	}
	return fmt.Errorf("%s: %w", op, err)
}

// isCertError reports a TLS verification failure, which a retry cannot fix.
func isCertError(err error) bool {
	var uae x509.UnknownAuthorityError
	var hne x509.HostnameError
	var cie x509.CertificateInvalidError
	var cve *tls.CertificateVerificationError
	return errors.As(err, &uae) || errors.As(err, &hne) || errors.As(err, &cie) || errors.As(err, &cve)
}

// transportHint names the setting most likely behind a transport failure.
func transportHint(err error) string {
	var uae x509.UnknownAuthorityError
	var hne x509.HostnameError
	var cie x509.CertificateInvalidError
	var rhe tls.RecordHeaderError
	var dnse *net.DNSError
	var oe *net.OpError
	switch {
	case errors.As(err, &uae):
		return "the PBX certificate is not trusted: set pbx.ca_file to the CA that signed it"
	case errors.As(err, &hne):
		return "the PBX certificate does not match the host: use the host name of pbx.url the certificate was issued for"
	case errors.As(err, &cie):
		return "the PBX certificate is invalid (expired?): renew it or fix pbx.ca_file"
	case errors.As(err, &rhe):
		return "the PBX did not answer TLS: pbx.url must be the https address of the PBX"
	case errors.As(err, &dnse):
		return "the PBX host name does not resolve: check pbx.url"
	case errors.Is(err, context.DeadlineExceeded):
		return "the PBX did not answer in time"
	case errors.As(err, &oe) && oe.Op == "dial":
		return "cannot connect to the PBX: check pbx.url and the network"
	}
	return ""
}
