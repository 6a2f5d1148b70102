package users

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/pbx365/pbx365/pbxclient"
	"github.com/pbx365/pbx365/sync/plan"
	"github.com/pbx365/pbx365/sync/progress"
)

// Run is a plan being applied (see progress.Run).
type Run = progress.Run

// ApplyOptions say how a plan is applied.
type ApplyOptions struct {
	AllowRemovals bool   // go past the removal threshold
	Kind          string // run kind for the audit log: "full", "delta", "tui"
}

// ErrStale reports a plan that does not match its hash.
var ErrStale = errors.New("plan does not match its hash: preview it again")

// phases of apply: numbers first, then field updates, then removals.
var applyPhases = [][]plan.Action{
	{plan.ActCreate, plan.ActRecreate, plan.ActAdopt},
	{plan.ActUpdate, plan.ActEnable},
	{plan.ActDisable, plan.ActDelete},
}

// Apply executes exactly p, which was made from snap. It returns at once; the
// run goes on in the background and reports on Run.Events.
func (e *Engine) Apply(ctx context.Context, p plan.Plan, snap *Snapshot, opt ApplyOptions) (*Run, error) {
	if snap == nil {
		return nil, errors.New("apply: no snapshot: make the plan with Engine.Plan first")
	}
	if h := plan.Hash(p); h != p.Hash {
		return nil, ErrStale
	}
	return progress.StartRecorded(ctx, e.State, opt.Kind, p.Full, p.Hash, e.Interval, func(rctx context.Context, runID uint64, em *progress.Emitter) progress.Summary {
		return e.run(rctx, runID, p, snap, opt, em)
	})
}

func (e *Engine) run(ctx context.Context, runID uint64, p plan.Plan, snap *Snapshot, opt ApplyOptions, em *progress.Emitter) (sum progress.Summary) {
	sum = progress.Summary{RunID: runID, Started: e.now(), Done: map[plan.Action]int{}, Failed: map[plan.Action]int{}}
	defer func() { sum.Finished = e.now() }()

	// Skips and conflicts write nothing to the PBX; they go to the audit log.
	var notes []AuditItem
	for _, c := range p.Changes {
		if c.Action == plan.ActSkip || c.Action == plan.ActConflict {
			notes = append(notes, AuditItem{RunID: runID, Time: e.now(), ObjectID: c.ObjectID, UPN: c.UPN, Number: c.Number,
				Action: c.Action, Rule: c.Rule, Err: c.Reason, Skipped: true})
			if c.Action == plan.ActSkip {
				sum.Skipped++
			} else {
				sum.Conflict++
			}
		}
	}
	if err := e.State.AppendAudit(notes); err != nil {
		sum.Err = fmt.Sprintf("write audit log: %v", err)
		return sum
	}
	// A skipped linked user out of scope starts the removal grace.
	if err := e.State.PutLinks(leftAtUpdates(p, snap)); err != nil {
		sum.Err = fmt.Sprintf("record when users left scope: %v", err)
		return sum
	}
	if g := p.Guard; g != nil && (g.Kind == "empty_directory" || !opt.AllowRemovals) {
		sum.Guard = g
		return sum
	}

	var work []plan.Change
	for _, ph := range applyPhases {
		for _, c := range p.Changes {
			if actionIn(c.Action, ph) {
				work = append(work, c)
			}
		}
	}
	em.Phase(progress.PhaseApply, len(work))
	a, err := e.newApplier(ctx, runID, p, snap)
	if err != nil {
		sum.Err = err.Error()
		return sum
	}
	for _, ph := range applyPhases {
		if ctx.Err() != nil {
			break
		}
		var batch []plan.Change
		for _, c := range work {
			if actionIn(c.Action, ph) {
				batch = append(batch, c)
			}
		}
		a.runBatch(ctx, batch, em, &sum)
	}
	if ctx.Err() != nil {
		sum.Canceled = true
	}
	failed := 0
	for _, n := range sum.Failed {
		failed += n
	}
	// Advance the delta token only when every change landed, so a failed
	// change is seen again by the next incremental run.
	if failed == 0 && !sum.Canceled && snap.DeltaLink != "" {
		if err := e.State.SaveDeltaLink(deltaName, snap.DeltaLink); err != nil {
			sum.Err = fmt.Sprintf("save users delta token: %v", err)
		}
	}
	return sum
}

func actionIn(a plan.Action, set []plan.Action) bool {
	for _, x := range set {
		if a == x {
			return true
		}
	}
	return false
}

// applier holds what the writes of one run share.
type applier struct {
	e       *Engine
	runID   uint64
	pbx     map[int32]pbxclient.User
	links   map[string]plan.Link
	dept    pbxclient.Department
	hasDept bool
	conc    int
}

func (e *Engine) newApplier(ctx context.Context, runID uint64, p plan.Plan, snap *Snapshot) (*applier, error) {
	a := &applier{e: e, runID: runID, pbx: map[int32]pbxclient.User{}, links: map[string]plan.Link{}, conc: e.Concurrency}
	if a.conc <= 0 {
		a.conc = defaultConcurrency
	}
	for _, u := range snap.Input.PBXUsers {
		a.pbx[u.ID] = u
	}
	for _, l := range snap.Input.Links {
		a.links[l.ObjectID] = l
	}
	need := false
	for _, c := range p.Changes {
		if c.Desired != nil && (c.Action == plan.ActCreate || c.Action == plan.ActRecreate || c.Action == plan.ActAdopt || hasField(c, fieldDepartment)) {
			need = true
			break
		}
	}
	if need {
		name := snap.Input.Settings.Department
		if name == "" {
			name = defaultDepartment
		}
		d, err := e.PBX.EnsureDepartment(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("department %q on the PBX: %w", name, err)
		}
		a.dept, a.hasDept = d, true
	}
	return a, nil
}

// runBatch applies changes with bounded concurrency. A cancelled ctx stops
// new writes; writes in flight finish and settle.
func (a *applier) runBatch(ctx context.Context, batch []plan.Change, em *progress.Emitter, sum *progress.Summary) {
	sem := make(chan struct{}, a.conc)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, c := range batch {
		select {
		case <-ctx.Done():
		case sem <- struct{}{}:
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func(c plan.Change) {
			defer wg.Done()
			defer func() { <-sem }()
			em.Current(fmt.Sprintf("%s %s %s", c.Action, c.Number, c.UPN))
			// In-flight writes are not interrupted by cancellation.
			it := a.apply(context.WithoutCancel(ctx), c)
			mu.Lock()
			if it.OK {
				sum.Done[c.Action]++
			} else {
				sum.Failed[c.Action]++
			}
			mu.Unlock()
			em.Item(it)
		}(c)
	}
	wg.Wait()
}

// leftAtUpdates are the links whose LeftAt a skip sets (the link has none
// yet): the grace of the delete policy counts from then.
func leftAtUpdates(p plan.Plan, snap *Snapshot) []plan.Link {
	links := map[string]plan.Link{}
	for _, l := range snap.Input.Links {
		links[l.ObjectID] = l
	}
	var out []plan.Link
	for _, c := range p.Changes {
		if c.Action != plan.ActSkip || c.LeftAt.IsZero() {
			continue
		}
		if l, ok := links[c.ObjectID]; ok && l.LeftAt.IsZero() {
			l.LeftAt = c.LeftAt
			out = append(out, l)
		}
	}
	return out
}
