package contacts

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/pbx365/pbx365/pbxclient"
	"github.com/pbx365/pbx365/sync/plan"
	"github.com/pbx365/pbx365/sync/progress"
)

// Run is a plan being applied (see progress.Run).
type Run = progress.Run

// ApplyOptions say how a plan is applied.
type ApplyOptions struct {
	Kind string // run kind for the audit log ("full", "delta", "tui"); default from the plan
}

// ErrStale reports a plan that does not match its hash.
var ErrStale = errors.New("contact plan does not match its hash: preview it again")

// chunk is how many writes of one phonebook share an intent transaction and
// a settlement transaction.
const chunk = 64

// Apply executes exactly p, which was made from snap. It returns at once; the
// run goes on in the background and reports on Run.Events.
func (e *Engine) Apply(ctx context.Context, p Plan, snap *Snapshot, opt ApplyOptions) (*Run, error) {
	if snap == nil {
		return nil, errors.New("apply contacts: no snapshot: make the plan with Engine.Plan first")
	}
	if Hash(p) != p.Hash {
		return nil, ErrStale
	}
	return progress.StartRecorded(ctx, e.State, opt.Kind, p.Full, p.Hash, e.Interval, func(rctx context.Context, runID uint64, em *progress.Emitter) progress.Summary {
		return e.run(rctx, runID, p, snap, em)
	})
}

// book is the work of one phonebook.
type book struct {
	name, number string
	changes      []Change
}

func (e *Engine) run(ctx context.Context, runID uint64, p Plan, snap *Snapshot, em *progress.Emitter) (sum progress.Summary) {
	sum = progress.Summary{RunID: runID, Started: e.now(), Done: map[plan.Action]int{}, Failed: map[plan.Action]int{}}
	defer func() { sum.Finished = e.now() }()

	var notes []AuditItem
	var books []*book
	idx := map[string]*book{}
	held := map[string]bool{} // token sets (DeltaPrefix) that must not advance
	total := 0
	for _, c := range p.Changes {
		if c.Action == plan.ActSkip {
			notes = append(notes, AuditItem{RunID: runID, Time: e.now(), ObjectID: c.Mailbox, UPN: c.Label, Number: c.Number,
				Action: c.Action, Rule: c.Rule, After: named(c, nil), Err: c.Reason, Skipped: true})
			sum.Skipped++
			if c.Rule == "quota.personal" || c.Rule == "quota.company" {
				held[DeltaPrefix(c.Phonebook, c.Mailbox)] = true // seen again once there is room
			}
			continue
		}
		b := idx[c.Phonebook]
		if b == nil {
			b = &book{name: c.Phonebook, number: c.Number}
			idx[c.Phonebook] = b
			books = append(books, b)
		}
		b.changes = append(b.changes, c)
		total++
	}
	if err := e.State.AppendAudit(notes); err != nil {
		sum.Err = fmt.Sprintf("write audit log: %v", err)
		return sum
	}
	em.Phase(progress.PhaseApply, total)
	conc := e.Concurrency
	if conc <= 0 {
		conc = defaultConcurrency
	}
	var mu sync.Mutex
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	for _, b := range books {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			w := &writer{e: e, runID: runID, b: b, em: em}
			w.run(ctx)
			mu.Lock()
			defer mu.Unlock()
			for a, n := range w.done {
				sum.Done[a] += n
			}
			for a, n := range w.failed {
				sum.Failed[a] += n
			}
			sum.Skipped += w.skipped
			for mb := range w.held {
				held[DeltaPrefix(b.name, mb)] = true
			}
			if w.err != "" && sum.Err == "" {
				sum.Err = w.err
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		sum.Canceled = true
		return sum
	}
	// Advance a source's tokens only when all its changes landed, so what
	// failed (or did not fit) is seen again by the next incremental run.
	save := map[string]map[string]string{}
	for prefix, links := range snap.DeltaLinks {
		if !held[prefix] {
			save[prefix] = links
		}
	}
	if len(save) > 0 {
		if err := e.State.SaveDeltaLinks(save); err != nil && sum.Err == "" {
			sum.Err = fmt.Sprintf("save contact delta tokens: %v", err)
		}
	}
	return sum
}

// writer applies one phonebook's changes in plan order, chunk by chunk:
// intents stored, PBX writes, then maps, settlements and audit items.
type writer struct {
	e       *Engine
	runID   uint64
	b       *book
	em      *progress.Emitter
	done    map[plan.Action]int
	failed  map[plan.Action]int
	skipped int
	held    map[string]bool
	full    string // set once the PBX said LIMIT_REACHED: no further creates
	err     string
}

func (w *writer) run(ctx context.Context) {
	w.done, w.failed, w.held = map[plan.Action]int{}, map[plan.Action]int{}, map[string]bool{}
	for i := 0; i < len(w.b.changes); i += chunk {
		if ctx.Err() != nil {
			return
		}
		part := w.b.changes[i:min(i+chunk, len(w.b.changes))]
		if !w.chunk(context.WithoutCancel(ctx), part) {
			return
		}
	}
}

// chunk applies up to chunk changes; false stops the phonebook (the store
// failed, so nothing more may be written).
func (w *writer) chunk(ctx context.Context, part []Change) bool {
	e := w.e
	ins := make([]Intent, len(part))
	for i, c := range part {
		ins[i] = Intent{RunID: w.runID, Action: c.Action, Phonebook: c.Phonebook, Number: c.Number, Mailbox: c.Mailbox,
			SourceID: c.SourceID, Tag: c.Tag, PBXID: c.PBXContactID}
	}
	ids, err := e.State.PutIntents(ins)
	if err != nil {
		w.err = fmt.Sprintf("store intents of %s: %v", w.b.name, err)
		for _, c := range part {
			w.fail(c, w.err)
		}
		return false
	}
	sts := make([]Settlement, 0, len(part))
	items := make([]progress.Item, 0, len(part))
	for i, c := range part {
		it := progress.Item{Action: c.Action, ObjectID: c.Mailbox, UPN: itemLabel(c), Number: c.Number}
		item := &AuditItem{RunID: w.runID, Time: e.now(), ObjectID: c.Mailbox, UPN: c.Label, Number: c.Number, Action: c.Action,
			Rule: c.Rule, Before: before(c), After: after(c)}
		st := Settlement{IntentID: ids[i], Item: item}
		if w.full != "" && (c.Action == plan.ActCreate || c.Action == plan.ActRecreate) {
			st.Outcome, item.Skipped, item.Err = "absent", true, w.full
			it.Action, it.OK, it.Err = plan.ActSkip, true, w.full
			w.skipped++
			w.held[c.Mailbox] = true
			sts, items = append(sts, st), append(items, it)
			continue
		}
		w.em.Current(fmt.Sprintf("%s %s %s", c.Action, c.Phonebook, c.Name))
		m, err := w.write(ctx, c)
		switch {
		case err == nil:
			st.Outcome, item.OK, it.OK = "ok", true, true
			if c.Action == plan.ActDelete {
				st.Drop = &Map{Phonebook: c.Phonebook, SourceID: sourceKey(c.Mailbox, c.SourceID)}
				if c.SourceID == "" {
					st.Drop = nil // an orphan: it never had a map
				}
			} else {
				st.Put = m
			}
		case errors.Is(err, pbxclient.ErrOutcomeUnknown):
			// Leave the intent open: the next run looks the entry up by its marker.
			e.log().Warn("PBX write outcome unknown; the next run settles it", "action", c.Action, "phonebook", c.Phonebook, "err", err)
			it.Err = err.Error() + " (the next run looks it up)"
			st = Settlement{}
			w.held[c.Mailbox] = true
		default:
			st.Outcome, item.Err, it.Err = "failed", err.Error(), err.Error()
			w.held[c.Mailbox] = true
			if errors.Is(err, pbxclient.ErrLimitReached) && (c.Action == plan.ActCreate || c.Action == plan.ActRecreate) {
				w.full = fmt.Sprintf("not written: the PBX refused an earlier entry of %s as over its limit (LIMIT_REACHED)", w.b.name)
				it.Err = fmt.Sprintf("%s is full: the PBX answered LIMIT_REACHED; further creates in it are skipped this run (raise PersonalContactsMaxCount / DepartmentContactsMaxCount on the PBX): %v", w.b.name, err)
				item.Err = it.Err
			}
		}
		if st.IntentID != 0 {
			sts = append(sts, st)
		}
		items = append(items, it)
	}
	if err := e.State.Settle(sts); err != nil {
		w.err = fmt.Sprintf("settle writes of %s: %v", w.b.name, err)
		for i := range items {
			items[i].OK, items[i].Err = false, w.err
		}
		w.report(items)
		return false
	}
	w.report(items)
	return true
}

func (w *writer) report(items []progress.Item) {
	for _, it := range items {
		switch {
		case it.Action == plan.ActSkip:
		case it.OK:
			w.done[it.Action]++
		default:
			w.failed[it.Action]++
		}
		w.em.Item(it)
	}
}

func (w *writer) fail(c Change, msg string) {
	w.failed[c.Action]++
	w.em.Item(progress.Item{Action: c.Action, ObjectID: c.Mailbox, UPN: itemLabel(c), Number: c.Number, Err: msg})
}

func itemLabel(c Change) string {
	if c.Label == "" {
		return c.Name
	}
	return c.Name + " (" + c.Label + ")"
}

// write performs the PBX side of one change and returns the map to store.
func (w *writer) write(ctx context.Context, c Change) (*Map, error) {
	pbx := w.e.PBX
	key := sourceKey(c.Mailbox, c.SourceID)
	switch c.Action {
	case plan.ActCreate, plan.ActRecreate:
		if c.Desired == nil {
			return nil, errors.New("plan change has no desired entry")
		}
		x, err := w.create(ctx, *c.Desired)
		if errors.Is(err, pbxclient.ErrOutcomeUnknown) {
			found, ok, lerr := w.lookup(ctx, c.Tag)
			switch {
			case lerr != nil:
				return nil, err
			case ok:
				x, err = found, nil
			default:
				x, err = w.create(ctx, *c.Desired) // looked: it did not happen
			}
		}
		if err != nil {
			return nil, fmt.Errorf("create entry %q in %s: %w", c.Name, c.Phonebook, err)
		}
		return &Map{Phonebook: c.Phonebook, SourceID: key, PBXContactID: x.ID, Hash: EntryHash(*c.Desired)}, nil
	case plan.ActAdopt, plan.ActUpdate:
		if c.Desired == nil {
			return nil, errors.New("plan change has no desired entry")
		}
		if len(c.Fields) > 0 {
			if err := pbx.UpdateContact(ctx, c.PBXContactID, *c.Desired); err != nil {
				return nil, fmt.Errorf("update entry %q (%d) in %s: %w", c.Name, c.PBXContactID, c.Phonebook, err)
			}
		}
		return &Map{Phonebook: c.Phonebook, SourceID: key, PBXContactID: c.PBXContactID, Hash: EntryHash(*c.Desired)}, nil
	case plan.ActDelete:
		if c.PBXContactID == 0 {
			return nil, nil // the entry is gone already: only the map goes
		}
		if err := pbx.DeleteContacts(ctx, []int32{c.PBXContactID}); err != nil && !errors.Is(err, pbxclient.ErrNotFound) {
			return nil, fmt.Errorf("delete entry %q (%d) from %s: %w", c.Name, c.PBXContactID, c.Phonebook, err)
		}
		return nil, nil
	}
	return nil, fmt.Errorf("cannot apply action %q to a contact", c.Action)
}

func (w *writer) create(ctx context.Context, d pbxclient.Contact) (pbxclient.Contact, error) {
	if w.b.number != "" {
		return w.e.PBX.CreatePersonalContact(ctx, w.b.number, d)
	}
	return w.e.PBX.CreateCompanyContact(ctx, d)
}

// lookup finds this phonebook's entry carrying tag.
func (w *writer) lookup(ctx context.Context, tag string) (pbxclient.Contact, bool, error) {
	entries, err := readPhonebook(ctx, w.e.PBX, w.b.number)
	if err != nil {
		return pbxclient.Contact{}, false, err
	}
	return byTag(entries, tag)
}

func readPhonebook(ctx context.Context, pbx pbxclient.Port, number string) ([]pbxclient.Contact, error) {
	if number != "" {
		return pbx.PersonalContacts(ctx, number)
	}
	return pbx.CompanyContacts(ctx)
}

func byTag(entries []pbxclient.Contact, tag string) (pbxclient.Contact, bool, error) {
	for _, x := range entries {
		if x.Tag == tag {
			return x, true, nil
		}
	}
	return pbxclient.Contact{}, false, nil
}

func before(c Change) map[string]string {
	if len(c.Fields) == 0 {
		return nil
	}
	m := make(map[string]string, len(c.Fields))
	for _, f := range c.Fields {
		m[f.Field] = f.Old
	}
	return m
}

func after(c Change) map[string]string {
	m := map[string]string{}
	for _, f := range c.Fields {
		m[f.Field] = f.New
	}
	if c.Tag != "" {
		m["Tag"] = c.Tag
	}
	return named(c, m)
}

// named adds the phonebook and the contact's name to an audit item's after.
func named(c Change, m map[string]string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m["Phonebook"] = c.Phonebook
	if c.Name != "" {
		m["Contact"] = c.Name
	}
	return m
}
