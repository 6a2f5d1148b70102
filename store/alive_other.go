//go:build !unix

package store

// processAlive cannot probe processes here; it assumes the owner runs.
func processAlive(pid int) bool { return pid > 0 }
