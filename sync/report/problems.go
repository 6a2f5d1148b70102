package report

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/pbx365/pbx365/sync/plan"
	"github.com/pbx365/pbx365/sync/scheduler"
)

// problem is one thing a result needs attention for.
type problem struct {
	Key     string   // at most one mail per key and day
	Title   string   // for the subject
	What    []string // what happened
	Steps   []string // what to do
	Repeats int      // times it came back, unmailed, since the previous mail
}

// Key prefixes and keys of problems.
const (
	keyGuard        = "guard/"
	keyFailedWrites = "failed-writes"
	keyError        = "error/"
	keySummary      = "summary/daily"
)

// problemsOf lists the problems of a result (none when it needs no attention),
// each key once.
func problemsOf(res scheduler.Result) []problem {
	var out []problem
	add := func(p problem) {
		for _, q := range out {
			if q.Key == p.Key {
				return
			}
		}
		out = append(out, p)
	}
	sum := res.Summary
	logLine := "See every item of the run: `pbx365 log --run N`."
	if sum.RunID != 0 {
		logLine = fmt.Sprintf("See every item of the run: `pbx365 log --run %d`.", sum.RunID)
	}
	if g := sum.Guard; g != nil {
		add(guardProblem(g, logLine))
	}
	if n := failedCount(sum.Failed); n > 0 {
		add(problem{
			Key:   keyFailedWrites,
			Title: fmt.Sprintf("%d %s failed", n, plural(n, "write", "writes")),
			What:  []string{fmt.Sprintf("%d %s to the PBX failed.", n, plural(n, "write", "writes"))},
			Steps: []string{
				logLine,
				"The failed writes are tried again at the next run; if they keep failing, check the PBX and the connection: `pbx365 check`.",
				"Sync now from the TUI (`pbx365`) or with `pbx365 sync` once the cause is fixed.",
			},
		})
	}
	if sum.Err != "" {
		add(errorProblem("the sync failed", sum.Err))
	}
	if res.Err != "" {
		add(errorProblem("the sync could not run", res.Err))
	}
	return out
}

func guardProblem(g *plan.Guard, logLine string) problem {
	p := problem{
		Key:   keyGuard + g.Kind,
		Title: "sync stopped by a guard (" + strings.ReplaceAll(g.Kind, "_", " ") + ")",
		What:  []string{"The run stopped before writing anything: " + scrub(g.Message)},
	}
	switch g.Kind {
	case plan.GuardRemovalThreshold:
		p.What = append(p.What, fmt.Sprintf("It would disable or delete %d extensions; users.max_removals allows %d.", g.Count, g.Limit))
		p.Steps = []string{
			"Review the removals in the TUI (`pbx365`) and confirm them there, or run `pbx365 sync --allow-removals`.",
			"If they are wrong, check the scope: `pbx365 config get users.scope` (and users.groups / users.selected); `pbx365 explain USER` shows why a user is out.",
			"The service waits for you: nothing is removed until you allow it.",
		}
	case plan.GuardEmptyDirectory:
		p.Steps = []string{
			"The directory answered with no users, so nothing was removed. Check the Graph connection and permissions: `pbx365 check`.",
			"Check the scope: `pbx365 config get users.scope` and users.groups.",
		}
	case plan.GuardEmptyPBX:
		p.Steps = []string{
			"The PBX listed no users. Check the PBX login and the PBX itself: `pbx365 check`.",
			"When the PBX is right again, run `pbx365 sync` (or sync from the TUI).",
		}
	case plan.GuardInvalidSettings:
		p.Steps = []string{
			"Fix the setting named above: `pbx365 config list`, then `pbx365 config set KEY VALUE` (or the TUI's settings).",
		}
	default:
		p.Steps = []string{"Open the TUI (`pbx365`) to review the plan, or run `pbx365 sync --dry-run`.", logLine}
	}
	return p
}

func errorProblem(title, text string) problem {
	first := scrub(firstLine(text))
	return problem{
		Key:   keyError + normalizeError(first),
		Title: title + ": " + first,
		What:  []string{strings.ToUpper(title[:1]) + title[1:] + ": " + scrub(text)},
		Steps: []string{
			"Check the Graph token, the permissions and the PBX login: `pbx365 check`.",
			"The service tries again with backoff; `pbx365 sync --dry-run` shows whether a run works now.",
		},
	}
}

func failedCount(m map[plan.Action]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

var (
	reGUID   = regexp.MustCompile(`(?i)\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b`)
	reDigits = regexp.MustCompile(`[0-9]+`)
	reSpace  = regexp.MustCompile(`\s+`)
)

// maxKeyText bounds the error text in a problem key.
const maxKeyText = 200

// normalizeError makes an error's first line into a key that stays the same
// when only ids, ports, counts or times change: lower case, GUIDs and digit
// runs replaced, spaces collapsed, at most 200 bytes.
func normalizeError(s string) string {
	s = strings.ToLower(firstLine(s))
	s = reGUID.ReplaceAllString(s, "<id>")
	s = reDigits.ReplaceAllString(s, "#")
	s = reSpace.ReplaceAllString(s, " ")
	if len(s) > maxKeyText {
		s = s[:maxKeyText]
		for !utf8.ValidString(s) { // do not cut a UTF-8 sequence
			s = s[:len(s)-1]
		}
	}
	return s
}

var (
	reJWT    = regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*`)
	reBearer = regexp.MustCompile(`(?i)\bbearer\s+\S+`)
	reParam  = regexp.MustCompile(`(?i)\b(client_secret|client_assertion|secret|password|api_key|apikey|access_token|refresh_token|code)=[^&\s"']+`)
)

// scrub removes what looks like a credential from text bound for a mail:
// JWTs, bearer tokens and secret-like query or form parameters.
func scrub(s string) string {
	s = reJWT.ReplaceAllString(s, "[token removed]")
	s = reBearer.ReplaceAllString(s, "Bearer [removed]")
	return reParam.ReplaceAllString(s, "$1=[removed]")
}
