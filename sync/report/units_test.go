package report

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pbx365/pbx365/graphclient"
	"github.com/pbx365/pbx365/store"
	"github.com/pbx365/pbx365/sync/app/apptest"
	"github.com/pbx365/pbx365/sync/plan"
	"github.com/pbx365/pbx365/sync/progress"
	"github.com/pbx365/pbx365/sync/scheduler"
)

func TestProblemKeysStayTheSameWhenOnlyIDsAndNumbersChange(t *testing.T) {
	same := [][2]string{
		{`plan: list users: Get "https://127.0.0.1:4431/v1.0/users": dial tcp 127.0.0.1:4431: connect: connection refused`,
			`plan: list users: Get "https://127.0.0.1:39999/v1.0/users": dial tcp 127.0.0.1:39999: connect: connection refused`},
		{"apply: user 0c8a7b52-3b43-4f7e-9d1a-1f0e2d3c4b5a: Forbidden\nrequest-id: 1", "Apply: user 11111111-2222-3333-4444-555555555555: forbidden"},
	}
	for _, c := range same {
		if a, b := normalizeError(c[0]), normalizeError(c[1]); a != b {
			t.Errorf("keys differ:\n%s\n%s", a, b)
		}
	}
	if normalizeError("settle: PBX login failed") == normalizeError("plan: list users: 403") {
		t.Error("different errors share a key")
	}
	long := normalizeError(strings.Repeat("é", 300))
	if len(long) > maxKeyText || !utf8.ValidString(long) {
		t.Errorf("long key: %d bytes, valid %v", len(long), utf8.ValidString(long))
	}
}

func TestProblemsOf(t *testing.T) {
	if ps := problemsOf(scheduler.Result{Summary: progress.Summary{Done: map[plan.Action]int{plan.ActCreate: 3}, Skipped: 2}}); len(ps) != 0 {
		t.Fatalf("a good run has problems: %+v", ps)
	}
	res := scheduler.Result{
		Err: "contacts: some writes failed",
		Summary: progress.Summary{RunID: 9, Failed: map[plan.Action]int{plan.ActUpdate: 1},
			Err: "contacts: some writes failed"},
	}
	ps := problemsOf(res)
	if len(ps) != 2 || ps[0].Key != keyFailedWrites || ps[1].Key != keyError+"contacts: some writes failed" || ps[0].Title != "1 write failed" {
		t.Fatalf("problems %+v", ps)
	}
	for kind, want := range map[string]string{
		plan.GuardRemovalThreshold: "--allow-removals",
		plan.GuardEmptyDirectory:   "nothing was removed",
		plan.GuardEmptyPBX:         "The PBX listed no users",
		plan.GuardInvalidSettings:  "pbx365 config set KEY VALUE",
		"something_new":            "pbx365 sync --dry-run",
	} {
		ps := problemsOf(scheduler.Result{Summary: progress.Summary{Guard: &plan.Guard{Kind: kind, Message: "stopped"}}})
		if len(ps) != 1 || ps[0].Key != keyGuard+kind || !strings.Contains(strings.Join(ps[0].Steps, "\n"), want) {
			t.Errorf("guard %s: %+v, want a to-do with %q", kind, ps, want)
		}
	}
}

func TestScrubRemovesCredentials(t *testing.T) {
	jwt := "eyJhbGciOiJSUzI1NiJ9.eyJyb2xlcyI6WyJNYWlsLlNlbmQiXX0.c2lnbmF0dXJl"
	in := fmt.Sprintf("token %s rejected; Authorization: Bearer abc.def; POST /connect/token client_secret=hunter2&grant_type=x; ?code=xyz", jwt)
	out := scrub(in)
	for _, secret := range []string{jwt, "abc.def", "hunter2", "xyz"} {
		if strings.Contains(out, secret) {
			t.Errorf("%q left in %q", secret, out)
		}
	}
	if !strings.Contains(out, "grant_type=x") || !strings.Contains(out, "client_secret=[removed]") {
		t.Errorf("scrubbed too much or too little: %q", out)
	}
	// Error texts pass through scrub into the mail.
	_, body := composeAlert(alertInput{Host: "h", Now: time.Now(), Result: scheduler.Result{Err: in}, Problems: problemsOf(scheduler.Result{Err: in})})
	if strings.Contains(body, "hunter2") || strings.Contains(body, jwt) {
		t.Errorf("a secret reached the mail:\n%s", body)
	}
}

func TestClipAndHTML(t *testing.T) {
	s := clip(strings.Repeat("ü", 100), 21)
	if len(s) > 21 || !utf8.ValidString(s) || !strings.HasSuffix(s, "…") {
		t.Errorf("clip: %q (%d bytes)", s, len(s))
	}
	if h := toHTML("a <b> & c"); !strings.Contains(h, "a &lt;b&gt; &amp; c") {
		t.Errorf("html %q", h)
	}
}

// fakeMailer records messages (only for tests of the queue, which need no Graph).
type fakeMailer struct{ sent []graphclient.Message }

func (f *fakeMailer) SendMail(_ context.Context, m graphclient.Message) error {
	f.sent = append(f.sent, m)
	return nil
}

// Results queued when the service stops are still mailed; a full queue drops
// with a warning instead of blocking the scheduler.
func TestRunFlushesTheQueueAtShutdownAndOnResultNeverBlocks(t *testing.T) {
	s, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.SetMany(map[string]string{"mail.from": "pbx@example.com", "mail.to": "a@example.com"}); err != nil {
		t.Fatal(err)
	}
	fm := &fakeMailer{}
	logs := &apptest.LogBuffer{}
	r, err := New(Config{Store: s, Queue: 2, Log: slog.New(slog.NewTextHandler(logs, nil)),
		Mailer: func(context.Context) (Mailer, error) { return fm, nil }})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r.OnResult(scheduler.Result{Err: "first problem"})
	r.OnResult(scheduler.Result{Summary: progress.Summary{Guard: &plan.Guard{Kind: plan.GuardEmptyPBX, Message: "empty"}}})
	r.OnResult(scheduler.Result{Err: "third problem"}) // the queue holds 2
	r.OnResult(scheduler.Result{Kind: "delta"})        // a good run is not even queued
	if time.Since(start) > time.Second {
		t.Error("OnResult blocked")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if len(fm.sent) != 2 || !strings.Contains(fm.sent[0].Subject, "first problem") || !strings.Contains(fm.sent[1].Subject, "empty pbx") {
		t.Fatalf("flushed %+v", fm.sent)
	}
	if !strings.Contains(logs.String(), "dropped") {
		t.Errorf("no warning for the dropped result:\n%s", logs.String())
	}
	if _, err := New(Config{Store: s}); err == nil {
		t.Error("New without a mailer")
	}
	if _, err := New(Config{Mailer: func(context.Context) (Mailer, error) { return nil, errors.New("x") }}); err == nil {
		t.Error("New without a store")
	}
}
