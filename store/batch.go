package store

import bolt "go.etcd.io/bbolt"

// Batch runs fn in a read-write transaction shared with other goroutines'
// concurrent Batch calls (bbolt's group commit): one disk sync for many
// small writes. fn may run more than once when a shared transaction fails,
// so it must only write through tx and set variables it fully overwrites.
func (s *Store) Batch(fn func(tx *Tx) error) error {
	return s.db.Batch(func(btx *bolt.Tx) error { return fn(&Tx{tx: btx}) })
}
