package report

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pbx365/pbx365/store"
	"github.com/pbx365/pbx365/sync/scheduler"
)

// maxSummaryRuns bounds how many runs one summary reads.
const maxSummaryRuns = 10000

// summary mails the daily summary unless one went out today.
func (r *Reporter) summary(ctx context.Context, from string, to []string, res scheduler.Result, now time.Time) {
	last, ok, err := r.cfg.Store.Alert(keySummary)
	if err != nil {
		r.cfg.Log.Error("report: read the last summary's time", "err", err)
		return
	}
	if ok && sameDay(last.Sent, now) {
		return
	}
	// Since the previous summary (at most a week back), else the last day.
	since := now.Add(-24 * time.Hour)
	if ok && last.Sent.After(now.Add(-7*24*time.Hour)) {
		since = last.Sent
	}
	runs, err := r.runsSince(since)
	if err != nil {
		r.cfg.Log.Error("report: read the runs for the daily summary", "err", err)
		return
	}
	alerts, err := r.cfg.Store.Alerts()
	if err != nil {
		r.cfg.Log.Error("report: read the alerts for the daily summary", "err", err)
		return
	}
	subject, body := composeSummary(r.cfg.Host, runs, alerts, res, since, now)
	if r.send(ctx, from, to, subject, body) {
		if err := r.cfg.Store.PutAlert(store.Alert{Key: keySummary, Sent: now, Subject: subject}); err != nil {
			r.cfg.Log.Error("report: record the summary (it may be mailed again today)", "err", err)
		}
	}
}

// runsSince returns the runs started at or after since, newest first.
func (r *Reporter) runsSince(since time.Time) ([]store.Run, error) {
	var out []store.Run
	before := uint64(0)
	for len(out) < maxSummaryRuns {
		page, err := r.cfg.Store.Runs(500, before)
		if err != nil {
			return out, err
		}
		for _, run := range page {
			if run.Started.Before(since) {
				return out, nil
			}
			out = append(out, run)
		}
		if len(page) < 500 {
			break
		}
		before = page[len(page)-1].ID
	}
	return out, nil
}

// composeSummary writes the daily summary's subject and body.
func composeSummary(host string, runs []store.Run, alerts []store.Alert, last scheduler.Result, since, now time.Time) (subject, body string) {
	loc := now.Location()
	byStatus := map[string]int{}
	byKind := map[string]int{}
	changes := map[string]int{}
	failedChanges := map[string]int{}
	var bad []store.Run
	for _, run := range runs {
		byStatus[string(run.Status)]++
		byKind[run.Kind]++
		for k, n := range run.Counts {
			if a, ok := strings.CutSuffix(k, "_failed"); ok {
				failedChanges[a] += n
			} else {
				changes[k] += n
			}
		}
		if run.Status == store.RunFailed || run.Status == store.RunStopped || run.Status == store.RunInterrupted {
			bad = append(bad, run)
		}
	}
	problems := len(bad)
	state := "all runs ok"
	if problems > 0 {
		state = fmt.Sprintf("%d %s need attention", problems, plural(problems, "run", "runs"))
	}
	subject = clip(fmt.Sprintf("pbx365 on %s: daily summary %s, %d %s, %s", host, now.Format("2006-01-02"), len(runs), plural(len(runs), "run", "runs"), state), maxSubject)

	var b strings.Builder
	fmt.Fprintf(&b, "pbx365 on %s: what happened since %s.\n\n", host, since.In(loc).Format("2006-01-02 15:04 MST"))
	b.WriteString("RUNS\n\n")
	if len(runs) == 0 {
		b.WriteString("  No runs.\n")
	} else {
		fmt.Fprintf(&b, "  %d in all: %s.\n", len(runs), namedCounts(byStatus))
		fmt.Fprintf(&b, "  By kind: %s.\n", namedCounts(byKind))
	}
	fmt.Fprintf(&b, "  Last: %s\n", describeRun(last, loc))
	b.WriteString("\nCHANGES MADE\n\n")
	if c := namedCounts(changes); c != "" {
		b.WriteString("  " + c + "\n")
	} else {
		b.WriteString("  None.\n")
	}
	if f := namedCounts(failedChanges); f != "" {
		b.WriteString("  Failed: " + f + "\n")
	}
	if len(bad) > 0 {
		b.WriteString("\nRUNS THAT NEED ATTENTION\n\n")
		for i, run := range bad {
			if i == 10 {
				fmt.Fprintf(&b, "  ... and %d more: `pbx365 log`\n", len(bad)-i)
				break
			}
			fmt.Fprintf(&b, "  run %d  %-16s %-11s %s  %s\n", run.ID, run.Kind, run.Status, run.Started.In(loc).Format("01-02 15:04"), scrub(firstLine(run.Error)))
		}
	}
	var today []store.Alert
	for _, a := range alerts {
		if a.Key != keySummary && !a.Sent.Before(since) {
			today = append(today, a)
		}
	}
	slices.SortFunc(today, func(a, b store.Alert) int { return a.Sent.Compare(b.Sent) })
	if len(today) > 0 {
		b.WriteString("\nALERTS MAILED\n\n")
		for _, a := range today {
			line := fmt.Sprintf("  %s  %s", a.Sent.In(loc).Format("01-02 15:04"), a.Subject)
			if a.Repeats > 0 {
				line += fmt.Sprintf(" (came back %d more %s)", a.Repeats, plural(a.Repeats, "time", "times"))
			}
			b.WriteString(line + "\n")
		}
	}
	b.WriteString("\nWHAT TO DO\n\n")
	if len(bad) > 0 {
		b.WriteString("  - See a run's items: `pbx365 log --run N`; check the connections: `pbx365 check`.\n")
	} else {
		b.WriteString("  - Nothing. The full audit log: `pbx365 log`.\n")
	}
	b.WriteString("\n-- \npbx365 sends this summary once a day, after the nightly full reconcile.\n")
	return subject, b.String()
}
