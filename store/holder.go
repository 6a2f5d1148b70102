package store

import "path/filepath"

// Holder reports the live process that has DIR/state.db open, as its owner
// file names it; ok is false when none does (never opened, closed, or the
// process is gone).
func Holder(dir string) (o Owner, ok bool) {
	p := readOwner(filepath.Join(dir, FileName))
	if p == nil || !processAlive(p.PID) {
		return Owner{}, false
	}
	return *p, true
}
