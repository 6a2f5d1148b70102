package presence

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/pbx365/pbx365/ui/common"
	"github.com/pbx365/pbx365/ui/uitest"
)

const idle = 80 * time.Millisecond

func TestRowsErrorsRefreshAndStaleResults(t *testing.T) {
	f := uitest.NewExtras(5)
	now := time.Date(2026, 11, 25, 14, 0, 0, 0, time.Local)
	f.PresenceRows = []common.PresenceRow{
		{ObjectID: "a", Number: "1001", Address: "ada@contoso.example", Current: "Out of office", State: "busy",
			Profile: "Out of office", Previous: "Available", Reason: `busy: "Weekly sync"`, Since: now.Add(-10 * time.Minute),
			Until: now.Add(50 * time.Minute), Next: now.Add(50 * time.Minute), NextTo: "none"},
		{ObjectID: "b", Number: "1002", Address: "bob@contoso.example", Current: "Available", State: "idle"},
		{ObjectID: "c", Number: "1003", Address: "cy@contoso.example", State: "idle", Err: "set profile: PBX answered 500"},
	}
	c := common.NewContext(context.Background(), f, false)
	s := New(c).(*Screen)
	s.now = func() time.Time { return now }
	s.SetSize(80, 24)
	uitest.Pump(s.Update, s.Init(), idle)
	out := ansi.Strip(s.View())
	for _, want := range []string{"busy: \"Weekly sync\"", "13:50", "14:50 → none", "ERROR 1 user(s) with errors"} {
		if !strings.Contains(out, want) {
			t.Fatalf("missing %q:\n%s", want, out)
		}
	}
	for _, l := range strings.Split(s.View(), "\n") {
		if ansi.StringWidth(l) > 80 {
			t.Fatalf("line wider than 80: %q", l)
		}
	}
	// The whole error of the user under the cursor.
	uitest.Send(s.Update, idle, uitest.Key("end"))
	lines := strings.Split(ansi.Strip(s.View()), "\n")
	if !strings.Contains(lines[len(lines)-1], "ERROR · set profile: PBX answered 500") {
		t.Fatalf("detail %q", lines[len(lines)-1])
	}
	if f.Calls("PresenceRefresh") != 0 {
		t.Fatal("refreshed without being asked")
	}
	uitest.Send(s.Update, idle, uitest.Key("r"))
	if f.Calls("PresenceRefresh") != 1 || !strings.Contains(ansi.Strip(s.View()), "errors · live · calendar off") {
		t.Fatalf("refresh %d:\n%s", f.Calls("PresenceRefresh"), ansi.Strip(s.View()))
	}
	// A result for an older request is dropped.
	old := s.stID
	s.load(false)
	s.Update(statusMsg{id: old, st: common.PresenceStatus{Rows: []common.PresenceRow{{ObjectID: "z", Number: "9999"}}}})
	if strings.Contains(ansi.Strip(s.View()), "9999") {
		t.Fatal("a stale result was shown")
	}
	// Typing in the filter never refreshes.
	uitest.Send(s.Update, idle, uitest.Key("/"))
	for _, k := range uitest.Type("r") {
		uitest.Send(s.Update, idle, k)
	}
	if !s.CapturesInput() || f.Calls("PresenceRefresh") != 1 {
		t.Fatalf("filter typing: captures %v, refreshes %d", s.CapturesInput(), f.Calls("PresenceRefresh"))
	}
}
