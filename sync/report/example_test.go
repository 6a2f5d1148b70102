package report_test

import (
	"context"
	"log/slog"

	"github.com/pbx365/pbx365/sync/app"
	"github.com/pbx365/pbx365/sync/report"
	"github.com/pbx365/pbx365/sync/scheduler"
)

// How pbx365 serve wires the Reporter: results of the scheduler go to
// OnResult; Run mails them until ctx ends (then flushes for up to 10 s).
func Example() {
	ctx := context.Background()
	a, err := app.Open("/var/lib/pbx365")
	if err != nil {
		return
	}
	defer a.Close()
	rep, err := report.New(report.Config{
		Store:  a.Store,
		Log:    slog.Default(),
		Mailer: func(ctx context.Context) (report.Mailer, error) { return a.Graph(ctx) },
	})
	if err != nil {
		return
	}
	sch := &scheduler.Scheduler{ /* Users, Interval, Nightly, ... */ }
	sch.OnResult = rep.OnResult
	done := make(chan struct{})
	go func() { rep.Run(ctx); close(done) }()
	sch.Run(ctx)
	<-done
}
