package common

import (
	"strings"

	"github.com/charmbracelet/x/ansi"
)

// Fit truncates s (which may hold ANSI styles) to width cells with an ellipsis.
func Fit(s string, width int) string {
	if width <= 0 {
		return ""
	}
	if ansi.StringWidth(s) <= width {
		return s
	}
	return ansi.Truncate(s, width, "…")
}

// Wrap breaks plain text into lines of at most width cells at spaces.
func Wrap(s string, width int) []string {
	if width <= 0 {
		return nil
	}
	var out []string
	for _, para := range strings.Split(s, "\n") {
		line := ""
		for _, w := range strings.Fields(para) {
			switch {
			case line == "":
				line = w
			case ansi.StringWidth(line)+1+ansi.StringWidth(w) <= width:
				line += " " + w
			default:
				out = append(out, line)
				line = w
			}
			for ansi.StringWidth(line) > width {
				out = append(out, ansi.Truncate(line, width, ""))
				line = ansi.Cut(line, width, ansi.StringWidth(line))
			}
		}
		out = append(out, line)
	}
	return out
}

// Clip makes s exactly height lines, each at most width cells.
func Clip(s string, width, height int) string {
	if height <= 0 {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > height {
		lines = lines[:height]
	}
	for i, l := range lines {
		lines[i] = Fit(l, width)
	}
	for len(lines) < height {
		lines = append(lines, "")
	}
	return strings.Join(lines, "\n")
}

// Mark is the text marker of a check outcome, so colour is never needed to
// read it.
func (s *Styles) Mark(st CheckStatus) string {
	switch st {
	case CheckOK:
		return s.OK.Render("[ok]")
	case CheckMissing:
		return s.Warn.Render("[missing]")
	case CheckError:
		return s.Error.Render("[error]")
	}
	return s.Muted.Render("[ ]")
}
