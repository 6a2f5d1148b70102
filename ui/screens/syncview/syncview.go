// Package syncview is the Sync screen: it applies a confirmed plan and shows
// the run live — phase, a bar, counts per action, rate, ETA, the most recent
// items with errors marked — and keeps the finished summary on screen.
// Events are read one at a time by a re-armed wait Cmd tagged with the run's
// ID, so a fast engine never floods the loop and stale events are dropped.
package syncview

import (
	"context"
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/pbx365/pbx365/sync/plan"
	"github.com/pbx365/pbx365/sync/progress"
	"github.com/pbx365/pbx365/ui/common"
)

// RecentMax is how many recent items the screen keeps.
const RecentMax = 500

// ErrorsMax is how many failed items are kept apart, so they stay on screen
// when later items scroll the recent list.
const ErrorsMax = 100

// KeyMap is the Sync screen's keys.
type KeyMap struct {
	Cancel   key.Binding
	Activity key.Binding
	Plan     key.Binding
}

func defaultKeys() KeyMap {
	return KeyMap{
		Cancel:   common.Bind("esc/x", "cancel run", "esc", "x"),
		Activity: common.Bind("enter", "open in activity", "enter"),
		Plan:     common.Bind("p", "back to plan", "p"),
	}
}

type startedMsg struct {
	id  uint64
	ch  <-chan progress.Event
	err error
}

type eventMsg struct {
	id uint64
	ev progress.Event
	ok bool
}

type tickMsg struct {
	id uint64
	t  time.Time
}

// Screen is the Sync screen.
type Screen struct {
	c    *common.Context
	keys KeyMap

	id      uint64 // this run's local ID; events for other IDs are dropped
	cancel  context.CancelFunc
	ch      <-chan progress.Event
	running bool
	allowed bool

	runID    uint64 // the engine's run ID
	phase    progress.Phase
	current  string
	done     int
	total    int
	ok       map[plan.Action]int
	failed   map[plan.Action]int
	started  time.Time
	now      time.Time
	recent   []progress.Item // ring buffer
	head     int
	errs     []progress.Item // the latest failures (at most ErrorsMax)
	errCount int
	summary  *progress.Summary
	startErr error

	width, height int
}

// New makes the Sync screen.
func New(c *common.Context) common.Screen {
	return &Screen{c: c, keys: defaultKeys()}
}

// Init does nothing until a run starts.
func (s *Screen) Init() tea.Cmd { return nil }

// CapturesInput is always false.
func (s *Screen) CapturesInput() bool { return false }

// SetSize sets the size.
func (s *Screen) SetSize(w, h int) { s.width, s.height = w, h }

// Running reports whether a run is active.
func (s *Screen) Running() bool { return s.running }

// Summary is the finished run's summary, nil while none finished.
func (s *Screen) Summary() *progress.Summary { return s.summary }

// Progress is the run's completion in percent and whether one is active.
func (s *Screen) Progress() (int, bool) {
	if s.total == 0 {
		return 0, s.running
	}
	return s.done * 100 / s.total, s.running
}

func (s *Screen) start(m common.StartRunMsg) tea.Cmd {
	if s.running {
		return common.Status("a run is already active", true)
	}
	s.id = s.c.NextID()
	ctx, cancel := context.WithCancel(s.c.Ctx())
	s.cancel, s.running, s.c.RunActive = cancel, true, true
	s.allowed = m.AllowRemovals
	s.runID, s.phase, s.current, s.done, s.total = 0, "", "", 0, 0
	s.ok, s.failed = map[plan.Action]int{}, map[plan.Action]int{}
	s.recent, s.head, s.errs, s.errCount, s.summary, s.startErr = nil, 0, nil, 0, nil, nil
	s.started = time.Now()
	s.now = s.started
	for a, n := range m.Plan.Counts {
		if a != plan.ActSkip && a != plan.ActConflict {
			s.total += n
		}
	}
	id, p, allow, b, c := s.id, m.Plan, m.AllowRemovals, s.c.Backend, s.c
	run := c.Do(func(context.Context) tea.Msg {
		ch, err := b.Apply(ctx, p, allow)
		if err == nil {
			c.TrackRun(id, ch)
		}
		return startedMsg{id: id, ch: ch, err: err}
	})
	return tea.Batch(run, s.tick())
}

func wait(id uint64, ch <-chan progress.Event) tea.Cmd {
	return func() tea.Msg {
		ev, ok := <-ch
		return eventMsg{id: id, ev: ev, ok: ok}
	}
}

func (s *Screen) tick() tea.Cmd {
	id := s.id
	return tea.Tick(time.Second, func(t time.Time) tea.Msg { return tickMsg{id: id, t: t} })
}

func (s *Screen) finish() tea.Cmd {
	s.running, s.c.RunActive = false, false
	s.c.UntrackRun(s.id)
	if s.cancel != nil {
		s.cancel()
	}
	runID := s.runID
	return func() tea.Msg { return common.RunFinishedMsg{RunID: runID} }
}

// Update handles a message.
func (s *Screen) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case common.StartRunMsg:
		return s.start(msg)
	case startedMsg:
		if msg.id != s.id {
			return nil
		}
		if msg.err != nil {
			s.startErr = msg.err
			cmd := s.finish()
			return tea.Batch(cmd, common.Status("sync: "+msg.err.Error(), true))
		}
		s.ch = msg.ch
		return wait(s.id, s.ch)
	case eventMsg:
		if msg.id != s.id {
			return nil
		}
		if !msg.ok {
			if s.summary == nil && s.startErr == nil {
				s.startErr = fmt.Errorf("the run ended without a summary")
			}
			return s.finish()
		}
		s.apply(msg.ev)
		return wait(s.id, s.ch)
	case tickMsg:
		if msg.id != s.id || !s.running {
			return nil
		}
		s.now = msg.t
		return s.tick()
	case tea.KeyPressMsg:
		return s.key(msg)
	}
	return nil
}

func (s *Screen) apply(ev progress.Event) {
	s.now = time.Now()
	s.runID = ev.RunID
	s.phase = ev.Phase
	if ev.Total > 0 {
		s.total = ev.Total
	}
	s.done = max(s.done, ev.Done)
	if ev.Current != "" {
		s.current = ev.Current
	}
	for _, it := range ev.Items {
		if it.OK {
			s.ok[it.Action]++
		} else {
			s.failed[it.Action]++
			s.errCount++
			if len(s.errs) == ErrorsMax {
				s.errs = append(s.errs[:0], s.errs[1:]...)
			}
			s.errs = append(s.errs, it)
		}
		if len(s.recent) < RecentMax {
			s.recent = append(s.recent, it)
		} else {
			s.recent[s.head] = it
			s.head = (s.head + 1) % RecentMax
		}
	}
	if ev.Summary != nil {
		s.summary = ev.Summary
	}
}

// Recent returns the kept items, oldest first.
func (s *Screen) Recent() []progress.Item {
	out := make([]progress.Item, 0, len(s.recent))
	out = append(out, s.recent[s.head:]...)
	return append(out, s.recent[:s.head]...)
}

func (s *Screen) key(k tea.KeyPressMsg) tea.Cmd {
	switch {
	case s.running && key.Matches(k, s.keys.Cancel):
		cancel := s.cancel
		return common.Confirm(common.ConfirmMsg{
			Title:  "Cancel the run?",
			Body:   "Changes already written stay. The run stops after the current write and the rest of the plan is not applied.",
			YesKey: "cancel the run",
			Yes:    func() tea.Msg { cancel(); return common.StatusMsg{Text: "cancelling after the current write…"} },
		})
	case !s.running && key.Matches(k, s.keys.Activity) && s.summary != nil:
		return common.Navigate(common.ScreenActivity)
	case !s.running && key.Matches(k, s.keys.Plan):
		return common.Navigate(common.ScreenPlan)
	}
	return nil
}

func clock(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, sec := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, m, sec)
	}
	return fmt.Sprintf("%d:%02d", m, sec)
}

// Bar renders a text progress bar of width cells: "[####----] 42%".
func Bar(st *common.Styles, done, total, width int) string {
	pct := 0
	if total > 0 {
		pct = done * 100 / total
	}
	label := fmt.Sprintf(" %3d%%", pct)
	inner := max(1, width-2-len(label))
	full := 0
	if total > 0 {
		full = inner * done / total
	}
	return "[" + st.Bar.Full.Render(strings.Repeat("#", full)) + st.Bar.Empty.Render(strings.Repeat("-", inner-full)) + "]" + label
}

// View renders the screen.
func (s *Screen) View() string {
	st := s.c.Styles
	if s.id == 0 {
		return st.Title.Render("Sync") + "\n\n" + "No run yet. Preview a plan (Users → enter) and press a to apply it; the run shows here live."
	}
	var lines []string
	title := st.Title.Render("Sync")
	if s.runID != 0 {
		title += fmt.Sprintf("  run #%d", s.runID)
	}
	phase := string(s.phase)
	if phase == "" {
		phase = "starting"
	}
	state := "running"
	if !s.running {
		state = "finished"
	}
	lines = append(lines, title+"  "+state+" · phase "+phase+fmt.Sprintf(" · %d/%d", s.done, s.total))
	lines = append(lines, Bar(st, s.done, s.total, min(s.width, 100)))
	lines = append(lines, "done:   "+common.ResultCounts(s.ok, "none"))
	failed := "failed: " + common.ResultCounts(s.failed, "none")
	if s.errCount > 0 {
		failed = st.Error.Render(failed)
	}
	lines = append(lines, failed)
	elapsed := s.now.Sub(s.started)
	if s.summary != nil && !s.summary.Finished.IsZero() && !s.summary.Started.IsZero() {
		elapsed = s.summary.Finished.Sub(s.summary.Started)
	}
	rate := 0.0
	if elapsed > 0 {
		rate = float64(s.done) / elapsed.Seconds()
	}
	eta := "—"
	if s.running && rate > 0 && s.total > s.done {
		eta = clock(time.Duration(float64(s.total-s.done) / rate * float64(time.Second)))
	}
	lines = append(lines, fmt.Sprintf("rate %.1f/s · elapsed %s · ETA %s", rate, clock(elapsed), eta))
	if s.running && s.current != "" {
		lines = append(lines, st.Muted.Render("now: "+s.current))
	}
	lines = append(lines, s.summaryLines()...)
	failLine := func(it progress.Item) string {
		return st.Error.Render(fmt.Sprintf("! FAIL %-8s %6s %s — %s", it.Action, it.Number, it.UPN, it.Err))
	}
	if len(s.errs) > 0 {
		show := s.errs[max(0, len(s.errs)-max(1, (s.height-len(lines))/3)):]
		lines = append(lines, "", st.Error.Render(fmt.Sprintf("Errors (%d, latest %d)", s.errCount, len(show))))
		for _, it := range show {
			lines = append(lines, failLine(it))
		}
	}
	lines = append(lines, "", st.Section.Render("Recent items"))
	room := s.height - len(lines)
	items := s.Recent()
	if room > 0 && len(items) > 0 {
		if len(items) > room {
			items = items[len(items)-room:]
		}
		for _, it := range items {
			if it.OK {
				lines = append(lines, fmt.Sprintf("  ok   %-8s %6s %s", it.Action, it.Number, it.UPN))
			} else {
				lines = append(lines, failLine(it))
			}
		}
	}
	return common.Clip(strings.Join(lines, "\n"), s.width, s.height)
}

func (s *Screen) summaryLines() []string {
	st := s.c.Styles
	if s.startErr != nil {
		return []string{st.Error.Render("ERROR: " + s.startErr.Error())}
	}
	sum := s.summary
	if sum == nil || s.running {
		return nil
	}
	ok, failed := 0, 0
	for _, n := range sum.Done {
		ok += n
	}
	for _, n := range sum.Failed {
		failed += n
	}
	head := fmt.Sprintf("Summary: %d written, %d failed, %d skipped, %d conflicts", ok, failed, sum.Skipped, sum.Conflict)
	var out []string
	switch {
	case sum.Guard != nil:
		out = append(out, st.Warn.Render("STOPPED by a guard: "+sum.Guard.Message))
		if sum.Guard.Kind == "removal_threshold" && !s.allowed {
			out = append(out, "Nothing was written. p goes back to the plan, which asks whether to allow the removals.")
		}
	case sum.Canceled:
		out = append(out, st.Warn.Render("CANCELLED: "+head))
	case sum.Err != "":
		out = append(out, st.Error.Render("FAILED: "+sum.Err), head)
	case failed > 0:
		out = append(out, st.Error.Render("FINISHED WITH ERRORS: "+head))
	default:
		out = append(out, st.OK.Render("DONE: "+head))
	}
	out = append(out, st.Muted.Render("enter opens the run in Activity"))
	return out
}

// ShortHelp is the footer's help.
func (s *Screen) ShortHelp() []key.Binding {
	if s.running {
		return []key.Binding{s.keys.Cancel}
	}
	return []key.Binding{s.keys.Activity, s.keys.Plan}
}

// FullHelp is the `?` help.
func (s *Screen) FullHelp() [][]key.Binding {
	return [][]key.Binding{{s.keys.Cancel, s.keys.Activity, s.keys.Plan}}
}
