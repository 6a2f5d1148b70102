package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/pbx365/pbx365/store"
	"github.com/pbx365/pbx365/sync/app"
	"github.com/pbx365/pbx365/sync/contacts"
	"github.com/pbx365/pbx365/sync/notify"
	"github.com/pbx365/pbx365/sync/presence"
	"github.com/pbx365/pbx365/sync/progress"
	"github.com/pbx365/pbx365/sync/report"
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
	// Contact sync follows every user run (it needs the users' links).
	sch.Contacts = func(ctx context.Context, full bool) (progress.Summary, error) {
		st, err := a.Store.Settings()
		if err != nil || (!st.Contacts.Personal && len(st.Contacts.SharedMailboxes) == 0) {
			return progress.Summary{}, err
		}
		ceng, err := a.Contacts(ctx)
		if err != nil {
			return progress.Summary{}, err
		}
		return runContacts(ctx, ceng, full, sch.OnEvent)
	}
	pres, err := a.Presence(ctx)
	if err != nil {
		fmt.Fprintf(sio.Err, "pbx365 serve: %v\n", err)
		return ExitFailed
	}
	pres.Log = log
	rep, err := report.New(report.Config{Store: a.Store, Log: log,
		Mailer: func(ctx context.Context) (report.Mailer, error) { return a.Graph(ctx) }})
	if err != nil {
		fmt.Fprintf(sio.Err, "pbx365 serve: %v\n", err)
		return ExitFailed
	}
	svc := &service{app: a, sch: sch, pres: pres, rep: rep, log: log}
	if s.Notify.PublicURL != "" {
		nm, err := newNotifier(ctx, a, s, sch, pres, log)
		if err != nil {
			log.Error("change notifications off; polling only", "err", err)
		} else {
			svc.notify = nm
		}
	}
	log.Info("pbx365 serve started", "data_dir", a.Dir, "interval", s.Schedule.DeltaInterval, "nightly", s.Schedule.Nightly.String(),
		"calendar", s.Calendar.Enabled, "contacts", s.Contacts.Personal || len(s.Contacts.SharedMailboxes) > 0, "notifications", svc.notify != nil)
	if err := svc.run(ctx); err != nil {
		log.Error("pbx365 serve stopped", "err", err)
		return ExitFailed
	}
	log.Info("pbx365 serve stopped: in-flight writes settled")
	return ExitOK
}

func nightly(t store.TimeOfDay) scheduler.NightlyFunc {
	return func(now time.Time) time.Time { return t.Next(now.Local()) }
}

// service is what serve runs side by side.
type service struct {
	app    *app.App
	sch    *scheduler.Scheduler
	pres   *presence.Engine
	rep    *report.Reporter
	notify *notify.Manager
	log    *slog.Logger
}

// run runs the scheduler, the presence engine, the reporter, the change
// notifications and the socket API (for TUIs and `service status`) until
// ctx ends; then everything settles and it returns.
func (s *service) run(ctx context.Context) error {
	srv := &backend.Server{Local: backend.NewLocal(s.app), Sched: s.sch, Log: s.log, Presence: s.pres}
	s.sch.OnEvent = srv.Publish
	s.sch.OnResult = func(r scheduler.Result) {
		s.rep.OnResult(r)
		if s.notify != nil {
			s.notify.Refresh() // newly linked users get subscriptions
		}
		if linkedNew(r.Summary) {
			go func() { // newly linked users get their calendar read now
				if err := s.pres.RefreshAll(ctx); err != nil && ctx.Err() == nil {
					s.log.Warn("presence refresh after user sync", "err", err)
				}
			}()
		}
	}
	var wg sync.WaitGroup
	bg := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil && ctx.Err() == nil {
				s.log.Error(name+" stopped", "err", err)
			}
		}()
	}
	bg("socket API", func(ctx context.Context) error { return srv.Listen(ctx, backend.SocketPath(s.app.Dir)) })
	bg("presence", s.pres.Start)
	bg("reports", func(ctx context.Context) error { s.rep.Run(ctx); return nil })
	if s.notify != nil {
		bg("change notifications", s.notify.Run)
	}
	err := s.sch.Run(ctx)
	wg.Wait()
	return err
}

// newNotifier sets up change notifications (notify.public_url is set).
func newNotifier(ctx context.Context, a *app.App, st store.Settings, sch *scheduler.Scheduler, pres *presence.Engine, log *slog.Logger) (*notify.Manager, error) {
	g, err := a.Graph(ctx)
	if err != nil {
		return nil, err
	}
	trigger := func() { sch.Trigger(scheduler.Request{Reason: "notification"}) }
	return notify.New(notify.FromSettings(st.Notify), notify.Deps{Graph: g, Store: a.Store, Log: log,
		Targets: notify.StoreTargets(a.Store, func(ctx context.Context, upn string) (string, error) {
			u, err := g.GetUser(ctx, upn)
			return u.ID, err
		}),
		SyncUsers:       trigger,
		SyncContacts:    func(string) { trigger() }, // contacts follow each user run
		RefreshPresence: pres.RefreshUser,
	})
}

// runContacts runs one contact sync and forwards its events.
func runContacts(ctx context.Context, ceng *contacts.Engine, full bool, onEvent func(progress.Event)) (progress.Summary, error) {
	if _, err := ceng.Settle(ctx); err != nil {
		return progress.Summary{}, fmt.Errorf("settle: %w", err)
	}
	p, snap, err := ceng.Plan(ctx, contacts.Options{Full: full})
	if err != nil {
		return progress.Summary{}, fmt.Errorf("plan: %w", err)
	}
	run, err := ceng.Apply(ctx, p, snap, contacts.ApplyOptions{})
	if err != nil {
		return progress.Summary{}, fmt.Errorf("apply: %w", err)
	}
	for ev := range run.Events() {
		if onEvent != nil {
			onEvent(ev)
		}
	}
	return run.Wait(), nil
}

// linkedNew reports whether a run linked users (created, adopted, recreated
// or re-enabled extensions).
func linkedNew(sum progress.Summary) bool {
	return sum.Done["create"]+sum.Done["adopt"]+sum.Done["recreate"]+sum.Done["enable"] > 0
}
