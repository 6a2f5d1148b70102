package setup_test

import (
	"context"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/pbx365/pbx365/ui/common"
	"github.com/pbx365/pbx365/ui/screens/setup"
	"github.com/pbx365/pbx365/ui/uitest"
)

const idle = 80 * time.Millisecond

func newScreen(t *testing.T, f *uitest.Fake, w, h int) *setup.Screen {
	c := common.NewContext(context.Background(), f, false)
	s := setup.New(c).(*setup.Screen)
	s.SetSize(w, h)
	uitest.Pump(s.Update, s.Init(), idle)
	return s
}

func press(s *setup.Screen, keys ...string) []tea.Msg { return uitest.Press(s.Update, keys...) }

func typ(s *setup.Screen, text string) { uitest.TypeText(s.Update, text) }

func view(s *setup.Screen) string { return ansi.Strip(s.View()) }

func TestRegisterStepValidatesAsTyped(t *testing.T) {
	f := uitest.NewFake(1)
	s := newScreen(t, f, 100, 30)
	press(s, "e")
	if !s.CapturesInput() {
		t.Fatal("e did not focus the tenant field")
	}
	typ(s, "not-a-guid")
	if out := view(s); !strings.Contains(out, `[invalid] ms.tenant: "not-a-guid" is not a GUID`) {
		t.Fatalf("no inline error:\n%s", out)
	}
	for range len("not-a-guid") {
		press(s, "backspace")
	}
	typ(s, "11111111-2222-3333-4444-555555555555")
	if out := view(s); !strings.Contains(out, "[valid]") {
		t.Fatalf("GUID not valid:\n%s", out)
	}
	press(s, "enter") // saves, focus moves to the app ID
	if f.Setting("ms.tenant") != "11111111-2222-3333-4444-555555555555" || !s.CapturesInput() {
		t.Fatalf("tenant stored %q, still editing %v", f.Setting("ms.tenant"), s.CapturesInput())
	}
	typ(s, "66666666-7777-8888-9999-000000000000")
	press(s, "enter")
	if f.Setting("ms.client_id") == "" || s.CapturesInput() {
		t.Fatal("app ID not saved or editor still open")
	}
	if out := view(s); !strings.Contains(out, "[x] 1 Register app") {
		t.Fatalf("step 1 not marked done:\n%s", out)
	}
}

func TestKeyPairGenerateAndRotateAsks(t *testing.T) {
	f := uitest.NewFake(1)
	s := newScreen(t, f, 100, 30)
	s.SetStep(setup.StepKey)
	if out := view(s); !strings.Contains(out, "[ ] no key pair yet") || !strings.Contains(out, "Upload certificate") {
		t.Fatalf("key step before generation:\n%s", out)
	}
	press(s, "g")
	out := view(s)
	if f.Calls("GenerateKeyPair") != 1 || !strings.Contains(out, "thumbprint") || !strings.Contains(out, "public_key.pem") {
		t.Fatalf("generate: calls %d\n%s", f.Calls("GenerateKeyPair"), out)
	}
	msgs := press(s, "g")
	var ask *common.ConfirmMsg
	for _, m := range msgs {
		if m, ok := m.(common.ConfirmMsg); ok {
			ask = &m
		}
	}
	if ask == nil || ask.Title != "Rotate the key pair?" || f.Calls("GenerateKeyPair") != 1 {
		t.Fatalf("second g did not ask first: %+v calls %d", ask, f.Calls("GenerateKeyPair"))
	}
}

func TestPermissionsAndPBXCheckedLive(t *testing.T) {
	f := uitest.NewFake(1)
	f.Configure()
	f.MissingPermissions = []string{"Mail.Send"}
	s := newScreen(t, f, 120, 30)
	s.SetStep(setup.StepPermissions)
	out := view(s)
	for _, want := range []string{"[ok] User.Read.All", "[missing] Mail.Send", "grant admin consent", "/adminconsent?client_", "[!] 3 Permissions"} {
		if !strings.Contains(out, want) {
			t.Errorf("permissions step lacks %q:\n%s", want, out)
		}
	}
	f.MissingPermissions = nil
	press(s, "c")
	if out := view(s); !strings.Contains(out, "[ok] Mail.Send") || !strings.Contains(out, "[x] 3 Permissions") {
		t.Fatalf("re-check did not clear the problem:\n%s", out)
	}
	s.SetStep(setup.StepPBX)
	if out := view(s); !strings.Contains(out, "[ok] version  20.0.10.100") || !strings.Contains(out, "set (hidden)") {
		t.Fatalf("PBX step:\n%s", out)
	}
	s.SetStep(setup.StepRegister)
	if out := view(s); !strings.Contains(out, "https://pbx.contoso.example/oauth2office2") {
		t.Fatalf("redirect URI not derived from pbx.url:\n%s", out)
	}
}

func TestFitsAt80x24(t *testing.T) {
	f := uitest.NewFake(1)
	f.Configure()
	s := newScreen(t, f, 80, 22)
	for st := setup.StepRegister; st <= setup.StepCalendar; st++ {
		s.SetStep(st)
		lines := strings.Split(s.View(), "\n")
		if len(lines) != 22 {
			t.Fatalf("step %d: %d lines", st, len(lines))
		}
		for i, l := range lines {
			if w := ansi.StringWidth(l); w > 80 {
				t.Fatalf("step %d line %d is %d wide", st, i, w)
			}
		}
	}
}

func TestPBXFieldsSavedThenLoginChecked(t *testing.T) {
	f := uitest.NewFake(1)
	s := newScreen(t, f, 100, 30)
	s.SetStep(setup.StepPBX)
	press(s, "e")
	typ(s, "http://pbx")
	if out := view(s); !strings.Contains(out, "[invalid] pbx.url") {
		t.Fatalf("plain http accepted:\n%s", out)
	}
	for range len("http://pbx") {
		press(s, "backspace")
	}
	typ(s, "https://pbx.example.com")
	press(s, "enter")
	typ(s, "pbx365")
	press(s, "enter")
	typ(s, "api-key-value")
	if strings.Contains(view(s), "api-key-value") {
		t.Fatal("API key echoed")
	}
	press(s, "enter")
	out := view(s)
	if f.Calls("CheckPBX") != 1 || !strings.Contains(out, "[ok] version  20.0.10.100") || !strings.Contains(out, "[x] · PBX connection") {
		t.Fatalf("login not checked after saving (calls %d):\n%s", f.Calls("CheckPBX"), out)
	}
	s.SetStep(setup.StepRegister)
	if !strings.Contains(view(s), "https://pbx.example.com/oauth2office2") {
		t.Fatalf("redirect URI:\n%s", view(s))
	}
}
