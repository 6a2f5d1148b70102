package ui

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pbx365/pbx365/graphclient/m365sim"
	"github.com/pbx365/pbx365/sync/app"
	"github.com/pbx365/pbx365/sync/scheduler"
	"github.com/pbx365/pbx365/ui/backend"
)

// The admin's flow against the real simulators over HTTPS, through the real
// engines and a real bbolt file: filter, pick five, plan shows five creates,
// apply, the PBX has them, Activity shows the run.
func TestFlowAgainstTheSimulators(t *testing.T) {
	for _, size := range [][2]int{{120, 40}, {80, 24}} {
		t.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(t *testing.T) {
			dir := t.TempDir()
			sims, err := app.StartSims(app.SimOptions{Seed: 1, Users: 300, Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			defer sims.Close()
			a, err := app.Open(filepath.Join(dir, "data"))
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			if err := sims.Configure(a.Store); err != nil {
				t.Fatal(err)
			}
			domain := m365sim.Domain
			var want []string
			for i := 1; i <= 5; i++ {
				u := m365sim.User{DisplayName: fmt.Sprintf("Ada Flowtester%d", i), GivenName: "Ada", Surname: fmt.Sprintf("Flowtester%d", i),
					UserPrincipalName: fmt.Sprintf("ada.flowtester%d@%s", i, domain), Mail: fmt.Sprintf("ada.flowtester%d@%s", i, domain),
					UserType: "Member", AccountEnabled: true}
				if _, err := sims.M365.AddUser(u); err != nil {
					t.Fatal(err)
				}
				want = append(want, strings.ToLower(u.Mail))
			}
			before := len(sims.PBX.Users())
			flow(t, backend.NewLocal(a), "flowtester", size[0], size[1])
			if got := len(sims.PBX.Users()) - before; got != 5 {
				t.Fatalf("the PBX gained %d extensions, want 5", got)
			}
			have := map[string]bool{}
			for _, u := range sims.PBX.Users() {
				have[strings.ToLower(u.EmailAddress)] = true
			}
			for _, m := range want {
				if !have[m] {
					t.Errorf("no extension for %s", m)
				}
			}
		})
	}
}

// The same flow with the TUI attached to a service over its unix socket:
// the plan is made and applied in the service, the events stream back.
func TestFlowAttachedToTheServiceSocket(t *testing.T) {
	dir := t.TempDir()
	sims, err := app.StartSims(app.SimOptions{Seed: 1, Users: 120, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer sims.Close()
	a, err := app.Open(filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := sims.Configure(a.Store); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		u := m365sim.User{DisplayName: fmt.Sprintf("Sam Sockettester%d", i), GivenName: "Sam", Surname: fmt.Sprintf("Sockettester%d", i),
			UserPrincipalName: fmt.Sprintf("sam.sockettester%d@%s", i, m365sim.Domain), Mail: fmt.Sprintf("sam.sockettester%d@%s", i, m365sim.Domain),
			UserType: "Member", AccountEnabled: true}
		if _, err := sims.M365.AddUser(u); err != nil {
			t.Fatal(err)
		}
	}
	eng, err := a.Users(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The service's side: its scheduler is idle here (no start run), so the
	// TUI's plan is the only writer.
	sch := &scheduler.Scheduler{Users: eng, RunLock: &a.RunMu}
	srv := &backend.Server{Local: backend.NewLocal(a), Sched: sch}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.Listen(ctx, backend.SocketPath(a.Dir))
	var r *backend.Remote
	for i := 0; ; i++ {
		if r, err = backend.Dial(ctx, a.Dir); err == nil {
			break
		}
		if i > 200 {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	defer r.Close()
	// The status bar shows the service.
	root := New(r, Options{})
	root.width = 100
	root.Update(root.readServiceLine()())
	if line := root.statusLine(); !strings.Contains(line, "service running") {
		t.Fatalf("status line %q", line)
	}
	before := len(sims.PBX.Users())
	flow(t, r, "sockettester", 100, 30)
	if got := len(sims.PBX.Users()) - before; got != 5 {
		t.Fatalf("the PBX gained %d extensions through the service, want 5", got)
	}
}
