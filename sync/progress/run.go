package progress

import (
	"context"
	"time"
)

// Run is work applying in the background. Read Events until it is closed
// (or call Wait, which drains it); the last event carries the Summary.
type Run struct {
	ID     uint64
	events chan Event
	cancel context.CancelFunc
	done   chan struct{}
	sum    Summary
}

// Events streams the run's progress; it is closed after the final event.
func (r *Run) Events() <-chan Event { return r.events }

// Cancel stops the run after the writes in flight have settled.
func (r *Run) Cancel() { r.cancel() }

// Wait drains the events still unread and returns the summary.
func (r *Run) Wait() Summary {
	for range r.events {
	}
	<-r.done
	return r.sum
}

// Start runs work in the background with a cancellable context and an
// Emitter sending at most every interval; work's summary becomes the final
// event. The engines' Apply methods are built on it.
func Start(ctx context.Context, runID uint64, interval time.Duration, work func(ctx context.Context, em *Emitter) Summary) *Run {
	em := NewEmitter(runID, interval)
	rctx, cancel := context.WithCancel(ctx)
	r := &Run{ID: runID, events: make(chan Event), cancel: cancel, done: make(chan struct{})}
	go func() {
		for ev := range em.Out() {
			r.events <- ev
		}
		close(r.events)
	}()
	go func() {
		defer close(r.done)
		defer cancel()
		sum := work(rctx, em)
		r.sum = sum
		em.Finish(sum)
	}()
	return r
}
