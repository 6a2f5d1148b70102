package activity_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/pbx365/pbx365/ui/common"
	"github.com/pbx365/pbx365/ui/screens/activity"
	"github.com/pbx365/pbx365/ui/uitest"
)

const idle = 80 * time.Millisecond

func TestRunsItemsAndFilter(t *testing.T) {
	f := uitest.NewFake(40)
	f.FailUPN = "bjorn.lovelace@contoso.example"
	ctx := context.Background()
	snap, _ := f.Directory(ctx)
	sel := common.Selection{Scope: common.ScopeSelected}
	for _, u := range snap.Users[:4] {
		sel.Users = append(sel.Users, u.ObjectID)
	}
	apply := func() {
		p, _ := f.Plan(ctx, sel)
		ch, err := f.Apply(ctx, p, false)
		if err != nil {
			t.Fatal(err)
		}
		for range ch {
		}
	}
	apply()

	c := common.NewContext(ctx, f, false)
	s := activity.New(c)
	s.SetSize(120, 20)
	uitest.Pump(s.Update, s.Init(), idle)
	out := ansi.Strip(s.View())
	if !strings.Contains(out, "#1") || !strings.Contains(out, "partial") || !strings.Contains(out, "create 3 / failed create 1") {
		t.Fatalf("runs list:\n%s", out)
	}
	uitest.Send(s.Update, idle, uitest.Key("enter"))
	out = ansi.Strip(s.View())
	if !strings.Contains(out, "run #1 · shown 4 · total 4") || !strings.Contains(out, "FAIL: PBX refus") {
		t.Fatalf("items:\n%s", out)
	}
	// The detail line shows the whole error of the item under the cursor.
	uitest.Send(s.Update, idle, uitest.Key("down"))
	lines := strings.Split(ansi.Strip(s.View()), "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, "FAIL: PBX refused the write: EmailAddress already used") {
		t.Fatalf("detail line %q", last)
	}
	uitest.Send(s.Update, idle, uitest.Key("/"))
	for _, k := range uitest.Type("fail") {
		uitest.Send(s.Update, idle, k)
	}
	if !s.CapturesInput() || !strings.Contains(ansi.Strip(s.View()), "shown 1 · total 4") {
		t.Fatalf("filter:\n%s", ansi.Strip(s.View()))
	}
	uitest.Send(s.Update, idle, uitest.Key("enter"), uitest.Key("esc"), uitest.Key("esc"))
	if out := ansi.Strip(s.View()); !strings.Contains(out, "runs · shown 1") {
		t.Fatalf("esc did not go back to the runs:\n%s", out)
	}
	// A finished run reloads the list.
	apply()
	uitest.Send(s.Update, idle, common.RunFinishedMsg{RunID: 2})
	if out := ansi.Strip(s.View()); !strings.Contains(out, "#2") {
		t.Fatalf("new run not listed:\n%s", out)
	}
}
