// Package apptest holds what tests of the packages built on sync/app share:
// a data dir configured against both simulators over HTTPS, and a log
// buffer safe for concurrent writers.
package apptest

import (
	"bytes"
	"path/filepath"
	"sync"
	"testing"

	"github.com/pbx365/pbx365/sync/app"
)

// Open starts both simulators (opt.Dir defaults to a temp dir of tb), opens
// an App on DIR/data, points it at the simulators and stores settings. Both
// are closed when the test ends; a test that closes and reopens the data
// dir should build its own App.
func Open(tb testing.TB, opt app.SimOptions, settings map[string]string) (*app.Sims, *app.App) {
	tb.Helper()
	if opt.Dir == "" {
		opt.Dir = tb.TempDir()
	}
	sims, err := app.StartSims(opt)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(sims.Close)
	a, err := app.Open(filepath.Join(opt.Dir, "data"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { a.Close() })
	if err := sims.Configure(a.Store); err != nil {
		tb.Fatal(err)
	}
	if len(settings) > 0 {
		if err := a.Store.SetMany(settings); err != nil {
			tb.Fatal(err)
		}
	}
	return sims, a
}

// LogBuffer is a log destination safe for concurrent writers and a reader.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String is everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
