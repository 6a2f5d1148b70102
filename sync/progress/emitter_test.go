package progress

import (
	"testing"
	"time"

	"github.com/pbx365/pbx365/sync/plan"
)

// A fast run and a slow reader: few events, every item delivered once, and
// the summary last.
func TestEmitterCoalescesAndNeverDropsItemsOrTheSummary(t *testing.T) {
	const n = 10000
	e := NewEmitter(7, 20*time.Millisecond)
	go func() {
		e.Phase(PhaseApply, n)
		for i := 0; i < n; i++ {
			e.Item(Item{Action: plan.ActCreate, OK: i%10 != 0})
		}
		e.Finish(Summary{RunID: 7, Done: map[plan.Action]int{plan.ActCreate: n - n/10}})
	}()
	events, items := 0, 0
	var last Event
	for ev := range e.Out() {
		events++
		items += len(ev.Items)
		last = ev
		time.Sleep(5 * time.Millisecond) // a slow reader
	}
	if items != n {
		t.Fatalf("delivered %d items, want %d", items, n)
	}
	if last.Phase != PhaseDone || last.Summary == nil || last.Summary.RunID != 7 {
		t.Fatalf("last event %+v, want the summary", last)
	}
	if last.Done != n || last.Counts[plan.ActCreate] != n-n/10 {
		t.Errorf("final done %d counts %v", last.Done, last.Counts)
	}
	if events > n/10 {
		t.Errorf("%d events for %d items: not coalesced", events, n)
	}
}

// A run with no items still ends with exactly one final event.
func TestEmitterEmptyRun(t *testing.T) {
	e := NewEmitter(1, time.Millisecond)
	e.Finish(Summary{RunID: 1})
	var evs []Event
	for ev := range e.Out() {
		evs = append(evs, ev)
	}
	if len(evs) != 1 || evs[0].Summary == nil {
		t.Fatalf("events %+v, want one summary", evs)
	}
}
