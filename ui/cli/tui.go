package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/pbx365/pbx365/store"
	"github.com/pbx365/pbx365/sync/app"
	"github.com/pbx365/pbx365/ui"
	"github.com/pbx365/pbx365/ui/backend"
)

// tuiLog sends the engines' logs to a file while the TUI owns the terminal.
func tuiLog(dir string) (*slog.Logger, func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, "tui.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, err
	}
	l := slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelInfo}))
	prev := slog.Default()
	slog.SetDefault(l)
	return l, func() { slog.SetDefault(prev); f.Close() }, nil
}

// TUI is pbx365 with no command: the terminal UI, attached to the running
// service when there is one (everything then runs in the service), else on
// the store itself.
func TUI(ctx context.Context, dataDir string, sio IO) int {
	if dataDir == "" {
		d, err := defaultDir()
		if err != nil {
			fmt.Fprintf(sio.Err, "pbx365: %v\n", err)
			return ExitFailed
		}
		dataDir = d
	}
	if r, err := backend.Dial(ctx, dataDir); err == nil {
		defer r.Close()
		if err := ui.Run(ctx, r, ui.Options{}); err != nil {
			fmt.Fprintf(sio.Err, "pbx365: %v\n", err)
			return ExitFailed
		}
		return ExitOK
	}
	a, ok := openApp(dataDir, sio, "")
	if !ok {
		return ExitFailed
	}
	defer a.Close()
	log, closeLog, err := tuiLog(a.Dir)
	if err != nil {
		fmt.Fprintf(sio.Err, "pbx365: %v\n", err)
		return ExitFailed
	}
	defer closeLog()
	a.Log = log
	if err := ui.Run(ctx, backend.NewLocal(a), ui.Options{}); err != nil {
		fmt.Fprintf(sio.Err, "pbx365: %v\n", err)
		return ExitFailed
	}
	return ExitOK
}

// DemoOptions are the flags of pbx365 demo.
type DemoOptions struct {
	Users int
	Seed  int64
}

// Demo is pbx365 demo: the TUI against a simulated tenant and PBX started in
// this process, with a temporary data dir configured for them.
func Demo(ctx context.Context, opt DemoOptions, sio IO) int {
	dir, err := os.MkdirTemp("", "pbx365-demo-")
	if err != nil {
		fmt.Fprintf(sio.Err, "pbx365 demo: %v\n", err)
		return ExitFailed
	}
	defer os.RemoveAll(dir)
	fmt.Fprintf(sio.Err, "Starting a simulated tenant of %d users and a simulated 3CX...\n", opt.Users)
	sims, a, err := DemoEnv(dir, opt)
	if err != nil {
		fmt.Fprintf(sio.Err, "pbx365 demo: %v\n", err)
		return ExitFailed
	}
	defer sims.Close()
	defer a.Close()
	log, closeLog, err := tuiLog(dir)
	if err != nil {
		fmt.Fprintf(sio.Err, "pbx365 demo: %v\n", err)
		return ExitFailed
	}
	defer closeLog()
	a.Log = log
	if err := ui.Run(ctx, backend.NewLocal(a), ui.Options{Demo: true}); err != nil {
		fmt.Fprintf(sio.Err, "pbx365 demo: %v\n", err)
		return ExitFailed
	}
	return ExitOK
}

// DemoEnv starts the simulators and opens a data dir in dir configured for
// them (the demo, and tests of the demo).
func DemoEnv(dir string, opt DemoOptions) (*app.Sims, *app.App, error) {
	if opt.Users == 0 {
		opt.Users = 300
	}
	sims, err := app.StartSims(app.SimOptions{Seed: opt.Seed, Users: opt.Users, Dir: dir})
	if err != nil {
		return nil, nil, err
	}
	a, err := app.Open(filepath.Join(dir, "data"))
	if err != nil {
		sims.Close()
		return nil, nil, err
	}
	if err := sims.Configure(a.Store); err != nil {
		a.Close()
		sims.Close()
		return nil, nil, err
	}
	return sims, a, nil
}

func defaultDir() (string, error) { return store.DefaultDir() }
