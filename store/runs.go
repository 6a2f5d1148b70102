package store

import (
	"fmt"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"
)

// RunStatus is where a run stands.
type RunStatus string

// The statuses of a run.
const (
	RunRunning     RunStatus = "running"
	RunOK          RunStatus = "ok"          // every write succeeded (skips and conflicts are not failures)
	RunFailed      RunStatus = "failed"      // some writes failed, or the run could not finish
	RunStopped     RunStatus = "stopped"     // stopped by a guard before writing
	RunInterrupted RunStatus = "interrupted" // the process died or was cancelled; the next run finishes it
)

// Run is one sync run (or dry run).
type Run struct {
	ID       uint64         `json:"id"`
	Kind     string         `json:"kind"` // users, contacts, ...
	Started  time.Time      `json:"started"`
	Finished time.Time      `json:"finished,omitzero"`
	Status   RunStatus      `json:"status"`
	Counts   map[string]int `json:"counts,omitempty"` // per action
	PlanHash string         `json:"plan_hash,omitempty"`
	Error    string         `json:"error,omitempty"`
}

// StartRun records a new running run and returns it with its ID (IDs grow by
// one from 1).
func (s *Store) StartRun(kind, planHash string) (Run, error) {
	r := Run{Kind: kind, Started: time.Now().UTC(), Status: RunRunning, PlanHash: planHash}
	if kind == "" {
		return r, fmt.Errorf("start run: kind is required")
	}
	err := s.Update(func(tx *Tx) error {
		b := tx.tx.Bucket(bucketRuns)
		id, err := b.NextSequence()
		if err != nil {
			return err
		}
		r.ID = id
		return putJSON(b, itob(id), r)
	})
	if err != nil {
		return Run{}, fmt.Errorf("start run: %w", err)
	}
	return r, nil
}

// FinishRun records a run's end.
func (s *Store) FinishRun(id uint64, status RunStatus, counts map[string]int, errText string) error {
	return s.Update(func(tx *Tx) error { return tx.FinishRun(id, status, counts, errText) })
}

// FinishRun records a run's end inside the transaction; a run finishes once.
func (t *Tx) FinishRun(id uint64, status RunStatus, counts map[string]int, errText string) error {
	switch status {
	case RunOK, RunFailed, RunStopped, RunInterrupted:
	default:
		return fmt.Errorf("finish run %d: status %q is not one of ok, failed, stopped, interrupted", id, status)
	}
	b := t.tx.Bucket(bucketRuns)
	var r Run
	ok, err := getJSON(b, itob(id), &r)
	if err != nil {
		return fmt.Errorf("finish run %d: %w", id, err)
	}
	if !ok {
		return fmt.Errorf("finish run %d: %w", id, ErrNotFound)
	}
	if r.Status != RunRunning {
		return fmt.Errorf("finish run %d: already %s", id, r.Status)
	}
	r.Status, r.Counts, r.Error, r.Finished = status, counts, errText, time.Now().UTC()
	return putJSON(b, itob(id), r)
}

// Run returns one run.
func (s *Store) Run(id uint64) (r Run, ok bool, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		ok, err = getJSON(tx.Bucket(bucketRuns), itob(id), &r)
		return err
	})
	return r, ok, err
}

// Runs returns up to limit runs with ID below before (0: from the newest),
// newest first.
func (s *Store) Runs(limit int, before uint64) ([]Run, error) {
	if limit <= 0 {
		limit = DefaultPageSize
	}
	var out []Run
	err := s.view(func(tx *bolt.Tx) error {
		var derr error
		scanDesc(tx.Bucket(bucketRuns).Cursor(), nil, before, func(_ uint64, v []byte) bool {
			var r Run
			if derr = decode(v, &r); derr != nil {
				return false
			}
			out = append(out, r)
			return len(out) < limit
		})
		return derr
	})
	return out, err
}

// InterruptRuns marks every run still "running" as interrupted (call it when
// a new run starts: only one process holds the store, so those died) and
// returns their IDs.
func (s *Store) InterruptRuns() ([]uint64, error) {
	var ids []uint64
	err := s.Update(func(tx *Tx) error {
		b := tx.tx.Bucket(bucketRuns)
		var stale []Run
		err := b.ForEach(func(k, v []byte) error {
			var r Run
			if err := decode(v, &r); err != nil {
				return fmt.Errorf("run %d: %w", btoi(k), err)
			}
			if r.Status == RunRunning {
				stale = append(stale, r)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, r := range stale {
			r.Status, r.Finished = RunInterrupted, time.Now().UTC()
			r.Error = "the process ended before the run finished"
			if err := putJSON(b, itob(r.ID), r); err != nil {
				return err
			}
			ids = append(ids, r.ID)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mark interrupted runs: %w", err)
	}
	return ids, nil
}

// scanDesc walks the keys prefix+<8-byte seq> below prefix+itob(before)
// (before 0: from the last) in descending order, calling fn with the seq and
// value until fn returns false.
func scanDesc(c *bolt.Cursor, prefix []byte, before uint64, fn func(seq uint64, v []byte) bool) {
	if before == 0 {
		before = math.MaxUint64
	}
	target := append(append(make([]byte, 0, len(prefix)+8), prefix...), itob(before)...)
	k, v := c.Seek(target)
	if k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	for ; k != nil && len(k) == len(prefix)+8 && string(k[:len(prefix)]) == string(prefix); k, v = c.Prev() {
		if !fn(btoi(k[len(prefix):]), v) {
			return
		}
	}
}
