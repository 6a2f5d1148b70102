//go:build unix

package backend

import "syscall"

// umask sets the process umask and returns the old one, so the socket is
// created private (no window with looser permissions).
func umask(m int) int { return syscall.Umask(m) }
