package backend_test

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/pbx365/pbx365/store"
	"github.com/pbx365/pbx365/sync/app"
	"github.com/pbx365/pbx365/sync/app/apptest"
	"github.com/pbx365/pbx365/sync/plan"
	"github.com/pbx365/pbx365/sync/progress"
	"github.com/pbx365/pbx365/sync/scheduler"
	"github.com/pbx365/pbx365/ui/backend"
	"github.com/pbx365/pbx365/ui/common"
)

func setup(t testing.TB, n int) (*app.Sims, *app.App) {
	t.Helper()
	return apptest.Open(t, app.SimOptions{Seed: 5, Users: n}, nil)
}

// exercise runs the TUI's whole flow through a Backend: settings, setup,
// checks, directory, pick five users, plan, apply, activity.
func exercise(t *testing.T, b common.Backend, sims *app.Sims) {
	t.Helper()
	ctx := context.Background()
	vals, err := b.Settings(ctx)
	if err != nil || len(vals) < 40 {
		t.Fatalf("settings: %d, %v", len(vals), err)
	}
	for _, v := range vals {
		if v.Key == "pbx.secret" && (v.Value != "" || !v.IsSet) {
			t.Fatalf("secret leaked or not set: %+v", v)
		}
	}
	if err := b.ValidateSetting(ctx, "users.removal", "remove"); err == nil || !strings.Contains(err.Error(), "users.removal") {
		t.Fatalf("bad value accepted or unnamed: %v", err)
	}
	su, err := b.SetupStatus(ctx)
	if err != nil || !su.Complete() || su.ConsentURL == "" || !su.Key.Exists || su.Key.Thumbprint == "" {
		t.Fatalf("setup %+v %v", su, err)
	}
	for _, check := range []func(context.Context) ([]common.CheckLine, error){b.CheckMicrosoft, b.CheckPBX} {
		lines, err := check(ctx)
		if err != nil || len(lines) == 0 {
			t.Fatalf("check: %v %v", lines, err)
		}
		for _, l := range lines {
			if l.Status != common.CheckOK {
				t.Errorf("check line %+v", l)
			}
		}
	}
	dir, err := b.Directory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var pick []string
	states := map[common.UserState]int{}
	for _, u := range dir.Users {
		states[u.State]++
		if u.State == common.StateCreate && len(pick) < 5 {
			pick = append(pick, u.ObjectID)
		}
		if u.State == common.StateExcluded && u.Reason == "" {
			t.Errorf("excluded without a reason: %+v", u)
		}
	}
	if len(pick) != 5 || states[common.StateExcluded] == 0 || len(dir.Groups) == 0 {
		t.Fatalf("directory states %v, groups %d", states, len(dir.Groups))
	}
	sel := common.Selection{Scope: common.ScopeSelected, Users: pick}
	p, err := b.Plan(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	if p.Counts[plan.ActCreate] != 5 {
		t.Fatalf("plan %v, want 5 creates", p.Counts)
	}
	// The preview of the selection gives the same numbers, and cannot run.
	pb, ok := b.(common.PreviewBackend)
	if !ok {
		t.Fatalf("%T does not preview", b)
	}
	pv, err := pb.Preview(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	numbers := func(p plan.Plan) map[string]string {
		out := map[string]string{}
		for _, c := range p.Changes {
			if c.Action == plan.ActCreate {
				out[c.ObjectID] = c.Number
			}
		}
		return out
	}
	if got, want := numbers(pv), numbers(p); len(got) != 5 || !maps.Equal(got, want) {
		t.Fatalf("preview numbers %v, plan numbers %v", got, want)
	}
	if ch, err := b.Apply(ctx, plan.Plan{Changes: pv.Changes, Counts: pv.Counts, Hash: "not-kept"}, false); err == nil {
		for range ch {
		}
		t.Fatal("a plan this backend did not keep was applied")
	}
	ex, err := b.Explain(ctx, sel, pick[0])
	if err != nil || len(ex.Verdicts) == 0 || !strings.HasPrefix(ex.Outcome, "create") {
		t.Fatalf("explain %+v %v", ex, err)
	}
	before := len(sims.PBX.Users())
	ch, err := b.Apply(ctx, p, false)
	if err != nil {
		t.Fatal(err)
	}
	var last progress.Event
	for ev := range ch {
		last = ev
	}
	if last.Summary == nil || last.Summary.Done[plan.ActCreate] != 5 {
		t.Fatalf("last event %+v", last)
	}
	if got := len(sims.PBX.Users()) - before; got != 5 {
		t.Fatalf("PBX gained %d users", got)
	}
	// The selection is now what is synced.
	dir, _ = b.Directory(ctx)
	if dir.Saved.Scope != common.ScopeSelected || len(dir.Saved.Users) != 5 {
		t.Errorf("saved selection %+v", dir.Saved)
	}
	runs, err := b.Runs(ctx, common.RunFilter{})
	if err != nil || len(runs) == 0 || runs[0].Done[plan.ActCreate] != 5 {
		t.Fatalf("runs %+v %v", runs, err)
	}
	items, err := b.RunItems(ctx, runs[0].ID, common.ItemFilter{})
	if err != nil || len(items) < 5 {
		t.Fatalf("items %d %v", len(items), err)
	}
	// Applying the same plan again is refused: it is no longer current.
	if _, err := b.Apply(ctx, p, false); err == nil {
		t.Fatal("a used plan was applied twice")
	}
}

func TestLocalBackendWholeFlow(t *testing.T) {
	sims, a := setup(t, 60)
	exercise(t, backend.NewLocal(a), sims)
}

func TestRemoteBackendThroughTheServiceSocket(t *testing.T) {
	sims, a := setup(t, 60)
	eng, err := a.Users(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// A scheduler that waits (no start run within the test) and a socket.
	sch := &scheduler.Scheduler{Users: eng, Interval: time.Hour, RunLock: &a.RunMu}
	srv := &backend.Server{Local: backend.NewLocal(a), Sched: sch}
	sch.OnEvent = srv.Publish
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- srv.Listen(ctx, backend.SocketPath(a.Dir)) }()
	var r *backend.Remote
	deadline := time.Now().Add(10 * time.Second)
	for {
		if r, err = backend.Dial(ctx, a.Dir); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dial: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	defer r.Close()
	st, err := r.Status(ctx)
	if err != nil || st.PID == 0 {
		t.Fatalf("status %+v %v", st, err)
	}
	exercise(t, r, sims)
	// A second service on the same data dir is refused.
	if err := (&backend.Server{Local: backend.NewLocal(a), Sched: sch}).Listen(ctx, backend.SocketPath(a.Dir)); err == nil {
		t.Fatal("a second listener started")
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// The attached TUI's status line names the service's start and next run.
func TestServiceLineWhileTheSchedulerRuns(t *testing.T) {
	_, a := setup(t, 20)
	eng, err := a.Users(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sch := &scheduler.Scheduler{Users: eng, Interval: time.Hour, RunLock: &a.RunMu}
	srv := &backend.Server{Local: backend.NewLocal(a), Sched: sch}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { sch.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	go srv.Listen(ctx, backend.SocketPath(a.Dir))
	var r *backend.Remote
	for i := 0; ; i++ {
		if r, err = backend.Dial(ctx, a.Dir); err == nil {
			break
		}
		if i > 200 {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	defer r.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		line, err := r.ServiceLine(ctx)
		if err == nil && strings.Contains(line, "since") && strings.Contains(line, "next run at") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("line %q %v", line, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// While a run is in flight (App.RunMu held: the service's scheduler or an
// apply of this TUI), making a plan must not "settle" that run's open
// intents as if a crash had left them; once no run is in flight it does.
func TestPlanLeavesALiveRunsIntentsAlone(t *testing.T) {
	_, a := setup(t, 20)
	l := backend.NewLocal(a)
	ctx := context.Background()
	r, err := a.Store.StartRun("full", "h")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Store.PutIntent(store.Intent{Run: r.ID, ChangeKey: "users/create/oid-live", Action: string(plan.ActCreate),
		ObjectID: "oid-live", Number: "1999", Email: "live@example.com"}); err != nil {
		t.Fatal(err)
	}
	open := func() int {
		ins, err := a.Store.ListOpenIntents()
		if err != nil {
			t.Fatal(err)
		}
		return len(ins)
	}
	a.RunMu.Lock() // a run in flight
	if _, err := l.Plan(ctx, common.Selection{Scope: common.ScopeAll}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.ContactsStatus(ctx); err != nil {
		t.Fatal(err)
	}
	if n := open(); n != 1 {
		t.Fatalf("%d open intents after a plan during a run, want the live run's 1", n)
	}
	a.RunMu.Unlock() // the run is gone without settling: a crash
	if _, err := l.Plan(ctx, common.Selection{Scope: common.ScopeAll}); err != nil {
		t.Fatal(err)
	}
	if n := open(); n != 0 {
		t.Fatalf("%d open intents after a plan with no run in flight, want 0 (settled)", n)
	}
}

// Only the latest plans stay appliable (each holds a directory snapshot).
func TestOnlyTheLatestPlansStayAppliable(t *testing.T) {
	sims, a := setup(t, 30)
	l := backend.NewLocal(a)
	ctx := context.Background()
	dir, err := l.Directory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, u := range dir.Users {
		if u.State == common.StateCreate {
			ids = append(ids, u.ObjectID)
		}
	}
	if len(ids) < 6 {
		t.Fatalf("%d creatable users", len(ids))
	}
	var plans []plan.Plan
	for i := range 6 { // six different selections: one, two, … six users
		p, err := l.Plan(ctx, common.Selection{Scope: common.ScopeSelected, Users: ids[:i+1]})
		if err != nil {
			t.Fatal(err)
		}
		plans = append(plans, p)
	}
	// The same plan again is not a new one.
	if _, err := l.Plan(ctx, common.Selection{Scope: common.ScopeSelected, Users: ids[:6]}); err != nil {
		t.Fatal(err)
	}
	for _, p := range plans[:2] {
		if _, err := l.Apply(ctx, p, false); !errors.Is(err, backend.ErrStalePlan) {
			t.Fatalf("an old plan: %v, want ErrStalePlan", err)
		}
	}
	before := len(sims.PBX.Users())
	ch, err := l.Apply(ctx, plans[5], false)
	if err != nil {
		t.Fatal(err)
	}
	for range ch {
	}
	if got := len(sims.PBX.Users()) - before; got != 6 {
		t.Fatalf("the latest plan created %d, want 6", got)
	}
	if _, err := l.Apply(ctx, plans[5], false); !errors.Is(err, backend.ErrStalePlan) {
		t.Fatalf("a plan that ran: %v, want ErrStalePlan", err)
	}
}
