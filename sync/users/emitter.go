package users

import (
	"sync"
	"time"

	"github.com/pbx365/pbx365/sync/plan"
	"github.com/pbx365/pbx365/sync/progress"
)

// emitter coalesces a run's progress: workers update its state as often as
// they like; one goroutine sends a snapshot at most every interval, carrying
// every item finished since the previous one. A slow reader therefore sees
// fewer, fuller events, never a backlog, and no item or summary is lost.
type emitter struct {
	out      chan progress.Event
	interval time.Duration

	mu      sync.Mutex
	ev      progress.Event // the current state; Items holds the unsent items
	changed chan struct{}  // capacity 1: "there is something new"
	done    chan struct{}  // closed by finish
	final   progress.Event
	stopped chan struct{} // closed when the sender has closed out
}

func newEmitter(runID uint64, interval time.Duration) *emitter {
	e := &emitter{
		out:      make(chan progress.Event, 1),
		interval: interval,
		ev:       progress.Event{RunID: runID, Counts: map[plan.Action]int{}},
		changed:  make(chan struct{}, 1),
		done:     make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	go e.loop()
	return e
}

// update changes the state under the lock and wakes the sender.
func (e *emitter) update(f func(ev *progress.Event)) {
	e.mu.Lock()
	f(&e.ev)
	e.mu.Unlock()
	select {
	case e.changed <- struct{}{}:
	default:
	}
}

func (e *emitter) phase(p progress.Phase, total int) {
	e.update(func(ev *progress.Event) {
		ev.Phase = p
		ev.Total = total
		ev.Done = 0
		ev.Current = ""
	})
}

func (e *emitter) current(s string) {
	e.update(func(ev *progress.Event) { ev.Current = s })
}

func (e *emitter) item(it progress.Item) {
	e.update(func(ev *progress.Event) {
		ev.Done++
		if it.OK {
			ev.Counts[it.Action]++
		}
		ev.Items = append(ev.Items, it)
	})
}

// snapshot takes the current state and clears the unsent items.
func (e *emitter) snapshot() progress.Event {
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

func (e *emitter) loop() {
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

// finish sends the pending items and the final event, then closes the channel.
func (e *emitter) finish(sum progress.Summary) {
	e.mu.Lock()
	e.final = progress.Event{RunID: e.ev.RunID, Phase: progress.PhaseDone, Done: e.ev.Done, Total: e.ev.Total, Counts: sum.Done, Summary: &sum}
	e.mu.Unlock()
	close(e.done)
}
