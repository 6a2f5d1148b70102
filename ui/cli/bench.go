package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/pbx365/pbx365/graphclient/m365sim"
	"github.com/pbx365/pbx365/sync/app"
	"github.com/pbx365/pbx365/sync/progress"
)

// BenchOptions are the flags of pbx365 bench.
type BenchOptions struct {
	Users        int
	Changes      int
	GraphLatency time.Duration
	PBXLatency   time.Duration
	Concurrency  int // the engine's PBX write concurrency (for the floor)
}

// benchRun is one measured sync.
type benchRun struct {
	name         string
	wall         time.Duration
	cpu          time.Duration
	maxRSS       int64 // KiB
	graphReqs    int
	pbxReads     int
	pbxWrites    int
	sum          progress.Summary
	floor        time.Duration
	graphLatency time.Duration
}

// Bench is pbx365 bench: a full sync of a generated tenant and an incremental
// sync after a batch of directory changes, against the simulators with
// injected latency. The syncs run as separate pbx365 processes (this binary,
// `pbx365 sync`), so CPU and peak RSS are the client's own.
func Bench(ctx context.Context, opt BenchOptions, sio IO) int {
	dir, err := os.MkdirTemp("", "pbx365-bench-")
	if err != nil {
		fmt.Fprintf(sio.Err, "pbx365 bench: %v\n", err)
		return ExitFailed
	}
	defer os.RemoveAll(dir)
	fmt.Fprintf(sio.Out, "Generating a tenant of %d users and starting the simulators...\n", opt.Users)
	sims, err := app.StartSims(app.SimOptions{Seed: 42, Users: opt.Users, Dir: dir})
	if err != nil {
		fmt.Fprintf(sio.Err, "pbx365 bench: %v\n", err)
		return ExitFailed
	}
	defer sims.Close()
	data := filepath.Join(dir, "data")
	a, err := app.Open(data)
	if err == nil {
		err = sims.Configure(a.Store)
		if err == nil {
			_, err = a.Store.Set("users.max_removals", "100%")
		}
		a.Close()
	}
	if err != nil {
		fmt.Fprintf(sio.Err, "pbx365 bench: %v\n", err)
		return ExitFailed
	}
	sims.M365.SetLatency(opt.GraphLatency)
	sims.PBX.SetLatency(opt.PBXLatency)

	var runs []benchRun
	full, err := benchSync(ctx, sims, data, "full sync", []string{"sync", "--yes", "--json"}, opt)
	if err != nil {
		fmt.Fprintf(sio.Err, "pbx365 bench: %v\n", err)
		return ExitFailed
	}
	runs = append(runs, full)
	if err := benchChanges(sims.M365, opt.Changes); err != nil {
		fmt.Fprintf(sio.Err, "pbx365 bench: change the tenant: %v\n", err)
		return ExitFailed
	}
	inc, err := benchSync(ctx, sims, data, fmt.Sprintf("incremental, %d changes", opt.Changes),
		[]string{"sync", "--delta", "--yes", "--json"}, opt)
	if err != nil {
		fmt.Fprintf(sio.Err, "pbx365 bench: %v\n", err)
		return ExitFailed
	}
	runs = append(runs, inc)

	w := sio.Out
	fmt.Fprintf(w, "\n%d users; Graph latency %s, PBX latency %s, PBX write concurrency %d\n\n", opt.Users, opt.GraphLatency, opt.PBXLatency, opt.Concurrency)
	fmt.Fprintf(w, "%-28s %9s %9s %9s %9s %8s %8s %9s  %s\n", "run", "wall", "floor", "cpu", "peak RSS", "graph", "pbx rd", "pbx wr", "written")
	for _, r := range runs {
		fmt.Fprintf(w, "%-28s %9s %9s %9s %7dMB %8d %8d %9d  %s\n", r.name, r.wall.Round(time.Millisecond), r.floor.Round(time.Millisecond),
			r.cpu.Round(time.Millisecond), r.maxRSS/1024, r.graphReqs, r.pbxReads, r.pbxWrites, doneLine(r.sum))
	}
	fmt.Fprintln(w, "\nfloor = Graph requests × Graph latency + PBX reads × PBX latency + PBX writes × PBX latency ÷ concurrency")
	return ExitOK
}

func doneLine(s progress.Summary) string {
	var ks []string
	for a, n := range s.Done {
		ks = append(ks, fmt.Sprintf("%d %s", n, a))
	}
	sort.Strings(ks)
	if n := failedCount(s); n > 0 {
		ks = append(ks, fmt.Sprintf("%d FAILED", n))
	}
	return fmt.Sprint(ks)
}

func benchSync(ctx context.Context, sims *app.Sims, data, name string, args []string, opt BenchOptions) (benchRun, error) {
	r := benchRun{name: name}
	self, err := os.Executable()
	if err != nil {
		return r, err
	}
	sims.M365.ResetRequests()
	sims.PBX.ResetRequests()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, self, append([]string{"--data-dir", data}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	start := time.Now()
	err = cmd.Run()
	r.wall = time.Since(start)
	if err != nil {
		return r, fmt.Errorf("%s: %w", name, err)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		r.maxRSS = ru.Maxrss
	}
	sc := bufio.NewScanner(&out)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var line struct {
			Type string `json:"type"`
			progress.Summary
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Type == "summary" {
			r.sum = line.Summary
		}
	}
	r.graphReqs = sims.M365.RequestCount("", "/v1.0") + sims.M365.RequestCount("POST", "/"+sims.M365.TenantID())
	r.pbxReads = sims.PBX.RequestCount("GET", "/xapi") + sims.PBX.RequestCount("POST", "/connect")
	r.pbxWrites = sims.PBX.RequestCount("POST", "/xapi") + sims.PBX.RequestCount("PATCH", "/xapi") + sims.PBX.RequestCount("DELETE", "/xapi")
	conc := max(opt.Concurrency, 1)
	r.floor = time.Duration(r.graphReqs)*opt.GraphLatency + time.Duration(r.pbxReads)*opt.PBXLatency +
		time.Duration(r.pbxWrites)*opt.PBXLatency/time.Duration(conc)
	return r, nil
}

// benchChanges makes n directory changes: renames, phone changes, disables,
// soft deletions and additions, in that mix.
func benchChanges(m *m365sim.Sim, n int) error {
	var members []m365sim.User
	for _, u := range m.Users() {
		if u.UserType == "Member" && u.AccountEnabled && u.DeletedDateTime.IsZero() && u.Mail != "" {
			members = append(members, u)
		}
	}
	if len(members) < n {
		return fmt.Errorf("only %d members for %d changes", len(members), n)
	}
	domain := members[0].Mail[bytes.IndexByte([]byte(members[0].Mail), '@')+1:]
	for i := 0; i < n; i++ {
		u := members[i*len(members)/n]
		var err error
		switch i % 10 {
		case 0, 1, 2, 3:
			err = m.UpdateUser(u.ID, func(x *m365sim.User) { x.GivenName = "Changed" + x.GivenName })
		case 4, 5, 6:
			err = m.UpdateUser(u.ID, func(x *m365sim.User) { x.MobilePhone = fmt.Sprintf("+1 415 555 %04d", i) })
		case 7:
			err = m.DisableUser(u.ID)
		case 8:
			err = m.SoftDeleteUser(u.ID)
		case 9:
			_, err = m.AddUser(m365sim.User{DisplayName: fmt.Sprintf("Bench New %d", i), GivenName: "Bench", Surname: fmt.Sprintf("New %d", i),
				UserPrincipalName: fmt.Sprintf("bench.new%d@%s", i, domain), Mail: fmt.Sprintf("bench.new%d@%s", i, domain),
				UserType: "Member", AccountEnabled: true})
		}
		if err != nil {
			return err
		}
	}
	return nil
}
