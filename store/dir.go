package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// SystemDir is the data directory when pbx365 runs as root.
const SystemDir = "/var/lib/pbx365"

// DefaultDir is the data directory when neither --data-dir nor
// PBX365_DATA_DIR is given: /var/lib/pbx365 for root (effective uid 0), else
// $XDG_STATE_HOME/pbx365, else ~/.local/state/pbx365. A relative
// XDG_STATE_HOME is ignored, as the XDG spec requires.
func DefaultDir() (string, error) {
	return defaultDir(os.Geteuid(), os.Getenv, os.UserHomeDir)
}

func defaultDir(euid int, getenv func(string) string, home func() (string, error)) (string, error) {
	if euid == 0 {
		return SystemDir, nil
	}
	if x := getenv("XDG_STATE_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "pbx365"), nil
	}
	h, err := home()
	if err != nil {
		return "", fmt.Errorf("find the data directory: %w (set --data-dir or PBX365_DATA_DIR)", err)
	}
	if h == "" {
		return "", errors.New("find the data directory: no home directory (set --data-dir or PBX365_DATA_DIR)")
	}
	return filepath.Join(h, ".local", "state", "pbx365"), nil
}

// KeysDir is where the key pair lives: DIR/keys.
func KeysDir(dir string) string { return filepath.Join(dir, "keys") }

// EnsureDir creates the data directory and DIR/keys, both mode 0700, if they
// are missing. An existing data directory keeps its mode (the state file is
// 0600 itself); DIR/keys is always tightened to 0700, since it holds the
// private key.
func EnsureDir(dir string) error {
	if dir == "" {
		return errors.New("data directory is empty: set --data-dir or PBX365_DATA_DIR")
	}
	if err := mkdir0700(dir, false); err != nil {
		return err
	}
	return mkdir0700(KeysDir(dir), true)
}

func mkdir0700(dir string, tighten bool) error {
	fi, err := os.Stat(dir)
	switch {
	case err == nil:
		if !fi.IsDir() {
			return fmt.Errorf("data directory %s: not a directory", dir)
		}
		if tighten && fi.Mode().Perm() != 0o700 {
			if err := os.Chmod(dir, 0o700); err != nil {
				return fmt.Errorf("data directory: %w", err)
			}
		}
		return nil
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("data directory: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	// MkdirAll is subject to the umask; make the mode exact.
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	return nil
}
