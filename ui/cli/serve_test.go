package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pbx365/pbx365/graphclient/m365sim"
	"github.com/pbx365/pbx365/store"
	"github.com/pbx365/pbx365/sync/app"
	"github.com/pbx365/pbx365/sync/app/apptest"
)

// TestMain lets a test run this binary as `pbx365 serve` in a child process
// (PBX365_TEST_SERVE=data dir), so signals hit a real process.
func TestMain(m *testing.M) {
	if dir := os.Getenv("PBX365_TEST_SERVE"); dir != "" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		code := Serve(ctx, dir, IO{Out: os.Stdout, Err: os.Stderr})
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func pbxHasFirstName(sims *app.Sims, email, first string) bool {
	for _, u := range sims.PBX.Users() {
		if strings.EqualFold(u.EmailAddress, email) {
			return u.FirstName == first
		}
	}
	return false
}

func TestServeFollowsTheTenantWithinOneInterval(t *testing.T) {
	data, sims := simDataDir(t, 40, map[string]string{"schedule.delta_interval": "1s"})
	ctx, cancel := context.WithCancel(context.Background())
	var errs apptest.LogBuffer
	done := make(chan int, 1)
	go func() { done <- Serve(ctx, data, IO{Out: &bytes.Buffer{}, Err: &errs}) }()
	var u m365sim.User
	for _, x := range sims.M365.Users() {
		if x.UserType == "Member" && x.AccountEnabled && x.Mail != "" {
			u = x
			break
		}
	}
	waitFor(t, 30*time.Second, "the first sync", func() bool { return pbxHasFirstName(sims, u.Mail, firstOf(u)) })
	if err := sims.M365.UpdateUser(u.ID, func(x *m365sim.User) { x.GivenName = "Followed" }); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitFor(t, 10*time.Second, "the rename to reach the PBX", func() bool { return pbxHasFirstName(sims, u.Mail, "Followed") })
	t.Logf("tenant change reached the PBX by polling in %s (interval 1s)", time.Since(start).Round(time.Millisecond))
	cancel()
	select {
	case code := <-done:
		if code != ExitOK {
			t.Fatalf("serve exit %d:\n%s", code, errs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
	if !strings.Contains(errs.String(), "sync run finished") {
		t.Errorf("no structured log lines:\n%s", errs.String())
	}
}

func firstOf(u m365sim.User) string {
	if u.GivenName != "" {
		return u.GivenName
	}
	if i := strings.IndexByte(u.DisplayName, ' '); i > 0 {
		return u.DisplayName[:i]
	}
	return u.DisplayName
}

func startServe(t *testing.T, data string) (*exec.Cmd, *apptest.LogBuffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PBX365_TEST_SERVE="+data)
	var out apptest.LogBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &out
}

func TestServeSIGTERMSettlesAndSIGKILLLosesNothing(t *testing.T) {
	data, sims := simDataDir(t, 150, map[string]string{"schedule.delta_interval": "1h"})
	sims.PBX.SetLatency(60 * time.Millisecond)

	// SIGTERM in the middle of the first run: in-flight writes settle, exit 0.
	cmd, out := startServe(t, data)
	waitFor(t, 60*time.Second, "writes to start", func() bool { return len(sims.PBX.Users()) > 20 })
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- cmd.Wait() }()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("serve after SIGTERM: %v\n%s", err, out.String())
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("serve did not stop after SIGTERM:\n%s", out.String())
	}
	st, err := store.Open(data)
	if err != nil {
		t.Fatal(err)
	}
	open, _ := st.ListOpenIntents()
	runs, _ := st.Runs(1, 0)
	st.Close()
	if len(open) != 0 {
		t.Errorf("%d intents left open after SIGTERM", len(open))
	}
	if len(runs) != 1 || runs[0].Status != store.RunInterrupted {
		t.Errorf("runs %+v, want one interrupted run", runs)
	}

	// SIGKILL in the middle of the next run: the next start finishes it.
	cmd, out = startServe(t, data)
	n := len(sims.PBX.Users())
	waitFor(t, 60*time.Second, "more writes", func() bool { return len(sims.PBX.Users()) > n+10 })
	cmd.Process.Kill()
	cmd.Wait()
	sims.PBX.SetLatency(0)
	cmd, out = startServe(t, data)
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	want := 0
	for _, u := range sims.M365.Users() {
		if u.UserType == "Member" && u.AccountEnabled && u.DeletedDateTime.IsZero() {
			want++
		}
	}
	seeded := 1 // the operator on 100
	waitFor(t, 60*time.Second, fmt.Sprintf("%d extensions", want+seeded), func() bool { return len(sims.PBX.Users()) == want+seeded })
	time.Sleep(500 * time.Millisecond)
	emails := map[string]bool{}
	for _, u := range sims.PBX.Users() {
		k := strings.ToLower(u.EmailAddress)
		if emails[k] {
			t.Errorf("duplicate extension for %s", k)
		}
		emails[k] = true
	}
	if got := len(sims.PBX.Users()); got != want+seeded {
		t.Fatalf("%d extensions, want %d:\n%s", got, want+seeded, out.String())
	}
}

// serve runs the presence engine: a meeting starting in a few seconds puts
// the user on the busy profile at its start, and the status comes back at
// its end.
func TestServeRunsCalendarPresence(t *testing.T) {
	data, sims := simDataDir(t, 30, map[string]string{"schedule.delta_interval": "1h", "calendar.enabled": "true", "calendar.refresh": "1h"})
	var u m365sim.User
	for _, x := range sims.M365.Users() {
		if x.UserType == "Member" && x.AccountEnabled && x.Mail != "" && x.Mailbox == m365sim.MailboxUser {
			u = x
			break
		}
	}
	start := time.Now().Add(8 * time.Second).Truncate(time.Second)
	if _, err := sims.M365.AddMeeting(u.ID, m365sim.Meeting{Subject: "Standup", Start: start, End: start.Add(4 * time.Second), ShowAs: "busy"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var errs apptest.LogBuffer
	done := make(chan int, 1)
	go func() { done <- Serve(ctx, data, IO{Out: &bytes.Buffer{}, Err: &errs}) }()
	defer func() {
		cancel()
		<-done
	}()
	profile := func() string {
		for _, x := range sims.PBX.Users() {
			if strings.EqualFold(x.EmailAddress, u.Mail) {
				return x.CurrentProfileName
			}
		}
		return ""
	}
	waitFor(t, 30*time.Second, "the busy profile at the meeting's start", func() bool { return profile() == "Out of office" })
	if late := time.Since(start); late > 5*time.Second {
		t.Errorf("set %s after the meeting started", late)
	}
	waitFor(t, 30*time.Second, "the status restored at the end", func() bool { return profile() == "Available" })
}
