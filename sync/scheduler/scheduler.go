// Package scheduler is the heart of pbx365 serve: it runs user sync (and the
// contact sync after it) on a schedule — once at start, then incremental runs
// every interval and a full reconcile at the nightly time — plus runs asked
// for by the admin or by change notifications. Runs never overlap; a failed
// run is retried with backoff; a run stopped by a guard leaves the scheduler
// waiting for the admin, who can allow the removals.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pbx365/pbx365/sync/plan"
	"github.com/pbx365/pbx365/sync/progress"
	"github.com/pbx365/pbx365/sync/users"
)

// UserSync is the user-sync engine.
type UserSync interface {
	Settle(ctx context.Context) (int, error)
	Plan(ctx context.Context, opt users.Options) (plan.Plan, *users.Snapshot, error)
	Apply(ctx context.Context, p plan.Plan, snap *users.Snapshot, opt users.ApplyOptions) (*users.Run, error)
}

// ExtraRun is another sync that follows each user run (contacts).
type ExtraRun func(ctx context.Context, full bool) (progress.Summary, error)

// Request asks for a run now.
type Request struct {
	Full          bool   // a full reconcile
	AllowRemovals bool   // the admin allows what the removal threshold stopped
	Reason        string // "admin", "notification", ...
}

// Result is what one scheduled run ended with.
type Result struct {
	Kind     string // "full" or "delta"
	Reason   string // "start", "interval", "nightly", "admin", "notification", "retry"
	Started  time.Time
	Finished time.Time
	Summary  progress.Summary
	Err      string // a run that could not start or finish
}

// Failed reports whether the run needs attention: an error, failed writes,
// or a guard.
func (r Result) Failed() bool {
	if r.Err != "" || r.Summary.Err != "" || r.Summary.Guard != nil {
		return true
	}
	for _, n := range r.Summary.Failed {
		if n > 0 {
			return true
		}
	}
	return false
}

// Status is the scheduler's state for status screens.
type Status struct {
	Since    time.Time
	Running  bool
	Current  *progress.Event // the latest event of the running run
	Last     *Result
	NextRun  time.Time
	NextFull time.Time
	Waiting  string // a guard's message while waiting for the admin
	Failures int    // consecutive failed runs
}

// NightlyFunc returns the next nightly reconcile strictly after t.
type NightlyFunc func(t time.Time) time.Time

// Scheduler runs syncs. Set the fields, then call Run.
type Scheduler struct {
	Users    UserSync
	Contacts ExtraRun // optional
	Interval time.Duration
	Nightly  NightlyFunc // nil: no nightly run
	Backoff  time.Duration
	Log      *slog.Logger
	OnEvent  func(progress.Event) // every event of every run (live stream)
	OnResult func(Result)         // every finished run (reports)
	RunLock  sync.Locker          // held during each run, shared with other appliers (optional)
	// Reload re-reads Interval and Nightly after the settings changed
	// (Reconfigure); nil: they stay as set.
	Reload func() (time.Duration, NightlyFunc, error)

	poke chan struct{}

	reqs chan Request
	once sync.Once

	mu     sync.Mutex
	status Status
}

func (s *Scheduler) init() {
	s.once.Do(func() {
		s.reqs = make(chan Request, 16)
		s.poke = make(chan struct{}, 1)
		if s.Log == nil {
			s.Log = slog.Default()
		}
		if s.Interval <= 0 {
			s.Interval = 5 * time.Minute
		}
		if s.Backoff <= 0 {
			s.Backoff = 30 * time.Second
		}
	})
}

// Trigger asks for a run as soon as the current one (if any) ends. Requests
// arriving while one waits are merged.
func (s *Scheduler) Trigger(r Request) {
	s.init()
	select {
	case s.reqs <- r:
	default: // already plenty queued: they are merged anyway
	}
}

// Reconfigure makes the scheduler re-read its interval and nightly time
// (through Reload) and reschedule.
func (s *Scheduler) Reconfigure() {
	s.init()
	select {
	case s.poke <- struct{}{}:
	default:
	}
}

// Status returns a copy of the scheduler's state.
func (s *Scheduler) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	if st.Current != nil {
		c := *st.Current
		st.Current = &c
	}
	if st.Last != nil {
		l := *st.Last
		st.Last = &l
	}
	return st
}

func (s *Scheduler) update(f func(*Status)) {
	s.mu.Lock()
	f(&s.status)
	s.mu.Unlock()
}

// Run schedules until ctx is done, then returns once the run in flight has
// settled its writes.
func (s *Scheduler) Run(ctx context.Context) error {
	s.init()
	now := time.Now()
	nextFull := time.Time{}
	if s.Nightly != nil {
		nextFull = s.Nightly(now)
	}
	s.update(func(st *Status) { st.Since, st.NextRun, st.NextFull = now, now, nextFull })
	nextRun, reason := now, "start"
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		due := nextRun
		full := false
		if !nextFull.IsZero() && !nextFull.After(due) {
			due, full = nextFull, true
		}
		timer.Reset(time.Until(due))
		var req *Request
		select {
		case <-ctx.Done():
			return nil
		case r := <-s.reqs:
			req = &r
		drain:
			for { // merge everything already queued
				select {
				case more := <-s.reqs:
					req.Full = req.Full || more.Full
					req.AllowRemovals = req.AllowRemovals || more.AllowRemovals
				default:
					break drain
				}
			}
		case <-s.poke:
			if s.Reload != nil {
				iv, nf, err := s.Reload()
				if err != nil {
					s.Log.Error("reload the schedule", "err", err)
					continue
				}
				last := nextRun.Add(-s.Interval)
				s.Interval, s.Nightly = iv, nf
				if iv > 0 && last.Add(iv).Before(nextRun) {
					nextRun = last.Add(iv)
				}
				nextFull = time.Time{}
				if nf != nil {
					nextFull = nf(time.Now())
				}
				s.update(func(st *Status) { st.NextRun, st.NextFull = nextRun, nextFull })
			}
			continue
		case <-timer.C:
		}
		allow := false
		switch {
		case req != nil:
			full, allow, reason = req.Full, req.AllowRemovals, req.Reason
		case full:
			reason = "nightly"
		}
		res := s.runOnce(ctx, full, allow, reason)
		now = time.Now()
		if full && s.Nightly != nil && (req == nil || !nextFull.After(now)) {
			nextFull = s.Nightly(now)
		}
		fails := 0
		s.update(func(st *Status) {
			st.Last = &res
			if res.Err != "" || failedWrites(res.Summary) {
				st.Failures++
			} else {
				st.Failures = 0
			}
			switch {
			case res.Summary.Guard != nil:
				st.Waiting = res.Summary.Guard.Message
			case res.Err == "":
				st.Waiting = ""
			}
			fails = st.Failures
		})
		if fails > 0 {
			nextRun, reason = now.Add(s.backoff(fails)), "retry"
		} else {
			nextRun, reason = now.Add(s.Interval), "interval"
		}
		s.update(func(st *Status) { st.NextRun, st.NextFull = nextRun, nextFull })
		if s.OnResult != nil {
			s.OnResult(res)
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// backoff doubles from Backoff with each consecutive failure, up to the
// interval.
func (s *Scheduler) backoff(fails int) time.Duration {
	d := s.Backoff
	for i := 1; i < fails && d < s.Interval; i++ {
		d *= 2
	}
	return min(d, s.Interval)
}

func failedWrites(sum progress.Summary) bool {
	for _, n := range sum.Failed {
		if n > 0 {
			return true
		}
	}
	return sum.Err != ""
}

// runOnce runs user sync (and the extra run) once.
func (s *Scheduler) runOnce(ctx context.Context, full, allow bool, reason string) (res Result) {
	kind := "delta"
	if full {
		kind = "full"
	}
	res = Result{Kind: kind, Reason: reason, Started: time.Now()}
	s.update(func(st *Status) { st.Running, st.Current = true, nil })
	defer s.update(func(st *Status) { st.Running = false })
	defer func() { res.Finished = time.Now() }()
	if s.RunLock != nil {
		s.RunLock.Lock()
		defer s.RunLock.Unlock()
	}
	s.Log.Info("sync run starting", "kind", kind, "reason", reason)
	sum, err := s.userRun(ctx, full, allow)
	res.Summary = sum
	if err != nil {
		res.Err = err.Error()
		s.Log.Error("sync run failed", "kind", kind, "err", err)
		return res
	}
	if sum.Guard != nil {
		s.Log.Warn("sync run stopped by a guard: waiting for the admin", "guard", sum.Guard.Kind, "message", sum.Guard.Message)
		return res
	}
	s.Log.Info("sync run finished", "kind", kind, "done", sum.Done, "failed", sum.Failed, "skipped", sum.Skipped, "conflicts", sum.Conflict)
	if s.Contacts != nil && ctx.Err() == nil {
		csum, err := s.Contacts(ctx, full)
		if err != nil {
			res.Err = fmt.Sprintf("contacts: %v", err)
			s.Log.Error("contact sync failed", "err", err)
		} else if failedWrites(csum) {
			res.Err = "contacts: some writes failed"
		}
	}
	return res
}

func (s *Scheduler) userRun(ctx context.Context, full, allow bool) (progress.Summary, error) {
	if _, err := s.Users.Settle(ctx); err != nil {
		return progress.Summary{}, fmt.Errorf("settle: %w", err)
	}
	p, snap, err := s.Users.Plan(ctx, users.Options{Full: full})
	if err != nil {
		return progress.Summary{}, fmt.Errorf("plan: %w", err)
	}
	run, err := s.Users.Apply(ctx, p, snap, users.ApplyOptions{AllowRemovals: allow})
	if err != nil {
		return progress.Summary{}, fmt.Errorf("apply: %w", err)
	}
	var sum progress.Summary
	for ev := range run.Events() {
		e := ev
		s.update(func(st *Status) { st.Current = &e })
		if s.OnEvent != nil {
			s.OnEvent(ev)
		}
		if ev.Summary != nil {
			sum = *ev.Summary
		}
	}
	run.Wait()
	if sum.Canceled && ctx.Err() != nil {
		return sum, errors.New("stopped by shutdown after in-flight writes settled")
	}
	return sum, nil
}
