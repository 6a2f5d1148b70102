// Package ui is pbx365's admin TUI, a Bubble Tea v2 program: setup wizard,
// Users, Plan, Settings, Sync and Activity screens (more register through
// Options.Screens). It reaches the rest of pbx365 only through the Backend
// interface, from tea.Cmds; Update and View do no I/O.
//
// Routing: a confirm prompt, when open, takes every key; otherwise global
// shortcuts apply unless the active screen has an input focused (then the key
// goes to the input, so `q` typed in a filter is a q); other keys go to the
// active screen. Every non-key message goes to every screen, and each keeps
// only its own results, matched by request ID.
package ui

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/pbx365/pbx365/ui/common"
	"github.com/pbx365/pbx365/ui/screens/activity"
	"github.com/pbx365/pbx365/ui/screens/contacts"
	"github.com/pbx365/pbx365/ui/screens/plan"
	"github.com/pbx365/pbx365/ui/screens/presence"
	"github.com/pbx365/pbx365/ui/screens/settings"
	"github.com/pbx365/pbx365/ui/screens/setup"
	"github.com/pbx365/pbx365/ui/screens/sso"
	"github.com/pbx365/pbx365/ui/screens/syncview"
	"github.com/pbx365/pbx365/ui/screens/users"
)

// Backend is what the TUI needs from pbx365 (see common.Backend).
type Backend = common.Backend

// Options configure the TUI.
type Options struct {
	// Demo marks the header: the backend is the built-in simulation.
	Demo bool
	// StartScreen is the first screen; "" starts on Setup and moves to Users
	// once the setup status says everything needed is configured.
	StartScreen common.ScreenID
	// Screens replaces the default screens (DefaultScreens) when not nil.
	Screens []common.Factory
	// ExtraScreens are added after the default screens (Contacts, Presence,
	// SSO when a later issue adds them).
	ExtraScreens []common.Factory
	// ShutdownTimeout bounds how long Run waits for in-flight work on exit
	// (default 10s).
	ShutdownTimeout time.Duration
}

// DefaultScreens lists the screens in tab order.
func DefaultScreens() []common.Factory {
	return []common.Factory{
		{ID: common.ScreenSetup, Title: "Setup", New: setup.New},
		{ID: common.ScreenUsers, Title: "Users", New: users.New},
		{ID: common.ScreenPlan, Title: "Plan", New: plan.New},
		{ID: common.ScreenSettings, Title: "Settings", New: settings.New},
		{ID: common.ScreenSync, Title: "Sync", New: syncview.New},
		{ID: common.ScreenActivity, Title: "Activity", New: activity.New},
	}
}

// OptionalScreens lists, in tab order, the screens whose optional backend
// interface b implements: Contacts (common.ContactsBackend), Presence
// (common.PresenceBackend) and SSO (common.SSOBackend). New adds them after
// DefaultScreens when Options.Screens is nil.
func OptionalScreens(b Backend) []common.Factory {
	var out []common.Factory
	for _, f := range []func(common.Backend) (common.Factory, bool){contacts.Factory, presence.Factory, sso.Factory} {
		if fac, ok := f(b); ok {
			out = append(out, fac)
		}
	}
	return out
}

// App is the root model.
type App struct {
	c         *common.Context
	factories []common.Factory
	screens   []common.Screen
	active    int
	autoStart bool

	keys     common.GlobalKeys
	help     help.Model
	showHelp bool
	service  string // the attached service's status line
	confirm  *common.ConfirmMsg
	quitAsk  bool // the open prompt is "quit?"

	status    string
	statusErr bool
	width     int
	height    int

	frame atomic.Pointer[string] // the last frame rendered
}

// LastFrame returns the last frame View rendered (safe from any goroutine):
// end-to-end tests read the screen from it instead of parsing the
// renderer's diffed output.
func (a *App) LastFrame() string {
	if p := a.frame.Load(); p != nil {
		return *p
	}
	return ""
}

// New builds the root model. Run it with Run, or with tea.NewProgram in tests
// (then call Shutdown after the program ends).
func New(b Backend, opts Options) *App {
	return newApp(context.Background(), b, opts)
}

func newApp(ctx context.Context, b Backend, opts Options) *App {
	c := common.NewContext(ctx, b, opts.Demo)
	fs := opts.Screens
	if fs == nil {
		fs = append(DefaultScreens(), OptionalScreens(b)...)
	}
	fs = append(append([]common.Factory(nil), fs...), opts.ExtraScreens...)
	a := &App{c: c, factories: fs, keys: common.NewGlobalKeys(), help: help.New(), width: 80, height: 24}
	a.help.Styles = c.Styles.Help
	for _, f := range fs {
		a.screens = append(a.screens, f.New(c))
	}
	start := opts.StartScreen
	if start == "" {
		start = common.ScreenSetup
		a.autoStart = true
	}
	a.active = max(0, a.index(start))
	a.resize()
	return a
}

// Context is the shared context (tests).
func (a *App) Context() *common.Context { return a.c }

// Shutdown stops new backend calls and waits up to timeout for the ones in
// flight and for an active run to close its channel.
func (a *App) Shutdown(timeout time.Duration) bool { return a.c.Wait(timeout) }

func (a *App) index(id common.ScreenID) int {
	for i, f := range a.factories {
		if f.ID == id {
			return i
		}
	}
	return -1
}

// Screen returns a screen by ID (tests).
func (a *App) Screen(id common.ScreenID) common.Screen {
	if i := a.index(id); i >= 0 {
		return a.screens[i]
	}
	return nil
}

// Active is the active screen's ID.
func (a *App) Active() common.ScreenID { return a.factories[a.active].ID }

// Confirming reports the open prompt's title.
func (a *App) Confirming() (string, bool) {
	if a.confirm == nil {
		return "", false
	}
	return a.confirm.Title, true
}

// Init starts every screen and asks the terminal for its background colour.
func (a *App) Init() tea.Cmd {
	cmds := []tea.Cmd{tea.RequestBackgroundColor, a.readServiceLine()}
	for _, s := range a.screens {
		cmds = append(cmds, s.Init())
	}
	return tea.Batch(cmds...)
}

func (a *App) contentHeight() int { return max(1, a.height-3) } // header, status, footer

func (a *App) resize() {
	a.help.SetWidth(a.width)
	for _, s := range a.screens {
		s.SetSize(a.width, a.contentHeight())
	}
}

func (a *App) switchTo(i int) tea.Cmd {
	if i < 0 || i >= len(a.screens) {
		return nil
	}
	a.autoStart = false
	a.active = i
	a.showHelp = false
	if act, ok := a.screens[i].(common.Activatable); ok {
		return act.Activated()
	}
	return nil
}

func (a *App) askQuit() tea.Cmd {
	if !a.c.RunActive {
		return tea.Quit
	}
	a.quitAsk = true
	a.confirm = &common.ConfirmMsg{
		Title:  "Quit while a run is active?",
		Body:   "The run is cancelled after its current write; what was written stays and the next run finishes the rest.",
		YesKey: "quit",
		Yes:    tea.Quit,
	}
	return nil
}

// Update routes a message.
func (a *App) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if cmd, ok := a.updateService(msg); ok {
		return a, cmd
	}
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		a.width, a.height = msg.Width, msg.Height
		a.resize()
		return a, nil
	case tea.BackgroundColorMsg:
		*a.c.Styles = *common.NewStyles(msg.IsDark())
		a.help.Styles = a.c.Styles.Help
		return a, nil
	case common.ConfirmMsg:
		a.confirm, a.quitAsk = &msg, false
		return a, nil
	case common.NavigateMsg:
		return a, a.switchTo(a.index(msg.To))
	case common.StatusMsg:
		a.status, a.statusErr = msg.Text, msg.Err
		return a, nil
	case tea.KeyPressMsg:
		return a, a.key(msg)
	}
	cmds := make([]tea.Cmd, 0, len(a.screens))
	for _, s := range a.screens {
		cmds = append(cmds, s.Update(msg))
	}
	if a.autoStart {
		if st, ok := a.screens[a.active].(interface{ Setup() (common.Setup, bool) }); ok {
			if set, loaded := st.Setup(); loaded {
				a.autoStart = false
				if set.Complete() {
					cmds = append(cmds, a.switchTo(a.index(common.ScreenUsers)))
				}
			}
		}
	}
	return a, tea.Batch(cmds...)
}

func (a *App) key(k tea.KeyPressMsg) tea.Cmd {
	if a.confirm != nil {
		c := a.confirm
		switch k.String() {
		case "y", "Y", "enter":
			a.confirm = nil
			return c.Yes
		case "n", "N", "esc":
			a.confirm = nil
			return c.No
		case "ctrl+c":
			if a.quitAsk {
				a.confirm = nil
				return tea.Quit
			}
			a.confirm = nil
			return c.No
		}
		return nil
	}
	if key.Matches(k, a.keys.ForceQuit) {
		return a.askQuit()
	}
	active := a.screens[a.active]
	if active.CapturesInput() {
		return active.Update(k)
	}
	if a.showHelp && (k.String() == "esc" || key.Matches(k, a.keys.Help)) {
		a.showHelp = false
		return nil
	}
	switch {
	case key.Matches(k, a.keys.Quit):
		return a.askQuit()
	case key.Matches(k, a.keys.Help):
		a.showHelp = true
		return nil
	case key.Matches(k, a.keys.Next):
		return a.switchTo((a.active + 1) % len(a.screens))
	case key.Matches(k, a.keys.Prev):
		return a.switchTo((a.active + len(a.screens) - 1) % len(a.screens))
	case key.Matches(k, a.keys.Jump):
		n, _ := strconv.Atoi(k.String())
		return a.switchTo(n - 1)
	}
	a.status = ""
	return active.Update(k)
}

// ShortHelp is the footer: the active screen's keys, then the global ones.
func (a *App) ShortHelp() []key.Binding {
	b := a.screens[a.active].ShortHelp()
	if a.screens[a.active].CapturesInput() {
		return b
	}
	// ? first: on a narrow terminal the end of the line is cut.
	return append([]key.Binding{a.keys.Help}, append(b, a.keys.Quit)...)
}

// FullHelp is the `?` view.
func (a *App) FullHelp() [][]key.Binding {
	return append(a.screens[a.active].FullHelp(), []key.Binding{a.keys.Next, a.keys.Prev, a.keys.Jump, a.keys.Help, a.keys.Quit, a.keys.ForceQuit})
}

func (a *App) header() string {
	st := a.c.Styles
	parts := []string{st.Brand.Render("pbx365")}
	if a.c.Demo {
		parts = append(parts, st.Demo.Render("DEMO"))
	}
	labels := make([]string, len(a.factories))
	for i, f := range a.factories {
		labels[i] = fmt.Sprintf("%d %s", i+1, f.Title)
	}
	return common.Fit(strings.Join(append(parts, tabBar(st, labels, a.active, a.width-lipgloss.Width(strings.Join(parts, " "))-1)), " "), a.width)
}

// tabBar renders the tabs in width columns: padded when they fit, else
// unpadded, else a window of whole tabs around the active one with ‹ and ›
// where tabs are left out (their number keys still reach them).
func tabBar(st *common.Styles, labels []string, active, width int) string {
	render := func(i int, pad bool) string {
		switch {
		case i == active:
			return st.TabActive.Render("[" + labels[i] + "]")
		case pad:
			return st.Tab.Render(" " + labels[i] + " ")
		}
		return st.Tab.Render(labels[i])
	}
	for _, pad := range []bool{true, false} {
		tabs := make([]string, len(labels))
		for i := range labels {
			tabs[i] = render(i, pad)
		}
		if s := strings.Join(tabs, " "); lipgloss.Width(s) <= width || width <= 0 {
			return s
		}
	}
	// Grow a window from the active tab, alternately to the right and the
	// left, while it fits with its markers.
	if active < 0 || active >= len(labels) {
		active = 0
	}
	tabs := make([]string, len(labels))
	for i := range labels {
		tabs[i] = render(i, false)
	}
	view := func(lo, hi int) string {
		s := strings.Join(tabs[lo:hi], " ")
		if lo > 0 {
			s = st.Tab.Render("‹") + " " + s
		}
		if hi < len(tabs) {
			s += " " + st.Tab.Render("›")
		}
		return s
	}
	lo, hi := active, active+1
	for grew := true; grew; {
		grew = false
		if hi < len(tabs) && lipgloss.Width(view(lo, hi+1)) <= width {
			hi, grew = hi+1, true
		}
		if lo > 0 && lipgloss.Width(view(lo-1, hi)) <= width {
			lo, grew = lo-1, true
		}
	}
	return view(lo, hi)
}

func (a *App) statusLine() string {
	st := a.c.Styles
	var right string
	if sv, ok := a.Screen(common.ScreenSync).(interface{ Progress() (int, bool) }); ok {
		if pct, on := sv.Progress(); on {
			right = st.Info.Render(fmt.Sprintf("run active %d%% (5)", pct))
		}
	}
	left := a.status
	if left == "" && a.service != "" {
		left = a.service
	}
	switch {
	case left == "":
	case a.statusErr:
		left = st.Error.Render("! " + left)
	default:
		left = st.Status.Render(left)
	}
	gap := a.width - lipgloss.Width(left) - lipgloss.Width(right)
	if gap < 1 {
		return common.Fit(left, max(0, a.width-lipgloss.Width(right)-1)) + " " + right
	}
	return left + strings.Repeat(" ", gap) + right
}

func (a *App) overlay(title, body, foot string) string {
	st := a.c.Styles
	w := min(a.width-4, 70)
	lines := []string{st.Title.Render(title), ""}
	lines = append(lines, common.Wrap(body, w-4)...)
	lines = append(lines, "", foot)
	box := st.Box.Width(w).Render(strings.Join(lines, "\n"))
	return lipgloss.Place(a.width, a.contentHeight(), lipgloss.Center, lipgloss.Center, box)
}

func (a *App) fullHelp() string {
	st := a.c.Styles
	var lines []string
	lines = append(lines, st.Title.Render("Keys · "+a.factories[a.active].Title), "")
	for _, group := range a.FullHelp() {
		for _, b := range group {
			if !b.Enabled() {
				continue
			}
			h := b.Help()
			lines = append(lines, fmt.Sprintf("  %-14s %s", h.Key, h.Desc))
		}
		lines = append(lines, "")
	}
	lines = append(lines, st.Muted.Render("? or esc closes this help"))
	// Lay the lines out in columns when they don't fit.
	h := a.contentHeight()
	if len(lines) <= h {
		return strings.Join(lines, "\n")
	}
	colW := 36
	cols := (len(lines) + h - 1) / h
	out := make([]string, h)
	for c := range cols {
		for r := range h {
			i := c*h + r
			if i >= len(lines) {
				break
			}
			out[r] += lipgloss.NewStyle().Width(colW).MaxWidth(colW).Render(common.Fit(lines[i], colW-1))
		}
	}
	return strings.Join(out, "\n")
}

// View renders the header, the active screen (or a prompt, or full help), the
// status line and the help footer.
func (a *App) View() tea.View {
	var content string
	switch {
	case a.confirm != nil:
		foot := "y " + a.confirm.YesKey + " · n/esc go back"
		content = a.overlay(a.confirm.Title, a.confirm.Body, foot)
	case a.showHelp:
		content = a.fullHelp()
	default:
		content = a.screens[a.active].View()
	}
	footer := a.help.ShortHelpView(a.ShortHelp())
	if a.confirm != nil {
		footer = a.c.Styles.Help.ShortKey.Render("y") + " " + a.c.Styles.Help.ShortDesc.Render("yes") + " · " +
			a.c.Styles.Help.ShortKey.Render("n/esc") + " " + a.c.Styles.Help.ShortDesc.Render("no")
	}
	s := a.header() + "\n" + common.Clip(content, a.width, a.contentHeight()) + "\n" + a.statusLine() + "\n" + common.Fit(footer, a.width)
	a.frame.Store(&s)
	v := tea.NewView(s)
	v.AltScreen = true
	v.WindowTitle = "pbx365 · " + a.factories[a.active].Title
	if sv, ok := a.Screen(common.ScreenSync).(interface{ Progress() (int, bool) }); ok {
		if pct, on := sv.Progress(); on {
			v.ProgressBar = tea.NewProgressBar(tea.ProgressBarDefault, pct)
			v.WindowTitle = fmt.Sprintf("pbx365 · sync %d%%", pct)
		}
	}
	return v
}

// Run runs the TUI until the user quits or ctx ends, then cancels and waits
// for in-flight backend calls and an active run.
func Run(parent context.Context, b Backend, opts Options, progOpts ...tea.ProgramOption) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	a := newApp(ctx, b, opts)
	p := tea.NewProgram(a, append([]tea.ProgramOption{tea.WithContext(ctx)}, progOpts...)...)
	_, err := p.Run()
	cancel()
	timeout := opts.ShutdownTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	if !a.Shutdown(timeout) && err == nil {
		err = fmt.Errorf("tui: backend work still running after %s", timeout)
	}
	if errors.Is(err, tea.ErrProgramKilled) && parent.Err() != nil {
		return nil // ended by the context (signal)
	}
	return err
}
