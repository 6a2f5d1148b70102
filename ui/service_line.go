package ui

import (
	"context"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/pbx365/pbx365/ui/common"
)

// servicePoll is how often an attached TUI re-reads the service's status.
const servicePoll = 10 * time.Second

// serviceLineMsg carries the service's status line.
type serviceLineMsg struct {
	line string
	err  error
}

// serviceTickMsg asks for the next read.
type serviceTickMsg struct{}

// readServiceLine reads the service's status, when attached to one.
func (a *App) readServiceLine() tea.Cmd {
	sb, ok := a.c.Backend.(common.ServiceBackend)
	if !ok {
		return nil
	}
	return a.c.Do(func(ctx context.Context) tea.Msg {
		line, err := sb.ServiceLine(ctx)
		return serviceLineMsg{line: line, err: err}
	})
}

// updateService handles the service line's messages.
func (a *App) updateService(msg tea.Msg) (tea.Cmd, bool) {
	switch msg := msg.(type) {
	case serviceLineMsg:
		if msg.err != nil {
			a.service = "service: " + msg.err.Error()
		} else {
			a.service = msg.line
		}
		return tea.Tick(servicePoll, func(time.Time) tea.Msg { return serviceTickMsg{} }), true
	case serviceTickMsg:
		return a.readServiceLine(), true
	}
	return nil, false
}
