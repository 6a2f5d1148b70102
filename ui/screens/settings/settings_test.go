package settings_test

import (
	"context"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/pbx365/pbx365/ui/common"
	"github.com/pbx365/pbx365/ui/screens/settings"
	"github.com/pbx365/pbx365/ui/uitest"
)

const idle = 80 * time.Millisecond

func newScreen(t *testing.T, f *uitest.Fake) *settings.Screen {
	c := common.NewContext(context.Background(), f, false)
	s := settings.New(c).(*settings.Screen)
	s.SetSize(100, 24)
	uitest.Pump(s.Update, s.Init(), idle)
	return s
}

func press(s *settings.Screen, keys ...string) []tea.Msg { return uitest.Press(s.Update, keys...) }

func typ(s *settings.Screen, text string) { uitest.TypeText(s.Update, text) }

// moveTo puts the cursor on key.
func moveTo(t *testing.T, s *settings.Screen, key string) {
	t.Helper()
	press(s, "home")
	for range 40 {
		if strings.Contains(ansi.Strip(s.View()), "> "+key+" ") {
			return
		}
		press(s, "down")
	}
	t.Fatalf("%s not found:\n%s", key, ansi.Strip(s.View()))
}

func TestGroupedInOrder(t *testing.T) {
	s := newScreen(t, uitest.NewFake(1))
	s.SetSize(100, 60)
	out := ansi.Strip(s.View())
	last := -1
	for _, g := range []string{"Microsoft", "PBX", "Users", "SSO", "Contacts", "Calendar", "Schedule", "Mail"} {
		i := strings.Index(out, "── "+g)
		if i < 0 || i < last {
			t.Fatalf("group %s missing or out of order:\n%s", g, out)
		}
		last = i
	}
	if !strings.Contains(out, "pbx.secret") || !strings.Contains(out, "not set") {
		t.Fatalf("secret state not shown:\n%s", out)
	}
}

func TestValidatedAsTypedAndErrorsInline(t *testing.T) {
	f := uitest.NewFake(1)
	s := newScreen(t, f)
	moveTo(t, s, "users.ext_start")
	press(s, "enter")
	if !s.CapturesInput() {
		t.Fatal("enter did not open the editor")
	}
	press(s, "ctrl+u") // textinput: delete before cursor
	typ(s, "10a")
	out := ansi.Strip(s.View())
	if !strings.Contains(out, `[invalid] users.ext_start: "10a" is not an extension number`) {
		t.Fatalf("no inline validation error:\n%s", out)
	}
	// q and digits are text while editing
	press(s, "enter")
	if out := ansi.Strip(s.View()); !strings.Contains(out, "[error] not saved") || f.Setting("users.ext_start") != "1000" {
		t.Fatalf("bad value saved or error not shown (stored %q):\n%s", f.Setting("users.ext_start"), out)
	}
	press(s, "backspace")
	typ(s, "0")
	if out := ansi.Strip(s.View()); !strings.Contains(out, "[valid]") {
		t.Fatalf("100 not shown valid:\n%s", out)
	}
	msgs := press(s, "enter")
	if f.Setting("users.ext_start") != "100" || s.CapturesInput() {
		t.Fatalf("stored %q editing %v", f.Setting("users.ext_start"), s.CapturesInput())
	}
	var changed bool
	for _, m := range msgs {
		if m, ok := m.(common.SettingsChangedMsg); ok && m.Key == "users.ext_start" {
			changed = true
		}
	}
	if !changed || !strings.Contains(ansi.Strip(s.View()), "[ok] users.ext_start saved") {
		t.Fatal("save not reported")
	}
}

func TestBoolTogglesEnumChoosesSecretHidden(t *testing.T) {
	f := uitest.NewFake(1)
	s := newScreen(t, f)
	moveTo(t, s, "sso.enabled")
	press(s, "enter")
	if f.Setting("sso.enabled") != "true" {
		t.Fatalf("toggle stored %q", f.Setting("sso.enabled"))
	}
	moveTo(t, s, "users.removal")
	press(s, "enter", "right", "enter") // disable → delete
	if f.Setting("users.removal") != "delete" {
		t.Fatalf("enum stored %q", f.Setting("users.removal"))
	}
	press(s, "u")
	if f.Setting("users.removal") != "" {
		t.Fatal("u did not reset to default")
	}
	moveTo(t, s, "pbx.secret")
	press(s, "enter")
	typ(s, "s3cret-value")
	out := ansi.Strip(s.View())
	if strings.Contains(out, "s3cret-value") {
		t.Fatalf("secret echoed:\n%s", out)
	}
	press(s, "enter")
	if f.Setting("pbx.secret") != "s3cret-value" || !strings.Contains(ansi.Strip(s.View()), "set (hidden)") {
		t.Fatal("secret not saved or not shown as set")
	}
}

func TestShortDurationWarns(t *testing.T) {
	s := newScreen(t, uitest.NewFake(1))
	moveTo(t, s, "schedule.delta_interval")
	press(s, "enter")
	typ(s, "30s")
	if out := ansi.Strip(s.View()); !strings.Contains(out, "[warning] below 1m") {
		t.Fatalf("no warning for 30s:\n%s", out)
	}
}
