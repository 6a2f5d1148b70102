package common

import (
	"context"
	"time"

	"github.com/pbx365/pbx365/sync/plan"
	"github.com/pbx365/pbx365/sync/progress"
)

// Backend is everything the TUI needs from the rest of pbx365. The UI calls it
// only from tea.Cmds (never from Update or View), so implementations may block
// and do I/O; they must honour ctx. The lead's adapter maps it onto the store,
// the sync engine and the Graph and PBX clients.
type Backend interface {
	// Settings lists every setting of the registry with its current value.
	Settings(ctx context.Context) ([]SettingValue, error)
	// ValidateSetting checks a value for key without saving it; the error
	// names what is wrong and the allowed values. Called as the admin types.
	ValidateSetting(ctx context.Context, key, value string) error
	// SetSetting validates and saves a value; a bad value saves nothing.
	SetSetting(ctx context.Context, key, value string) error
	// UnsetSetting removes a stored value so the default applies again.
	UnsetSetting(ctx context.Context, key string) error

	// SetupStatus reports what the setup wizard shows.
	SetupStatus(ctx context.Context) (Setup, error)
	// GenerateKeyPair makes a new key pair (private key 0600, public_key.pem);
	// when one exists this is a rotation and the old pair keeps working.
	GenerateKeyPair(ctx context.Context) (KeyInfo, error)
	// CheckMicrosoft gets a token and checks each required permission live:
	// one line per check (token, then each permission).
	CheckMicrosoft(ctx context.Context) ([]CheckLine, error)
	// CheckPBX logs in to the PBX and reads its version: one line per check.
	CheckPBX(ctx context.Context) ([]CheckLine, error)

	// Directory reads every directory user with the state the planner would
	// give it under the saved settings, and the groups for the picker.
	Directory(ctx context.Context) (DirectorySnapshot, error)
	// Plan computes the user-sync plan for a selection (full reconcile).
	Plan(ctx context.Context, sel Selection) (plan.Plan, error)
	// Explain gives every rule's verdict for one directory user under a
	// selection (the one the plan on screen was made for).
	Explain(ctx context.Context, sel Selection, objectID string) (Explanation, error)
	// Apply executes exactly p, a plan this backend made with Plan, and saves
	// the selection it was made for as users.scope, users.groups and
	// users.selected (so the service keeps syncing the same users); nothing is
	// saved when it returns an error. Events arrive on the channel, which is
	// closed after the final PhaseDone event. Cancelling ctx stops the run
	// after the current write; the PhaseDone event still arrives
	// (Summary.Canceled). allowRemovals lets a plan over the removal
	// threshold run.
	Apply(ctx context.Context, p plan.Plan, allowRemovals bool) (<-chan progress.Event, error)

	// Runs lists past runs, newest first.
	Runs(ctx context.Context, f RunFilter) ([]Run, error)
	// RunItems lists the audit items of one run, in the order they happened.
	RunItems(ctx context.Context, runID uint64, f ItemFilter) ([]RunItem, error)
}

// SettingKind says how a setting is edited and validated.
type SettingKind string

// The kinds of settings.
const (
	KindString   SettingKind = "string"
	KindBool     SettingKind = "bool"
	KindEnum     SettingKind = "enum"     // one of Allowed
	KindNumber   SettingKind = "number"   // an extension number
	KindDuration SettingKind = "duration" // a Go duration, or days like 7d where the registry allows it
	KindList     SettingKind = "list"     // comma-separated values
	KindURL      SettingKind = "url"
	KindPath     SettingKind = "path"
	KindSecret   SettingKind = "secret" // write-only
)

// SettingValue is one setting of the registry with its current value.
type SettingValue struct {
	Key     string      // e.g. users.scope
	Group   string      // Microsoft, PBX, Users, SSO, Contacts, Calendar, Schedule, Mail, Notifications
	Help    string      // one sentence shown under the value
	Kind    SettingKind //
	Allowed []string    // for KindEnum (and KindBool: "true", "false")
	Default string      // shown when not set
	Value   string      // the stored value; always "" for secrets
	IsSet   bool        // a value is stored (for secrets: "set" / "not set")
}

// Setup is what the setup wizard shows.
type Setup struct {
	Tenant      string   // ms.tenant
	ClientID    string   // ms.client_id
	Cloud       string   // ms.cloud
	RedirectURI string   // https://<pbx-fqdn>/oauth2office2, "" while pbx.url is not set
	ConsentURL  string   // the admin-consent URL, "" while tenant or client id is missing
	Permissions []string // the application permissions to grant
	Key         KeyInfo
	PBXURL      string // pbx.url
	PBXClientID string // pbx.client_id
	PBXSecret   bool   // pbx.secret is set
}

// Complete reports whether the settings every sync needs are present.
func (s Setup) Complete() bool {
	return s.Tenant != "" && s.ClientID != "" && s.Key.Exists && s.PBXURL != "" && s.PBXClientID != "" && s.PBXSecret
}

// KeyInfo describes the key pair used for the Entra certificate credential.
type KeyInfo struct {
	Exists     bool
	KeyFile    string // private key and certificate (0600)
	CertFile   string // public_key.pem to upload
	Thumbprint string // SHA-1 thumbprint as Entra shows it (hex, upper case)
	NotAfter   time.Time
}

// CheckStatus is the outcome of one live check.
type CheckStatus string

// Check outcomes, as `pbx365 check` prints them.
const (
	CheckOK      CheckStatus = "ok"
	CheckMissing CheckStatus = "missing"
	CheckError   CheckStatus = "error"
)

// CheckLine is one live check: a token, a permission, the PBX login.
type CheckLine struct {
	Name   string // e.g. "token", "User.Read.All", "login", "version"
	Status CheckStatus
	Detail string // what is wrong and how to fix it, or the version
}

// UserState is what user sync would do with a directory user.
type UserState string

// Directory user states.
const (
	StateCreate   UserState = "create"   // will be created
	StateAdopt    UserState = "adopt"    // an existing extension will be linked
	StateLinked   UserState = "linked"   // already linked
	StateExcluded UserState = "excluded" // not eligible or out of scope (Reason says why)
	StateConflict UserState = "conflict" // ambiguous match (Reason says which)
)

// DirectoryUser is one row of the Users screen.
type DirectoryUser struct {
	ObjectID    string
	DisplayName string
	UPN         string
	Mail        string
	Department  string
	UserType    string // Member, Guest or ""
	Enabled     bool
	Extension   string // linked number, or the proposed one for StateCreate
	Linked      string // the extension the user is linked to ("" when not linked)
	State       UserState
	Reason      string   // for StateExcluded / StateConflict: the rule and a sentence
	Groups      []string // ids of the groups the user is a transitive member of
}

// Group is a directory group offered by the group picker.
type Group struct {
	ID      string
	Name    string
	Members int // transitive user members
}

// ScopeKind is users.scope.
type ScopeKind string

// The scopes of PRODUCT.md.
const (
	ScopeAll       ScopeKind = "all"
	ScopeGroups    ScopeKind = "groups"
	ScopeSelected  ScopeKind = "selected"
	ScopeAllExcept ScopeKind = "all-except"
)

// Scopes lists the scopes in the order the Users screen cycles them.
var Scopes = []ScopeKind{ScopeAll, ScopeGroups, ScopeSelected, ScopeAllExcept}

// Selection is who user sync covers: a scope plus its groups or users.
type Selection struct {
	Scope  ScopeKind
	Groups []string // group object ids (ScopeGroups)
	Users  []string // user object ids (ScopeSelected, ScopeAllExcept)
}

// DirectorySnapshot is the Users screen's data.
type DirectorySnapshot struct {
	Users      []DirectoryUser
	Groups     []Group
	Saved      Selection // the selection stored in settings
	PlannedFor Selection // the selection the users' states are planned for
}

// Verdict is one rule's decision about a user.
type Verdict struct {
	Rule   string // e.g. eligibility.user_type
	Pass   bool
	Detail string
}

// Explanation is every rule's verdict for one user and the outcome.
type Explanation struct {
	ObjectID    string
	UPN         string
	DisplayName string
	Verdicts    []Verdict
	Outcome     string // e.g. "create 1004"
}

// RunFilter narrows Runs; zero values mean no limit.
type RunFilter struct {
	Limit int
}

// ItemFilter narrows RunItems; zero values mean everything.
type ItemFilter struct {
	Text       string // case-insensitive substring of UPN, number, action, error
	FailedOnly bool
	Limit      int
}

// Run is one past (or running) sync run.
type Run struct {
	ID       uint64
	Kind     string // users, contacts, presence, ...
	Trigger  string // tui, cli, schedule, notification, nightly
	Started  time.Time
	Finished time.Time // zero while running
	Status   string    // ok, failed, partial, stopped, canceled, running
	Done     map[plan.Action]int
	Failed   map[plan.Action]int
	Err      string
}

// RunItem is one audit record of a run.
type RunItem struct {
	Seq      uint64
	Time     time.Time
	Actor    string // who: "tui", "service", an admin name
	Action   plan.Action
	ObjectID string
	UPN      string
	Number   string
	Rule     string
	Fields   []plan.FieldChange // before → after
	OK       bool
	Err      string
}
