// Package contacts is the contact-sync engine: each synced user's Outlook
// contacts → that user's personal phonebook on the PBX, and the contacts of
// chosen shared mailboxes → the company phonebook. One way, and only entries
// pbx365 wrote are ever changed or removed: each carries pbx365's own marker
// in Pbx.Contact Tag ("pbx365:" + a stable id of mailbox and source contact),
// and the store's contact map (phonebook, source id → PBX contact id) is the
// primary index.
//
// Like user sync, a run reads (contact delta per mailbox folder with stored
// tokens; a rejected token falls back to a full compare), plans with a pure
// planner (same input, same plan, tied by a hash), and applies exactly that
// plan crash-safely: intents are stored before PBX writes and settled after
// them; the next run settles what a crash left open by looking entries up by
// their marker.
package contacts

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
	"github.com/pbx365/pbx365/sync/plan"
	"github.com/pbx365/pbx365/sync/progress"
	"github.com/pbx365/pbx365/sync/users"
)

// Directory is what the engine reads from Microsoft 365 (graphclient.Client).
type Directory interface {
	ContactFolders(ctx context.Context, userID string) ([]graphclient.ContactFolder, error)
	ContactsDelta(ctx context.Context, userID, folderID, deltaLink string) (graphclient.ContactDelta, error)
}

// Map ties a source contact to the PBX entry pbx365 wrote for it.
type Map struct {
	Phonebook    string // CompanyBook or "user/<number>"
	SourceID     string // "<mailbox>/<Outlook contact id>"
	PBXContactID int32
	Hash         string // of the entry's fields as last written
}

// Intent is a PBX write about to happen, stored before it is sent.
type Intent struct {
	ID        uint64
	RunID     uint64
	Action    plan.Action
	Phonebook string
	Number    string // extension of a personal phonebook ("" for the company one)
	Mailbox   string
	SourceID  string
	Tag       string
	PBXID     int32
}

// AuditItem is one line of the audit log, as user sync writes it: ObjectID
// is the source mailbox, UPN its address, Number the extension whose
// phonebook it is, and After names the contact.
type AuditItem = users.AuditItem

// Settlement closes an intent: the map to write or drop and the audit item.
type Settlement struct {
	IntentID uint64 // 0: no intent (a map-only change)
	Outcome  string // ok, failed, absent, replanned
	Put      *Map
	Drop     *Map
	Item     *AuditItem
}

// State is what the engine keeps in the store.
type State interface {
	Settings() (Settings, error)
	Links() ([]plan.Link, error)
	Maps(phonebook string) ([]Map, error)
	// DeltaLinks returns the stored contact delta tokens of one source (the
	// names under a DeltaPrefix), by name.
	DeltaLinks(prefix string) (map[string]string, error)
	// SaveDeltaLinks makes each source's tokens (by DeltaPrefix, then name)
	// the whole set stored under its prefix, in one transaction: a folder's
	// token not given is dropped.
	SaveDeltaLinks(byPrefix map[string]map[string]string) error
	BeginRun(kind, planHash string) (uint64, error)
	EndRun(runID uint64, sum progress.Summary) error
	OpenIntents() ([]Intent, error)
	// PutIntents stores intents in one transaction and returns their ids.
	PutIntents(ins []Intent) ([]uint64, error)
	// Settle writes maps, closes intents and appends audit items.
	Settle(ss []Settlement) error
	AppendAudit(items []AuditItem) error
}

// Settings are the contacts.* settings and the phone region.
type Settings struct {
	Personal        bool
	SharedMailboxes []string
	Folders         string // graphclient.FoldersDefault or FoldersAll
	PhoneRegion     string
}

// Engine runs contact sync.
type Engine struct {
	Dir             Directory
	PBX             pbxclient.Port
	State           State
	Log             *slog.Logger
	Concurrency     int              // phonebooks written at once; default 8
	ReadConcurrency int              // mailboxes read at once (one request each in flight); default 16
	Now             func() time.Time // default time.Now
	Interval        time.Duration    // progress coalescing; default 100ms
}

const (
	defaultConcurrency     = 8
	defaultReadConcurrency = 16
)

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
	Full bool // read every contact; otherwise contact delta from the stored tokens
}

// Snapshot is what a plan was made from.
type Snapshot struct {
	Input Input
	// DeltaLinks are the tokens to store after a successful apply: by
	// source (DeltaPrefix), then store name.
	DeltaLinks map[string]map[string]string
	FellBack   int // mailboxes read in full: a token missing or rejected, a folder gone
}

// DeltaName is the store name of the contact delta token of a mailbox
// folder read into a phonebook (folder "" is the default Contacts folder).
func DeltaName(phonebook, mailbox, folder string) string {
	if folder == "" {
		folder = graphclient.FoldersDefault
	}
	return DeltaPrefix(phonebook, mailbox) + folder
}

// DeltaPrefix is what the names of one source's tokens start with: a
// mailbox read into a phonebook. A mailbox feeding two phonebooks has a set
// for each, so one phonebook's failed write never advances the other's.
func DeltaPrefix(phonebook, mailbox string) string {
	return "contacts/" + phonebook + "/" + strings.ToLower(mailbox) + "/"
}

// Read gathers the planner's input: settings, links, the PBX users,
// departments and phonebooks, the maps, and the mailboxes' contacts.
func (e *Engine) Read(ctx context.Context, opt Options) (*Snapshot, error) {
	st, err := e.State.Settings()
	if err != nil {
		return nil, fmt.Errorf("read settings: %w", err)
	}
	snap := &Snapshot{Input: Input{Settings: st, Full: opt.Full}, DeltaLinks: map[string]map[string]string{}}
	if !st.Personal && len(st.SharedMailboxes) == 0 {
		return snap, nil
	}
	depts, err := e.PBX.Departments(ctx)
	if err != nil {
		return nil, fmt.Errorf("read PBX departments: %w", err)
	}
	var books []*Book
	if len(st.SharedMailboxes) > 0 {
		b := &Book{Phonebook: CompanyBook, Quota: companyQuota(depts), QuotaRule: "quota.company"}
		for _, m := range st.SharedMailboxes {
			b.Sources = append(b.Sources, Source{Mailbox: m, Label: m})
		}
		books = append(books, b)
	}
	if st.Personal {
		pb, err := e.personalBooks(ctx, depts)
		if err != nil {
			return nil, err
		}
		books = append(books, pb...)
	}
	if err := e.readBooks(ctx, books, opt, st.Folders, snap); err != nil {
		return nil, err
	}
	for _, b := range books {
		snap.Input.Books = append(snap.Input.Books, *b)
	}
	return snap, nil
}

// personalBooks lists the phonebooks of synced users: linked, in scope, and
// enabled on the PBX.
func (e *Engine) personalBooks(ctx context.Context, depts []pbxclient.Department) ([]*Book, error) {
	links, err := e.State.Links()
	if err != nil {
		return nil, fmt.Errorf("read links: %w", err)
	}
	pus, err := e.PBX.ListUsers(ctx)
	if err != nil {
		return nil, fmt.Errorf("read PBX users: %w", err)
	}
	byID := make(map[int32]pbxclient.User, len(pus))
	for _, u := range pus {
		byID[u.ID] = u
	}
	var out []*Book
	for _, l := range links {
		if l.PBXUserID == 0 || l.Disabled || !l.LeftAt.IsZero() {
			continue
		}
		u, ok := byID[l.PBXUserID]
		if !ok || !u.Enabled || u.Number != l.Number {
			continue
		}
		q, dept := personalQuota(u, depts)
		out = append(out, &Book{Phonebook: PersonalBook(u.Number), Number: u.Number, Quota: q, QuotaDept: dept, QuotaRule: "quota.personal",
			Sources: []Source{{Mailbox: l.ObjectID, Label: u.EmailAddress}}})
	}
	slices.SortFunc(out, func(a, b *Book) int { return strings.Compare(a.Phonebook, b.Phonebook) })
	return out, nil
}

// PersonalBook is the phonebook name of an extension's personal phonebook.
func PersonalBook(number string) string { return "user/" + number }

// CompanyBook is the phonebook name of the company phonebook.
const CompanyBook = "company"

// companyQuota is the default department's DepartmentContactsMaxCount.
func companyQuota(ds []pbxclient.Department) int {
	for _, d := range ds {
		if d.IsDefault {
			return d.DepartmentContactsMaxCount
		}
	}
	return 0
}

// personalQuota is the smallest PersonalContactsMaxCount among the user's
// departments (the default department's when it has none); 0 = no limit.
func personalQuota(u pbxclient.User, ds []pbxclient.Department) (int, string) {
	byID := map[int32]pbxclient.Department{}
	var def pbxclient.Department
	for _, d := range ds {
		byID[d.ID] = d
		if d.IsDefault {
			def = d
		}
	}
	q, name := 0, ""
	for _, m := range u.Groups {
		if d, ok := byID[m.GroupID]; ok && d.PersonalContactsMaxCount > 0 && (q == 0 || d.PersonalContactsMaxCount < q) {
			q, name = d.PersonalContactsMaxCount, d.Name
		}
	}
	if len(u.Groups) == 0 {
		q, name = def.PersonalContactsMaxCount, def.Name
	}
	return q, name
}

// readBooks reads every phonebook and its sources, ReadConcurrency at a time.
// Each mailbox is read by one goroutine, so no mailbox sees more than one
// request of ours at a time (Outlook allows 4).
func (e *Engine) readBooks(ctx context.Context, books []*Book, opt Options, folders string, snap *Snapshot) error {
	n := e.ReadConcurrency
	if n <= 0 {
		n = defaultReadConcurrency
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
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
			links, fell, err := e.readBook(ctx, b, opt, folders)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if first == nil {
					first = err
					cancel()
				}
				return
			}
			snap.FellBack += fell
			for prefix, l := range links {
				snap.DeltaLinks[prefix] = l
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

func (e *Engine) readBook(ctx context.Context, b *Book, opt Options, folders string) (map[string]map[string]string, int, error) {
	var err error
	if b.Number != "" {
		b.Entries, err = e.PBX.PersonalContacts(ctx, b.Number)
	} else {
		b.Entries, err = e.PBX.CompanyContacts(ctx)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read phonebook %s: %w", b.Phonebook, err)
	}
	if b.Maps, err = e.State.Maps(b.Phonebook); err != nil {
		return nil, 0, fmt.Errorf("read contact maps of %s: %w", b.Phonebook, err)
	}
	links := map[string]map[string]string{}
	fell := 0
	for i := range b.Sources {
		s := &b.Sources[i]
		l, f, err := e.readSource(ctx, b, s, opt.Full, folders)
		if err != nil {
			return nil, 0, err
		}
		fell += f
		if len(l) > 0 {
			links[DeltaPrefix(b.Phonebook, s.Mailbox)] = l
		}
	}
	return links, fell, nil
}

// readSource reads one mailbox: its folders (the default one, and every one
// below it when contacts.folders = all) by contact delta from the stored
// tokens, or in full (a first round on every folder) when a token is missing
// or rejected, a folder is gone or no longer read, or the PBX shows an entry
// of this mailbox deleted or edited (its source is then needed to put it
// back). A mailbox that cannot be read leaves its entries as they are.
func (e *Engine) readSource(ctx context.Context, b *Book, s *Source, full bool, folders string) (map[string]string, int, error) {
	cs, err := e.sourceRead(ctx, b, s, full, folders)
	switch {
	case err == nil:
		return cs.links, cs.fell, nil
	case graphclient.IsNotFound(err):
		s.Err = "no mailbox: " + err.Error()
		s.ErrRule = "mailbox.none"
	case ctx.Err() != nil:
		return nil, 0, ctx.Err()
	default:
		e.log().Warn("contacts: mailbox unreadable; its entries are left as they are", "mailbox", s.Mailbox, "err", err)
		s.Err = err.Error()
		s.ErrRule = "mailbox.unreadable"
	}
	return nil, 0, nil
}

type sourceResult struct {
	links map[string]string // the tokens to store, by name
	fell  int               // 1 when an incremental read fell back to a full one
}

func (e *Engine) sourceRead(ctx context.Context, b *Book, s *Source, full bool, folders string) (sourceResult, error) {
	ids := []string{""}
	if folders == graphclient.FoldersAll {
		fs, err := e.Dir.ContactFolders(ctx, s.Mailbox)
		if err != nil {
			return sourceResult{}, err
		}
		for _, f := range fs {
			ids = append(ids, f.ID)
		}
	}
	res := sourceResult{links: map[string]string{}}
	if !full {
		stored, err := e.State.DeltaLinks(DeltaPrefix(b.Phonebook, s.Mailbox))
		if err != nil {
			return res, fmt.Errorf("read contact delta tokens of %s: %w", s.Mailbox, err)
		}
		ok, err := e.readDelta(ctx, b, s, ids, stored, res.links)
		if err != nil || ok {
			return res, err
		}
		res.fell = 1
		clear(res.links)
	}
	s.Contacts, s.Removed, s.Full = nil, nil, true
	for _, id := range ids {
		d, err := e.Dir.ContactsDelta(ctx, s.Mailbox, id, "")
		if id != "" && graphclient.IsNotFound(err) {
			continue // deleted since it was listed: its contacts are gone
		}
		if err != nil {
			return res, err
		}
		s.Contacts = append(s.Contacts, d.Changed...)
		res.links[DeltaName(b.Phonebook, s.Mailbox, id)] = d.DeltaLink
	}
	return res, nil
}

// readDelta reads the folders ids of a mailbox by contact delta into s and
// their new tokens into links. It reports false, having changed nothing in
// s, when a full compare is needed instead: no token for the default folder
// (the first run), a token of a folder that is gone or no longer read, a
// rejected token, or an entry changed on the PBX. A folder without a token
// (new since the last run) is read by a first round: all its contacts count
// as changed.
func (e *Engine) readDelta(ctx context.Context, b *Book, s *Source, ids []string, stored, links map[string]string) (bool, error) {
	if stored[DeltaName(b.Phonebook, s.Mailbox, "")] == "" {
		return false, nil
	}
	read := make(map[string]bool, len(ids))
	for _, id := range ids {
		read[DeltaName(b.Phonebook, s.Mailbox, id)] = true
	}
	for name := range stored {
		if !read[name] {
			e.log().Info("contacts: a folder is gone or no longer read; full compare", "mailbox", s.Mailbox, "token", name)
			return false, nil
		}
	}
	var all graphclient.ContactDelta
	for _, id := range ids {
		name := DeltaName(b.Phonebook, s.Mailbox, id)
		d, err := e.Dir.ContactsDelta(ctx, s.Mailbox, id, stored[name])
		switch {
		case err == nil:
		case errors.Is(err, graphclient.ErrResyncRequired):
			e.log().Info("contacts delta token rejected: full compare", "mailbox", s.Mailbox, "token", name, "err", err)
			return false, nil
		case id != "" && graphclient.IsNotFound(err):
			e.log().Info("contacts: a folder went away while read; full compare", "mailbox", s.Mailbox, "token", name)
			return false, nil
		default:
			return false, err
		}
		all.Changed = append(all.Changed, d.Changed...)
		all.Removed = append(all.Removed, d.Removed...)
		links[name] = d.DeltaLink
	}
	// A contact moved between folders is removed from one and added to the
	// other: it is changed, not gone.
	if len(all.Removed) > 0 && len(ids) > 1 {
		changed := make(map[string]bool, len(all.Changed))
		for _, c := range all.Changed {
			changed[c.ID] = true
		}
		all.Removed = slices.DeleteFunc(all.Removed, func(id string) bool { return changed[id] })
	}
	if needsFull(b, s.Mailbox, all) {
		e.log().Debug("contacts: an entry changed on the PBX; full compare", "mailbox", s.Mailbox)
		return false, nil
	}
	s.Contacts, s.Removed = all.Changed, all.Removed
	return true, nil
}

// needsFull reports whether an entry of this mailbox that the delta does
// not mention was deleted or edited on the PBX since pbx365 wrote it.
func needsFull(b *Book, mailbox string, d graphclient.ContactDelta) bool {
	seen := map[string]bool{}
	for _, c := range d.Changed {
		seen[c.ID] = true
	}
	for _, id := range d.Removed {
		seen[id] = true
	}
	byID := make(map[int32]*pbxclient.Contact, len(b.Entries))
	for i := range b.Entries {
		byID[b.Entries[i].ID] = &b.Entries[i]
	}
	for _, m := range b.Maps {
		mb, id, ok := splitSource(m.SourceID)
		if !ok || !strings.EqualFold(mb, mailbox) || seen[id] {
			continue
		}
		x := byID[m.PBXContactID]
		if x == nil || x.Tag != Tag(mailbox, id) || EntryHash(*x) != m.Hash {
			return true
		}
	}
	return false
}

// Plan reads and plans.
func (e *Engine) Plan(ctx context.Context, opt Options) (Plan, *Snapshot, error) {
	snap, err := e.Read(ctx, opt)
	if err != nil {
		return Plan{}, nil, err
	}
	return Make(snap.Input), snap, nil
}
