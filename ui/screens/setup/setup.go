// Package setup is the setup wizard: the seven steps of 3CX's Microsoft 365
// guide in order (app registration, key pair, permissions, user sync, SSO,
// contacts, calendar) plus the PBX connection, each saying what is wrong and
// how to fix it, with IDs validated as typed and live checks of the Graph
// permissions and the PBX login.
package setup

import (
	"context"
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/pbx365/pbx365/ui/common"
)

// KeyMap is the setup screen's keys.
type KeyMap struct {
	Up, Down  key.Binding
	Edit      key.Binding
	Generate  key.Binding
	Check     key.Binding
	Open      key.Binding
	Reload    key.Binding
	Save      key.Binding
	NextField key.Binding
	PrevField key.Binding
	StopEdit  key.Binding
}

func defaultKeys() KeyMap {
	return KeyMap{
		Up:        common.Bind("↑/k", "step up", "up", "k"),
		Down:      common.Bind("↓/j", "step down", "down", "j"),
		Edit:      common.Bind("e", "edit fields", "e"),
		Generate:  common.Bind("g", "generate key pair", "g"),
		Check:     common.Bind("c", "check live", "c"),
		Open:      common.Bind("enter", "open", "enter"),
		Reload:    common.Bind("r", "reload", "r"),
		Save:      common.Bind("enter", "save field", "enter"),
		NextField: common.Bind("tab/↓", "next field", "tab", "down"),
		PrevField: common.Bind("shift+tab/↑", "prev field", "shift+tab", "up"),
		StopEdit:  common.Bind("esc", "stop editing", "esc"),
	}
}

// Step identifies a step of the wizard.
type Step int

// The steps, in order.
const (
	StepRegister Step = iota
	StepKey
	StepPermissions
	StepPBX
	StepUsers
	StepSSO
	StepContacts
	StepCalendar
	numSteps
)

var stepTitles = [numSteps]string{"1 Register app", "2 Key pair", "3 Permissions", "· PBX connection", "4 User sync", "5 SSO", "6 Contacts", "7 Calendar"}

type field struct {
	key    string
	label  string
	input  textinput.Model
	validI uint64
	valid  error
	check  bool // valid holds the result for the current text
	saveI  uint64
	saved  bool
	err    error // save error
}

type statusMsg struct {
	id  uint64
	s   common.Setup
	err error
}

type checkedMsg struct {
	id    uint64
	which Step
	lines []common.CheckLine
	err   error
}

type keyMsg struct {
	id  uint64
	k   common.KeyInfo
	err error
}

type validMsg struct {
	id  uint64
	err error
}

type savedMsg struct {
	id  uint64
	err error
}

// Screen is the setup wizard.
type Screen struct {
	c    *common.Context
	keys KeyMap

	step    Step
	setup   common.Setup
	loaded  bool
	loadID  uint64
	loadErr error

	fields      map[Step][]*field
	editing     bool
	focus       int
	autoChecked bool

	checkID  map[Step]uint64
	checking map[Step]bool
	checks   map[Step][]common.CheckLine
	checkErr map[Step]error

	keyID  uint64
	keyGen bool
	keyErr error

	now           func() time.Time
	width, height int
}

// New makes the setup screen.
func New(c *common.Context) common.Screen {
	s := &Screen{c: c, keys: defaultKeys(), now: time.Now,
		checkID: map[Step]uint64{}, checking: map[Step]bool{}, checks: map[Step][]common.CheckLine{}, checkErr: map[Step]error{}}
	mk := func(k, label string, secret bool) *field {
		in := textinput.New()
		in.Prompt = ""
		if secret {
			in.EchoMode = textinput.EchoPassword
		}
		return &field{key: k, label: label, input: in}
	}
	s.fields = map[Step][]*field{
		StepRegister: {mk("ms.tenant", "Tenant ID", false), mk("ms.client_id", "Application ID", false)},
		StepPBX:      {mk("pbx.url", "PBX URL", false), mk("pbx.client_id", "API client ID", false), mk("pbx.secret", "API key", true)},
	}
	return s
}

// Init loads the setup status.
func (s *Screen) Init() tea.Cmd { return s.load() }

// Activated reloads when shown.
func (s *Screen) Activated() tea.Cmd {
	if s.editing {
		return nil
	}
	return s.load()
}

// Setup is the last status read.
func (s *Screen) Setup() (common.Setup, bool) { return s.setup, s.loaded }

// SetStep selects a step.
func (s *Screen) SetStep(st Step) { s.step = st }

func (s *Screen) load() tea.Cmd {
	s.loadID = s.c.NextID()
	id, b := s.loadID, s.c.Backend
	return s.c.Do(func(ctx context.Context) tea.Msg {
		st, err := b.SetupStatus(ctx)
		return statusMsg{id: id, s: st, err: err}
	})
}

func (s *Screen) runCheck(which Step) tea.Cmd {
	id := s.c.NextID()
	s.checkID[which] = id
	s.checking[which] = true
	b := s.c.Backend
	return s.c.Do(func(ctx context.Context) tea.Msg {
		var lines []common.CheckLine
		var err error
		if which == StepPBX {
			lines, err = b.CheckPBX(ctx)
		} else {
			lines, err = b.CheckMicrosoft(ctx)
		}
		return checkedMsg{id: id, which: which, lines: lines, err: err}
	})
}

// CapturesInput is true while a field is edited.
func (s *Screen) CapturesInput() bool { return s.editing }

// SetSize sets the size.
func (s *Screen) SetSize(w, h int) {
	s.width, s.height = w, h
	for _, fs := range s.fields {
		for _, f := range fs {
			f.input.SetWidth(max(10, s.rightWidth()-18))
		}
	}
}

func (s *Screen) leftWidth() int {
	if s.width < 100 {
		return 23
	}
	return 26
}

func (s *Screen) rightWidth() int { return max(20, s.width-s.leftWidth()-3) }

func (s *Screen) fillFields() {
	vals := map[string]string{"ms.tenant": s.setup.Tenant, "ms.client_id": s.setup.ClientID, "pbx.url": s.setup.PBXURL, "pbx.client_id": s.setup.PBXClientID}
	for _, fs := range s.fields {
		for _, f := range fs {
			if v, ok := vals[f.key]; ok {
				f.input.SetValue(v)
			}
		}
	}
}

// Update handles a message.
func (s *Screen) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case statusMsg:
		if msg.id != s.loadID {
			return nil
		}
		s.loadErr = msg.err
		if msg.err != nil {
			return nil
		}
		s.setup, s.loaded = msg.s, true
		if !s.editing {
			s.fillFields()
		}
		if !s.autoChecked {
			// First look: check live what can be checked.
			s.autoChecked = true
			var cmds []tea.Cmd
			if s.setup.Tenant != "" && s.setup.ClientID != "" && s.setup.Key.Exists {
				cmds = append(cmds, s.runCheck(StepPermissions))
			}
			if s.setup.PBXURL != "" && s.setup.PBXClientID != "" && s.setup.PBXSecret {
				cmds = append(cmds, s.runCheck(StepPBX))
			}
			return tea.Batch(cmds...)
		}
		return nil
	case checkedMsg:
		if msg.id != s.checkID[msg.which] {
			return nil
		}
		s.checking[msg.which] = false
		s.checks[msg.which], s.checkErr[msg.which] = msg.lines, msg.err
		return nil
	case keyGenMsg:
		return s.generate()
	case keyMsg:
		if msg.id != s.keyID {
			return nil
		}
		s.keyGen, s.keyErr = false, msg.err
		if msg.err == nil {
			s.setup.Key = msg.k
		}
		return s.load()
	case validMsg:
		for _, fs := range s.fields {
			for _, f := range fs {
				if f.validI == msg.id {
					f.valid, f.check = msg.err, true
				}
			}
		}
		return nil
	case savedMsg:
		for step, fs := range s.fields {
			for i, f := range fs {
				if f.saveI != msg.id {
					continue
				}
				f.err, f.saved = msg.err, msg.err == nil
				if msg.err != nil {
					return nil
				}
				k := f.key
				cmds := []tea.Cmd{s.load(), func() tea.Msg { return common.SettingsChangedMsg{Key: k} }}
				// The last PBX field saved: log in right away.
				if step == StepPBX && i == len(fs)-1 {
					cmds = append(cmds, s.runCheck(StepPBX))
				}
				return tea.Batch(cmds...)
			}
		}
		return nil
	case common.SettingsChangedMsg:
		if !s.editing {
			return s.load()
		}
		return nil
	case tea.KeyPressMsg:
		if s.editing {
			return s.editKey(msg)
		}
		return s.listKey(msg)
	}
	if s.editing {
		f := s.fields[s.step][s.focus]
		var cmd tea.Cmd
		f.input, cmd = f.input.Update(msg)
		return cmd
	}
	return nil
}

func (s *Screen) listKey(k tea.KeyPressMsg) tea.Cmd {
	switch {
	case key.Matches(k, s.keys.Up):
		s.step = max(0, s.step-1)
	case key.Matches(k, s.keys.Down):
		s.step = min(numSteps-1, s.step+1)
	case key.Matches(k, s.keys.Reload):
		return s.load()
	case key.Matches(k, s.keys.Edit, s.keys.Open) && len(s.fields[s.step]) > 0:
		s.editing = true
		s.focus = 0
		return s.focusField()
	case key.Matches(k, s.keys.Generate) && s.step == StepKey:
		gen := func() tea.Msg {
			return keyGenMsg{}
		}
		if s.setup.Key.Exists {
			return common.Confirm(common.ConfirmMsg{
				Title:  "Rotate the key pair?",
				Body:   "A new key pair is made. The old one keeps working until you remove its certificate in Entra; upload the new public_key.pem first.",
				YesKey: "generate a new pair",
				Yes:    gen,
			})
		}
		return gen
	case key.Matches(k, s.keys.Check) && (s.step == StepPermissions || s.step == StepPBX):
		return s.runCheck(s.step)
	case key.Matches(k, s.keys.Open):
		switch s.step {
		case StepUsers:
			return common.Navigate(common.ScreenUsers)
		case StepSSO, StepContacts, StepCalendar:
			return common.Navigate(common.ScreenSettings)
		}
	}
	return nil
}

// keyGenMsg asks the screen to generate a key pair (after confirmation).
type keyGenMsg struct{}

func (s *Screen) generate() tea.Cmd {
	s.keyID = s.c.NextID()
	s.keyGen, s.keyErr = true, nil
	id, b := s.keyID, s.c.Backend
	return s.c.Do(func(ctx context.Context) tea.Msg {
		k, err := b.GenerateKeyPair(ctx)
		return keyMsg{id: id, k: k, err: err}
	})
}

func (s *Screen) focusField() tea.Cmd {
	var cmd tea.Cmd
	for i, f := range s.fields[s.step] {
		if i == s.focus {
			f.input.CursorEnd()
			cmd = f.input.Focus()
		} else {
			f.input.Blur()
		}
	}
	return cmd
}

func (s *Screen) stopEditing() {
	s.editing = false
	for _, f := range s.fields[s.step] {
		f.input.Blur()
	}
	s.fillFields()
}

func (s *Screen) editKey(k tea.KeyPressMsg) tea.Cmd {
	fs := s.fields[s.step]
	f := fs[s.focus]
	switch {
	case key.Matches(k, s.keys.StopEdit):
		s.stopEditing()
		return nil
	case key.Matches(k, s.keys.NextField):
		s.focus = (s.focus + 1) % len(fs)
		return s.focusField()
	case key.Matches(k, s.keys.PrevField):
		s.focus = (s.focus + len(fs) - 1) % len(fs)
		return s.focusField()
	case key.Matches(k, s.keys.Save):
		val := strings.TrimSpace(f.input.Value())
		if val == "" {
			f.err = fmt.Errorf("%s is empty: type it first", f.key)
			return nil
		}
		f.saveI = s.c.NextID()
		f.err, f.saved = nil, false
		id, b, key := f.saveI, s.c.Backend, f.key
		save := s.c.Do(func(ctx context.Context) tea.Msg {
			return savedMsg{id: id, err: b.SetSetting(ctx, key, val)}
		})
		if s.focus < len(fs)-1 {
			s.focus++
			return tea.Batch(save, s.focusField())
		}
		s.editing = false
		f.input.Blur()
		return save
	}
	before := f.input.Value()
	var cmd tea.Cmd
	f.input, cmd = f.input.Update(k)
	val := f.input.Value()
	if val == before {
		return cmd
	}
	f.check, f.saved, f.err = false, false, nil
	if val == "" {
		return cmd
	}
	f.validI = s.c.NextID()
	id, b, key := f.validI, s.c.Backend, f.key
	return tea.Batch(cmd, s.c.Do(func(ctx context.Context) tea.Msg {
		return validMsg{id: id, err: b.ValidateSetting(ctx, key, val)}
	}))
}

// stepState is a step's mark: done, problem, pending or optional.
type stepState int

const (
	stPending stepState = iota
	stDone
	stProblem
	stOptional
)

func (s *Screen) state(st Step) stepState {
	set := s.setup
	switch st {
	case StepRegister:
		if set.Tenant != "" && set.ClientID != "" {
			return stDone
		}
	case StepKey:
		if !set.Key.Exists {
			return stPending
		}
		if set.Key.NotAfter.Sub(s.now()) < 30*24*time.Hour {
			return stProblem
		}
		return stDone
	case StepPermissions, StepPBX:
		if s.checkErr[st] != nil {
			return stProblem
		}
		lines := s.checks[st]
		if len(lines) == 0 {
			return stPending
		}
		for _, l := range lines {
			if l.Status != common.CheckOK {
				return stProblem
			}
		}
		return stDone
	default:
		return stOptional
	}
	return stPending
}

func (s *Screen) mark(st stepState) string {
	sty := s.c.Styles
	switch st {
	case stDone:
		return sty.OK.Render("[x]")
	case stProblem:
		return sty.Error.Render("[!]")
	case stOptional:
		return sty.Muted.Render("[-]")
	}
	return "[ ]"
}

// View renders the screen.
func (s *Screen) View() string {
	st := s.c.Styles
	if !s.loaded {
		if s.loadErr != nil {
			return st.Title.Render("Setup") + "\n\n" + st.Error.Render("error: "+s.loadErr.Error()) + "\n" + st.Muted.Render("press r to retry")
		}
		return st.Title.Render("Setup") + "\n\n" + st.Muted.Render("reading the setup…")
	}
	lw, rw := s.leftWidth(), s.rightWidth()
	left := []string{st.Title.Render("Setup"), ""}
	for i := range numSteps {
		prefix := "  "
		if i == s.step {
			prefix = "> "
		}
		line := prefix + s.mark(s.state(i)) + " " + stepTitles[i]
		if i == s.step {
			line = st.Table.Cursor.Render(common.Fit(prefix, lw)) + common.Fit(s.mark(s.state(i))+" "+stepTitles[i], lw-2)
		}
		left = append(left, line)
	}
	left = append(left, "", st.Muted.Render("[x] done  [!] fix"), st.Muted.Render("[ ] to do [-] optional"))
	right := s.detail(rw)
	var b strings.Builder
	for i := range s.height {
		l, r := "", ""
		if i < len(left) {
			l = left[i]
		}
		if i < len(right) {
			r = right[i]
		}
		l = common.Fit(l, lw)
		b.WriteString(l + strings.Repeat(" ", max(0, lw-lipgloss.Width(l))) + " │ " + common.Fit(r, rw))
		if i < s.height-1 {
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func (s *Screen) para(w int, text string) []string { return common.Wrap(text, w) }

func (s *Screen) detail(w int) []string {
	st := s.c.Styles
	set := s.setup
	var out []string
	// Lines too wide for the pane wrap (losing their colour, never their
	// text markers).
	add := func(lines ...string) {
		for _, l := range lines {
			if lipgloss.Width(l) <= w {
				out = append(out, l)
				continue
			}
			out = append(out, common.Wrap(ansi.Strip(l), w)...)
		}
	}
	title := func(t string) { add(st.Title.Render(t), "") }
	switch s.step {
	case StepRegister:
		title("Step 1 · Register an app in Entra")
		add(s.para(w, "Entra admin center → App registrations → New registration. Name it pbx365; supported account types: this organizational directory only (single tenant).")...)
		if set.RedirectURI != "" {
			add("Redirect URI (Web) for the PBX's Microsoft sign-in:", "  "+st.Key.Render(set.RedirectURI))
		} else {
			add(st.Warn.Render("Redirect URI: https://<pbx-fqdn>/oauth2office2"))
			add(s.para(w, "(set the PBX URL in the PBX connection step to see the exact one)")...)
		}
		add(s.para(w, "Then copy the Directory (tenant) ID and the Application (client) ID from the app's Overview page:")...)
		add("")
		add(s.fieldLines(StepRegister, w)...)
	case StepKey:
		title("Step 2 · Key pair (certificate credential)")
		k := set.Key
		switch {
		case s.keyGen:
			add(st.Muted.Render("generating…"))
		case s.keyErr != nil:
			add(st.Error.Render("[error] "+s.keyErr.Error()), "Check that the data directory is writable, then press g again.")
		case !k.Exists:
			add(st.Warn.Render("[ ] no key pair yet"), "Press g to generate one. The private key stays on this box (mode 0600).")
		default:
			add("private key  "+k.KeyFile, "certificate  "+k.CertFile, "thumbprint   "+k.Thumbprint)
			left := k.NotAfter.Sub(s.now())
			exp := "expires      " + k.NotAfter.Format("2006-01-02") + fmt.Sprintf(" (in %d days)", int(left.Hours()/24))
			switch {
			case left <= 0:
				add(st.Error.Render("[!] EXPIRED " + k.NotAfter.Format("2006-01-02") + ": press g to rotate and upload the new certificate"))
			case left < 30*24*time.Hour:
				add(st.Warn.Render("[!] " + exp + ": rotate soon (g), upload the new one, then remove the old"))
			default:
				add(exp)
			}
		}
		add("")
		add(s.para(w, "Upload the certificate (public_key.pem) in Entra: App registrations → pbx365 → Certificates & secrets → Certificates → Upload certificate. Entra then shows the same thumbprint.")...)
	case StepPermissions:
		title("Step 3 · Application permissions")
		add(s.para(w, "App registrations → pbx365 → API permissions → Add a permission → Microsoft Graph → Application permissions:")...)
		got := map[string]common.CheckLine{}
		for _, l := range s.checks[StepPermissions] {
			got[l.Name] = l
		}
		if l, ok := got["token"]; ok {
			add(st.Mark(l.Status) + " token  " + l.Detail)
		}
		for _, p := range set.Permissions {
			l, ok := got[p]
			mark := st.Muted.Render("[ ]")
			detail := "not checked"
			if ok {
				mark, detail = st.Mark(l.Status), l.Detail
			}
			add(fmt.Sprintf("%s %-19s %s", mark, p, detail))
		}
		if set.ConsentURL != "" {
			add("", "Then Grant admin consent, or open as an administrator:")
			add(s.para(w, set.ConsentURL)...)
		} else {
			add("", st.Warn.Render("The admin-consent URL appears when tenant and app ID are set (step 1)."))
		}
		add(s.checkFoot(StepPermissions, "A missing permission gives a token without that role: grant admin consent, wait a minute, press c.")...)
	case StepPBX:
		title("PBX connection (3CX XAPI)")
		add(s.para(w, "3CX admin console → Integrations → API → Add: choose a client ID, tick XAPI access, save and copy the API key (shown once).")...)
		add("")
		add(s.fieldLines(StepPBX, w)...)
		for _, l := range s.checks[StepPBX] {
			add(st.Mark(l.Status) + " " + l.Name + "  " + l.Detail)
		}
		add(s.checkFoot(StepPBX, "A failed login: check the URL (without /xapi/v1), the client ID and the API key.")...)
	case StepUsers:
		title("Step 4 · User sync")
		add(s.para(w, "Choose who is synced (all eligible users, members of groups, chosen users, or all except chosen) on the Users screen, preview the plan and apply it. Every excluded user shows the rule that excluded them.")...)
		add("", "enter opens the Users screen.")
	case StepSSO:
		title("Step 5 · Microsoft sign-in (SSO)")
		add(s.para(w, "Turns Microsoft sign-in on for all synced users or a chosen set (sso.enabled, sso.users, sso.selected in Settings → SSO).")...)
		add("", "enter opens Settings.")
	case StepContacts:
		title("Step 6 · Contacts")
		add(s.para(w, "Personal Outlook contacts → each user's personal phonebook; shared mailboxes → the company phonebook (contacts.* in Settings → Contacts).")...)
		add("", "enter opens Settings.")
	case StepCalendar:
		title("Step 7 · Calendar → status")
		add(s.para(w, "Busy or working elsewhere → Do Not Disturb; out of office → Away; the previous status comes back after the meeting (calendar.* in Settings → Calendar).")...)
		add("", "enter opens Settings.")
	}
	return out
}

func (s *Screen) checkFoot(step Step, hint string) []string {
	st := s.c.Styles
	var out []string
	switch {
	case s.checking[step]:
		out = append(out, st.Muted.Render("checking…"))
	case s.checkErr[step] != nil:
		out = append(out, st.Error.Render("[error] "+s.checkErr[step].Error()))
	case s.state(step) == stProblem:
		out = append(out, st.Warn.Render(hint))
	}
	return append(out, st.Muted.Render("c checks live"))
}

func (s *Screen) fieldLines(step Step, w int) []string {
	st := s.c.Styles
	var out []string
	for i, f := range s.fields[step] {
		label := fmt.Sprintf("%-15s", f.label)
		var val string
		switch {
		case s.editing && s.step == step:
			val = f.input.View()
			if i == s.focus {
				label = st.Key.Render("> " + fmt.Sprintf("%-13s", f.label))
			}
		case f.key == "pbx.secret":
			val = "not set"
			if s.setup.PBXSecret {
				val = "set (hidden)"
			}
		default:
			val = f.input.Value()
			if val == "" {
				val = st.Warn.Render("not set")
			}
		}
		out = append(out, label+" "+val)
		wrapped := func(text string) {
			for _, l := range common.Wrap(text, w-2) {
				out = append(out, st.Error.Render("  "+l))
			}
		}
		switch {
		case f.err != nil:
			wrapped("[error] " + f.err.Error())
		case f.saved:
			out = append(out, st.OK.Render("  [ok] saved"))
		case f.check && f.valid != nil:
			wrapped("[invalid] " + f.valid.Error())
		case f.check:
			out = append(out, st.OK.Render("  [valid]"))
		}
	}
	if s.editing && s.step == step {
		out = append(out, st.Muted.Render("enter saves · tab next field · esc stop"))
	} else {
		out = append(out, st.Muted.Render("e edits these fields"))
	}
	return out
}

// ShortHelp is the footer's help.
func (s *Screen) ShortHelp() []key.Binding {
	if s.editing {
		return []key.Binding{s.keys.Save, s.keys.NextField, s.keys.StopEdit}
	}
	b := []key.Binding{s.keys.Up, s.keys.Down}
	switch s.step {
	case StepRegister, StepPBX:
		b = append(b, s.keys.Edit)
	case StepKey:
		b = append(b, s.keys.Generate)
	case StepUsers, StepSSO, StepContacts, StepCalendar:
		b = append(b, s.keys.Open)
	}
	if s.step == StepPermissions || s.step == StepPBX {
		b = append(b, s.keys.Check)
	}
	return b
}

// FullHelp is the `?` help.
func (s *Screen) FullHelp() [][]key.Binding {
	return [][]key.Binding{{s.keys.Up, s.keys.Down, s.keys.Open, s.keys.Reload}, {s.keys.Edit, s.keys.Generate, s.keys.Check}, {s.keys.Save, s.keys.NextField, s.keys.PrevField, s.keys.StopEdit}}
}
