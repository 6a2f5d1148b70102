package report

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbx365/pbx365/graphclient/m365sim"
	"github.com/pbx365/pbx365/pbxclient/pbxsim"
	"github.com/pbx365/pbx365/sync/app"
	"github.com/pbx365/pbx365/sync/app/apptest"
	"github.com/pbx365/pbx365/sync/scheduler"
)

// clock is the reporter's injected clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

const admin = "admin@example.com"

// env is both simulators, a configured data directory, and a running
// Reporter that mails through the real graphclient over HTTPS.
type env struct {
	sims    *app.Sims
	app     *app.App
	rep     *Reporter
	clock   *clock
	logs    *apptest.LogBuffer
	from    string
	handled chan scheduler.Result
}

// newEnv starts everything; mail sets mail.from / mail.to.
func newEnv(t *testing.T, users int, mail bool, settings map[string]string, tweak func(*Config)) *env {
	t.Helper()
	sims, a := apptest.Open(t, app.SimOptions{Seed: 5, Users: users}, nil)
	e := &env{sims: sims, app: a, logs: &apptest.LogBuffer{}, handled: make(chan scheduler.Result, 16),
		clock: &clock{now: time.Date(2026, 11, 25, 10, 0, 0, 0, time.FixedZone("CET", 3600))}}
	for _, u := range sims.M365.Users() {
		if u.Mailbox == m365sim.MailboxUser && u.Mail != "" && u.AccountEnabled && u.DeletedDateTime.IsZero() {
			e.from = u.Mail
			break
		}
	}
	if e.from == "" {
		t.Fatal("the simulated tenant has no user with a mailbox")
	}
	if mail {
		if err := a.Store.SetMany(map[string]string{"mail.from": e.from, "mail.to": admin}); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Store.SetMany(settings); err != nil {
		t.Fatal(err)
	}
	a.Log = slog.New(slog.NewTextHandler(e.logs, nil))
	cfg := Config{
		Store:  a.Store,
		Mailer: func(ctx context.Context) (Mailer, error) { return a.Graph(ctx) },
		Log:    a.Log,
		Now:    e.clock.Now,
		Host:   "pbx1",
	}
	if tweak != nil {
		tweak(&cfg)
	}
	var err error
	if e.rep, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	e.rep.afterHandle = func(res scheduler.Result) { e.handled <- res }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.rep.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return e
}

// report hands res to the Reporter as the scheduler does and waits until it
// has been handled.
func (e *env) report(t *testing.T, res scheduler.Result) {
	t.Helper()
	e.rep.OnResult(res)
	select {
	case <-e.handled:
	case <-time.After(30 * time.Second):
		t.Fatal("the result was not handled")
	}
}

// scheduler runs the real scheduler on the user-sync engine; its results go
// to the Reporter and to the returned channel (after the Reporter handled them).
func (e *env) scheduler(t *testing.T) (*scheduler.Scheduler, <-chan scheduler.Result) {
	t.Helper()
	eng, err := e.app.Users(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan scheduler.Result, 16)
	sch := &scheduler.Scheduler{Users: eng, Interval: time.Hour, Backoff: time.Hour, Log: e.app.Log,
		OnResult: func(res scheduler.Result) {
			e.rep.OnResult(res)
			if res.Failed() || (e.rep.cfg.DailySummary && res.Reason == "nightly") {
				<-e.handled
			}
			out <- res
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { sch.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return sch, out
}

func next(t *testing.T, ch <-chan scheduler.Result) scheduler.Result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(90 * time.Second):
		t.Fatal("no run finished")
	}
	return scheduler.Result{}
}

func wantContains(t *testing.T, what, text string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(text, p) {
			t.Errorf("%s lacks %q:\n%s", what, p, text)
		}
	}
}

// A run whose PBX writes fail mails once, with the failed items from the
// audit log and what to do; the same problem again that day mails nothing;
// the next day it mails again and says how often it came back.
func TestFailedRunMailsOnceADay(t *testing.T) {
	e := newEnv(t, 20, true, nil, func(c *Config) { c.MaxItems = 3 })
	e.sims.PBX.AddFault(pbxsim.Fault{Kind: pbxsim.FaultStatus, Status: http.StatusBadRequest, Method: "POST", PathPrefix: "/xapi/v1/Users", Count: 1000})
	_, results := e.scheduler(t)
	res := next(t, results)
	failed := failedCount(res.Summary.Failed)
	if failed < 4 || res.Summary.RunID == 0 {
		t.Fatalf("first run %+v: want failed creates (at least 4) and a run id", res.Summary)
	}
	sent := e.sims.M365.SentMail()
	if len(sent) != 1 {
		t.Fatalf("%d mails after a failed run, want 1", len(sent))
	}
	m := sent[0]
	if m.From != e.from || strings.Join(m.To, ",") != admin || m.ContentType != "text" || m.SaveToSentItems {
		t.Fatalf("mail %+v", m)
	}
	wantContains(t, "subject", m.Subject, "pbx365 on pbx1:", "writes failed")
	run := res.Summary.RunID
	wantContains(t, "body", m.Body,
		"WHAT HAPPENED", "Run 1, incremental (delta) sync (start)", "writes to the PBX failed.", "Failed: create ",
		"FAILED ITEMS (3 of ", "create ", "`pbx365 log --run "+strconv.FormatUint(run, 10)+"`",
		"WHAT TO DO", "`pbx365 check`", "at most once a day")
	if strings.Count(m.Body, "\n  create ") != 3 {
		t.Errorf("want exactly 3 failed items listed:\n%s", m.Body)
	}
	a, ok, err := e.app.Store.Alert(keyFailedWrites)
	if err != nil || !ok || !a.Sent.Equal(e.clock.Now()) || a.Subject != m.Subject {
		t.Fatalf("alert record %+v %v %v", a, ok, err)
	}

	// The same problem later that day: no mail, one repeat counted.
	e.clock.Advance(13 * time.Hour) // 23:00 local
	e.report(t, res)
	if n := len(e.sims.M365.SentMail()); n != 1 {
		t.Fatalf("%d mails after the same problem the same day, want 1", n)
	}
	if a, _, _ := e.app.Store.Alert(keyFailedWrites); a.Repeats != 1 {
		t.Errorf("repeats %d, want 1", a.Repeats)
	}
	wantContains(t, "log", e.logs.String(), "already mailed today")

	// The next day (01:00 local, two hours later): mailed again.
	e.clock.Advance(2 * time.Hour)
	e.report(t, res)
	sent = e.sims.M365.SentMail()
	if len(sent) != 2 {
		t.Fatalf("%d mails the next day, want 2", len(sent))
	}
	wantContains(t, "second mail", sent[1].Body, "came back 1 more time")
	if a, _, _ := e.app.Store.Alert(keyFailedWrites); a.Repeats != 0 || !a.Sent.Equal(e.clock.Now()) {
		t.Errorf("record after the second mail %+v", a)
	}
}

// A run stopped by the removal threshold mails the guard's message and what
// to do about it.
func TestGuardStopMailsTheGuardAndTheNextSteps(t *testing.T) {
	e := newEnv(t, 30, true, map[string]string{"users.max_removals": "1"}, nil)
	sch, results := e.scheduler(t)
	if first := next(t, results); first.Failed() {
		t.Fatalf("first run failed: %+v", first)
	}
	if n := len(e.sims.M365.SentMail()); n != 0 {
		t.Fatalf("%d mails after a good run", n)
	}
	n := 0
	for _, u := range e.sims.M365.Users() {
		if u.UserType == "Member" && u.AccountEnabled && n < 2 {
			if err := e.sims.M365.DisableUser(u.ID); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	sch.Trigger(scheduler.Request{Reason: "notification"})
	res := next(t, results)
	if res.Summary.Guard == nil {
		t.Fatalf("run %+v: want a guard", res.Summary)
	}
	sent := e.sims.M365.SentMail()
	if len(sent) != 1 {
		t.Fatalf("%d mails after a guard stop, want 1", len(sent))
	}
	m := sent[0]
	wantContains(t, "subject", m.Subject, "stopped by a guard (removal threshold)")
	wantContains(t, "body", m.Body, res.Summary.Guard.Message, "It would disable or delete 2 extensions; users.max_removals allows 1.",
		"`pbx365 sync --allow-removals`", "TUI (`pbx365`)", "users.scope")
	if strings.Contains(m.Body, "FAILED ITEMS") {
		t.Errorf("a guard stop has no failed items:\n%s", m.Body)
	}
	// The scheduler runs again while it waits for the admin: no second mail today.
	sch.Trigger(scheduler.Request{Reason: "interval"})
	if r := next(t, results); r.Summary.Guard == nil {
		t.Fatalf("second run %+v: want the guard again", r.Summary)
	}
	if n := len(e.sims.M365.SentMail()); n != 1 {
		t.Fatalf("%d mails after the guard again, want 1", n)
	}
}

// Without mail.from / mail.to nothing is sent, reports say once that they are
// off, and nothing is recorded.
func TestUnsetMailSendsNothing(t *testing.T) {
	e := newEnv(t, 10, false, nil, nil)
	res := scheduler.Result{Kind: "delta", Reason: "interval", Started: e.clock.Now(), Finished: e.clock.Now(), Err: "plan: list users: connection refused"}
	e.report(t, res)
	e.report(t, res)
	if n := len(e.sims.M365.SentMail()); n != 0 {
		t.Fatalf("%d mails with mail.* unset", n)
	}
	if c := strings.Count(e.logs.String(), "reports by mail are off"); c != 1 {
		t.Errorf("%d 'off' lines, want 1:\n%s", c, e.logs.String())
	}
	if strings.Contains(e.logs.String(), "level=ERROR") {
		t.Errorf("errors logged with mail.* unset:\n%s", e.logs.String())
	}
	if as, err := e.app.Store.Alerts(); err != nil || len(as) != 0 {
		t.Errorf("alerts recorded: %v %v", as, err)
	}
	// Only mail.from set is still off.
	if _, err := e.app.Store.Set("mail.from", e.from); err != nil {
		t.Fatal(err)
	}
	e.report(t, res)
	if n := len(e.sims.M365.SentMail()); n != 0 {
		t.Fatalf("%d mails with mail.to unset", n)
	}
	// Setting mail.to turns reports on without a restart.
	if _, err := e.app.Store.Set("mail.to", admin); err != nil {
		t.Fatal(err)
	}
	e.report(t, res)
	sent := e.sims.M365.SentMail()
	if len(sent) != 1 {
		t.Fatalf("%d mails once mail.* is set, want 1", len(sent))
	}
	wantContains(t, "error mail", sent[0].Subject, "the sync could not run: plan: list users: connection refused")
	wantContains(t, "error mail", sent[0].Body, "Incremental (delta) sync (interval)", "`pbx365 check`")
}

// Graph refusing sendMail (Mail.Send revoked) is logged, the service goes on,
// and the alert is not recorded: the next problem mails again.
func TestMailSendRevokedIsLoggedAndRetried(t *testing.T) {
	e := newEnv(t, 10, true, nil, nil)
	e.sims.M365.Revoke("Mail.Send")
	res := scheduler.Result{Kind: "full", Reason: "nightly", Started: e.clock.Now(), Finished: e.clock.Now(), Err: "settle: PBX 127.0.0.1:4431 answered 503"}
	e.report(t, res)
	if n := len(e.sims.M365.SentMail()); n != 0 {
		t.Fatalf("%d mails without Mail.Send", n)
	}
	wantContains(t, "log", e.logs.String(), "mail not sent", "Mail.Send")
	if _, ok, _ := e.app.Store.Alert(keyError + normalizeError(res.Err)); ok {
		t.Fatal("a refused mail was recorded as sent")
	}
	// Consent restored (a new token): the same problem, even the same day, mails now.
	e.sims.M365.Grant("Mail.Send")
	e.app.Reset()
	res.Err = "settle: PBX 127.0.0.1:5999 answered 503" // another port: the same problem
	e.report(t, res)
	sent := e.sims.M365.SentMail()
	if len(sent) != 1 {
		t.Fatalf("%d mails after consent came back, want 1", len(sent))
	}
	if _, ok, _ := e.app.Store.Alert(keyError + normalizeError("settle: PBX 127.0.0.1:4431 answered 503")); !ok {
		t.Error("the problem key changed with the port")
	}
}

// The daily summary, when enabled, follows the first nightly reconcile of a
// day, once a day; it is off by default.
func TestDailySummary(t *testing.T) {
	e := newEnv(t, 20, true, nil, func(c *Config) { c.DailySummary = true; c.HTML = true })
	sch, results := e.scheduler(t)
	first := next(t, results)
	if first.Failed() {
		t.Fatalf("first run failed: %+v", first)
	}
	sch.Trigger(scheduler.Request{Full: true, Reason: "nightly"})
	nightly := next(t, results)
	if nightly.Failed() || nightly.Reason != "nightly" {
		t.Fatalf("nightly run %+v", nightly)
	}
	sent := e.sims.M365.SentMail()
	if len(sent) != 1 {
		t.Fatalf("%d mails after the nightly run, want the summary", len(sent))
	}
	m := sent[0]
	created := first.Summary.Done["create"]
	if created == 0 {
		t.Fatalf("first run created nothing: %+v", first.Summary)
	}
	wantContains(t, "summary subject", m.Subject, "pbx365 on pbx1: daily summary 2026-11-25, 2 runs, all runs ok")
	wantContains(t, "summary body", m.Body, "<pre", "RUNS", "2 in all: ok 2.", "users/full 2",
		"CHANGES MADE", "create "+strconv.Itoa(created), "Last: Run "+strconv.FormatUint(nightly.Summary.RunID, 10)+", full reconcile (nightly)")
	if m.ContentType != "html" || strings.Contains(m.Body, "<script") {
		t.Errorf("content type %s", m.ContentType)
	}
	// Another nightly the same day: no second summary.
	sch.Trigger(scheduler.Request{Full: true, Reason: "nightly"})
	next(t, results)
	if n := len(e.sims.M365.SentMail()); n != 1 {
		t.Fatalf("%d mails after a second nightly the same day", n)
	}
	// The next day: a summary of the runs since the last one, with the day's alerts.
	e.clock.Advance(24 * time.Hour)
	e.report(t, scheduler.Result{Kind: "delta", Reason: "retry", Started: e.clock.Now(), Finished: e.clock.Now(), Err: "plan: token expired"})
	e.report(t, scheduler.Result{Kind: "full", Reason: "nightly", Started: e.clock.Now(), Finished: e.clock.Now()})
	sent = e.sims.M365.SentMail()
	if len(sent) != 3 {
		t.Fatalf("%d mails the next day, want the alert and the summary", len(sent))
	}
	wantContains(t, "second summary", sent[2].Subject, "daily summary 2026-11-26")
	wantContains(t, "second summary", sent[2].Body, "ALERTS MAILED", "the sync could not run: plan: token expired")

	// Off by default: a nightly run mails nothing.
	off := newEnv(t, 10, true, nil, nil)
	off.rep.OnResult(scheduler.Result{Kind: "full", Reason: "nightly"})
	off.report(t, scheduler.Result{Kind: "full", Reason: "nightly", Err: "x"}) // handled after the first, if it was queued
	if sent := off.sims.M365.SentMail(); len(sent) != 1 || strings.Contains(sent[0].Subject, "summary") {
		t.Fatalf("summary off: mails %+v", sent)
	}
}
