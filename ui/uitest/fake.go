// Package uitest holds an in-memory Backend for the TUI's tests and for trying
// the TUI by hand: a deterministic directory of N users and groups, a small
// settings registry with real validation, plans computed from the selection,
// and runs that stream progress events and are kept in an audit log. It is a
// test double, never wired into the product.
package uitest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/pbx365/pbx365/sync/contacts"
	"github.com/pbx365/pbx365/sync/plan"
	"github.com/pbx365/pbx365/sync/progress"
	"github.com/pbx365/pbx365/ui/common"
)

// Fake is an in-memory common.Backend.
type Fake struct {
	// Delay is the time each applied change takes (0 in tests).
	Delay time.Duration
	// FailUPN makes the change for this UPN fail.
	FailUPN string
	// MissingPermissions are reported as missing by CheckMicrosoft.
	MissingPermissions []string
	// Hooks, when set, are called at the start of the named method (tests use
	// them to block or count calls).
	Hooks map[string]func()

	mu       sync.Mutex
	users    []common.DirectoryUser
	groups   []common.Group
	links    map[string]string // object id → number
	settings map[string]string
	key      common.KeyInfo
	runs     []common.Run
	items    map[uint64][]common.RunItem
	calls    map[string]int
	planned  map[string]common.Selection // plan hash → selection, until applied
	planSeq  int
}

var firstNames = []string{"Ada", "Björn", "Chloé", "Dmitri", "Emma", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kofi", "Lena", "Mateo", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tara"}
var lastNames = []string{"Lovelace", "Berg", "Martin", "Ivanov", "Schmidt", "Haddad", "Hopper", "Tanaka", "García", "Weber", "Mensah", "Novak", "Rossi", "Kowalski", "Aziz", "Patel", "Byrne", "Silva", "Larsen", "Okafor"}
var departments = []string{"Sales", "Support", "Engineering", "Finance", "Marketing", "Operations"}

// NewFake makes a directory of n users. Every 23rd user is a guest, every
// 31st is disabled, every 47th has no userType; user i is in the group of its
// department and every 4th also in "All Staff".
func NewFake(n int) *Fake {
	f := &Fake{
		links:    map[string]string{},
		settings: map[string]string{},
		items:    map[uint64][]common.RunItem{},
		calls:    map[string]int{},
		planned:  map[string]common.Selection{},
	}
	for i, d := range departments {
		f.groups = append(f.groups, common.Group{ID: fmt.Sprintf("g-%02d", i), Name: d})
	}
	f.groups = append(f.groups, common.Group{ID: "g-all", Name: "All Staff"})
	for i := range n {
		fn := firstNames[i%len(firstNames)]
		ln := lastNames[(i/len(firstNames))%len(lastNames)]
		if i >= len(firstNames)*len(lastNames) {
			ln += strconv.Itoa(i / (len(firstNames) * len(lastNames)))
		}
		upn := strings.ToLower(asciiFold(fn)+"."+asciiFold(ln)) + "@contoso.example"
		u := common.DirectoryUser{
			ObjectID:    fmt.Sprintf("00000000-0000-4000-8000-%012d", i),
			DisplayName: fn + " " + ln,
			UPN:         upn,
			Mail:        upn,
			Department:  departments[i%len(departments)],
			UserType:    "Member",
			Enabled:     true,
		}
		switch {
		case i%23 == 22:
			u.UserType = "Guest"
			u.UPN = strings.ReplaceAll(upn, "@", "_fabrikam.example#EXT#@")
		case i%47 == 46:
			u.UserType = ""
		}
		if i%31 == 30 {
			u.Enabled = false
		}
		u.Groups = []string{fmt.Sprintf("g-%02d", i%len(departments))}
		f.groups[i%len(departments)].Members++
		if i%4 == 0 {
			u.Groups = append(u.Groups, "g-all")
			f.groups[len(f.groups)-1].Members++
		}
		f.users = append(f.users, u)
	}
	f.settings["users.ext_start"] = "1000"
	return f
}

func asciiFold(s string) string {
	r := strings.NewReplacer("ö", "o", "é", "e", "í", "i", "ç", "c", "á", "a")
	return r.Replace(s)
}

// Calls reports how often a method was called.
func (f *Fake) Calls(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

func (f *Fake) enter(method string) {
	f.mu.Lock()
	f.calls[method]++
	h := f.Hooks[method]
	f.mu.Unlock()
	if h != nil {
		h()
	}
}

// Configure stores the settings a finished setup has (tenant, app, key, PBX).
func (f *Fake) Configure() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.settings["ms.tenant"] = "11111111-2222-3333-4444-555555555555"
	f.settings["ms.client_id"] = "66666666-7777-8888-9999-000000000000"
	f.settings["pbx.url"] = "https://pbx.contoso.example"
	f.settings["pbx.client_id"] = "pbx365"
	f.settings["pbx.secret"] = "not-a-real-secret"
	f.key = common.KeyInfo{Exists: true, KeyFile: "/var/lib/pbx365/keys/pbx365.pem", CertFile: "/var/lib/pbx365/keys/public_key.pem",
		Thumbprint: "3F2A9C0D41B7E8F6A1C3D5E7F90B2D4C6E8A0B1C", NotAfter: time.Date(2028, 11, 25, 0, 0, 0, 0, time.UTC)}
}

// PBXNumbers lists the numbers the fake PBX has, sorted.
func (f *Fake) PBXNumbers() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.links))
	for _, n := range f.links {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// --- settings ---

type def struct {
	key, group, help string
	kind             common.SettingKind
	allowed          []string
	dflt             string
}

var registry = []def{
	{"ms.tenant", "Microsoft", "Tenant ID (a GUID) or primary domain", common.KindString, nil, ""},
	{"ms.client_id", "Microsoft", "Application (client) ID of the app registration (a GUID)", common.KindString, nil, ""},
	{"ms.cloud", "Microsoft", "National cloud", common.KindEnum, []string{"global", "usgov", "china"}, "global"},
	{"pbx.url", "PBX", "3CX base URL without /xapi/v1", common.KindURL, nil, ""},
	{"pbx.client_id", "PBX", "API client ID", common.KindString, nil, ""},
	{"pbx.secret", "PBX", "API key (write-only)", common.KindSecret, nil, ""},
	{"users.scope", "Users", "Who is synced", common.KindEnum, []string{"all", "groups", "selected", "all-except"}, "all"},
	{"users.groups", "Users", "Group object ids (scope groups)", common.KindList, nil, ""},
	{"users.selected", "Users", "User object ids or UPNs (scope selected / all-except)", common.KindList, nil, ""},
	{"users.include_guests", "Users", "Sync guests too", common.KindBool, []string{"true", "false"}, "false"},
	{"users.ext_start", "Users", "First extension number", common.KindNumber, nil, "first free"},
	{"users.ext_end", "Users", "Last extension number", common.KindNumber, nil, "open"},
	{"users.removal", "Users", "What happens to leavers", common.KindEnum, []string{"keep", "disable", "delete"}, "disable"},
	{"users.max_removals", "Users", "A run removing more stops (count or N%)", common.KindString, nil, "10%"},
	{"sso.enabled", "SSO", "Microsoft sign-in for synced users", common.KindBool, []string{"true", "false"}, "false"},
	{"contacts.personal", "Contacts", "Personal Outlook contacts → personal phonebooks", common.KindBool, []string{"true", "false"}, "false"},
	{"calendar.enabled", "Calendar", "Calendar-driven status", common.KindBool, []string{"true", "false"}, "false"},
	{"schedule.delta_interval", "Schedule", "How often serve syncs", common.KindDuration, nil, "5m"},
	{"mail.to", "Mail", "Report recipients", common.KindList, nil, ""},
}

func findDef(key string) (def, bool) {
	for _, d := range registry {
		if d.key == key {
			return d, true
		}
	}
	return def{}, false
}

func validate(key, value string) error {
	d, ok := findDef(key)
	if !ok {
		return fmt.Errorf("unknown setting %s", key)
	}
	switch d.kind {
	case common.KindEnum, common.KindBool:
		if !slices.Contains(d.allowed, value) {
			return fmt.Errorf("%s: %q is not allowed; use one of %s", key, value, strings.Join(d.allowed, ", "))
		}
	case common.KindNumber:
		if _, err := strconv.Atoi(value); err != nil || value == "" {
			return fmt.Errorf("%s: %q is not an extension number; use digits, e.g. 1000", key, value)
		}
	case common.KindDuration:
		dur, err := time.ParseDuration(value)
		if err != nil {
			return fmt.Errorf("%s: %q is not a duration; use e.g. 30s, 5m, 1h", key, value)
		}
		if dur < time.Second {
			return fmt.Errorf("%s: the minimum is 1s", key)
		}
	case common.KindURL:
		u, err := url.Parse(value)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("%s: %q is not an https URL; use e.g. https://pbx.example.com", key, value)
		}
	}
	if (key == "ms.tenant" || key == "ms.client_id") && !isGUID(value) && !(key == "ms.tenant" && strings.Contains(value, ".")) {
		return fmt.Errorf("%s: %q is not a GUID like 11111111-2222-3333-4444-555555555555", key, value)
	}
	return nil
}

func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if r != '-' {
				return false
			}
			continue
		}
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return false
		}
	}
	return true
}

// Settings implements common.Backend.
func (f *Fake) Settings(ctx context.Context) ([]common.SettingValue, error) {
	f.enter("Settings")
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]common.SettingValue, 0, len(registry))
	for _, d := range registry {
		v, set := f.settings[d.key]
		if d.kind == common.KindSecret {
			v = ""
		}
		out = append(out, common.SettingValue{Key: d.key, Group: d.group, Help: d.help, Kind: d.kind, Allowed: d.allowed, Default: d.dflt, Value: v, IsSet: set})
	}
	return out, nil
}

// ValidateSetting implements common.Backend.
func (f *Fake) ValidateSetting(ctx context.Context, key, value string) error {
	f.enter("ValidateSetting")
	return validate(key, value)
}

// SetSetting implements common.Backend.
func (f *Fake) SetSetting(ctx context.Context, key, value string) error {
	f.enter("SetSetting")
	if err := validate(key, value); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.settings[key] = value
	return nil
}

// UnsetSetting implements common.Backend.
func (f *Fake) UnsetSetting(ctx context.Context, key string) error {
	f.enter("UnsetSetting")
	if _, ok := findDef(key); !ok {
		return fmt.Errorf("unknown setting %s", key)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.settings, key)
	return nil
}

// Setting returns a stored value.
func (f *Fake) Setting(key string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.settings[key]
}

// --- setup ---

var permissions = []string{"Calendars.Read", "Contacts.Read", "Directory.Read.All", "Mail.Send", "User.Read.All"}

// SetupStatus implements common.Backend.
func (f *Fake) SetupStatus(ctx context.Context) (common.Setup, error) {
	f.enter("SetupStatus")
	f.mu.Lock()
	defer f.mu.Unlock()
	s := common.Setup{
		Tenant: f.settings["ms.tenant"], ClientID: f.settings["ms.client_id"], Cloud: "global",
		Permissions: permissions, Key: f.key,
		PBXURL: f.settings["pbx.url"], PBXClientID: f.settings["pbx.client_id"], PBXSecret: f.settings["pbx.secret"] != "",
	}
	if u, err := url.Parse(s.PBXURL); err == nil && u.Host != "" {
		s.RedirectURI = "https://" + u.Hostname() + "/oauth2office2"
	}
	if s.Tenant != "" && s.ClientID != "" {
		s.ConsentURL = "https://login.microsoftonline.com/" + s.Tenant + "/adminconsent?client_id=" + s.ClientID
	}
	return s, nil
}

// GenerateKeyPair implements common.Backend.
func (f *Fake) GenerateKeyPair(ctx context.Context) (common.KeyInfo, error) {
	f.enter("GenerateKeyPair")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.key = common.KeyInfo{Exists: true, KeyFile: "/tmp/pbx365/keys/pbx365.pem", CertFile: "/tmp/pbx365/keys/public_key.pem",
		Thumbprint: fmt.Sprintf("%040X", len(f.runs)+int(f.calls["GenerateKeyPair"])), NotAfter: time.Now().AddDate(2, 0, 0)}
	return f.key, nil
}

// CheckMicrosoft implements common.Backend.
func (f *Fake) CheckMicrosoft(ctx context.Context) ([]common.CheckLine, error) {
	f.enter("CheckMicrosoft")
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.settings["ms.tenant"] == "" || f.settings["ms.client_id"] == "" {
		return []common.CheckLine{{Name: "token", Status: common.CheckError, Detail: "ms.tenant and ms.client_id must be set (step 1)"}}, nil
	}
	if !f.key.Exists {
		return []common.CheckLine{{Name: "token", Status: common.CheckError, Detail: "no key pair: generate one (step 2) and upload public_key.pem"}}, nil
	}
	out := []common.CheckLine{{Name: "token", Status: common.CheckOK, Detail: "app-only token issued"}}
	for _, p := range permissions {
		if slices.Contains(f.MissingPermissions, p) {
			out = append(out, common.CheckLine{Name: p, Status: common.CheckMissing, Detail: "not in the token's roles: grant admin consent"})
			continue
		}
		out = append(out, common.CheckLine{Name: p, Status: common.CheckOK})
	}
	return out, nil
}

// CheckPBX implements common.Backend.
func (f *Fake) CheckPBX(ctx context.Context) ([]common.CheckLine, error) {
	f.enter("CheckPBX")
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range []string{"pbx.url", "pbx.client_id", "pbx.secret"} {
		if f.settings[k] == "" {
			return []common.CheckLine{{Name: "login", Status: common.CheckError, Detail: k + " is not set"}}, nil
		}
	}
	return []common.CheckLine{{Name: "login", Status: common.CheckOK, Detail: "logged in as " + f.settings["pbx.client_id"]}, {Name: "version", Status: common.CheckOK, Detail: "20.0.10.100"}}, nil
}

// --- users and plans ---

// Directory implements common.Backend.
func (f *Fake) Directory(ctx context.Context) (common.DirectorySnapshot, error) {
	f.enter("Directory")
	if err := ctx.Err(); err != nil {
		return common.DirectorySnapshot{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	sel := f.savedSelection()
	users := make([]common.DirectoryUser, len(f.users))
	for i, u := range f.users {
		u.Linked = f.links[u.ObjectID]
		users[i] = u
	}
	users = common.PlannedStates(users, f.makePlanLocked(sel))
	return common.DirectorySnapshot{Users: users, Groups: slices.Clone(f.groups), Saved: sel, PlannedFor: sel}, nil
}

func (f *Fake) savedSelection() common.Selection {
	sel := common.Selection{Scope: common.ScopeKind(f.settings["users.scope"])}
	if sel.Scope == "" {
		sel.Scope = common.ScopeAll
	}
	split := func(s string) []string {
		if s == "" {
			return nil
		}
		return strings.Split(s, ",")
	}
	sel.Groups = split(f.settings["users.groups"])
	sel.Users = split(f.settings["users.selected"])
	return sel
}

func excludedReason(u common.DirectoryUser) (rule, reason string) {
	switch {
	case !u.Enabled:
		return "eligibility.disabled", "account disabled"
	case u.UserType == "Guest":
		return "eligibility.guest", "guest (users.include_guests is false)"
	case u.UserType == "":
		return "eligibility.untyped", "no userType (users.include_untyped is false)"
	}
	return "", ""
}

func inScope(u common.DirectoryUser, sel common.Selection) bool {
	switch sel.Scope {
	case common.ScopeGroups:
		for _, g := range u.Groups {
			if slices.Contains(sel.Groups, g) {
				return true
			}
		}
		return false
	case common.ScopeSelected:
		return slices.Contains(sel.Users, u.ObjectID)
	case common.ScopeAllExcept:
		return !slices.Contains(sel.Users, u.ObjectID)
	}
	return true
}

func (f *Fake) planLocked(sel common.Selection) []plan.Change {
	order := make([]int, len(f.users))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		x, y := strings.ToLower(f.users[order[a]].DisplayName), strings.ToLower(f.users[order[b]].DisplayName)
		if x != y {
			return x < y
		}
		return f.users[order[a]].ObjectID < f.users[order[b]].ObjectID
	})
	used := map[string]bool{}
	for _, n := range f.links {
		used[n] = true
	}
	next, _ := strconv.Atoi(f.settings["users.ext_start"])
	if next == 0 {
		next = 1000
	}
	var out []plan.Change
	for _, i := range order {
		u := f.users[i]
		c := plan.Change{ObjectID: u.ObjectID, UPN: u.UPN, DisplayName: u.DisplayName}
		num, linked := f.links[u.ObjectID]
		rule, reason := excludedReason(u)
		switch {
		case linked && (rule != "" || !inScope(u, sel)):
			c.Action, c.Number, c.Rule, c.Reason = plan.ActDisable, num, "removal.disable", "left scope: disabled, number kept"
		case linked:
			continue // unchanged links are not listed (as in the real planner)
		case rule != "":
			c.Action, c.Rule, c.Reason = plan.ActSkip, rule, reason
		case !inScope(u, sel):
			c.Action, c.Rule, c.Reason = plan.ActSkip, "scope."+string(sel.Scope), "out of scope ("+string(sel.Scope)+")"
		default:
			for used[strconv.Itoa(next)] {
				next++
			}
			num := strconv.Itoa(next)
			used[num] = true
			first, last, _ := strings.Cut(u.DisplayName, " ")
			c.Action, c.Number, c.Rule, c.Reason = plan.ActCreate, num, "numbers.next_free", "eligible and in scope: new extension "+num
			c.Fields = []plan.FieldChange{{Field: "FirstName", New: first}, {Field: "LastName", New: last}, {Field: "EmailAddress", New: u.Mail}, {Field: "Enabled", Old: "", New: "true"}}
			c.Desired = &plan.Desired{FirstName: first, LastName: last, EmailAddress: u.Mail, Enabled: true, Department: "Azure AD"}
		}
		out = append(out, c)
	}
	return out
}

// Plan implements common.Backend.
func (f *Fake) Plan(ctx context.Context, sel common.Selection) (plan.Plan, error) {
	f.enter("Plan")
	if err := ctx.Err(); err != nil {
		return plan.Plan{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.makePlanLocked(sel)
	f.planSeq++
	p.Hash = fmt.Sprintf("fake-plan-%d", f.planSeq)
	f.planned[p.Hash] = sel
	return p, nil
}

// Preview implements common.PreviewBackend: the plan, not kept.
func (f *Fake) Preview(ctx context.Context, sel common.Selection) (plan.Plan, error) {
	f.enter("Preview")
	if err := ctx.Err(); err != nil {
		return plan.Plan{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.makePlanLocked(sel), nil
}

func (f *Fake) makePlanLocked(sel common.Selection) plan.Plan {
	changes := f.planLocked(sel)
	p := plan.Plan{Changes: changes, Counts: map[plan.Action]int{}, Full: true, Created: time.Now()}
	for _, c := range changes {
		p.Counts[c.Action]++
	}
	if removals := p.Counts[plan.ActDisable] + p.Counts[plan.ActDelete]; removals > 0 {
		limit := max(1, len(f.links)/10)
		if removals > limit {
			p.Guard = &plan.Guard{Kind: "removal_threshold", Count: removals, Limit: limit,
				Message: fmt.Sprintf("%d extensions would be disabled, more than users.max_removals allows (%d)", removals, limit)}
		}
	}
	return p
}

// Explain implements common.Backend.
func (f *Fake) Explain(ctx context.Context, sel common.Selection, objectID string) (common.Explanation, error) {
	f.enter("Explain")
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, u := range f.users {
		if u.ObjectID != objectID {
			continue
		}
		e := common.Explanation{ObjectID: u.ObjectID, UPN: u.UPN, DisplayName: u.DisplayName}
		e.Verdicts = append(e.Verdicts,
			common.Verdict{Rule: "eligibility.enabled", Pass: u.Enabled, Detail: "accountEnabled " + strconv.FormatBool(u.Enabled)},
			common.Verdict{Rule: "eligibility.user_type", Pass: u.UserType == "Member", Detail: "userType " + strconv.Quote(u.UserType)},
		)
		e.Verdicts = append(e.Verdicts, common.Verdict{Rule: "scope." + string(sel.Scope), Pass: inScope(u, sel), Detail: "users.scope " + string(sel.Scope)})
		for _, c := range f.planLocked(sel) {
			if c.ObjectID == objectID {
				e.Outcome = string(c.Action) + " " + c.Number + " (" + c.Reason + ")"
			}
		}
		return e, nil
	}
	return common.Explanation{}, fmt.Errorf("explain: no directory user %s", objectID)
}

// Apply implements common.Backend.
func (f *Fake) Apply(ctx context.Context, p plan.Plan, allowRemovals bool) (<-chan progress.Event, error) {
	f.enter("Apply")
	if p.Guard != nil && p.Guard.Kind == "empty_directory" {
		return nil, errors.New("apply: the directory answer was empty; nothing is applied")
	}
	f.mu.Lock()
	sel, ok := f.planned[p.Hash]
	if !ok {
		f.mu.Unlock()
		return nil, errors.New("apply: this plan is no longer current: preview it again")
	}
	delete(f.planned, p.Hash)
	f.settings["users.scope"] = string(sel.Scope)
	f.settings["users.groups"] = strings.Join(sel.Groups, ",")
	f.settings["users.selected"] = strings.Join(sel.Users, ",")
	runID := uint64(len(f.runs) + 1)
	run := common.Run{ID: runID, Kind: "users", Trigger: "tui", Started: time.Now(), Status: "running", Done: map[plan.Action]int{}, Failed: map[plan.Action]int{}}
	f.runs = append(f.runs, run)
	f.mu.Unlock()

	var work []plan.Change
	for _, c := range p.Changes {
		if c.Action != plan.ActSkip && c.Action != plan.ActConflict {
			work = append(work, c)
		}
	}
	ch := make(chan progress.Event, 16)
	go func() {
		defer close(ch)
		sum := &progress.Summary{RunID: runID, Started: run.Started, Done: map[plan.Action]int{}, Failed: map[plan.Action]int{}, Skipped: p.Counts[plan.ActSkip], Conflict: p.Counts[plan.ActConflict]}
		finish := func() {
			sum.Finished = time.Now()
			f.mu.Lock()
			r := &f.runs[runID-1]
			r.Finished, r.Done, r.Failed = sum.Finished, sum.Done, sum.Failed
			r.Status = "ok"
			switch {
			case sum.Guard != nil:
				r.Status = "stopped"
			case sum.Canceled:
				r.Status = "canceled"
			case len(sum.Failed) > 0:
				r.Status = "partial"
			}
			f.mu.Unlock()
			ch <- progress.Event{RunID: runID, Phase: progress.PhaseDone, Done: len(work), Total: len(work), Summary: sum}
		}
		ch <- progress.Event{RunID: runID, Phase: progress.PhaseRead, Total: len(work)}
		if p.Guard != nil && !allowRemovals {
			sum.Guard = p.Guard
			finish()
			return
		}
		for i, c := range work {
			if ctx.Err() != nil {
				sum.Canceled = true
				finish()
				return
			}
			if f.Delay > 0 {
				select {
				case <-time.After(f.Delay):
				case <-ctx.Done():
				}
			}
			it := progress.Item{Action: c.Action, ObjectID: c.ObjectID, UPN: c.UPN, Number: c.Number, OK: true}
			if c.UPN == f.FailUPN {
				it.OK, it.Err = false, "PBX refused the write: EmailAddress already used by extension 0042"
				sum.Failed[c.Action]++
			} else {
				sum.Done[c.Action]++
			}
			f.mu.Lock()
			if it.OK && (c.Action == plan.ActCreate || c.Action == plan.ActAdopt) {
				f.links[c.ObjectID] = c.Number
			}
			f.items[runID] = append(f.items[runID], common.RunItem{Seq: uint64(i + 1), Time: time.Now(), Actor: "tui", Action: c.Action, ObjectID: c.ObjectID, UPN: c.UPN, Number: c.Number, Rule: c.Rule, Fields: c.Fields, OK: it.OK, Err: it.Err})
			f.mu.Unlock()
			select {
			case ch <- progress.Event{RunID: runID, Phase: progress.PhaseApply, Done: i + 1, Total: len(work), Current: c.UPN, Items: []progress.Item{it}}:
			case <-ctx.Done():
			}
		}
		finish()
	}()
	return ch, nil
}

// Runs implements common.Backend.
func (f *Fake) Runs(ctx context.Context, flt common.RunFilter) ([]common.Run, error) {
	f.enter("Runs")
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]common.Run, 0, len(f.runs))
	for i := len(f.runs) - 1; i >= 0; i-- {
		out = append(out, f.runs[i])
		if flt.Limit > 0 && len(out) == flt.Limit {
			break
		}
	}
	return out, nil
}

// RunItems implements common.Backend.
func (f *Fake) RunItems(ctx context.Context, runID uint64, flt common.ItemFilter) ([]common.RunItem, error) {
	f.enter("RunItems")
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []common.RunItem
	for _, it := range f.items[runID] {
		if flt.FailedOnly && it.OK {
			continue
		}
		if flt.Text != "" && !strings.Contains(strings.ToLower(it.UPN+" "+it.Number+" "+string(it.Action)+" "+it.Err), strings.ToLower(flt.Text)) {
			continue
		}
		out = append(out, it)
		if flt.Limit > 0 && len(out) == flt.Limit {
			break
		}
	}
	return out, nil
}

var _ common.Backend = (*Fake)(nil)

// Extras is a Fake that also implements the optional backends (Contacts,
// Presence, SSO), so the TUI shows their screens. Its contacts are three per
// linked user (one without a number, which the plan skips); applying the
// contact plan marks them written, and the next status has nothing to do.
type Extras struct {
	*Fake

	// PresenceRows is what Presence returns (Live is set on a refresh).
	PresenceRows []common.PresenceRow
	// PBXM365 is the PBX's Microsoft 365 settings, changed by ApplySSO.
	PBXM365 common.M365
	// SSOError, when set, is ApplySSO's error (the PBX refused).
	SSOError error

	written map[string]bool   // personal phonebooks whose contacts were applied
	plans   map[string]string // contact plan hash → "" (current plans)
}

var (
	_ common.ContactsBackend = (*Extras)(nil)
	_ common.PresenceBackend = (*Extras)(nil)
	_ common.SSOBackend      = (*Extras)(nil)
)

// NewExtras makes an Extras over a directory of n users.
func NewExtras(n int) *Extras {
	return &Extras{Fake: NewFake(n), written: map[string]bool{}, plans: map[string]string{}}
}

func (e *Extras) contactPlanLocked() (contacts.Plan, []common.ContactsBook) {
	nums := make([]string, 0, len(e.links))
	upn := map[string]string{}
	for id, n := range e.links {
		nums = append(nums, n)
		for _, u := range e.users {
			if u.ObjectID == id {
				upn[n] = u.UPN
			}
		}
	}
	sort.Strings(nums)
	p := contacts.Plan{Counts: map[plan.Action]int{}, Full: true}
	var books []common.ContactsBook
	for _, n := range nums {
		pb := contacts.PersonalBook(n)
		b := common.ContactsBook{Phonebook: pb, Number: n, Mailboxes: []string{upn[n]}, Source: 3, Skipped: map[string]int{"phone.none": 1}}
		if e.written[pb] {
			b.Entries, b.Owned = 2, 2
		} else {
			for i := range 2 {
				p.Changes = append(p.Changes, contacts.Change{Action: plan.ActCreate, Phonebook: pb, Number: n, Mailbox: upn[n], Label: upn[n],
					SourceID: fmt.Sprintf("c%d", i), Name: fmt.Sprintf("Contact %d of %s", i+1, n), Rule: "contact.new"})
				b.Pending++
			}
		}
		p.Changes = append(p.Changes, contacts.Change{Action: plan.ActSkip, Phonebook: pb, Number: n, Mailbox: upn[n], Label: upn[n],
			SourceID: "c2", Name: "No Number", Rule: "phone.none", Reason: "the contact has no usable phone number"})
		books = append(books, b)
	}
	for _, c := range p.Changes {
		p.Counts[c.Action]++
	}
	p.Hash = contacts.Hash(p)
	return p, books
}

// ContactsStatus plans the linked users' contacts.
func (e *Extras) ContactsStatus(ctx context.Context) (common.ContactsStatus, error) {
	e.enter("ContactsStatus")
	e.mu.Lock()
	defer e.mu.Unlock()
	p, books := e.contactPlanLocked()
	e.plans = map[string]string{p.Hash: ""}
	st := common.ContactsStatus{Personal: true, Folders: "default", Books: books, Plan: p}
	for i := len(e.runs) - 1; i >= 0; i-- {
		if e.runs[i].Kind == "contacts" {
			r := e.runs[i]
			st.LastRun = &r
			break
		}
	}
	return st, nil
}

// ApplyContacts applies the plan ContactsStatus last made.
func (e *Extras) ApplyContacts(ctx context.Context, planHash string) (<-chan progress.Event, error) {
	e.enter("ApplyContacts")
	e.mu.Lock()
	if _, ok := e.plans[planHash]; !ok {
		e.mu.Unlock()
		return nil, contacts.ErrStale
	}
	delete(e.plans, planHash)
	p, _ := e.contactPlanLocked()
	runID := uint64(len(e.runs) + 1)
	run := common.Run{ID: runID, Kind: "contacts", Trigger: "tui", Started: time.Now(), Status: "running", Done: map[plan.Action]int{}, Failed: map[plan.Action]int{}}
	e.runs = append(e.runs, run)
	e.mu.Unlock()
	var work []contacts.Change
	for _, c := range p.Changes {
		if c.Action != plan.ActSkip {
			work = append(work, c)
		}
	}
	ch := make(chan progress.Event, 4)
	go func() {
		defer close(ch)
		sum := &progress.Summary{RunID: runID, Started: run.Started, Done: map[plan.Action]int{}, Failed: map[plan.Action]int{}, Skipped: p.Counts[plan.ActSkip]}
		for i, c := range work {
			if ctx.Err() != nil {
				sum.Canceled = true
				break
			}
			if e.Delay > 0 {
				select {
				case <-time.After(e.Delay):
				case <-ctx.Done():
				}
			}
			sum.Done[c.Action]++
			e.mu.Lock()
			e.written[c.Phonebook] = true
			e.mu.Unlock()
			ch <- progress.Event{RunID: runID, Phase: progress.PhaseApply, Done: i + 1, Total: len(work), Current: c.Name,
				Items: []progress.Item{{Action: c.Action, ObjectID: c.Mailbox, UPN: c.Label, Number: c.Number, OK: true}}}
		}
		sum.Finished = time.Now()
		e.mu.Lock()
		r := &e.runs[runID-1]
		r.Finished, r.Done, r.Status = sum.Finished, sum.Done, "ok"
		if sum.Canceled {
			r.Status = "canceled"
		}
		e.mu.Unlock()
		ch <- progress.Event{RunID: runID, Phase: progress.PhaseDone, Done: len(work), Total: len(work), Summary: sum}
	}()
	return ch, nil
}

// Presence returns the configured rows; refresh marks them live.
func (e *Extras) Presence(ctx context.Context, refresh bool) (common.PresenceStatus, error) {
	if refresh {
		e.enter("PresenceRefresh")
	} else {
		e.enter("Presence")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	st := common.PresenceStatus{Live: refresh, Enabled: e.settings["calendar.enabled"] == "true", Users: len(e.PresenceRows),
		Rows: slices.Clone(e.PresenceRows)}
	if refresh {
		st.LastRefresh = time.Now()
	}
	return st, nil
}

// SSOStatus reports the sso.* settings, the linked users' switches (on
// for every linked user when sso.enabled) and the PBX's settings.
func (e *Extras) SSOStatus(ctx context.Context) (common.SSOStatus, error) {
	e.enter("SSOStatus")
	e.mu.Lock()
	defer e.mu.Unlock()
	st := common.SSOStatus{Enabled: e.settings["sso.enabled"] == "true", Users: cmp.Or(e.settings["sso.users"], "all"),
		Synced: len(e.links), PBX: e.PBXM365,
		Want: common.M365{TenantID: e.settings["ms.tenant"], ApplicationID: e.settings["ms.client_id"], SSOEnabled: true, UserSyncEnabled: e.PBXM365.UserSyncEnabled}}
	if st.Enabled {
		st.Planned = st.Synced
	}
	st.Changes = st.PBX != st.Want
	return st, nil
}

// ApplySSO writes the tenant and client ID and sign-in to the fake PBX.
func (e *Extras) ApplySSO(ctx context.Context) (common.SSOResult, error) {
	e.enter("ApplySSO")
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.SSOError != nil {
		return common.SSOResult{}, e.SSOError
	}
	res := common.SSOResult{Before: e.PBXM365}
	e.PBXM365.TenantID, e.PBXM365.ApplicationID, e.PBXM365.SSOEnabled = e.settings["ms.tenant"], e.settings["ms.client_id"], true
	res.After, res.Kept = e.PBXM365, true
	return res, nil
}

// Answering wraps a screen's Update for Pump as the root's prompt would: a
// common.ConfirmMsg is recorded in *asked and, when yes, its Yes Cmd runs (the
// admin pressed y; else No); every other message goes to update.
func Answering(update func(tea.Msg) tea.Cmd, yes bool, asked *[]common.ConfirmMsg) func(tea.Msg) tea.Cmd {
	return func(msg tea.Msg) tea.Cmd {
		if m, ok := msg.(common.ConfirmMsg); ok {
			*asked = append(*asked, m)
			if yes {
				return m.Yes
			}
			return m.No
		}
		return update(msg)
	}
}
