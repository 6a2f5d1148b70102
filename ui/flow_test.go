package ui

import (
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/pbx365/pbx365/ui/uitest"
)

// flow drives the whole program the way an admin does: filter, pick five
// users, preview the plan, apply, read the summary, open Activity. It only
// needs a Backend whose directory holds at least five users matching filter
// and no linked users yet, so the lead can run it against the simulators.
func flow(t *testing.T, b Backend, filter string, w, h int) *App {
	t.Helper()
	app := New(b, Options{})
	tm := teatest.NewTestModel(t, app,
		teatest.WithInitialTermSize(w, h),
		teatest.WithProgramOptions(tea.WithColorProfile(colorprofile.ASCII)))
	// The renderer writes only what changed, so the screen is read from the
	// last frame the program rendered.
	waitFor := func(what string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(ansi.Strip(app.LastFrame()), what) {
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %q; the screen shows:\n%s", what, ansi.Strip(app.LastFrame()))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	send := func(keys ...string) {
		for _, k := range keys {
			tm.Send(uitest.Key(k))
		}
	}
	waitFor("selected 0")
	send("/")
	tm.Type(filter)
	send("enter")
	waitFor("selected 0 · shown")
	send("space", "space", "space", "space", "space")
	waitFor("selected 5")
	send("enter")
	waitFor("5 create")
	send("a")
	waitFor("Apply this plan?")
	send("y")
	waitFor("DONE: Summary: 5 written, 0 failed")
	send("enter")
	waitFor("Activity")
	waitFor("create 5")
	send("q")
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
	if !app.Shutdown(5 * time.Second) {
		t.Fatal("in-flight work did not finish")
	}
	return app
}

func TestFlowPickFiveApplySeeActivity(t *testing.T) {
	f := uitest.NewFake(300)
	f.Configure()
	flow(t, f, "lovelace", 100, 30)
	if got := f.PBXNumbers(); len(got) != 5 || got[0] != "1000" || got[4] != "1004" {
		t.Fatalf("PBX numbers after the flow: %v, want 1000…1004", got)
	}
	if f.Setting("users.scope") != "selected" || strings.Count(f.Setting("users.selected"), ",") != 4 {
		t.Fatalf("applied scope not saved: %q %q", f.Setting("users.scope"), f.Setting("users.selected"))
	}
}

func TestFlowAt80x24(t *testing.T) {
	f := uitest.NewFake(300)
	f.Configure()
	flow(t, f, "lovelace", 80, 24)
	if got := f.PBXNumbers(); len(got) != 5 {
		t.Fatalf("PBX numbers after the flow: %v", got)
	}
}
