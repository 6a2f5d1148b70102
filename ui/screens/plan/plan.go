// Package plan is the Plan screen: the preview of a user-sync plan grouped by
// action with counts, enter to explain one row (every rule's verdict), and
// apply after a confirmation; a plan stopped by the removal threshold is a
// clear prompt to allow removals or go back.
package plan

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/pbx365/pbx365/sync/plan"
	"github.com/pbx365/pbx365/ui/common"
	"github.com/pbx365/pbx365/ui/components/idtable"
)

// KeyMap is the Plan screen's keys.
type KeyMap struct {
	Explain key.Binding
	Apply   key.Binding
	NextAct key.Binding
	PrevAct key.Binding
	Replan  key.Binding
	Back    key.Binding
	Close   key.Binding
}

func defaultKeys() KeyMap {
	return KeyMap{
		Explain: common.Bind("enter", "explain", "enter"),
		Apply:   common.Bind("a", "apply", "a"),
		NextAct: common.Bind("→/l", "next action", "right", "l"),
		PrevAct: common.Bind("←/h", "prev action", "left", "h"),
		Replan:  common.Bind("r", "re-plan", "r"),
		Back:    common.Bind("esc", "back to users", "esc"),
		Close:   common.Bind("esc/enter", "close", "esc", "enter"),
	}
}

type readyMsg struct {
	id   uint64
	plan plan.Plan
	err  error
}

type explainedMsg struct {
	id  uint64
	exp common.Explanation
	err error
}

// Screen is the Plan screen.
type Screen struct {
	c     *common.Context
	keys  KeyMap
	table *idtable.Model

	sel     common.Selection
	hasSel  bool
	plan    plan.Plan
	hasPlan bool
	reqID   uint64
	loading bool
	err     error
	action  plan.Action // "" = every action
	byID    map[string]int

	explID   uint64
	explOpen bool
	explLoad bool
	expl     common.Explanation
	explErr  error
	explFor  plan.Change

	width, height int
}

// New makes the Plan screen.
func New(c *common.Context) common.Screen {
	s := &Screen{c: c, keys: defaultKeys()}
	s.table = idtable.New(c.Styles, []idtable.Column{
		{Title: "Action", Min: 8},
		{Title: "Name", Min: 12, Flex: 2},
		{Title: "UPN", Min: 12, Flex: 3},
		{Title: "Ext", Min: 5, Right: true},
		{Title: "Why / fields", Min: 14, Flex: 4},
	}, false)
	s.table.SetEmptyText("no changes")
	return s
}

// Init does nothing until users are chosen.
func (s *Screen) Init() tea.Cmd { return nil }

// Plan returns the plan shown.
func (s *Screen) Plan() (plan.Plan, bool) { return s.plan, s.hasPlan }

// CapturesInput is true while the filter is typed.
func (s *Screen) CapturesInput() bool { return s.table.Filtering() }

// SetSize sets the size.
func (s *Screen) SetSize(w, h int) {
	s.width, s.height = w, h
	s.table.SetSize(w, max(1, h-3))
}

func (s *Screen) request() tea.Cmd {
	s.reqID = s.c.NextID()
	s.loading = true
	s.err = nil
	id, sel, b := s.reqID, s.sel, s.c.Backend
	return s.c.Do(func(ctx context.Context) tea.Msg {
		p, err := b.Plan(ctx, sel)
		return readyMsg{id: id, plan: p, err: err}
	})
}

func fieldsText(fs []plan.FieldChange) string {
	parts := make([]string, 0, len(fs))
	for _, f := range fs {
		parts = append(parts, fmt.Sprintf("%s %q→%q", f.Field, f.Old, f.New))
	}
	return strings.Join(parts, "; ")
}

func (s *Screen) setRows() {
	order := map[plan.Action]int{}
	for i, a := range plan.Actions {
		order[a] = i
	}
	idx := make([]int, 0, len(s.plan.Changes))
	for i, c := range s.plan.Changes {
		if s.action == "" || c.Action == s.action {
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(a, b int) bool {
		return order[s.plan.Changes[idx[a]].Action] < order[s.plan.Changes[idx[b]].Action]
	})
	rows := make([]idtable.Row, len(idx))
	s.byID = make(map[string]int, len(idx))
	for n, i := range idx {
		c := s.plan.Changes[i]
		why := c.Reason
		if len(c.Fields) > 0 && c.Action == plan.ActUpdate {
			why = fieldsText(c.Fields)
		}
		tone := idtable.ToneNormal
		switch c.Action {
		case plan.ActSkip:
			tone = idtable.ToneMuted
		case plan.ActConflict, plan.ActDisable, plan.ActDelete:
			tone = idtable.ToneWarn
		}
		id := fmt.Sprintf("%d", i)
		s.byID[id] = i
		rows[n] = idtable.Row{ID: id, Cells: []string{string(c.Action), c.DisplayName, c.UPN, c.Number, why}, Tone: tone}
	}
	s.table.SetRows(rows)
}

// work counts the changes apply would write.
func (s *Screen) work() int {
	n := 0
	for a, c := range s.plan.Counts {
		if a != plan.ActSkip && a != plan.ActConflict {
			n += c
		}
	}
	return n
}

// Update handles a message.
func (s *Screen) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case common.SelectionChosenMsg:
		s.sel, s.hasSel = msg.Selection, true
		s.explOpen = false
		s.action = ""
		return s.request()
	case readyMsg:
		if msg.id != s.reqID {
			return nil
		}
		s.loading = false
		if msg.err != nil {
			s.err = msg.err
			return common.Status("plan: "+msg.err.Error(), true)
		}
		s.plan, s.hasPlan = msg.plan, true
		s.setRows()
		return nil
	case explainedMsg:
		if msg.id != s.explID {
			return nil
		}
		s.explLoad = false
		s.expl, s.explErr = msg.exp, msg.err
		return nil
	case common.RunFinishedMsg:
		// What was applied is no longer a preview: plan again.
		if s.hasSel {
			return s.request()
		}
		return nil
	case tea.KeyPressMsg:
		return s.key(msg)
	}
	_, cmd := s.table.Update(msg)
	return cmd
}

func (s *Screen) key(k tea.KeyPressMsg) tea.Cmd {
	if s.explOpen {
		if key.Matches(k, s.keys.Close) {
			s.explOpen = false
		}
		return nil
	}
	if handled, cmd := s.table.Update(k); handled {
		return cmd
	}
	switch {
	case key.Matches(k, s.keys.Back):
		return common.Navigate(common.ScreenUsers)
	case key.Matches(k, s.keys.Replan):
		if s.hasSel {
			return s.request()
		}
	case key.Matches(k, s.keys.NextAct, s.keys.PrevAct):
		s.cycleAction(key.Matches(k, s.keys.NextAct))
	case key.Matches(k, s.keys.Explain):
		r, ok := s.table.CursorRow()
		if !ok {
			return nil
		}
		c := s.plan.Changes[s.byID[r.ID]]
		s.explOpen, s.explLoad, s.explFor, s.explErr = true, true, c, nil
		s.explID = s.c.NextID()
		id, b, sel := s.explID, s.c.Backend, s.sel
		return s.c.Do(func(ctx context.Context) tea.Msg {
			e, err := b.Explain(ctx, sel, c.ObjectID)
			return explainedMsg{id: id, exp: e, err: err}
		})
	case key.Matches(k, s.keys.Apply):
		return s.apply()
	}
	return nil
}

func (s *Screen) cycleAction(fwd bool) {
	opts := []plan.Action{""}
	for _, a := range plan.Actions {
		if s.plan.Counts[a] > 0 {
			opts = append(opts, a)
		}
	}
	i := 0
	for j, a := range opts {
		if a == s.action {
			i = j
		}
	}
	if fwd {
		i = (i + 1) % len(opts)
	} else {
		i = (i + len(opts) - 1) % len(opts)
	}
	s.action = opts[i]
	s.setRows()
}

func (s *Screen) apply() tea.Cmd {
	if !s.hasPlan || s.loading {
		return common.Status("no plan yet: choose users on the Users screen and press enter", true)
	}
	if s.c.RunActive {
		return common.Status("a run is active: wait for it on the Sync screen", true)
	}
	p := s.plan
	start := func(allow bool) tea.Cmd {
		return tea.Batch(
			func() tea.Msg { return common.StartRunMsg{Plan: p, AllowRemovals: allow} },
			common.Navigate(common.ScreenSync),
		)
	}
	if g := p.Guard; g != nil {
		if g.Kind == "empty_directory" {
			return common.Status("cannot apply: "+g.Message, true)
		}
		return common.Confirm(common.ConfirmMsg{
			Title:  "Removal threshold reached",
			Body:   fmt.Sprintf("%s\n\nThis plan removes %d extensions; the limit (users.max_removals) is %d.\nAllow these removals and apply, or go back and check the scope.", g.Message, g.Count, g.Limit),
			YesKey: "allow removals and apply",
			Yes:    start(true),
		})
	}
	n := s.work()
	if n == 0 {
		return common.Status("nothing to apply: every user is skipped or already in sync", false)
	}
	return common.Confirm(common.ConfirmMsg{
		Title:  "Apply this plan?",
		Body:   fmt.Sprintf("%d changes will be written to the PBX: %s.\nThe scope (%s) is saved so the service keeps it.", n, s.countsText(false), s.sel.Scope),
		YesKey: "apply",
		Yes:    start(false),
	})
}

func (s *Screen) countsText(mark bool) string {
	var parts []string
	for _, a := range plan.Actions {
		n := s.plan.Counts[a]
		if n == 0 {
			continue
		}
		p := fmt.Sprintf("%d %s", n, a)
		if mark && a == s.action {
			p = "[" + p + "]"
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return "no changes"
	}
	return strings.Join(parts, " · ")
}

// View renders the screen.
func (s *Screen) View() string {
	st := s.c.Styles
	head := st.Title.Render("Plan")
	switch {
	case !s.hasSel:
		return head + "\n\n" + "Choose who to sync on the Users screen (2), then press enter there to preview the plan."
	case s.loading && !s.hasPlan:
		return head + "\n\n" + st.Muted.Render("computing the plan…")
	case s.err != nil && !s.hasPlan:
		return head + "\n\n" + st.Error.Render("error: "+s.err.Error()) + "\n" + st.Muted.Render("press r to try again")
	}
	if s.explOpen {
		return s.explainView()
	}
	all := "all"
	if s.action == "" {
		all = "[all]"
	}
	counts := all + " · " + s.countsText(true)
	if s.loading {
		counts += " · re-planning…"
	}
	var status string
	if g := s.plan.Guard; g != nil {
		status = st.Warn.Render("STOP: " + g.Message + " — a asks to allow removals")
	} else {
		status = st.Muted.Render(fmt.Sprintf("%d changes to write · a apply · enter explain · ←/→ action", s.work()))
	}
	return common.Clip(head+"  "+fmt.Sprintf("scope %s", s.sel.Scope), s.width, 1) + "\n" +
		common.Fit(counts, s.width) + "\n" +
		common.Clip(s.table.View(), s.width, max(1, s.height-3)) + "\n" + common.Fit(status, s.width)
}

func (s *Screen) explainView() string {
	st := s.c.Styles
	c := s.explFor
	lines := []string{st.Title.Render("Explain") + "  " + c.DisplayName + " · " + c.UPN, ""}
	lines = append(lines, fmt.Sprintf("planned: %s %s — %s (rule %s)", c.Action, c.Number, c.Reason, c.Rule))
	for _, f := range c.Fields {
		lines = append(lines, fmt.Sprintf("  %-18s %q → %q", f.Field, f.Old, f.New))
	}
	lines = append(lines, "", st.Section.Render("Rules"))
	switch {
	case s.explLoad:
		lines = append(lines, st.Muted.Render("asking every rule…"))
	case s.explErr != nil:
		lines = append(lines, st.Error.Render("error: "+s.explErr.Error()))
	default:
		for _, v := range s.expl.Verdicts {
			mark := st.OK.Render("[pass]")
			if !v.Pass {
				mark = st.Warn.Render("[fail]")
			}
			lines = append(lines, fmt.Sprintf("%s %-26s %s", mark, v.Rule, v.Detail))
		}
		if s.expl.Outcome != "" {
			lines = append(lines, "", "outcome: "+s.expl.Outcome)
		}
	}
	lines = append(lines, "", st.Muted.Render("esc or enter closes"))
	return common.Clip(strings.Join(lines, "\n"), s.width, s.height)
}

// ShortHelp is the footer's help.
func (s *Screen) ShortHelp() []key.Binding {
	if s.explOpen {
		return []key.Binding{s.keys.Close}
	}
	if s.table.Filtering() {
		return s.table.ShortHelp()
	}
	return []key.Binding{s.keys.Explain, s.keys.Apply, s.keys.NextAct, s.table.Keys.Filter, s.keys.Back}
}

// FullHelp is the `?` help.
func (s *Screen) FullHelp() [][]key.Binding {
	return append(s.table.FullHelp(), []key.Binding{s.keys.Explain, s.keys.Apply, s.keys.NextAct, s.keys.PrevAct, s.keys.Replan, s.keys.Back})
}
