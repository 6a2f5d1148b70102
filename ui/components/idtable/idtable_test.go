package idtable_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"

	"github.com/pbx365/pbx365/ui/common"
	"github.com/pbx365/pbx365/ui/components/idtable"
	"github.com/pbx365/pbx365/ui/uitest"
)

func rows(n int) []idtable.Row {
	out := make([]idtable.Row, n)
	for i := range n {
		out[i] = idtable.Row{ID: fmt.Sprint(i), Cells: []string{fmt.Sprintf("User %02d", i), fmt.Sprintf("u%02d@example.com", i), fmt.Sprint(1000 + i)}}
	}
	return out
}

func newTable(multi bool, w, h int) *idtable.Model {
	m := idtable.New(common.NewStyles(true), []idtable.Column{{Title: "Name", Min: 8, Flex: 1}, {Title: "Mail", Min: 10, Flex: 2}, {Title: "Ext", Min: 4, Right: true}}, multi)
	m.SetSize(w, h)
	m.SetRows(rows(40))
	return m
}

func press(m *idtable.Model, keys ...string) {
	for _, k := range keys {
		m.Update(uitest.Key(k))
	}
}

func TestViewAtFixedSize(t *testing.T) {
	m := newTable(true, 44, 6)
	press(m, "space", "down")
	got := ansi.Strip(m.View())
	want := strings.Join([]string{
		"/ to filter                                 ",
		"      Name         Mail                  Ext",
		"  [x] User 00      u00@example.com      1000",
		"  [ ] User 01      u01@example.com      1001",
		"> [ ] User 02      u02@example.com      1002",
		"  [ ] User 03      u03@example.com      1003",
	}, "\n")
	if got != want {
		t.Fatalf("view:\n%s\nwant:\n%s", got, want)
	}
	// Only the rows on screen are rendered, whatever the row count.
	if n := strings.Count(got, "\n") + 1; n != 6 {
		t.Fatalf("%d lines for height 6", n)
	}
}

func TestScrollKeepsCursorVisible(t *testing.T) {
	m := newTable(false, 44, 6)
	press(m, "G")
	out := ansi.Strip(m.View())
	if !strings.Contains(out, "> User 39") || strings.Contains(out, "User 35") {
		t.Fatalf("end did not scroll to the last row:\n%s", out)
	}
	press(m, "g")
	if out := ansi.Strip(m.View()); !strings.Contains(out, "> User 00") {
		t.Fatalf("home:\n%s", out)
	}
	press(m, "pgdown")
	if r, _ := m.CursorRow(); r.ID != "3" {
		t.Fatalf("pgdown went to %s, want 3 (page of 4 rows minus one)", r.ID)
	}
}

func TestFilterWordsAndNarrowing(t *testing.T) {
	m := newTable(true, 60, 10)
	press(m, "/")
	for _, k := range uitest.Type("user 2") {
		m.Update(k)
	}
	if m.Shown() != 13 {
		t.Fatalf("'user 2' shows %d, want 13 (02, 12, 20-29, 32)", m.Shown())
	}
	m.Update(uitest.Key("7"))
	if r, _ := m.CursorRow(); m.Shown() != 1 || r.ID != "27" {
		t.Fatalf("'user 27' shows %d", m.Shown())
	}
	press(m, "backspace", "backspace")
	if m.Shown() != 40 {
		t.Fatalf("widening back to 'user ' shows %d", m.Shown())
	}
	// letters are text while filtering: j, k, g, G, a and space do nothing else
	for _, k := range []string{"j", "k", "g", "G", "a", "space"} {
		m.Update(uitest.Key(k))
	}
	if m.Filter() != "user jkgGa " || m.SelectedCount() != 0 {
		t.Fatalf("filter %q selected %d", m.Filter(), m.SelectedCount())
	}
}

func TestCursorAndSelectionFollowIDsAcrossFilterAndReload(t *testing.T) {
	m := newTable(true, 60, 10)
	press(m, "down", "down", "space") // select User 02, cursor on 03
	m.SetFilter("u03")
	if r, ok := m.CursorRow(); !ok || r.ID != "3" {
		t.Fatalf("cursor on %v after filter", r.ID)
	}
	m.SetFilter("")
	if r, _ := m.CursorRow(); r.ID != "3" {
		t.Fatalf("cursor lost after clearing the filter: %s", r.ID)
	}
	// Reloading with fewer rows drops vanished IDs from the selection.
	m.SetSelected([]string{"2", "39"})
	m.SetRows(rows(10))
	if got := m.Selected(); len(got) != 1 || got[0] != "2" {
		t.Fatalf("selection after reload: %v", got)
	}
}

func TestNarrowTerminalStillFits(t *testing.T) {
	m := newTable(true, 20, 5)
	for i, l := range strings.Split(m.View(), "\n") {
		if w := ansi.StringWidth(l); w > 20 {
			t.Fatalf("line %d is %d wide at width 20", i, w)
		}
	}
}

// The one-pass scan over the joined haystacks finds exactly the rows a naive
// per-row test finds, for single and several words, after narrowing and
// widening.
func TestFilterMatchesNaive(t *testing.T) {
	words := []string{"ada", "berg", "sales", "10", "a", "e", "x", "user 1", "1 user", "zz", "ber sal", "@"}
	var rs []idtable.Row
	for i := range 500 {
		rs = append(rs, idtable.Row{ID: fmt.Sprint(i), Cells: []string{
			[]string{"Ada", "Björn", "Chloé", "Emma"}[i%4] + " " + []string{"Berg", "Novak", "Rossi"}[i%3],
			fmt.Sprintf("user%d@example.com", i), []string{"Sales", "Support"}[i%2], fmt.Sprint(1000 + i)}})
	}
	m := idtable.New(common.NewStyles(true), []idtable.Column{{Title: "A", Min: 5}, {Title: "B", Min: 5}, {Title: "C", Min: 5}, {Title: "D", Min: 4}}, false)
	m.SetSize(80, 10)
	m.SetRows(rs)
	naive := func(q string) int {
		n := 0
		for _, r := range rs {
			h := strings.ToLower(strings.Join(r.Cells, " "))
			ok := true
			for _, w := range strings.Fields(strings.ToLower(q)) {
				ok = ok && strings.Contains(h, w)
			}
			if ok {
				n++
			}
		}
		return n
	}
	for _, q := range words {
		for _, step := range []string{q, q + "r", q} { // narrow, then widen back
			m.SetFilter(step)
			if got, want := m.Shown(), naive(step); got != want {
				t.Fatalf("filter %q: %d shown, naive %d", step, got, want)
			}
		}
	}
}
