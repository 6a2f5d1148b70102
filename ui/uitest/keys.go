package uitest

import (
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
)

// Key builds the key press a terminal sends for a key name as Bubble Tea
// spells it: "a", "Q", "enter", "esc", "space", "tab", "shift+tab", "up",
// "down", "left", "right", "backspace", "pgdown", "ctrl+c".
func Key(name string) tea.KeyPressMsg {
	special := map[string]rune{
		"enter": tea.KeyEnter, "esc": tea.KeyEscape, "space": tea.KeySpace, "tab": tea.KeyTab,
		"up": tea.KeyUp, "down": tea.KeyDown, "left": tea.KeyLeft, "right": tea.KeyRight,
		"backspace": tea.KeyBackspace, "pgdown": tea.KeyPgDown, "pgup": tea.KeyPgUp,
		"home": tea.KeyHome, "end": tea.KeyEnd, "delete": tea.KeyDelete,
	}
	if name == "shift+tab" {
		return tea.KeyPressMsg{Code: tea.KeyTab, Mod: tea.ModShift}
	}
	if rest, ok := strings.CutPrefix(name, "ctrl+"); ok && len(rest) == 1 {
		return tea.KeyPressMsg{Code: rune(rest[0]), Mod: tea.ModCtrl}
	}
	if c, ok := special[name]; ok {
		k := tea.KeyPressMsg{Code: c}
		if name == "space" {
			k.Text = " "
		}
		return k
	}
	r := []rune(name)[0]
	k := tea.KeyPressMsg{Code: r, Text: name}
	if r >= 'A' && r <= 'Z' {
		k.Code, k.ShiftedCode, k.Mod = r+('a'-'A'), r, tea.ModShift
	}
	return k
}

// Type returns one key press per character of s.
func Type(s string) []tea.KeyPressMsg {
	out := make([]tea.KeyPressMsg, 0, len(s))
	for _, r := range s {
		if r == ' ' {
			out = append(out, Key("space"))
			continue
		}
		out = append(out, Key(string(r)))
	}
	return out
}

// Collect runs cmd (with a timeout per Cmd) and returns the messages it
// produces, flattening batches and sequences. Ticks and other Cmds that take
// longer than timeout are left out.
func Collect(cmd tea.Cmd, timeout time.Duration) []tea.Msg {
	if cmd == nil {
		return nil
	}
	ch := make(chan tea.Msg, 1)
	go func() { ch <- cmd() }()
	var msg tea.Msg
	select {
	case msg = <-ch:
	case <-time.After(timeout):
		return nil
	}
	switch m := msg.(type) {
	case nil:
		return nil
	case tea.BatchMsg:
		var out []tea.Msg
		for _, c := range m {
			out = append(out, Collect(c, timeout)...)
		}
		return out
	}
	return []tea.Msg{msg}
}

// Pump plays the program loop synchronously: it runs cmd, feeds every message
// it produces to update, runs the Cmds update returns, and so on until
// nothing arrives for idle (ticks and blinks slower than idle are dropped).
// It returns every message delivered, in order.
func Pump(update func(tea.Msg) tea.Cmd, cmd tea.Cmd, idle time.Duration) []tea.Msg {
	results := make(chan tea.Msg)
	done := make(chan struct{})
	defer close(done)
	var start func(c tea.Cmd)
	start = func(c tea.Cmd) {
		if c == nil {
			return
		}
		go func() {
			m := c()
			select {
			case results <- m:
			case <-done:
			}
		}()
	}
	start(cmd)
	var seen []tea.Msg
	for {
		select {
		case m := <-results:
			switch m := m.(type) {
			case nil:
			case tea.BatchMsg:
				for _, c := range m {
					start(c)
				}
			default:
				seen = append(seen, m)
				start(update(m))
			}
		case <-time.After(idle):
			return seen
		}
	}
}

// Send delivers msgs to update one by one, pumping after each.
func Send(update func(tea.Msg) tea.Cmd, idle time.Duration, msgs ...tea.Msg) []tea.Msg {
	var seen []tea.Msg
	for _, m := range msgs {
		seen = append(seen, Pump(update, update(m), idle)...)
	}
	return seen
}

// Idle is how long Press and TypeText wait for a quiet loop.
const Idle = 80 * time.Millisecond

// Press sends named keys (see Key) one by one, pumping after each, and
// returns every message delivered.
func Press(update func(tea.Msg) tea.Cmd, keys ...string) []tea.Msg {
	var out []tea.Msg
	for _, k := range keys {
		out = append(out, Send(update, Idle, Key(k))...)
	}
	return out
}

// TypeText types text one character at a time, pumping after each.
func TypeText(update func(tea.Msg) tea.Cmd, text string) {
	for _, k := range Type(text) {
		Send(update, Idle, k)
	}
}
