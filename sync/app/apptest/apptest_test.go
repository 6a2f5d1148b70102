package apptest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/pbx365/pbx365/graphclient"
	"github.com/pbx365/pbx365/sync/app"
)

func TestOpenIsConfiguredForTheSimulators(t *testing.T) {
	sims, a := Open(t, app.SimOptions{Seed: 3, Users: 10}, map[string]string{"users.ext_start": "200"})
	if v, err := a.Store.Get("users.ext_start"); err != nil || v.Text != "200" || !v.Set {
		t.Fatalf("setting: %+v %v", v, err)
	}
	g, err := a.Graph(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	err = g.ListUsers(context.Background(), func(us []graphclient.User) error { n += len(us); return nil })
	if err != nil || n != len(sims.M365.Users()) {
		t.Fatalf("users over Graph: %d (%v), sim has %d", n, err, len(sims.M365.Users()))
	}
}

func TestLogBufferConcurrentWriters(t *testing.T) {
	var l LogBuffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() { fmt.Fprintf(&l, "line %d\n", i) })
	}
	wg.Wait()
	if n := strings.Count(l.String(), "\n"); n != 8 {
		t.Fatalf("%d lines, want 8", n)
	}
}
