package notify

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/pbx365/pbx365/graphclient"
	"github.com/pbx365/pbx365/store"
)

// Lifecycle events (graph.md §5.5).
const (
	lifecycleReauthorize = "reauthorizationRequired"
	lifecycleRemoved     = "subscriptionRemoved"
	lifecycleMissed      = "missed"
)

// manage reconciles the subscriptions until ctx ends: at once, then when a
// renewal or retry is due, the targets are to be re-read, or a lifecycle
// event or Refresh asks.
func (m *Manager) manage(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-m.poke:
		}
		next := m.reconcile(ctx)
		timer.Reset(max(next.Sub(m.cfg.Now()), 10*time.Millisecond))
	}
}

// newClientState is 32 random bytes, base64url (43 characters; Graph allows 128).
func newClientState() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand never fails on supported systems
	return base64.RawURLEncoding.EncodeToString(b)
}

// lifetime is the lifetime asked for a resource.
func (m *Manager) lifetime(resource string) time.Duration {
	if resource == resUsers {
		return m.cfg.UsersLifetime
	}
	return m.cfg.OutlookLifetime
}

// renewAt is when a subscription is renewed: at 75% of its lifetime.
func renewAt(s *store.Subscription) time.Time {
	return s.Renewed.Add(s.Expiration.Sub(s.Renewed) * 3 / 4)
}

// reconcile does one round and returns when the next is due.
func (m *Manager) reconcile(ctx context.Context) time.Time {
	now := m.cfg.Now()
	next := now.Add(m.cfg.Recheck)
	if err := m.load(); err != nil {
		m.log.Error("notifications: read the stored subscriptions", "err", err)
		return now.Add(m.cfg.RetryMin)
	}
	m.lifecycleEvents()
	m.readTargets(ctx, now)
	m.listRemote(ctx)
	var wg sync.WaitGroup
	sem := make(chan struct{}, m.cfg.Concurrency)
	run := func(f func()) {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Go(func() {
			defer func() { <-sem }()
			f()
		})
	}
	m.mu.Lock()
	resources := make([]string, 0, len(m.byRes))
	for r := range m.byRes {
		resources = append(resources, r)
	}
	m.mu.Unlock()
	slices.Sort(resources)
	for _, res := range resources {
		m.mu.Lock()
		e := m.byRes[res]
		sub := m.subOf(res)
		var action func()
		switch {
		case now.Before(e.retryAt):
			next = minTime(next, e.retryAt)
		case !e.wanted || sub != nil && sub.NotificationURL != m.public:
			if wanted := e.wanted; sub != nil {
				action = func() { m.remove(ctx, res, sub.ID, wanted) }
			} else {
				delete(m.byRes, res)
			}
		case sub == nil:
			action = func() { m.create(ctx, res) }
		case e.renewNow || !now.Before(renewAt(sub)):
			action = func() { m.renew(ctx, res, sub.ID) }
		default:
			next = minTime(next, renewAt(sub))
		}
		m.mu.Unlock()
		if action != nil {
			run(action)
		}
	}
	wg.Wait()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.byRes { // what changed in this round
		switch {
		case e.retryAt.After(now):
			next = minTime(next, e.retryAt)
		case e.sub != nil && !e.renewNow:
			next = minTime(next, renewAt(e.sub))
		case e.wanted || e.sub != nil:
			next = now // removed for another URL, or a reauthorization arrived meanwhile
		}
	}
	next = minTime(next, m.due)
	if m.list {
		next = minTime(next, now.Add(m.backoff(m.lfails)))
	}
	return next
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// subOf returns the live subscription of a resource (caller holds m.mu).
func (m *Manager) subOf(resource string) *store.Subscription {
	if e := m.byRes[resource]; e != nil {
		return e.sub
	}
	return nil
}

// load reads the stored subscriptions once.
func (m *Manager) load() error {
	m.mu.Lock()
	loaded := m.loaded
	m.mu.Unlock()
	if loaded {
		return nil
	}
	subs, err := m.deps.Store.Subscriptions()
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range subs {
		s := &subs[i]
		m.byID[s.ID] = s
		e := orNew(m.byRes[s.Resource])
		e.sub = s
		m.byRes[s.Resource] = e
	}
	m.loaded = true
	return nil
}

// readTargets re-reads the wanted resources when due. On failure the wanted
// set stays as it was (nothing is removed because a read failed) and the read
// is retried with backoff.
func (m *Manager) readTargets(ctx context.Context, now time.Time) {
	m.mu.Lock()
	due := !now.Before(m.due)
	m.mu.Unlock()
	if !due {
		return
	}
	want := map[string]bool{resUsers: true}
	if m.deps.Targets != nil {
		t, err := m.deps.Targets(ctx)
		if err != nil {
			m.mu.Lock()
			m.byRes[resUsers] = orNew(m.byRes[resUsers])
			m.byRes[resUsers].wanted = true
			m.tfails++
			d := m.backoff(m.tfails)
			m.due = now.Add(d)
			m.mu.Unlock()
			m.log.Warn("notifications: read the calendar and contact users; keeping the current subscriptions", "err", err, "retry_in", d)
			return
		}
		for _, id := range t.Calendar {
			want[eventsResource(id)] = true
		}
		for _, mb := range t.Contacts {
			want[contactsResource(mb)] = true
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for res := range want {
		m.byRes[res] = orNew(m.byRes[res])
	}
	for res, e := range m.byRes {
		e.wanted = want[res]
	}
	m.tfails, m.due = 0, now.Add(m.cfg.Recheck)
}

func orNew(e *entry) *entry {
	if e == nil {
		return &entry{}
	}
	return e
}

// listRemote compares Graph's subscriptions with ours (at start and after a
// failure): ours that Graph no longer has are forgotten (and recreated with a
// resync), subscriptions to our URL that we do not know are deleted.
func (m *Manager) listRemote(ctx context.Context) {
	m.mu.Lock()
	need := m.list
	m.mu.Unlock()
	if !need {
		return
	}
	remote, err := m.deps.Graph.ListSubscriptions(ctx)
	if err != nil {
		m.mu.Lock()
		m.lfails++
		d := m.backoff(m.lfails)
		m.mu.Unlock()
		m.log.Warn("notifications: list subscriptions failed; polling goes on", "err", err, "retry_in", d)
		return
	}
	live := map[string]bool{}
	var orphans []string
	m.mu.Lock()
	for _, r := range remote {
		live[r.ID] = true
		if m.byID[r.ID] == nil && r.NotificationURL == m.public {
			orphans = append(orphans, r.ID)
		}
	}
	var gone []*store.Subscription
	for id, s := range m.byID {
		if !live[id] {
			gone = append(gone, s)
		}
	}
	m.list, m.lfails = false, 0
	m.mu.Unlock()
	for _, s := range gone {
		m.log.Info("notifications: subscription missing at Graph; recreating it", "resource", s.Resource, "subscription", s.ID)
		m.forget(s, true, false)
	}
	for _, id := range orphans {
		if err := m.deps.Graph.DeleteSubscription(ctx, id); err != nil {
			m.log.Warn("notifications: delete an unknown subscription to our URL", "subscription", id, "err", err)
		} else {
			m.log.Info("notifications: deleted an unknown subscription to our URL", "subscription", id)
		}
	}
}

// forget drops a subscription from memory and the store; resync marks its
// resource for a sync once recreated, drop forgets the resource too.
func (m *Manager) forget(s *store.Subscription, resync, drop bool) {
	m.mu.Lock()
	delete(m.byID, s.ID)
	e := orNew(m.byRes[s.Resource])
	m.byRes[s.Resource] = e
	if e.sub != nil && e.sub.ID == s.ID {
		e.sub = nil
	}
	e.resync = e.resync || resync
	if drop {
		delete(m.byRes, s.Resource)
	}
	m.mu.Unlock()
	if err := m.deps.Store.DeleteSubscription(s.Resource); err != nil {
		m.log.Error("notifications: forget a subscription in the store", "resource", s.Resource, "err", err)
	}
}

// failed records a failed Graph call for a resource: backoff, and a listing
// of Graph's subscriptions before the next round.
func (m *Manager) failed(resource, op string, err error) {
	m.mu.Lock()
	e := orNew(m.byRes[resource])
	m.byRes[resource] = e
	e.fails++
	d := m.backoff(e.fails)
	e.retryAt = m.cfg.Now().Add(d)
	m.list = true
	m.mu.Unlock()
	m.log.Warn("notifications: "+op+" failed; polling goes on", "resource", resource, "err", err, "retry_in", d)
}

// succeeded records a created or renewed subscription: in memory first (Graph
// may notify at once), then in the store.
func (m *Manager) succeeded(s store.Subscription) (resync bool) {
	m.mu.Lock()
	if old := m.byRes[s.Resource]; old != nil && old.sub != nil && old.sub.ID != s.ID {
		delete(m.byID, old.sub.ID)
	}
	m.byID[s.ID] = &s
	e := orNew(m.byRes[s.Resource])
	m.byRes[s.Resource] = e
	e.sub = &s
	e.fails, e.retryAt, e.renewNow = 0, time.Time{}, false
	resync, e.resync = e.resync, false
	m.mu.Unlock()
	if err := m.deps.Store.PutSubscription(s); err != nil {
		m.log.Error("notifications: store a subscription; it is deleted and made again after a restart", "resource", s.Resource, "err", err)
	}
	return resync
}

// create makes the subscription of a resource. Graph validates our URL
// before it answers, so the listener is up by now.
func (m *Manager) create(ctx context.Context, resource string) {
	now := m.cfg.Now()
	req := graphclient.Subscription{Resource: resource, ChangeType: "updated,deleted", NotificationURL: m.public,
		LifecycleURL: m.public, ClientState: newClientState(), Expiration: now.Add(m.lifetime(resource)).UTC()}
	if resource != resUsers {
		req.ChangeType = "created,updated,deleted"
	}
	got, err := m.deps.Graph.CreateSubscription(ctx, req)
	if err != nil {
		m.failed(resource, "create subscription", err)
		return
	}
	s := store.Subscription{Resource: resource, ID: got.ID, ClientState: req.ClientState, NotificationURL: m.public,
		Expiration: got.Expiration, Renewed: now}
	if s.Expiration.IsZero() {
		s.Expiration = req.Expiration
	}
	m.log.Info("notifications: subscribed", "resource", resource, "subscription", s.ID, "expires", s.Expiration)
	if m.succeeded(s) {
		m.d.add(actionFor(resource)) // recreated: changes may have been missed
	}
}

// renew moves a subscription's expiry out by its lifetime; one Graph no
// longer has is recreated.
func (m *Manager) renew(ctx context.Context, resource, id string) {
	now := m.cfg.Now()
	got, err := m.deps.Graph.RenewSubscription(ctx, id, now.Add(m.lifetime(resource)).UTC())
	if graphclient.IsNotFound(err) {
		m.log.Info("notifications: subscription gone at Graph; recreating it", "resource", resource, "subscription", id)
		m.mu.Lock()
		s := m.byID[id]
		m.mu.Unlock()
		if s != nil {
			m.forget(s, true, false)
		}
		m.create(ctx, resource)
		return
	}
	if err != nil {
		m.failed(resource, "renew subscription", err)
		return
	}
	m.mu.Lock()
	old := m.byID[id]
	m.mu.Unlock()
	if old == nil {
		return
	}
	s := *old
	s.Expiration, s.Renewed = got.Expiration, now
	m.log.Info("notifications: renewed", "resource", resource, "subscription", id, "expires", s.Expiration)
	m.succeeded(s)
}

// remove deletes a subscription no longer wanted (or made for another URL;
// then, if still wanted, the next round recreates it).
func (m *Manager) remove(ctx context.Context, resource, id string, wanted bool) {
	if err := m.deps.Graph.DeleteSubscription(ctx, id); err != nil {
		m.failed(resource, "delete subscription", err)
		return
	}
	m.mu.Lock()
	s := m.byID[id]
	m.mu.Unlock()
	if s != nil {
		m.forget(s, false, !wanted)
	}
	m.log.Info("notifications: unsubscribed", "resource", resource, "subscription", id)
}

// lifecycleEvents handles the lifecycle events received since the last round:
// reauthorizationRequired renews at once, subscriptionRemoved recreates and
// resyncs, missed resyncs.
func (m *Manager) lifecycleEvents() {
	m.mu.Lock()
	events := m.events
	m.events = map[string]string{}
	m.mu.Unlock()
	for id, ev := range events {
		m.mu.Lock()
		s := m.byID[id]
		m.mu.Unlock()
		if s == nil {
			continue
		}
		m.log.Info("notifications: lifecycle event", "event", ev, "resource", s.Resource, "subscription", id)
		switch ev {
		case lifecycleReauthorize:
			m.mu.Lock()
			if e := m.byRes[s.Resource]; e != nil {
				e.renewNow, e.retryAt = true, time.Time{}
			}
			m.mu.Unlock()
		case lifecycleRemoved:
			m.forget(s, true, false)
		case lifecycleMissed:
			m.d.add(actionFor(s.Resource))
		default:
			m.log.Warn("notifications: unknown lifecycle event ignored", "event", ev, "subscription", id)
		}
	}
}

// Subscription is one subscription as status screens show it.
type Subscription struct {
	Resource   string
	ID         string
	Expiration time.Time
	RenewAt    time.Time
	Err        string // why the last Graph call for it failed, with the retry time
}

// Subscriptions lists the manager's subscriptions and failing resources, by resource.
func (m *Manager) Subscriptions() []Subscription {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Subscription
	for res, e := range m.byRes {
		s := Subscription{Resource: res}
		if sub := m.subOf(res); sub != nil {
			s.ID, s.Expiration, s.RenewAt = sub.ID, sub.Expiration, renewAt(sub)
		}
		if e.fails > 0 {
			s.Err = fmt.Sprintf("%d failed attempts; next at %s", e.fails, e.retryAt.Format(time.RFC3339))
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Subscription) int {
		if a.Resource < b.Resource {
			return -1
		}
		if a.Resource > b.Resource {
			return 1
		}
		return 0
	})
	return out
}
