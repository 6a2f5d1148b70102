package report

import (
	"fmt"
	"html"
	"slices"
	"strings"
	"time"

	"github.com/pbx365/pbx365/store"
	"github.com/pbx365/pbx365/sync/plan"
	"github.com/pbx365/pbx365/sync/scheduler"
)

// maxSubject bounds a subject line.
const maxSubject = 160

// alertInput is what an alert mail says.
type alertInput struct {
	Host       string
	Result     scheduler.Result
	Problems   []problem // the ones due now, at least one
	Items      []store.RunItem
	ItemsTotal int
	Now        time.Time
}

// composeAlert writes an alert's subject and plain-text body.
func composeAlert(in alertInput) (subject, body string) {
	res, loc := in.Result, in.Now.Location()
	title := in.Problems[0].Title
	if n := len(in.Problems) - 1; n > 0 {
		title += fmt.Sprintf(" (and %d more %s)", n, plural(n, "problem", "problems"))
	}
	subject = clip("pbx365 on "+in.Host+": "+title, maxSubject)

	var b strings.Builder
	fmt.Fprintf(&b, "pbx365 on %s needs your attention.\n\n", in.Host)
	b.WriteString("WHAT HAPPENED\n\n")
	b.WriteString("  " + describeRun(res, loc) + "\n")
	for _, p := range in.Problems {
		for _, w := range p.What {
			b.WriteString("  " + w + "\n")
		}
		if p.Repeats > 0 {
			fmt.Fprintf(&b, "  (This came back %d more %s since the last mail about it.)\n", p.Repeats, plural(p.Repeats, "time", "times"))
		}
	}
	if c := countsLine(res); c != "" {
		b.WriteString("  " + c + "\n")
	}
	if len(in.Items) > 0 {
		fmt.Fprintf(&b, "\nFAILED ITEMS (%d of %d, newest first)\n\n", len(in.Items), in.ItemsTotal)
		for _, it := range in.Items {
			who := orDash(it.UPN, it.ObjectID)
			fmt.Fprintf(&b, "  %-8s %-32s ext %-6s %s\n", it.Action, who, orDash(it.Number), scrub(firstLine(orDash(it.Error))))
		}
		if more := in.ItemsTotal - len(in.Items); more > 0 {
			fmt.Fprintf(&b, "  ... and %d more: `pbx365 log --run %d`\n", more, res.Summary.RunID)
		}
	}
	b.WriteString("\nWHAT TO DO\n\n")
	var steps []string
	for _, p := range in.Problems {
		for _, t := range p.Steps {
			if !slices.Contains(steps, t) {
				steps = append(steps, t)
			}
		}
	}
	for _, t := range steps {
		b.WriteString("  - " + t + "\n")
	}
	b.WriteString("\n-- \npbx365 mails each problem at most once a day; the next mail about it comes tomorrow at the earliest.\n")
	return subject, b.String()
}

// describeRun says which run it was and when.
func describeRun(res scheduler.Result, loc *time.Location) string {
	kind := "incremental (delta) sync"
	if res.Kind == "full" {
		kind = "full reconcile"
	}
	s := kind
	if res.Summary.RunID != 0 {
		s = fmt.Sprintf("Run %d, %s", res.Summary.RunID, kind)
	} else {
		s = strings.ToUpper(s[:1]) + s[1:]
	}
	if res.Reason != "" {
		s += " (" + res.Reason + ")"
	}
	if !res.Started.IsZero() {
		s += ", started " + res.Started.In(loc).Format("2006-01-02 15:04:05 MST")
	}
	if !res.Finished.IsZero() {
		s += fmt.Sprintf(", took %s", res.Finished.Sub(res.Started).Round(time.Millisecond))
	}
	return s + "."
}

// countsLine is "Done: create 3, update 2. Failed: update 1. Skipped: 4. Conflicts: 1."
func countsLine(res scheduler.Result) string {
	sum := res.Summary
	var parts []string
	if d := actionCounts(sum.Done); d != "" {
		parts = append(parts, "Done: "+d+".")
	}
	if f := actionCounts(sum.Failed); f != "" {
		parts = append(parts, "Failed: "+f+".")
	}
	if sum.Skipped > 0 {
		parts = append(parts, fmt.Sprintf("Skipped: %d.", sum.Skipped))
	}
	if sum.Conflict > 0 {
		parts = append(parts, fmt.Sprintf("Conflicts: %d.", sum.Conflict))
	}
	return strings.Join(parts, " ")
}

// actionCounts lists non-zero counts by action name: "create 3, update 2".
func actionCounts(m map[plan.Action]int) string {
	named := map[string]int{}
	for a, n := range m {
		named[string(a)] = n
	}
	return namedCounts(named)
}

func namedCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k, n := range m {
		if n != 0 {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func orDash(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return "-"
}

// clip shortens s to at most n bytes on a rune boundary, with "…".
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && (s[cut]&0xC0) == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}

// toHTML renders a plain-text mail as simple HTML: the same text, escaped,
// in a monospaced block, so tables keep their columns.
func toHTML(text string) string {
	return `<html><body><pre style="font-family:monospace">` + html.EscapeString(text) + `</pre></body></html>`
}
