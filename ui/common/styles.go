package common

import (
	"charm.land/bubbles/v2/help"
	"charm.land/lipgloss/v2"
)

// Styles is the one set of styles every screen renders with. Screens never
// create literal colours; they use these fields. No information is carried by
// colour alone: every styled state also has a text marker.
type Styles struct {
	IsDark bool

	App       lipgloss.Style
	Header    lipgloss.Style // the top line
	Brand     lipgloss.Style
	Tab       lipgloss.Style
	TabActive lipgloss.Style
	Title     lipgloss.Style // a screen's heading
	Section   lipgloss.Style // a group heading inside a screen
	Text      lipgloss.Style
	Muted     lipgloss.Style
	Key       lipgloss.Style // a key name in running text
	OK        lipgloss.Style
	Warn      lipgloss.Style
	Error     lipgloss.Style
	Info      lipgloss.Style
	Box       lipgloss.Style // a bordered panel (confirm prompts, explain)
	Input     lipgloss.Style
	Status    lipgloss.Style // the status line
	Demo      lipgloss.Style

	Table struct {
		Header   lipgloss.Style
		Row      lipgloss.Style
		Cursor   lipgloss.Style
		Selected lipgloss.Style
	}
	Bar struct {
		Full  lipgloss.Style
		Empty lipgloss.Style
	}
	Help help.Styles
}

// NewStyles builds the styles for a dark or light background.
func NewStyles(isDark bool) *Styles {
	ld := lipgloss.LightDark(isDark)
	accent := ld(lipgloss.Color("#5A3FC0"), lipgloss.Color("#B7A6FF"))
	muted := ld(lipgloss.Color("#6B6B6B"), lipgloss.Color("#9A9A9A"))
	green := ld(lipgloss.Color("#1B7F3A"), lipgloss.Color("#5FD787"))
	yellow := ld(lipgloss.Color("#8A6100"), lipgloss.Color("#FFD75F"))
	red := ld(lipgloss.Color("#B3261E"), lipgloss.Color("#FF6B6B"))
	blue := ld(lipgloss.Color("#1F5FAF"), lipgloss.Color("#7FB2FF"))
	selBg := ld(lipgloss.Color("#E4DDFF"), lipgloss.Color("#3A2F6B"))

	s := &Styles{IsDark: isDark}
	s.App = lipgloss.NewStyle()
	s.Header = lipgloss.NewStyle()
	s.Brand = lipgloss.NewStyle().Bold(true).Foreground(accent)
	s.Tab = lipgloss.NewStyle().Foreground(muted)
	s.TabActive = lipgloss.NewStyle().Bold(true).Underline(true).Foreground(accent)
	s.Title = lipgloss.NewStyle().Bold(true).Foreground(accent)
	s.Section = lipgloss.NewStyle().Bold(true)
	s.Text = lipgloss.NewStyle()
	s.Muted = lipgloss.NewStyle().Foreground(muted)
	s.Key = lipgloss.NewStyle().Bold(true)
	s.OK = lipgloss.NewStyle().Foreground(green)
	s.Warn = lipgloss.NewStyle().Foreground(yellow).Bold(true)
	s.Error = lipgloss.NewStyle().Foreground(red).Bold(true)
	s.Info = lipgloss.NewStyle().Foreground(blue)
	s.Box = lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(accent).Padding(0, 1)
	s.Input = lipgloss.NewStyle()
	s.Status = lipgloss.NewStyle().Foreground(muted)
	s.Demo = lipgloss.NewStyle().Bold(true).Foreground(yellow)
	s.Table.Header = lipgloss.NewStyle().Bold(true).Underline(true)
	s.Table.Row = lipgloss.NewStyle()
	s.Table.Cursor = lipgloss.NewStyle().Reverse(true)
	s.Table.Selected = lipgloss.NewStyle().Background(selBg)
	s.Bar.Full = lipgloss.NewStyle().Foreground(accent)
	s.Bar.Empty = lipgloss.NewStyle().Foreground(muted)
	s.Help = help.DefaultStyles(isDark)
	return s
}
