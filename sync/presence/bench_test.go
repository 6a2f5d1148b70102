package presence_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pbx365/pbx365/graphclient/m365sim"
	"github.com/pbx365/pbx365/pbxclient/pbxsim"
	"github.com/pbx365/pbx365/store"
	"github.com/pbx365/pbx365/sync/app"
)

// bigEnv is n calendar users linked to extensions of the simulated PBX (the
// links are written directly: user sync is not what is measured). The
// tenant's generated calendars are anchored 30 days back so that only the
// benchmark's meetings fall in the next 24 hours.
type bigEnv struct {
	sims  *app.Sims
	app   *app.App
	users []calUser
}

func newBigEnv(b *testing.B, n int) *bigEnv {
	b.Helper()
	dir := b.TempDir()
	var generating atomic.Bool
	generating.Store(true)
	now := func() time.Time {
		if generating.Load() {
			return time.Now().AddDate(0, 0, -30)
		}
		return time.Now()
	}
	sims, err := app.StartSims(app.SimOptions{Seed: 5, Users: n * 5 / 4, Dir: dir, Now: now})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(sims.Close)
	generating.Store(false)
	a, err := app.Open(filepath.Join(dir, "data"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Close() })
	if err := sims.Configure(a.Store); err != nil {
		b.Fatal(err)
	}
	if err := a.Store.SetMany(map[string]string{"calendar.enabled": "true", "calendar.refresh": "1h"}); err != nil {
		b.Fatal(err)
	}
	e := &bigEnv{sims: sims, app: a}
	var links []store.Link
	for _, u := range sims.M365.Users() {
		if len(e.users) == n {
			break
		}
		if u.Mailbox != m365sim.MailboxUser || u.Mail == "" || !u.AccountEnabled || !u.DeletedDateTime.IsZero() {
			continue
		}
		num := fmt.Sprint(20000 + len(e.users))
		id, err := sims.PBX.AddUser(pbxsim.User{Number: num, FirstName: "U" + num, EmailAddress: u.Mail, Enabled: true})
		if err != nil {
			b.Fatal(err)
		}
		links = append(links, store.Link{ObjectID: u.ID, PBXUserID: id, Number: num})
		e.users = append(e.users, calUser{ObjectID: u.ID, Mail: u.Mail, PBXID: id, Number: num})
	}
	if len(e.users) < n {
		b.Fatalf("only %d users with a mailbox, want %d", len(e.users), n)
	}
	if err := a.Store.PutLinks(links); err != nil {
		b.Fatal(err)
	}
	return e
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// outer counts the Graph HTTP requests (not the items inside a $batch).
func outer(s *m365sim.Sim) (requests, scheduleCalls int) {
	for _, r := range s.Requests() {
		if !r.InBatch {
			requests++
		} else if r.Method == "POST" {
			scheduleCalls++
		}
	}
	return
}

// BenchmarkRefresh10k is one full refresh of 10,000 calendar users: their
// addresses from the PBX, free/busy for 24 hours from getSchedule, the
// decisions. CPU is the whole process's (engine and both simulators).
func BenchmarkRefresh10k(b *testing.B) {
	e := newBigEnv(b, 10000)
	ctx := context.Background()
	eng, err := e.app.Presence(ctx)
	if err != nil {
		b.Fatal(err)
	}
	// A meeting now and then, so timelines are not empty.
	start := time.Now().Add(time.Hour).Truncate(time.Minute)
	for i, u := range e.users {
		if i%3 == 0 {
			if _, err := e.sims.M365.AddMeeting(u.ObjectID, m365sim.Meeting{Subject: "Review", Start: start.Add(time.Duration(i%50) * time.Minute), End: start.Add(time.Duration(i%50+30) * time.Minute)}); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := eng.RefreshAll(ctx); err != nil { // warm-up: token, anchors
		b.Fatal(err)
	}
	e.sims.M365.ResetRequests()
	e.sims.PBX.ResetRequests()
	cpu0 := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		if err := eng.RefreshAll(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	reqs, calls := outer(e.sims.M365)
	b.ReportMetric(float64(reqs)/float64(b.N), "graph-requests/op")
	b.ReportMetric(float64(calls)/float64(b.N), "getSchedule-calls/op")
	b.ReportMetric(float64(len(e.sims.PBX.Requests()))/float64(b.N), "pbx-requests/op")
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
	for _, p := range eng.Snapshot() {
		if p.Err != "" {
			b.Fatalf("%s: %s", p.Number, p.Err)
		}
	}
}

// BenchmarkTransitionLateness10k has 10,000 users' meetings start at the
// same second and end 30 seconds later, on the wall clock, and reports how
// late each profile write finished against its scheduled time.
func BenchmarkTransitionLateness10k(b *testing.B) { benchLateness(b, 10000) }

// BenchmarkTransitionLateness1k is the same with 1,000 users (a tenant of
// 10,000 where a tenth has a meeting starting at the same time).
func BenchmarkTransitionLateness1k(b *testing.B) { benchLateness(b, 1000) }

func benchLateness(b *testing.B, n int) {
	e := newBigEnv(b, n)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	eng, err := e.app.Presence(ctx)
	if err != nil {
		b.Fatal(err)
	}
	changes, unsub := eng.Subscribe(4 * len(e.users))
	defer unsub()
	done := make(chan error, 1)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		// After the refresh and the profile prefetch.
		start := time.Now().Add(5*time.Second + time.Duration(n)*3500*time.Microsecond).Truncate(time.Second)
		end := start.Add(30 * time.Second)
		for _, u := range e.users {
			if _, err := e.sims.M365.AddMeeting(u.ObjectID, m365sim.Meeting{Subject: "All hands", Start: start, End: end}); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		if i == 0 {
			go func() { done <- eng.Start(ctx) }()
		} else if err := eng.RefreshAll(ctx); err != nil {
			b.Fatal(err)
		}
		var set, restore []time.Duration
		timeout := time.After(end.Sub(time.Now()) + 2*time.Minute)
		for len(set) < len(e.users) || len(restore) < len(e.users) {
			select {
			case c := <-changes:
				switch {
				case c.Action == "set_profile" && c.Due.Equal(start):
					set = append(set, c.Time.Sub(c.Due))
				case c.Action == "restore_profile" && c.Due.Equal(end):
					restore = append(restore, c.Time.Sub(c.Due))
				case c.Action == "error":
					b.Fatalf("transition failed: %+v", c)
				}
			case <-timeout:
				b.Fatalf("only %d sets and %d restores arrived", len(set), len(restore))
			}
		}
		report(b, "set", set)
		report(b, "restore", restore)
	}
	b.StopTimer()
	cancel()
	<-done
}

func report(b *testing.B, name string, ds []time.Duration) {
	slices.Sort(ds)
	q := func(p float64) float64 { return float64(ds[int(p*float64(len(ds)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.5), name+"-p50-ms")
	b.ReportMetric(q(0.99), name+"-p99-ms")
	b.ReportMetric(q(1), name+"-max-ms")
}
