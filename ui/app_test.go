package ui

import (
	"image/color"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/pbx365/pbx365/sync/plan"
	"github.com/pbx365/pbx365/ui/common"
	"github.com/pbx365/pbx365/ui/screens/syncview"
	"github.com/pbx365/pbx365/ui/screens/users"
	"github.com/pbx365/pbx365/ui/uitest"
)

const idle = 80 * time.Millisecond

func newTestApp(t *testing.T, f *uitest.Fake, w, h int) *App {
	t.Helper()
	a := New(f, Options{})
	a.Update(tea.WindowSizeMsg{Width: w, Height: h})
	uitest.Pump(a.update, a.Init(), idle)
	t.Cleanup(func() {
		if !a.Shutdown(5 * time.Second) {
			t.Error("in-flight work did not finish")
		}
	})
	return a
}

func (a *App) update(m tea.Msg) tea.Cmd {
	_, c := a.Update(m)
	return c
}

func (a *App) press(keys ...string) []tea.Msg {
	msgs := make([]tea.Msg, len(keys))
	for i, k := range keys {
		msgs[i] = uitest.Key(k)
	}
	return uitest.Send(a.update, idle, msgs...)
}

func (a *App) typ(s string) {
	for _, k := range uitest.Type(s) {
		uitest.Send(a.update, idle, k)
	}
}

func (a *App) screenText() string { return ansi.Strip(a.View().Content) }

func quits(msgs []tea.Msg) bool {
	for _, m := range msgs {
		if _, ok := m.(tea.QuitMsg); ok {
			return true
		}
	}
	return false
}

func TestStartsOnSetupUntilConfigured(t *testing.T) {
	a := newTestApp(t, uitest.NewFake(20), 80, 24)
	if a.Active() != common.ScreenSetup {
		t.Fatalf("unconfigured: started on %s, want setup", a.Active())
	}
	out := a.screenText()
	for _, want := range []string{"Step 1 · Register an app in Entra", "https://<pbx-fqdn>/oauth2office2", "Tenant ID", "not set"} {
		if !strings.Contains(out, want) {
			t.Errorf("setup view lacks %q:\n%s", want, out)
		}
	}
	f := uitest.NewFake(20)
	f.Configure()
	b := newTestApp(t, f, 80, 24)
	if b.Active() != common.ScreenUsers {
		t.Fatalf("configured: on %s, want users", b.Active())
	}
}

func TestQuitKeyInsideFilterIsText(t *testing.T) {
	f := uitest.NewFake(30)
	f.Configure()
	a := newTestApp(t, f, 80, 24)
	a.press("/")
	if msgs := a.press("q", "?", "2", "tab"); quits(msgs) {
		t.Fatal("q typed in the filter quit the program")
	}
	u := a.Screen(common.ScreenUsers).(*users.Screen)
	if got := u.Table().Filter(); got != "q?2" || a.Active() != common.ScreenUsers || a.showHelp {
		t.Fatalf("filter %q active %s help %v: shortcuts fired inside the filter", got, a.Active(), a.showHelp)
	}
	a.press("esc")
	if !quits(a.press("q")) {
		t.Fatal("q outside the filter did not quit while no run is active")
	}
}

func TestGlobalKeysSwitchScreensAndHelp(t *testing.T) {
	f := uitest.NewFake(30)
	f.Configure()
	a := newTestApp(t, f, 80, 24)
	a.press("4")
	if a.Active() != common.ScreenSettings {
		t.Fatalf("4 → %s", a.Active())
	}
	a.press("tab")
	if a.Active() != common.ScreenSync {
		t.Fatalf("tab → %s", a.Active())
	}
	a.press("shift+tab", "shift+tab")
	if a.Active() != common.ScreenPlan {
		t.Fatalf("shift+tab ×2 → %s", a.Active())
	}
	a.press("?")
	if out := a.screenText(); !strings.Contains(out, "Keys · Plan") || !strings.Contains(out, "apply") {
		t.Fatalf("? did not show full help:\n%s", out)
	}
	a.press("esc")
	if a.showHelp {
		t.Fatal("esc did not close help")
	}
}

func TestCtrlCDuringRunAsksFirst(t *testing.T) {
	f := uitest.NewFake(60)
	f.Configure()
	f.Delay = 50 * time.Millisecond
	a := newTestApp(t, f, 100, 30)
	a.press("a", "enter") // choose every shown user, plan
	if a.Active() != common.ScreenPlan {
		t.Fatalf("on %s, want plan", a.Active())
	}
	a.press("a")
	if title, ok := a.Confirming(); !ok || title != "Apply this plan?" {
		t.Fatalf("apply did not ask: %q %v", title, ok)
	}
	// Answer yes without pumping for long: the run is now active.
	cmd := a.update(uitest.Key("y"))
	msgs := uitest.Collect(cmd, idle)
	for _, m := range msgs {
		a.Update(m)
	}
	if !a.c.RunActive || a.Active() != common.ScreenSync {
		t.Fatalf("run active %v on %s", a.c.RunActive, a.Active())
	}
	if quits(uitest.Collect(a.update(uitest.Key("ctrl+c")), idle)) {
		t.Fatal("ctrl+c quit during a run without asking")
	}
	if title, _ := a.Confirming(); !strings.Contains(title, "Quit while a run is active") {
		t.Fatalf("prompt %q", title)
	}
	if !strings.Contains(a.screenText(), "y quit") {
		t.Fatalf("prompt text:\n%s", a.screenText())
	}
	a.update(uitest.Key("n"))
	if _, ok := a.Confirming(); ok || quits(uitest.Collect(a.update(uitest.Key("x")), time.Millisecond)) {
		t.Fatal("n did not close the prompt")
	}
	// x asked "Cancel the run?"; answer no, then q asks again; yes quits.
	a.update(uitest.Key("esc"))
	a.update(uitest.Key("q"))
	if title, _ := a.Confirming(); !strings.Contains(title, "Quit while") {
		t.Fatalf("q during a run: prompt %q", title)
	}
	if !quits(uitest.Collect(a.update(uitest.Key("y")), idle)) {
		t.Fatal("yes did not quit")
	}
}

func TestResizeAndBackgroundColour(t *testing.T) {
	f := uitest.NewFake(100)
	f.Configure()
	a := newTestApp(t, f, 80, 24)
	for _, sz := range [][2]int{{80, 24}, {160, 50}, {100, 30}} {
		a.Update(tea.WindowSizeMsg{Width: sz[0], Height: sz[1]})
		for _, id := range []common.ScreenID{common.ScreenSetup, common.ScreenUsers, common.ScreenPlan, common.ScreenSettings, common.ScreenSync, common.ScreenActivity} {
			a.Update(common.NavigateMsg{To: id})
			lines := strings.Split(a.View().Content, "\n")
			if len(lines) != sz[1] {
				t.Errorf("%s at %dx%d: %d lines", id, sz[0], sz[1], len(lines))
			}
			for i, l := range lines {
				if w := ansi.StringWidth(l); w > sz[0] {
					t.Errorf("%s at %dx%d: line %d is %d wide", id, sz[0], sz[1], i, w)
				}
			}
		}
	}
	a.Update(tea.BackgroundColorMsg{Color: color.White})
	if a.c.Styles.IsDark {
		t.Fatal("a white background kept the dark styles")
	}
	a.Update(tea.BackgroundColorMsg{Color: color.Black})
	if !a.c.Styles.IsDark {
		t.Fatal("a black background kept the light styles")
	}
}

func TestRemovalThresholdPrompt(t *testing.T) {
	f := uitest.NewFake(40)
	f.Configure()
	a := newTestApp(t, f, 120, 30)
	// First run: create the first 5 users shown.
	a.press("space", "space", "space", "space", "space", "enter", "a", "y")
	sv := a.Screen(common.ScreenSync).(*syncview.Screen)
	if s := sv.Summary(); s == nil || s.Done[plan.ActCreate] != 5 {
		t.Fatalf("first run summary %+v", s)
	}
	// Now choose 5 other users: the 5 linked ones leave scope → 5 disables,
	// more than the limit.
	a.press("2", "x", "pgdown", "space", "space", "space", "space", "space", "enter")
	p, _ := a.Screen(common.ScreenPlan).(interface{ Plan() (plan.Plan, bool) }).Plan()
	if p.Guard == nil || p.Counts[plan.ActDisable] != 5 {
		t.Fatalf("plan guard %+v counts %v", p.Guard, p.Counts)
	}
	if out := a.screenText(); !strings.Contains(out, "STOP:") {
		t.Fatalf("plan does not show the stop:\n%s", out)
	}
	a.press("a")
	if title, _ := a.Confirming(); title != "Removal threshold reached" {
		t.Fatalf("prompt %q", title)
	}
	if out := a.screenText(); !strings.Contains(out, "y allow removals and apply") || !strings.Contains(out, "n/esc go back") {
		t.Fatalf("prompt text:\n%s", out)
	}
	msgs := a.press("y")
	var start *common.StartRunMsg
	for _, m := range msgs {
		if m, ok := m.(common.StartRunMsg); ok {
			start = &m
		}
	}
	if start == nil || !start.AllowRemovals {
		t.Fatalf("yes did not start a run allowing removals: %+v", start)
	}
	if s := sv.Summary(); s == nil || s.Done[plan.ActDisable] != 5 || s.Done[plan.ActCreate] != p.Counts[plan.ActCreate] {
		t.Fatalf("second run summary %+v", s)
	}
}
