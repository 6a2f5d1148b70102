package progress

import (
	"context"
	"fmt"
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

// Recorder records runs in the store: BeginRun before the work, EndRun with
// its summary after.
type Recorder interface {
	BeginRun(kind, planHash string) (uint64, error)
	EndRun(runID uint64, sum Summary) error
}

// DefaultInterval is how often a run's progress is sent when the engine
// sets no interval.
const DefaultInterval = 100 * time.Millisecond

// StartRecorded records a run of that kind ("" = "full" or "delta" by full),
// runs work in the background with Start (interval 0 = DefaultInterval) and
// records its end; a failure to record the end becomes the summary's error.
func StartRecorded(ctx context.Context, rec Recorder, kind string, full bool, planHash string, interval time.Duration,
	work func(ctx context.Context, runID uint64, em *Emitter) Summary) (*Run, error) {
	if kind == "" {
		kind = "delta"
		if full {
			kind = "full"
		}
	}
	runID, err := rec.BeginRun(kind, planHash)
	if err != nil {
		return nil, fmt.Errorf("start run: %w", err)
	}
	if interval == 0 {
		interval = DefaultInterval
	}
	return Start(ctx, runID, interval, func(ctx context.Context, em *Emitter) Summary {
		sum := work(ctx, runID, em)
		if err := rec.EndRun(runID, sum); err != nil && sum.Err == "" {
			sum.Err = fmt.Sprintf("record run: %v", err)
		}
		return sum
	}), nil
}
