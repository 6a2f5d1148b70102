package common_test

import (
	"context"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/pbx365/pbx365/sync/progress"
	"github.com/pbx365/pbx365/ui/common"
)

func TestWaitCoversCallsAndRuns(t *testing.T) {
	c := common.NewContext(context.Background(), nil, false)
	release := make(chan struct{})
	started := make(chan struct{})
	cmd := c.Do(func(ctx context.Context) tea.Msg {
		close(started)
		<-release
		return nil
	})
	go cmd()
	<-started
	if c.Wait(50 * time.Millisecond) {
		t.Fatal("Wait returned true with a call in flight")
	}
	close(release)
	if !c.Wait(time.Second) {
		t.Fatal("Wait timed out after the call ended")
	}
	// After Wait began, new calls are not made.
	called := false
	if msg := c.Do(func(context.Context) tea.Msg { called = true; return 1 })(); msg != nil || called {
		t.Fatal("a call ran after shutdown started")
	}

	// A tracked run's channel is drained so its producer can finish.
	c2 := common.NewContext(context.Background(), nil, false)
	ch := make(chan progress.Event) // unbuffered: the producer blocks without a reader
	finished := make(chan struct{})
	go func() {
		for i := range 5 {
			ch <- progress.Event{Done: i}
		}
		close(ch)
		close(finished)
	}()
	c2.TrackRun(1, ch)
	if !c2.Wait(time.Second) {
		t.Fatal("Wait did not drain the run")
	}
	<-finished
}

func TestTextHelpers(t *testing.T) {
	if got := common.Fit("abcdef", 4); got != "abc…" {
		t.Fatalf("Fit: %q", got)
	}
	if got := strings.Join(common.Wrap("one two three four https://example.com/long", 9), "|"); got != "one two|three|four|https://e|xample.co|m/long" {
		t.Fatalf("Wrap: %q", got)
	}
	if got := common.Clip("a\nb", 5, 3); got != "a\nb\n" {
		t.Fatalf("Clip: %q", got)
	}
	if s := (common.Setup{Tenant: "t", ClientID: "c", Key: common.KeyInfo{Exists: true}, PBXURL: "u", PBXClientID: "p"}); s.Complete() {
		t.Fatal("complete without the PBX API key")
	}
}
