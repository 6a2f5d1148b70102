package app

import (
	"context"

	"github.com/pbx365/pbx365/sync/presence"
)

// Presence builds the calendar → PBX status engine on the wall clock. The
// service runs its Start; the TUI reads Snapshot and Subscribe.
func (a *App) Presence(ctx context.Context) (*presence.Engine, error) {
	g, err := a.Graph(ctx)
	if err != nil {
		return nil, err
	}
	p, err := a.PBX()
	if err != nil {
		return nil, err
	}
	return &presence.Engine{Dir: g, PBX: p, State: presence.StoreState{S: a.Store}, Log: a.Log, Clock: presence.SystemClock{}}, nil
}
