package ui

import (
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/pbx365/pbx365/ui/common"
	"github.com/pbx365/pbx365/ui/uitest"
)

// The Contacts, Presence and SSO tabs appear only on a backend that
// implements their interfaces; on one they are reached with 7, 8 and 9 and
// fit 80x24.
func TestOptionalScreensOnlyWithTheirBackends(t *testing.T) {
	if got := OptionalScreens(uitest.NewFake(3)); len(got) != 0 {
		t.Fatalf("optional screens on the plain fake: %+v", got)
	}
	f := uitest.NewExtras(10)
	f.Configure()
	a := New(f, Options{StartScreen: common.ScreenUsers})
	a.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	uitest.Pump(a.update, a.Init(), idle)
	defer a.Shutdown(5 * time.Second)
	for i, id := range []common.ScreenID{common.ScreenContacts, common.ScreenPresence, common.ScreenSSO} {
		uitest.Pump(a.update, a.update(uitest.Key(string(rune('7'+i)))), idle)
		if a.factories[a.active].ID != id {
			t.Fatalf("key %d shows %s, want %s", 7+i, a.factories[a.active].ID, id)
		}
		view := a.View().Content
		lines := strings.Split(view, "\n")
		if len(lines) > 24 {
			t.Fatalf("%s: %d lines", id, len(lines))
		}
		for _, l := range lines {
			if ansi.StringWidth(l) > 80 {
				t.Fatalf("%s: line wider than 80: %q", id, ansi.Strip(l))
			}
		}
	}
	if f.Calls("ContactsStatus") != 1 || f.Calls("SSOStatus") < 1 || f.Calls("Presence") < 1 {
		t.Fatalf("calls: contacts %d, sso %d, presence %d", f.Calls("ContactsStatus"), f.Calls("SSOStatus"), f.Calls("Presence"))
	}
}
