// Package contacts is the Contacts screen: per phonebook the mailboxes that
// feed it with their counts (source contacts, PBX entries, entries pbx365
// owns, pending changes, skips with their rules), the last contacts run, the
// contact plan grouped by action with each change's reason, and applying it
// after a confirmation with live progress.
package contacts

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/pbx365/pbx365/sync/plan"
	"github.com/pbx365/pbx365/sync/progress"
	"github.com/pbx365/pbx365/ui/common"
	"github.com/pbx365/pbx365/ui/components/idtable"
)

// Factory registers the screen; it is offered only when the backend is a
// common.ContactsBackend.
func Factory(b common.Backend) (common.Factory, bool) {
	return common.Optional[common.ContactsBackend](b, common.Factory{ID: common.ScreenContacts, Title: "Contacts", New: New})
}

// KeyMap is the Contacts screen's keys.
type KeyMap struct {
	Reload key.Binding
	Plan   key.Binding
	Apply  key.Binding
	Cancel key.Binding
}

func defaultKeys() KeyMap {
	return KeyMap{
		Reload: common.Bind("r", "read and plan", "r"),
		Plan:   common.Bind("p", "plan / phonebooks", "p"),
		Apply:  common.Bind("a", "apply plan", "a"),
		Cancel: common.Bind("x", "cancel run", "x"),
	}
}

type statusMsg struct {
	id    uint64
	st    common.ContactsStatus
	books []idtable.Row // built in the Cmd, off the Update loop
	chg   []idtable.Row
	err   error
}

type applyMsg struct{ id uint64 }

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

type cancelMsg struct{ id uint64 }

// Screen is the Contacts screen.
type Screen struct {
	c     *common.Context
	b     common.ContactsBackend
	keys  KeyMap
	books *idtable.Model
	chg   *idtable.Model

	st       *common.ContactsStatus
	stID     uint64
	loading  bool
	err      error
	showPlan bool

	runID   uint64 // local ID of the run being applied
	running bool
	ch      <-chan progress.Event
	cancel  context.CancelFunc
	ev      progress.Event
	summary *progress.Summary
	runErr  error

	width, height int
}

// New makes the Contacts screen (c.Backend must be a ContactsBackend).
func New(c *common.Context) common.Screen {
	b, _ := c.Backend.(common.ContactsBackend)
	s := &Screen{c: c, b: b, keys: defaultKeys()}
	s.books = idtable.New(c.Styles, []idtable.Column{
		{Title: "Phonebook", Min: 10},
		{Title: "Mailboxes", Min: 12, Flex: 2},
		{Title: "Source", Min: 6, Right: true},
		{Title: "PBX", Min: 5, Right: true},
		{Title: "Ours", Min: 5, Right: true},
		{Title: "Quota", Min: 5, Right: true},
		{Title: "To do", Min: 5, Right: true},
		{Title: "Skipped", Min: 8, Flex: 2},
	}, false)
	s.books.SetEmptyText("no phonebooks: sync users first, or set contacts.personal / contacts.shared_mailboxes")
	s.chg = idtable.New(c.Styles, []idtable.Column{
		{Title: "Action", Min: 8},
		{Title: "Phonebook", Min: 10},
		{Title: "Contact", Min: 10, Flex: 2},
		{Title: "Mailbox", Min: 10, Flex: 1},
		{Title: "Why", Min: 12, Flex: 3},
	}, false)
	s.chg.SetEmptyText("nothing to do: the phonebooks match the mailboxes")
	return s
}

// Init does nothing: reading every mailbox is costly, so the screen reads
// and plans when first shown (and on r).
func (s *Screen) Init() tea.Cmd { return nil }

// Activated reads and plans the first time the screen is shown.
func (s *Screen) Activated() tea.Cmd {
	if s.st != nil || s.loading || s.err != nil {
		return nil
	}
	return s.load()
}

func (s *Screen) load() tea.Cmd {
	if s.b == nil {
		return nil
	}
	s.stID = s.c.NextID()
	s.loading = true
	id, b := s.stID, s.b
	return s.c.Do(func(ctx context.Context) tea.Msg {
		st, err := b.ContactsStatus(ctx)
		if err != nil {
			return statusMsg{id: id, err: err}
		}
		return statusMsg{id: id, st: st, books: bookRows(st.Books), chg: changeRows(&st)}
	})
}

// CapturesInput is true while a filter is typed.
func (s *Screen) CapturesInput() bool { return s.books.Filtering() || s.chg.Filtering() }

// SetSize sets the size.
func (s *Screen) SetSize(w, h int) {
	s.width, s.height = w, h
	s.books.SetSize(w, max(1, h-5))
	s.chg.SetSize(w, max(1, h-5))
}

// Status is the loaded status, nil before the first load.
func (s *Screen) Status() *common.ContactsStatus { return s.st }

// Summary is the finished run's summary, nil while none finished.
func (s *Screen) Summary() *progress.Summary { return s.summary }

func (s *Screen) table() *idtable.Model {
	if s.showPlan {
		return s.chg
	}
	return s.books
}

func bookRows(books []common.ContactsBook) []idtable.Row {
	rows := make([]idtable.Row, len(books))
	for i, b := range books {
		quota := "—"
		if b.Quota > 0 {
			quota = fmt.Sprint(b.Quota)
		}
		rules := make([]string, 0, len(b.Skipped))
		for r := range b.Skipped {
			rules = append(rules, r)
		}
		sort.Strings(rules)
		var sk []string
		for _, r := range rules {
			sk = append(sk, fmt.Sprintf("%s %d", r, b.Skipped[r]))
		}
		skipped := strings.Join(sk, ", ")
		tone := idtable.ToneNormal
		if len(b.Errors) > 0 {
			tone = idtable.ToneError
			skipped = "ERROR " + strings.Join(b.Errors, "; ")
		} else if skipped == "" {
			skipped = "—"
		}
		rows[i] = idtable.Row{ID: b.Phonebook, Tone: tone, Cells: []string{b.Phonebook, mailboxes(b),
			fmt.Sprint(b.Source), fmt.Sprint(b.Entries), fmt.Sprint(b.Owned), quota, fmt.Sprint(b.Pending), skipped}}
	}
	return rows
}

// actionOrder places an action in the display order of plan.Actions.
func actionOrder(a plan.Action) int {
	if i := slices.Index(plan.Actions, a); i >= 0 {
		return i
	}
	return len(plan.Actions)
}

func changeRows(st *common.ContactsStatus) []idtable.Row {
	idx := make([]int, len(st.Plan.Changes))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(i, j int) bool {
		return actionOrder(st.Plan.Changes[idx[i]].Action) < actionOrder(st.Plan.Changes[idx[j]].Action)
	})
	rows := make([]idtable.Row, len(idx))
	for n, i := range idx {
		c := st.Plan.Changes[i]
		why := c.Rule
		if c.Reason != "" {
			why += ": " + c.Reason
		}
		var fs []string
		for _, f := range c.Fields {
			fs = append(fs, fmt.Sprintf("%s %q→%q", f.Field, f.Old, f.New))
		}
		if len(fs) > 0 {
			why += " (" + strings.Join(fs, "; ") + ")"
		}
		tone := idtable.ToneNormal
		switch c.Action {
		case plan.ActSkip:
			tone = idtable.ToneWarn
		case plan.ActDelete:
			tone = idtable.ToneMuted
		}
		name := c.Name
		if name == "" {
			name = "—"
		}
		rows[n] = idtable.Row{ID: fmt.Sprint(i), Tone: tone, Cells: []string{string(c.Action), c.Phonebook, name, c.Label, why}}
	}
	return rows
}

// mailboxes names a phonebook's source mailboxes; with more than one, each
// with the contacts read from it ("sales@… (120), support@… (80)").
func mailboxes(b common.ContactsBook) string {
	if len(b.Mailboxes) < 2 || len(b.PerSource) != len(b.Mailboxes) {
		return strings.Join(b.Mailboxes, ", ")
	}
	parts := make([]string, len(b.Mailboxes))
	for i, m := range b.Mailboxes {
		parts[i] = fmt.Sprintf("%s (%d)", m, b.PerSource[i])
	}
	return strings.Join(parts, ", ")
}

// writes counts the plan's changes that write (everything but skips).
func writes(m map[plan.Action]int) int {
	n := 0
	for a, c := range m {
		if a != plan.ActSkip && a != plan.ActConflict {
			n += c
		}
	}
	return n
}

// Update handles a message.
func (s *Screen) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case statusMsg:
		if msg.id != s.stID {
			return nil
		}
		s.loading, s.err = false, msg.err
		if msg.err == nil {
			st := msg.st
			s.st = &st
			s.books.SetRows(msg.books)
			s.chg.SetRows(msg.chg)
		}
		return nil
	case applyMsg:
		return s.start(msg.id)
	case startedMsg:
		if msg.id != s.runID {
			return nil
		}
		if msg.err != nil {
			s.runErr = msg.err
			return s.finish()
		}
		s.ch = msg.ch
		return wait(msg.id, msg.ch)
	case eventMsg:
		if msg.id != s.runID {
			return nil
		}
		if !msg.ok {
			return tea.Batch(s.finish(), s.load())
		}
		s.ev = msg.ev
		if msg.ev.Summary != nil {
			sum := *msg.ev.Summary
			s.summary = &sum
		}
		return wait(msg.id, s.ch)
	case cancelMsg:
		if msg.id == s.runID && s.running && s.cancel != nil {
			s.cancel()
		}
		return nil
	case tea.KeyPressMsg:
		return s.key(msg)
	}
	_, cmd := s.table().Update(msg)
	return cmd
}

func wait(id uint64, ch <-chan progress.Event) tea.Cmd {
	return func() tea.Msg {
		ev, ok := <-ch
		return eventMsg{id: id, ev: ev, ok: ok}
	}
}

func (s *Screen) start(id uint64) tea.Cmd {
	if s.running || s.st == nil || s.c.RunActive {
		return common.Status("a run is already active", true)
	}
	s.runID = id
	ctx, cancel := context.WithCancel(s.c.Ctx())
	s.cancel, s.running, s.c.RunActive = cancel, true, true
	s.ev, s.summary, s.runErr = progress.Event{}, nil, nil
	hash, b, c := s.st.Plan.Hash, s.b, s.c
	return c.Do(func(context.Context) tea.Msg {
		ch, err := b.ApplyContacts(ctx, hash)
		if err == nil {
			c.TrackRun(id, ch)
		}
		return startedMsg{id: id, ch: ch, err: err}
	})
}

func (s *Screen) finish() tea.Cmd {
	s.running, s.c.RunActive = false, false
	s.c.UntrackRun(s.runID)
	if s.cancel != nil {
		s.cancel()
	}
	var runID uint64
	if s.summary != nil {
		runID = s.summary.RunID
	}
	return func() tea.Msg { return common.RunFinishedMsg{RunID: runID} }
}

func (s *Screen) key(k tea.KeyPressMsg) tea.Cmd {
	if handled, cmd := s.table().Update(k); handled {
		return cmd
	}
	switch {
	case key.Matches(k, s.keys.Reload):
		if s.running {
			return common.Status("wait for the run to finish", true)
		}
		return s.load()
	case key.Matches(k, s.keys.Plan):
		s.showPlan = !s.showPlan
		return nil
	case key.Matches(k, s.keys.Apply):
		return s.askApply()
	case key.Matches(k, s.keys.Cancel):
		if !s.running {
			return nil
		}
		id := s.runID
		return common.Confirm(common.ConfirmMsg{Title: "Cancel the contacts run?",
			Body: "Writes in flight finish; the rest is not applied. The next plan shows what is left.", YesKey: "cancel run",
			Yes: func() tea.Msg { return cancelMsg{id: id} }})
	}
	return nil
}

func (s *Screen) askApply() tea.Cmd {
	switch {
	case s.running || s.c.RunActive:
		return common.Status("a run is already active", true)
	case s.loading || s.st == nil:
		return common.Status("the plan is still being read", true)
	case writes(s.st.Plan.Counts) == 0:
		return common.Status("nothing to apply: the phonebooks match the mailboxes", false)
	}
	id := s.c.NextID()
	body := fmt.Sprintf("%s\n\n%d phonebook change(s) will be written to the PBX. Only entries pbx365 wrote are changed or removed.",
		common.PlanCounts(s.st.Plan.Counts, "nothing to do"), writes(s.st.Plan.Counts))
	return common.Confirm(common.ConfirmMsg{Title: "Apply the contact plan?", Body: body, YesKey: "apply",
		Yes: func() tea.Msg { return applyMsg{id: id} }})
}

func bar(st *common.Styles, done, total, width int) string {
	if total <= 0 || width <= 0 {
		return ""
	}
	full := min(width, done*width/total)
	return st.Bar.Full.Render(strings.Repeat("█", full)) + st.Bar.Empty.Render(strings.Repeat("░", width-full))
}

// View renders the screen.
func (s *Screen) View() string {
	st := s.c.Styles
	t := s.table()
	mode := "phonebooks"
	if s.showPlan {
		mode = "plan"
	}
	head := st.Title.Render("Contacts") + "  " + mode + " · " + t.CountsLine()
	if s.err != nil {
		head += "  " + st.Error.Render("error: "+s.err.Error())
	} else if s.loading {
		head += st.Muted.Render("  reading mailboxes…")
	}
	var info, planLine, runLine string
	if s.st == nil && !s.loading {
		info = "press r to read the mailboxes and plan"
	}
	if s.st != nil {
		shared := "none"
		if len(s.st.SharedMailboxes) > 0 {
			shared = strings.Join(s.st.SharedMailboxes, ", ")
		}
		personal := "off"
		if s.st.Personal {
			personal = "on"
		}
		info = fmt.Sprintf("personal: %s · folders: %s · shared → company: %s", personal, s.st.Folders, shared)
		if r := s.st.LastRun; r != nil {
			info += fmt.Sprintf(" · last run #%d %s %s", r.ID, r.Status, r.Started.Local().Format("01-02 15:04"))
		} else {
			info += " · no run yet"
		}
		planLine = "Plan: " + common.PlanCounts(s.st.Plan.Counts, "nothing to do")
	}
	switch {
	case s.running:
		runLine = fmt.Sprintf("Applying: %s %d/%d ", s.ev.Phase, s.ev.Done, s.ev.Total) + bar(st, s.ev.Done, s.ev.Total, 20) + " " + s.ev.Current
	case s.runErr != nil:
		runLine = st.Error.Render("ERROR apply: " + s.runErr.Error())
	case s.summary != nil:
		sum := s.summary
		line := fmt.Sprintf("Run #%d finished in %s: %s", sum.RunID, sum.Finished.Sub(sum.Started).Round(time.Millisecond), common.ResultCounts(sum.Done, "nothing written"))
		if f := common.ResultCounts(sum.Failed, ""); f != "" {
			runLine = st.Error.Render(line + " · FAILED " + f)
		} else if sum.Canceled {
			runLine = st.Warn.Render(line + " · canceled")
		} else if sum.Err != "" {
			runLine = st.Error.Render(line + " · ERROR " + sum.Err)
		} else {
			runLine = st.OK.Render(line)
		}
	}
	detail := ""
	if r, ok := t.CursorRow(); ok {
		if s.showPlan { // action, contact, why first: the reason is what matters
			detail = r.Cells[0] + " " + r.Cells[2] + ": " + r.Cells[4] + " · " + r.Cells[1] + " · " + r.Cells[3]
		} else {
			detail = r.Cells[0] + " · " + r.Cells[7] + " · " + r.Cells[1]
		}
	}
	lines := []string{head, st.Muted.Render(common.Fit(info, s.width)), common.Fit(planLine, s.width), common.Fit(runLine, s.width),
		common.Clip(t.View(), s.width, max(1, s.height-5)), st.Muted.Render(common.Fit(detail, s.width))}
	return common.Clip(strings.Join(lines, "\n"), s.width, s.height)
}

// ShortHelp is the footer's help.
func (s *Screen) ShortHelp() []key.Binding {
	t := s.table()
	if t.Filtering() {
		return t.ShortHelp()
	}
	if s.running {
		return []key.Binding{s.keys.Cancel, s.keys.Plan}
	}
	return []key.Binding{s.keys.Plan, s.keys.Apply, s.keys.Reload, t.Keys.Filter}
}

// FullHelp is the `?` help.
func (s *Screen) FullHelp() [][]key.Binding {
	return append(s.table().FullHelp(), []key.Binding{s.keys.Plan, s.keys.Apply, s.keys.Reload, s.keys.Cancel})
}
