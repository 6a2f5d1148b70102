package graphclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
)

// Error is a failure reported by Graph or by Entra's token endpoint.
type Error struct {
	Op         string        // what pbx365 was doing ("list users")
	StatusCode int           // HTTP status, 0 when unknown
	Code       string        // Graph's error code (e.g. "Authorization_RequestDenied") or "AADSTS700027"
	Message    string        // the service's message
	Hint       string        // what to do about it, when known
	RetryAfter time.Duration // from a 429/503 answer, when present
}

// Error says what failed, what to do (Hint) and the service's code.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	b.WriteString(": ")
	if e.Hint != "" {
		b.WriteString(e.Hint)
		b.WriteString(" (")
	}
	if e.Code != "" {
		b.WriteString(e.Code)
	} else {
		b.WriteString("error")
	}
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, ", HTTP %d", e.StatusCode)
	}
	if e.Message != "" && e.Hint == "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Hint != "" {
		b.WriteString(")")
	}
	return b.String()
}

// StatusCode returns the HTTP status carried by err (0 when none).
func StatusCode(err error) int {
	var ge *Error
	if errors.As(err, &ge) {
		return ge.StatusCode
	}
	return 0
}

// ErrorCode returns Graph's or Entra's error code carried by err ("" when none).
func ErrorCode(err error) string {
	var ge *Error
	if errors.As(err, &ge) {
		return ge.Code
	}
	return ""
}

// IsNotFound reports a 404 from Graph.
func IsNotFound(err error) bool { return StatusCode(err) == http.StatusNotFound }

// IsForbidden reports a 403 from Graph (typically a permission without consent).
func IsForbidden(err error) bool { return StatusCode(err) == http.StatusForbidden }

var aadRe = regexp.MustCompile(`AADSTS(\d+)`)

// aadCode extracts the first "AADSTSnnnn" code from a token error.
func aadCode(err error) string {
	if err == nil {
		return ""
	}
	if m := aadRe.FindString(err.Error()); m != "" {
		return m
	}
	return ""
}

// thumbRe finds the thumbprint Entra quotes in AADSTS700027.
var thumbRe = regexp.MustCompile(`(?i)thumbprint of key used by client: '([0-9A-F]+)'`)

// explainAAD turns an Entra token error code into advice for the admin.
func (c *Client) explainAAD(code, msg string) string {
	switch code {
	case "AADSTS700027", "AADSTS50013":
		// Entra quotes the thumbprint it was sent (SHA-256 from MSAL); the
		// portal lists SHA-1, so name the certificate by its SHA-1.
		thumb := c.cred.keys[0].ThumbprintSHA1()
		if m := thumbRe.FindStringSubmatch(msg); m != nil && !c.cred.knows(m[1]) {
			thumb += ", Entra saw " + strings.ToUpper(m[1])
		}
		return fmt.Sprintf("the certificate is not uploaded to the app (thumbprint %s): upload %s under Certificates & secrets of the app registration",
			thumb, PublicKeyPath(c.cred.keys[0].Path))
	case "AADSTS700016":
		return fmt.Sprintf("application %s not found in the tenant: check ms.client_id and ms.tenant", c.cfg.ClientID)
	case "AADSTS90002", "AADSTS90023", "AADSTS900023":
		return fmt.Sprintf("tenant %s not found: check ms.tenant (the Directory (tenant) ID)", c.cfg.TenantID)
	case "AADSTS7000215", "AADSTS7000222", "AADSTS7000218", "AADSTS50012":
		return "Entra rejected the app's credential: check that ms.key_file's certificate is uploaded and not expired (run `pbx365 keygen --force` to make a new one)"
	case "AADSTS500133", "AADSTS700024":
		return "the client assertion is outside its valid time: check this machine's clock"
	case "AADSTS700030", "AADSTS700023":
		return "the certificate has expired or is not valid yet: run `pbx365 keygen --force` and upload the new public_key.pem"
	case "AADSTS70011", "AADSTS500011":
		return fmt.Sprintf("Entra rejected the scope %s: check ms.cloud (and that Microsoft Graph exists in the tenant)", c.scope)
	case "AADSTS7000112", "AADSTS7000114":
		return "the application is disabled in the tenant: enable it under Enterprise applications"
	}
	return ""
}

// wrap converts an SDK, Entra or transport error into *Error (or leaves context
// errors recognisable), with op as context.
func (c *Client) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var ge *Error
	if errors.As(err, &ge) {
		return fmt.Errorf("%s: %w", op, err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", op, err)
	}
	var af *azidentity.AuthenticationFailedError
	if code := aadCode(err); code != "" || errors.As(err, &af) {
		e := &Error{Op: op, Code: code, Message: firstLine(err.Error())}
		if af != nil && af.RawResponse != nil {
			e.StatusCode = af.RawResponse.StatusCode
		}
		e.Hint = c.explainAAD(code, err.Error())
		if e.Hint == "" {
			e.Hint = "Entra refused the token request: check ms.tenant, ms.client_id and the uploaded certificate"
		}
		e.Op = op + ": get token from " + c.tokenURL
		return e
	}
	var oe *odataerrors.ODataError
	if errors.As(err, &oe) {
		e := &Error{Op: op, StatusCode: oe.GetStatusCode()}
		if me := oe.GetErrorEscaped(); me != nil {
			e.Code = deref(me.GetCode())
			e.Message = deref(me.GetMessage())
		}
		if h := oe.GetResponseHeaders(); h != nil {
			if v := h.Get("Retry-After"); len(v) > 0 {
				e.RetryAfter = retryAfter(v[0], time.Now())
			}
		}
		return e
	}
	var ae *abstractions.ApiError
	if errors.As(err, &ae) {
		return &Error{Op: op, StatusCode: ae.ResponseStatusCode, Message: ae.Message}
	}
	return fmt.Errorf("%s: %w", op, err)
}

func firstLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if strings.Contains(l, "AADSTS") {
			return l
		}
	}
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return strings.TrimSpace(s[:i])
	}
	return s
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// retryAfter parses a Retry-After header (seconds, possibly fractional, or an
// HTTP date); 0 when absent or unparseable.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if f < 0 {
			return 0
		}
		return time.Duration(f * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
