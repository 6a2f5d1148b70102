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

// newExtrasApp is the TUI at 80x24 on the users screen, on a configured fake
// with every optional backend.
func newExtrasApp(t *testing.T) (*App, *uitest.Extras) {
	t.Helper()
	f := uitest.NewExtras(10)
	f.Configure()
	a := New(f, Options{StartScreen: common.ScreenUsers})
	a.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	uitest.Pump(a.update, a.Init(), idle)
	t.Cleanup(func() { a.Shutdown(5 * time.Second) })
	return a, f
}

// The Contacts, Presence and SSO tabs appear only on a backend that
// implements their interfaces; on one they are reached with 7, 8 and 9 and
// fit 80x24.
func TestOptionalScreensOnlyWithTheirBackends(t *testing.T) {
	if got := OptionalScreens(uitest.NewFake(3)); len(got) != 0 {
		t.Fatalf("optional screens on the plain fake: %+v", got)
	}
	a, f := newExtrasApp(t)
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

// At 80 columns the nine tabs do not fit: the header keeps the active tab
// whole with its neighbours, and marks the tabs left out on either side.
func TestTabBarKeepsTheActiveTabInNarrowTerminals(t *testing.T) {
	a, _ := newExtrasApp(t)
	if len(a.factories) != 9 {
		t.Fatalf("%d tabs, want 9", len(a.factories))
	}
	header := func() string { return strings.SplitN(a.View().Content, "\n", 2)[0] }
	for i, fac := range a.factories {
		uitest.Pump(a.update, a.update(uitest.Key(string(rune('1'+i)))), idle)
		h := header()
		plain := ansi.Strip(h)
		if ansi.StringWidth(h) > 80 {
			t.Fatalf("tab %d: header wider than 80: %q", i+1, plain)
		}
		if want := "[" + string(rune('1'+i)) + " " + fac.Title + "]"; !strings.Contains(plain, want) {
			t.Errorf("tab %d: header %q lacks %q", i+1, plain, want)
		}
		// Tabs left out are marked on their side.
		first, last := strings.Contains(plain, "1 Setup"), strings.Contains(plain, "9 SSO")
		if !first && !strings.Contains(plain, "‹") || !last && !strings.Contains(plain, "›") {
			t.Errorf("tab %d: header %q hides tabs without a marker", i+1, plain)
		}
		if !strings.HasPrefix(plain, "pbx365") {
			t.Errorf("tab %d: header %q lost the brand", i+1, plain)
		}
	}
	// Wide enough: every tab, padded, no markers.
	a.Update(tea.WindowSizeMsg{Width: 160, Height: 24})
	plain := ansi.Strip(header())
	for _, fac := range a.factories {
		if !strings.Contains(plain, fac.Title) {
			t.Errorf("at 160 columns the header %q lacks %s", plain, fac.Title)
		}
	}
	if strings.ContainsAny(plain, "‹›") {
		t.Errorf("at 160 columns the header %q has markers", plain)
	}
}
