package contacts_test

import (
	"context"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pbx365/pbx365/graphclient"
	"github.com/pbx365/pbx365/graphclient/m365sim"
	"github.com/pbx365/pbx365/pbxclient"
	"github.com/pbx365/pbx365/pbxclient/pbxsim"
	"github.com/pbx365/pbx365/store"
	"github.com/pbx365/pbx365/sync/app"
	"github.com/pbx365/pbx365/sync/contacts"
	"github.com/pbx365/pbx365/sync/plan"
	"github.com/pbx365/pbx365/sync/progress"
	"github.com/pbx365/pbx365/sync/users"
)

// env is a data dir configured against both simulators over HTTPS, with the
// directory's users already synced (linked) by user sync.
type env struct {
	t        *testing.T
	sims     *app.Sims
	app      *app.App
	eng      *contacts.Engine
	shared   []string // shared mailbox addresses in contacts.shared_mailboxes
	noMail   m365sim.User
	settings map[string]string
}

type envOpt struct {
	users    int
	settings map[string]string
	before   func(*app.Sims) // before user sync
}

func newEnv(t *testing.T, o envOpt) *env {
	t.Helper()
	if o.users == 0 {
		o.users = 40
	}
	dir := t.TempDir()
	sims, err := app.StartSims(app.SimOptions{Seed: 11, Users: o.users, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sims.Close)
	e := &env{t: t, sims: sims}
	e.open(filepath.Join(dir, "data"))
	if err := sims.Configure(e.app.Store); err != nil {
		t.Fatal(err)
	}
	// A synced user without a mailbox: a skip, not a failure.
	e.noMail, err = sims.M365.AddUser(m365sim.User{UserPrincipalName: "nomailbox@" + m365sim.Domain, Mail: "nomailbox@" + m365sim.Domain,
		DisplayName: "No Mailbox", GivenName: "No", Surname: "Mailbox", UserType: "Member", AccountEnabled: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range sims.M365.SharedMailboxes() {
		if len(e.shared) < 2 && u.Mail != "" {
			e.shared = append(e.shared, u.Mail)
		}
	}
	if len(e.shared) == 0 {
		t.Fatal("the simulated tenant has no shared mailbox")
	}
	settings := map[string]string{"contacts.personal": "true", "contacts.shared_mailboxes": strings.Join(e.shared, ",")}
	for k, v := range o.settings {
		settings[k] = v
	}
	if err := e.app.Store.SetMany(settings); err != nil {
		t.Fatal(err)
	}
	if o.before != nil {
		o.before(sims)
	}
	ueng, err := e.app.Users(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, sum := runUsers(t, ueng); failed(sum) != 0 {
		t.Fatalf("user sync: %+v", sum)
	}
	e.engine()
	return e
}

func (e *env) open(dir string) {
	a, err := app.Open(dir)
	if err != nil {
		e.t.Fatal(err)
	}
	e.app = a
	e.t.Cleanup(func() { a.Close() })
}

func (e *env) engine() {
	eng, err := e.app.Contacts(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	e.eng = eng
}

func runUsers(t *testing.T, eng *users.Engine) (plan.Plan, progress.Summary) {
	t.Helper()
	ctx := context.Background()
	p, snap, err := eng.Plan(ctx, users.Options{Full: true})
	if err != nil {
		t.Fatalf("user plan: %v", err)
	}
	run, err := eng.Apply(ctx, p, snap, users.ApplyOptions{})
	if err != nil {
		t.Fatalf("user apply: %v", err)
	}
	return p, run.Wait()
}

// sync settles, plans and applies contact sync.
func (e *env) sync(full bool) (contacts.Plan, *contacts.Snapshot, progress.Summary) {
	e.t.Helper()
	return syncWith(e.t, e.eng, full)
}

func syncWith(t *testing.T, eng *contacts.Engine, full bool) (contacts.Plan, *contacts.Snapshot, progress.Summary) {
	t.Helper()
	ctx := context.Background()
	if _, err := eng.Settle(ctx); err != nil {
		t.Fatalf("settle: %v", err)
	}
	p, snap, err := eng.Plan(ctx, contacts.Options{Full: full})
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	run, err := eng.Apply(ctx, p, snap, contacts.ApplyOptions{})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	var last progress.Event
	for ev := range run.Events() {
		last = ev
	}
	sum := run.Wait()
	if last.Phase != progress.PhaseDone || last.Summary == nil {
		t.Fatalf("last event %+v, want the summary", last)
	}
	return p, snap, sum
}

func failed(s progress.Summary) int {
	n := 0
	for _, v := range s.Failed {
		n += v
	}
	return n
}

// linkedNumbers maps each linked user's object id to its extension number.
func (e *env) linkedNumbers() map[string]string {
	e.t.Helper()
	links, err := e.app.Store.Links()
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]string{}
	for _, l := range links {
		if l.PBXUserID != 0 && !l.Disabled {
			out[l.ObjectID] = l.Number
		}
	}
	return out
}

// expected computes, from the simulated mailboxes, the entries pbx365 must
// own in each phonebook (by owner: "" = company), keyed by tag.
func (e *env) expected(folders string) map[string]map[string]pbxclient.Contact {
	out := map[string]map[string]pbxclient.Contact{}
	add := func(owner, mailbox string) {
		mb := e.sims.M365.Mailbox(mailbox)
		if out[owner] == nil {
			out[owner] = map[string]pbxclient.Contact{}
		}
		if mb == nil {
			return
		}
		fs := mb.ContactFolders[:1]
		if folders == graphclient.FoldersAll {
			fs = mb.ContactFolders
		}
		for _, f := range fs {
			for _, c := range f.Contacts {
				tag := contacts.Tag(mailbox, c.ID)
				if d, _, _ := contacts.Desired(toGraph(*c), "US", tag); d != nil {
					out[owner][tag] = *d
				}
			}
		}
	}
	for id, n := range e.linkedNumbers() {
		add(n, id)
	}
	for _, m := range e.shared {
		add("", m)
	}
	return out
}

func toGraph(c m365sim.Contact) graphclient.Contact {
	g := graphclient.Contact{ID: c.ID, DisplayName: c.DisplayName, GivenName: c.GivenName, Surname: c.Surname,
		CompanyName: c.CompanyName, Department: c.Department, JobTitle: c.JobTitle, MobilePhone: c.MobilePhone,
		BusinessPhones: c.BusinessPhones, HomePhones: c.HomePhones}
	for _, a := range c.EmailAddresses {
		g.Emails = append(g.Emails, a.Address)
	}
	return g
}

func fromSim(c pbxsim.Contact) pbxclient.Contact {
	return pbxclient.Contact{FirstName: c.FirstName, LastName: c.LastName, CompanyName: c.CompanyName, Title: c.Title,
		Department: c.Department, Email: c.Email, PhoneNumber: c.PhoneNumber, Mobile2: c.Mobile2, Home: c.Home,
		Business: c.Business, Business2: c.Business2, Other: c.Other, Tag: c.Tag}
}

// check verifies the PBX's marked entries equal the expectation exactly (no
// duplicate, nothing missing, nothing extra) and returns them by tag.
func (e *env) check(folders string) map[string]pbxsim.Contact {
	e.t.Helper()
	want := e.expected(folders)
	got := map[string]map[string]pbxclient.Contact{}
	byTag := map[string]pbxsim.Contact{}
	for _, c := range e.sims.PBX.Snapshot().Contacts {
		if !strings.HasPrefix(c.Tag, contacts.TagPrefix) {
			continue
		}
		if got[c.Owner] == nil {
			got[c.Owner] = map[string]pbxclient.Contact{}
		}
		if _, dup := got[c.Owner][c.Tag]; dup {
			e.t.Errorf("phonebook %q holds %s twice", c.Owner, c.Tag)
		}
		got[c.Owner][c.Tag] = fromSim(c)
		byTag[c.Tag] = c
	}
	n := 0
	for owner, w := range want {
		for tag, d := range w {
			n++
			if g, ok := got[owner][tag]; !ok {
				e.t.Errorf("phonebook %q lacks %s %s %s", owner, tag, d.FirstName, d.LastName)
			} else if g != d {
				e.t.Errorf("phonebook %q entry %s is %+v, want %+v", owner, tag, g, d)
			}
		}
		for tag := range got[owner] {
			if _, ok := w[tag]; !ok {
				e.t.Errorf("phonebook %q has an extra entry %s", owner, tag)
			}
		}
	}
	for owner := range got {
		if _, ok := want[owner]; !ok {
			e.t.Errorf("entries in a phonebook that should have none: %q", owner)
		}
	}
	if n == 0 {
		e.t.Fatal("nothing expected: the test tenant has no contacts")
	}
	return byTag
}

func countRule(p contacts.Plan, action plan.Action, rule string) int {
	n := 0
	for _, c := range p.Changes {
		if c.Action == action && (rule == "" || c.Rule == rule) {
			n++
		}
	}
	return n
}

// firstUser is a linked user with a mailbox holding contacts, and its number.
func (e *env) firstUser() (string, string) {
	nums := e.linkedNumbers()
	ids := slices.Sorted(func(yield func(string) bool) {
		for id := range nums {
			if !yield(id) {
				return
			}
		}
	})
	for _, id := range ids {
		if mb := e.sims.M365.Mailbox(id); mb != nil && mb.Kind == m365sim.MailboxUser && len(mb.ContactFolders[0].Contacts) >= 3 {
			return id, nums[id]
		}
	}
	e.t.Fatal("no linked user with 3 contacts")
	return "", ""
}

func TestFirstSyncChangesDeletesAndPBXEdits(t *testing.T) {
	e := newEnv(t, envOpt{})
	uid, number := e.firstUser()
	// A user-made entry (no marker) in that user's phonebook and one in the
	// company phonebook: never changed or removed.
	own := pbxsim.Contact{FirstName: "Own", LastName: "Entry", PhoneNumber: "+15550100"}
	if _, err := e.sims.PBX.AddContact(number, own); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sims.PBX.AddContact("", pbxsim.Contact{CompanyName: "Plumber", Business: "+15550101", ContactType: "M365", Tag: "m365"}); err != nil {
		t.Fatal(err)
	}
	// Numbers to normalize, and contacts to skip.
	good, _ := e.sims.M365.AddContact(uid, "", m365sim.Contact{DisplayName: "Ada Lovelace", MobilePhone: "(212) 555-0142",
		BusinessPhones: []string{"+44 20 7946 0958", "n/a"}, HomePhones: []string{"+1 212 555 0199"}, CompanyName: "Engines Ltd",
		EmailAddresses: []m365sim.EmailAddress{{Address: "ada@engines.example"}}, JobTitle: "Analyst"})
	noNum, _ := e.sims.M365.AddContact(uid, "", m365sim.Contact{GivenName: "No", Surname: "Number", MobilePhone: "call me"})
	noName, _ := e.sims.M365.AddContact(uid, "", m365sim.Contact{MobilePhone: "+1 212 555 0100"})

	p, snap, sum := e.sync(true)
	if failed(sum) != 0 || sum.Err != "" {
		t.Fatalf("first sync: %+v", sum)
	}
	if p.Counts[plan.ActCreate] == 0 || sum.Done[plan.ActCreate] != p.Counts[plan.ActCreate] {
		t.Fatalf("creates planned %d, done %d", p.Counts[plan.ActCreate], sum.Done[plan.ActCreate])
	}
	if !p.Full || snap.FellBack != 0 || sum.Finished.Before(sum.Started) {
		t.Errorf("a full run: full %v, fell back %d, %s..%s", p.Full, snap.FellBack, sum.Started, sum.Finished)
	}
	skips := map[string]contacts.Change{}
	for _, c := range p.Changes {
		if c.Action == plan.ActSkip {
			skips[c.SourceID+"|"+c.Mailbox] = c
		}
	}
	if c, ok := skips["|"+e.noMail.ID]; !ok || c.Rule != "mailbox.none" {
		t.Errorf("the user without a mailbox is not a mailbox.none skip: %+v", skips)
	}
	if c := skips[noNum.ID+"|"+uid]; c.Rule != "contact.no_number" || !strings.Contains(c.Reason, `"call me"`) {
		t.Errorf("contact without a usable number: %+v", c)
	}
	if c := skips[noName.ID+"|"+uid]; c.Rule != "contact.no_name" {
		t.Errorf("contact without a name: %+v", c)
	}
	byTag := e.check("")
	ada := byTag[contacts.Tag(uid, good.ID)]
	if ada.Owner != number || ada.PhoneNumber != "+12125550142" || ada.Business != "+442079460958" || ada.Business2 != "" ||
		ada.Home != "+12125550199" || ada.FirstName != "Ada" || ada.LastName != "Lovelace" || ada.Email != "ada@engines.example" || ada.Title != "Analyst" {
		t.Errorf("mapped entry %+v", ada)
	}
	// Audit: the skips are in the log with their reasons.
	page, err := e.app.Store.Audit(storeQuery(sum.RunID))
	if err != nil {
		t.Fatal(err)
	}
	var sawNoNumber bool
	for _, it := range page.Items {
		if it.Rule == "contact.no_number" && it.Result == "skipped" && strings.Contains(it.Error, "call me") {
			sawNoNumber = true
		}
	}
	if !sawNoNumber {
		t.Error("the no-number skip is not in the audit log")
	}
	run, ok, err := e.app.Store.Run(sum.RunID)
	if err != nil || !ok || run.Kind != "contacts/full" || run.Status != "ok" {
		t.Errorf("run record %+v %v %v", run, ok, err)
	}

	// Nothing changed: an incremental run plans nothing and reads by delta.
	e.sims.M365.ResetRequests()
	p, snap, sum = e.sync(false)
	if p.Writes() != 0 || failed(sum) != 0 || snap.FellBack != 0 {
		t.Fatalf("resync plans %v (fell back %d): %+v", p.Counts, snap.FellBack, sum)
	}
	deltas := 0
	for _, r := range e.sims.M365.Requests() {
		switch {
		case strings.Contains(r.Path, "/contacts/delta"):
			deltas++
		case strings.Contains(r.Path, "/contacts"):
			t.Errorf("an incremental run with tokens listed contacts: %s", r.Path)
		}
	}
	if want := len(e.linkedNumbers()) + len(e.shared); deltas < want-1 || deltas > want {
		t.Errorf("%d contact delta requests for %d mailboxes (one has none)", deltas, want)
	}

	// A changed source contact updates the same entry.
	if err := e.sims.M365.UpdateContact(uid, good.ID, func(c *m365sim.Contact) { c.MobilePhone = "+1 (212) 555-0177" }); err != nil {
		t.Fatal(err)
	}
	p, _, sum = e.sync(false)
	if countRule(p, plan.ActUpdate, "source.changed") != 1 || p.Writes() != 1 || failed(sum) != 0 {
		t.Fatalf("after a change: %v %+v", p.Changes, sum)
	}
	byTag = e.check("")
	if x := byTag[contacts.Tag(uid, good.ID)]; x.ID != ada.ID || x.PhoneNumber != "+12125550177" {
		t.Errorf("updated entry %+v, want id %d with the new number", x, ada.ID)
	}

	// An entry of ours edited and one deleted on the PBX: put back / recreated.
	victims := []pbxsim.Contact{}
	for _, c := range e.sims.PBX.Snapshot().Contacts {
		if c.Owner == number && strings.HasPrefix(c.Tag, contacts.TagPrefix) && c.Tag != ada.Tag {
			victims = append(victims, c)
		}
	}
	ctx := context.Background()
	if err := e.eng.PBX.DeleteContacts(ctx, []int32{victims[0].ID}); err != nil {
		t.Fatal(err)
	}
	edited := fromSim(byTag[ada.Tag])
	edited.FirstName = "Edited"
	if err := e.eng.PBX.UpdateContact(ctx, ada.ID, edited); err != nil {
		t.Fatal(err)
	}
	p, _, sum = e.sync(false)
	if countRule(p, plan.ActRecreate, "ownership.recreate") != 1 || countRule(p, plan.ActUpdate, "pbx.edited") != 1 || failed(sum) != 0 {
		t.Fatalf("after PBX-side edits: %+v / %+v", p.Changes, sum)
	}
	e.check("")

	// A deleted source contact: its entry is removed.
	if err := e.sims.M365.DeleteContact(uid, good.ID); err != nil {
		t.Fatal(err)
	}
	p, _, sum = e.sync(false)
	if countRule(p, plan.ActDelete, "source.deleted") != 1 || p.Writes() != 1 || failed(sum) != 0 {
		t.Fatalf("after a delete: %+v %+v", p.Changes, sum)
	}
	if _, still := e.check("")[ada.Tag]; still {
		t.Error("the deleted contact's entry is still on the PBX")
	}
	// The user-made entries are untouched.
	var mine, theirs int
	for _, c := range e.sims.PBX.Snapshot().Contacts {
		if c.Owner == number && c.FirstName == own.FirstName && c.LastName == own.LastName && c.PhoneNumber == own.PhoneNumber && c.Tag == "" {
			mine++
		}
		if c.Owner == "" && c.CompanyName == "Plumber" && c.Tag == "m365" {
			theirs++
		}
	}
	if mine != 1 || theirs != 1 {
		t.Errorf("user-made entries: %d personal, %d company, want 1 and 1", mine, theirs)
	}
	// A full run agrees: nothing to do.
	if p, _, _ = e.sync(true); p.Writes() != 0 {
		t.Errorf("a full run after the incremental ones plans %v", p.Changes)
	}
}

func TestRejectedDeltaTokenFallsBackToFullCompare(t *testing.T) {
	e := newEnv(t, envOpt{users: 20})
	if _, _, sum := e.sync(true); failed(sum) != 0 {
		t.Fatalf("first sync: %+v", sum)
	}
	uid, number := e.firstUser()
	onPBX := e.check("")
	name := contacts.DeltaName(contacts.PersonalBook(number), uid, "")
	tok, ok, err := e.app.Store.DeltaToken(name)
	if err != nil || !ok {
		t.Fatalf("no stored token %s: %v", name, err)
	}
	// A token the service no longer knows (same host, garbled state).
	bad := tok.Token[:strings.Index(tok.Token, "$deltatoken=")] + "$deltatoken=Zm9yZ290dGVu"
	if err := e.app.Store.PutDeltaToken(name, bad); err != nil {
		t.Fatal(err)
	}
	var victim string
	for _, c := range e.sims.M365.Mailbox(uid).ContactFolders[0].Contacts {
		if _, ok := onPBX[contacts.Tag(uid, c.ID)]; ok {
			victim = c.ID
		}
	}
	if err := e.sims.M365.DeleteContact(uid, victim); err != nil {
		t.Fatal(err)
	}
	p, snap, sum := e.sync(false)
	if snap.FellBack != 1 || failed(sum) != 0 || sum.Err != "" {
		t.Fatalf("fell back %d, summary %+v", snap.FellBack, sum)
	}
	if countRule(p, plan.ActDelete, "source.deleted") != 1 {
		t.Errorf("the full compare missed the deletion: %+v", p.Changes)
	}
	e.check("")
	if tok2, _, _ := e.app.Store.DeltaToken(name); tok2.Token == bad {
		t.Error("the rejected token was not replaced")
	}
}

func TestQuotaSkipsWithReasonAndLimitReachedStopsCreates(t *testing.T) {
	e := newEnv(t, envOpt{users: 20})
	_, number := e.firstUser()
	dept := departmentOf(t, e, number)
	if err := e.sims.PBX.SetContactQuotas(dept, 2, 0); err != nil {
		t.Fatal(err)
	}
	p, _, sum := e.sync(true)
	skipped := 0
	for _, c := range p.Changes {
		if c.Number == number && c.Action == plan.ActSkip && c.Rule == "quota.personal" {
			skipped++
			if !strings.Contains(c.Reason, "allows 2 entries") {
				t.Errorf("quota reason %q", c.Reason)
			}
		}
	}
	if skipped == 0 || failed(sum) != 0 {
		t.Fatalf("quota: %d skips, summary %+v", skipped, sum)
	}
	owned := 0
	for _, c := range e.sims.PBX.Snapshot().Contacts {
		if c.Owner == number {
			owned++
		}
	}
	if owned != 2 {
		t.Errorf("phonebook of %s holds %d entries, quota 2", number, owned)
	}
	// A full phonebook's source keeps no token (what did not fit is read
	// again); the other sources' tokens advanced.
	full, noMailbox := map[string]bool{}, map[string]bool{}
	for _, c := range p.Changes {
		switch c.Rule {
		case "quota.personal":
			full[c.Number] = true
		case "mailbox.none":
			noMailbox[c.Number] = true
		}
	}
	kept := 0
	for id, n := range e.linkedNumbers() {
		ts, err := e.app.Store.DeltaTokensUnder(contacts.DeltaPrefix(contacts.PersonalBook(n), id))
		if err != nil {
			t.Fatal(err)
		}
		if !noMailbox[n] && full[n] == (len(ts) > 0) {
			t.Errorf("source %s of %s: %d tokens (phonebook full: %v)", id, n, len(ts), full[n])
		}
		kept += len(ts)
	}
	if kept == 0 || len(full) == 0 {
		t.Errorf("%d tokens kept, %d full phonebooks: the test shows nothing", kept, len(full))
	}

	// The quota shrinks between plan and apply: the PBX answers LIMIT_REACHED
	// once, the other creates of that phonebook are skipped, not sent.
	if err := e.sims.PBX.SetContactQuotas(dept, 0, 0); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p, snap, err := e.eng.Plan(ctx, contacts.Options{Full: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.sims.PBX.SetContactQuotas(dept, 2, 0); err != nil {
		t.Fatal(err)
	}
	e.sims.PBX.ResetRequests()
	run, err := e.eng.Apply(ctx, p, snap, contacts.ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var errs []string
	for ev := range run.Events() {
		for _, it := range ev.Items {
			if !it.OK {
				errs = append(errs, it.Err)
			}
		}
	}
	sum = run.Wait()
	// One clear error per phonebook that turned out full, none per entry.
	books := map[string]bool{}
	for _, c := range p.Changes {
		if c.Action == plan.ActCreate {
			books[c.Phonebook] = true
		}
	}
	if !books[contacts.PersonalBook(number)] || failed(sum) != len(books) || len(errs) != len(books) || sum.Skipped == 0 {
		t.Fatalf("limit reached in %d phonebooks: failures %v, summary %+v", len(books), errs, sum)
	}
	for _, e := range errs {
		if !strings.Contains(e, "LIMIT_REACHED") || !strings.Contains(e, "further creates in it are skipped") {
			t.Errorf("error %q", e)
		}
	}
	posts := 0
	for _, r := range e.sims.PBX.Requests() {
		if strings.Contains(r.Path, "CreateContactByNumber") && strings.Contains(r.Body, `"`+number+`"`) {
			posts++
		}
	}
	if posts != 1 {
		t.Errorf("%d creates sent to the full phonebook, want 1", posts)
	}
}

// departmentOf is the id of the department an extension is in.
func departmentOf(t *testing.T, e *env, number string) int32 {
	t.Helper()
	for _, u := range e.sims.PBX.Snapshot().Users {
		if u.Number == number && len(u.Groups) > 0 {
			for _, d := range e.sims.PBX.Snapshot().Departments {
				if d.Name == u.Groups[0].GroupName {
					return d.ID
				}
			}
		}
	}
	t.Fatalf("extension %s has no department", number)
	return 0
}

func TestAllFoldersByDeltaPerFolder(t *testing.T) {
	e := newEnv(t, envOpt{users: 20, settings: map[string]string{"contacts.folders": "all"}})
	uid, number := e.firstUser()
	book := contacts.PersonalBook(number)
	top, err := e.sims.M365.AddContactFolder(uid, "Suppliers 2")
	if err != nil {
		t.Fatal(err)
	}
	nested, err := e.sims.M365.AddChildContactFolder(uid, top, "Bolts")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := e.sims.M365.AddContact(uid, nested, m365sim.Contact{CompanyName: "Bolts Inc", BusinessPhones: []string{"+1 415 555 0123"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.sims.M365.AddContact(uid, top, m365sim.Contact{CompanyName: "Nuts Ltd", BusinessPhones: []string{"+1 415 555 0124"}}); err != nil {
		t.Fatal(err)
	}
	if _, _, sum := e.sync(false); failed(sum) != 0 {
		t.Fatalf("%+v", sum)
	}
	x, ok := e.check(graphclient.FoldersAll)[contacts.Tag(uid, sub.ID)]
	if !ok || x.Owner != number || x.Business != "+14155550123" {
		t.Fatalf("contact of a nested folder: %+v %v", x, ok)
	}
	// One token per folder of the mailbox.
	tokens := func() map[string]bool {
		ts, err := e.app.Store.DeltaTokensUnder(contacts.DeltaPrefix(book, uid))
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, x := range ts {
			out[x.Name] = true
		}
		return out
	}
	folderTokens := func() map[string]bool {
		out := map[string]bool{contacts.DeltaName(book, uid, ""): true}
		for _, f := range e.sims.M365.Mailbox(uid).ContactFolders[1:] {
			out[contacts.DeltaName(book, uid, f.ID)] = true
		}
		return out
	}
	if got, want := tokens(), folderTokens(); !maps.Equal(got, want) || !got[contacts.DeltaName(book, uid, nested)] {
		t.Fatalf("tokens %v, want one per folder %v", got, want)
	}
	// Nothing changed: every folder is read by delta, nothing to do.
	if p, snap, _ := e.sync(false); p.Writes() != 0 || snap.FellBack != 0 {
		t.Errorf("resync plans %v, fell back %d", p.Counts, snap.FellBack)
	}
	// A change in the nested folder: one update, still by delta.
	if err := e.sims.M365.UpdateContact(uid, sub.ID, func(c *m365sim.Contact) { c.BusinessPhones = []string{"+1 415 555 0199"} }); err != nil {
		t.Fatal(err)
	}
	p, snap, sum := e.sync(false)
	if snap.FellBack != 0 || countRule(p, plan.ActUpdate, "") != 1 || p.Writes() != 1 || failed(sum) != 0 {
		t.Errorf("a nested change: fell back %d, plan %v", snap.FellBack, p.Changes)
	}
	if x := e.check(graphclient.FoldersAll)[contacts.Tag(uid, sub.ID)]; x.Business != "+14155550199" {
		t.Errorf("nested change not applied: %+v", x)
	}
	// A new folder: its first round counts as changes; the others stay incremental.
	fresh, err := e.sims.M365.AddContactFolder(uid, "New")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.sims.M365.AddContact(uid, fresh, m365sim.Contact{GivenName: "Nia", Surname: "New", MobilePhone: "+1 415 555 0155"}); err != nil {
		t.Fatal(err)
	}
	p, snap, _ = e.sync(false)
	if snap.FellBack != 0 || countRule(p, plan.ActCreate, "") != 1 || p.Writes() != 1 {
		t.Errorf("a new folder: fell back %d, plan %v", snap.FellBack, p.Changes)
	}
	e.check(graphclient.FoldersAll)
	if !tokens()[contacts.DeltaName(book, uid, fresh)] {
		t.Error("no token for the new folder")
	}
	// A deleted folder (with its child): a full compare removes its entries
	// and its tokens go.
	if err := e.sims.M365.DeleteContactFolder(uid, top); err != nil {
		t.Fatal(err)
	}
	p, snap, sum = e.sync(false)
	if snap.FellBack != 1 || countRule(p, plan.ActDelete, "source.deleted") != 2 || failed(sum) != 0 {
		t.Errorf("a deleted folder: fell back %d, plan %v", snap.FellBack, p.Changes)
	}
	e.check(graphclient.FoldersAll)
	if got, want := tokens(), folderTokens(); !maps.Equal(got, want) || got[contacts.DeltaName(book, uid, nested)] {
		t.Errorf("tokens %v after the delete, want %v", got, want)
	}
	// Back to the default folder only: the other folders' entries go, and
	// with them their tokens.
	if err := e.app.Store.SetMany(map[string]string{"contacts.folders": "default"}); err != nil {
		t.Fatal(err)
	}
	p, snap, _ = e.sync(false)
	if snap.FellBack == 0 || countRule(p, plan.ActDelete, "") == 0 {
		t.Errorf("switch to the default folder: fell back %d, plan %v", snap.FellBack, p.Counts)
	}
	e.check(graphclient.FoldersDefault)
	if got := tokens(); len(got) != 1 || !got[contacts.DeltaName(book, uid, "")] {
		t.Errorf("tokens %v, want only the default folder's", got)
	}
	if p, _, _ := e.sync(true); p.Writes() != 0 {
		t.Errorf("a full run after the incremental ones plans %v", p.Changes)
	}
}

func storeQuery(run uint64) store.AuditQuery { return store.AuditQuery{Run: run, Limit: 1000} }

func TestPlanIsDeterministic(t *testing.T) {
	e := newEnv(t, envOpt{users: 20})
	ctx := context.Background()
	p1, _, err := e.eng.Plan(ctx, contacts.Options{Full: true})
	if err != nil {
		t.Fatal(err)
	}
	p2, snap, err := e.eng.Plan(ctx, contacts.Options{Full: true})
	if err != nil {
		t.Fatal(err)
	}
	if p1.Hash != p2.Hash || len(p1.Changes) == 0 {
		t.Fatalf("two plans of the same state differ: %s %s", p1.Hash, p2.Hash)
	}
	// Shuffled input: the same plan.
	in := snap.Input
	slices.Reverse(in.Books)
	for i := range in.Books {
		for j := range in.Books[i].Sources {
			slices.Reverse(in.Books[i].Sources[j].Contacts)
		}
		slices.Reverse(in.Books[i].Entries)
	}
	if h := contacts.Make(in).Hash; h != p2.Hash {
		t.Errorf("reordered input planned differently")
	}
	// A tampered plan is refused.
	p2.Changes[0].Name += "x"
	if _, err := e.eng.Apply(ctx, p2, snap, contacts.ApplyOptions{}); err == nil {
		t.Error("a plan that does not match its hash was applied")
	}
}

// Mailboxes that cannot be read (here: the Contacts.Read consent was
// withdrawn) are skips naming the error; the entries already written for
// them stay as they are.
func TestUnreadableMailboxesLeaveTheirEntries(t *testing.T) {
	e := newEnv(t, envOpt{users: 20})
	if _, _, sum := e.sync(true); failed(sum) != 0 {
		t.Fatalf("first sync: %+v", sum)
	}
	before := e.sims.PBX.Snapshot().Contacts
	e.sims.M365.Revoke(string(graphclient.PermContactsRead))
	e.sims.M365.ExpireAccessTokens()
	p, _, sum := e.sync(true)
	if failed(sum) != 0 || sum.Err != "" || p.Writes() != 0 {
		t.Fatalf("plan %v, summary %+v", p.Counts, sum)
	}
	n := countRule(p, plan.ActSkip, "mailbox.unreadable")
	if want := len(e.linkedNumbers()) + len(e.shared); n < want/2 {
		t.Errorf("%d mailbox.unreadable skips for %d mailboxes", n, want)
	}
	for _, c := range p.Changes {
		if c.Rule == "mailbox.unreadable" && !strings.Contains(c.Reason, "403") {
			t.Errorf("the skip does not name the error: %q", c.Reason)
			break
		}
	}
	if after := e.sims.PBX.Snapshot().Contacts; len(after) != len(before) {
		t.Errorf("%d entries before, %d after", len(before), len(after))
	}
}
