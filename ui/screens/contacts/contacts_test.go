package contacts_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/pbx365/pbx365/sync/plan"
	"github.com/pbx365/pbx365/ui/common"
	"github.com/pbx365/pbx365/ui/screens/contacts"
	"github.com/pbx365/pbx365/ui/uitest"
)

const idle = 80 * time.Millisecond

// link syncs n users in the fake so their phonebooks exist.
func link(t *testing.T, f *uitest.Extras, n int) {
	t.Helper()
	ctx := context.Background()
	snap, _ := f.Directory(ctx)
	sel := common.Selection{Scope: common.ScopeSelected}
	for _, u := range snap.Users[:n] {
		sel.Users = append(sel.Users, u.ObjectID)
	}
	p, _ := f.Plan(ctx, sel)
	ch, err := f.Apply(ctx, p, false)
	if err != nil {
		t.Fatal(err)
	}
	for range ch {
	}
}

func fits(t *testing.T, view string, w, h int) {
	t.Helper()
	lines := strings.Split(view, "\n")
	if len(lines) > h {
		t.Fatalf("%d lines, want at most %d:\n%s", len(lines), h, view)
	}
	for _, l := range lines {
		if ansi.StringWidth(l) > w {
			t.Fatalf("line wider than %d: %q", w, l)
		}
	}
}

func TestCountsPlanApplyAndNothingLeft(t *testing.T) {
	f := uitest.NewExtras(20)
	link(t, f, 3)
	c := common.NewContext(context.Background(), f, false)
	s := contacts.New(c).(*contacts.Screen)
	if s.Init() != nil {
		t.Fatal("Init reads the mailboxes; only showing the screen should")
	}
	s.SetSize(80, 24)
	var asked []common.ConfirmMsg
	update := uitest.Answering(s.Update, true, &asked)
	uitest.Pump(update, s.Activated(), idle)
	out := ansi.Strip(s.View())
	fits(t, s.View(), 80, 24)
	if !strings.Contains(out, "phonebooks · shown 3 · total 3") || !strings.Contains(out, "Plan: 6 create · 3 skip") ||
		!strings.Contains(out, "phone.none 1") || !strings.Contains(out, "no run yet") {
		t.Fatalf("phonebooks:\n%s", out)
	}
	uitest.Send(update, idle, uitest.Key("p"))
	out = ansi.Strip(s.View())
	if !strings.Contains(out, "plan · shown 9") || strings.Index(out, "create") > strings.Index(out, "skip  ") {
		t.Fatalf("plan, grouped by action (creates first):\n%s", out)
	}
	// The skip explains itself on the detail line.
	uitest.Send(update, idle, uitest.Key("end"))
	lines := strings.Split(ansi.Strip(s.View()), "\n")
	if !strings.Contains(lines[len(lines)-1], "no usable phone number") {
		t.Fatalf("detail %q", lines[len(lines)-1])
	}
	var finished bool
	for _, m := range uitest.Send(update, idle, uitest.Key("a")) {
		if _, ok := m.(common.RunFinishedMsg); ok {
			finished = true
		}
	}
	if len(asked) != 1 || !strings.Contains(asked[0].Body, "6 phonebook change(s)") || !finished {
		t.Fatalf("asked %+v, finished %v", asked, finished)
	}
	if f.Calls("ApplyContacts") != 1 || s.Summary() == nil || s.Summary().Done[plan.ActCreate] != 6 {
		t.Fatalf("calls %d, summary %+v", f.Calls("ApplyContacts"), s.Summary())
	}
	out = ansi.Strip(s.View())
	if !strings.Contains(out, "finished in") || !strings.Contains(out, "Plan: 3 skip") || !strings.Contains(out, "last run #2 ok") {
		t.Fatalf("after the run:\n%s", out)
	}
	// Nothing left to write: apply says so and asks nothing.
	asked = nil
	uitest.Send(update, idle, uitest.Key("a"))
	if len(asked) != 0 || f.Calls("ApplyContacts") != 1 {
		t.Fatalf("applied with nothing to do: %+v", asked)
	}
}

func TestDeclinedApplyWritesNothingAndOnlyOnContactsBackends(t *testing.T) {
	f := uitest.NewExtras(10)
	link(t, f, 2)
	c := common.NewContext(context.Background(), f, false)
	s := contacts.New(c)
	s.SetSize(100, 30)
	var asked []common.ConfirmMsg
	update := uitest.Answering(s.Update, false, &asked)
	uitest.Pump(update, s.(common.Activatable).Activated(), idle)
	uitest.Send(update, idle, uitest.Key("a"))
	if len(asked) != 1 || f.Calls("ApplyContacts") != 0 {
		t.Fatalf("asked %d, applied %d", len(asked), f.Calls("ApplyContacts"))
	}
	if _, ok := contacts.Factory(f); !ok {
		t.Fatal("no Contacts screen on a contacts backend")
	}
	if _, ok := contacts.Factory(uitest.NewFake(1)); ok {
		t.Fatal("a Contacts screen on a backend without contacts")
	}
}
