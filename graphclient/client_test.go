package graphclient

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbx365/pbx365/graphclient/m365sim"
)

func TestConfigErrorsNameTheSetting(t *testing.T) {
	keyFile, _ := testPair(t, 0)
	good := Config{TenantID: "contoso.onmicrosoft.com", ClientID: "5d3b1e7a-9c42-4f08-b6e3-2a1f9d8c7e55", KeyFile: keyFile}
	badCA := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(badCA, []byte("not a certificate"), 0o644)
	cases := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"no tenant", func(c *Config) { c.TenantID = "" }, "ms.tenant"},
		{"bad tenant", func(c *Config) { c.TenantID = "a/b" }, "ms.tenant"},
		{"no client", func(c *Config) { c.ClientID = " " }, "ms.client_id"},
		{"bad cloud", func(c *Config) { c.Cloud = "germany" }, "ms.cloud"},
		{"http graph", func(c *Config) { c.GraphURL = "http://127.0.0.1:1/v1.0" }, "ms.graph_url"},
		{"bad login", func(c *Config) { c.LoginURL = "login.example" }, "ms.login_url"},
		{"no key", func(c *Config) { c.KeyFile = filepath.Join(t.TempDir(), "none.pem") }, "ms.key_file"},
		{"empty key setting", func(c *Config) { c.KeyFile = "" }, "ms.key_file"},
		{"missing ca", func(c *Config) { c.CAFile = filepath.Join(t.TempDir(), "none.pem") }, "ms.ca_file"},
		{"bad ca", func(c *Config) { c.CAFile = badCA }, "ms.ca_file"},
	}
	for _, tc := range cases {
		cfg := good
		tc.mod(&cfg)
		_, err := New(context.Background(), cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to name %s", tc.name, err, tc.want)
		}
	}
	if _, err := New(context.Background(), good); err != nil {
		t.Fatalf("good config: %v", err)
	}
}

func TestCloudEndpoints(t *testing.T) {
	cases := []struct {
		cfg                 Config
		login, graph, scope string
	}{
		{Config{}, "https://login.microsoftonline.com", "https://graph.microsoft.com/v1.0", "https://graph.microsoft.com/.default"},
		{Config{Cloud: "usgov"}, "https://login.microsoftonline.us", "https://graph.microsoft.us/v1.0", "https://graph.microsoft.us/.default"},
		{Config{Cloud: "China"}, "https://login.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn/v1.0", "https://microsoftgraph.chinacloudapi.cn/.default"},
		// Overrides move the endpoints, never the scope.
		{Config{Cloud: "usgov", GraphURL: "https://127.0.0.1:8443", LoginURL: "https://127.0.0.1:8443/"},
			"https://127.0.0.1:8443", "https://127.0.0.1:8443/v1.0", "https://graph.microsoft.us/.default"},
	}
	for _, tc := range cases {
		r, err := tc.cfg.resolve()
		if err != nil {
			t.Fatal(err)
		}
		if r.loginURL != tc.login || r.graphURL != tc.graph || r.scope != tc.scope {
			t.Errorf("%+v: got %s %s %s", tc.cfg, r.loginURL, r.graphURL, r.scope)
		}
		if r.customLogin != (tc.cfg.LoginURL != "") {
			t.Errorf("%+v: customLogin %v", tc.cfg, r.customLogin)
		}
		if tc.cfg.GraphURL != "" && !slices.Contains(r.validHosts, "127.0.0.1") {
			t.Errorf("configured Graph host not allowed: %v", r.validHosts)
		}
	}
}

func TestMiddlewareOrderCompressionBeforeRetry(t *testing.T) {
	s := startSim(t, 10)
	c := newSimClient(t, s)
	var names []string
	for _, m := range c.middlewares() {
		names = append(names, strings.TrimPrefix(strings.TrimPrefix(typeName(m), "*"), "nethttplibrary."))
	}
	ci := slices.IndexFunc(names, func(n string) bool { return strings.Contains(n, "Compression") })
	ri := slices.IndexFunc(names, func(n string) bool { return strings.Contains(n, "Retry") })
	if ci < 0 || ri < 0 || ci > ri {
		t.Fatalf("middleware order %v", names)
	}
}

func TestThrottleStormCompletes(t *testing.T) {
	s := startSim(t, 5000)
	c := newSimClient(t, s)
	want := len(liveUsers(s))
	s.ThrottleRate(0.4, 0) // 40% of requests answered 429 (Retry-After: 0)
	n := 0
	err := c.ListUsers(testCtx(t), func(p []User) error { n += len(p); return nil })
	s.ThrottleRate(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	throttled, _ := s.FaultCounts()
	if n != want || throttled == 0 {
		t.Fatalf("%d users (want %d), %d throttled", n, want, throttled)
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	s := startSim(t, 10)
	c := newSimClient(t, s)
	if _, err := c.UsersDelta(testCtx(t), ""); err != nil { // token and connection warm
		t.Fatal(err)
	}
	s.ThrottleNextMatching("GET", "/v1.0/users", 2, time.Second)
	start := time.Now()
	err := c.ListUsers(testCtx(t), func([]User) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 2*time.Second {
		t.Fatalf("two 429s with Retry-After 1 s took only %s", d)
	}
}

func TestServerErrorsRetried(t *testing.T) {
	s := startSim(t, 50)
	c := newSimClient(t, s)
	s.FailNextMatching("GET", "/v1.0/users", 1, 503)
	s.FailNextMatching("GET", "/v1.0/users", 1, 504)
	if _, err := c.GetUser(testCtx(t), s.Users()[0].ID); err != nil {
		t.Fatalf("503+504 then ok: %v", err)
	}
	// 500 and 502 on a read are retried too.
	s.FailNextMatching("GET", "/v1.0/users", 1, 500)
	s.FailNextMatching("GET", "/v1.0/users", 1, 502)
	if _, err := c.GetUser(testCtx(t), s.Users()[0].ID); err != nil {
		t.Fatalf("500+502 then ok: %v", err)
	}
	// ...but not on a write, which may have taken effect: one sendMail, one error.
	with, _ := mailboxUsers(t, s)
	s.ResetRequests()
	s.FailNextMatching("POST", "/v1.0/users/", 1, 500)
	err := c.SendMail(testCtx(t), Message{From: with[0].Mail, To: []string{"a@example.com"}, Subject: "x"})
	if StatusCode(err) != 500 || s.RequestCount("POST", "/v1.0/users/") != 1 {
		t.Fatalf("sendMail 500: %v after %d POSTs", err, s.RequestCount("POST", "/v1.0/users/"))
	}
	// Retries are bounded: a persistent 503 ends in an error naming it.
	c2 := newSimClient(t, s, func(cfg *Config) { cfg.MaxRetries = 1 })
	s.FailNextMatching("GET", "/v1.0/users", 10, 503)
	_, err = c2.GetUser(testCtx(t), s.Users()[0].ID)
	if StatusCode(err) != 503 {
		t.Fatalf("persistent 503: %v", err)
	}
	s.ClearFaults()
}

func TestContextCancellationStopsPromptly(t *testing.T) {
	s := startSim(t, 10)
	c := newSimClient(t, s)
	if _, err := c.Token(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	// Slow server.
	s.SetLatency(10 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.ListUsers(ctx, func([]User) error { return nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow server: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("cancellation took %s", d)
	}
	s.SetLatency(0)
	// Long Retry-After: the wait is cut short by the context too.
	s.ThrottleNext(5, 30*time.Second)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel2()
	start = time.Now()
	err = c.ListUsers(ctx2, func([]User) error { return nil })
	if err == nil {
		t.Fatal("throttled call succeeded")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("throttled call with short deadline took %s", d)
	}
	s.ClearFaults()
}

func TestWrongCertificateExplained(t *testing.T) {
	s := startSim(t, 10)
	keyFile, kp := testPair(t, 0) // never uploaded
	c, err := New(context.Background(), simConfig(s, keyFile))
	if err != nil {
		t.Fatal(err)
	}
	err = c.ListUsers(testCtx(t), func([]User) error { return nil })
	if ErrorCode(err) != "AADSTS700027" {
		t.Fatalf("code %q: %v", ErrorCode(err), err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "not uploaded") || !strings.Contains(msg, kp.ThumbprintSHA1()) || !strings.Contains(msg, "public_key.pem") {
		t.Fatalf("unhelpful: %s", msg)
	}
	lines := c.CheckLines(testCtx(t))
	if !CheckFailed(lines) || lines[1].Status != CheckError || !strings.Contains(lines[1].Detail, "AADSTS700027") {
		t.Fatalf("check lines: %v", lines)
	}
}

func TestUnknownClientAndTenantExplained(t *testing.T) {
	s := startSim(t, 10)
	c := newSimClient(t, s, func(cfg *Config) { cfg.ClientID = "11111111-2222-3333-4444-555555555555" })
	_, err := c.Token(testCtx(t))
	if ErrorCode(err) != "AADSTS700016" || !strings.Contains(err.Error(), "check ms.client_id and ms.tenant") {
		t.Fatalf("unknown client: %v", err)
	}
	c = newSimClient(t, s, func(cfg *Config) { cfg.TenantID = "99999999-aaaa-bbbb-cccc-dddddddddddd" })
	_, err = c.Token(testCtx(t))
	if err == nil || !strings.Contains(err.Error(), "ms.tenant") {
		t.Fatalf("unknown tenant: %v", err)
	}
}

func TestRotationFallsBackToOldCertificateUntilUploaded(t *testing.T) {
	s := startSim(t, 10)
	keyFile, old := testPair(t, 0)
	if err := s.RegisterCertificate(old.CertificatePEM()); err != nil {
		t.Fatal(err)
	}
	info, err := Keygen(keyFile, 0, true) // new pair, not uploaded yet
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(context.Background(), simConfig(s, keyFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetUser(testCtx(t), s.Users()[0].ID); err != nil {
		t.Fatalf("old certificate should still work: %v", err)
	}
	if c.KeyInfo().ThumbprintSHA1 != old.ThumbprintSHA1() {
		t.Fatalf("using %s, want the old %s", c.KeyInfo().ThumbprintSHA1, old.ThumbprintSHA1())
	}
	// Once the new certificate is uploaded and the old one removed, the new one is used.
	newPair, _ := LoadKeyPair(keyFile)
	s.RemoveCertificates()
	s.RegisterCertificate(newPair.CertificatePEM())
	c2, _ := New(context.Background(), simConfig(s, keyFile))
	if _, err := c2.Token(testCtx(t)); err != nil || c2.KeyInfo().ThumbprintSHA1 != info.ThumbprintSHA1 {
		t.Fatalf("new pair: %v (using %s)", err, c2.KeyInfo().ThumbprintSHA1)
	}
}

func TestPermissionCheckNamesMissingConsent(t *testing.T) {
	s := startSim(t, 50)
	c := newSimClient(t, s)
	s.Revoke("Mail.Send", "Directory.Read.All")
	res, err := c.CheckPermissions(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	got := map[Permission]PermissionResult{}
	for _, r := range res {
		got[r.Permission] = r
	}
	if len(res) != 5 {
		t.Fatalf("%d results", len(res))
	}
	for _, p := range []Permission{PermMailSend, PermDirectoryReadAll} {
		if got[p].State != PermMissing || !strings.Contains(got[p].Detail, string(p)) {
			t.Errorf("%s: %+v", p, got[p])
		}
	}
	if got[PermDirectoryReadAll].Code != "Authorization_RequestDenied" {
		t.Errorf("Directory.Read.All probe code %q", got[PermDirectoryReadAll].Code)
	}
	if got[PermUserReadAll].State != PermGranted {
		t.Errorf("User.Read.All: %+v", got[PermUserReadAll])
	}
	// No mail was sent to check Mail.Send.
	if n := s.RequestCount("POST", "/v1.0/users"); n != 0 {
		t.Errorf("%d POSTs to /users during the check", n)
	}
	lines := c.CheckLines(testCtx(t))
	var missing []string
	for _, l := range lines {
		if !strings.HasPrefix(l.String(), l.Status) {
			t.Errorf("line %q does not start with its status", l)
		}
		if l.Status == CheckMissing {
			missing = append(missing, l.Item)
		}
	}
	slices.Sort(missing)
	if !slices.Equal(missing, []string{"permission Directory.Read.All", "permission Mail.Send"}) {
		t.Fatalf("missing lines %v\n%v", missing, lines)
	}
	if !CheckFailed(lines) {
		t.Fatal("check with missing permissions did not fail")
	}
	_ = m365sim.DefaultRoles
}

func typeName(v any) string { return strings.TrimPrefix(fmtType(v), "*") }

func TestPermissionCheckAllGrantedAndMailboxProbes(t *testing.T) {
	s := startSim(t, 100)
	c := newSimClient(t, s)
	lines := c.CheckLines(testCtx(t))
	if CheckFailed(lines) || len(lines) != 7 {
		t.Fatalf("all granted but: %v", lines)
	}
	// Revoke a mailbox permission: the token lacks it and the live probe gets Outlook's 403.
	s.Revoke("Calendars.Read")
	c2 := newSimClient(t, s)
	res, err := c2.CheckPermissions(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		switch r.Permission {
		case PermCalendarsRead:
			if r.State != PermMissing || r.Code != "ErrorAccessDenied" || !strings.Contains(r.Detail, "Calendars.Read") {
				t.Errorf("Calendars.Read: %+v", r)
			}
		default:
			if r.State != PermGranted {
				t.Errorf("%s: %+v", r.Permission, r)
			}
		}
	}
}

func TestAdminConsentURL(t *testing.T) {
	u, err := AdminConsentURL("usgov", "", "contoso.onmicrosoft.com", "abc-123", "https://pbx.example.com/oauth2office2")
	if err != nil {
		t.Fatal(err)
	}
	want := "https://login.microsoftonline.us/contoso.onmicrosoft.com/adminconsent?client_id=abc-123&redirect_uri=https%3A%2F%2Fpbx.example.com%2Foauth2office2&state=pbx365"
	if u != want {
		t.Fatalf("got  %s\nwant %s", u, want)
	}
	if _, err := AdminConsentURL("", "", "", "x", ""); err == nil || !strings.Contains(err.Error(), "ms.tenant") {
		t.Fatalf("no tenant: %v", err)
	}
}

func TestKeyFileModeWarningNeverLogsTheKey(t *testing.T) {
	s := startSim(t, 10)
	var buf strings.Builder
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := newSimClient(t, s, func(cfg *Config) {
		os.Chmod(cfg.KeyFile, 0o644)
		cfg.Logger = logger
	})
	s.ThrottleNext(1, 0)
	if _, err := c.GetUser(testCtx(t), s.Users()[0].ID); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if !strings.Contains(out, "chmod 600") {
		t.Errorf("no warning about a world-readable key: %s", out)
	}
	if !strings.Contains(out, "graph retry") {
		t.Errorf("retry not logged: %s", out)
	}
	if strings.Contains(out, "PRIVATE") || strings.Contains(strings.ToLower(out), "bearer") || strings.Contains(out, "eyJ") {
		t.Fatalf("secret material in the log: %s", out)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestRevokedTokenRecoveredThroughCAEChallenge(t *testing.T) {
	s := startSim(t, 10)
	c := newSimClient(t, s)
	id := s.Users()[0].ID
	if _, err := c.GetUser(testCtx(t), id); err != nil {
		t.Fatal(err)
	}
	s.ExpireAccessTokens() // Entra revoked the token: Graph answers 401 with a claims challenge
	s.ResetRequests()
	if _, err := c.GetUser(testCtx(t), id); err != nil {
		t.Fatalf("after revocation: %v", err)
	}
	var statuses []int
	for _, r := range s.Requests() {
		statuses = append(statuses, r.Status)
	}
	if !slices.Equal(statuses, []int{401, 200, 200}) {
		t.Fatalf("requests after revocation: %v (want 401, a new token, 200)", statuses)
	}
}
