package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pbx365/pbx365/sync/plan"
	"github.com/pbx365/pbx365/sync/progress"
	"github.com/pbx365/pbx365/sync/users"
	"github.com/pbx365/pbx365/ui/common"
)

// Exit codes of pbx365 sync (PRODUCT.md).
const (
	ExitOK      = 0
	ExitFailed  = 1 // some writes failed, or the run could not start
	ExitGuarded = 2 // stopped by a guard
)

// SyncOptions are the flags of pbx365 sync.
type SyncOptions struct {
	What          string // SyncWhatUsers (default), SyncWhatContacts or SyncWhatAll
	Full          bool   // full reconcile (the default for pbx365 sync)
	DryRun        bool
	Yes           bool
	AllowRemovals bool
	JSON          bool
}

// UserSyncer is the engine pbx365 sync drives.
type UserSyncer interface {
	Settle(ctx context.Context) (int, error)
	Plan(ctx context.Context, opt users.Options) (plan.Plan, *users.Snapshot, error)
	Apply(ctx context.Context, p plan.Plan, snap *users.Snapshot, opt users.ApplyOptions) (*users.Run, error)
}

// IO is where a command reads and writes.
type IO struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// SyncUsers runs user sync headless: settle, plan, print, confirm, apply,
// summarize. It returns the exit code.
func SyncUsers(ctx context.Context, eng UserSyncer, opt SyncOptions, sio IO) int {
	pr := newPrinter(sio, opt.JSON)
	if n, err := eng.Settle(ctx); err != nil {
		pr.fail("settle the previous run: %v", err)
		return ExitFailed
	} else if n > 0 {
		pr.note("settled %d write(s) a previous run left open", n)
	}
	p, snap, err := eng.Plan(ctx, users.Options{Full: opt.Full})
	if err != nil {
		pr.fail("plan: %v", err)
		return ExitFailed
	}
	pr.plan(p, snap)
	if p.Guard != nil && (p.Guard.Kind == "empty_directory" || !opt.AllowRemovals) {
		pr.guard(p.Guard, opt.AllowRemovals)
		if !opt.DryRun {
			// Record the stopped run, so the audit log and the service see it.
			if run, err := eng.Apply(ctx, p, snap, users.ApplyOptions{AllowRemovals: opt.AllowRemovals}); err == nil {
				run.Wait()
			}
		}
		return ExitGuarded
	}
	writes := 0
	for a, n := range p.Counts {
		if a != plan.ActSkip && a != plan.ActConflict {
			writes += n
		}
	}
	if opt.DryRun {
		pr.note("dry run: nothing written")
		return ExitOK
	}
	if writes > 0 && !opt.Yes {
		if !confirm(sio, fmt.Sprintf("Apply %d change(s) to the PBX? [y/N] ", writes)) {
			pr.note("not applied")
			return ExitOK
		}
	}
	run, err := eng.Apply(ctx, p, snap, users.ApplyOptions{AllowRemovals: opt.AllowRemovals})
	if err != nil {
		pr.fail("apply: %v", err)
		return ExitFailed
	}
	sum := pr.report(run.Events(), run.Wait)
	switch {
	case sum.Guard != nil:
		return ExitGuarded
	case sum.Err != "" || failedCount(sum) > 0 || sum.Canceled:
		return ExitFailed
	}
	return ExitOK
}

func failedCount(s progress.Summary) int {
	n := 0
	for _, v := range s.Failed {
		n += v
	}
	return n
}

func confirm(sio IO, prompt string) bool {
	fmt.Fprint(sio.Err, prompt)
	if sio.In == nil {
		return false
	}
	line, _ := bufio.NewReader(sio.In).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	return false
}

// printer writes a run as a readable table or as JSON lines.
type printer struct {
	io   IO
	json bool
	enc  *json.Encoder
	last time.Time
}

func newPrinter(sio IO, asJSON bool) *printer {
	return &printer{io: sio, json: asJSON, enc: json.NewEncoder(sio.Out)}
}

func (p *printer) fail(format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	if p.json {
		p.enc.Encode(map[string]any{"type": "error", "message": msg})
	}
	fmt.Fprintln(p.io.Err, "pbx365 sync: "+msg)
}

func (p *printer) note(format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	if p.json {
		p.enc.Encode(map[string]any{"type": "note", "message": msg})
		return
	}
	fmt.Fprintln(p.io.Out, msg)
}

// jsonChange is the JSON line of one planned change (PRODUCT.md).
type jsonChange struct {
	Type     string                       `json:"type"`
	Action   plan.Action                  `json:"action"`
	ObjectID string                       `json:"object_id"`
	UPN      string                       `json:"upn"`
	Number   string                       `json:"number"`
	Rule     string                       `json:"rule"`
	Reason   string                       `json:"reason,omitempty"`
	Fields   map[string]map[string]string `json:"fields"`
}

func (p *printer) plan(pl plan.Plan, snap *users.Snapshot) {
	if p.json {
		for _, c := range pl.Changes {
			f := map[string]map[string]string{}
			for _, fc := range c.Fields {
				f[fc.Field] = map[string]string{"old": fc.Old, "new": fc.New}
			}
			p.enc.Encode(jsonChange{Type: "change", Action: c.Action, ObjectID: c.ObjectID, UPN: c.UPN, Number: c.Number,
				Rule: c.Rule, Reason: c.Reason, Fields: f})
		}
		p.enc.Encode(map[string]any{"type": "plan", "hash": pl.Hash, "full": pl.Full, "counts": pl.Counts, "guard": pl.Guard})
		return
	}
	kind := "incremental (users delta)"
	if pl.Full {
		kind = "full reconcile"
		if snap != nil && snap.FellBack {
			kind += " (no usable delta token)"
		}
	}
	fmt.Fprintf(p.io.Out, "Plan, %s: %s\n\n", kind, common.PlanCounts(pl.Counts, "no changes"))
	if len(pl.Changes) == 0 {
		fmt.Fprintln(p.io.Out, "Nothing to do: the PBX matches the directory.")
		return
	}
	tw := tabwriter.NewWriter(p.io.Out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ACTION\tNUMBER\tUSER\tRULE\tDETAIL")
	for _, c := range pl.Changes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Action, dash(c.Number), dash(c.UPN), c.Rule, detail(c))
	}
	tw.Flush()
	fmt.Fprintln(p.io.Out)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func detail(c plan.Change) string {
	if len(c.Fields) == 0 {
		return c.Reason
	}
	parts := make([]string, 0, len(c.Fields))
	for _, f := range c.Fields {
		parts = append(parts, fmt.Sprintf("%s: %q → %q", f.Field, f.Old, f.New))
	}
	return strings.Join(parts, "; ")
}

func (p *printer) guard(g *plan.Guard, allowed bool) {
	if p.json {
		p.enc.Encode(map[string]any{"type": "guard", "kind": g.Kind, "message": g.Message, "count": g.Count, "limit": g.Limit})
		return
	}
	fmt.Fprintln(p.io.Err, "Stopped before writing anything: "+g.Message)
	if g.Kind == "removal_threshold" && !allowed {
		fmt.Fprintln(p.io.Err, "If these removals are intended, run again with --allow-removals (or raise users.max_removals).")
	}
}

func (p *printer) progress(ev progress.Event) {
	if p.json {
		if ev.Phase != progress.PhaseDone {
			p.enc.Encode(map[string]any{"type": "progress", "phase": ev.Phase, "done": ev.Done, "total": ev.Total,
				"counts": ev.Counts, "items": ev.Items})
		}
		return
	}
	for _, it := range ev.Items {
		if !it.OK {
			fmt.Fprintf(p.io.Err, "failed  %-8s %-6s %s: %s\n", it.Action, dash(it.Number), it.UPN, it.Err)
		}
	}
	if ev.Phase == progress.PhaseApply && (time.Since(p.last) > time.Second || ev.Done == ev.Total) {
		p.last = time.Now()
		fmt.Fprintf(p.io.Out, "applying: %d/%d\n", ev.Done, ev.Total)
	}
}

func (p *printer) summary(s progress.Summary) {
	if p.json {
		p.enc.Encode(struct {
			Type string `json:"type"`
			progress.Summary
		}{"summary", s})
		return
	}
	var done, failed []string
	for _, a := range plan.Actions {
		if n := s.Done[a]; n > 0 {
			done = append(done, fmt.Sprintf("%d %s", n, a))
		}
		if n := s.Failed[a]; n > 0 {
			failed = append(failed, fmt.Sprintf("%d %s", n, a))
		}
	}
	line := fmt.Sprintf("Run %d finished in %s: ", s.RunID, s.Finished.Sub(s.Started).Round(time.Millisecond))
	if len(done) == 0 {
		line += "nothing written"
	} else {
		line += strings.Join(done, ", ")
	}
	if len(failed) > 0 {
		line += "; FAILED: " + strings.Join(failed, ", ") + " (see pbx365 log --run " + fmt.Sprint(s.RunID) + ")"
	}
	if s.Skipped+s.Conflict > 0 {
		line += fmt.Sprintf("; %d skipped, %d conflicts", s.Skipped, s.Conflict)
	}
	if s.Canceled {
		line += "; canceled"
	}
	fmt.Fprintln(p.io.Out, line)
	if s.Err != "" {
		fmt.Fprintln(p.io.Err, "error: "+s.Err)
	}
	if s.Guard != nil {
		p.guard(s.Guard, false)
	}
}
