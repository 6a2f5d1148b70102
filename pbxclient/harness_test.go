package pbxclient

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pbx365/pbx365/pbxclient/pbxsim"
)

// newSim starts a simulated 3CX over HTTPS on loopback.
func newSim(t testing.TB, opts pbxsim.Options) *pbxsim.Sim {
	t.Helper()
	s := pbxsim.New(opts)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// newClient is an XAPI client for s, trusting its CA, with short backoffs.
func newClient(t testing.TB, s *pbxsim.Sim, mod func(*Config)) *XAPI {
	t.Helper()
	cfg := Config{URL: s.URL(), ClientID: s.ClientID(), Secret: s.Secret(), CAPEM: s.CACertPEM(),
		Timeout: 5 * time.Second, Logger: testLogger()}
	if mod != nil {
		mod(&cfg)
	}
	x, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	x.backoffBase, x.backoffMax = 5*time.Millisecond, 40*time.Millisecond
	t.Cleanup(x.Close)
	return x
}

func testLogger() *slog.Logger {
	lvl := slog.LevelError
	if os.Getenv("PBXCLIENT_DEBUG") != "" {
		lvl = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// apiRequests are the requests s logged below /xapi/v1 with that method
// ("" any) and path prefix (after /xapi/v1/).
func apiRequests(s *pbxsim.Sim, method, prefix string) []pbxsim.Request {
	var out []pbxsim.Request
	for _, r := range s.Requests() {
		if (method == "" || r.Method == method) && strings.HasPrefix(r.Path, "/xapi/v1/"+prefix) {
			out = append(out, r)
		}
	}
	return out
}

// eventually polls cond for up to 2s: the simulator logs a request when its
// handler returns, which for an abandoned request is a little after the
// client gave up.
func eventually(cond func() bool) bool {
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}
