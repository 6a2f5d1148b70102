//go:build !unix

package backend

func umask(m int) int { return m }
