package progress

import (
	"sync"
	"time"

	"github.com/pbx365/pbx365/sync/plan"
)

// Emitter coalesces a run's progress: workers update its state as often as
// they like; one goroutine sends a snapshot at most every interval, carrying
// every item finished since the previous one. A slow reader therefore sees
// fewer, fuller events, never a backlog, and no item or summary is lost.
type Emitter struct {
	out      chan Event
	interval time.Duration

	mu      sync.Mutex
	ev      Event         // the current state; Items holds the unsent items
	changed chan struct{} // capacity 1: "there is something new"
	done    chan struct{} // closed by finish
	final   Event
	stopped chan struct{} // closed when the sender has closed out
}

// NewEmitter starts the sender of a run's events; read them from Out until it
// is closed. interval is the least time between two progress events.
func NewEmitter(runID uint64, interval time.Duration) *Emitter {
	e := &Emitter{
		out:      make(chan Event, 1),
		interval: interval,
		ev:       Event{RunID: runID, Counts: map[plan.Action]int{}},
		changed:  make(chan struct{}, 1),
		done:     make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	go e.loop()
	return e
}

// Update changes the state under the lock and wakes the sender.
func (e *Emitter) Update(f func(ev *Event)) {
	e.mu.Lock()
	f(&e.ev)
	e.mu.Unlock()
	select {
	case e.changed <- struct{}{}:
	default:
	}
}

// Phase starts a phase of total steps.
func (e *Emitter) Phase(p Phase, total int) {
	e.Update(func(ev *Event) {
		ev.Phase = p
		ev.Total = total
		ev.Done = 0
		ev.Current = ""
	})
}

// Current says what is being worked on.
func (e *Emitter) Current(s string) {
	e.Update(func(ev *Event) { ev.Current = s })
}

// Item records a finished change.
func (e *Emitter) Item(it Item) {
	e.Update(func(ev *Event) {
		ev.Done++
		if it.OK {
			ev.Counts[it.Action]++
		}
		ev.Items = append(ev.Items, it)
	})
}

// snapshot takes the current state and clears the unsent items.
func (e *Emitter) snapshot() Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	ev := e.ev
	ev.Counts = make(map[plan.Action]int, len(e.ev.Counts))
	for k, v := range e.ev.Counts {
		ev.Counts[k] = v
	}
	e.ev.Items = nil
	return ev
}

func (e *Emitter) loop() {
	defer close(e.stopped)
	defer close(e.out)
	var last time.Time
	for {
		select {
		case <-e.changed:
			if wait := e.interval - time.Since(last); wait > 0 {
				select {
				case <-time.After(wait):
				case <-e.done:
				}
			}
			e.out <- e.snapshot()
			last = time.Now()
		case <-e.done:
			if ev := e.snapshot(); len(ev.Items) > 0 {
				e.out <- ev
			}
			e.out <- e.final
			return
		}
	}
}

// Finish sends the pending items and the final event, then closes the channel.
func (e *Emitter) Finish(sum Summary) {
	e.mu.Lock()
	e.final = Event{RunID: e.ev.RunID, Phase: PhaseDone, Done: e.ev.Done, Total: e.ev.Total, Counts: sum.Done, Summary: &sum}
	e.mu.Unlock()
	close(e.done)
}

// Out is the event channel; it is closed after the final event.
func (e *Emitter) Out() <-chan Event { return e.out }
