// Package activity is the Activity screen: past runs, newest first, and the
// audit items of a run (who, what, before → after, result), both filterable.
package activity

import (
	"context"
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/pbx365/pbx365/sync/plan"
	"github.com/pbx365/pbx365/ui/common"
	"github.com/pbx365/pbx365/ui/components/idtable"
)

// KeyMap is the Activity screen's keys.
type KeyMap struct {
	Open   key.Binding
	Back   key.Binding
	Reload key.Binding
}

func defaultKeys() KeyMap {
	return KeyMap{
		Open:   common.Bind("enter", "open run", "enter"),
		Back:   common.Bind("esc", "back to runs", "esc"),
		Reload: common.Bind("r", "reload", "r"),
	}
}

type runsMsg struct {
	id   uint64
	runs []common.Run
	err  error
}

type itemsMsg struct {
	id    uint64
	run   uint64
	items []common.RunItem
	err   error
}

// Screen is the Activity screen.
type Screen struct {
	c     *common.Context
	keys  KeyMap
	runsT *idtable.Model
	itemT *idtable.Model

	runs    []common.Run
	runsID  uint64
	itemsID uint64
	open    uint64 // run whose items are shown, 0 = the runs list
	items   []common.RunItem
	loading bool
	err     error

	width, height int
}

// New makes the Activity screen.
func New(c *common.Context) common.Screen {
	s := &Screen{c: c, keys: defaultKeys()}
	s.runsT = idtable.New(c.Styles, []idtable.Column{
		{Title: "Run", Min: 5, Right: true},
		{Title: "Started", Min: 16},
		{Title: "Kind", Min: 6},
		{Title: "By", Min: 4},
		{Title: "Status", Min: 8},
		{Title: "Done / failed", Min: 14, Flex: 3},
		{Title: "Took", Min: 6, Right: true},
	}, false)
	s.runsT.SetEmptyText("no runs yet")
	s.itemT = idtable.New(c.Styles, []idtable.Column{
		{Title: "Time", Min: 8},
		{Title: "Action", Min: 8},
		{Title: "Ext", Min: 5, Right: true},
		{Title: "UPN", Min: 14, Flex: 2},
		{Title: "Result", Min: 6, Flex: 1},
		{Title: "Before → after", Min: 10, Flex: 3},
	}, false)
	s.itemT.SetEmptyText("no items match")
	return s
}

// Init loads the runs.
func (s *Screen) Init() tea.Cmd { return s.loadRuns() }

// Activated reloads when the screen is shown.
func (s *Screen) Activated() tea.Cmd {
	if s.open != 0 {
		return s.loadItems(s.open)
	}
	return s.loadRuns()
}

func (s *Screen) loadRuns() tea.Cmd {
	s.runsID = s.c.NextID()
	s.loading = true
	id, b := s.runsID, s.c.Backend
	return s.c.Do(func(ctx context.Context) tea.Msg {
		runs, err := b.Runs(ctx, common.RunFilter{Limit: 1000})
		return runsMsg{id: id, runs: runs, err: err}
	})
}

func (s *Screen) loadItems(run uint64) tea.Cmd {
	s.itemsID = s.c.NextID()
	s.loading = true
	id, b := s.itemsID, s.c.Backend
	return s.c.Do(func(ctx context.Context) tea.Msg {
		items, err := b.RunItems(ctx, run, common.ItemFilter{})
		return itemsMsg{id: id, run: run, items: items, err: err}
	})
}

// CapturesInput is true while a filter is typed.
func (s *Screen) CapturesInput() bool { return s.runsT.Filtering() || s.itemT.Filtering() }

// SetSize sets the size.
func (s *Screen) SetSize(w, h int) {
	s.width, s.height = w, h
	s.runsT.SetSize(w, max(1, h-2))
	s.itemT.SetSize(w, max(1, h-4))
}

func actionCounts(m map[plan.Action]int) string {
	var parts []string
	for _, a := range plan.Actions {
		if m[a] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", a, m[a]))
		}
	}
	return strings.Join(parts, " ")
}

func runRows(runs []common.Run) []idtable.Row {
	rows := make([]idtable.Row, len(runs))
	for i, r := range runs {
		counts := actionCounts(r.Done)
		if f := actionCounts(r.Failed); f != "" {
			counts += " / failed " + f
		}
		if counts == "" {
			counts = "—"
		}
		took := "…"
		if !r.Finished.IsZero() {
			took = r.Finished.Sub(r.Started).Round(time.Second).String()
		}
		tone := idtable.ToneNormal
		switch r.Status {
		case "failed", "partial":
			tone = idtable.ToneError
		case "stopped", "canceled":
			tone = idtable.ToneWarn
		}
		status := r.Status
		if r.Err != "" {
			status += ": " + r.Err
		}
		rows[i] = idtable.Row{ID: fmt.Sprint(r.ID), Tone: tone, Cells: []string{
			fmt.Sprintf("#%d", r.ID), r.Started.Local().Format("2006-01-02 15:04"), r.Kind, r.Trigger, status, counts, took}}
	}
	return rows
}

func itemRows(items []common.RunItem) []idtable.Row {
	rows := make([]idtable.Row, len(items))
	for i, it := range items {
		res := "ok"
		tone := idtable.ToneNormal
		if !it.OK {
			res, tone = "FAIL: "+it.Err, idtable.ToneError
		}
		var fs []string
		for _, f := range it.Fields {
			fs = append(fs, fmt.Sprintf("%s %q→%q", f.Field, f.Old, f.New))
		}
		rows[i] = idtable.Row{ID: fmt.Sprint(it.Seq), Tone: tone, Cells: []string{
			it.Time.Local().Format("15:04:05"), string(it.Action), it.Number, it.UPN, res, strings.Join(fs, "; ")}}
	}
	return rows
}

// Update handles a message.
func (s *Screen) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case runsMsg:
		if msg.id != s.runsID {
			return nil
		}
		s.loading, s.err = false, msg.err
		if msg.err == nil {
			s.runs = msg.runs
			s.runsT.SetRows(runRows(msg.runs))
		}
		return nil
	case itemsMsg:
		if msg.id != s.itemsID || msg.run != s.open {
			return nil
		}
		s.loading, s.err = false, msg.err
		if msg.err == nil {
			s.items = msg.items
			s.itemT.SetRows(itemRows(msg.items))
		}
		return nil
	case common.RunFinishedMsg:
		if s.open != 0 && s.open == msg.RunID {
			return tea.Batch(s.loadRuns(), s.loadItems(s.open))
		}
		return s.loadRuns()
	case tea.KeyPressMsg:
		return s.key(msg)
	}
	t := s.runsT
	if s.open != 0 {
		t = s.itemT
	}
	_, cmd := t.Update(msg)
	return cmd
}

func (s *Screen) key(k tea.KeyPressMsg) tea.Cmd {
	t := s.runsT
	if s.open != 0 {
		t = s.itemT
	}
	if handled, cmd := t.Update(k); handled {
		return cmd
	}
	switch {
	case key.Matches(k, s.keys.Reload):
		return s.Activated()
	case s.open == 0 && key.Matches(k, s.keys.Open):
		r, ok := s.runsT.CursorRow()
		if !ok {
			return nil
		}
		var id uint64
		fmt.Sscan(r.ID, &id)
		s.open = id
		s.items = nil
		s.itemT.SetFilter("")
		s.itemT.SetRows(nil)
		return s.loadItems(id)
	case s.open != 0 && key.Matches(k, s.keys.Back):
		s.open = 0
		return nil
	}
	return nil
}

// View renders the screen.
func (s *Screen) View() string {
	st := s.c.Styles
	var head, body string
	if s.open == 0 {
		head = st.Title.Render("Activity") + "  runs · " + s.runsT.CountsLine()
		body = s.runsT.View()
	} else {
		head = st.Title.Render("Activity") + fmt.Sprintf("  run #%d · ", s.open) + s.itemT.CountsLine()
		summary := ""
		for _, r := range s.runs {
			if r.ID == s.open {
				summary = fmt.Sprintf("%s run by %s, %s · started %s", r.Kind, r.Trigger, r.Status, r.Started.Local().Format("2006-01-02 15:04:05"))
			}
		}
		detail := ""
		if r, ok := s.itemT.CursorRow(); ok {
			detail = r.Cells[3] + " · " + r.Cells[4]
			if r.Cells[5] != "" {
				detail += " · " + r.Cells[5]
			}
		}
		body = st.Muted.Render(common.Fit(summary, s.width)) + "\n" + common.Clip(s.itemT.View(), s.width, max(1, s.height-3)) + "\n" + common.Fit(detail, s.width)
	}
	if s.err != nil {
		head += "  " + st.Error.Render("error: "+s.err.Error())
	} else if s.loading {
		head += st.Muted.Render("  loading…")
	}
	return common.Clip(head+"\n"+body, s.width, s.height)
}

// ShortHelp is the footer's help.
func (s *Screen) ShortHelp() []key.Binding {
	t := s.runsT
	if s.open != 0 {
		t = s.itemT
	}
	if t.Filtering() {
		return t.ShortHelp()
	}
	if s.open != 0 {
		return []key.Binding{s.keys.Back, t.Keys.Filter, s.keys.Reload}
	}
	return []key.Binding{s.keys.Open, t.Keys.Filter, s.keys.Reload}
}

// FullHelp is the `?` help.
func (s *Screen) FullHelp() [][]key.Binding {
	return append(s.runsT.FullHelp(), []key.Binding{s.keys.Open, s.keys.Back, s.keys.Reload})
}
