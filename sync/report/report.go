// Package report mails pbx365's reports and alerts through Graph sendMail
// (permission Mail.Send), from the mailbox mail.from to the recipients
// mail.to.
//
// After a scheduled run that needs attention — writes failed, a guard
// stopped it, or it could not run at all — the Reporter mails what happened
// (kind, time, counts, the guard's message, up to MaxItems failed items with
// their errors from the run's audit log) and what to do. Each problem has a
// key ("guard/removal_threshold", "failed-writes", "error/<first line of the
// error, normalized>"); a problem is mailed at most once per local calendar
// day. When a key was last mailed is kept in the store's alerts bucket
// (store.Alert), so a restart does not mail again; a mail Graph refused is not
// recorded, so the next occurrence of a problem tries again.
//
// An optional daily summary (Config.DailySummary, off by default) is mailed
// after the first nightly full reconcile of each day: the runs since the
// previous summary by status, the changes they made, and the alerts of the day.
//
// With mail.from or mail.to unset, reports are off: Run logs that once, and
// results are dropped quietly. The settings are read at each mail, so setting
// them takes effect without a restart.
package report

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/pbx365/pbx365/graphclient"
	"github.com/pbx365/pbx365/store"
	"github.com/pbx365/pbx365/sync/scheduler"
)

// Mailer sends one message (*graphclient.Client is one).
type Mailer interface {
	SendMail(ctx context.Context, m graphclient.Message) error
}

// Defaults of Config.
const (
	DefaultMaxItems = 20
	DefaultQueue    = 32
	// flushTimeout bounds the mails still queued when Run's context ends.
	flushTimeout = 10 * time.Second
	// keepAlerts is how long an alert record is kept after its last mail.
	keepAlerts = 30 * 24 * time.Hour
)

// Config sets up a Reporter.
type Config struct {
	Store *store.Store // settings mail.from / mail.to, the audit log, the alert records (required)
	// Mailer returns the client that sends (required); in serve:
	// func(ctx context.Context) (report.Mailer, error) { return a.Graph(ctx) }.
	Mailer func(ctx context.Context) (Mailer, error)
	Log    *slog.Logger // nil: slog.Default()
	// Now is the clock (nil: time.Now). Days are the calendar days of
	// Now's location.
	Now func() time.Time
	// DailySummary mails a summary after the first nightly full reconcile
	// of each day (off by default; there is no setting for it yet).
	DailySummary bool
	MaxItems     int    // failed items listed per mail (0: DefaultMaxItems)
	Queue        int    // results waiting to be mailed (0: DefaultQueue); more are dropped with a warning
	Host         string // the machine named in the mails ("": os.Hostname)
	HTML         bool   // send an HTML body (the same text, escaped) instead of plain text
}

// Reporter turns scheduler results into mails. Make it with New, start Run,
// and set scheduler.OnResult = reporter.OnResult.
type Reporter struct {
	cfg   Config
	queue chan scheduler.Result
	// afterHandle, when set (tests), is called after each result is handled.
	afterHandle func(scheduler.Result)
}

// New checks cfg and makes a Reporter.
func New(cfg Config) (*Reporter, error) {
	if cfg.Store == nil {
		return nil, errors.New("report: a store is required")
	}
	if cfg.Mailer == nil {
		return nil, errors.New("report: a mailer is required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxItems <= 0 {
		cfg.MaxItems = DefaultMaxItems
	}
	if cfg.Queue <= 0 {
		cfg.Queue = DefaultQueue
	}
	if cfg.Host == "" {
		if h, err := os.Hostname(); err == nil {
			cfg.Host = h
		} else {
			cfg.Host = "this machine"
		}
	}
	return &Reporter{cfg: cfg, queue: make(chan scheduler.Result, cfg.Queue)}, nil
}

// OnResult queues a finished run for Run to report; it never blocks (a full
// queue drops the result with a warning). Set scheduler.OnResult to it.
func (r *Reporter) OnResult(res scheduler.Result) {
	if !res.Failed() && !(r.cfg.DailySummary && res.Reason == "nightly") {
		return
	}
	select {
	case r.queue <- res:
	default:
		r.cfg.Log.Warn("report: too many results waiting to be mailed; this one is dropped", "kind", res.Kind, "run", res.Summary.RunID)
	}
}

// Run mails the queued results until ctx ends, then tries the ones still
// queued for up to 10 seconds. It logs once whether reports are on.
func (r *Reporter) Run(ctx context.Context) error {
	if from, to, err := r.recipients(); err != nil {
		r.cfg.Log.Error("report: read the mail settings", "err", err)
	} else if from == "" || len(to) == 0 {
		r.cfg.Log.Info("reports by mail are off: set mail.from and mail.to to receive alerts")
	} else {
		r.cfg.Log.Info("reports by mail are on", "from", from, "to", to, "daily_summary", r.cfg.DailySummary)
	}
	for {
		select {
		case res := <-r.queue:
			r.handle(ctx, res)
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
			defer cancel()
			for {
				select {
				case res := <-r.queue:
					r.handle(fctx, res)
				default:
					return nil
				}
			}
		}
	}
}

// recipients reads mail.from and mail.to.
func (r *Reporter) recipients() (string, []string, error) {
	s, err := r.cfg.Store.Settings()
	if err != nil {
		return "", nil, err
	}
	return s.Mail.From, s.Mail.To, nil
}

// handle mails what one result calls for. Failures are logged, never
// returned: reports must not disturb the service.
func (r *Reporter) handle(ctx context.Context, res scheduler.Result) {
	defer func() {
		if r.afterHandle != nil {
			r.afterHandle(res)
		}
	}()
	from, to, err := r.recipients()
	if err != nil {
		r.cfg.Log.Error("report: read the mail settings", "err", err)
		return
	}
	if from == "" || len(to) == 0 {
		r.cfg.Log.Debug("report: mail.from or mail.to unset; nothing mailed", "run", res.Summary.RunID)
		return
	}
	now := r.cfg.Now()
	if res.Failed() {
		r.alert(ctx, from, to, res, now)
	}
	if r.cfg.DailySummary && res.Reason == "nightly" {
		r.summary(ctx, from, to, res, now)
	}
	if _, err := r.cfg.Store.PruneAlerts(now.Add(-keepAlerts)); err != nil {
		r.cfg.Log.Warn("report: prune old alert records", "err", err)
	}
}

// alert mails the result's problems that were not mailed today, and counts
// the repeats of those that were.
func (r *Reporter) alert(ctx context.Context, from string, to []string, res scheduler.Result, now time.Time) {
	var due []problem
	for _, p := range problemsOf(res) {
		a, ok, err := r.cfg.Store.Alert(p.Key)
		if err != nil {
			r.cfg.Log.Error("report: read alert record", "key", p.Key, "err", err)
			continue
		}
		if ok && sameDay(a.Sent, now) {
			a.Repeats++
			if err := r.cfg.Store.PutAlert(a); err != nil {
				r.cfg.Log.Warn("report: count a repeated alert", "key", p.Key, "err", err)
			}
			r.cfg.Log.Info("report: already mailed today; not again", "problem", p.Key, "last_sent", a.Sent.In(now.Location()).Format(time.RFC3339))
			continue
		}
		if ok {
			p.Repeats = a.Repeats
		}
		due = append(due, p)
	}
	if len(due) == 0 {
		return
	}
	items, total, err := r.failedItems(res.Summary.RunID)
	if err != nil {
		r.cfg.Log.Warn("report: read the run's failed items", "run", res.Summary.RunID, "err", err)
	}
	subject, body := composeAlert(alertInput{Host: r.cfg.Host, Result: res, Problems: due, Items: items, ItemsTotal: total, Now: now})
	if !r.send(ctx, from, to, subject, body) {
		return
	}
	for _, p := range due {
		if err := r.cfg.Store.PutAlert(store.Alert{Key: p.Key, Sent: now, Subject: subject}); err != nil {
			r.cfg.Log.Error("report: record the mailed alert (it may be mailed again today)", "key", p.Key, "err", err)
		}
	}
}

// send mails one message; false (logged) when it could not.
func (r *Reporter) send(ctx context.Context, from string, to []string, subject, body string) bool {
	m, err := r.cfg.Mailer(ctx)
	if err != nil {
		r.cfg.Log.Error("report: no Graph client to send mail; the next problem tries again", "err", err)
		return false
	}
	msg := graphclient.Message{From: from, To: to, Subject: subject, Body: body}
	if r.cfg.HTML {
		msg.Body, msg.HTML = toHTML(body), true
	}
	if err := m.SendMail(ctx, msg); err != nil {
		r.cfg.Log.Error("report: mail not sent; the next problem tries again (is Mail.Send consented? `pbx365 check`)", "subject", subject, "err", err)
		return false
	}
	r.cfg.Log.Info("report mailed", "subject", subject, "to", to)
	return true
}

// failedItems returns up to MaxItems failed audit items of a run, newest
// first, and how many failed items the run has.
func (r *Reporter) failedItems(run uint64) ([]store.RunItem, int, error) {
	if run == 0 {
		return nil, 0, nil
	}
	var out []store.RunItem
	total := 0
	q := store.AuditQuery{Run: run, Limit: 1000}
	for {
		page, err := r.cfg.Store.Audit(q)
		if err != nil {
			return out, total, fmt.Errorf("audit of run %d: %w", run, err)
		}
		for _, it := range page.Items {
			if it.Result != store.ResultFailed {
				continue
			}
			total++
			if len(out) < r.cfg.MaxItems {
				out = append(out, it)
			}
		}
		if page.Next == 0 {
			return out, total, nil
		}
		q.Before = page.Next
	}
}

// sameDay reports whether a and b fall on the same calendar day in b's
// location.
func sameDay(a, b time.Time) bool {
	a = a.In(b.Location())
	ay, am, ad := a.Date()
	by, bm, bd := b.Date()
	return ay == by && am == bm && ad == bd
}
