package presence

import (
	"container/heap"
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/pbx365/pbx365/pbxclient"
)

// path is what a pass must do for one user.
type path int

const (
	pathNone    path = iota
	pathEnter        // idle, the calendar asks for a status
	pathSwitch       // pbx365 set one status, the calendar now asks for another
	pathRestore      // pbx365 set a status and the block is over
)

// job is one user's work in a pass.
type job struct {
	id       string
	link     Link
	path     path
	want     Kind
	seg      Segment
	blockEnd time.Time
	old      UserState // stored state (zero when none)
	due      time.Time

	cur      string // PBX current profile
	profiles []pbxclient.Profile
	newState *UserState // written before the PBX write
	write    string     // profile to write ("" none)
	item     *AuditItem
	drop     bool // state to delete after the pass
	keep     *UserState
	err      string
	prot     bool
	hold     bool
}

// pass brings the users ids to what their timelines ask for now. due maps an
// id to the transition time that woke it (nil for a refresh).
func (e *Engine) pass(ctx context.Context, ids []string, due map[string]time.Time) error {
	e.passMu.Lock()
	defer e.passMu.Unlock()
	now := e.now()
	var jobs []*job
	var puts []UserState
	var drops []string
	e.mu.Lock()
	if err := e.loadStates(); err != nil {
		e.mu.Unlock()
		return err
	}
	settings := e.settings
	for _, id := range ids {
		u := e.users[id]
		st := e.states[id]
		var link Link
		var tl Timeline
		switch {
		case u != nil:
			link, tl = u.link, u.tl
		case st != nil:
			l, ok := e.others[id]
			if !ok {
				// Unlinked: nothing left to talk to.
				drops = append(drops, id)
				continue
			}
			link = l
		default:
			continue
		}
		if u != nil {
			u.protected = false
		}
		seg, bs, be, inBlock := tl.At(now)
		j := &job{id: id, link: link, due: due[id], seg: seg, blockEnd: be, want: seg.Kind}
		if st != nil {
			j.old = *st
		}
		switch {
		case st != nil && st.Set != "":
			switch {
			case !inBlock:
				j.path = pathRestore
			case eqFold(st.Set, settings.profileFor(seg.Kind)):
				if !st.Until.Equal(be) {
					n := *st
					n.Until = be
					puts = append(puts, n)
				}
			default:
				j.path = pathSwitch
			}
		case st != nil: // held
			if inBlock && !bs.After(st.Until) {
				if !st.Until.Equal(be) {
					n := *st
					n.Until = be
					puts = append(puts, n)
				}
				break
			}
			drops = append(drops, id)
			if inBlock && u != nil {
				j.path = pathEnter
			}
		case inBlock && u != nil:
			j.path = pathEnter
		}
		if j.path != pathNone {
			jobs = append(jobs, j)
		}
	}
	e.mu.Unlock()

	if len(jobs) > 0 {
		e.readPBX(ctx, jobs)
		for _, j := range jobs {
			e.decide(j, settings, now)
			if j.newState != nil {
				puts = append(puts, *j.newState)
			}
		}
	}
	// States are written before the PBX writes: a crash in between leaves a
	// state whose profile the PBX does not show, which the end of the block
	// then treats as a manual change (nothing is overwritten).
	if err := e.State.PutStates(puts); err != nil {
		return fmt.Errorf("write presence states: %w", err)
	}
	e.mu.Lock()
	for i := range puts {
		s := puts[i]
		e.states[s.ObjectID] = &s
	}
	e.mu.Unlock()
	e.writePBX(ctx, jobs)

	var after []UserState
	var items []AuditItem
	var changes []Change
	for _, j := range jobs {
		if j.drop {
			drops = append(drops, j.id)
		}
		if j.keep != nil {
			after = append(after, *j.keep)
		}
		if j.item != nil {
			items = append(items, *j.item)
			c := Change{Time: j.item.Time, Due: j.due, ObjectID: j.id, Number: j.link.Number, Action: j.item.Action,
				From: j.item.Before, To: j.item.After, Reason: j.item.Rule, Err: j.item.Err}
			if !j.item.OK && !j.item.Skipped {
				c.Action = "error"
			}
			changes = append(changes, c)
		} else if j.prot {
			changes = append(changes, Change{Time: now, Due: j.due, ObjectID: j.id, Number: j.link.Number, Action: "protected",
				From: j.cur, Reason: fmt.Sprintf("on protected profile %q: calendar %s ignored", j.cur, reason(j.seg))})
		} else if j.hold {
			changes = append(changes, Change{Time: now, Due: j.due, ObjectID: j.id, Number: j.link.Number, Action: "hold",
				From: j.cur, Reason: fmt.Sprintf("already on %q: nothing set, nothing to restore", j.cur)})
		} else if j.err != "" {
			changes = append(changes, Change{Time: now, Due: j.due, ObjectID: j.id, Number: j.link.Number, Action: "error", Err: j.err})
		}
	}
	var errs []error
	if err := e.State.DeleteStates(drops); err != nil {
		errs = append(errs, fmt.Errorf("delete presence states: %w", err))
	}
	if err := e.State.PutStates(after); err != nil {
		errs = append(errs, fmt.Errorf("write presence states: %w", err))
	}
	if err := e.State.Audit(items); err != nil {
		errs = append(errs, fmt.Errorf("audit presence changes: %w", err))
	}
	e.mu.Lock()
	for _, id := range drops {
		delete(e.states, id)
	}
	for i := range after {
		s := after[i]
		e.states[s.ObjectID] = &s
	}
	for _, j := range jobs {
		u := e.users[j.id]
		if u == nil {
			continue
		}
		u.protected = j.prot
		if j.err != "" {
			u.err = j.err
		}
		if j.path == pathEnter && j.write != "" && j.err == "" {
			u.since = now
		}
	}
	for _, id := range ids {
		e.scheduleLocked(id, now)
	}
	e.mu.Unlock()
	e.emit(changes...)
	if len(errs) > 0 {
		return fmt.Errorf("presence pass: %v", errs)
	}
	return nil
}

// profileFor maps a kind to its configured profile name.
func (s Settings) profileFor(k Kind) string {
	switch k {
	case KindBusy:
		return s.BusyProfile
	case KindAway:
		return s.AwayProfile
	}
	return ""
}

// readPBX reads each job's current profile (one list for many users) and,
// where a status may be set, its profile list.
func (e *Engine) readPBX(ctx context.Context, jobs []*job) {
	if len(jobs) >= bulkRead {
		all, err := e.PBX.ListUsers(ctx)
		if err == nil {
			byID := make(map[int32]string, len(all))
			for _, u := range all {
				byID[u.ID] = u.CurrentProfileName
			}
			for _, j := range jobs {
				cur, ok := byID[j.link.PBXUserID]
				if !ok {
					j.err = fmt.Sprintf("extension %s (Id %d) is not on the PBX", j.link.Number, j.link.PBXUserID)
				}
				j.cur = cur
			}
		} else {
			for _, j := range jobs {
				j.err = "read PBX users: " + err.Error()
			}
		}
	}
	e.forEach(ctx, jobs, func(j *job) {
		if j.err != "" {
			return
		}
		if len(jobs) < bulkRead {
			u, err := e.PBX.GetUser(ctx, j.link.PBXUserID)
			if err != nil {
				j.err = fmt.Sprintf("read extension %s: %v", j.link.Number, err)
				return
			}
			j.cur = u.CurrentProfileName
		}
		if j.path == pathRestore {
			return
		}
		ps, err := e.userProfiles(ctx, j.link.PBXUserID)
		if err != nil {
			j.err = fmt.Sprintf("read profiles of extension %s: %v", j.link.Number, err)
			return
		}
		j.profiles = ps
	})
}

func (e *Engine) userProfiles(ctx context.Context, id int32) ([]pbxclient.Profile, error) {
	now := e.now()
	e.mu.Lock()
	c, ok := e.profiles[id]
	e.mu.Unlock()
	if ok && now.Sub(c.at) < e.ProfileTTL {
		return c.list, nil
	}
	ps, err := e.PBX.UserProfiles(ctx, id)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.profiles[id] = profileCache{list: ps, at: now}
	e.mu.Unlock()
	return ps, nil
}

// decide chooses what to do for one job once the PBX was read.
func (e *Engine) decide(j *job, s Settings, now time.Time) {
	if j.err != "" {
		return
	}
	item := func(action, rule, before, after string) *AuditItem {
		return &AuditItem{Time: now, ObjectID: j.id, Number: j.link.Number, Action: action, Rule: rule, Before: before, After: after}
	}
	rsn := reason(j.seg)
	switch j.path {
	case pathRestore, pathSwitch:
		if !eqFold(j.cur, j.old.Set) {
			// A manual change during the meeting wins: forget the user.
			j.item = item("forget", fmt.Sprintf("manual change wins: the PBX shows %q, pbx365 set %q", j.cur, j.old.Set), j.old.Set, j.cur)
			j.item.Skipped = true
			if j.path == pathSwitch {
				j.keep = &UserState{ObjectID: j.id, Number: j.link.Number, Until: j.blockEnd}
			} else {
				j.drop = true
			}
			return
		}
		if j.path == pathRestore {
			j.write = j.old.Previous
			j.drop = true
			j.item = item("restore_profile", "calendar: last meeting ended", j.cur, j.old.Previous)
			return
		}
		want, err := resolveProfile(j.profiles, s.profileFor(j.want))
		if err != nil {
			j.err = fmt.Sprintf("extension %s: %v", j.link.Number, err)
			return
		}
		n := j.old
		n.Until = j.blockEnd
		if !eqFold(want, j.old.Set) {
			j.write = want
			n.Set = want
			j.item = item("set_profile", "calendar "+rsn, j.cur, want)
		}
		j.newState = &n
	case pathEnter:
		if isProtected(j.profiles, j.cur, s.Protected) {
			j.prot = true
			return
		}
		want, err := resolveProfile(j.profiles, s.profileFor(j.want))
		if err != nil {
			j.err = fmt.Sprintf("extension %s: %v", j.link.Number, err)
			return
		}
		if eqFold(j.cur, want) {
			// Already on that status: leave it, and restore nothing later.
			j.newState = &UserState{ObjectID: j.id, Number: j.link.Number, Until: j.blockEnd}
			j.hold = true
			return
		}
		j.write = want
		j.newState = &UserState{ObjectID: j.id, Number: j.link.Number, Set: want, Previous: j.cur, Until: j.blockEnd}
		j.item = item("set_profile", "calendar "+rsn, j.cur, want)
	}
}

// writePBX sends the profile writes, and undoes the state of those that failed.
func (e *Engine) writePBX(ctx context.Context, jobs []*job) {
	e.forEach(ctx, jobs, func(j *job) {
		if j.write == "" || j.err != "" {
			return
		}
		err := e.PBX.SetProfile(ctx, j.link.PBXUserID, j.write)
		if j.item != nil {
			j.item.Time = e.now()
		}
		if err == nil {
			if j.item != nil {
				j.item.OK = true
			}
			return
		}
		j.err = fmt.Sprintf("set profile %q on extension %s: %v", j.write, j.link.Number, err)
		if j.item != nil {
			j.item.Err = err.Error()
		}
		switch j.path {
		case pathEnter:
			j.drop = true // try again at the next refresh
		case pathSwitch:
			o := j.old
			j.keep = &o
		case pathRestore:
			j.drop = false // keep the state: the next refresh restores again
		}
	})
}

// forEach runs fn on the jobs, Concurrency at a time; jobs not started
// because ctx ended get its error.
func (e *Engine) forEach(ctx context.Context, jobs []*job, fn func(*job)) {
	parallel(ctx, e.Concurrency, jobs, fn, func(j *job, err error) { j.err = err.Error() })
}

// parallel runs fn on items, n at a time, until ctx ends (skipped items go
// to skip).
func parallel[T any](ctx context.Context, n int, items []T, fn func(T), skip func(T, error)) {
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for _, it := range items {
		if err := ctx.Err(); err != nil {
			skip(it, err)
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			fn(it)
		}()
	}
	wg.Wait()
}

// prefetchProfiles reads, ahead of time, the profile lists of the users
// whose next transition (before the next refresh) sets a status, so the
// transition itself is one read and one write.
func (e *Engine) prefetchProfiles(ctx context.Context, now time.Time) {
	e.mu.Lock()
	horizon := now.Add(e.settings.Refresh)
	var ids []int32
	for id, u := range e.users {
		if u.next.IsZero() || u.next.After(horizon) || e.states[id] != nil {
			continue
		}
		if c, ok := e.profiles[u.link.PBXUserID]; ok && u.next.Sub(c.at) < e.ProfileTTL {
			continue
		}
		if seg, _, _, ok := u.tl.At(u.next); ok && seg.Kind != KindNone {
			ids = append(ids, u.link.PBXUserID)
		}
	}
	e.mu.Unlock()
	parallel(ctx, e.Concurrency, ids, func(id int32) {
		if _, err := e.userProfiles(ctx, id); err != nil {
			e.Log.Debug("prefetch profiles", "pbx_user", id, "err", err)
		}
	}, func(int32, error) {})
}

// resolveProfile finds the internal Name of a configured profile, matched on
// Name, then CustomName, case-insensitively.
func resolveProfile(ps []pbxclient.Profile, want string) (string, error) {
	for _, p := range ps {
		if eqFold(p.Name, want) {
			return p.Name, nil
		}
	}
	for _, p := range ps {
		if p.CustomName != "" && eqFold(p.CustomName, want) {
			return p.Name, nil
		}
	}
	names := make([]string, 0, len(ps))
	for _, p := range ps {
		n := p.Name
		if p.CustomName != "" {
			n += " (" + p.CustomName + ")"
		}
		names = append(names, n)
	}
	return "", fmt.Errorf("%w: %q (the user has %s); check calendar.busy_profile / calendar.away_profile", errNoProfile, want, strings.Join(names, ", "))
}

// isProtected reports whether the current profile (an internal Name) is
// protected by its name or its custom name.
func isProtected(ps []pbxclient.Profile, cur string, protected []string) bool {
	names := []string{cur}
	for _, p := range ps {
		if eqFold(p.Name, cur) && p.CustomName != "" {
			names = append(names, p.CustomName)
		}
	}
	for _, n := range names {
		for _, pr := range protected {
			if eqFold(n, pr) {
				return true
			}
		}
	}
	return false
}

// --- timers -------------------------------------------------------------

type timerEntry struct {
	at  time.Time
	id  string
	gen uint64
}

type timerHeap []timerEntry

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h timerHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)        { *h = append(*h, x.(timerEntry)) }
func (h *timerHeap) Pop() any          { o := *h; x := o[len(o)-1]; *h = o[:len(o)-1]; return x }

// scheduleLocked sets a user's next transition (e.mu held).
func (e *Engine) scheduleLocked(id string, now time.Time) {
	u := e.users[id]
	if u == nil {
		return
	}
	next := u.tl.Next(now)
	if st := e.states[id]; st != nil && st.Until.After(now) && (next.IsZero() || st.Until.Before(next)) {
		next = st.Until
	}
	if next.Equal(u.next) && !next.IsZero() {
		return
	}
	u.gen++
	u.next = next
	if next.IsZero() {
		return
	}
	wasFirst := e.heap.Len() == 0 || next.Before(e.heap[0].at)
	heap.Push(&e.heap, timerEntry{at: next, id: id, gen: u.gen})
	if wasFirst {
		select {
		case e.wake <- struct{}{}:
		default:
		}
	}
}

// fired is the clock timer's callback: the loop re-arms even when the clock
// reads a hair before the deadline.
func (e *Engine) fired() {
	e.mu.Lock()
	e.timerAt = time.Time{}
	e.mu.Unlock()
	e.poke()
}

func (e *Engine) poke() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// timerLoop runs due transitions: one clock timer for the earliest entry of
// the heap, whatever the number of users.
func (e *Engine) timerLoop(ctx context.Context) {
	defer func() {
		e.mu.Lock()
		if e.timer != nil {
			e.timer.Stop()
			e.timer, e.timerAt = nil, time.Time{}
		}
		e.mu.Unlock()
	}()
	for {
		e.mu.Lock()
		for e.heap.Len() > 0 {
			top := e.heap[0]
			if u := e.users[top.id]; u == nil || u.gen != top.gen {
				heap.Pop(&e.heap)
				continue
			}
			break
		}
		var due map[string]time.Time
		again := false
		if e.heap.Len() > 0 {
			now := e.now()
			if !e.heap[0].at.After(now) {
				due = map[string]time.Time{}
				for e.heap.Len() > 0 && !e.heap[0].at.After(now) {
					x := heap.Pop(&e.heap).(timerEntry)
					if u := e.users[x.id]; u != nil && u.gen == x.gen {
						due[x.id] = x.at
						u.next = time.Time{}
					}
				}
			} else if !e.timerAt.Equal(e.heap[0].at) {
				if e.timer != nil {
					e.timer.Stop()
				}
				e.timerAt = e.heap[0].at
				e.timer = e.Clock.AfterFunc(e.heap[0].at.Sub(now), e.fired)
				// The clock may have moved on between reading now and arming
				// (a manual clock jumps; a loaded machine is slow): the timer
				// then counts from the later time. Go round again when the
				// top is due already, rather than wait for that timer.
				if again = !e.heap[0].at.After(e.now()); again {
					e.timerAt = time.Time{} // that timer is late: re-arm next time
				}
			}
		}
		e.mu.Unlock()
		if again {
			continue
		}
		if len(due) > 0 {
			ids := make([]string, 0, len(due))
			for id := range due {
				ids = append(ids, id)
			}
			if err := e.pass(ctx, ids, due); err != nil && ctx.Err() == nil {
				e.Log.Warn("calendar presence transition failed", "users", len(ids), "err", err)
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-e.wake:
		}
	}
}
