package progress

import (
	"context"
	"errors"
	"strings"
	"testing"
)

type recorder struct {
	begun    []string
	ended    []Summary
	beginErr error
	endErr   error
}

func (r *recorder) BeginRun(kind, planHash string) (uint64, error) {
	if r.beginErr != nil {
		return 0, r.beginErr
	}
	r.begun = append(r.begun, kind+"/"+planHash)
	return uint64(len(r.begun)), nil
}

func (r *recorder) EndRun(id uint64, sum Summary) error {
	r.ended = append(r.ended, sum)
	return r.endErr
}

func TestStartRecordedRecordsKindStartAndEnd(t *testing.T) {
	rec := &recorder{}
	work := func(ctx context.Context, id uint64, em *Emitter) Summary {
		em.Phase(PhaseApply, 1)
		return Summary{RunID: id}
	}
	for _, c := range []struct {
		kind string
		full bool
		want string
	}{{"", true, "full/h"}, {"", false, "delta/h"}, {"interrupted", true, "interrupted/h"}} {
		r, err := StartRecorded(context.Background(), rec, c.kind, c.full, "h", 0, work)
		if err != nil {
			t.Fatal(err)
		}
		var last Event
		for ev := range r.Events() {
			last = ev
		}
		if sum := r.Wait(); sum.RunID != r.ID || last.Summary == nil || last.Summary.RunID != r.ID {
			t.Errorf("summary %+v, last event %+v", sum, last)
		}
		if got := rec.begun[len(rec.begun)-1]; got != c.want {
			t.Errorf("kind %q full %v recorded as %q, want %q", c.kind, c.full, got, c.want)
		}
	}
	if len(rec.ended) != 3 {
		t.Errorf("%d ends recorded, want 3", len(rec.ended))
	}
	// The end cannot be recorded: the summary says so.
	rec.endErr = errors.New("disk full")
	r, _ := StartRecorded(context.Background(), rec, "", true, "h", 0, work)
	if sum := r.Wait(); !strings.Contains(sum.Err, "record run: disk full") {
		t.Errorf("summary error %q", sum.Err)
	}
	// The start cannot be recorded: no run, nothing done.
	ran := false
	rec.beginErr = errors.New("read-only")
	if r, err := StartRecorded(context.Background(), rec, "", true, "h", 0, func(context.Context, uint64, *Emitter) Summary {
		ran = true
		return Summary{}
	}); err == nil || r != nil || ran || !strings.Contains(err.Error(), "start run: read-only") {
		t.Errorf("start not recorded: run %v, err %v, ran %v", r, err, ran)
	}
}
