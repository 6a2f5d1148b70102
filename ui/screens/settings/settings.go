// Package settings is the Settings screen: every setting of the registry,
// grouped (Microsoft, PBX, Users, SSO, Contacts, Calendar, Schedule, Mail,
// Notifications), edited in place, validated by the backend as it is typed and
// saved through it; errors are shown inline and a bad value saves nothing.
package settings

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/pbx365/pbx365/ui/common"
)

// GroupOrder is the order groups are shown in; unknown groups follow.
var GroupOrder = []string{"Microsoft", "PBX", "Users", "SSO", "Contacts", "Calendar", "Schedule", "Mail", "Notifications"}

// KeyMap is the Settings screen's keys.
type KeyMap struct {
	Up, Down, Home, End, NextGroup, PrevGroup key.Binding
	Edit, Unset, Reload                       key.Binding
	Save, Cancel, Prev, Next                  key.Binding
}

func defaultKeys() KeyMap {
	return KeyMap{
		Up:        common.Bind("↑/k", "up", "up", "k"),
		Down:      common.Bind("↓/j", "down", "down", "j"),
		Home:      common.Bind("g/home", "first", "home", "g"),
		End:       common.Bind("G/end", "last", "end", "G"),
		NextGroup: common.Bind("pgdn/]", "next group", "pgdown", "]"),
		PrevGroup: common.Bind("pgup/[", "prev group", "pgup", "["),
		Edit:      common.Bind("enter", "edit / toggle", "enter"),
		Unset:     common.Bind("u", "reset to default", "u", "delete"),
		Reload:    common.Bind("r", "reload", "r"),
		Save:      common.Bind("enter", "save", "enter"),
		Cancel:    common.Bind("esc", "cancel", "esc"),
		Prev:      common.Bind("←", "previous value", "left"),
		Next:      common.Bind("→", "next value", "right"),
	}
}

type loadedMsg struct {
	id  uint64
	vs  []common.SettingValue
	err error
}

type validatedMsg struct {
	id  uint64
	err error
}

type savedMsg struct {
	id    uint64
	key   string
	unset bool
	err   error
}

// Screen is the Settings screen.
type Screen struct {
	c    *common.Context
	keys KeyMap

	values []common.SettingValue // in display order
	loadID uint64
	err    error
	loaded bool
	cursor int
	start  int

	editing  bool
	input    textinput.Model
	choice   int // enum editor: index into Allowed
	validID  uint64
	validErr error
	checked  bool // validErr is for the current text
	saveID   uint64
	saveErr  error
	saving   bool
	note     string // last saved / reset

	width, height int
}

// New makes the Settings screen.
func New(c *common.Context) common.Screen {
	in := textinput.New()
	in.Prompt = "> "
	return &Screen{c: c, keys: defaultKeys(), input: in}
}

// Init loads the settings.
func (s *Screen) Init() tea.Cmd { return s.load() }

// Activated reloads when shown.
func (s *Screen) Activated() tea.Cmd {
	if s.editing {
		return nil
	}
	return s.load()
}

func (s *Screen) load() tea.Cmd {
	s.loadID = s.c.NextID()
	id, b := s.loadID, s.c.Backend
	return s.c.Do(func(ctx context.Context) tea.Msg {
		vs, err := b.Settings(ctx)
		return loadedMsg{id: id, vs: vs, err: err}
	})
}

// CapturesInput is true while a value is edited.
func (s *Screen) CapturesInput() bool { return s.editing }

// Editing reports the key being edited.
func (s *Screen) Editing() (string, bool) {
	if !s.editing || s.cursor >= len(s.values) {
		return "", false
	}
	return s.values[s.cursor].Key, true
}

// SetSize sets the size.
func (s *Screen) SetSize(w, h int) {
	s.width, s.height = w, h
	s.input.SetWidth(max(10, w-8))
}

func groupRank(g string) int {
	if i := slices.Index(GroupOrder, g); i >= 0 {
		return i
	}
	return len(GroupOrder)
}

// Sorted orders settings by group (GroupOrder) keeping the registry's order
// inside a group.
func Sorted(vs []common.SettingValue) []common.SettingValue {
	out := slices.Clone(vs)
	sort.SliceStable(out, func(a, b int) bool {
		ra, rb := groupRank(out[a].Group), groupRank(out[b].Group)
		if ra != rb {
			return ra < rb
		}
		if ra == len(GroupOrder) {
			return out[a].Group < out[b].Group
		}
		return false
	})
	return out
}

// Update handles a message.
func (s *Screen) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case loadedMsg:
		if msg.id != s.loadID {
			return nil
		}
		s.err = msg.err
		if msg.err == nil {
			cur := ""
			if s.cursor < len(s.values) {
				cur = s.values[s.cursor].Key
			}
			s.values = Sorted(msg.vs)
			s.loaded = true
			s.cursor = 0
			for i, v := range s.values {
				if v.Key == cur {
					s.cursor = i
				}
			}
		}
		return nil
	case validatedMsg:
		if msg.id == s.validID {
			s.validErr, s.checked = msg.err, true
		}
		return nil
	case savedMsg:
		if msg.id != s.saveID {
			return nil
		}
		s.saving = false
		if msg.err != nil {
			s.saveErr = msg.err
			return nil
		}
		s.editing = false
		s.input.Blur()
		if msg.unset {
			s.note = msg.key + " reset to its default"
		} else {
			s.note = msg.key + " saved"
		}
		k := msg.key
		return tea.Batch(s.load(), func() tea.Msg { return common.SettingsChangedMsg{Key: k} })
	case tea.KeyPressMsg:
		if s.editing {
			return s.editKey(msg)
		}
		return s.listKey(msg)
	}
	if s.editing {
		var cmd tea.Cmd
		s.input, cmd = s.input.Update(msg)
		return cmd
	}
	return nil
}

func (s *Screen) move(d int) {
	s.cursor = max(0, min(len(s.values)-1, s.cursor+d))
}

func (s *Screen) jumpGroup(fwd bool) {
	if len(s.values) == 0 {
		return
	}
	g := s.values[s.cursor].Group
	if fwd {
		for i := s.cursor + 1; i < len(s.values); i++ {
			if s.values[i].Group != g {
				s.cursor = i
				return
			}
		}
		return
	}
	// back to the start of this group, or of the previous one
	i := s.cursor
	for i > 0 && s.values[i-1].Group == g {
		i--
	}
	if i == s.cursor && i > 0 {
		g = s.values[i-1].Group
		i--
		for i > 0 && s.values[i-1].Group == g {
			i--
		}
	}
	s.cursor = i
}

func (s *Screen) listKey(k tea.KeyPressMsg) tea.Cmd {
	switch {
	case key.Matches(k, s.keys.Up):
		s.move(-1)
	case key.Matches(k, s.keys.Down):
		s.move(1)
	case key.Matches(k, s.keys.Home):
		s.cursor = 0
	case key.Matches(k, s.keys.End):
		s.cursor = max(0, len(s.values)-1)
	case key.Matches(k, s.keys.NextGroup):
		s.jumpGroup(true)
	case key.Matches(k, s.keys.PrevGroup):
		s.jumpGroup(false)
	case key.Matches(k, s.keys.Reload):
		return s.load()
	case key.Matches(k, s.keys.Unset):
		if s.cursor < len(s.values) {
			return s.unset(s.values[s.cursor].Key)
		}
	case key.Matches(k, s.keys.Edit):
		if s.cursor >= len(s.values) {
			return nil
		}
		v := s.values[s.cursor]
		s.note, s.saveErr, s.validErr, s.checked = "", nil, nil, false
		if v.Kind == common.KindBool {
			next := "true"
			if current(v) == "true" {
				next = "false"
			}
			return s.save(v.Key, next)
		}
		s.editing = true
		s.input.EchoMode = textinput.EchoNormal
		s.input.Placeholder = v.Default
		if v.Kind == common.KindSecret {
			s.input.EchoMode = textinput.EchoPassword
			s.input.Placeholder = "type the new value (the current one is never shown)"
			s.input.SetValue("")
		} else {
			s.input.SetValue(v.Value)
		}
		if v.Kind == common.KindEnum {
			s.choice = max(0, slices.Index(v.Allowed, current(v)))
			return nil
		}
		s.input.CursorEnd()
		return s.input.Focus()
	}
	return nil
}

func current(v common.SettingValue) string {
	if v.IsSet {
		return v.Value
	}
	return v.Default
}

func (s *Screen) editKey(k tea.KeyPressMsg) tea.Cmd {
	v := s.values[s.cursor]
	switch {
	case key.Matches(k, s.keys.Cancel):
		s.editing = false
		s.input.Blur()
		s.saveErr = nil
		return nil
	case key.Matches(k, s.keys.Save):
		if v.Kind == common.KindEnum {
			return s.save(v.Key, v.Allowed[s.choice])
		}
		if s.input.Value() == "" && v.Kind != common.KindSecret {
			return s.unset(v.Key)
		}
		return s.save(v.Key, s.input.Value())
	}
	if v.Kind == common.KindEnum {
		switch {
		case key.Matches(k, s.keys.Prev):
			s.choice = (s.choice + len(v.Allowed) - 1) % len(v.Allowed)
		case key.Matches(k, s.keys.Next):
			s.choice = (s.choice + 1) % len(v.Allowed)
		}
		return nil
	}
	before := s.input.Value()
	var cmd tea.Cmd
	s.input, cmd = s.input.Update(k)
	if s.input.Value() == before {
		return cmd
	}
	s.saveErr, s.checked = nil, false
	s.validID = s.c.NextID()
	id, b, key, val := s.validID, s.c.Backend, v.Key, s.input.Value()
	if val == "" {
		return cmd
	}
	return tea.Batch(cmd, s.c.Do(func(ctx context.Context) tea.Msg {
		return validatedMsg{id: id, err: b.ValidateSetting(ctx, key, val)}
	}))
}

func (s *Screen) save(k, val string) tea.Cmd {
	s.saveID = s.c.NextID()
	s.saving = true
	id, b := s.saveID, s.c.Backend
	return s.c.Do(func(ctx context.Context) tea.Msg {
		return savedMsg{id: id, key: k, err: b.SetSetting(ctx, k, val)}
	})
}

func (s *Screen) unset(k string) tea.Cmd {
	s.saveID = s.c.NextID()
	s.saving = true
	id, b := s.saveID, s.c.Backend
	return s.c.Do(func(ctx context.Context) tea.Msg {
		return savedMsg{id: id, key: k, unset: true, err: b.UnsetSetting(ctx, k)}
	})
}

func (s *Screen) valueText(v common.SettingValue) string {
	st := s.c.Styles
	switch {
	case v.Kind == common.KindSecret && v.IsSet:
		return "set (hidden)"
	case v.Kind == common.KindSecret:
		return st.Warn.Render("not set")
	case v.IsSet:
		return v.Value
	case v.Default != "":
		return st.Muted.Render(v.Default + " (default)")
	}
	return st.Muted.Render("not set")
}

// View renders the screen.
func (s *Screen) View() string {
	st := s.c.Styles
	head := st.Title.Render("Settings") + st.Muted.Render("  saved to the store; the same keys as `pbx365 config`")
	if !s.loaded {
		if s.err != nil {
			return head + "\n\n" + st.Error.Render("error: "+s.err.Error()) + "\n" + st.Muted.Render("press r to retry")
		}
		return head + "\n\n" + st.Muted.Render("loading settings…")
	}
	// Footer: help for the setting under the cursor and editor feedback.
	var foot []string
	if s.cursor < len(s.values) {
		v := s.values[s.cursor]
		if s.editing {
			foot = append(foot, s.editorLines(v)...)
		}
		h := v.Help
		if len(v.Allowed) > 0 && v.Kind != common.KindBool {
			h += " · allowed: " + strings.Join(v.Allowed, ", ")
		}
		foot = append(foot, st.Muted.Render(common.Fit(v.Key+": "+h, s.width)))
	}
	if s.note != "" && !s.editing {
		foot = append(foot, st.OK.Render("[ok] "+s.note))
	} else if s.saveErr != nil && !s.editing {
		foot = append(foot, st.Error.Render("error: "+s.saveErr.Error()))
	}
	listH := max(1, s.height-1-len(foot))

	// The list with group headings; scroll so the cursor stays visible.
	type line struct {
		text string
		idx  int // setting index, -1 for a heading
	}
	var lines []line
	keyW := 26
	for i, v := range s.values {
		if i == 0 || v.Group != s.values[i-1].Group {
			lines = append(lines, line{st.Section.Render("── " + v.Group + " "), -1})
		}
		prefix := "  "
		if i == s.cursor {
			prefix = "> "
		}
		text := prefix + fmt.Sprintf("%-*s ", keyW, v.Key) + s.valueText(v)
		if i == s.cursor {
			text = st.Table.Cursor.Render(common.Fit(prefix+fmt.Sprintf("%-*s", keyW, v.Key), s.width)) + " " + s.valueText(v)
		}
		lines = append(lines, line{text, i})
	}
	bottom := 0
	for i, l := range lines {
		if l.idx == s.cursor {
			bottom = i
		}
	}
	top := bottom
	if top > 0 && lines[top-1].idx == -1 {
		top-- // keep the group heading in view
	}
	if top < s.start {
		s.start = top
	}
	if bottom >= s.start+listH {
		s.start = bottom - listH + 1
	}
	s.start = max(0, min(s.start, len(lines)-listH))
	var out []string
	for i := s.start; i < len(lines) && i < s.start+listH; i++ {
		out = append(out, lines[i].text)
	}
	for len(out) < listH {
		out = append(out, "")
	}
	return common.Clip(head+"\n"+strings.Join(out, "\n")+"\n"+strings.Join(foot, "\n"), s.width, s.height)
}

func (s *Screen) editorLines(v common.SettingValue) []string {
	st := s.c.Styles
	var out []string
	if v.Kind == common.KindEnum {
		var parts []string
		for i, a := range v.Allowed {
			if i == s.choice {
				parts = append(parts, st.Table.Cursor.Render("["+a+"]"))
			} else {
				parts = append(parts, " "+a+" ")
			}
		}
		out = append(out, "edit "+v.Key+": "+strings.Join(parts, " ")+st.Muted.Render("  ←/→ choose · enter save · esc cancel"))
	} else {
		out = append(out, "edit "+v.Key+st.Muted.Render("  enter save (empty resets to default) · esc cancel"), s.input.View())
	}
	switch {
	case s.saving:
		out = append(out, st.Muted.Render("saving…"))
	case s.saveErr != nil:
		for _, l := range common.Wrap("[error] not saved: "+s.saveErr.Error(), s.width) {
			out = append(out, st.Error.Render(l))
		}
	case s.checked && s.validErr != nil:
		for _, l := range common.Wrap("[invalid] "+s.validErr.Error(), s.width) {
			out = append(out, st.Error.Render(l))
		}
	case s.checked && v.Kind == common.KindDuration && s.shortDuration():
		out = append(out, st.Warn.Render("[warning] below 1m every run reads Graph that often: mind the load and throttling"))
	case s.checked:
		out = append(out, st.OK.Render("[valid]"))
	}
	return out
}

func (s *Screen) shortDuration() bool {
	d, err := time.ParseDuration(s.input.Value())
	return err == nil && d < time.Minute
}

// ShortHelp is the footer's help.
func (s *Screen) ShortHelp() []key.Binding {
	if s.editing {
		if s.cursor < len(s.values) && s.values[s.cursor].Kind == common.KindEnum {
			return []key.Binding{s.keys.Prev, s.keys.Next, s.keys.Save, s.keys.Cancel}
		}
		return []key.Binding{s.keys.Save, s.keys.Cancel}
	}
	return []key.Binding{s.keys.Edit, s.keys.Unset, s.keys.NextGroup, s.keys.Up, s.keys.Down}
}

// FullHelp is the `?` help.
func (s *Screen) FullHelp() [][]key.Binding {
	return [][]key.Binding{{s.keys.Up, s.keys.Down, s.keys.Home, s.keys.End, s.keys.NextGroup, s.keys.PrevGroup}, {s.keys.Edit, s.keys.Unset, s.keys.Reload}, {s.keys.Save, s.keys.Cancel, s.keys.Prev, s.keys.Next}}
}
