// Package users is the Users screen: every directory user in a filterable
// table with its state (will be created, linked, excluded with the rule), the
// sync scope (all / groups / chosen / all except chosen) with a group picker,
// multi-select by ID that survives filtering, and enter to preview the plan.
package users

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/pbx365/pbx365/ui/common"
	"github.com/pbx365/pbx365/ui/components/idtable"
)

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

// Screen is the Users screen.
type Screen struct {
	c       *common.Context
	keys    KeyMap
	table   *idtable.Model
	picker  *idtable.Model
	picking bool

	users   []common.DirectoryUser
	byID    map[string]int
	scope   common.ScopeKind
	loadID  uint64
	loading bool
	loaded  bool
	err     error

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
	s := &Screen{c: c, keys: defaultKeys(), scope: common.ScopeAll, byID: map[string]int{}}
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
		s.users = msg.snap.Users
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
		return nil
	case common.RunFinishedMsg, common.SettingsChangedMsg:
		return s.load()
	case tea.KeyPressMsg:
		return s.key(msg)
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
	if s.loading {
		counts += " · reloading…"
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
