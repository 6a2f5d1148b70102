// Package presence is the Presence screen: each calendar user's extension,
// the profile the PBX shows now, the state pbx365 holds them in and why (the
// meeting, when its subject is visible), since and until when, the next
// transition, and errors highlighted. `r` refreshes live (reads free/busy and
// moves statuses that must move now); `l` reloads what is known.
package presence

import (
	"context"
	"fmt"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/pbx365/pbx365/ui/common"
	"github.com/pbx365/pbx365/ui/components/idtable"
)

// Factory registers the screen; it is offered only when the backend is a
// common.PresenceBackend.
func Factory(b common.Backend) (common.Factory, bool) {
	return common.Optional[common.PresenceBackend](b, common.Factory{ID: common.ScreenPresence, Title: "Presence", New: New})
}

// KeyMap is the Presence screen's keys.
type KeyMap struct {
	Refresh key.Binding
	Reload  key.Binding
}

func defaultKeys() KeyMap {
	return KeyMap{
		Refresh: common.Bind("r", "refresh now (reads calendars)", "r"),
		Reload:  common.Bind("l", "reload", "l"),
	}
}

type statusMsg struct {
	id  uint64
	st  common.PresenceStatus
	err error
}

// Screen is the Presence screen.
type Screen struct {
	c    *common.Context
	b    common.PresenceBackend
	keys KeyMap
	t    *idtable.Model

	st      *common.PresenceStatus
	stID    uint64
	loading bool
	err     error
	now     func() time.Time

	width, height int
}

// New makes the Presence screen (c.Backend must be a PresenceBackend).
func New(c *common.Context) common.Screen {
	b, _ := c.Backend.(common.PresenceBackend)
	s := &Screen{c: c, b: b, keys: defaultKeys(), now: time.Now}
	s.t = idtable.New(c.Styles, []idtable.Column{
		{Title: "Ext", Min: 5, Right: true},
		{Title: "User", Min: 12, Flex: 2},
		{Title: "PBX now", Min: 10, Flex: 1},
		{Title: "State", Min: 9},
		{Title: "Why", Min: 10, Flex: 3},
		{Title: "Since", Min: 5},
		{Title: "Until", Min: 5},
		{Title: "Next", Min: 12},
	}, false)
	s.t.SetEmptyText("no calendar users: sync users first and set calendar.enabled")
	return s
}

// Init loads what is known (no live refresh).
func (s *Screen) Init() tea.Cmd { return s.load(false) }

// Activated reloads when the screen is shown.
func (s *Screen) Activated() tea.Cmd { return s.load(false) }

func (s *Screen) load(refresh bool) tea.Cmd {
	if s.b == nil {
		return nil
	}
	s.stID = s.c.NextID()
	s.loading = true
	id, b := s.stID, s.b
	return s.c.Do(func(ctx context.Context) tea.Msg {
		st, err := b.Presence(ctx, refresh)
		return statusMsg{id: id, st: st, err: err}
	})
}

// Status is the loaded status, nil before the first load.
func (s *Screen) Status() *common.PresenceStatus { return s.st }

// CapturesInput is true while a filter is typed.
func (s *Screen) CapturesInput() bool { return s.t.Filtering() }

// SetSize sets the size.
func (s *Screen) SetSize(w, h int) {
	s.width, s.height = w, h
	s.t.SetSize(w, max(1, h-3))
}

// clock formats a time as the local hour, with the day when it is not today.
func clock(t, now time.Time) string {
	if t.IsZero() {
		return "—"
	}
	t, now = t.Local(), now.Local()
	if t.YearDay() != now.YearDay() || t.Year() != now.Year() {
		return t.Format("Mon 15:04")
	}
	return t.Format("15:04")
}

func dash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func (s *Screen) rows(st *common.PresenceStatus) []idtable.Row {
	now := s.now()
	rows := make([]idtable.Row, len(st.Rows))
	for i, r := range st.Rows {
		tone := idtable.ToneNormal
		state := r.State
		why := r.Reason
		if why == "" && r.Profile != "" {
			why = "set " + r.Profile
		}
		if r.Previous != "" {
			why += " (restores " + r.Previous + ")"
		}
		switch r.State {
		case "busy", "away", "set":
			tone = idtable.ToneOK
		case "held", "protected":
			tone = idtable.ToneWarn
		case "idle", "":
			tone = idtable.ToneMuted
		}
		if r.Err != "" {
			tone = idtable.ToneError
			state = "ERROR"
			why = r.Err
		}
		next := "—"
		if !r.Next.IsZero() {
			next = clock(r.Next, now) + " → " + dash(r.NextTo)
		}
		rows[i] = idtable.Row{ID: r.ObjectID, Tone: tone, Cells: []string{r.Number, dash(r.Address), dash(r.Current), dash(state),
			dash(why), clock(r.Since, now), clock(r.Until, now), next}}
	}
	return rows
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
			s.t.SetRows(s.rows(&st))
		}
		return nil
	case common.SettingsChangedMsg:
		return s.load(false)
	case tea.KeyPressMsg:
		if handled, cmd := s.t.Update(msg); handled {
			return cmd
		}
		switch {
		case key.Matches(msg, s.keys.Refresh):
			return s.load(true)
		case key.Matches(msg, s.keys.Reload):
			return s.load(false)
		}
		return nil
	}
	_, cmd := s.t.Update(msg)
	return cmd
}

// View renders the screen.
func (s *Screen) View() string {
	st := s.c.Styles
	head := st.Title.Render("Presence") + "  " + s.t.CountsLine()
	if s.err != nil {
		head += "  " + st.Error.Render("error: "+s.err.Error())
	} else if s.loading {
		head += st.Muted.Render("  loading…")
	}
	info := ""
	if p := s.st; p != nil {
		src := "stored state (r refreshes live)"
		if p.Live {
			src = "live"
		}
		on := "off (calendar.enabled)"
		if p.Enabled {
			on = "on"
		}
		last := "never"
		if !p.LastRefresh.IsZero() {
			last = clock(p.LastRefresh, s.now())
		}
		info = fmt.Sprintf("%s · calendar %s · %d user(s) · last refresh %s", src, on, p.Users, last)
		failed := 0
		for _, r := range p.Rows {
			if r.Err != "" {
				failed++
			}
		}
		if failed > 0 {
			info = st.Error.Render(common.Fit(fmt.Sprintf("ERROR %d user(s) with errors · ", failed)+info, s.width))
		} else if p.Err != "" {
			info = st.Error.Render(common.Fit("ERROR "+p.Err+" · "+info, s.width))
		} else {
			info = st.Muted.Render(common.Fit(info, s.width))
		}
	}
	detail := ""
	if r, ok := s.t.CursorRow(); ok {
		detail = r.Cells[1] + " · " + r.Cells[3] + " · " + r.Cells[4] + " · until " + r.Cells[6] + " · next " + r.Cells[7]
	}
	return common.Clip(head+"\n"+info+"\n"+common.Clip(s.t.View(), s.width, max(1, s.height-3))+"\n"+common.Fit(detail, s.width), s.width, s.height)
}

// ShortHelp is the footer's help.
func (s *Screen) ShortHelp() []key.Binding {
	if s.t.Filtering() {
		return s.t.ShortHelp()
	}
	return []key.Binding{s.keys.Refresh, s.keys.Reload, s.t.Keys.Filter}
}

// FullHelp is the `?` help.
func (s *Screen) FullHelp() [][]key.Binding {
	return append(s.t.FullHelp(), []key.Binding{s.keys.Refresh, s.keys.Reload})
}
