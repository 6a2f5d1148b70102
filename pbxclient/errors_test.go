package pbxclient

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pbx365/pbx365/pbxclient/pbxsim"
)

// TestTypedErrorsFor3CXRules checks that each rule the PBX enforces comes
// back as the error kind callers act on, with 3CX's field and warning key.
func TestTypedErrorsFor3CXRules(t *testing.T) {
	s := newSim(t, pbxsim.Options{MaxUsers: 3})
	x := newClient(t, s, nil)
	ctx := ctxT(t)
	if _, err := s.AddQueue("500", "Support"); err != nil {
		t.Fatal(err)
	}
	u, err := x.CreateUser(ctx, NewUser{Number: "100", FirstName: "Ann", EmailAddress: "ann@example.com"})
	if err != nil {
		t.Fatal(err)
	}

	check := func(name string, err error, kind error, field, warning string) {
		t.Helper()
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, kind) || e.Field != field || e.Warning != warning {
			t.Errorf("%s: got %#v (%v), want kind %v field %q warning %q", name, e, err, kind, field, warning)
		}
	}

	_, err = x.CreateUser(ctx, NewUser{Number: "101", FirstName: "Other", EmailAddress: "ANN@Example.COM"})
	check("duplicate email in another case", err, ErrAlreadyInUse, "EmailAddress", "WARNINGS.XAPI.ALREADY_IN_USE")

	email := "Ann@EXAMPLE.com"
	u2, err := x.CreateUser(ctx, NewUser{Number: "102", FirstName: "Bob", EmailAddress: "bob@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	err = x.UpdateUser(ctx, u2.ID, UserPatch{EmailAddress: &email})
	check("duplicate email on PATCH", err, ErrAlreadyInUse, "EmailAddress", "WARNINGS.XAPI.ALREADY_IN_USE")

	_, err = x.CreateUser(ctx, NewUser{Number: "500", FirstName: "Q", EmailAddress: "q@example.com"})
	check("number of a queue", err, ErrAlreadyInUse, "Number", "WARNINGS.XAPI.ALREADY_IN_USE")

	_, err = x.CreateUser(ctx, NewUser{Number: "100", FirstName: "Dup", EmailAddress: "dup@example.com"})
	check("number of a user", err, ErrAlreadyInUse, "Number", "WARNINGS.XAPI.ALREADY_IN_USE")

	// Port has no way to change a number; send the PATCH a buggy caller would.
	err = x.patch(ctx, "change number", entity("Users", u.ID), map[string]string{"Number": "199"})
	check("number change", err, ErrForbiddenChange, "Number", "WARNINGS.XAPI.FORBIDDEN_CHANGE")

	if _, err := x.CreateUser(ctx, NewUser{Number: "103", FirstName: "C", EmailAddress: "c@example.com"}); err != nil {
		t.Fatal(err)
	}
	_, err = x.CreateUser(ctx, NewUser{Number: "104", FirstName: "D", EmailAddress: "d@example.com"})
	if !errors.Is(err, ErrLimitReached) {
		t.Errorf("licence limit: %v", err)
	}

	_, err = x.CreateCompanyContact(ctx, Contact{PhoneNumber: "+15550001"})
	check("contact without a name", err, ErrValidation, "FirstName", "WARNINGS.CONTACTS_SPECIFY_NAME_SURNAME_COMPANY")
	if e := (*Error)(nil); errors.As(err, &e) && e.Status != http.StatusBadRequest {
		t.Errorf("contact status %d", e.Status)
	}
	_, err = x.CreatePersonalContact(ctx, "100", Contact{FirstName: "No Number"})
	if !errors.Is(err, ErrValidation) || !strings.Contains(err.Error(), "WARNINGS.CONTACTS_SPECIFY_PHONE_NUMBER") {
		t.Errorf("contact without a number: %v", err)
	}

	name := "Zed"
	if err := x.UpdateUser(ctx, 9999, UserPatch{FirstName: &name}); !errors.Is(err, ErrNotFound) {
		t.Errorf("patch of a missing user: %v", err)
	}

	if err := s.SetClientRole("managers"); err != nil {
		t.Fatal(err)
	}
	err = x.UpdateUser(ctx, u.ID, UserPatch{FirstName: &name})
	if !errors.Is(err, ErrForbidden) {
		t.Errorf("write with a read-only role: %v", err)
	}
	if _, err := x.ListUsers(ctx); err != nil {
		t.Errorf("read with a read-only role: %v", err)
	}
}

func TestBadCredentialsNameTheSettings(t *testing.T) {
	s := newSim(t, pbxsim.Options{})
	x := newClient(t, s, func(c *Config) { c.Secret = "wrong" })
	_, err := x.ListUsers(ctxT(t))
	if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "pbx.client_id") || !strings.Contains(err.Error(), "pbx.secret") {
		t.Fatalf("got %v", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Fatal("the secret is in the error")
	}
	// Refused credentials are not retried.
	if n := s.RequestCount(http.MethodPost, "/connect/token"); n != 1 {
		t.Fatalf("%d token requests", n)
	}
}

func TestUntrustedCertificateNamesCAFile(t *testing.T) {
	s := newSim(t, pbxsim.Options{})
	x := newClient(t, s, func(c *Config) { c.CAPEM = nil })
	var handshakes atomic.Int32
	ctx := httptrace.WithClientTrace(ctxT(t), &httptrace.ClientTrace{TLSHandshakeStart: func() { handshakes.Add(1) }})
	_, err := x.Version(ctx)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "pbx.ca_file") {
		t.Fatalf("got %v", err)
	}
	// A certificate problem is not retried.
	if n := handshakes.Load(); n != 1 || len(s.Requests()) != 0 {
		t.Fatalf("%d handshakes, %d requests", n, len(s.Requests()))
	}
}

// TestLogsHoldNoSecrets runs a session with debug logging, a revoked token
// and a failing call, and checks neither the API key nor a token appears.
func TestLogsHoldNoSecrets(t *testing.T) {
	s := newSim(t, pbxsim.Options{})
	var buf syncBuffer
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, s.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	x := newClient(t, s, func(c *Config) {
		c.CAPEM, c.CAFile = nil, caFile // the CA from pbx.ca_file
		c.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	ctx := ctxT(t)
	if _, err := x.ListUsers(ctx); err != nil {
		t.Fatal(err)
	}
	x.tokens.mu.Lock()
	token := x.tokens.token
	x.tokens.mu.Unlock()
	s.RevokeTokens()
	s.FailNext(1, http.StatusServiceUnavailable)
	if _, err := x.ListUsers(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := x.GetUser(ctx, 4242); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	logs := buf.String()
	if !strings.Contains(logs, "xapi request") || !strings.Contains(logs, "re-authenticating") {
		t.Fatalf("debug logs missing:\n%s", logs)
	}
	if token == "" || strings.Contains(logs, token) || strings.Contains(logs, s.Secret()) || strings.Contains(logs, "Bearer") {
		t.Fatalf("a secret is in the logs:\n%s", logs)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
