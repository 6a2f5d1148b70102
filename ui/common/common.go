// Package common holds what the TUI's root and its screens share: the Backend
// interface and its plain types, the one Styles struct, the global keys, the
// Screen contract, cross-screen messages and the Context that tracks in-flight
// work so the program can wait for it on exit.
package common

import (
	"context"
	"sync"
	"time"

	"charm.land/bubbles/v2/help"
	tea "charm.land/bubbletea/v2"

	"github.com/pbx365/pbx365/sync/plan"
	"github.com/pbx365/pbx365/sync/progress"
)

// ScreenID names a screen.
type ScreenID string

// The screens of the admin TUI. Later issues register more (Contacts,
// Presence, SSO) through the registry without touching the root.
const (
	ScreenSetup    ScreenID = "setup"
	ScreenUsers    ScreenID = "users"
	ScreenPlan     ScreenID = "plan"
	ScreenSettings ScreenID = "settings"
	ScreenSync     ScreenID = "sync"
	ScreenActivity ScreenID = "activity"
)

// Screen is one page of the TUI. Update mutates in place and returns a Cmd.
// Keys reach only the active screen; every other message reaches every screen,
// which keeps only its own results (matched by request ID).
type Screen interface {
	Init() tea.Cmd
	Update(msg tea.Msg) tea.Cmd
	// View renders the screen into exactly the size set last.
	View() string
	SetSize(width, height int)
	help.KeyMap
	// CapturesInput is true while a text input has focus: the root then skips
	// global shortcuts so typed letters reach the input.
	CapturesInput() bool
}

// Activatable is implemented by screens that refresh when shown.
type Activatable interface {
	Activated() tea.Cmd
}

// Factory registers a screen: its ID, tab title and constructor.
type Factory struct {
	ID    ScreenID
	Title string
	New   func(c *Context) Screen
}

// Context is shared by the root and every screen. Update runs on one
// goroutine, so its plain fields need no lock; the tracker is safe for Cmds.
type Context struct {
	Backend Backend
	Styles  *Styles
	Demo    bool

	// RunActive is set by the sync screen while a run applies.
	RunActive bool

	ctx     context.Context
	reqID   uint64
	mu      sync.Mutex
	closing bool
	wg      sync.WaitGroup
	runs    map[uint64]<-chan progress.Event
}

// NewContext makes a Context whose work is cancelled with ctx.
func NewContext(ctx context.Context, b Backend, demo bool) *Context {
	return &Context{Backend: b, Styles: NewStyles(true), Demo: demo, ctx: ctx, runs: map[uint64]<-chan progress.Event{}}
}

// Ctx is the context every backend call gets.
func (c *Context) Ctx() context.Context { return c.ctx }

// NextID returns a new request ID (call it from Update only).
func (c *Context) NextID() uint64 {
	c.reqID++
	return c.reqID
}

// Do wraps a backend call as a tracked tea.Cmd: the program waits for it on
// exit. After Shutdown started the call is not made and the Cmd returns nil.
func (c *Context) Do(f func(ctx context.Context) tea.Msg) tea.Cmd {
	return func() tea.Msg {
		c.mu.Lock()
		if c.closing {
			c.mu.Unlock()
			return nil
		}
		c.wg.Add(1)
		c.mu.Unlock()
		defer c.wg.Done()
		return f(c.ctx)
	}
}

// TrackRun registers a run's event channel; Wait drains it until the engine
// closes it, so the engine's goroutine never blocks on a reader that is gone.
func (c *Context) TrackRun(id uint64, ch <-chan progress.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.runs[id] = ch
}

// UntrackRun forgets a finished run.
func (c *Context) UntrackRun(id uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.runs, id)
}

// Wait stops new backend calls and waits up to timeout for the calls and runs
// in flight (cancel the context first so they end quickly). It reports
// whether everything finished.
func (c *Context) Wait(timeout time.Duration) bool {
	c.mu.Lock()
	c.closing = true
	c.mu.Unlock()
	all := make(chan struct{})
	go func() {
		c.wg.Wait() // calls in flight, including one that is starting a run
		c.mu.Lock()
		runs := make([]<-chan progress.Event, 0, len(c.runs))
		for _, ch := range c.runs {
			runs = append(runs, ch)
		}
		c.mu.Unlock()
		for _, ch := range runs {
			for range ch {
			}
		}
		close(all)
	}()
	select {
	case <-all:
		return true
	case <-time.After(timeout):
		return false
	}
}

// NavigateMsg switches the active screen.
type NavigateMsg struct{ To ScreenID }

// Navigate returns a Cmd that switches to a screen.
func Navigate(to ScreenID) tea.Cmd { return func() tea.Msg { return NavigateMsg{To: to} } }

// StatusMsg puts a line in the status bar.
type StatusMsg struct {
	Text string
	Err  bool
}

// Status returns a Cmd that shows a status line.
func Status(text string, isErr bool) tea.Cmd {
	return func() tea.Msg { return StatusMsg{Text: text, Err: isErr} }
}

// ConfirmMsg opens a yes/no prompt that takes every key until answered.
type ConfirmMsg struct {
	Title  string
	Body   string
	YesKey string // label of the yes answer, e.g. "apply"
	Yes    tea.Cmd
	No     tea.Cmd
}

// Confirm returns a Cmd that opens a prompt.
func Confirm(m ConfirmMsg) tea.Cmd { return func() tea.Msg { return m } }

// SelectionChosenMsg asks the plan screen to plan a selection.
type SelectionChosenMsg struct{ Selection Selection }

// StartRunMsg asks the sync screen to apply a plan the admin confirmed.
type StartRunMsg struct {
	Plan          plan.Plan
	AllowRemovals bool
}

// RunFinishedMsg tells every screen a run ended (Activity reloads).
type RunFinishedMsg struct{ RunID uint64 }

// SettingsChangedMsg tells screens that settings were saved.
type SettingsChangedMsg struct{ Key string }
