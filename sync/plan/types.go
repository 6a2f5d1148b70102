// Package plan is the pure user-sync planner: from the directory users, the PBX
// users and numbers in use, the links, the settings and the time it computes a
// Plan of changes, each naming the rule that produced it. Same inputs, same plan.
package plan

import (
	"time"

	"github.com/pbx365/pbx365/graphclient"
	"github.com/pbx365/pbx365/pbxclient"
)

// Action is what a change does. What the engine does for each (the planner
// relies on it for the next plan):
//
//   - create: create the extension with Number and Desired; write the link
//     (object id → new PBX id, Number, Desired.PhotoETag).
//   - adopt: patch the Fields of PBXUserID and write the link to it.
//   - recreate: create the extension with the link's Number and Desired; set
//     the link's PBX id to the new one; clear LeftAt and Disabled.
//   - update: patch exactly the Fields (Department: add the membership with
//     role users, keep the others; Photo: upload, then store the etag in the
//     link).
//   - enable: patch the Fields (Enabled false → true when listed); clear the
//     link's LeftAt and Disabled.
//   - disable: set Enabled false; link.Disabled = true; link.LeftAt = LeftAt
//     when zero.
//   - delete: delete the extension; keep the link (LeftAt set), so the number
//     stays reserved and a user who comes back gets it again (recreate).
//   - skip: no PBX write; when LeftAt is set (a linked user out of scope),
//     link.LeftAt = LeftAt when zero.
//   - conflict: nothing.
//
// Creates, adoptions and recreates must be applied before updates (plan order
// per action is fine, concurrency within an action too): an update that frees
// an email may turn a conflict of this plan into a create of the next one.
type Action string

// The actions of a plan, in the order a plan lists them.
const (
	ActCreate   Action = "create"
	ActAdopt    Action = "adopt"
	ActRecreate Action = "recreate" // linked extension deleted on the PBX: recreated with the same number
	ActUpdate   Action = "update"
	ActEnable   Action = "enable" // a user who came back: re-enabled with the same number
	ActDisable  Action = "disable"
	ActDelete   Action = "delete"
	ActSkip     Action = "skip"
	ActConflict Action = "conflict"
)

// Actions lists every action in display order.
var Actions = []Action{ActCreate, ActAdopt, ActRecreate, ActUpdate, ActEnable, ActDisable, ActDelete, ActSkip, ActConflict}

// FieldChange is one owned field that changes: old → new.
type FieldChange struct {
	Field string `json:"field"` // FirstName, LastName, EmailAddress, Mobile, OutboundCallerID, Enabled, Department, MS365SignInEnabled, Photo
	Old   string `json:"old"`
	New   string `json:"new"`
}

// Change is one planned change for one directory user (or one linked extension).
type Change struct {
	Action      Action        `json:"action"`
	ObjectID    string        `json:"object_id"`
	UPN         string        `json:"upn"`
	DisplayName string        `json:"display_name"`
	Number      string        `json:"number,omitempty"`
	PBXUserID   int32         `json:"pbx_user_id,omitempty"` // the extension acted on (adopt, update, disable, delete)
	Rule        string        `json:"rule"`                  // the rule that produced it, e.g. "eligibility.guest"
	Reason      string        `json:"reason"`                // a sentence for the admin
	Fields      []FieldChange `json:"fields,omitempty"`
	// Desired is the full desired state of the extension's owned fields for
	// create, adopt, recreate, update and enable; apply writes exactly this
	// (for update and enable only the fields listed in Fields differ).
	Desired *Desired `json:"desired,omitempty"`
	// LeftAt is set on every change for a linked user who is out of scope
	// (disable, delete, and the skip of a kept or already disabled extension):
	// the time the user left scope. The engine stores it in Link.LeftAt when that
	// is still zero, so the removal grace runs from the first run that saw the
	// user leave. Create, adopt, recreate and enable clear Link.LeftAt and
	// Link.Disabled.
	LeftAt time.Time `json:"left_at,omitzero"`
}

// Desired is the desired state of an extension's owned fields.
type Desired struct {
	FirstName          string `json:"first_name"`
	LastName           string `json:"last_name"`
	EmailAddress       string `json:"email"`
	Mobile             string `json:"mobile"`
	OutboundCallerID   string `json:"outbound_caller_id,omitempty"`
	SetCallerID        bool   `json:"set_caller_id,omitempty"`
	Enabled            bool   `json:"enabled"`
	Department         string `json:"department"`
	MS365SignInEnabled bool   `json:"sso"`
	SetSSO             bool   `json:"set_sso,omitempty"`
	PhotoETag          string `json:"photo_etag,omitempty"`
}

// Guard kinds. Only GuardRemovalThreshold may be overridden (TUI question,
// --allow-removals); the others stop the run whatever the flags.
const (
	// GuardRemovalThreshold: the plan disables or deletes more extensions than
	// users.max_removals allows.
	GuardRemovalThreshold = "removal_threshold"
	// GuardEmptyDirectory: a full directory answer had no users. The plan then
	// holds no removal at all.
	GuardEmptyDirectory = "empty_directory"
	// GuardEmptyPBX: the PBX listed no users at all and the plan would recreate
	// more linked extensions than users.max_removals allows (counted against
	// every link): a PBX answer that lost its users must not cause a wave of
	// recreations.
	GuardEmptyPBX = "empty_pbx"
	// GuardInvalidSettings: a setting the planner reads is invalid; the plan
	// holds no changes and Message names the key and the allowed values.
	GuardInvalidSettings = "invalid_settings"
)

// Guard says why a plan must not be applied as is.
type Guard struct {
	Kind    string `json:"kind"`    // one of the Guard* kinds
	Message string `json:"message"` // what happened and what to do
	Count   int    `json:"count"`   // removals planned
	Limit   int    `json:"limit"`   // the threshold
}

// Plan is the ordered list of changes. Apply executes exactly a shown plan: Hash
// ties them.
type Plan struct {
	Changes []Change       `json:"changes"`
	Counts  map[Action]int `json:"counts"`
	Guard   *Guard         `json:"guard,omitempty"` // nil when the plan may be applied
	Full    bool           `json:"full"`            // a full reconcile (every directory user), not a delta
	Created time.Time      `json:"created"`
	Hash    string         `json:"hash"`
}

// Link ties a directory user (Entra object id) to a PBX extension. It is never
// rewritten by a later run except by explicit admin action.
type Link struct {
	ObjectID  string    `json:"object_id"`
	PBXUserID int32     `json:"pbx_user_id"`
	Number    string    `json:"number"`
	LeftAt    time.Time `json:"left_at,omitempty"` // when the user left scope (removal grace starts); zero while in scope
	Disabled  bool      `json:"disabled,omitempty"`
	PhotoETag string    `json:"photo_etag,omitempty"`
}

// Settings are the settings the planner reads (store fills them).
type Settings struct {
	Scope          string   // all, groups, selected, all-except
	Selected       []string // object ids or UPNs (selected / all-except)
	IncludeGuests  bool
	IncludeUntyped bool
	ExtStart       string // "" = first free: from 100, or 1000, ... by the digit count most extensions have (at least 3)
	ExtEnd         string // "" = open
	CallerID       bool
	Photos         bool
	PhoneRegion    string        // default US
	Department     string        // default "Azure AD"
	Removal        string        // keep, disable, delete (default disable)
	RemovalGrace   time.Duration // 0 = delete at once (the store's default is 7 days)
	MaxRemovals    string        // "10%" or "25" (default 10%)
	SSOEnabled     bool
	SSOUsers       string   // all, selected
	SSOSelected    []string // object ids or UPNs
}

// Input is everything the planner looks at.
type Input struct {
	Directory    []graphclient.User
	Full         bool                      // Directory is the whole directory (full reconcile)
	Removed      []graphclient.RemovedUser // delta removals (incremental runs; ignored when Full)
	GroupMembers map[string]bool           // object ids in the chosen groups (scope "groups"), transitive
	Photos       map[string]string         // object id → photo etag (when users.photos)
	PBXUsers     []pbxclient.User
	NumbersInUse []pbxclient.NumberInUse
	Links        []Link
	Settings     Settings
	Now          time.Time
}
