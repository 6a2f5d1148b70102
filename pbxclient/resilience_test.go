package pbxclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/pbx365/pbx365/pbxclient/pbxsim"
)

// statusCount counts /xapi/v1 replies with that status.
func statusCount(s *pbxsim.Sim, status int) int {
	n := 0
	for _, r := range apiRequests(s, "", "") {
		if r.Status == status {
			n++
		}
	}
	return n
}

func tokenRequests(s *pbxsim.Sim) int { return s.RequestCount(http.MethodPost, "/connect/token") }

func TestReauthenticatesOnceOn401(t *testing.T) {
	s := newSim(t, pbxsim.Options{})
	x := newClient(t, s, nil)
	ctx := ctxT(t)
	if _, err := x.Version(ctx); err != nil {
		t.Fatal(err)
	}
	s.RevokeTokens()
	s.ResetRequests()
	if _, err := x.ListUsers(ctx); err != nil {
		t.Fatal(err)
	}
	if tok, api, s401 := tokenRequests(s), len(apiRequests(s, "", "")), statusCount(s, 401); tok != 1 || api != 2 || s401 != 1 {
		t.Fatalf("token requests %d, API requests %d, 401s %d; want 1, 2, 1", tok, api, s401)
	}
}

func TestTokenLifetimeAndEarlyRefresh(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		t.Run(fmt.Sprintf("legacy=%v", legacy), func(t *testing.T) {
			s := newSim(t, pbxsim.Options{LegacyExpiresIn: legacy})
			x := newClient(t, s, nil)
			ctx := ctxT(t)
			if _, err := x.Version(ctx); err != nil {
				t.Fatal(err)
			}
			x.tokens.mu.Lock()
			left := time.Until(x.tokens.renewAt)
			x.tokens.mu.Unlock()
			// 80% of one hour, whether expires_in said 60 (minutes) or 3600 (seconds).
			if left < 47*time.Minute || left > 48*time.Minute {
				t.Fatalf("token renewed in %v, want 48m", left)
			}
			// At the renewal time a new token is fetched before any 401.
			x.tokens.mu.Lock()
			x.tokens.renewAt = time.Now().Add(-time.Second)
			x.tokens.mu.Unlock()
			s.ResetRequests()
			if _, err := x.Version(ctx); err != nil {
				t.Fatal(err)
			}
			if tokenRequests(s) != 1 || statusCount(s, 401) != 0 {
				t.Fatalf("token requests %d, 401s %d", tokenRequests(s), statusCount(s, 401))
			}
		})
	}
}

// TestTwoProcessesSharingCredentials: another pbx365 process (its own token
// cache) with the same API client revokes our token whenever it signs in.
// Both keep working, each switch costing one token and one repeated request.
func TestTwoProcessesSharingCredentials(t *testing.T) {
	s := newSim(t, pbxsim.Options{})
	a := newClient(t, s, nil)
	b := newClient(t, s, nil)
	b.tokens = &tokenCache{} // as if in another process
	ctx := ctxT(t)
	const rounds = 20
	for i := range rounds {
		if _, err := a.Version(ctx); err != nil {
			t.Fatalf("round %d, a: %v", i, err)
		}
		if _, err := b.Version(ctx); err != nil {
			t.Fatalf("round %d, b: %v", i, err)
		}
	}
	tok, api := tokenRequests(s), len(apiRequests(s, "", ""))
	t.Logf("%d calls: %d token requests, %d API requests", 2*rounds, tok, api)
	if tok > 2*rounds || api > 4*rounds {
		t.Fatalf("storm: %d token requests, %d API requests for %d calls", tok, api, 2*rounds)
	}

	// Both busy at once, five goroutines each, with latency so their work
	// overlaps: still no failure, and the token requests stay far below the
	// number of calls.
	s.SetLatency(5 * time.Millisecond)
	s.ResetRequests()
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for _, x := range []*XAPI{a, b} {
		for range 5 {
			wg.Go(func() {
				for range rounds {
					if _, err := x.Version(ctx); err != nil {
						errs <- err
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	tok, api = tokenRequests(s), len(apiRequests(s, "", ""))
	t.Logf("concurrent: %d calls: %d token requests, %d API requests", 10*rounds, tok, api)
	if tok > 5*rounds || api > 30*rounds {
		t.Fatalf("storm: %d token requests, %d API requests for %d calls", tok, api, 10*rounds)
	}

	// Two values in one process share the token: no revocation at all.
	s.SetLatency(0)
	c := newClient(t, s, nil)
	s.ResetRequests()
	for range rounds {
		if _, err := a.Version(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Version(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if tok, s401 := tokenRequests(s), statusCount(s, 401); tok > 1 || s401 > 1 {
		t.Fatalf("same process: %d token requests, %d 401s", tok, s401)
	}
}

// TestConcurrentWritersShareOneToken: 50 goroutines writing at once use one
// token; when it expires they fetch exactly one new one.
func TestConcurrentWritersShareOneToken(t *testing.T) {
	s := newSim(t, pbxsim.Options{})
	x := newClient(t, s, func(c *Config) { c.Concurrency = 16 })
	ctx := ctxT(t)
	const writers, each = 50, 4
	run := func(phase int) {
		var wg sync.WaitGroup
		errs := make(chan error, writers*each)
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					n := fmt.Sprintf("%d%02d%d", phase, w, i)
					if _, err := x.CreateUser(ctx, NewUser{Number: n, FirstName: "W", EmailAddress: n + "@example.com"}); err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}
	run(1)
	if tok, s401 := tokenRequests(s), statusCount(s, 401); tok != 1 || s401 != 0 {
		t.Fatalf("phase 1: %d token requests, %d 401s; want 1, 0", tok, s401)
	}
	// The token expires on the PBX: every writer gets a 401, one fetches.
	s.Advance(61 * time.Minute)
	run(2)
	if tok := tokenRequests(s); tok != 2 {
		t.Fatalf("phase 2: %d token requests, want 2", tok)
	}
	if n := len(s.Users()); n != 2*writers*each {
		t.Fatalf("%d users on the PBX, want %d", n, 2*writers*each)
	}
}

func TestServerErrorsRetriedOnlyWhenSafe(t *testing.T) {
	s := newSim(t, pbxsim.Options{})
	x := newClient(t, s, func(c *Config) { c.Retries = 3 })
	ctx := ctxT(t)
	if _, err := s.SeedExtensions(5); err != nil {
		t.Fatal(err)
	}
	if _, err := x.Version(ctx); err != nil {
		t.Fatal(err)
	}

	s.ResetRequests()
	s.FailNext(2, http.StatusServiceUnavailable)
	if us, err := x.ListUsers(ctx); err != nil || len(us) != 5 {
		t.Fatalf("GET after two 503s: %d users, %v", len(us), err)
	}
	if n := len(apiRequests(s, http.MethodGet, "Users")); n != 3 {
		t.Fatalf("%d GETs, want 3", n)
	}

	s.ResetRequests()
	s.FailNext(10, http.StatusInternalServerError)
	_, err := x.ListUsers(ctx)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("GET after persistent 500: %v", err)
	}
	if n := len(apiRequests(s, http.MethodGet, "Users")); n != 4 {
		t.Fatalf("%d GETs, want 4 (bounded retries)", n)
	}
	s.ClearFaults()

	// A create is never repeated after the PBX answered.
	s.ResetRequests()
	s.FailNext(1, http.StatusServiceUnavailable)
	_, err = x.CreateUser(ctx, NewUser{Number: "700", FirstName: "P", EmailAddress: "p@example.com"})
	if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("POST after 503: %v", err)
	}
	if n := len(apiRequests(s, http.MethodPost, "Users")); n != 1 {
		t.Fatalf("%d POSTs, want 1", n)
	}
	// A gateway timeout leaves a create's outcome unknown.
	s.FailNext(1, http.StatusGatewayTimeout)
	_, err = x.CreateUser(ctx, NewUser{Number: "700", FirstName: "P", EmailAddress: "p@example.com"})
	if !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("POST after 504: %v", err)
	}

	// PATCH sets absolute values: retried.
	s.ResetRequests()
	s.FailNext(1, http.StatusBadGateway)
	name := "Retried"
	id := s.Users()[0].ID
	if err := x.UpdateUser(ctx, id, UserPatch{FirstName: &name}); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.User(id); u.FirstName != name || len(apiRequests(s, http.MethodPatch, "")) != 2 {
		t.Fatalf("PATCH after 502: %+v, %d requests", u, len(apiRequests(s, http.MethodPatch, "")))
	}

	// A steady 30% failure rate is absorbed by the retries.
	s.Fail5xxRate(0.3)
	for range 10 {
		if _, err := x.ListUsers(ctx); err != nil {
			t.Fatalf("at a 30%% failure rate: %v", err)
		}
	}
}

func TestLostReplies(t *testing.T) {
	t.Run("http2", func(t *testing.T) { testLostReplies(t, false) })
	t.Run("http1", func(t *testing.T) { testLostReplies(t, true) })
}

// testLostReplies: over HTTP/2 the simulator resets the stream, over
// HTTP/1.1 it closes the connection.
func testLostReplies(t *testing.T, http1 bool) {
	s := newSim(t, pbxsim.Options{})
	x := newClient(t, s, nil)
	if http1 {
		tr := x.http.Transport.(*http.Transport)
		tr.ForceAttemptHTTP2 = false
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	ctx := ctxT(t)
	if _, err := x.Version(ctx); err != nil {
		t.Fatal(err)
	}

	// Create: the user exists, but the client cannot know: outcome unknown,
	// never success, never a plain failure, and not repeated.
	s.ResetRequests()
	s.LoseResponseNext(1)
	u, err := x.CreateUser(ctx, NewUser{Number: "801", FirstName: "Lost", EmailAddress: "lost@example.com"})
	if !errors.Is(err, ErrOutcomeUnknown) || u.ID != 0 {
		t.Fatalf("lost create: %+v, %v", u, err)
	}
	for _, kind := range []error{ErrAlreadyInUse, ErrUnavailable, ErrValidation} {
		if errors.Is(err, kind) {
			t.Fatalf("lost create also reads as %v", kind)
		}
	}
	if n := len(apiRequests(s, http.MethodPost, "Users")); n != 1 {
		t.Fatalf("%d POSTs, want 1", n)
	}
	if _, ok := s.UserByNumber("801"); !ok {
		t.Fatal("the user was not created on the PBX")
	}
	// Looking before trying again finds it.
	if found, err := x.FindUsers(ctx, "801", ""); err != nil || len(found) != 1 {
		t.Fatalf("look after the lost create: %+v, %v", found, err)
	}

	// PATCH and DELETE are repeated; a 404 after the repeat means done.
	id, _ := s.UserByNumber("801")
	s.ResetRequests()
	s.LoseResponseNext(1)
	name := "Found"
	if err := x.UpdateUser(ctx, id.ID, UserPatch{FirstName: &name}); err != nil {
		t.Fatalf("lost PATCH: %v", err)
	}
	s.LoseResponseNext(1)
	if err := x.DeleteUser(ctx, id.ID); err != nil {
		t.Fatalf("lost DELETE: %v", err)
	}
	if _, ok := s.User(id.ID); ok {
		t.Fatal("user not deleted")
	}
	if p, d := len(apiRequests(s, http.MethodPatch, "")), len(apiRequests(s, http.MethodDelete, "")); p != 2 || d != 2 {
		t.Fatalf("%d PATCHes and %d DELETEs, want 2 and 2", p, d)
	}

	// Personal contact create: outcome unknown, entry present.
	if _, err := x.CreateUser(ctx, NewUser{Number: "802", FirstName: "Owner", EmailAddress: "owner@example.com"}); err != nil {
		t.Fatal(err)
	}
	s.LoseResponseNext(1)
	_, err = x.CreatePersonalContact(ctx, "802", Contact{FirstName: "Kim", PhoneNumber: "+15550100"})
	if !errors.Is(err, ErrOutcomeUnknown) || len(s.PersonalContacts("802")) != 1 {
		t.Fatalf("lost contact create: %v, %d entries", err, len(s.PersonalContacts("802")))
	}

	// A department create whose reply is lost is settled by reading it back.
	s.ResetRequests()
	s.LoseResponseNext(1)
	d, err := x.EnsureDepartment(ctx, "Lost Dept")
	if err != nil || d.ID == 0 || d.Name != "Lost Dept" {
		t.Fatalf("EnsureDepartment after a lost reply: %+v, %v", d, err)
	}
	if n := len(apiRequests(s, http.MethodPost, "Groups")); n != 1 {
		t.Fatalf("%d department POSTs, want 1", n)
	}
}

func TestTimeouts(t *testing.T) {
	s := newSim(t, pbxsim.Options{})
	x := newClient(t, s, func(c *Config) { c.Timeout = 300 * time.Millisecond })
	ctx := ctxT(t)
	if _, err := x.Version(ctx); err != nil {
		t.Fatal(err)
	}
	s.ResetRequests()
	s.TimeoutNext(1)
	if _, err := x.ListUsers(ctx); err != nil {
		t.Fatalf("GET after a timeout: %v", err)
	}
	if !eventually(func() bool { return len(apiRequests(s, http.MethodGet, "Users")) == 2 }) {
		t.Fatalf("%d GETs, want 2", len(apiRequests(s, http.MethodGet, "Users")))
	}
	// A create that timed out after it was sent: unknown, not repeated.
	s.ResetRequests()
	s.TimeoutNext(1)
	_, err := x.CreateUser(ctx, NewUser{Number: "900", FirstName: "T", EmailAddress: "t@example.com"})
	if !errors.Is(err, ErrOutcomeUnknown) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timed-out create: %v", err)
	}
	if !eventually(func() bool { return len(apiRequests(s, http.MethodPost, "Users")) == 1 }) {
		t.Fatalf("%d POSTs, want 1", len(apiRequests(s, http.MethodPost, "Users")))
	}
	if _, ok := s.UserByNumber("900"); ok {
		t.Fatal("the held request created the user")
	}
}

func TestContextCancellation(t *testing.T) {
	s := newSim(t, pbxsim.Options{})
	x := newClient(t, s, func(c *Config) { c.Concurrency = 1 })
	if _, err := x.Version(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	s.SetLatency(3 * time.Second)

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := x.ListUsers(ctx)
	if !errors.Is(err, context.Canceled) || time.Since(start) > 2*time.Second {
		t.Fatalf("cancelled GET: %v after %v", err, time.Since(start))
	}

	// A create cancelled after it was sent: unknown, and says why.
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err = x.CreateUser(ctx, NewUser{Number: "950", FirstName: "C", EmailAddress: "c@example.com"})
	if !errors.Is(err, ErrOutcomeUnknown) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled create: %v", err)
	}

	// Waiting for a concurrency slot ends with the context too.
	busy, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _, _ = x.Version(busy) }()
	time.Sleep(50 * time.Millisecond)
	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = x.ListUsers(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("waiting for a slot: %v after %v", err, time.Since(start))
	}
	stop()
	<-done
}

func TestUnreachablePBXIsRetriedThenUnavailable(t *testing.T) {
	s := newSim(t, pbxsim.Options{})
	x := newClient(t, s, func(c *Config) { c.Retries = 2 })
	ctx := ctxT(t)
	if _, err := x.Version(ctx); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// The connection is refused before anything is sent: a create that never
	// left is safe to retry and is not "outcome unknown".
	_, err := x.CreateUser(ctx, NewUser{Number: "960", FirstName: "U", EmailAddress: "u@example.com"})
	if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("create against a closed PBX: %v", err)
	}
}
