// Package presence is the calendar → PBX status engine. It reads the free/busy
// of the calendar users (all synced users, or a chosen set) for the next 24
// hours with getSchedule, merges each user's meetings into a timeline, and at
// each meeting's start and end moves the user's 3CX status: busy and working
// elsewhere → the busy profile (3CX's "Out of office", shown as Do Not
// Disturb), out of office → the away profile, busy winning over out of office.
//
// A per-user state machine, persisted in the store, remembers the profile
// before the first meeting of a block of back-to-back or overlapping meetings
// and the profile pbx365 set; at the end of the block it restores the former
// only if the PBX still shows the latter (a manual change during the meeting
// wins, and pbx365 then forgets the user until the block is over). While the
// user is on a protected profile (Business Trip, Holiday, ...) nothing is
// changed. Transitions run on one timer heap driven by an injectable Clock, at
// the meetings' start and end rather than at the next refresh; all times are
// UTC.
package presence

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pbx365/pbx365/graphclient"
	"github.com/pbx365/pbx365/pbxclient"
)

// Directory is what the engine reads from Microsoft 365.
type Directory interface {
	GetSchedule(ctx context.Context, addresses []string, start, end time.Time, anchors []string) ([]graphclient.Schedule, error)
	GetUser(ctx context.Context, idOrUPN string) (graphclient.User, error)
}

// PBX is what the engine reads and writes on the phone system (a subset of
// pbxclient.Port).
type PBX interface {
	ListUsers(ctx context.Context) ([]pbxclient.User, error)
	GetUser(ctx context.Context, id int32) (pbxclient.User, error)
	UserProfiles(ctx context.Context, userID int32) ([]pbxclient.Profile, error)
	SetProfile(ctx context.Context, userID int32, name string) error
}

// Window is how far ahead free/busy is read.
const Window = 24 * time.Hour

// bulkRead is the number of users in one pass from which the PBX users are
// listed once instead of read one by one.
const bulkRead = 50

// Engine runs calendar presence. Set the fields, then call Start (the
// service) or RefreshAll / RefreshUser (the TUI's "refresh now").
type Engine struct {
	Dir         Directory
	PBX         PBX
	State       State
	Log         *slog.Logger
	Clock       Clock         // default SystemClock
	Concurrency int           // PBX calls in flight; default 8
	ProfileTTL  time.Duration // how long a user's profile list is reused; default 1h

	initOnce sync.Once
	passMu   sync.Mutex // one reconcile pass at a time

	mu       sync.Mutex
	settings Settings
	users    map[string]*user // calendar users by object id
	others   map[string]Link  // linked users outside the calendar set (their leftover states are settled)
	states   map[string]*UserState
	loaded   bool
	resolved map[string]string // lower-case UPN → object id (calendar.selected)
	profiles map[int32]profileCache
	heap     timerHeap
	wake     chan struct{}
	timer    Timer
	timerAt  time.Time
	subs     map[int]chan Change
	nextSub  int
	health   Health
}

type user struct {
	link      Link
	address   string
	tl        Timeline
	err       string
	next      time.Time
	gen       uint64
	protected bool
	since     time.Time
}

type profileCache struct {
	list []pbxclient.Profile
	at   time.Time
}

// Health is the state of the engine as a whole.
type Health struct {
	Enabled     bool
	Users       int       // calendar users
	LastRefresh time.Time // end of the last successful refresh
	Addresses   int       // addresses whose free/busy the last refresh asked for
	Err         string    // the last refresh's error, "" when it succeeded
}

// UserPresence is one calendar user as the Presence screen shows it.
type UserPresence struct {
	ObjectID string
	Number   string
	Address  string
	// State: idle; busy or away (pbx365 set Profile and will restore
	// Previous); held (a manual change won or the user already had the
	// status: nothing is restored); protected (in a meeting, but on a
	// protected profile).
	State    string
	Profile  string // the profile pbx365 set
	Previous string // the profile to restore
	Reason   string // e.g. `busy: "Weekly sync"` (the subject only when visible)
	Since    time.Time
	Until    time.Time // end of the block of meetings
	Next     time.Time // next transition, zero when none in the window
	NextTo   Kind      // what the next transition moves to
	Err      string    // last error for this user
}

// Change is one thing the engine did to a user.
type Change struct {
	Time     time.Time // when the write finished (engine clock)
	Due      time.Time // the transition time that caused it; zero for a refresh
	ObjectID string
	Number   string
	// Action: set_profile, restore_profile, forget (a manual change won),
	// protected, hold (already on the status), error, or refresh (a refresh
	// finished; Err set when it failed).
	Action   string
	From, To string // profiles
	Reason   string
	Err      string
}

func (e *Engine) init() {
	e.initOnce.Do(func() {
		if e.Clock == nil {
			e.Clock = SystemClock{}
		}
		if e.Log == nil {
			e.Log = slog.Default()
		}
		if e.Concurrency <= 0 {
			e.Concurrency = 8
		}
		if e.ProfileTTL <= 0 {
			e.ProfileTTL = time.Hour
		}
		e.users = map[string]*user{}
		e.others = map[string]Link{}
		e.states = map[string]*UserState{}
		e.resolved = map[string]string{}
		e.profiles = map[int32]profileCache{}
		e.subs = map[int]chan Change{}
		e.wake = make(chan struct{}, 1)
	})
}

func (e *Engine) now() time.Time { return e.Clock.Now().UTC() }

// loadStates reads the persisted states once (e.mu held).
func (e *Engine) loadStates() error {
	if e.loaded {
		return nil
	}
	sts, err := e.State.States()
	if err != nil {
		return fmt.Errorf("read presence states: %w", err)
	}
	for _, s := range sts {
		e.states[s.ObjectID] = &s
	}
	e.loaded = true
	return nil
}

// Start refreshes at once and then every calendar.refresh, and runs the
// transitions at their time, until ctx is done.
func (e *Engine) Start(ctx context.Context) error {
	e.init()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		e.timerLoop(ctx)
	}()
	defer wg.Wait()
	tick := make(chan struct{}, 1)
	for {
		if err := e.RefreshAll(ctx); err != nil && ctx.Err() == nil {
			e.Log.Warn("calendar presence refresh failed", "err", err)
		}
		e.mu.Lock()
		every := e.settings.Refresh
		e.mu.Unlock()
		t := e.Clock.AfterFunc(every, func() {
			select {
			case tick <- struct{}{}:
			default:
			}
		})
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-tick:
		}
	}
}

// RefreshAll reads the settings, the calendar users and their free/busy for
// the next 24 hours, brings every user to the status the calendar asks for
// now, and schedules the next transitions. Per-user failures are recorded in
// the snapshot; an error is returned only when nothing could be read.
func (e *Engine) RefreshAll(ctx context.Context) error {
	e.init()
	err := e.refreshAll(ctx)
	e.mu.Lock()
	if err != nil {
		e.health.Err = err.Error()
	} else {
		e.health.Err = ""
		e.health.LastRefresh = e.now()
	}
	e.mu.Unlock()
	e.emit(Change{Time: e.now(), Action: "refresh", Err: errString(err)})
	return err
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func (e *Engine) refreshAll(ctx context.Context) error {
	st, err := e.State.Settings()
	if err != nil {
		return fmt.Errorf("read calendar settings: %w", err)
	}
	st.fill()
	links, err := e.State.Links()
	if err != nil {
		return fmt.Errorf("read links: %w", err)
	}
	targets, others, errs, err := e.targets(ctx, st, links)
	if err != nil {
		return err
	}
	var addrs []string
	for _, u := range targets {
		if u.address != "" {
			addrs = append(addrs, u.address)
		}
	}
	now := e.now()
	var scheds []graphclient.Schedule
	if len(addrs) > 0 {
		if scheds, err = e.Dir.GetSchedule(ctx, addrs, now, now.Add(Window), nil); err != nil {
			return fmt.Errorf("read free/busy of %d users: %w", len(addrs), err)
		}
	}
	byAddr := make(map[string]*graphclient.Schedule, len(scheds))
	for i := range scheds {
		byAddr[strings.ToLower(scheds[i].ID)] = &scheds[i]
	}
	e.mu.Lock()
	if err := e.loadStates(); err != nil {
		e.mu.Unlock()
		return err
	}
	e.settings = st
	e.health.Enabled, e.health.Users, e.health.Addresses = st.Enabled, len(targets), len(addrs)
	users := make(map[string]*user, len(targets))
	for _, u := range targets {
		old := e.users[u.link.ObjectID]
		if old != nil {
			// gen and next carry over: the heap entry already queued stays the live one.
			u.since, u.protected, u.gen, u.next = old.since, old.protected, old.gen, old.next
		}
		u.err = errs[u.link.ObjectID]
		if s := byAddr[strings.ToLower(u.address)]; s != nil {
			if s.Err != "" {
				u.err = "free/busy: " + s.Err
				if old != nil {
					u.tl = old.tl // keep what we knew: a failed read never ends a meeting early
				}
			} else {
				u.tl = BuildTimeline(s.Items, now, now.Add(Window))
			}
		} else if old != nil {
			u.tl = old.tl
		}
		users[u.link.ObjectID] = u
	}
	e.users, e.others = users, others
	ids := make([]string, 0, len(users)+len(e.states))
	for id := range users {
		ids = append(ids, id)
	}
	for id := range e.states {
		if users[id] == nil {
			ids = append(ids, id)
		}
	}
	e.mu.Unlock()
	slices.Sort(ids)
	if err := e.pass(ctx, ids, nil); err != nil {
		return err
	}
	e.prefetchProfiles(ctx, now)
	return nil
}

// targets resolves the calendar users: their links and addresses. errs holds
// per-user problems (no extension, no address).
func (e *Engine) targets(ctx context.Context, st Settings, links []Link) (map[string]*user, map[string]Link, map[string]string, error) {
	targets, others, errs := map[string]*user{}, map[string]Link{}, map[string]string{}
	var chosen map[string]bool
	if st.Enabled && st.Users == "selected" {
		chosen = map[string]bool{}
		for _, ref := range st.Selected {
			id, err := e.resolveRef(ctx, ref)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("calendar.selected: %w", err)
			}
			chosen[id] = true
		}
	}
	for _, l := range links {
		if !st.Enabled || chosen != nil && !chosen[l.ObjectID] {
			others[l.ObjectID] = l
			continue
		}
		targets[l.ObjectID] = &user{link: l}
	}
	if len(targets) == 0 {
		return targets, others, errs, nil
	}
	pu, err := e.PBX.ListUsers(ctx)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("read PBX users: %w", err)
	}
	byID := make(map[int32]*pbxclient.User, len(pu))
	for i := range pu {
		byID[pu[i].ID] = &pu[i]
	}
	for id, u := range targets {
		p := byID[u.link.PBXUserID]
		switch {
		case p == nil:
			errs[id] = fmt.Sprintf("extension %s (Id %d) is not on the PBX", u.link.Number, u.link.PBXUserID)
		case strings.TrimSpace(p.EmailAddress) == "":
			errs[id] = fmt.Sprintf("extension %s has no email address to read the calendar of", u.link.Number)
		default:
			u.address = strings.TrimSpace(p.EmailAddress)
		}
	}
	return targets, others, errs, nil
}

// resolveRef turns an object id or UPN of calendar.selected into an object id.
func (e *Engine) resolveRef(ctx context.Context, ref string) (string, error) {
	ref = strings.TrimSpace(ref)
	if !strings.Contains(ref, "@") {
		return ref, nil
	}
	k := strings.ToLower(ref)
	e.mu.Lock()
	id, ok := e.resolved[k]
	e.mu.Unlock()
	if ok {
		return id, nil
	}
	u, err := e.Dir.GetUser(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("look up %s: %w", ref, err)
	}
	e.mu.Lock()
	e.resolved[k] = u.ID
	e.mu.Unlock()
	return u.ID, nil
}

// RefreshUser re-reads one user's free/busy at once (a change notification
// for their events arrived) and applies it. An unknown user triggers a full
// refresh (a user linked since the last one).
func (e *Engine) RefreshUser(ctx context.Context, objectID string) error {
	e.init()
	e.mu.Lock()
	u := e.users[objectID]
	var addr string
	if u != nil {
		addr = u.address
	}
	e.mu.Unlock()
	if u == nil {
		return e.RefreshAll(ctx)
	}
	if addr == "" {
		return fmt.Errorf("refresh %s: %s", objectID, u.err)
	}
	now := e.now()
	s, err := e.Dir.GetSchedule(ctx, []string{addr}, now, now.Add(Window), nil)
	if err != nil {
		return fmt.Errorf("read free/busy of %s: %w", addr, err)
	}
	e.mu.Lock()
	if cur := e.users[objectID]; cur != nil && len(s) == 1 {
		if s[0].Err != "" {
			cur.err = "free/busy: " + s[0].Err
		} else {
			cur.err = ""
			cur.tl = BuildTimeline(s[0].Items, now, now.Add(Window))
		}
	}
	e.mu.Unlock()
	return e.pass(ctx, []string{objectID}, nil)
}

// Snapshot lists the calendar users (and users pbx365 still holds a status
// for) ordered by number.
func (e *Engine) Snapshot() []UserPresence {
	e.init()
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	out := make([]UserPresence, 0, len(e.users))
	for id, u := range e.users {
		p := UserPresence{ObjectID: id, Number: u.link.Number, Address: u.address, State: "idle", Err: u.err, Next: u.next}
		if !u.next.IsZero() {
			seg, _, _, ok := u.tl.At(u.next)
			if ok {
				p.NextTo = seg.Kind
			}
		}
		if seg, _, end, ok := u.tl.At(now); ok {
			p.Reason = reason(seg)
			p.Until = end
			if u.protected {
				p.State = "protected"
			}
		}
		if st := e.states[id]; st != nil {
			p.Profile, p.Previous, p.Until = st.Set, st.Previous, st.Until
			p.Since = u.since
			if p.Since.IsZero() {
				p.Since = st.Updated
			}
			switch {
			case st.Set == "":
				p.State = "held"
			case eqFold(st.Set, e.settings.AwayProfile):
				p.State = "away"
			default:
				p.State = "busy"
			}
		}
		out = append(out, p)
	}
	for id, st := range e.states {
		if e.users[id] == nil {
			out = append(out, UserPresence{ObjectID: id, Number: st.Number, State: "held", Profile: st.Set, Previous: st.Previous, Until: st.Until, Since: st.Updated})
		}
	}
	slices.SortFunc(out, func(a, b UserPresence) int {
		if c := strings.Compare(a.Number, b.Number); c != 0 {
			return c
		}
		return strings.Compare(a.ObjectID, b.ObjectID)
	})
	return out
}

// Health reports the last refresh.
func (e *Engine) Health() Health {
	e.init()
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.health
}

// Subscribe returns a channel of changes (buffer entries; 256 when <= 0) and
// a function that ends the subscription. A subscriber that falls behind
// misses changes (Snapshot is always current), it never slows the engine.
func (e *Engine) Subscribe(buffer int) (<-chan Change, func()) {
	e.init()
	if buffer <= 0 {
		buffer = 256
	}
	ch := make(chan Change, buffer)
	e.mu.Lock()
	id := e.nextSub
	e.nextSub++
	e.subs[id] = ch
	e.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			e.mu.Lock()
			delete(e.subs, id)
			e.mu.Unlock()
			close(ch)
		})
	}
}

func (e *Engine) emit(cs ...Change) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range cs {
		for _, ch := range e.subs {
			select {
			case ch <- c:
			default:
			}
		}
	}
}

func reason(s Segment) string {
	r := string(s.Item.Status)
	if s.Item.Subject != "" {
		r += fmt.Sprintf(": %q", s.Item.Subject)
	} else if s.Item.IsPrivate {
		r += ": private meeting"
	}
	return r
}

// errNoProfile is wrapped when a configured profile does not exist.
var errNoProfile = errors.New("profile not found")
