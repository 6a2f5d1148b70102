// Package crashtest simulates a process killed in the middle of a run, for
// the engines' crash-safety tests: a Killer counts the run's steps (store
// writes and PBX writes) and after the chosen one every call fails, so
// nothing more reaches either side — what kill -9 would leave.
package crashtest

import (
	"errors"
	"sync"
)

// ErrDead is what every call returns once the process is "killed".
var ErrDead = errors.New("process killed")

// Killer kills the run after step K (K = 0: never).
type Killer struct {
	K    int
	mu   sync.Mutex
	n    int
	dead bool
}

// New returns a Killer that kills after step k.
func New(k int) *Killer { return &Killer{K: k} }

// Step counts a step that happened; it returns ErrDead if the process was
// already dead. Step K itself completes; the process dies right after it.
func (k *Killer) Step() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.dead {
		return ErrDead
	}
	k.n++
	if k.n == k.K {
		k.dead = true
	}
	return nil
}

// Alive returns ErrDead once the process is dead.
func (k *Killer) Alive() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.dead {
		return ErrDead
	}
	return nil
}

// Steps is how many steps were counted.
func (k *Killer) Steps() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.n
}

// Dead reports whether the process was killed.
func (k *Killer) Dead() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.dead
}

// After runs f if the process is alive and counts it as a step. Once the
// process is dead, f is not run and the caller sees ErrDead.
func After[T any](k *Killer, f func() (T, error)) (T, error) {
	var zero T
	if err := k.Alive(); err != nil {
		return zero, err
	}
	v, err := f()
	if serr := k.Step(); serr != nil {
		return zero, serr
	}
	return v, err
}
