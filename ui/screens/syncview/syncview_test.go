package syncview_test

import (
	"context"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/pbx365/pbx365/sync/plan"
	"github.com/pbx365/pbx365/sync/progress"
	"github.com/pbx365/pbx365/ui/common"
	"github.com/pbx365/pbx365/ui/screens/syncview"
	"github.com/pbx365/pbx365/ui/uitest"
)

const idle = 100 * time.Millisecond

// chanBackend hands out a channel the test feeds by hand.
type chanBackend struct {
	*uitest.Fake
	ch chan progress.Event
}

func (b *chanBackend) Apply(ctx context.Context, p plan.Plan, allow bool) (<-chan progress.Event, error) {
	return b.ch, nil
}

func setup(t *testing.T, b common.Backend) (*common.Context, *syncview.Screen) {
	c := common.NewContext(context.Background(), b, false)
	s := syncview.New(c).(*syncview.Screen)
	s.SetSize(80, 22)
	return c, s
}

func planOf(n int) plan.Plan {
	p := plan.Plan{Counts: map[plan.Action]int{plan.ActCreate: n, plan.ActSkip: 3}}
	for i := range n {
		p.Changes = append(p.Changes, plan.Change{Action: plan.ActCreate, UPN: "u" + string(rune('a'+i)) + "@x", Number: "10" + string(rune('0'+i))})
	}
	return p
}

func TestLiveProgressErrorsAndSummaryStay(t *testing.T) {
	f := uitest.NewFake(5)
	b := &chanBackend{Fake: f, ch: make(chan progress.Event)}
	c, s := setup(t, b)
	started := uitest.Collect(s.Update(common.StartRunMsg{Plan: planOf(4)}), idle)
	if !c.RunActive || !s.Running() {
		t.Fatal("run not active")
	}
	// Deliver the startedMsg; it arms the wait Cmd.
	var wait tea.Cmd
	for _, m := range started {
		wait = s.Update(m)
	}
	step := func(ev progress.Event) {
		t.Helper()
		go func() { b.ch <- ev }()
		msgs := uitest.Collect(wait, time.Second)
		if len(msgs) != 1 {
			t.Fatalf("wait produced %v", msgs)
		}
		wait = s.Update(msgs[0])
	}
	step(progress.Event{RunID: 7, Phase: progress.PhaseApply, Done: 1, Total: 4, Current: "ua@x",
		Items: []progress.Item{{Action: plan.ActCreate, UPN: "ua@x", Number: "100", OK: true}}})
	step(progress.Event{RunID: 7, Phase: progress.PhaseApply, Done: 2, Total: 4,
		Items: []progress.Item{{Action: plan.ActCreate, UPN: "ub@x", Number: "101", Err: "EmailAddress already used"}}})
	out := ansi.Strip(s.View())
	for _, want := range []string{"run #7", "phase apply · 2/4", "[", "50%", "done:   create 1", "failed: create 1", "! FAIL create", "EmailAddress already used", "ETA"} {
		if !strings.Contains(out, want) {
			t.Errorf("live view lacks %q:\n%s", want, out)
		}
	}
	if pct, on := s.Progress(); pct != 50 || !on {
		t.Fatalf("progress %d %v", pct, on)
	}
	sum := &progress.Summary{RunID: 7, Started: time.Now().Add(-2 * time.Second), Finished: time.Now(),
		Done: map[plan.Action]int{plan.ActCreate: 3}, Failed: map[plan.Action]int{plan.ActCreate: 1}, Skipped: 3}
	step(progress.Event{RunID: 7, Phase: progress.PhaseDone, Done: 4, Total: 4, Summary: sum})
	close(b.ch)
	msgs := uitest.Collect(wait, time.Second)
	var finished bool
	for _, m := range msgs {
		for _, m2 := range uitest.Collect(s.Update(m), idle) {
			if rf, ok := m2.(common.RunFinishedMsg); ok && rf.RunID == 7 {
				finished = true
			}
		}
	}
	if !finished || s.Running() || c.RunActive {
		t.Fatalf("closing the channel: finished %v running %v", finished, s.Running())
	}
	out = ansi.Strip(s.View())
	if !strings.Contains(out, "FINISHED WITH ERRORS: Summary: 3 written, 1 failed, 3 skipped") {
		t.Fatalf("summary missing:\n%s", out)
	}
	// The summary stays while other messages arrive.
	s.Update(tea.WindowSizeMsg{Width: 100, Height: 30})
	s.Update(common.RunFinishedMsg{RunID: 7})
	if !strings.Contains(ansi.Strip(s.View()), "FINISHED WITH ERRORS") {
		t.Fatal("summary did not stay")
	}
}

func TestCancelAsksFirst(t *testing.T) {
	f := uitest.NewFake(40)
	f.Delay = 20 * time.Millisecond
	c, s := setup(t, f)
	p, _ := f.Plan(context.Background(), common.Selection{Scope: common.ScopeAll})
	var wait tea.Cmd
	for _, m := range uitest.Collect(s.Update(common.StartRunMsg{Plan: p}), idle) {
		wait = s.Update(m)
	}
	msgs := uitest.Collect(s.Update(uitest.Key("esc")), idle)
	if len(msgs) != 1 {
		t.Fatalf("esc during a run: %v", msgs)
	}
	ask, ok := msgs[0].(common.ConfirmMsg)
	if !ok || ask.Title != "Cancel the run?" {
		t.Fatalf("esc did not ask: %#v", msgs[0])
	}
	if !s.Running() {
		t.Fatal("asking cancelled the run")
	}
	ask.Yes() // the admin says yes
	for s.Running() {
		ms := uitest.Collect(wait, 2*time.Second)
		if len(ms) == 0 {
			t.Fatal("run did not end after cancel")
		}
		wait = s.Update(ms[0])
	}
	if sum := s.Summary(); sum == nil || !sum.Canceled {
		t.Fatalf("summary %+v, want cancelled", sum)
	}
	if !strings.Contains(ansi.Strip(s.View()), "CANCELLED") || c.RunActive {
		t.Fatalf("view:\n%s", ansi.Strip(s.View()))
	}
	if !c.Wait(time.Second) {
		t.Fatal("context wait timed out")
	}
}
