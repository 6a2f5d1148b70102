package store

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Kind is the type of a setting's value, for the TUI form and for help text.
type Kind string

// The kinds of settings.
const (
	KindString         Kind = "string"
	KindBool           Kind = "bool"
	KindNumber         Kind = "number" // a digit string, an extension number
	KindDuration       Kind = "duration"
	KindEnum           Kind = "enum"
	KindList           Kind = "list" // comma-separated
	KindURL            Kind = "url"
	KindPath           Kind = "path"
	KindTimeOfDay      Kind = "time-of-day"
	KindSecret         Kind = "secret"
	KindCountOrPercent Kind = "count-or-percent"
	KindGUID           Kind = "guid"
)

// Group is the section a setting is shown in.
type Group string

// The groups, in display order (Groups).
const (
	GroupMicrosoft     Group = "Microsoft"
	GroupPBX           Group = "PBX"
	GroupUsers         Group = "Users"
	GroupSSO           Group = "SSO"
	GroupContacts      Group = "Contacts"
	GroupCalendar      Group = "Calendar"
	GroupSchedule      Group = "Schedule"
	GroupNotifications Group = "Notifications"
	GroupMail          Group = "Mail"
)

// Groups lists the groups in display order.
var Groups = []Group{GroupMicrosoft, GroupPBX, GroupUsers, GroupSSO, GroupContacts, GroupCalendar, GroupSchedule, GroupNotifications, GroupMail}

// KeyFileName is the default private-key file inside DIR/keys.
const KeyFileName = "pbx365.pem"

// Key describes one setting. The registry (Keys) is the single description
// the TUI settings screen and `pbx365 config` both use.
type Key struct {
	Name  string
	Group Group
	Kind  Kind
	Help  string
	// Allowed are the values of an enum (and of each item of an enum list).
	Allowed []string
	// Default is the default value in normalized form; "" when there is no
	// literal default (see DefaultText).
	Default string
	// DefaultText describes a default that is not a literal value ("from
	// ms.cloud", "first free", "DIR/keys/pbx365.pem"); "" otherwise.
	DefaultText string
	// Placeholder stands for the value in hints: "pbx365 config set KEY <placeholder>".
	Placeholder string
	// Secret values are write-only: shown as "set" / "not set".
	Secret bool
	// RequiredFor lists the commands that refuse to run while the key has no value.
	RequiredFor []string

	// inDir is a default path relative to the data directory (ms.key_file).
	inDir     string
	normalize func(string) (string, error)
	assign    func(*Settings, string)
}

// HasDefault reports whether the key has a value when it is not set.
func (k Key) HasDefault() bool { return k.Default != "" || k.inDir != "" }

// DefaultLabel is the default as shown to the admin ("" when none).
func (k Key) DefaultLabel() string {
	if k.DefaultText != "" {
		return k.DefaultText
	}
	return k.Default
}

// Settings holds every setting, typed, with defaults filled in. Secrets are
// not in it (only whether they are set): read them with their accessor
// (PBXSecret).
type Settings struct {
	MS       MSSettings
	PBX      PBXSettings
	Users    UserSettings
	SSO      SSOSettings
	Contacts ContactSettings
	Calendar CalendarSettings
	Schedule ScheduleSettings
	Notify   NotifySettings
	Mail     MailSettings
}

// MSSettings are the ms.* settings.
type MSSettings struct {
	Tenant   string // GUID or verified domain; "" when not set
	ClientID string // application (client) ID
	Cloud    string // global, usgov, china
	GraphURL string // "" = the cloud's Graph endpoint
	LoginURL string // "" = the cloud's login endpoint
	KeyFile  string // private key and certificate PEM; default DIR/keys/pbx365.pem
	CAFile   string // extra trusted CA bundle; "" = none
}

// PBXSettings are the pbx.* settings except the secret's value.
type PBXSettings struct {
	URL       string // base URL without /xapi/v1
	ClientID  string
	SecretSet bool // pbx.secret has a value (read it with PBXSecret)
	CAFile    string
}

// UserSettings are the users.* settings.
type UserSettings struct {
	Scope          string   // all, groups, selected, all-except
	Groups         []string // group object ids
	Selected       []string // object ids or UPNs
	IncludeGuests  bool
	IncludeUntyped bool
	ExtStart       string // "" = first free
	ExtEnd         string // "" = open
	CallerID       bool
	Photos         bool
	PhoneRegion    string
	Department     string
	Removal        string // keep, disable, delete
	RemovalGrace   time.Duration
	MaxRemovals    CountOrPercent
}

// SSOSettings are the sso.* settings.
type SSOSettings struct {
	Enabled  bool
	Users    string // all, selected
	Selected []string
}

// ContactSettings are the contacts.* settings.
type ContactSettings struct {
	Personal        bool
	SharedMailboxes []string
	Folders         string // default, all
}

// CalendarSettings are the calendar.* settings.
type CalendarSettings struct {
	Enabled           bool
	Users             string // all, selected
	Selected          []string
	BusyProfile       string
	AwayProfile       string
	ProtectedProfiles []string
	Refresh           time.Duration
}

// ScheduleSettings are the schedule.* settings.
type ScheduleSettings struct {
	DeltaInterval time.Duration
	Nightly       TimeOfDay
}

// NotifySettings are the notify.* settings.
type NotifySettings struct {
	PublicURL string
	Listen    string
	CertFile  string
	KeyFile   string
}

// MailSettings are the mail.* settings.
type MailSettings struct {
	From string
	To   []string
}

// Commands that need the Microsoft and PBX connection settings.
var needsConnections = []string{"sync", "serve", "check", "explain", "sso"}

func mustBool(v string) bool { b, _ := parseBool(v); return b }

func mustDuration(v string) time.Duration { d, _ := parseDuration(v, true); return d }

// URL rules. Graph and login endpoints and the notification URL must be https
// (azidentity refuses a plain-http authority, and Graph only posts to https).
// The PBX URL may be plain http on a loopback host, for a simulator or an
// SSH tunnel; anything reachable over a network must be https.
var (
	httpsOnly  = urlRule{}
	pbxURLRule = urlRule{loopbackHTTP: true, forbidSuffix: "/xapi/v1"}
)

var registry = []Key{
	{Name: "ms.tenant", Group: GroupMicrosoft, Kind: KindGUID, Placeholder: "<tenant-id>", RequiredFor: needsConnections,
		Help:      "Directory (tenant) ID of the Entra app registration, or the tenant's verified domain name.",
		normalize: normTenant, assign: func(s *Settings, v string) { s.MS.Tenant = v }},
	{Name: "ms.client_id", Group: GroupMicrosoft, Kind: KindGUID, Placeholder: "<application-id>", RequiredFor: needsConnections,
		Help:      "Application (client) ID of the Entra app registration.",
		normalize: normGUID, assign: func(s *Settings, v string) { s.MS.ClientID = v }},
	{Name: "ms.cloud", Group: GroupMicrosoft, Kind: KindEnum, Allowed: []string{"global", "usgov", "china"}, Default: "global",
		Help:      "Microsoft cloud: global, usgov (US Government) or china (21Vianet).",
		normalize: enumNormalizer("global", "usgov", "china"), assign: func(s *Settings, v string) { s.MS.Cloud = v }},
	{Name: "ms.graph_url", Group: GroupMicrosoft, Kind: KindURL, DefaultText: "from ms.cloud", Placeholder: "<https-url>",
		Help:      "Graph endpoint override, e.g. https://127.0.0.1:8443/v1.0 (must be https). The token scope stays the cloud's Graph .default.",
		normalize: httpsOnly.normalize, assign: func(s *Settings, v string) { s.MS.GraphURL = v }},
	{Name: "ms.login_url", Group: GroupMicrosoft, Kind: KindURL, DefaultText: "from ms.cloud", Placeholder: "<https-url>",
		Help:      "Login (authority host) override, e.g. https://127.0.0.1:8443 (must be https).",
		normalize: httpsOnly.normalize, assign: func(s *Settings, v string) { s.MS.LoginURL = v }},
	{Name: "ms.key_file", Group: GroupMicrosoft, Kind: KindPath, DefaultText: "DIR/keys/" + KeyFileName, inDir: filepath.Join("keys", KeyFileName), Placeholder: "<path>",
		Help:      "PEM file holding the app's private key and certificate (written by pbx365 keygen).",
		normalize: normPath, assign: func(s *Settings, v string) { s.MS.KeyFile = v }},
	{Name: "ms.ca_file", Group: GroupMicrosoft, Kind: KindPath, Placeholder: "<path>",
		Help:      "Extra trusted CA bundle (PEM) for Graph and login, added to the system roots.",
		normalize: normPath, assign: func(s *Settings, v string) { s.MS.CAFile = v }},

	{Name: "pbx.url", Group: GroupPBX, Kind: KindURL, Placeholder: "https://pbx.example.com", RequiredFor: needsConnections,
		Help:      "3CX base URL without /xapi/v1, e.g. https://pbx.example.com (http only on a loopback host).",
		normalize: pbxURLRule.normalize, assign: func(s *Settings, v string) { s.PBX.URL = v }},
	{Name: "pbx.client_id", Group: GroupPBX, Kind: KindString, Placeholder: "<api-client-id>", RequiredFor: needsConnections,
		Help:      "Client ID of the 3CX API client (Admin > Integrations > API).",
		normalize: normToken, assign: func(s *Settings, v string) { s.PBX.ClientID = v }},
	{Name: "pbx.secret", Group: GroupPBX, Kind: KindSecret, Secret: true, Placeholder: "<api-key>", RequiredFor: needsConnections,
		Help:      "API key of the 3CX API client. Write-only: shown as set / not set.",
		normalize: normToken, assign: func(s *Settings, v string) { s.PBX.SecretSet = v != "" }},
	{Name: "pbx.ca_file", Group: GroupPBX, Kind: KindPath, Placeholder: "<path>",
		Help:      "Extra trusted CA bundle (PEM) for the PBX, added to the system roots.",
		normalize: normPath, assign: func(s *Settings, v string) { s.PBX.CAFile = v }},

	{Name: "users.scope", Group: GroupUsers, Kind: KindEnum, Allowed: []string{"all", "groups", "selected", "all-except"}, Default: "all",
		Help:      "Who is synced: all eligible users, transitive members of users.groups, the users.selected users, or all except them.",
		normalize: enumNormalizer("all", "groups", "selected", "all-except"), assign: func(s *Settings, v string) { s.Users.Scope = v }},
	{Name: "users.groups", Group: GroupUsers, Kind: KindList, Placeholder: "<group-id>,...",
		Help:      "Comma-separated group object IDs (scope groups).",
		normalize: listNormalizer(normGUID), assign: func(s *Settings, v string) { s.Users.Groups = splitList(v) }},
	{Name: "users.selected", Group: GroupUsers, Kind: KindList, Placeholder: "<id-or-upn>,...",
		Help:      "Comma-separated user object IDs or UPNs (scope selected or all-except).",
		normalize: listNormalizer(normUserRef), assign: func(s *Settings, v string) { s.Users.Selected = splitList(v) }},
	{Name: "users.include_guests", Group: GroupUsers, Kind: KindBool, Default: "false",
		Help:      "Also sync Guest accounts.",
		normalize: normBool, assign: func(s *Settings, v string) { s.Users.IncludeGuests = mustBool(v) }},
	{Name: "users.include_untyped", Group: GroupUsers, Kind: KindBool, Default: "false",
		Help:      "Also sync legacy accounts without a userType.",
		normalize: normBool, assign: func(s *Settings, v string) { s.Users.IncludeUntyped = mustBool(v) }},
	{Name: "users.ext_start", Group: GroupUsers, Kind: KindNumber, DefaultText: "first free", Placeholder: "<number>",
		Help:      "First extension number for new users (digits; not above users.ext_end).",
		normalize: normDigits, assign: func(s *Settings, v string) { s.Users.ExtStart = v }},
	{Name: "users.ext_end", Group: GroupUsers, Kind: KindNumber, DefaultText: "open", Placeholder: "<number>",
		Help:      "Last extension number for new users (digits; not below users.ext_start).",
		normalize: normDigits, assign: func(s *Settings, v string) { s.Users.ExtEnd = v }},
	{Name: "users.caller_id", Group: GroupUsers, Kind: KindBool, Default: "false",
		Help:      "Set the outbound caller ID from the first business phone, in E.164.",
		normalize: normBool, assign: func(s *Settings, v string) { s.Users.CallerID = mustBool(v) }},
	{Name: "users.photos", Group: GroupUsers, Kind: KindBool, Default: "false",
		Help:      "Sync user photos (only when changed).",
		normalize: normBool, assign: func(s *Settings, v string) { s.Users.Photos = mustBool(v) }},
	{Name: "users.phone_region", Group: GroupUsers, Kind: KindString, Default: "US", Placeholder: "<region>",
		Help:      "Default region (2 letters, e.g. US, GB, DE) for phone numbers without a country code.",
		normalize: normRegion, assign: func(s *Settings, v string) { s.Users.PhoneRegion = v }},
	{Name: "users.department", Group: GroupUsers, Kind: KindString, Default: "Azure AD", Placeholder: "<department>",
		Help:      "PBX department synced users are members of (role users).",
		normalize: normText, assign: func(s *Settings, v string) { s.Users.Department = v }},
	{Name: "users.removal", Group: GroupUsers, Kind: KindEnum, Allowed: []string{"keep", "disable", "delete"}, Default: "disable",
		Help:      "What happens to a linked user who leaves scope, is disabled or deleted: keep, disable (number kept) or delete after users.removal_grace.",
		normalize: enumNormalizer("keep", "disable", "delete"), assign: func(s *Settings, v string) { s.Users.Removal = v }},
	{Name: "users.removal_grace", Group: GroupUsers, Kind: KindDuration, Default: "7d", Placeholder: "<duration>",
		Help:      "How long after leaving a user's extension is deleted (removal delete): a Go duration or days like 7d.",
		normalize: durationNormalizer(true), assign: func(s *Settings, v string) { s.Users.RemovalGrace = mustDuration(v) }},
	{Name: "users.max_removals", Group: GroupUsers, Kind: KindCountOrPercent, Default: "10%", Placeholder: "<count-or-percent>",
		Help: "A run that would disable or delete more extensions than this stops before writing: a count or N% of the linked extensions (at least 1).",
		normalize: func(v string) (string, error) {
			c, err := parseCountOrPercent(v)
			return c.String(), err
		},
		assign: func(s *Settings, v string) { s.Users.MaxRemovals, _ = parseCountOrPercent(v) }},

	{Name: "sso.enabled", Group: GroupSSO, Kind: KindBool, Default: "false",
		Help:      "Turn Microsoft sign-in on for synced users.",
		normalize: normBool, assign: func(s *Settings, v string) { s.SSO.Enabled = mustBool(v) }},
	{Name: "sso.users", Group: GroupSSO, Kind: KindEnum, Allowed: []string{"all", "selected"}, Default: "all",
		Help:      "Sign-in for all synced users or only sso.selected.",
		normalize: enumNormalizer("all", "selected"), assign: func(s *Settings, v string) { s.SSO.Users = v }},
	{Name: "sso.selected", Group: GroupSSO, Kind: KindList, Placeholder: "<id-or-upn>,...",
		Help:      "Comma-separated user object IDs or UPNs (sso.users selected).",
		normalize: listNormalizer(normUserRef), assign: func(s *Settings, v string) { s.SSO.Selected = splitList(v) }},

	{Name: "contacts.personal", Group: GroupContacts, Kind: KindBool, Default: "false",
		Help:      "Sync each synced user's personal Outlook contacts to their personal phonebook.",
		normalize: normBool, assign: func(s *Settings, v string) { s.Contacts.Personal = mustBool(v) }},
	{Name: "contacts.shared_mailboxes", Group: GroupContacts, Kind: KindList, Placeholder: "<address>,...",
		Help:      "Comma-separated addresses of shared mailboxes whose contacts go to the company phonebook.",
		normalize: listNormalizer(normEmail), assign: func(s *Settings, v string) { s.Contacts.SharedMailboxes = splitList(v) }},
	{Name: "contacts.folders", Group: GroupContacts, Kind: KindEnum, Allowed: []string{"default", "all"}, Default: "default",
		Help:      "Which contact folders are read: the default folder or all folders.",
		normalize: enumNormalizer("default", "all"), assign: func(s *Settings, v string) { s.Contacts.Folders = v }},

	{Name: "calendar.enabled", Group: GroupCalendar, Kind: KindBool, Default: "false",
		Help:      "Set PBX status from calendars (busy → busy profile, out of office → away profile).",
		normalize: normBool, assign: func(s *Settings, v string) { s.Calendar.Enabled = mustBool(v) }},
	{Name: "calendar.users", Group: GroupCalendar, Kind: KindEnum, Allowed: []string{"all", "selected"}, Default: "all",
		Help:      "Calendar status for all synced users or only calendar.selected.",
		normalize: enumNormalizer("all", "selected"), assign: func(s *Settings, v string) { s.Calendar.Users = v }},
	{Name: "calendar.selected", Group: GroupCalendar, Kind: KindList, Placeholder: "<id-or-upn>,...",
		Help:      "Comma-separated user object IDs or UPNs (calendar.users selected).",
		normalize: listNormalizer(normUserRef), assign: func(s *Settings, v string) { s.Calendar.Selected = splitList(v) }},
	{Name: "calendar.busy_profile", Group: GroupCalendar, Kind: KindString, Default: "Out of office", Placeholder: "<profile>",
		Help:      "PBX profile for busy / working elsewhere (Out of office is 3CX's internal name of Do Not Disturb).",
		normalize: normText, assign: func(s *Settings, v string) { s.Calendar.BusyProfile = v }},
	{Name: "calendar.away_profile", Group: GroupCalendar, Kind: KindString, Default: "Away", Placeholder: "<profile>",
		Help:      "PBX profile for out of office.",
		normalize: normText, assign: func(s *Settings, v string) { s.Calendar.AwayProfile = v }},
	{Name: "calendar.protected_profiles", Group: GroupCalendar, Kind: KindList, Default: "Business Trip,Holiday", Placeholder: "<profile>,...",
		Help:      "Comma-separated profile names (name or custom name, any case) during which the calendar changes nothing.",
		normalize: listNormalizer(normText), assign: func(s *Settings, v string) { s.Calendar.ProtectedProfiles = splitList(v) }},
	{Name: "calendar.refresh", Group: GroupCalendar, Kind: KindDuration, Default: "5m", Placeholder: "<duration>",
		Help:      "How often free/busy is re-read (Go duration, at least 1s).",
		normalize: durationNormalizer(false), assign: func(s *Settings, v string) { s.Calendar.Refresh = mustDuration(v) }},

	{Name: "schedule.delta_interval", Group: GroupSchedule, Kind: KindDuration, Default: "5m", Placeholder: "<duration>",
		Help:      "serve syncs once at start, then every interval (Go duration, at least 1s; below 1m loads Graph).",
		normalize: durationNormalizer(false), assign: func(s *Settings, v string) { s.Schedule.DeltaInterval = mustDuration(v) }},
	{Name: "schedule.nightly", Group: GroupSchedule, Kind: KindTimeOfDay, Default: "02:00", Placeholder: "HH:MM",
		Help: "Local time of the nightly full reconcile (HH:MM).",
		normalize: func(v string) (string, error) {
			t, err := parseTimeOfDay(v)
			return t.String(), err
		},
		assign: func(s *Settings, v string) { s.Schedule.Nightly, _ = parseTimeOfDay(v) }},

	{Name: "notify.public_url", Group: GroupNotifications, Kind: KindURL, Placeholder: "<https-url>",
		Help:      "The https URL Graph posts change notifications to (normally public; a loopback host is allowed for tests).",
		normalize: httpsOnly.normalize, assign: func(s *Settings, v string) { s.Notify.PublicURL = v }},
	{Name: "notify.listen", Group: GroupNotifications, Kind: KindString, Placeholder: "<host:port>",
		Help:      "Local address pbx365 listens on for notifications, e.g. :8080 or 127.0.0.1:8080.",
		normalize: normListen, assign: func(s *Settings, v string) { s.Notify.Listen = v }},
	{Name: "notify.cert_file", Group: GroupNotifications, Kind: KindPath, Placeholder: "<path>",
		Help:      "Certificate (PEM) to serve notifications over HTTPS (with notify.key_file); unset = plain HTTP behind a proxy.",
		normalize: normPath, assign: func(s *Settings, v string) { s.Notify.CertFile = v }},
	{Name: "notify.key_file", Group: GroupNotifications, Kind: KindPath, Placeholder: "<path>",
		Help:      "Private key (PEM) for notify.cert_file.",
		normalize: normPath, assign: func(s *Settings, v string) { s.Notify.KeyFile = v }},

	{Name: "mail.from", Group: GroupMail, Kind: KindString, Placeholder: "<address>",
		Help:      "Mailbox that sends reports and alerts (Graph sendMail).",
		normalize: normEmail, assign: func(s *Settings, v string) { s.Mail.From = v }},
	{Name: "mail.to", Group: GroupMail, Kind: KindList, Placeholder: "<address>,...",
		Help:      "Comma-separated recipients of reports and alerts.",
		normalize: listNormalizer(normEmail), assign: func(s *Settings, v string) { s.Mail.To = splitList(v) }},
}

func normBool(v string) (string, error) {
	b, err := parseBool(v)
	if b {
		return "true", err
	}
	return "false", err
}

func durationNormalizer(days bool) func(string) (string, error) {
	return func(v string) (string, error) {
		if _, err := parseDuration(v, days); err != nil {
			return "", err
		}
		return strings.ToLower(strings.TrimSpace(v)), nil
	}
}

var registryIndex = func() map[string]int {
	m := make(map[string]int, len(registry))
	for i, k := range registry {
		m[k.Name] = i
	}
	return m
}()

// Keys returns the registry: every setting, in display order.
func Keys() []Key {
	out := make([]Key, len(registry))
	for i, k := range registry {
		k.Allowed, k.RequiredFor = slices.Clone(k.Allowed), slices.Clone(k.RequiredFor)
		out[i] = k
	}
	return out
}

// LookupKey finds a setting by name; the error is an *UnknownKeyError
// suggesting the nearest key.
func LookupKey(name string) (Key, error) {
	if i, ok := registryIndex[name]; ok {
		return registry[i], nil
	}
	return Key{}, &UnknownKeyError{Key: name, Suggestion: nearestKey(name)}
}

// KeysRequiredFor lists the settings the command needs, in registry order.
func KeysRequiredFor(command string) []string {
	var out []string
	for _, k := range registry {
		for _, c := range k.RequiredFor {
			if c == command {
				out = append(out, k.Name)
			}
		}
	}
	return out
}

func isSecretKey(name string) bool {
	i, ok := registryIndex[name]
	return ok && registry[i].Secret
}

// Validate checks value for key and returns it in normalized form. It does
// not check rules between keys (users.ext_start ≤ users.ext_end); Set does.
func Validate(key, value string) (string, error) {
	k, err := LookupKey(key)
	if err != nil {
		return "", err
	}
	return k.validate(value)
}

func (k Key) validate(value string) (string, error) {
	v, err := k.normalize(value)
	if err != nil {
		if k.Secret {
			return "", &SettingError{Key: k.Name, Reason: err.Error()}
		}
		return "", &SettingError{Key: k.Name, Value: value, Reason: err.Error()}
	}
	return v, nil
}

// SettingError is a refused value; its message names the key and what is
// allowed, e.g. `users.removal: "remove" is not one of keep, disable, delete`.
type SettingError struct {
	Key    string
	Value  string // "" for secrets, never echoed
	Reason string
}

// Error is "KEY: what is wrong and what is allowed".
func (e *SettingError) Error() string { return e.Key + ": " + e.Reason }

// UnknownKeyError names a key that is not a setting and the nearest one.
type UnknownKeyError struct {
	Key        string
	Suggestion string
}

// Error names the key and the nearest one.
func (e *UnknownKeyError) Error() string {
	msg := fmt.Sprintf("unknown setting %q", e.Key)
	if e.Suggestion != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", e.Suggestion)
	}
	return msg + "; pbx365 config list shows every setting"
}

// MissingSettingError is a required setting without a value.
type MissingSettingError struct {
	Key         string
	Placeholder string
}

// Error names the key and the command that sets it.
func (e *MissingSettingError) Error() string {
	return fmt.Sprintf("%s is not set: run pbx365 config set %s %s", e.Key, e.Key, e.Placeholder)
}

// nearestKey is the registered key closest to name: an exact match of the
// part after the dot first, else the smallest edit distance.
func nearestKey(name string) string {
	lname := strings.ToLower(strings.TrimSpace(name))
	if i, ok := registryIndex[lname]; ok {
		return registry[i].Name
	}
	var suffix []string
	for _, k := range registry {
		if _, after, _ := strings.Cut(k.Name, "."); after == lname {
			suffix = append(suffix, k.Name)
		}
	}
	if len(suffix) == 1 {
		return suffix[0]
	}
	best, bestD := "", 1<<30
	for _, k := range registry {
		if d := editDistance(lname, k.Name); d < bestD {
			best, bestD = k.Name, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Value is one setting as shown by config get/list and the TUI.
type Value struct {
	Key Key
	// Text is the effective value: the stored one, else the default, else "".
	// For a secret it is "set" or "not set", never the value.
	Text string
	// Set reports a stored value (not the default).
	Set bool
}

// IsDefault reports whether the shown value is the key's default.
func (v Value) IsDefault() bool { return !v.Set && v.Key.HasDefault() }

// Secret texts.
const (
	SecretSet    = "set"
	SecretNotSet = "not set"
)

func (s *Store) defaultFor(k Key) string {
	if k.inDir != "" {
		return filepath.Join(s.dir, k.inDir)
	}
	return k.Default
}

func (s *Store) valueOf(k Key, stored []byte) Value {
	v := Value{Key: k, Set: stored != nil}
	switch {
	case k.Secret && stored != nil:
		v.Text = SecretSet
	case k.Secret:
		v.Text = SecretNotSet
	case stored != nil:
		v.Text = string(stored)
	default:
		v.Text = s.defaultFor(k)
	}
	return v
}

// Get returns one setting (a secret shows as set / not set).
func (s *Store) Get(key string) (Value, error) {
	k, err := LookupKey(key)
	if err != nil {
		return Value{}, err
	}
	var v Value
	err = s.view(func(tx *bolt.Tx) error {
		v = s.valueOf(k, tx.Bucket(bucketSettings).Get([]byte(k.Name)))
		return nil
	})
	return v, err
}

// List returns every setting in registry order.
func (s *Store) List() ([]Value, error) {
	out := make([]Value, 0, len(registry))
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSettings)
		for _, k := range registry {
			out = append(out, s.valueOf(k, b.Get([]byte(k.Name))))
		}
		return nil
	})
	return out, err
}

// Set validates and stores one setting and returns the stored (normalized)
// value. A refused value stores nothing and the error names the key.
func (s *Store) Set(key, value string) (string, error) {
	v, err := Validate(key, value)
	if err != nil {
		return "", err
	}
	return v, s.storeSettings(map[string]string{key: v})
}

// SetMany validates and stores several settings at once (the TUI's settings
// form): all are stored in one transaction, or none when any is refused.
func (s *Store) SetMany(values map[string]string) error {
	norm := make(map[string]string, len(values))
	for key, value := range values {
		v, err := Validate(key, value)
		if err != nil {
			return err
		}
		norm[key] = v
	}
	return s.storeSettings(norm)
}

// storeSettings writes normalized values after the checks between keys.
func (s *Store) storeSettings(norm map[string]string) error {
	return s.Update(func(tx *Tx) error {
		b := tx.tx.Bucket(bucketSettings)
		if err := checkExtRange(b, norm); err != nil {
			return err
		}
		for key, v := range norm {
			if err := b.Put([]byte(key), []byte(v)); err != nil {
				return fmt.Errorf("store %s: %w", key, err)
			}
		}
		return nil
	})
}

// checkExtRange enforces users.ext_start ≤ users.ext_end across the stored
// and the new values.
func checkExtRange(b *bolt.Bucket, norm map[string]string) error {
	_, setStart := norm["users.ext_start"]
	_, setEnd := norm["users.ext_end"]
	if !setStart && !setEnd {
		return nil
	}
	pick := func(key string) string {
		if v, ok := norm[key]; ok {
			return v
		}
		return string(b.Get([]byte(key)))
	}
	start, end := pick("users.ext_start"), pick("users.ext_end")
	if start == "" || end == "" || compareDigits(start, end) <= 0 {
		return nil
	}
	if setStart {
		return &SettingError{Key: "users.ext_start", Value: start, Reason: fmt.Sprintf("%q is above users.ext_end %s: the start must not be above the end", start, end)}
	}
	return &SettingError{Key: "users.ext_end", Value: end, Reason: fmt.Sprintf("%q is below users.ext_start %s: the end must not be below the start", end, start)}
}

// Unset removes a stored value, so the default applies again.
func (s *Store) Unset(key string) error {
	k, err := LookupKey(key)
	if err != nil {
		return err
	}
	return s.Update(func(tx *Tx) error {
		if err := tx.tx.Bucket(bucketSettings).Delete([]byte(k.Name)); err != nil {
			return fmt.Errorf("unset %s: %w", k.Name, err)
		}
		return nil
	})
}

// PBXSecret returns pbx.secret's value for the engine ("" when not set). Never
// print or log it.
func (s *Store) PBXSecret() (string, error) {
	var v string
	err := s.view(func(tx *bolt.Tx) error {
		v = string(tx.Bucket(bucketSettings).Get([]byte("pbx.secret")))
		return nil
	})
	return v, err
}

// Settings loads every setting, typed, defaults filled in, in one read. A
// stored value that no longer validates is an error naming its key.
func (s *Store) Settings() (Settings, error) {
	var out Settings
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSettings)
		for _, k := range registry {
			raw := b.Get([]byte(k.Name))
			text := s.defaultFor(k)
			if raw != nil {
				v, err := k.normalize(string(raw))
				if err != nil {
					return fmt.Errorf("stored setting %s is invalid (%v): run pbx365 config set %s %s, or pbx365 config unset %s", k.Name, err, k.Name, k.Placeholder, k.Name)
				}
				text = v
			}
			if text != "" {
				k.assign(&out, text)
			}
		}
		return nil
	})
	return out, err
}

// RequireSettings returns a *MissingSettingError for the first of keys that
// has neither a stored value nor a default, e.g. "ms.tenant is not set: run
// pbx365 config set ms.tenant <tenant-id>".
func (s *Store) RequireSettings(keys ...string) error {
	ks := make([]Key, 0, len(keys))
	for _, name := range keys {
		k, err := LookupKey(name)
		if err != nil {
			return err
		}
		ks = append(ks, k)
	}
	return s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSettings)
		for _, k := range ks {
			if b.Get([]byte(k.Name)) == nil && !k.HasDefault() {
				return &MissingSettingError{Key: k.Name, Placeholder: k.Placeholder}
			}
		}
		return nil
	})
}

// RequireFor checks every setting the command needs (KeysRequiredFor).
func (s *Store) RequireFor(command string) error {
	return s.RequireSettings(KeysRequiredFor(command)...)
}

// Advice is a warning about an accepted value, or "": an interval below one
// minute loads Graph; a removal limit of 0 stops every run that removes
// anyone.
func Advice(key, value string) string {
	switch key {
	case "schedule.delta_interval", "calendar.refresh":
		if d, err := parseDuration(value, false); err == nil && d < time.Minute {
			return fmt.Sprintf("%s below 1m adds load on Graph and may be throttled", key)
		}
	case "users.max_removals":
		if value == "0" {
			return "users.max_removals 0 stops every run that would disable or delete anyone"
		}
	}
	return ""
}
