package notify

import (
	"context"
	"strings"
	"sync"
	"time"
)

// Action kinds.
const (
	kindUsers    = "users"
	kindPresence = "presence"
	kindContacts = "contacts"
)

// action is the work one notification asks for.
type action struct {
	kind string // kindUsers, kindPresence, kindContacts
	key  string // the object id or mailbox ("" for users)
}

// Resource names of the subscriptions.
const resUsers = "users"

func eventsResource(objectID string) string  { return "users/" + objectID + "/events" }
func contactsResource(mailbox string) string { return "users/" + mailbox + "/contacts" }

// actionFor maps a subscription's resource (as the manager created it, never
// as a notification spells it) to its work.
func actionFor(resource string) action {
	if rest, ok := strings.CutPrefix(resource, "users/"); ok {
		if id, ok := strings.CutSuffix(rest, "/events"); ok {
			return action{kindPresence, id}
		}
		if mb, ok := strings.CutSuffix(rest, "/contacts"); ok {
			return action{kindContacts, mb}
		}
	}
	return action{kind: kindUsers}
}

// dispatcher runs the triggered work: the first notification for a target
// fires at once, later ones within Debounce are merged into one more run at
// the end of the window. One run per target at a time; at most Concurrency
// presence refreshes at once.
type dispatcher struct {
	m       *Manager
	mu      sync.Mutex
	pending map[action]bool
	last    map[action]time.Time
	running map[action]bool
	sem     chan struct{}
	kick    chan struct{}
}

func (d *dispatcher) init(m *Manager) {
	d.m = m
	d.pending, d.last, d.running = map[action]bool{}, map[action]time.Time{}, map[action]bool{}
	d.sem = make(chan struct{}, m.cfg.Concurrency)
	d.kick = make(chan struct{}, 1)
}

// add queues an action (cheap: called from the HTTP handler).
func (d *dispatcher) add(a action) {
	d.mu.Lock()
	d.pending[a] = true
	d.mu.Unlock()
	kick(d.kick)
}

// run fires due actions until ctx ends, then waits for those running.
func (d *dispatcher) run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		wait := d.fire(ctx, &wg)
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-d.kick:
		case <-timer.C:
		}
	}
}

// fire starts every due action and returns how long until the next is due.
func (d *dispatcher) fire(ctx context.Context, wg *sync.WaitGroup) time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	wait := time.Hour
	for a := range d.pending {
		if d.running[a] {
			continue // fired again when it ends
		}
		if due := d.last[a].Add(d.m.cfg.Debounce); now.Before(due) {
			wait = min(wait, due.Sub(now))
			continue
		}
		delete(d.pending, a)
		d.running[a], d.last[a] = true, now
		wg.Go(func() {
			d.do(ctx, a)
			d.mu.Lock()
			delete(d.running, a)
			d.mu.Unlock()
			kick(d.kick)
		})
	}
	for a, t := range d.last { // forget quiet targets
		if !d.pending[a] && !d.running[a] && now.Sub(t) > d.m.cfg.Debounce {
			delete(d.last, a)
		}
	}
	return wait
}

// do runs one action.
func (d *dispatcher) do(ctx context.Context, a action) {
	deps, log := d.m.deps, d.m.log
	switch a.kind {
	case kindUsers:
		if deps.SyncUsers != nil {
			log.Debug("notifications: users changed; delta run asked")
			deps.SyncUsers()
		}
	case kindContacts:
		if deps.SyncContacts != nil {
			log.Debug("notifications: contacts changed; contacts run asked", "mailbox", a.key)
			deps.SyncContacts(a.key)
		}
	case kindPresence:
		if deps.RefreshPresence == nil {
			return
		}
		select {
		case d.sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		defer func() { <-d.sem }()
		if err := deps.RefreshPresence(ctx, a.key); err != nil && ctx.Err() == nil {
			log.Warn("notifications: presence refresh failed; the next calendar refresh retries", "user", a.key, "err", err)
		}
	}
}
