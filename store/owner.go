package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// processStart is when this process started (close enough: package init).
var processStart = time.Now()

// Owner names the process that holds state.db. Open writes it to
// DIR/state.db.owner after taking the file lock, and reads it when the lock is
// taken by someone else, so the error can name them.
type Owner struct {
	PID     int       `json:"pid"`
	Command string    `json:"command"` // the command line, secret values redacted
	Started time.Time `json:"started"`
	Host    string    `json:"host,omitempty"`
}

// String is "pid 1234 (pbx365 serve), started 2026-11-25 19:00:00 UTC".
func (o Owner) String() string {
	return fmt.Sprintf("pid %d (%s), started %s", o.PID, o.Command, o.Started.UTC().Format("2006-01-02 15:04:05 MST"))
}

// LockedError is returned by Open when another process holds state.db.
type LockedError struct {
	Path  string
	Owner *Owner // nil when no owner file could be read
	Stale bool   // the owner file names a process that is gone
}

// Error names the holder and what to do.
func (e *LockedError) Error() string {
	switch {
	case e.Owner != nil && !e.Stale:
		return fmt.Sprintf("%s is in use by another process: %s; stop it or wait for it to finish", e.Path, e.Owner)
	case e.Owner != nil:
		return fmt.Sprintf("%s is locked by another process (the owner file names %s, which is no longer running; find the holder with: fuser %s)", e.Path, e.Owner, e.Path)
	default:
		return fmt.Sprintf("%s is locked by another process (no owner recorded; find it with: fuser %s)", e.Path, e.Path)
	}
}

func ownerPath(dbPath string) string { return dbPath + ".owner" }

// currentOwner describes this process.
func currentOwner() Owner {
	host, _ := os.Hostname()
	return Owner{PID: os.Getpid(), Command: redactArgs(os.Args), Started: processStart.UTC(), Host: host}
}

// redactArgs joins a command line, replacing the value that follows a secret
// setting's key (pbx365 config set pbx.secret VALUE) and any
// --flag=value whose flag names a secret.
func redactArgs(args []string) string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		switch {
		case i == 0:
			a = filepath.Base(a)
		case i > 0 && isSecretKey(args[i-1]):
			a = "<redacted>"
		case strings.HasPrefix(a, "-") && strings.Contains(a, "=") && strings.Contains(strings.ToLower(a[:strings.Index(a, "=")]), "secret"):
			a = a[:strings.Index(a, "=")+1] + "<redacted>"
		}
		out = append(out, a)
	}
	return strings.Join(out, " ")
}

// writeOwner records this process as the holder, atomically (temp + rename).
func writeOwner(dbPath string) error {
	b, err := json.Marshal(currentOwner())
	if err != nil {
		return err
	}
	tmp := ownerPath(dbPath) + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write owner file: %w", err)
	}
	if err := os.Rename(tmp, ownerPath(dbPath)); err != nil {
		return fmt.Errorf("write owner file: %w", err)
	}
	return nil
}

// readOwner reads the owner file; nil when it is missing or unreadable.
func readOwner(dbPath string) *Owner {
	b, err := os.ReadFile(ownerPath(dbPath))
	if err != nil {
		return nil
	}
	var o Owner
	if json.Unmarshal(b, &o) != nil || o.PID <= 0 {
		return nil
	}
	return &o
}

// removeOwner deletes the owner file if it still names this process.
func removeOwner(dbPath string) error {
	o := readOwner(dbPath)
	if o == nil || o.PID != os.Getpid() {
		return nil
	}
	if err := os.Remove(ownerPath(dbPath)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove owner file: %w", err)
	}
	return nil
}

// lockedError builds the error for a lock timeout from the owner file.
func lockedError(dbPath string) *LockedError {
	o := readOwner(dbPath)
	return &LockedError{Path: dbPath, Owner: o, Stale: o != nil && !processAlive(o.PID)}
}
