// Package idtable is a virtualised table keyed by row ID: a filter typed after
// `/` (every word must appear), optional multi-select that survives filtering,
// and a View that renders only the rows on screen from strings cached per
// width. It handles 100,000 rows at keystroke speed.
package idtable

import (
	"bytes"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/pbx365/pbx365/ui/common"
)

// Column describes one column: a title, a minimum width and a share of the
// space left over (Flex 0 keeps the minimum).
type Column struct {
	Title string
	Min   int
	Flex  int
	Right bool // right-align (numbers)
}

// Tone changes how a row is drawn; each tone also has a text marker in the
// cells (the caller's job), so colour never carries meaning alone.
type Tone uint8

// Row tones.
const (
	ToneNormal Tone = iota
	ToneMuted
	ToneWarn
	ToneError
	ToneOK
)

// Row is one row. Search is the lower-case text the filter looks in; when
// empty, the cells joined are used.
type Row struct {
	ID     string
	Cells  []string
	Search string
	Tone   Tone
}

// KeyMap is the table's keys.
type KeyMap struct {
	Up, Down, PageUp, PageDown, Home, End key.Binding
	Toggle, ToggleAll                     key.Binding
	Filter, ClearFilter, AcceptFilter     key.Binding
}

// DefaultKeyMap returns fresh table keys.
func DefaultKeyMap() KeyMap {
	return KeyMap{
		Up:           common.Bind("↑/k", "up", "up", "k"),
		Down:         common.Bind("↓/j", "down", "down", "j"),
		PageUp:       common.Bind("pgup", "page up", "pgup", "ctrl+u"),
		PageDown:     common.Bind("pgdn", "page down", "pgdown", "ctrl+d"),
		Home:         common.Bind("g/home", "first", "home", "g"),
		End:          common.Bind("G/end", "last", "end", "G"),
		Toggle:       common.Bind("space", "select", "space"),
		ToggleAll:    common.Bind("a", "all shown", "a"),
		Filter:       common.Bind("/", "filter", "/"),
		ClearFilter:  common.Bind("esc", "clear filter", "esc"),
		AcceptFilter: common.Bind("enter", "done filtering", "enter"),
	}
}

// Model is the table.
type Model struct {
	Keys KeyMap

	styles *common.Styles
	cols   []Column
	multi  bool

	rows     []Row
	hay      []byte  // every row's lower-case haystack, each ended by a NUL
	off      []int32 // row i's haystack is hay[off[i]:off[i+1]-1]
	all      []int   // 0..len(rows)-1, shared by the unfiltered view
	spare    []int   // the previous visible slice, reused to avoid garbage
	byID     map[string]int
	visible  []int
	cursor   int // index into visible
	start    int // first visible index on screen
	selected map[string]struct{}

	input     textinput.Model
	filtering bool
	query     string // lower-case query the visible set was computed for

	width, height int
	widths        []int
	cache         map[int]string // row index → rendered cells at widths
	emptyText     string
}

// New makes a table. multi enables selection with space and `a`.
func New(styles *common.Styles, cols []Column, multi bool) *Model {
	in := textinput.New()
	in.Prompt = "/ "
	in.Placeholder = "type to filter"
	in.SetVirtualCursor(true)
	m := &Model{
		Keys:      DefaultKeyMap(),
		styles:    styles,
		cols:      cols,
		multi:     multi,
		byID:      map[string]int{},
		selected:  map[string]struct{}{},
		input:     in,
		cache:     map[int]string{},
		emptyText: "nothing to show",
	}
	if !multi {
		m.Keys.Toggle.SetEnabled(false)
		m.Keys.ToggleAll.SetEnabled(false)
	}
	m.syncKeys()
	return m
}

// SetEmptyText sets what an empty table says.
func (m *Model) SetEmptyText(s string) { m.emptyText = s }

// SetRows replaces the rows. The cursor stays on the same ID and selected IDs
// that still exist stay selected.
func (m *Model) SetRows(rows []Row) {
	cur, _ := m.CursorRow()
	m.rows = rows
	m.byID = make(map[string]int, len(rows))
	m.off = make([]int32, len(rows)+1)
	m.all = make([]int, len(rows))
	m.spare = make([]int, 0, len(rows))
	size := 0
	for _, r := range rows {
		size += len(r.Search) + 1
	}
	m.hay = make([]byte, 0, size)
	for i, r := range rows {
		s := r.Search
		if s == "" {
			s = strings.ToLower(strings.Join(r.Cells, " "))
		}
		m.off[i] = int32(len(m.hay))
		m.hay = append(m.hay, strings.ReplaceAll(s, "\x00", " ")...)
		m.hay = append(m.hay, 0)
		m.byID[r.ID] = i
		m.all[i] = i
	}
	m.off[len(rows)] = int32(len(m.hay))
	for id := range m.selected {
		if _, ok := m.byID[id]; !ok {
			delete(m.selected, id)
		}
	}
	m.cache = map[int]string{}
	m.query = "\x00" // force a full refilter
	m.refilter(cur.ID)
}

// Rows returns the rows.
func (m *Model) Rows() []Row { return m.rows }

// SetSize sets the size of the whole table including its filter line.
func (m *Model) SetSize(w, h int) {
	if w != m.width {
		m.cache = map[int]string{}
	}
	m.width, m.height = w, h
	m.widths = m.layout(w)
	m.input.SetWidth(max(1, w-4))
	m.clampStart()
}

// Len is the number of rows; Shown the number matching the filter.
func (m *Model) Len() int { return len(m.rows) }

// Shown is the number of rows matching the filter.
func (m *Model) Shown() int { return len(m.visible) }

// SelectedCount is the number of selected rows.
func (m *Model) SelectedCount() int { return len(m.selected) }

// Selected returns the selected IDs in row order.
func (m *Model) Selected() []string {
	out := make([]string, 0, len(m.selected))
	for _, r := range m.rows {
		if _, ok := m.selected[r.ID]; ok {
			out = append(out, r.ID)
		}
	}
	return out
}

// IsSelected reports whether id is selected.
func (m *Model) IsSelected(id string) bool { _, ok := m.selected[id]; return ok }

// SetSelected replaces the selection (unknown IDs are ignored).
func (m *Model) SetSelected(ids []string) {
	m.selected = map[string]struct{}{}
	for _, id := range ids {
		if _, ok := m.byID[id]; ok {
			m.selected[id] = struct{}{}
		}
	}
}

// Toggle flips one row's selection.
func (m *Model) Toggle(id string) {
	if _, ok := m.selected[id]; ok {
		delete(m.selected, id)
		return
	}
	if _, ok := m.byID[id]; ok {
		m.selected[id] = struct{}{}
	}
}

// CursorRow returns the row under the cursor.
func (m *Model) CursorRow() (Row, bool) {
	if m.cursor < 0 || m.cursor >= len(m.visible) {
		return Row{}, false
	}
	return m.rows[m.visible[m.cursor]], true
}

// SetCursorID moves the cursor to a row if it is shown.
func (m *Model) SetCursorID(id string) {
	for i, idx := range m.visible {
		if m.rows[idx].ID == id {
			m.cursor = i
			m.clampStart()
			return
		}
	}
}

// Filtering reports whether the filter input has focus.
func (m *Model) Filtering() bool { return m.filtering }

// Filter is the filter text.
func (m *Model) Filter() string { return m.input.Value() }

// SetFilter sets the filter text and recomputes the shown rows.
func (m *Model) SetFilter(s string) {
	m.input.SetValue(s)
	m.input.CursorEnd()
	cur, _ := m.CursorRow()
	m.refilter(cur.ID)
}

// Blur leaves the filter input (the filter stays).
func (m *Model) Blur() {
	m.filtering = false
	m.input.Blur()
	m.syncKeys()
}

func (m *Model) syncKeys() {
	nav := !m.filtering
	for _, b := range []*key.Binding{&m.Keys.PageUp, &m.Keys.PageDown, &m.Keys.Filter} {
		b.SetEnabled(nav)
	}
	// j/k/g/G are letters: while typing a filter only the arrows move.
	if m.filtering {
		m.Keys.Up.SetKeys("up")
		m.Keys.Down.SetKeys("down")
		m.Keys.Home.SetEnabled(false)
		m.Keys.End.SetEnabled(false)
	} else {
		m.Keys.Up.SetKeys("up", "k")
		m.Keys.Down.SetKeys("down", "j")
		m.Keys.Home.SetEnabled(true)
		m.Keys.End.SetEnabled(true)
	}
	m.Keys.Toggle.SetEnabled(m.multi && nav)
	m.Keys.ToggleAll.SetEnabled(m.multi && nav)
	m.Keys.AcceptFilter.SetEnabled(m.filtering)
	m.Keys.ClearFilter.SetEnabled(m.filtering || m.input.Value() != "")
}

// Update handles a message; handled reports whether the table used it (a key
// the table does not know is left to the screen).
func (m *Model) Update(msg tea.Msg) (handled bool, cmd tea.Cmd) {
	k, ok := msg.(tea.KeyPressMsg)
	if !ok {
		if m.filtering {
			var c tea.Cmd
			m.input, c = m.input.Update(msg)
			return false, c
		}
		return false, nil
	}
	switch {
	case key.Matches(k, m.Keys.Up):
		m.move(-1)
	case key.Matches(k, m.Keys.Down):
		m.move(1)
	case key.Matches(k, m.Keys.PageUp):
		m.move(-m.pageSize())
	case key.Matches(k, m.Keys.PageDown):
		m.move(m.pageSize())
	case key.Matches(k, m.Keys.Home):
		m.move(-len(m.visible))
	case key.Matches(k, m.Keys.End):
		m.move(len(m.visible))
	case key.Matches(k, m.Keys.AcceptFilter):
		m.Blur()
	case key.Matches(k, m.Keys.ClearFilter):
		m.SetFilter("")
		m.Blur()
	case m.filtering:
		cur, _ := m.CursorRow()
		var c tea.Cmd
		m.input, c = m.input.Update(k)
		m.refilter(cur.ID)
		m.syncKeys()
		return true, c
	case key.Matches(k, m.Keys.Filter):
		m.filtering = true
		cmd = m.input.Focus()
	case key.Matches(k, m.Keys.Toggle):
		if r, ok := m.CursorRow(); ok {
			m.Toggle(r.ID)
			m.move(1)
		}
	case key.Matches(k, m.Keys.ToggleAll):
		m.toggleAllShown()
	default:
		return false, nil
	}
	m.syncKeys()
	return true, cmd
}

func (m *Model) toggleAllShown() {
	all := true
	for _, idx := range m.visible {
		if _, ok := m.selected[m.rows[idx].ID]; !ok {
			all = false
			break
		}
	}
	for _, idx := range m.visible {
		if all {
			delete(m.selected, m.rows[idx].ID)
		} else {
			m.selected[m.rows[idx].ID] = struct{}{}
		}
	}
}

func (m *Model) pageSize() int { return max(1, m.bodyHeight()-1) }

func (m *Model) bodyHeight() int { return max(0, m.height-2) } // filter line + column header

func (m *Model) move(d int) {
	m.cursor = max(0, min(len(m.visible)-1, m.cursor+d))
	m.clampStart()
}

func (m *Model) clampStart() {
	h := m.bodyHeight()
	if m.cursor < m.start {
		m.start = m.cursor
	}
	if h > 0 && m.cursor >= m.start+h {
		m.start = m.cursor - h + 1
	}
	m.start = max(0, min(m.start, len(m.visible)-h))
}

// refilter recomputes the shown rows for the current filter, narrowing the
// previous result when the query only grew, and keeps the cursor on keepID.
func (m *Model) refilter(keepID string) {
	q := strings.ToLower(strings.TrimSpace(m.input.Value()))
	if q == m.query && m.visible != nil {
		return
	}
	words := strings.Fields(q)
	narrowing := m.query != "\x00" && m.query != "" && strings.HasPrefix(q, m.query) && m.visible != nil
	var next []int
	switch {
	case len(words) == 0:
		next = m.all
	case narrowing:
		next = m.buffer()
		for _, i := range m.visible {
			if m.match(i, words) {
				next = append(next, i)
			}
		}
	default:
		next = m.scan(words)
	}
	if old := m.visible; cap(old) > 0 && cap(m.all) > 0 && &old[:1][0] != &m.all[:1][0] && (cap(next) == 0 || &old[:1][0] != &next[:1][0]) {
		m.spare = old[:0]
	}
	m.visible = next
	m.query = q
	m.cursor = 0
	if keepID != "" {
		if idx, ok := m.byID[keepID]; ok {
			for i, v := range next {
				if v == idx {
					m.cursor = i
					break
				}
			}
		}
	}
	m.clampStart()
}

// buffer returns an empty slice to fill with shown rows, reusing the one
// that was shown before the last filter change.
func (m *Model) buffer() []int {
	b := m.spare
	m.spare = nil
	if cap(b) < len(m.rows) {
		return make([]int, 0, len(m.rows))
	}
	return b[:0]
}

// match reports whether row i's haystack holds every word.
func (m *Model) match(i int, words []string) bool {
	h := m.hay[m.off[i]:m.off[i+1]]
	for _, w := range words {
		if !bytes.Contains(h, []byte(w)) {
			return false
		}
	}
	return true
}

// scan finds the rows holding every word by searching the contiguous
// haystack for the longest word, then checking the others on those rows.
func (m *Model) scan(words []string) []int {
	long := 0
	for i, w := range words {
		if len(w) > len(words[long]) {
			long = i
		}
	}
	needle := []byte(words[long])
	next := m.buffer()
	row, pos := 0, 0
	for pos < len(m.hay) {
		i := bytes.Index(m.hay[pos:], needle)
		if i < 0 {
			break
		}
		at := int32(pos + i)
		for m.off[row+1] <= at {
			row++
		}
		if len(words) == 1 || m.match(row, words) {
			next = append(next, row)
		}
		pos = int(m.off[row+1])
	}
	return next
}

// layout computes the column widths for a total width.
func (m *Model) layout(w int) []int {
	widths := make([]int, len(m.cols))
	avail := w - m.prefixWidth() - max(0, len(m.cols)-1)
	sumMin, sumFlex := 0, 0
	for _, c := range m.cols {
		sumMin += c.Min
		sumFlex += c.Flex
	}
	if avail <= sumMin || sumMin == 0 {
		for i, c := range m.cols {
			if sumMin > 0 {
				widths[i] = max(1, c.Min*max(0, avail)/sumMin)
			}
		}
		return widths
	}
	extra := avail - sumMin
	given := 0
	for i, c := range m.cols {
		widths[i] = c.Min
		if sumFlex > 0 {
			add := extra * c.Flex / sumFlex
			widths[i] += add
			given += add
		}
	}
	// Hand out the rounding remainder to the last flexible column.
	for i := len(m.cols) - 1; i >= 0 && sumFlex > 0; i-- {
		if m.cols[i].Flex > 0 {
			widths[i] += extra - given
			break
		}
	}
	return widths
}

func (m *Model) prefixWidth() int {
	if m.multi {
		return 6 // "> [x] "
	}
	return 2 // "> "
}

func fit(s string, w int, right bool) string {
	if w <= 0 {
		return ""
	}
	sw := ansi.StringWidth(s)
	if sw > w {
		return ansi.Truncate(s, w, "…")
	}
	pad := strings.Repeat(" ", w-sw)
	if right {
		return pad + s
	}
	return s + pad
}

func (m *Model) renderCells(cells []string, header bool) string {
	var b strings.Builder
	for i, c := range m.cols {
		if i > 0 {
			b.WriteByte(' ')
		}
		v := c.Title
		if !header {
			v = ""
			if i < len(cells) {
				v = cells[i]
			}
		}
		b.WriteString(fit(v, m.widths[i], c.Right))
	}
	return b.String()
}

func (m *Model) rowText(idx int) string {
	if s, ok := m.cache[idx]; ok {
		return s
	}
	s := m.renderCells(m.rows[idx].Cells, false)
	m.cache[idx] = s
	return s
}

// View renders the filter line, the column header and the rows on screen.
func (m *Model) View() string {
	if m.width <= 0 || m.height <= 0 {
		return ""
	}
	st := m.styles
	lines := make([]string, 0, m.height)
	// Filter line.
	switch {
	case m.filtering:
		lines = append(lines, m.input.View())
	case m.input.Value() != "":
		lines = append(lines, fit("/ "+m.input.Value()+"  (/ edit · esc clear)", m.width, false))
	default:
		lines = append(lines, st.Muted.Render(fit("/ to filter", m.width, false)))
	}
	if m.height == 1 {
		return lines[0]
	}
	lines = append(lines, st.Table.Header.Render(strings.Repeat(" ", m.prefixWidth())+m.renderCells(nil, true)))
	h := m.bodyHeight()
	if len(m.visible) == 0 {
		lines = append(lines, st.Muted.Render(fit("  "+m.emptyText, m.width, false)))
	}
	end := min(len(m.visible), m.start+h)
	for vi := m.start; vi < end; vi++ {
		idx := m.visible[vi]
		r := m.rows[idx]
		_, sel := m.selected[r.ID]
		prefix := "  "
		if vi == m.cursor {
			prefix = "> "
		}
		if m.multi {
			if sel {
				prefix += "[x] "
			} else {
				prefix += "[ ] "
			}
		}
		line := prefix + m.rowText(idx)
		switch {
		case vi == m.cursor:
			line = st.Table.Cursor.Render(line)
		case sel:
			line = st.Table.Selected.Render(line)
		default:
			line = toneStyle(st, r.Tone).Render(line)
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n")
}

func toneStyle(st *common.Styles, t Tone) lipgloss.Style {
	switch t {
	case ToneMuted:
		return st.Muted
	case ToneWarn:
		return st.Warn
	case ToneError:
		return st.Error
	case ToneOK:
		return st.OK
	}
	return st.Table.Row
}

// CountsLine renders "selected N · shown M · total T".
func (m *Model) CountsLine() string {
	var b strings.Builder
	if m.multi {
		b.WriteString("selected " + strconv.Itoa(len(m.selected)) + " · ")
	}
	b.WriteString("shown " + strconv.Itoa(len(m.visible)) + " · total " + strconv.Itoa(len(m.rows)))
	return b.String()
}

// ShortHelp lists the table's main keys.
func (m *Model) ShortHelp() []key.Binding {
	if m.filtering {
		return []key.Binding{m.Keys.AcceptFilter, m.Keys.ClearFilter, m.Keys.Up, m.Keys.Down}
	}
	return []key.Binding{m.Keys.Filter, m.Keys.Toggle, m.Keys.ToggleAll, m.Keys.ClearFilter}
}

// FullHelp lists every table key.
func (m *Model) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{m.Keys.Up, m.Keys.Down, m.Keys.PageUp, m.Keys.PageDown, m.Keys.Home, m.Keys.End},
		{m.Keys.Filter, m.Keys.AcceptFilter, m.Keys.ClearFilter, m.Keys.Toggle, m.Keys.ToggleAll},
	}
}
