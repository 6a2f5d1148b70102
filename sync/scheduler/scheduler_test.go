package scheduler_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/pbx365/pbx365/sync/app"
	"github.com/pbx365/pbx365/sync/app/apptest"
	"github.com/pbx365/pbx365/sync/scheduler"
)

func setup(t *testing.T, n int, settings map[string]string) (*app.Sims, *app.App) {
	t.Helper()
	return apptest.Open(t, app.SimOptions{Seed: 11, Users: n}, settings)
}

type results struct {
	mu  sync.Mutex
	all []scheduler.Result
	ch  chan scheduler.Result
}

func (r *results) add(x scheduler.Result) {
	r.mu.Lock()
	r.all = append(r.all, x)
	r.mu.Unlock()
	r.ch <- x
}

func (r *results) next(t *testing.T) scheduler.Result {
	t.Helper()
	select {
	case x := <-r.ch:
		return x
	case <-time.After(60 * time.Second):
		t.Fatal("no run finished")
	}
	return scheduler.Result{}
}

func TestGuardWaitsForTheAdminAndFailuresBackOff(t *testing.T) {
	sims, a := setup(t, 40, map[string]string{"users.max_removals": "1"})
	eng, err := a.Users(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	res := &results{ch: make(chan scheduler.Result, 100)}
	sch := &scheduler.Scheduler{Users: eng, Interval: time.Hour, Backoff: 200 * time.Millisecond, OnResult: res.add}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { sch.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	first := res.next(t)
	if first.Reason != "start" || first.Failed() {
		t.Fatalf("first run %+v", first)
	}
	if st := sch.Status(); st.NextRun.Sub(first.Finished) < 59*time.Minute {
		t.Errorf("next run at %s, want an interval after the first", st.NextRun)
	}
	// Two removals against max_removals 1: the run stops and waits.
	n := 0
	for _, u := range sims.M365.Users() {
		if u.UserType == "Member" && u.AccountEnabled && n < 2 {
			sims.M365.DisableUser(u.ID)
			n++
		}
	}
	sch.Trigger(scheduler.Request{Reason: "notification"})
	r := res.next(t)
	if r.Summary.Guard == nil || sch.Status().Waiting == "" {
		t.Fatalf("run %+v status %+v, want a guard and waiting", r, sch.Status())
	}
	// The admin allows: the removals go through and waiting clears.
	sch.Trigger(scheduler.Request{Reason: "admin", AllowRemovals: true})
	r = res.next(t)
	if r.Summary.Guard != nil || r.Summary.Done["disable"] != 2 || sch.Status().Waiting != "" {
		t.Fatalf("allowed run %+v status %+v", r.Summary, sch.Status())
	}
	// A PBX that fails: retried with backoff, not at the next interval.
	sims.PBX.Fail5xxRate(1)
	sch.Trigger(scheduler.Request{Reason: "admin", Full: true})
	r = res.next(t)
	if !r.Failed() {
		t.Fatalf("run against a failing PBX did not fail: %+v", r)
	}
	st := sch.Status()
	if st.Failures != 1 || st.NextRun.Sub(r.Finished) > time.Second {
		t.Fatalf("status %+v: want one failure and a retry within the backoff", st)
	}
	sims.PBX.Fail5xxRate(0)
	r = res.next(t)
	if r.Reason != "retry" || r.Failed() {
		t.Fatalf("retry %+v", r)
	}
	if sch.Status().Failures != 0 {
		t.Error("failures not reset after a good run")
	}
}

// Triggers that arrive while a run is going are merged into one run after
// it, never a second run alongside.
func TestRunsNeverOverlap(t *testing.T) {
	sims, a := setup(t, 60, nil)
	sims.PBX.SetLatency(20 * time.Millisecond)
	eng, err := a.Users(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	res := &results{ch: make(chan scheduler.Result, 100)}
	sch := &scheduler.Scheduler{Users: eng, Interval: time.Hour, OnResult: res.add}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { sch.Run(ctx); close(done) }()
	deadline := time.Now().Add(30 * time.Second)
	for !sch.Status().Running {
		if time.Now().After(deadline) {
			t.Fatal("the start run never began")
		}
		time.Sleep(time.Millisecond)
	}
	// Five notifications while the start run applies.
	for i := 0; i < 5; i++ {
		sch.Trigger(scheduler.Request{Reason: "notification"})
	}
	a1 := res.next(t)
	a2 := res.next(t)
	time.Sleep(300 * time.Millisecond) // room for a wrongly queued third run
	cancel()
	<-done
	if a1.Reason != "start" || a2.Reason != "notification" {
		t.Fatalf("runs %q then %q, want start then notification", a1.Reason, a2.Reason)
	}
	if a2.Started.Before(a1.Finished) {
		t.Fatalf("runs overlap: %v–%v and %v–%v", a1.Started, a1.Finished, a2.Started, a2.Finished)
	}
	res.mu.Lock()
	defer res.mu.Unlock()
	if len(res.all) != 2 {
		t.Fatalf("%d runs, want the start run and one merged run for 5 triggers", len(res.all))
	}
}
