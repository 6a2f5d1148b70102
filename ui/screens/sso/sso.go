// Package sso is the SSO screen: what sso.enabled and sso.users do for the
// synced users (with how many have Microsoft sign-in on now and how many user
// sync will turn on), the PBX's Microsoft 365 settings, and a deliberate
// "apply to PBX" that shows the change first and then the PBX's answer.
package sso

import (
	"context"
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/pbx365/pbx365/ui/common"
)

// Factory registers the screen; it is offered only when the backend is a
// common.SSOBackend.
func Factory(b common.Backend) (common.Factory, bool) {
	return common.Optional[common.SSOBackend](b, common.Factory{ID: common.ScreenSSO, Title: "SSO", New: New})
}

// KeyMap is the SSO screen's keys.
type KeyMap struct {
	Apply    key.Binding
	Reload   key.Binding
	Settings key.Binding
}

func defaultKeys() KeyMap {
	return KeyMap{
		Apply:    common.Bind("a", "apply to PBX", "a"),
		Reload:   common.Bind("r", "reload", "r"),
		Settings: common.Bind("s", "edit sso.* settings", "s"),
	}
}

type statusMsg struct {
	id  uint64
	st  common.SSOStatus
	err error
}

type applyMsg struct{ id uint64 }

type resultMsg struct {
	id  uint64
	res common.SSOResult
	err error
}

// Screen is the SSO screen.
type Screen struct {
	c    *common.Context
	b    common.SSOBackend
	keys KeyMap

	st       *common.SSOStatus
	stID     uint64
	loading  bool
	err      error
	applyID  uint64
	applying bool
	res      *common.SSOResult
	applyErr error

	width, height int
}

// New makes the SSO screen (c.Backend must be an SSOBackend).
func New(c *common.Context) common.Screen {
	b, _ := c.Backend.(common.SSOBackend)
	return &Screen{c: c, b: b, keys: defaultKeys()}
}

// Init loads the status.
func (s *Screen) Init() tea.Cmd { return s.load() }

// Activated reloads when the screen is shown.
func (s *Screen) Activated() tea.Cmd { return s.load() }

func (s *Screen) load() tea.Cmd {
	if s.b == nil {
		return nil
	}
	s.stID = s.c.NextID()
	s.loading = true
	id, b := s.stID, s.b
	return s.c.Do(func(ctx context.Context) tea.Msg {
		st, err := b.SSOStatus(ctx)
		return statusMsg{id: id, st: st, err: err}
	})
}

// Status is the loaded status, nil before the first load.
func (s *Screen) Status() *common.SSOStatus { return s.st }

// Result is the PBX's answer to the last apply, nil before one.
func (s *Screen) Result() *common.SSOResult { return s.res }

// CapturesInput is always false: the screen has no inputs.
func (s *Screen) CapturesInput() bool { return false }

// SetSize sets the size.
func (s *Screen) SetSize(w, h int) { s.width, s.height = w, h }

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func quoted(v string) string {
	if v == "" {
		return "(empty)"
	}
	return v
}

// changeLines lists each PBX setting as "old → new" (or unchanged).
func changeLines(from, to common.M365) []string {
	row := func(name, old, new string) string {
		if old == new {
			return fmt.Sprintf("  %-24s %s (unchanged)", name, quoted(old))
		}
		return fmt.Sprintf("  %-24s %s → %s", name, quoted(old), quoted(new))
	}
	return []string{
		row("Tenant ID", from.TenantID, to.TenantID),
		row("Application ID", from.ApplicationID, to.ApplicationID),
		row("Microsoft sign-in", onOff(from.SSOEnabled), onOff(to.SSOEnabled)),
		fmt.Sprintf("  %-24s %s (pbx365 never turns it on)", "3CX's own user sync", onOff(from.UserSyncEnabled)),
	}
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
		}
		return nil
	case applyMsg:
		if s.applying {
			return nil
		}
		s.applyID, s.applying, s.res, s.applyErr = msg.id, true, nil, nil
		id, b := msg.id, s.b
		return s.c.Do(func(ctx context.Context) tea.Msg {
			res, err := b.ApplySSO(ctx)
			return resultMsg{id: id, res: res, err: err}
		})
	case resultMsg:
		if msg.id != s.applyID {
			return nil
		}
		s.applying, s.applyErr = false, msg.err
		if msg.err != nil {
			return tea.Batch(common.Status("SSO apply failed: "+msg.err.Error(), true), s.load())
		}
		res := msg.res
		s.res = &res
		return s.load()
	case common.SettingsChangedMsg:
		return s.load()
	case tea.KeyPressMsg:
		switch {
		case key.Matches(msg, s.keys.Reload):
			return s.load()
		case key.Matches(msg, s.keys.Settings):
			return common.Navigate(common.ScreenSettings)
		case key.Matches(msg, s.keys.Apply):
			return s.askApply()
		}
	}
	return nil
}

func (s *Screen) askApply() tea.Cmd {
	switch {
	case s.applying:
		return common.Status("the PBX is being written", true)
	case s.st == nil:
		return common.Status("the PBX's settings are still being read", true)
	case s.st.Want.TenantID == "" || s.st.Want.ApplicationID == "":
		return common.Status("set ms.tenant and ms.client_id first (Setup)", true)
	case !s.st.Changes:
		return common.Status("nothing to change: the PBX already has these settings", false)
	}
	id := s.c.NextID()
	body := "The PBX's Microsoft 365 settings (Admin Console → Integrations → Microsoft 365):\n" +
		strings.Join(changeLines(s.st.PBX, s.st.Want), "\n")
	return common.Confirm(common.ConfirmMsg{Title: "Write these settings to the PBX?", Body: body, YesKey: "apply",
		Yes: func() tea.Msg { return applyMsg{id: id} }})
}

// View renders the screen.
func (s *Screen) View() string {
	st := s.c.Styles
	head := st.Title.Render("SSO") + "  Microsoft sign-in on the PBX"
	if s.err != nil {
		head += "  " + st.Error.Render("error: "+s.err.Error())
	} else if s.loading {
		head += st.Muted.Render("  loading…")
	}
	lines := []string{head}
	add := func(l ...string) {
		for _, x := range l {
			lines = append(lines, common.Wrap(x, max(10, s.width))...)
		}
	}
	if p := s.st; p != nil {
		lines = append(lines, st.Section.Render("Per user (user sync)"))
		who := "every synced user"
		if p.Users == "selected" {
			who = fmt.Sprintf("the %d user(s) in sso.selected", len(p.Selected))
		}
		if p.Enabled {
			add(fmt.Sprintf("sso.enabled is on: user sync turns Microsoft sign-in on for %s (sso.users = %s) and off for the others.", who, p.Users))
		} else {
			add("sso.enabled is off: user sync leaves each user's Microsoft sign-in switch as it is.")
		}
		add(fmt.Sprintf("Synced users: %d · sign-in on at the PBX now: %d · on after the next user sync: %d", p.Synced, p.On, p.Planned))
		lines = append(lines, st.Section.Render("The PBX's Microsoft 365 settings"))
		lines = append(lines, changeLines(p.PBX, p.Want)...)
		if p.PBX.UserSyncEnabled {
			lines = append(lines, st.Warn.Render(common.Fit("WARNING 3CX's own user sync is on: it fights pbx365. Turn it off in the Admin Console.", s.width)))
		}
		if p.Changes {
			add("Press a to write the tenant and application ID and enable sign-in on the PBX (you confirm first).")
		} else {
			lines = append(lines, st.OK.Render("OK the PBX already has these settings."))
		}
	}
	switch {
	case s.applying:
		lines = append(lines, st.Muted.Render("writing to the PBX…"))
	case s.applyErr != nil:
		lines = append(lines, st.Error.Render(common.Fit("ERROR the PBX refused: "+s.applyErr.Error(), s.width)))
	case s.res != nil:
		a := s.res.After
		text := fmt.Sprintf("The PBX now has: tenant %s, application %s, sign-in %s, its own user sync %s.",
			quoted(a.TenantID), quoted(a.ApplicationID), onOff(a.SSOEnabled), onOff(a.UserSyncEnabled))
		if s.res.Kept {
			lines = append(lines, st.OK.Render(common.Fit("OK "+text, s.width)))
		} else {
			lines = append(lines, st.Error.Render(common.Fit("ERROR the PBX did not keep the values written. "+text, s.width)))
		}
	}
	return common.Clip(strings.Join(lines, "\n"), s.width, s.height)
}

// ShortHelp is the footer's help.
func (s *Screen) ShortHelp() []key.Binding {
	return []key.Binding{s.keys.Apply, s.keys.Reload, s.keys.Settings}
}

// FullHelp is the `?` help.
func (s *Screen) FullHelp() [][]key.Binding {
	return [][]key.Binding{{s.keys.Apply, s.keys.Reload, s.keys.Settings}}
}
