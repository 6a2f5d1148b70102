package ui

import (
	"context"
	"io"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/pbx365/pbx365/ui/uitest"
)

func TestRunEndsWithItsContext(t *testing.T) {
	f := uitest.NewFake(50)
	f.Configure()
	ctx, cancel := context.WithCancel(context.Background())
	loaded := make(chan struct{}, 1)
	f.Hooks = map[string]func(){"Directory": func() { loaded <- struct{}{} }}
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, f, Options{ShutdownTimeout: 5 * time.Second},
			tea.WithInput(nil), tea.WithOutput(io.Discard), tea.WithWindowSize(80, 24), tea.WithoutSignals())
	}()
	select {
	case <-loaded:
	case <-time.After(5 * time.Second):
		t.Fatal("the program never asked for the directory")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}
