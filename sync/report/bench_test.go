package report

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/pbx365/pbx365/graphclient"
	"github.com/pbx365/pbx365/store"
	"github.com/pbx365/pbx365/sync/plan"
	"github.com/pbx365/pbx365/sync/progress"
	"github.com/pbx365/pbx365/sync/scheduler"
)

type nopMailer struct{}

func (nopMailer) SendMail(context.Context, graphclient.Message) error { return nil }

// BenchmarkAlertForALargeRun measures handling one failed run of 10,000
// audit items (100 failed): reading the failed items, composing the mail,
// recording the alert (the mail itself is not sent: nopMailer).
func BenchmarkAlertForALargeRun(b *testing.B) {
	s, err := store.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.SetMany(map[string]string{"mail.from": "pbx@example.com", "mail.to": "a@example.com"}); err != nil {
		b.Fatal(err)
	}
	run, err := s.StartRun("users/full", "")
	if err != nil {
		b.Fatal(err)
	}
	items := make([]store.RunItem, 10000)
	for i := range items {
		items[i] = store.RunItem{Run: run.ID, ObjectID: fmt.Sprintf("oid-%d", i), UPN: fmt.Sprintf("u%d@example.com", i),
			Number: fmt.Sprint(1000 + i), Action: "update", Result: store.ResultOK}
		if i%100 == 0 {
			items[i].Result, items[i].Error = store.ResultFailed, "update user: PBX answered 500"
		}
	}
	if err := s.AppendRunItems(items); err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	r, err := New(Config{Store: s, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Host: "h",
		Mailer: func(context.Context) (Mailer, error) { return nopMailer{}, nil }, Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	res := scheduler.Result{Kind: "full", Reason: "nightly", Summary: progress.Summary{RunID: run.ID, Failed: map[plan.Action]int{plan.ActUpdate: 100}}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		now = now.AddDate(0, 0, 1) // a new day: every handle mails
		r.handle(context.Background(), res)
	}
}
