// Package app assembles pbx365's engines from the data directory: it opens
// the store, reads the settings, and builds the Graph client, the PBX client
// and the sync engines on them. The headless commands, the TUI and the
// service all start here, so every one of them runs the same engines.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"

	"github.com/pbx365/pbx365/graphclient"
	"github.com/pbx365/pbx365/pbxclient"
	"github.com/pbx365/pbx365/store"
	"github.com/pbx365/pbx365/sync/users"
)

// App is an opened data directory and what is built on it.
type App struct {
	Dir   string
	Store *store.Store
	Log   *slog.Logger

	// Extra trusted CAs added to the configured ones (the demo's simulators).
	GraphCAPEM, PBXCAPEM []byte

	// RunMu is held by whoever applies a plan (the scheduler, the TUI), so
	// runs on one store never overlap.
	RunMu sync.Mutex

	mu    sync.Mutex // guards the cached clients
	graph *graphclient.Client
	pbx   *pbxclient.XAPI
}

// Reset drops the cached clients, so the next use reads the settings again
// (after the admin changed them).
func (a *App) Reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.pbx != nil {
		a.pbx.Close()
	}
	a.graph, a.pbx = nil, nil
}

// Open opens (and creates, mode 0700) the data directory and its store. An
// empty dir means the default of PRODUCT.md.
func Open(dir string) (*App, error) {
	if dir == "" {
		d, err := store.DefaultDir()
		if err != nil {
			return nil, err
		}
		dir = d
	}
	if err := store.EnsureDir(dir); err != nil {
		return nil, fmt.Errorf("data dir %s: %w", dir, err)
	}
	s, err := store.Open(dir)
	if err != nil {
		return nil, err
	}
	s.SetBatchDelay(store.DefaultBatchDelay)
	return &App{Dir: dir, Store: s, Log: slog.Default()}, nil
}

// Close closes the store.
func (a *App) Close() error { return a.Store.Close() }

// KeyFile is the private key file in use (ms.key_file or the default).
func (a *App) KeyFile() (string, error) {
	s, err := a.Store.Settings()
	if err != nil {
		return "", err
	}
	if s.MS.KeyFile != "" {
		return s.MS.KeyFile, nil
	}
	return filepath.Join(store.KeysDir(a.Dir), "pbx365.pem"), nil
}

// Graph builds (once) the Microsoft Graph client from the ms.* settings.
func (a *App) Graph(ctx context.Context) (*graphclient.Client, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.graph != nil {
		return a.graph, nil
	}
	if err := a.Store.RequireSettings("ms.tenant", "ms.client_id"); err != nil {
		return nil, err
	}
	s, err := a.Store.Settings()
	if err != nil {
		return nil, err
	}
	kf, err := a.KeyFile()
	if err != nil {
		return nil, err
	}
	c, err := graphclient.New(ctx, graphclient.Config{Cloud: s.MS.Cloud, TenantID: s.MS.Tenant, ClientID: s.MS.ClientID,
		KeyFile: kf, GraphURL: s.MS.GraphURL, LoginURL: s.MS.LoginURL, CAFile: s.MS.CAFile, CAPEM: a.GraphCAPEM, Logger: a.Log})
	if err != nil {
		return nil, err
	}
	a.graph = c
	return c, nil
}

// PBX builds (once) the 3CX XAPI client from the pbx.* settings.
func (a *App) PBX() (*pbxclient.XAPI, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.pbx != nil {
		return a.pbx, nil
	}
	if err := a.Store.RequireSettings("pbx.url", "pbx.client_id", "pbx.secret"); err != nil {
		return nil, err
	}
	s, err := a.Store.Settings()
	if err != nil {
		return nil, err
	}
	secret, err := a.Store.PBXSecret()
	if err != nil {
		return nil, err
	}
	x, err := pbxclient.New(pbxclient.Config{URL: s.PBX.URL, ClientID: s.PBX.ClientID, Secret: secret, CAFile: s.PBX.CAFile, CAPEM: a.PBXCAPEM})
	if err != nil {
		return nil, err
	}
	a.pbx = x
	return x, nil
}

// Users builds the user-sync engine.
func (a *App) Users(ctx context.Context) (*users.Engine, error) {
	g, err := a.Graph(ctx)
	if err != nil {
		return nil, err
	}
	p, err := a.PBX()
	if err != nil {
		return nil, err
	}
	return &users.Engine{Dir: g, PBX: p, State: users.StoreState{S: a.Store}, Log: a.Log}, nil
}
