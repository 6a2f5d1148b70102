package notify_test

import (
	"context"
	"log/slog"

	"github.com/pbx365/pbx365/sync/app"
	"github.com/pbx365/pbx365/sync/notify"
	"github.com/pbx365/pbx365/sync/presence"
	"github.com/pbx365/pbx365/sync/scheduler"
)

// How pbx365 serve wires the manager: the scheduler takes users and contacts
// runs, the presence engine refreshes one user, the store keeps the
// subscriptions. (Compiled, not run: it needs a configured data directory.)
func Example_serve() {
	ctx := context.Background()
	a, err := app.Open("")
	if err != nil {
		return
	}
	defer a.Close()
	s, err := a.Store.Settings()
	if err != nil || s.Notify.PublicURL == "" {
		return // notifications off: polling only
	}
	g, err := a.Graph(ctx)
	if err != nil {
		return
	}
	var sch *scheduler.Scheduler // the service's scheduler
	var pres *presence.Engine    // the service's presence engine (nil when calendar.enabled is off)
	deps := notify.Deps{
		Graph: g,
		Store: a.Store,
		Log:   slog.Default(),
		Targets: notify.StoreTargets(a.Store, func(ctx context.Context, upn string) (string, error) {
			u, err := g.GetUser(ctx, upn)
			return u.ID, err
		}),
		SyncUsers: func() { sch.Trigger(scheduler.Request{Reason: "notification"}) },
		// The scheduler's contacts run follows each user run.
		SyncContacts: func(string) { sch.Trigger(scheduler.Request{Reason: "notification"}) },
	}
	if pres != nil {
		deps.RefreshPresence = pres.RefreshUser
	}
	m, err := notify.New(notify.FromSettings(s.Notify), deps)
	if err != nil {
		slog.Error("notifications off", "err", err)
		return
	}
	sch.OnResult = func(scheduler.Result) { m.Refresh() } // new links → new calendar and contact subscriptions
	go m.Run(ctx)
}
