package syncview

import (
	"context"
	"strings"
	"testing"

	"github.com/pbx365/pbx365/sync/plan"
	"github.com/pbx365/pbx365/sync/progress"
	"github.com/pbx365/pbx365/ui/common"
	"github.com/pbx365/pbx365/ui/uitest"
)

func started(t *testing.T) *Screen {
	t.Helper()
	c := common.NewContext(context.Background(), uitest.NewFake(3), false)
	s := New(c).(*Screen)
	s.SetSize(80, 20)
	s.Update(common.StartRunMsg{Plan: plan.Plan{Counts: map[plan.Action]int{plan.ActCreate: 4}}})
	t.Cleanup(func() { s.cancel() })
	return s
}

func TestStaleEventsDropped(t *testing.T) {
	s := started(t)
	ch := make(chan progress.Event)
	s.Update(startedMsg{id: s.id, ch: ch})
	ev := progress.Event{RunID: 3, Phase: progress.PhaseApply, Done: 2, Total: 4, Items: []progress.Item{{Action: plan.ActCreate, OK: true}}}
	if cmd := s.Update(eventMsg{id: s.id - 1, ev: ev, ok: true}); cmd != nil || s.done != 0 {
		t.Fatalf("an event of another run was applied: done %d", s.done)
	}
	if cmd := s.Update(eventMsg{id: s.id - 1, ok: false}); cmd != nil || !s.running {
		t.Fatal("another run's closed channel ended this run")
	}
	if cmd := s.Update(startedMsg{id: s.id - 1, err: context.Canceled}); cmd != nil || s.startErr != nil {
		t.Fatal("another run's start error was taken")
	}
	if cmd := s.Update(tickMsg{id: s.id - 1}); cmd != nil {
		t.Fatal("another run's tick re-armed")
	}
	if cmd := s.Update(eventMsg{id: s.id, ev: ev, ok: true}); cmd == nil || s.done != 2 {
		t.Fatalf("this run's event: done %d, re-armed %v", s.done, cmd != nil)
	}
}

func TestRecentIsARingBuffer(t *testing.T) {
	s := started(t)
	n := RecentMax + 20
	for i := range n {
		s.apply(progress.Event{RunID: 1, Phase: progress.PhaseApply, Done: i + 1, Total: n,
			Items: []progress.Item{{Action: plan.ActCreate, Number: string(rune('A' + i%26)), OK: i%7 != 0}}})
	}
	r := s.Recent()
	if len(r) != RecentMax {
		t.Fatalf("kept %d items, want %d", len(r), RecentMax)
	}
	if r[0].Number != string(rune('A'+20%26)) || r[len(r)-1].Number != string(rune('A'+(n-1)%26)) {
		t.Fatalf("ring order: first %q last %q", r[0].Number, r[len(r)-1].Number)
	}
	if s.errCount != (n+6)/7 || len(s.errs) != min(ErrorsMax, s.errCount) {
		t.Fatalf("errors counted %d kept %d, want %d", s.errCount, len(s.errs), (n+6)/7)
	}
	// The latest failure stays on screen although many items followed it.
	s.apply(progress.Event{RunID: 1, Phase: progress.PhaseApply, Items: []progress.Item{{Action: plan.ActUpdate, UPN: "late.failure@x", Err: "refused"}}})
	for i := range 50 {
		s.apply(progress.Event{RunID: 1, Phase: progress.PhaseApply, Items: []progress.Item{{Action: plan.ActCreate, Number: string(rune('a' + i%26)), OK: true}}})
	}
	if v := s.View(); !strings.Contains(v, "late.failure@x — refused") || !strings.Contains(v, "Errors (") {
		t.Fatalf("the failure scrolled away:\n%s", v)
	}
}
