package contacts

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/nyaruka/phonenumbers"
	"github.com/pbx365/pbx365/graphclient"
	"github.com/pbx365/pbx365/pbxclient"
	"github.com/pbx365/pbx365/sync/plan"
)

// TagPrefix starts the ownership marker pbx365 writes into Pbx.Contact Tag.
// Entries without it are never changed or removed.
const TagPrefix = "pbx365:"

// Tag is the ownership marker of the entry written for one source contact:
// TagPrefix and 16 hex digits of SHA-256(lower-case mailbox "/" contact id).
func Tag(mailbox, contactID string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(mailbox) + "/" + contactID))
	return TagPrefix + hex.EncodeToString(sum[:8])
}

// sourceKey is the map's source id of a contact of a mailbox.
func sourceKey(mailbox, contactID string) string { return strings.ToLower(mailbox) + "/" + contactID }

// splitSource splits a map's source id into mailbox and contact id.
func splitSource(key string) (mailbox, id string, ok bool) { return strings.Cut(key, "/") }

// Input is everything a plan is made from.
type Input struct {
	Settings Settings
	Full     bool // every source was asked for in full
	Books    []Book
}

// Book is one PBX phonebook with its current entries, maps and sources.
type Book struct {
	Phonebook string // CompanyBook or PersonalBook(number)
	Number    string // the extension of a personal phonebook
	Quota     int    // most entries the PBX accepts; 0 = no limit known
	QuotaDept string // the department whose quota it is
	QuotaRule string // quota.personal or quota.company
	Entries   []pbxclient.Contact
	Maps      []Map
	Sources   []Source
}

// Source is one mailbox feeding a phonebook, as read.
type Source struct {
	Mailbox  string // object id (users) or address (shared mailboxes)
	Label    string // shown in plans: the user's address or the shared mailbox
	Full     bool   // Contacts is the mailbox's complete list (else a delta)
	Contacts []graphclient.Contact
	Removed  []string // contact ids the delta reported removed
	Err      string   // set when the mailbox could not be read: a skip
	ErrRule  string
}

// Change is one planned change of one phonebook entry.
type Change struct {
	Action       plan.Action        `json:"action"` // create, recreate, adopt, update, delete, skip
	Phonebook    string             `json:"phonebook"`
	Number       string             `json:"number,omitempty"`
	Mailbox      string             `json:"mailbox"`
	Label        string             `json:"label,omitempty"`
	SourceID     string             `json:"source_id,omitempty"` // Outlook contact id
	Name         string             `json:"name,omitempty"`
	Tag          string             `json:"tag,omitempty"`
	PBXContactID int32              `json:"pbx_contact_id,omitempty"` // the entry acted on (0 for a delete: only the map is dropped)
	Rule         string             `json:"rule"`
	Reason       string             `json:"reason,omitempty"`
	Fields       []plan.FieldChange `json:"fields,omitempty"`
	Desired      *pbxclient.Contact `json:"desired,omitempty"` // the whole entry to write (create, recreate, adopt, update)
}

// Plan is the ordered list of changes; Hash ties a shown plan to its apply.
type Plan struct {
	Changes []Change            `json:"changes"`
	Counts  map[plan.Action]int `json:"counts"`
	Full    bool                `json:"full"`
	Hash    string              `json:"hash"`
}

// Writes counts the changes that write to the PBX or the store.
func (p Plan) Writes() int {
	n := 0
	for a, c := range p.Counts {
		if a != plan.ActSkip {
			n += c
		}
	}
	return n
}

// Hash is the hash of a plan's changes.
func Hash(p Plan) string {
	b, err := json.Marshal(p.Changes)
	if err != nil {
		b = []byte(err.Error()) // only strings and numbers: cannot happen
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// phase orders a phonebook's changes: removals first (they free quota),
// then updates, then creates, then skips.
func phase(a plan.Action) int {
	switch a {
	case plan.ActDelete:
		return 0
	case plan.ActAdopt, plan.ActUpdate:
		return 1
	case plan.ActCreate, plan.ActRecreate:
		return 2
	}
	return 3
}

// Make computes the plan. It is pure: the same input gives the same plan.
func Make(in Input) Plan {
	p := Plan{Counts: map[plan.Action]int{}, Full: in.Full}
	books := slices.Clone(in.Books)
	slices.SortFunc(books, func(a, b Book) int { return cmp.Compare(a.Phonebook, b.Phonebook) })
	for _, b := range books {
		p.Changes = append(p.Changes, planBook(b, in.Settings.PhoneRegion)...)
	}
	for _, c := range p.Changes {
		p.Counts[c.Action]++
	}
	p.Hash = Hash(p)
	return p
}

func planBook(b Book, region string) []Change {
	byID := make(map[int32]*pbxclient.Contact, len(b.Entries))
	byTag := map[string]*pbxclient.Contact{}
	for i := range b.Entries {
		x := &b.Entries[i]
		byID[x.ID] = x
		if strings.HasPrefix(x.Tag, TagPrefix) {
			if _, dup := byTag[x.Tag]; !dup {
				byTag[x.Tag] = x
			}
		}
	}
	maps := make(map[string]Map, len(b.Maps))
	mapped := map[int32]bool{}
	for _, m := range b.Maps {
		maps[m.SourceID] = m
		mapped[m.PBXContactID] = true
	}
	// existing finds the entry pbx365 wrote for a source: by the map, when
	// that entry still carries the marker, else by the marker alone.
	existing := func(key, tag string) *pbxclient.Contact {
		if m, ok := maps[key]; ok {
			if x := byID[m.PBXContactID]; x != nil && x.Tag == tag {
				return x
			}
		}
		return byTag[tag]
	}
	var out []Change
	wanted := map[string]bool{} // tags of entries that stay
	done := map[string]bool{}   // source keys planned
	allFull := len(b.Sources) > 0
	for _, s := range b.Sources {
		base := Change{Phonebook: b.Phonebook, Number: b.Number, Mailbox: s.Mailbox, Label: s.Label}
		if s.Err != "" {
			c := base
			c.Action, c.Rule, c.Reason = plan.ActSkip, s.ErrRule, s.Err
			out = append(out, c)
			allFull = false
			continue
		}
		if !s.Full {
			allFull = false
		}
		remove := func(key, id, tag, name, rule, reason string) {
			x := existing(key, tag)
			_, hasMap := maps[key]
			if x == nil && !hasMap {
				return
			}
			c := base
			c.Action, c.SourceID, c.Tag, c.Name, c.Rule, c.Reason = plan.ActDelete, id, tag, name, rule, reason
			if x != nil {
				c.PBXContactID = x.ID
				if c.Name == "" {
					c.Name = entryName(*x)
				}
			} else {
				c.Reason += " (the entry is already gone: only the map is dropped)"
			}
			out = append(out, c)
		}
		contacts := slices.Clone(s.Contacts)
		slices.SortFunc(contacts, func(a, b graphclient.Contact) int { return cmp.Compare(a.ID, b.ID) })
		for _, sc := range contacts {
			key, tag := sourceKey(s.Mailbox, sc.ID), Tag(s.Mailbox, sc.ID)
			if done[key] {
				continue // the same contact twice in one read
			}
			done[key] = true
			name := contactName(sc)
			d, rule, reason := Desired(sc, region, tag)
			if d == nil {
				c := base
				c.Action, c.SourceID, c.Name, c.Rule, c.Reason = plan.ActSkip, sc.ID, name, rule, reason
				out = append(out, c)
				remove(key, sc.ID, tag, name, rule, "the source contact is no longer usable: "+reason)
				continue
			}
			wanted[tag] = true
			c := base
			c.SourceID, c.Name, c.Tag, c.Desired = sc.ID, name, tag, d
			m, hasMap := maps[key]
			x := existing(key, tag)
			switch {
			case x == nil && hasMap:
				c.Action, c.Rule, c.Reason = plan.ActRecreate, "ownership.recreate", "the entry pbx365 wrote was deleted on the PBX"
				c.Fields = diff(pbxclient.Contact{}, *d)
			case x == nil:
				c.Action, c.Rule, c.Reason = plan.ActCreate, "source.new", "a new contact in "+s.Label
				c.Fields = diff(pbxclient.Contact{}, *d)
			case !hasMap || m.PBXContactID != x.ID:
				c.Action, c.Rule, c.Reason, c.PBXContactID = plan.ActAdopt, "ownership.marker", "an entry carrying pbx365's marker is taken back into the map", x.ID
				c.Fields = diff(*x, *d)
			default:
				c.Fields = diff(*x, *d)
				if len(c.Fields) == 0 {
					continue
				}
				c.Action, c.PBXContactID = plan.ActUpdate, x.ID
				if EntryHash(*x) != m.Hash {
					c.Rule, c.Reason = "pbx.edited", "the entry was edited on the PBX; the source wins"
				} else {
					c.Rule, c.Reason = "source.changed", "the source contact changed"
				}
			}
			out = append(out, c)
		}
		for _, id := range slices.Sorted(slices.Values(s.Removed)) {
			key := sourceKey(s.Mailbox, id)
			if done[key] {
				continue
			}
			done[key] = true
			remove(key, id, Tag(s.Mailbox, id), "", "source.deleted", "the source contact was deleted")
		}
		if s.Full {
			var gone []string
			for _, m := range b.Maps {
				if mb, id, ok := splitSource(m.SourceID); ok && mb == strings.ToLower(s.Mailbox) && !done[m.SourceID] {
					gone = append(gone, id)
				}
			}
			slices.Sort(gone)
			for _, id := range gone {
				key := sourceKey(s.Mailbox, id)
				done[key] = true
				remove(key, id, Tag(s.Mailbox, id), "", "source.deleted", "the source contact was deleted")
			}
		}
	}
	if allFull {
		// Entries with pbx365's marker that no map and no source claims: left
		// by a lost write. Only a run that read every source in full may say so.
		removing := map[int32]bool{}
		for _, c := range out {
			if c.Action == plan.ActDelete {
				removing[c.PBXContactID] = true
			}
		}
		for _, x := range b.Entries {
			if strings.HasPrefix(x.Tag, TagPrefix) && !wanted[x.Tag] && !mapped[x.ID] && !removing[x.ID] {
				out = append(out, Change{Action: plan.ActDelete, Phonebook: b.Phonebook, Number: b.Number, Tag: x.Tag,
					Name: entryName(x), PBXContactID: x.ID, Rule: "ownership.orphan",
					Reason: "an entry carrying pbx365's marker whose source no mailbox has"})
			}
		}
	}
	out = applyQuota(b, out)
	slices.SortStableFunc(out, func(a, b Change) int {
		return cmp.Or(cmp.Compare(phase(a.Action), phase(b.Action)), cmp.Compare(a.Name, b.Name),
			cmp.Compare(a.Mailbox, b.Mailbox), cmp.Compare(a.SourceID, b.SourceID), cmp.Compare(a.PBXContactID, b.PBXContactID))
	})
	return out
}

// applyQuota turns the creates that would take the phonebook past its quota
// into skips, in a stable order (by name, then source).
func applyQuota(b Book, out []Change) []Change {
	if b.Quota <= 0 {
		return out
	}
	count := len(b.Entries)
	var creates []int
	for i, c := range out {
		switch c.Action {
		case plan.ActDelete:
			if c.PBXContactID != 0 {
				count--
			}
		case plan.ActCreate, plan.ActRecreate:
			creates = append(creates, i)
		}
	}
	slices.SortStableFunc(creates, func(i, j int) int {
		return cmp.Or(cmp.Compare(out[i].Name, out[j].Name), cmp.Compare(out[i].Mailbox, out[j].Mailbox), cmp.Compare(out[i].SourceID, out[j].SourceID))
	})
	room := b.Quota - count
	who := "the company phonebook"
	if b.Number != "" {
		who = "the personal phonebook of " + b.Number
	}
	for n, i := range creates {
		if n < room {
			continue
		}
		c := &out[i]
		c.Action, c.Rule, c.Fields, c.Desired = plan.ActSkip, b.QuotaRule, nil, nil
		c.Reason = fmt.Sprintf("%s is full: the PBX allows %d entries (department %q); raise the quota on the PBX or remove entries", who, b.Quota, b.QuotaDept)
	}
	return out
}

// contactName is how a source contact is shown.
func contactName(c graphclient.Contact) string {
	if n := strings.TrimSpace(c.DisplayName); n != "" {
		return n
	}
	if n := strings.TrimSpace(strings.TrimSpace(c.GivenName) + " " + strings.TrimSpace(c.Surname)); n != "" {
		return n
	}
	return strings.TrimSpace(c.CompanyName)
}

func entryName(x pbxclient.Contact) string {
	if n := strings.TrimSpace(x.FirstName + " " + x.LastName); n != "" {
		return n
	}
	return x.CompanyName
}

// Desired maps a source contact to the PBX entry pbx365 writes for it, or
// says why it cannot (rule and reason): 3CX needs a first name, last name
// or company, and a phone number.
func Desired(c graphclient.Contact, region, tag string) (*pbxclient.Contact, string, string) {
	first, last := strings.TrimSpace(c.GivenName), strings.TrimSpace(c.Surname)
	company := strings.TrimSpace(c.CompanyName)
	if first == "" && last == "" {
		if dn := strings.TrimSpace(c.DisplayName); dn != "" && !strings.EqualFold(dn, company) {
			w := strings.Fields(dn)
			first, last = w[0], strings.Join(w[1:], " ")
		}
	}
	if first == "" && last == "" && company == "" {
		return nil, "contact.no_name", "no name and no company (the PBX needs one of them)"
	}
	d := &pbxclient.Contact{FirstName: first, LastName: last, CompanyName: company, Title: strings.TrimSpace(c.JobTitle),
		Department: strings.TrimSpace(c.Department), Tag: tag}
	for _, e := range c.Emails {
		if e = strings.TrimSpace(e); e != "" {
			d.Email = e
			break
		}
	}
	var bad []string
	used := map[string]bool{}
	norm := func(list ...string) []string {
		var out []string
		for _, p := range list {
			if strings.TrimSpace(p) == "" {
				continue
			}
			n := E164(p, region)
			if n == "" {
				bad = append(bad, strings.TrimSpace(p))
				continue
			}
			if !used[n] {
				used[n] = true
				out = append(out, n)
			}
		}
		return out
	}
	mobile := norm(c.MobilePhone)
	business := norm(c.BusinessPhones...)
	home := norm(c.HomePhones...)
	other := norm(c.OtherPhones...)
	at := func(l []string, i int) string {
		if i < len(l) {
			return l[i]
		}
		return ""
	}
	d.PhoneNumber = at(mobile, 0)
	d.Business, d.Business2 = at(business, 0), at(business, 1)
	d.Home = at(home, 0)
	var extra []string
	if len(business) > 2 {
		extra = append(extra, business[2:]...)
	}
	if len(home) > 1 {
		extra = append(extra, home[1:]...)
	}
	extra = append(extra, other...)
	d.Other, d.Mobile2 = at(extra, 0), at(extra, 1)
	if d.PhoneNumber == "" && d.Business == "" && d.Home == "" && d.Other == "" {
		reason := "no usable phone number"
		if len(bad) > 0 {
			reason += fmt.Sprintf(" (%q cannot be read as a phone number)", strings.Join(bad, `", "`))
		}
		return nil, "contact.no_number", reason
	}
	return d, "", ""
}

// E164 returns a phone number in E.164 (numbers without a country code
// read in region), or "" when it is not a possible number.
func E164(p, region string) (out string) {
	defer func() {
		if recover() != nil { // not our library: odd input must not stop a run
			out = ""
		}
	}()
	n, err := phonenumbers.Parse(strings.TrimSpace(p), region)
	if err != nil || !phonenumbers.IsPossibleNumber(n) {
		return ""
	}
	return phonenumbers.Format(n, phonenumbers.E164)
}

// entryFields are the Pbx.Contact fields pbx365 owns on its entries.
var entryFields = []struct {
	name string
	get  func(*pbxclient.Contact) string
}{
	{"FirstName", func(c *pbxclient.Contact) string { return c.FirstName }},
	{"LastName", func(c *pbxclient.Contact) string { return c.LastName }},
	{"CompanyName", func(c *pbxclient.Contact) string { return c.CompanyName }},
	{"Title", func(c *pbxclient.Contact) string { return c.Title }},
	{"Department", func(c *pbxclient.Contact) string { return c.Department }},
	{"Email", func(c *pbxclient.Contact) string { return c.Email }},
	{"PhoneNumber", func(c *pbxclient.Contact) string { return c.PhoneNumber }},
	{"Mobile2", func(c *pbxclient.Contact) string { return c.Mobile2 }},
	{"Home", func(c *pbxclient.Contact) string { return c.Home }},
	{"Business", func(c *pbxclient.Contact) string { return c.Business }},
	{"Business2", func(c *pbxclient.Contact) string { return c.Business2 }},
	{"Other", func(c *pbxclient.Contact) string { return c.Other }},
	{"Tag", func(c *pbxclient.Contact) string { return c.Tag }},
}

// diff lists the owned fields that differ between an entry and the desired one.
func diff(have, want pbxclient.Contact) []plan.FieldChange {
	var out []plan.FieldChange
	for _, f := range entryFields {
		if o, n := f.get(&have), f.get(&want); o != n {
			out = append(out, plan.FieldChange{Field: f.name, Old: o, New: n})
		}
	}
	return out
}

// EntryHash is a short hash of an entry's owned fields: the map keeps the
// hash of what pbx365 wrote, so an edit on the PBX shows.
func EntryHash(c pbxclient.Contact) string {
	h := sha256.New()
	for _, f := range entryFields {
		h.Write([]byte(f.get(&c)))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}
