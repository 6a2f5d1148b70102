package contacts_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pbx365/pbx365/graphclient/m365sim"
	"github.com/pbx365/pbx365/sync/app"
	"github.com/pbx365/pbx365/sync/app/apptest"
	"github.com/pbx365/pbx365/sync/contacts"
	"github.com/pbx365/pbx365/sync/users"
)

// benchEnv is n linked users whose mailboxes hold perUser contacts each.
func benchEnv(b *testing.B, n, perUser int) *env {
	b.Helper()
	sims, a := apptest.Open(b, app.SimOptions{Seed: 5, Users: n}, map[string]string{"contacts.personal": "true"})
	ctx := context.Background()
	ueng, err := a.Users(ctx)
	if err != nil {
		b.Fatal(err)
	}
	p, snap, err := ueng.Plan(ctx, usersFull)
	if err != nil {
		b.Fatal(err)
	}
	run, err := ueng.Apply(ctx, p, snap, usersApply)
	if err != nil {
		b.Fatal(err)
	}
	run.Wait()
	links, err := a.Store.Links()
	if err != nil {
		b.Fatal(err)
	}
	for i, l := range links {
		mb := sims.M365.Mailbox(l.ObjectID)
		if mb == nil {
			continue
		}
		for j := len(mb.ContactFolders[0].Contacts); j < perUser; j++ {
			_, err := sims.M365.AddContact(l.ObjectID, "", m365sim.Contact{GivenName: fmt.Sprintf("Given%d", j), Surname: fmt.Sprintf("Sur%d", i),
				CompanyName: "Bench Co", MobilePhone: fmt.Sprintf("+1 212 555 %04d", j), BusinessPhones: []string{fmt.Sprintf("+44 20 7946 %04d", i%10000)},
				EmailAddresses: []m365sim.EmailAddress{{Address: fmt.Sprintf("c%d.%d@bench.example", i, j)}}})
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	eng, err := a.Contacts(ctx)
	if err != nil {
		b.Fatal(err)
	}
	return &env{sims: sims, app: a, eng: eng}
}

// BenchmarkContactSync measures a first sync and a no-change resync:
// Graph and PBX requests and wall time of each. Run with -benchtime=1x.
func BenchmarkContactSync(b *testing.B) {
	for _, size := range []struct{ users, per int }{{100, 200}, {300, 200}, {1000, 200}} {
		b.Run(fmt.Sprintf("users=%d/contacts=%d", size.users, size.per), func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				e := benchEnv(b, size.users, size.per)
				e.sims.M365.ResetRequests()
				e.sims.PBX.ResetRequests()
				b.StartTimer()
				start := time.Now()
				first := benchRun(b, e.eng, true)
				firstWall := time.Since(start)
				b.StopTimer()
				gFirst, pFirst := e.sims.M365.RequestCount("", ""), e.sims.PBX.RequestCount("", "/xapi/")
				b.ReportMetric(simSeconds(e).Seconds(), "pbx-sim-s/first")
				e.sims.M365.ResetRequests()
				e.sims.PBX.ResetRequests()
				b.StartTimer()
				start = time.Now()
				again := benchRun(b, e.eng, false)
				againWall := time.Since(start)
				b.StopTimer()
				if again.Writes() != 0 {
					b.Fatalf("the resync plans %v", again.Counts)
				}
				b.ReportMetric(float64(first.Counts["create"]), "entries")
				b.ReportMetric(float64(gFirst), "graph-req/first")
				b.ReportMetric(float64(pFirst), "pbx-req/first")
				b.ReportMetric(firstWall.Seconds(), "s/first")
				b.ReportMetric(float64(e.sims.M365.RequestCount("", "")), "graph-req/resync")
				b.ReportMetric(float64(e.sims.PBX.RequestCount("", "/xapi/")), "pbx-req/resync")
				b.ReportMetric(againWall.Seconds(), "s/resync")
				// Time the simulators spent serving the resync (summed over
				// concurrent requests): what a real PBX and Graph would replace.
				var gs time.Duration
				for _, r := range e.sims.M365.Requests() {
					gs += r.Duration
				}
				b.ReportMetric(gs.Seconds(), "graph-sim-s/resync")
				b.ReportMetric(simSeconds(e).Seconds(), "pbx-sim-s/resync")
			}
		})
	}
}

func benchRun(b *testing.B, eng *contacts.Engine, full bool) contacts.Plan {
	b.Helper()
	ctx := context.Background()
	p, snap, err := eng.Plan(ctx, contacts.Options{Full: full})
	if err != nil {
		b.Fatal(err)
	}
	run, err := eng.Apply(ctx, p, snap, contacts.ApplyOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if sum := run.Wait(); failed(sum) != 0 || sum.Err != "" {
		b.Fatalf("run: %+v", sum)
	}
	return p
}

var (
	usersFull  = users.Options{Full: true}
	usersApply = users.ApplyOptions{}
)

// simSeconds is the time the simulated PBX spent serving the logged requests.
func simSeconds(e *env) time.Duration {
	var d time.Duration
	for _, r := range e.sims.PBX.Requests() {
		d += r.Duration
	}
	return d
}
