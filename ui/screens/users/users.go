// Package users is the Users screen: every directory user in a filterable
// table with its state (will be created, linked, excluded with the rule), the
// sync scope (all / groups / chosen / all except chosen) with a group picker,
// multi-select by ID that survives filtering, and enter to preview the plan.
// On a backend that previews (common.PreviewBackend), the states and the
// proposed numbers follow the selection being edited: a moment after the
// last change the screen asks for the plan of that selection and shows what
// it gives each user, the numbers the Plan screen will show.
package users

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/pbx365/pbx365/sync/plan"
	"github.com/pbx365/pbx365/ui/common"
	"github.com/pbx365/pbx365/ui/components/idtable"
)

// PreviewDelay is how long the selection must stay unchanged before the
// screen asks for its plan (so a run of space presses asks once).
const PreviewDelay = 300 * time.Millisecond

// KeyMap is the Users screen's keys (besides the table's).
type KeyMap struct {
	Plan   key.Binding
	Scope  key.Binding
	Groups key.Binding
	Clear  key.Binding
	Reload key.Binding
	Done   key.Binding // closes the group picker
}

func defaultKeys() KeyMap {
	return KeyMap{
		Plan:   common.Bind("enter", "plan", "enter"),
		Scope:  common.Bind("s", "change scope", "s"),
		Groups: common.Bind("g", "pick groups", "ctrl+g"),
		Clear:  common.Bind("x", "clear selection", "x"),
		Reload: common.Bind("r", "reload", "r"),
		Done:   common.Bind("enter/esc", "done", "enter", "esc"),
	}
}

type loadedMsg struct {
	id   uint64
	snap common.DirectorySnapshot
	err  error
}

// previewTickMsg fires PreviewDelay after a selection change; gen says which.
type previewTickMsg struct{ gen uint64 }

// previewMsg is the plan of the selection with key sel.
type previewMsg struct {
	id  uint64
	sel string
	p   plan.Plan
	err error
}

// Screen is the Users screen.
type Screen struct {
	c       *common.Context
	keys    KeyMap
	table   *idtable.Model
	picker  *idtable.Model
	picking bool

	base    []common.DirectoryUser // as the directory read gave them
	users   []common.DirectoryUser // base with the states of the selection shown
	byID    map[string]int
	scope   common.ScopeKind
	loadID  uint64
	loading bool
	loaded  bool
	err     error

	// The preview: the states shown are those of the selection with key
	// shown; wanted is the selection's key as edited.
	delay                 time.Duration
	shown, wanted         string
	previewGen, previewID uint64
	previewing            bool
	counts                map[plan.Action]int // of the plan shown; nil for the directory's

	width, height int
}

// Columns of the users table.
var Columns = []idtable.Column{
	{Title: "Name", Min: 14, Flex: 2},
	{Title: "UPN", Min: 14, Flex: 3},
	{Title: "Dept", Min: 7, Flex: 1},
	{Title: "Type", Min: 6},
	{Title: "On", Min: 3},
	{Title: "Ext", Min: 5, Right: true},
	{Title: "State", Min: 10, Flex: 3},
}

// New makes the Users screen.
func New(c *common.Context) common.Screen {
	s := &Screen{c: c, keys: defaultKeys(), scope: common.ScopeAll, byID: map[string]int{}, delay: PreviewDelay}
	s.keys.Groups.SetKeys("g")
	s.table = idtable.New(c.Styles, Columns, true)
	// g picks groups here; the first row is home.
	s.table.Keys.Home.SetKeys("home")
	s.table.Keys.Home.SetHelp("home", "first")
	s.table.SetEmptyText("no users match")
	s.picker = idtable.New(c.Styles, []idtable.Column{{Title: "Group", Min: 20, Flex: 3}, {Title: "Members", Min: 7, Right: true}}, true)
	return s
}

// Init loads the directory.
func (s *Screen) Init() tea.Cmd { return s.load() }

func (s *Screen) load() tea.Cmd {
	s.loadID = s.c.NextID()
	s.loading = true
	id := s.loadID
	b := s.c.Backend
	return s.c.Do(func(ctx context.Context) tea.Msg {
		snap, err := b.Directory(ctx)
		return loadedMsg{id: id, snap: snap, err: err}
	})
}

// Table exposes the users table (tests and benchmarks).
func (s *Screen) Table() *idtable.Model { return s.table }

// Scope is the scope being edited.
func (s *Screen) Scope() common.ScopeKind { return s.scope }

// Selection is the selection the screen would plan.
func (s *Screen) Selection() common.Selection {
	sel := common.Selection{Scope: s.scope}
	switch s.scope {
	case common.ScopeGroups:
		sel.Groups = s.picker.Selected()
	case common.ScopeSelected, common.ScopeAllExcept:
		sel.Users = s.table.Selected()
	}
	return sel
}

// CapturesInput is true while a filter is typed.
func (s *Screen) CapturesInput() bool {
	if s.picking {
		return s.picker.Filtering()
	}
	return s.table.Filtering()
}

// SetSize sets the screen size.
func (s *Screen) SetSize(w, h int) {
	s.width, s.height = w, h
	s.table.SetSize(w, max(1, h-3))
	s.picker.SetSize(min(w, 60), max(1, h-3))
}

// UserRows turns directory users into table rows.
func UserRows(users []common.DirectoryUser) []idtable.Row {
	rows := make([]idtable.Row, len(users))
	for i, u := range users {
		typ := u.UserType
		if typ == "" {
			typ = "—"
		}
		on := "yes"
		if !u.Enabled {
			on = "no"
		}
		state := string(u.State)
		tone := idtable.ToneNormal
		switch u.State {
		case common.StateCreate:
			state = "will create"
		case common.StateAdopt:
			state = "will adopt"
		case common.StateExcluded:
			state = "excluded: " + u.Reason
			tone = idtable.ToneMuted
		case common.StateConflict:
			state = "conflict: " + u.Reason
			tone = idtable.ToneWarn
		}
		ext := u.Extension
		if ext != "" && u.State == common.StateCreate {
			ext = "+" + ext
		}
		cells := []string{u.DisplayName, u.UPN, u.Department, typ, on, ext, state}
		rows[i] = idtable.Row{ID: u.ObjectID, Cells: cells, Tone: tone,
			Search: strings.ToLower(u.DisplayName + " " + u.UPN + " " + u.Department + " " + typ + " " + u.Extension + " " + state)}
	}
	return rows
}

// Update handles a message.
func (s *Screen) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case loadedMsg:
		if msg.id != s.loadID {
			return nil // stale
		}
		s.loading = false
		if msg.err != nil {
			s.err = msg.err
			return common.Status("users: "+msg.err.Error(), true)
		}
		s.err = nil
		s.base, s.users, s.counts = msg.snap.Users, msg.snap.Users, nil
		s.shown = selectionKey(msg.snap.PlannedFor)
		s.byID = make(map[string]int, len(s.users))
		for i, u := range s.users {
			s.byID[u.ObjectID] = i
		}
		s.table.SetRows(UserRows(s.users))
		grows := make([]idtable.Row, len(msg.snap.Groups))
		for i, g := range msg.snap.Groups {
			grows[i] = idtable.Row{ID: g.ID, Cells: []string{g.Name, fmt.Sprint(g.Members)}}
		}
		s.picker.SetRows(grows)
		if !s.loaded {
			s.loaded = true
			s.scope = msg.snap.Saved.Scope
			if s.scope == "" {
				s.scope = common.ScopeAll
			}
			s.picker.SetSelected(msg.snap.Saved.Groups)
			s.table.SetSelected(msg.snap.Saved.Users)
		}
		// A new read: whatever is edited is previewed anew, and an answer
		// in flight belongs to the old read.
		s.wanted, s.previewID, s.previewing = "", 0, false
		return s.previewSoon(0) // at once: the read's states may be for another selection
	case previewTickMsg:
		if msg.gen != s.previewGen {
			return nil // the selection changed again since
		}
		return s.preview()
	case previewMsg:
		if msg.id != s.previewID {
			return nil // stale
		}
		s.previewing = false
		if msg.err != nil {
			return common.Status("users: preview of the selection: "+msg.err.Error(), true)
		}
		s.shown, s.counts = msg.sel, msg.p.Counts
		s.users = common.PlannedStates(s.base, msg.p)
		s.table.SetRows(UserRows(s.users))
		return nil
	case common.RunFinishedMsg, common.SettingsChangedMsg:
		return s.load()
	case tea.KeyPressMsg:
		return tea.Batch(s.key(msg), s.previewSoon(s.delay))
	}
	if s.picking {
		_, cmd := s.picker.Update(msg)
		return cmd
	}
	_, cmd := s.table.Update(msg)
	return cmd
}

func (s *Screen) key(k tea.KeyPressMsg) tea.Cmd {
	if s.picking {
		if !s.picker.Filtering() && key.Matches(k, s.keys.Done) && !(k.String() == "esc" && s.picker.Filter() != "") {
			s.picking = false
			return nil
		}
		_, cmd := s.picker.Update(k)
		return cmd
	}
	if s.table.Filtering() {
		_, cmd := s.table.Update(k)
		return cmd
	}
	// Choosing users narrows the scope to them.
	if key.Matches(k, s.table.Keys.Toggle, s.table.Keys.ToggleAll) && (s.scope == common.ScopeAll || s.scope == common.ScopeGroups) {
		s.scope = common.ScopeSelected
	}
	if handled, cmd := s.table.Update(k); handled {
		return cmd
	}
	switch {
	case key.Matches(k, s.keys.Scope):
		i := slices.Index(common.Scopes, s.scope)
		s.scope = common.Scopes[(i+1)%len(common.Scopes)]
		if s.scope == common.ScopeGroups && s.picker.SelectedCount() == 0 {
			s.picking = true
		}
	case key.Matches(k, s.keys.Groups):
		s.scope = common.ScopeGroups
		s.picking = true
	case key.Matches(k, s.keys.Clear):
		s.table.SetSelected(nil)
	case key.Matches(k, s.keys.Reload):
		return s.load()
	case key.Matches(k, s.keys.Plan):
		if !s.loaded {
			return common.Status("the directory is still loading", true)
		}
		sel := s.Selection()
		switch {
		case s.scope == common.ScopeSelected && len(sel.Users) == 0:
			return common.Status("no user chosen: press space on users, or s to change the scope", true)
		case s.scope == common.ScopeGroups && len(sel.Groups) == 0:
			return common.Status("no group chosen: press g and pick groups, or s to change the scope", true)
		}
		return tea.Batch(
			func() tea.Msg { return common.SelectionChosenMsg{Selection: sel} },
			common.Navigate(common.ScreenPlan),
		)
	}
	return nil
}

// selectionKey identifies a selection (the order of ids does not matter).
func selectionKey(sel common.Selection) string {
	if sel.Scope == "" {
		return ""
	}
	key := string(sel.Scope)
	switch sel.Scope {
	case common.ScopeGroups:
		key += ":" + strings.Join(slices.Sorted(slices.Values(sel.Groups)), ",")
	case common.ScopeSelected, common.ScopeAllExcept:
		key += ":" + strings.Join(slices.Sorted(slices.Values(sel.Users)), ",")
	}
	return key
}

// previewSoon asks for the plan of the selection being edited after delay,
// when it is not the one shown and not already asked for.
func (s *Screen) previewSoon(delay time.Duration) tea.Cmd {
	if !s.loaded {
		return nil
	}
	if _, ok := s.c.Backend.(common.PreviewBackend); !ok {
		return nil
	}
	key := selectionKey(s.Selection())
	if key == s.wanted {
		return nil // shown, or asked for
	}
	s.wanted = key
	s.previewGen++ // a tick still pending is for another selection
	if key == s.shown {
		s.previewID, s.previewing = 0, false // back to what is shown: drop any answer in flight
		return nil
	}
	gen := s.previewGen
	if delay <= 0 {
		return func() tea.Msg { return previewTickMsg{gen: gen} }
	}
	return tea.Tick(delay, func(time.Time) tea.Msg { return previewTickMsg{gen: gen} })
}

// preview asks the backend for the plan of the selection being edited.
func (s *Screen) preview() tea.Cmd {
	pb, ok := s.c.Backend.(common.PreviewBackend)
	if !ok {
		return nil
	}
	sel := s.Selection()
	key := selectionKey(sel)
	s.previewID = s.c.NextID()
	s.previewing = true
	id := s.previewID
	return s.c.Do(func(ctx context.Context) tea.Msg {
		p, err := pb.Preview(ctx, sel)
		return previewMsg{id: id, sel: key, p: p, err: err}
	})
}

func (s *Screen) scopeText() string {
	switch s.scope {
	case common.ScopeGroups:
		var names []string
		for _, r := range s.picker.Rows() {
			if s.picker.IsSelected(r.ID) {
				names = append(names, r.Cells[0])
			}
		}
		if len(names) == 0 {
			return "members of groups (none chosen yet)"
		}
		return "members of " + strings.Join(names, ", ")
	case common.ScopeSelected:
		return fmt.Sprintf("chosen users (%d)", s.table.SelectedCount())
	case common.ScopeAllExcept:
		return fmt.Sprintf("all eligible users except chosen (%d)", s.table.SelectedCount())
	}
	return "all eligible users"
}

// View renders the screen.
func (s *Screen) View() string {
	st := s.c.Styles
	head := st.Title.Render("Users") + "  scope: " + st.Key.Render(s.scopeText())
	if s.loading && !s.loaded {
		return head + "\n\n" + st.Muted.Render("reading the directory…")
	}
	if s.err != nil && !s.loaded {
		return head + "\n\n" + st.Error.Render("error: "+s.err.Error()) + "\n" + st.Muted.Render("check the Microsoft settings in Setup, then press r to retry")
	}
	counts := s.table.CountsLine()
	switch {
	case s.loading:
		counts += " · reloading…"
	case s.previewing || s.wanted != "" && s.wanted != s.shown:
		counts += " · planning this scope…"
	case s.counts != nil:
		counts += " · this scope: " + common.PlanCounts(s.counts, "no change")
	}
	var body, detail string
	if s.picking {
		head = st.Title.Render("Users › groups") + "  space toggles a group · enter done"
		counts = fmt.Sprintf("groups chosen %d of %d", s.picker.SelectedCount(), s.picker.Len())
		body = s.picker.View()
	} else {
		body = s.table.View()
		if r, ok := s.table.CursorRow(); ok {
			if i, ok := s.byID[r.ID]; ok {
				u := s.users[i]
				detail = u.DisplayName + " · " + u.UPN
				if u.Reason != "" {
					detail += " · " + string(u.State) + ": " + u.Reason
				}
				if len(u.Groups) > 0 {
					detail += " · groups: " + s.groupNames(u.Groups)
				}
			}
		}
	}
	return common.Clip(head, s.width, 1) + "\n" + st.Muted.Render(common.Fit(counts, s.width)) + "\n" +
		common.Clip(body, s.width, max(1, s.height-3)) + "\n" + st.Muted.Render(common.Fit(detail, s.width))
}

func (s *Screen) groupNames(ids []string) string {
	var names []string
	for _, r := range s.picker.Rows() {
		if slices.Contains(ids, r.ID) {
			names = append(names, r.Cells[0])
		}
	}
	return strings.Join(names, ", ")
}

// ShortHelp is the footer's help.
func (s *Screen) ShortHelp() []key.Binding {
	if s.picking {
		return append(s.picker.ShortHelp(), s.keys.Done)
	}
	if s.table.Filtering() {
		return s.table.ShortHelp()
	}
	return []key.Binding{s.keys.Plan, s.table.Keys.Filter, s.table.Keys.Toggle, s.table.Keys.ToggleAll, s.keys.Scope, s.keys.Groups}
}

// FullHelp is the `?` help.
func (s *Screen) FullHelp() [][]key.Binding {
	return append(s.table.FullHelp(), []key.Binding{s.keys.Plan, s.keys.Scope, s.keys.Groups, s.keys.Clear, s.keys.Reload})
}
