package users_test

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/pbx365/pbx365/ui/common"
	"github.com/pbx365/pbx365/ui/screens/users"
	"github.com/pbx365/pbx365/ui/uitest"
)

const idle = 80 * time.Millisecond

func newScreen(t testing.TB, b common.Backend, w, h int) *users.Screen {
	t.Helper()
	c := common.NewContext(context.Background(), b, false)
	s := users.New(c).(*users.Screen)
	s.SetSize(w, h)
	for _, m := range uitest.Collect(s.Init(), time.Minute) {
		uitest.Pump(s.Update, s.Update(m), idle)
	}
	return s
}

func press(s *users.Screen, keys ...string) []tea.Msg { return uitest.Press(s.Update, keys...) }

func typ(s *users.Screen, text string) { uitest.TypeText(s.Update, text) }

func TestFilterAsYouTypeAndSelectionSurvives(t *testing.T) {
	s := newScreen(t, uitest.NewFake(300), 100, 30)
	tb := s.Table()
	if tb.Len() != 300 || tb.Shown() != 300 {
		t.Fatalf("loaded %d shown %d, want 300/300", tb.Len(), tb.Shown())
	}
	press(s, "/")
	if !s.CapturesInput() {
		t.Fatal("/ did not focus the filter")
	}
	typ(s, "lovelace")
	if got := tb.Shown(); got != 20 {
		t.Fatalf("filter lovelace shows %d, want 20", got)
	}
	// space and a typed into the filter are text, not shortcuts
	typ(s, " a")
	if tb.Filter() != "lovelace a" || tb.SelectedCount() != 0 {
		t.Fatalf("filter %q selected %d: keys in the filter triggered shortcuts", tb.Filter(), tb.SelectedCount())
	}
	press(s, "backspace", "backspace", "enter")
	if s.CapturesInput() {
		t.Fatal("enter did not leave the filter")
	}
	press(s, "space", "space", "space")
	if tb.SelectedCount() != 3 || s.Scope() != common.ScopeSelected {
		t.Fatalf("selected %d scope %s, want 3 selected", tb.SelectedCount(), s.Scope())
	}
	chosen := tb.Selected()
	// Change the filter: the selection stays.
	press(s, "esc")
	if tb.Shown() != 300 || tb.Filter() != "" {
		t.Fatalf("esc did not clear the filter: shown %d filter %q", tb.Shown(), tb.Filter())
	}
	press(s, "/")
	typ(s, "sales")
	press(s, "enter")
	if tb.SelectedCount() != 3 {
		t.Fatalf("selection lost by filtering: %d", tb.SelectedCount())
	}
	shown := tb.Shown()
	press(s, "a") // select all shown
	if got := tb.SelectedCount(); got < shown {
		t.Fatalf("select all shown: %d selected, %d shown", got, shown)
	}
	press(s, "a") // again: deselect the shown ones
	// Ada (Sales) went with the Sales rows; Björn and Chloé stay.
	if tb.SelectedCount() != 2 || !tb.IsSelected(chosen[1]) || !tb.IsSelected(chosen[2]) || tb.IsSelected(chosen[0]) {
		t.Fatalf("after deselecting the shown Sales rows: %v", tb.Selected())
	}
	out := ansi.Strip(s.View())
	if !strings.Contains(out, "shown "+itoa(shown)+" · total 300") {
		t.Fatalf("counts line missing:\n%s", out)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestExcludedUsersShowTheirReason(t *testing.T) {
	s := newScreen(t, uitest.NewFake(100), 120, 30)
	press(s, "/")
	typ(s, "excluded")
	press(s, "enter")
	if s.Table().Shown() == 0 {
		t.Fatal("no excluded user shown")
	}
	out := ansi.Strip(s.View())
	for _, want := range []string{"excluded: eligibility.guest", "excluded: eligibility.disab", "excluded: eligibility.untyp"} {
		if !strings.Contains(out, want) {
			t.Errorf("view lacks %q:\n%s", want, out)
		}
	}
	// The full reason of the row under the cursor is in the detail line.
	press(s, "down")
	lines := strings.Split(ansi.Strip(s.View()), "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, "excluded: eligibility.disabled: account disabled") {
		t.Errorf("detail line %q lacks the reason", last)
	}
}

func TestEnterPlansTheSelection(t *testing.T) {
	s := newScreen(t, uitest.NewFake(50), 100, 30)
	msgs := press(s, "enter")
	var sel *common.Selection
	var nav bool
	for _, m := range msgs {
		switch m := m.(type) {
		case common.SelectionChosenMsg:
			sel = &m.Selection
		case common.NavigateMsg:
			nav = m.To == common.ScreenPlan
		}
	}
	if sel == nil || sel.Scope != common.ScopeAll || !nav {
		t.Fatalf("enter with scope all: selection %+v navigate %v", sel, nav)
	}
	// Scope chosen without users is refused with a hint.
	press(s, "s", "s") // all → groups (opens picker) ...
	if s.Scope() != common.ScopeGroups {
		t.Fatalf("scope %s, want groups", s.Scope())
	}
	press(s, "space", "enter") // pick the first group, close the picker
	msgs = press(s, "enter")
	sel = nil
	for _, m := range msgs {
		if m, ok := m.(common.SelectionChosenMsg); ok {
			sel = &m.Selection
		}
	}
	if sel == nil || len(sel.Groups) != 1 || sel.Groups[0] != "g-00" {
		t.Fatalf("groups selection %+v, want g-00", sel)
	}
	press(s, "s") // → selected, none chosen
	msgs = press(s, "enter")
	var status string
	for _, m := range msgs {
		if m, ok := m.(common.StatusMsg); ok && m.Err {
			status = m.Text
		}
	}
	if !strings.Contains(status, "no user chosen") {
		t.Fatalf("empty chosen scope: status %q", status)
	}
}

// countingBackend returns a different directory size on each call.
type countingBackend struct {
	*uitest.Fake
	n atomic.Int32
}

func (b *countingBackend) Directory(ctx context.Context) (common.DirectorySnapshot, error) {
	n := b.n.Add(1)
	snap, err := uitest.NewFake(int(n) * 10).Directory(ctx)
	return snap, err
}

func TestStaleDirectoryResultDropped(t *testing.T) {
	b := &countingBackend{Fake: uitest.NewFake(1)}
	s := newScreen(t, b, 100, 30) // first load: 10 users
	// Two reloads in flight; the older answers last.
	c1 := s.Update(uitest.Key("r"))
	c2 := s.Update(uitest.Key("r"))
	m1, m2 := c1(), c2() // 20 users, then 30 users
	s.Update(m2)
	s.Update(m1)
	if got := s.Table().Len(); got != 30 {
		t.Fatalf("table has %d users: the stale answer replaced the newer one", got)
	}
}

func BenchmarkFilterKeystroke100k(b *testing.B) {
	s := newScreen(b, uitest.NewFake(100_000), 160, 50)
	if s.Table().Len() != 100_000 {
		b.Fatalf("loaded %d users", s.Table().Len())
	}
	s.Update(uitest.Key("/"))
	b.Run("first-char", func(b *testing.B) {
		for b.Loop() {
			s.Update(uitest.Key("z")) // full scan, no match
			_ = s.View()
			s.Update(uitest.Key("backspace"))
		}
	})
	b.Run("first-char-all-match", func(b *testing.B) {
		for b.Loop() {
			s.Update(uitest.Key("e")) // full scan, nearly every row matches
			_ = s.View()
			s.Update(uitest.Key("backspace"))
		}
	})
	b.Run("narrowing-char", func(b *testing.B) {
		for _, k := range uitest.Type("ada") {
			s.Update(k)
		}
		for b.Loop() {
			s.Update(uitest.Key("."))
			_ = s.View()
			b.StopTimer()
			s.Update(uitest.Key("backspace"))
			b.StartTimer()
		}
	})
	b.Run("widening-full-scan", func(b *testing.B) {
		// backspace from "zzx" to "zz": not a narrowing, so all 100,000
		// rows are scanned and none match.
		for b.Loop() {
			b.StopTimer()
			s.Table().SetFilter("zzx")
			b.StartTimer()
			s.Update(uitest.Key("backspace"))
			_ = s.View()
		}
		s.Table().SetFilter("")
	})
	b.Run("backspace-widening", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			s.Update(uitest.Key("x"))
			b.StartTimer()
			s.Update(uitest.Key("backspace"))
			_ = s.View()
		}
	})
}

// The states and numbers follow the selection being edited: a moment after
// the last change the screen shows what the plan of that selection gives
// each user — the numbers the Plan screen will show, not those of "all".
func TestStatesAndNumbersFollowTheSelection(t *testing.T) {
	f := uitest.NewFake(30)
	s := newScreen(t, f, 140, 40)
	tb := s.Table()
	ext := func(id string) (string, string) {
		for _, r := range tb.Rows() {
			if r.ID == id {
				return r.Cells[5], r.Cells[6]
			}
		}
		t.Fatalf("no row %s", id)
		return "", ""
	}
	// Under "all" the eligible users get 1000, 1001, … by name.
	var byNumber = map[string]string{}
	for _, r := range tb.Rows() {
		if strings.HasPrefix(r.Cells[5], "+") {
			byNumber[r.Cells[5]] = r.ID
		}
	}
	first, third := byNumber["+1000"], byNumber["+1002"]
	if first == "" || third == "" {
		t.Fatalf("no +1000/+1002 under all: %v", byNumber)
	}
	// Rapid changes ask for one preview: move to the third user, choose it,
	// unchoose it and choose it again quickly (space moves the cursor down),
	// then wait.
	for i := 0; ; i++ {
		if row, ok := tb.CursorRow(); ok && row.ID == third {
			break
		}
		if i == tb.Len() {
			t.Fatal("the cursor never reached the third user")
		}
		press(s, "down")
	}
	before := f.Calls("Preview")
	press(s, "space", "up", "space", "up")
	uitest.Pump(s.Update, s.Update(uitest.Key("space")), users.PreviewDelay+500*time.Millisecond)
	if sel := tb.Selected(); len(sel) != 1 || sel[0] != third {
		t.Fatalf("selected %v, want the third user only", sel)
	}
	if got := f.Calls("Preview") - before; got != 1 {
		t.Errorf("%d previews for one burst of changes, want 1", got)
	}
	if n, st := ext(third); n != "+1000" || st != "will create" {
		t.Errorf("the one chosen user shows %q %q, want +1000 will create (the plan's number)", n, st)
	}
	if n, st := ext(first); n != "" || !strings.Contains(st, "excluded: scope.selected") {
		t.Errorf("a user not chosen shows %q %q, want excluded by scope", n, st)
	}
	if out := ansi.Strip(s.View()); !strings.Contains(out, "this scope: 1 create") {
		t.Errorf("counts line lacks the plan's counts:\n%s", out)
	}
	// Back to all (s cycles the scope: selected → all except → all): the
	// directory's numbers again.
	cycleTo(t, s, common.ScopeAll)
	if n, _ := ext(third); n != "+1002" {
		t.Errorf("back under all the user shows %q, want +1002", n)
	}
	// The plan made on enter has the numbers the screen showed.
	cycleTo(t, s, common.ScopeSelected)
	p, err := f.Plan(context.Background(), s.Selection())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range p.Changes {
		if c.ObjectID == third {
			if n, _ := ext(third); n != "+"+c.Number {
				t.Errorf("screen shows %q, the plan %q", n, c.Number)
			}
		}
	}
}

// cycleTo presses s until the scope is want, closing the group picker the
// groups scope opens, and waits for the preview each time.
func cycleTo(t *testing.T, s *users.Screen, want common.ScopeKind) {
	t.Helper()
	for range len(common.Scopes) {
		if s.Scope() == want {
			return
		}
		uitest.Pump(s.Update, s.Update(uitest.Key("s")), users.PreviewDelay+500*time.Millisecond)
		if strings.Contains(ansi.Strip(s.View()), "Users › groups") {
			uitest.Pump(s.Update, s.Update(uitest.Key("esc")), users.PreviewDelay+500*time.Millisecond)
		}
	}
	t.Fatalf("scope %s, never %s", s.Scope(), want)
}

// A backend that cannot preview keeps the directory's states.
func TestNoPreviewWithoutAPreviewBackend(t *testing.T) {
	s := newScreen(t, noPreview{uitest.NewFake(10)}, 120, 30)
	uitest.Pump(s.Update, s.Update(uitest.Key("space")), users.PreviewDelay+300*time.Millisecond)
	if out := ansi.Strip(s.View()); strings.Contains(out, "this scope") || strings.Contains(out, "planning") {
		t.Errorf("a preview line without a preview backend:\n%s", out)
	}
}

// noPreview hides the fake's Preview method.
type noPreview struct{ common.Backend }
