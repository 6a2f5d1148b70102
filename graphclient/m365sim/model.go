package m365sim

import (
	"slices"
	"strings"
	"sync"
	"time"
)

// User is a directory user object of the simulated tenant. Empty strings are
// rendered as JSON null, as Graph does for unset properties.
type User struct {
	ID                string    `json:"id"`
	DisplayName       string    `json:"displayName,omitempty"`
	GivenName         string    `json:"givenName,omitempty"`
	Surname           string    `json:"surname,omitempty"`
	Mail              string    `json:"mail,omitempty"`
	UserPrincipalName string    `json:"userPrincipalName"`
	UserType          string    `json:"userType,omitempty"` // "Member", "Guest", or "" (no userType)
	AccountEnabled    bool      `json:"accountEnabled"`
	BusinessPhones    []string  `json:"businessPhones,omitempty"`
	MobilePhone       string    `json:"mobilePhone,omitempty"`
	Department        string    `json:"department,omitempty"`
	JobTitle          string    `json:"jobTitle,omitempty"`
	OfficeLocation    string    `json:"officeLocation,omitempty"`
	PreferredLanguage string    `json:"preferredLanguage,omitempty"`
	CompanyName       string    `json:"companyName,omitempty"`
	CreatedDateTime   time.Time `json:"createdDateTime"`
	// DeletedDateTime is set while the user is soft-deleted (in the recycle bin).
	DeletedDateTime time.Time `json:"deletedDateTime,omitzero"`
	// Mailbox is the kind of Exchange mailbox the user has (MailboxNone: Outlook
	// APIs answer MailboxNotEnabledForRESTAPI).
	Mailbox MailboxKind `json:"mailbox,omitempty"`
}

// clone returns a deep copy of u.
func (u *User) clone() User {
	c := *u
	c.BusinessPhones = slices.Clone(u.BusinessPhones)
	return c
}

// SoftDeleted reports whether the user is in the recycle bin.
func (u *User) SoftDeleted() bool { return !u.DeletedDateTime.IsZero() }

// MailboxKind is the kind of Exchange mailbox behind a user object.
type MailboxKind string

// Mailbox kinds.
const (
	MailboxNone   MailboxKind = ""       // no (licensed) mailbox
	MailboxUser   MailboxKind = "user"   // a person's mailbox
	MailboxShared MailboxKind = "shared" // a shared mailbox (a user object, usually sign-in disabled)
)

// Group is a directory group. Members holds user and group object ids
// (nested groups are flattened by transitiveMembers).
type Group struct {
	ID              string    `json:"id"`
	DisplayName     string    `json:"displayName"`
	Description     string    `json:"description,omitempty"`
	Mail            string    `json:"mail,omitempty"`
	MailNickname    string    `json:"mailNickname,omitempty"`
	MailEnabled     bool      `json:"mailEnabled"`
	SecurityEnabled bool      `json:"securityEnabled"`
	CreatedDateTime time.Time `json:"createdDateTime"`
	Members         []string  `json:"members,omitempty"`
}

func (g *Group) clone() Group {
	c := *g
	c.Members = slices.Clone(g.Members)
	return c
}

// Photo is a user's profile photo.
type Photo struct {
	ContentType string // image/jpeg
	Width       int
	Height      int
	ETag        string // quoted, as @odata.mediaEtag shows it
	data        []byte
	gen         func() []byte // lazy generator for generated photos
	once        sync.Once
}

// Data returns the photo bytes, generating them on first use for generated photos.
func (p *Photo) Data() []byte {
	p.once.Do(func() {
		if p.data == nil && p.gen != nil {
			p.data = p.gen()
		}
	})
	return p.data
}

// Mailbox is the Exchange side of a user object: contacts and calendar.
// Generated mailboxes are materialised lazily (see tenant.mailbox).
type Mailbox struct {
	Kind MailboxKind
	// ContactFolders[0] is the default "Contacts" folder; the others are its child folders.
	ContactFolders []*ContactFolder
	// Events are single instances and series masters; see Event.Occurrences.
	Events []*Event
}

// ContactFolder is an Outlook contact folder.
type ContactFolder struct {
	ID             string
	DisplayName    string
	ParentFolderID string
	Contacts       []*Contact
}

// EmailAddress is an Outlook emailAddress (name and address).
type EmailAddress struct {
	Name    string `json:"name,omitempty"`
	Address string `json:"address"`
}

// Contact is a personal Outlook contact.
type Contact struct {
	ID                   string         `json:"id"`
	ChangeKey            string         `json:"changeKey"`
	CreatedDateTime      time.Time      `json:"createdDateTime"`
	LastModifiedDateTime time.Time      `json:"lastModifiedDateTime"`
	DisplayName          string         `json:"displayName,omitempty"`
	GivenName            string         `json:"givenName,omitempty"`
	Surname              string         `json:"surname,omitempty"`
	CompanyName          string         `json:"companyName,omitempty"`
	Department           string         `json:"department,omitempty"`
	JobTitle             string         `json:"jobTitle,omitempty"`
	EmailAddresses       []EmailAddress `json:"emailAddresses,omitempty"`
	MobilePhone          string         `json:"mobilePhone,omitempty"`
	BusinessPhones       []string       `json:"businessPhones,omitempty"`
	HomePhones           []string       `json:"homePhones,omitempty"`
}

// Event is an Outlook calendar event: a single instance, or a series master
// when Recurrence is set. Times are UTC; all-day events run midnight to midnight UTC.
type Event struct {
	ID                   string      `json:"id"`
	ICalUID              string      `json:"iCalUId"`
	ChangeKey            string      `json:"changeKey"`
	CreatedDateTime      time.Time   `json:"createdDateTime"`
	LastModifiedDateTime time.Time   `json:"lastModifiedDateTime"`
	Subject              string      `json:"subject"`
	Location             string      `json:"location,omitempty"`
	Organizer            string      `json:"organizer,omitempty"` // address
	ShowAs               string      `json:"showAs"`              // free, tentative, busy, oof, workingElsewhere, unknown
	Sensitivity          string      `json:"sensitivity"`         // normal, personal, private, confidential
	Start                time.Time   `json:"start"`
	End                  time.Time   `json:"end"`
	IsAllDay             bool        `json:"isAllDay"`
	IsCancelled          bool        `json:"isCancelled"`
	Recurrence           *Recurrence `json:"recurrence,omitempty"`
}

// Recurrence is a simple recurrence pattern: every Interval days (daily) or
// weeks (weekly) from the master's start, Count occurrences in total.
// Cancelled lists occurrence indexes (0-based) that were cancelled.
type Recurrence struct {
	Pattern   string `json:"pattern"` // "daily" or "weekly"
	Interval  int    `json:"interval"`
	Count     int    `json:"count"`
	Cancelled []int  `json:"cancelled,omitempty"`
}

// Occurrence is one instance of an event in a time window.
type Occurrence struct {
	Event       *Event
	ID          string // the event id for single instances, a derived id for occurrences
	Type        string // singleInstance or occurrence
	Start, End  time.Time
	IsCancelled bool
}

// Occurrences expands e into the instances overlapping [from, to).
func (e *Event) Occurrences(from, to time.Time) []Occurrence {
	overlaps := func(s, en time.Time) bool { return s.Before(to) && en.After(from) }
	if e.Recurrence == nil {
		if overlaps(e.Start, e.End) {
			return []Occurrence{{Event: e, ID: e.ID, Type: "singleInstance", Start: e.Start, End: e.End, IsCancelled: e.IsCancelled}}
		}
		return nil
	}
	step := 24 * time.Hour * time.Duration(max(e.Recurrence.Interval, 1))
	if e.Recurrence.Pattern == "weekly" {
		step *= 7
	}
	dur := e.End.Sub(e.Start)
	var out []Occurrence
	for i := range e.Recurrence.Count {
		s := e.Start.Add(time.Duration(i) * step)
		if !s.Before(to) {
			break
		}
		if !overlaps(s, s.Add(dur)) {
			continue
		}
		out = append(out, Occurrence{
			Event: e, ID: occurrenceID(e.ID, s), Type: "occurrence", Start: s, End: s.Add(dur),
			IsCancelled: e.IsCancelled || slices.Contains(e.Recurrence.Cancelled, i),
		})
	}
	return out
}

// occurrenceID derives a stable id for one occurrence of a series.
func occurrenceID(masterID string, start time.Time) string {
	return masterID + "_" + start.UTC().Format("20060102T150405Z")
}

// ChangeType is the kind of a tenant change, as change notifications name it.
type ChangeType string

// Change types.
const (
	ChangeCreated ChangeType = "created"
	ChangeUpdated ChangeType = "updated"
	ChangeDeleted ChangeType = "deleted"
)

// Change is one entry of the tenant's change log. Resource is the Graph
// resource path without the version, e.g. "users/{id}",
// "groups/{id}", "users/{id}/contacts/{cid}", "users/{id}/events/{eid}".
type Change struct {
	Seq      uint64
	Time     time.Time
	Resource string
	Type     ChangeType
	// SoftDelete is set for a user moved to the recycle bin (delta: "@removed" reason "changed").
	SoftDelete bool
}

// tenant is the simulated directory and mailboxes. All access goes through
// Sim.read / Sim.write, which hold Sim.mu.
type tenant struct {
	users     []*User // sorted by ID; includes soft-deleted users
	byID      map[string]*User
	byUPN     map[string]*User // lower-case UPN
	groups    []*Group         // sorted by ID
	groupByID map[string]*Group
	photos    map[string]*Photo
	mailboxes map[string]*mailboxSlot
	log       []Change
	seq       uint64 // sequence number of the last change
	domain    string

	flatMu sync.Mutex
	flat   map[string]*flatMembers // group id → flattened members, valid while seq is unchanged
}

// flatMembers is a group's transitive membership at change seq.
type flatMembers struct {
	seq    uint64
	users  []*User  // sorted by id
	groups []*Group // sorted by id
	all    []any    // users and groups merged, sorted by id
	// usersAny and groupsAny are users and groups as []any, for paging.
	usersAny, groupsAny []any
}

// mailboxSlot holds a lazily generated mailbox.
type mailboxSlot struct {
	once sync.Once
	gen  func() *Mailbox
	mb   *Mailbox
}

func newTenant(domain string) *tenant {
	return &tenant{
		byID: map[string]*User{}, byUPN: map[string]*User{}, groupByID: map[string]*Group{},
		photos: map[string]*Photo{}, mailboxes: map[string]*mailboxSlot{}, domain: domain,
	}
}

// userIndex returns the position of the first user with ID >= id.
func (t *tenant) userIndex(id string) int {
	i, _ := slices.BinarySearchFunc(t.users, id, func(u *User, id string) int { return strings.Compare(u.ID, id) })
	return i
}

// usersAfter returns the position of the first user whose id sorts after
// id ("" = from the start): where the page after id begins.
func (t *tenant) usersAfter(id string) int {
	if id == "" {
		return 0
	}
	i := t.userIndex(id)
	if i < len(t.users) && t.users[i].ID == id {
		i++
	}
	return i
}

// insertUser adds u keeping t.users sorted.
func (t *tenant) insertUser(u *User) {
	i := t.userIndex(u.ID)
	t.users = slices.Insert(t.users, i, u)
	t.byID[u.ID] = u
	t.byUPN[strings.ToLower(u.UserPrincipalName)] = u
}

// removeUser deletes u from every index (hard delete).
func (t *tenant) removeUser(u *User) {
	i := t.userIndex(u.ID)
	if i < len(t.users) && t.users[i] == u {
		t.users = slices.Delete(t.users, i, i+1)
	}
	delete(t.byID, u.ID)
	delete(t.byUPN, strings.ToLower(u.UserPrincipalName))
	delete(t.photos, u.ID)
	delete(t.mailboxes, u.ID)
	for _, g := range t.groups {
		g.Members = slices.DeleteFunc(g.Members, func(m string) bool { return m == u.ID })
	}
}

// insertGroup adds g keeping t.groups sorted.
func (t *tenant) insertGroup(g *Group) {
	i, _ := slices.BinarySearchFunc(t.groups, g.ID, func(x *Group, id string) int { return strings.Compare(x.ID, id) })
	t.groups = slices.Insert(t.groups, i, g)
	t.groupByID[g.ID] = g
}

// lookupUser finds a live or soft-deleted user by object id or UPN (case-insensitive).
func (t *tenant) lookupUser(idOrUPN string) *User {
	if u := t.byID[idOrUPN]; u != nil {
		return u
	}
	return t.byUPN[strings.ToLower(idOrUPN)]
}

// activeUser finds a user that is not soft-deleted.
func (t *tenant) activeUser(idOrUPN string) *User {
	u := t.lookupUser(idOrUPN)
	if u == nil || u.SoftDeleted() {
		return nil
	}
	return u
}

// mailbox returns the user's mailbox (materialising a generated one), or nil
// when the user has none. Safe under the read lock.
func (t *tenant) mailbox(userID string) *Mailbox {
	slot := t.mailboxes[userID]
	if slot == nil {
		return nil
	}
	slot.once.Do(func() {
		if slot.mb == nil && slot.gen != nil {
			slot.mb = slot.gen()
		}
	})
	return slot.mb
}

// setMailbox gives the user mailbox mb (replacing any generated one).
func (t *tenant) setMailbox(userID string, mb *Mailbox) {
	slot := &mailboxSlot{mb: mb}
	slot.once.Do(func() {})
	t.mailboxes[userID] = slot
}

// record appends a change to the log; the caller holds the write lock.
func (t *tenant) record(now time.Time, resource string, ct ChangeType, soft bool) Change {
	t.seq++
	c := Change{Seq: t.seq, Time: now, Resource: resource, Type: ct, SoftDelete: soft}
	t.log = append(t.log, c)
	return c
}

// changesSince returns the log entries with from < Seq <= to.
func (t *tenant) changesSince(from, to uint64) []Change {
	// Seq n is at index n-1.
	if from >= to || from >= uint64(len(t.log)) {
		return nil
	}
	return t.log[from:min(to, uint64(len(t.log)))]
}

// flatten returns g's transitive membership, cached until the next change.
// Safe under the read lock.
func (t *tenant) flatten(g *Group) *flatMembers {
	t.flatMu.Lock()
	defer t.flatMu.Unlock()
	if f := t.flat[g.ID]; f != nil && f.seq == t.seq {
		return f
	}
	users, groups := t.transitiveMembers(g)
	all := make([]any, 0, len(users)+len(groups))
	i, j := 0, 0
	for i < len(users) || j < len(groups) {
		if j == len(groups) || i < len(users) && users[i].ID < groups[j].ID {
			all = append(all, users[i])
			i++
		} else {
			all = append(all, groups[j])
			j++
		}
	}
	if t.flat == nil {
		t.flat = map[string]*flatMembers{}
	}
	f := &flatMembers{seq: t.seq, users: users, groups: groups, all: all,
		usersAny: make([]any, len(users)), groupsAny: make([]any, len(groups))}
	for i, u := range users {
		f.usersAny[i] = u
	}
	for i, g := range groups {
		f.groupsAny[i] = g
	}
	t.flat[g.ID] = f
	return f
}

// transitiveMembers returns the users and groups reachable from group g,
// each once, nested groups flattened (cycle-safe).
func (t *tenant) transitiveMembers(g *Group) (users []*User, groups []*Group) {
	seenU := map[string]bool{}
	seenG := map[string]bool{g.ID: true}
	var walk func(g *Group)
	walk = func(g *Group) {
		for _, id := range g.Members {
			if u := t.byID[id]; u != nil {
				if !seenU[id] && !u.SoftDeleted() {
					seenU[id] = true
					users = append(users, u)
				}
				continue
			}
			if ng := t.groupByID[id]; ng != nil && !seenG[id] {
				seenG[id] = true
				groups = append(groups, ng)
				walk(ng)
			}
		}
	}
	walk(g)
	slices.SortFunc(users, func(a, b *User) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(groups, func(a, b *Group) int { return strings.Compare(a.ID, b.ID) })
	return users, groups
}
