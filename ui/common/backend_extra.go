package common

import (
	"context"
	"time"

	"github.com/pbx365/pbx365/sync/contacts"
	"github.com/pbx365/pbx365/sync/progress"
)

// The screens of the later features. Each appears only when the Backend
// implements its optional interface (ContactsBackend, PresenceBackend,
// SSOBackend).
const (
	ScreenContacts ScreenID = "contacts"
	ScreenPresence ScreenID = "presence"
	ScreenSSO      ScreenID = "sso"
)

// Optional offers f only when b implements T, the optional backend
// interface its screen needs.
func Optional[T any](b Backend, f Factory) (Factory, bool) {
	_, ok := b.(T)
	return f, ok
}

// ContactsBackend is implemented by backends that run contact sync.
type ContactsBackend interface {
	// ContactsStatus settles what a previous run left open, reads every
	// mailbox in full and plans: the counts per phonebook, the plan (which
	// ApplyContacts can then run by its hash) and the last contacts run.
	ContactsStatus(ctx context.Context) (ContactsStatus, error)
	// ApplyContacts runs the plan ContactsStatus last returned with this
	// hash. Events arrive on the channel, closed after the PhaseDone event;
	// cancelling ctx stops the run after the writes in flight.
	ApplyContacts(ctx context.Context, planHash string) (<-chan progress.Event, error)
}

// ContactsStatus is the Contacts screen's data.
type ContactsStatus struct {
	Personal        bool     // contacts.personal
	SharedMailboxes []string // contacts.shared_mailboxes
	Folders         string   // contacts.folders
	Books           []ContactsBook
	Plan            contacts.Plan
	LastRun         *Run // the newest contacts run, nil when none
}

// ContactsBook is one PBX phonebook with the mailboxes feeding it.
type ContactsBook struct {
	Phonebook string         // "company" or "user/<number>"
	Number    string         // the extension of a personal phonebook
	Mailboxes []string       // labels of the source mailboxes
	PerSource []int          // contacts read from each of Mailboxes (same order)
	Source    int            // contacts read from the mailboxes
	Entries   int            // entries in the PBX phonebook (any owner)
	Owned     int            // entries pbx365 wrote (and so manages)
	Quota     int            // most entries the PBX accepts; 0 = no limit known
	Pending   int            // changes the plan would write
	Skipped   map[string]int // rule → contacts skipped under it
	Errors    []string       // mailboxes that could not be read
}

// PresenceBackend is implemented by backends that show calendar presence.
type PresenceBackend interface {
	// Presence reports each calendar user's state. refresh asks for a live
	// refresh first (reads free/busy, moves statuses that must move now).
	Presence(ctx context.Context, refresh bool) (PresenceStatus, error)
}

// PresenceStatus is the Presence screen's data.
type PresenceStatus struct {
	Live        bool      // from an engine in memory (the service, or a refresh); else the stored state
	Enabled     bool      // calendar.enabled
	Users       int       // calendar users
	LastRefresh time.Time // zero when unknown
	Err         string    // the last refresh's error
	Rows        []PresenceRow
}

// PresenceRow is one calendar user.
type PresenceRow struct {
	ObjectID string
	Number   string
	Address  string
	Current  string // the profile the PBX shows now ("" when not read)
	State    string // idle, busy, away, held, protected (stored state: set, held)
	Profile  string // the profile pbx365 set
	Previous string // the profile to restore
	Reason   string // e.g. `busy: "Weekly sync"`
	Since    time.Time
	Until    time.Time
	Next     time.Time
	NextTo   string // what the next transition moves to
	Err      string
}

// SSOBackend is implemented by backends that manage Microsoft sign-in on
// the PBX.
type SSOBackend interface {
	// SSOStatus reads the sso.* settings, the synced users' switches and the
	// PBX's Microsoft 365 settings, and what ApplySSO would write.
	SSOStatus(ctx context.Context) (SSOStatus, error)
	// ApplySSO writes the tenant and application ID and enables sign-in in
	// the PBX's Microsoft 365 settings (never 3CX's own user sync) and
	// returns what the PBX then holds.
	ApplySSO(ctx context.Context) (SSOResult, error)
}

// M365 is the PBX's Microsoft 365 integration.
type M365 struct {
	TenantID        string
	ApplicationID   string
	SSOEnabled      bool // Microsoft sign-in
	UserSyncEnabled bool // 3CX's own user sync (fights pbx365's)
}

// SSOStatus is the SSO screen's data.
type SSOStatus struct {
	Enabled  bool     // sso.enabled
	Users    string   // sso.users: all or selected
	Selected []string // sso.selected
	Synced   int      // synced users (linked extensions)
	On       int      // synced users whose switch is on at the PBX now
	Planned  int      // synced users whose switch user sync will turn on
	PBX      M365     // what the PBX holds now
	Want     M365     // what ApplySSO would write
	Changes  bool     // Want differs from PBX
}

// SSOResult is the PBX's answer to ApplySSO.
type SSOResult struct {
	Before, After M365
	Kept          bool // the PBX holds what was written
}

// ServiceBackend is a backend attached to a running pbx365 serve: the status
// bar shows ServiceLine ("service running since …, next run at …").
type ServiceBackend interface {
	ServiceLine(ctx context.Context) (string, error)
}
