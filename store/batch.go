package store

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

// DefaultBatchDelay is how long Batch waits for other writers to join a
// shared transaction. bbolt's default (10 ms) is tuned for servers with many
// writers; a sync engine has a handful of workers whose PBX writes take
// longer than a disk sync, so a short wait keeps their latency low.
const DefaultBatchDelay = 2 * time.Millisecond

// Batch runs fn in a read-write transaction shared with other goroutines'
// concurrent Batch calls (bbolt's group commit): one disk sync for many
// small writes. fn may run more than once when a shared transaction fails,
// so it must only write through tx and set variables it fully overwrites.
func (s *Store) Batch(fn func(tx *Tx) error) error {
	return s.db.Batch(func(btx *bolt.Tx) error { return fn(&Tx{tx: btx}) })
}

// SetBatchDelay sets how long Batch waits for other writers (bbolt's
// MaxBatchDelay). Call it before the store is shared between goroutines.
func (s *Store) SetBatchDelay(d time.Duration) { s.db.MaxBatchDelay = d }
