package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/pbx365/pbx365/store"
	"github.com/pbx365/pbx365/sync/app"
	"github.com/pbx365/pbx365/sync/scheduler"
	"github.com/pbx365/pbx365/ui/backend"
)

// NewLogger makes the service's logger: structured text lines on w, without
// timestamps when systemd runs the process (the journal adds them).
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if os.Getenv("JOURNAL_STREAM") != "" || os.Getenv("INVOCATION_ID") != "" {
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Serve is pbx365 serve: the scheduler (and the engines it drives) until ctx
// ends; then in-flight writes settle and it returns 0.
func Serve(ctx context.Context, dataDir string, sio IO) int {
	log := NewLogger(sio.Err, slog.LevelInfo)
	a, ok := openApp(dataDir, sio, "serve")
	if !ok {
		return ExitFailed
	}
	defer a.Close()
	a.Log = log
	if err := a.Store.RequireFor("serve"); err != nil {
		fmt.Fprintf(sio.Err, "pbx365 serve: %v\n", err)
		return ExitFailed
	}
	s, err := a.Store.Settings()
	if err != nil {
		fmt.Fprintf(sio.Err, "pbx365 serve: %v\n", err)
		return ExitFailed
	}
	eng, err := a.Users(ctx)
	if err != nil {
		fmt.Fprintf(sio.Err, "pbx365 serve: %v\n", err)
		return ExitFailed
	}
	eng.Log = log
	sch := &scheduler.Scheduler{
		Users:    eng,
		Interval: s.Schedule.DeltaInterval,
		Nightly:  nightly(s.Schedule.Nightly),
		Log:      log,
		RunLock:  &a.RunMu,
		Reload: func() (time.Duration, scheduler.NightlyFunc, error) {
			s, err := a.Store.Settings()
			if err != nil {
				return 0, nil, err
			}
			return s.Schedule.DeltaInterval, nightly(s.Schedule.Nightly), nil
		},
	}
	log.Info("pbx365 serve started", "data_dir", a.Dir, "interval", s.Schedule.DeltaInterval, "nightly", s.Schedule.Nightly.String())
	if err := runService(ctx, a, sch); err != nil {
		log.Error("pbx365 serve stopped", "err", err)
		return ExitFailed
	}
	log.Info("pbx365 serve stopped: in-flight writes settled")
	return ExitOK
}

func nightly(t store.TimeOfDay) scheduler.NightlyFunc {
	return func(now time.Time) time.Time { return t.Next(now.Local()) }
}

// runService runs the scheduler and the socket API (for TUIs and `service
// status`) until ctx ends.
func runService(ctx context.Context, a *app.App, sch *scheduler.Scheduler) error {
	srv := &backend.Server{Local: backend.NewLocal(a), Sched: sch, Log: sch.Log}
	sch.OnEvent = srv.Publish
	sock := backend.SocketPath(a.Dir)
	errc := make(chan error, 1)
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { errc <- srv.Listen(sctx, sock) }()
	err := sch.Run(ctx)
	stop()
	if lerr := <-errc; err == nil {
		err = lerr
	}
	return err
}
