// Package users is the user-sync engine: it reads the directory and the PBX,
// has the planner (sync/plan) compute a plan, and applies exactly that plan to
// the PBX, crash-safely: an intent is stored before each PBX write and settled
// after it, in the same transaction as the link and the audit item, and a run
// begins by settling what a previous run left open.
package users

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/pbx365/pbx365/graphclient"
	"github.com/pbx365/pbx365/pbxclient"
	"github.com/pbx365/pbx365/sync/plan"
	"github.com/pbx365/pbx365/sync/progress"
)

// Directory is what the engine reads from Microsoft 365.
type Directory interface {
	ListUsers(ctx context.Context, fn func([]graphclient.User) error) error
	UsersDelta(ctx context.Context, deltaLink string) (graphclient.UserDelta, error)
	UsersDeltaLatest(ctx context.Context) (string, error)
	TransitiveUserMembers(ctx context.Context, groupID string) ([]graphclient.User, error)
	GetUser(ctx context.Context, idOrUPN string) (graphclient.User, error)
	PhotoMeta(ctx context.Context, userID string) (graphclient.PhotoMeta, error)
}

// Intent is a PBX write about to happen, stored before it is sent.
type Intent struct {
	ID        uint64
	RunID     uint64
	Action    plan.Action
	ObjectID  string
	UPN       string
	Number    string
	Email     string
	PBXUserID int32
}

// AuditItem is one line of the audit log.
type AuditItem struct {
	RunID    uint64
	Time     time.Time
	ObjectID string
	UPN      string
	Number   string
	Action   plan.Action
	Rule     string
	Before   any
	After    any
	OK       bool
	Skipped  bool // skip and conflict lines: nothing was written
	Err      string
}

// Settlement closes an intent: the link to write (or the reservation to
// drop) and the audit item, all in one transaction.
type Settlement struct {
	IntentID uint64
	Outcome  string     // ok, failed, absent
	Link     *plan.Link // written when set
	DropLink string     // object id whose link is removed (a create that definitely failed)
	Item     *AuditItem
}

// State is what the engine keeps in the store.
type State interface {
	Settings() (Settings, error)
	Links() ([]plan.Link, error)
	DeltaLink(name string) (string, error)
	SaveDeltaLink(name, link string) error
	BeginRun(kind string, planHash string) (uint64, error)
	EndRun(runID uint64, sum progress.Summary) error
	OpenIntents() ([]Intent, error)
	// PutIntent stores the intent and, when reserve is set, a link reserving
	// the number, in one transaction.
	PutIntent(in Intent, reserve *plan.Link) (uint64, error)
	Settle(s Settlement) error
	AppendAudit(items []AuditItem) error
	// PutLinks updates links in one transaction (LeftAt of skipped users).
	PutLinks(links []plan.Link) error
}

// Settings are the settings the engine reads: the planner's and the scope's
// groups, which the engine resolves to members.
type Settings struct {
	Plan   plan.Settings
	Groups []string // object ids of the groups in scope (users.scope = groups)
}

// Engine runs user sync.
type Engine struct {
	Dir         Directory
	PBX         pbxclient.Port
	State       State
	Log         *slog.Logger
	Concurrency int              // PBX writes in flight; default 8
	Now         func() time.Time // default time.Now
	Interval    time.Duration    // progress coalescing; default 100ms
}

// deltaName is the store name of the users delta token.
const deltaName = "users"

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now().UTC()
	}
	return time.Now().UTC()
}

func (e *Engine) log() *slog.Logger {
	if e.Log != nil {
		return e.Log
	}
	return slog.Default()
}

// Options choose what a run reads.
type Options struct {
	Full bool // full reconcile; otherwise users delta from the stored token
}

// Snapshot is what a plan was made from.
type Snapshot struct {
	Input     plan.Input
	DeltaLink string // to store after a successful apply
	FellBack  bool   // an incremental run fell back to a full reconcile
}

// Read gathers the planner's input: settings, links, the directory (full or
// delta), group members, photos, and the PBX.
func (e *Engine) Read(ctx context.Context, opt Options) (*Snapshot, error) {
	settings, err := e.State.Settings()
	if err != nil {
		return nil, fmt.Errorf("read settings: %w", err)
	}
	links, err := e.State.Links()
	if err != nil {
		return nil, fmt.Errorf("read links: %w", err)
	}
	snap := &Snapshot{Input: plan.Input{Settings: settings.Plan, Links: links, Now: e.now()}}
	if err := e.readDirectory(ctx, opt, snap); err != nil {
		return nil, err
	}
	if settings.Plan.Scope == "groups" {
		members := map[string]bool{}
		for _, g := range settings.Groups {
			ids, err := e.Dir.TransitiveUserMembers(ctx, g)
			if err != nil {
				return nil, fmt.Errorf("read members of group %s: %w", g, err)
			}
			for _, u := range ids {
				members[u.ID] = true
			}
		}
		snap.Input.GroupMembers = members
	}
	if snap.Input.PBXUsers, err = e.PBX.ListUsers(ctx); err != nil {
		return nil, fmt.Errorf("read PBX users: %w", err)
	}
	if snap.Input.NumbersInUse, err = e.PBX.NumbersInUse(ctx); err != nil {
		return nil, fmt.Errorf("read PBX numbers in use: %w", err)
	}
	// A delta run also looks at linked users whose extension vanished but
	// who did not change in the directory: they may need a recreate.
	for _, id := range plan.MissingUsers(snap.Input) {
		u, err := e.Dir.GetUser(ctx, id)
		if err != nil {
			if graphclient.IsNotFound(err) {
				continue // gone from the directory too: the planner skips it
			}
			return nil, fmt.Errorf("read user %s: %w", id, err)
		}
		snap.Input.Directory = append(snap.Input.Directory, u)
	}
	return snap, nil
}

func (e *Engine) readDirectory(ctx context.Context, opt Options, snap *Snapshot) error {
	if !opt.Full {
		link, err := e.State.DeltaLink(deltaName)
		if err != nil {
			return fmt.Errorf("read users delta token: %w", err)
		}
		if link != "" {
			d, err := e.Dir.UsersDelta(ctx, link)
			switch {
			case err == nil:
				snap.Input.Directory = d.Changed
				snap.Input.Removed = d.Removed
				snap.DeltaLink = d.DeltaLink
				return nil
			case errors.Is(err, graphclient.ErrResyncRequired):
				e.log().Info("users delta token rejected: full reconcile", "err", err)
				snap.FellBack = true
			default:
				return fmt.Errorf("read users delta: %w", err)
			}
		} else {
			snap.FellBack = true
		}
	}
	// Full: take a token first, so changes made while we list are replayed by
	// the next delta round rather than lost.
	latest, err := e.Dir.UsersDeltaLatest(ctx)
	if err != nil {
		return fmt.Errorf("start users delta: %w", err)
	}
	var all []graphclient.User
	if err := e.Dir.ListUsers(ctx, func(page []graphclient.User) error {
		all = append(all, page...)
		return nil
	}); err != nil {
		return fmt.Errorf("list users: %w", err)
	}
	snap.Input.Directory = all
	snap.Input.Full = true
	snap.DeltaLink = latest
	return nil
}

// Plan reads and plans.
func (e *Engine) Plan(ctx context.Context, opt Options) (plan.Plan, *Snapshot, error) {
	snap, err := e.Read(ctx, opt)
	if err != nil {
		return plan.Plan{}, nil, err
	}
	return plan.Make(snap.Input), snap, nil
}

// lowerEq compares two addresses case-insensitively.
func lowerEq(a, b string) bool { return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b)) }
