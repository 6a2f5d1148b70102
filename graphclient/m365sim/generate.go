package m365sim

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
	"unicode"
)

// person is a name from the generator's pools.
type person struct{ given, surname, display string }

var givenNames = []string{
	"Zoë", "Łukasz", "José", "François", "Søren", "Ángel", "Björn", "Anaïs", "Jürgen", "Siobhán",
	"Mónica", "Chloé", "İlkay", "Ole", "Émilie", "Maria", "John", "Sarah", "David", "Anna",
	"Michael", "Laura", "Peter", "Emma", "Ahmed", "Priya", "Kenji", "Olga", "Tomáš", "Agnieszka",
	"Mehmet", "Fatima", "Liam", "Noah", "Mia", "Lena", "Inês", "Raúl", "Nikolai", "Aoife",
}

var surnames = []string{
	"Núñez", "Müller", "Dvořák", "O'Brien", "Nguyễn", "Çelik", "Øvergaard", "Kowalski", "Smith", "Johnson",
	"García", "Schmidt", "Rossi", "Dubois", "Jensen", "Andersson", "Novak", "Tanaka", "Kim", "Patel",
	"Silva", "Brown", "Wilson", "Taylor", "Lefèvre", "Ståhl", "Żak", "van der Berg", "de la Cruz", "McAllister",
}

// nonLatin are whole names in scripts without an ASCII spelling.
var nonLatin = []person{
	{"芳", "王", "王芳"}, {"娜", "李", "李娜"}, {"伟", "张", "张伟"}, {"花子", "佐藤", "佐藤 花子"},
	{"민준", "김", "김민준"}, {"Алексей", "Иванов", "Алексей Иванов"}, {"Ελένη", "Παπαδοπούλου", "Ελένη Παπαδοπούλου"},
}

// nameless are display names of accounts without givenName/surname.
var nameless = []string{"Reception Desk", "Conference Room Phone", "Márta", "Lobby Kiosk", "Night Shift", "Lab Terminal"}

var sharedNames = []string{"Sales Team", "Support", "Reception", "Accounts Payable", "Info", "HR Team", "Service Après-Vente"}

var departments = []string{"Sales", "Engineering", "Support", "Finance", "HR", "Marketing", "Operations", "Forschung & Entwicklung"}

var jobTitles = []string{"Engineer", "Account Manager", "Support Agent", "Controller", "Recruiter", "Designer", "Team Lead", "Director", "Ingénieure"}

var offices = []string{"Berlin", "Seattle", "London", "Kraków", "São Paulo", "東京"}

var languages = []string{"en-US", "de-DE", "fr-FR", "pl-PL", "ja-JP", ""}

// businessPhones holds number formats seen in real directories, including junk.
var businessPhoneFormats = []string{
	"+1 425 555 %04d", "(425) 555-%04d", "+44 20 7946 %04d", "020 7946 %04d", "+49 (0)30 123%04d",
	"0049 30 123%04d", "+1-206-555-%04d x123", "+33 1 23 45 %02d 00", "425.555.%04d", "+48 12 345 %04d",
}

var junkPhones = []string{"n/a", "ext. 42", "555-CALL", "see Teams", "-", "+", "tel:", "0000"}

var mobileFormats = []string{"+1 206 555 %04d", "0171 23%05d", "+44 7700 9%05d", "+49 151 2%07d", "(206) 555-%04d", "+81 90-1234-%04d"}

var companies = []string{"Fabrikam", "Northwind Traders", "Contoso Pharma", "Müller & Söhne GmbH", "Société Générale des Eaux", "东方贸易", "Tailspin Toys", ""}

// awkwardKind forces a kind of awkward data onto the first users so that even
// a 10-user tenant contains every kind.
const (
	kindNormal = iota
	kindNonASCII
	kindCJK
	kindGuest
	kindDisabled
	kindUntyped
	kindNameless
	kindNoMail
	kindShared
	kindJunkPhone
)

// kindRates are the per-mille shares of awkward kinds beyond the first ten
// users (cumulative: a draw below 50 is a guest, below 90 disabled, ...).
var kindRates = []struct{ below, kind int }{
	{50, kindGuest}, {90, kindDisabled}, {110, kindUntyped}, {140, kindNameless}, {190, kindNoMail},
	{195, kindShared}, {225, kindJunkPhone}, {400, kindNonASCII}, {440, kindCJK},
}

// genRand returns the per-user random source: users are independent of each
// other, so generation is cheap and stable under changes of size.
func genRand(seed int64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), stream))
}

// newID makes a GUID-shaped id from r.
func newID(r *rand.Rand) string {
	a, b := r.Uint64(), r.Uint64()
	a = a&^(0xf<<12) | 0x4<<12 // version 4
	b = b&^(0x3<<62) | 0x2<<62 // variant
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", a>>32, (a>>16)&0xffff, a&0xffff, b>>48, b&0xffffffffffff)
}

// foldRepl maps accented letters to ASCII.
var foldRepl = map[rune]string{
	'ë': "e", 'é': "e", 'è': "e", 'É': "e", 'ç': "c", 'Ç': "c", 'ł': "l", 'Ł': "l", 'ø': "o", 'Ø': "o",
	'å': "a", 'ä': "a", 'á': "a", 'Á': "a", 'ö': "o", 'ó': "o", 'ü': "u", 'ú': "u", 'ñ': "n", 'ï': "i",
	'í': "i", 'İ': "i", 'ř': "r", 'ž': "z", 'Ż': "z", 'ż': "z", 'š': "s", 'ễ': "e", 'ê': "e", 'ã': "a",
}

// asciiFold spells s in lower-case ASCII for UPNs; "" when nothing is left.
func asciiFold(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			b.WriteRune(unicode.ToLower(r))
		case foldRepl[r] != "":
			b.WriteString(foldRepl[r])
		case r == ' ' || r == '-':
			b.WriteByte('-')
		}
	}
	return strings.Trim(b.String(), "-")
}

// generate fills t deterministically from seed with n users, anchored at now.
func generate(t *tenant, seed int64, n int, now time.Time) {
	anchor := now.UTC().Truncate(time.Hour)
	created := anchor.AddDate(-2, 0, 0)
	var members, guests []*User
	byDept := map[string][]*User{}
	t.users = make([]*User, 0, n)
	t.byID, t.byUPN = make(map[string]*User, n), make(map[string]*User, n)
	t.mailboxes, t.photos = make(map[string]*mailboxSlot, n), make(map[string]*Photo, n/3+1)
	for i := range n {
		r := genRand(seed, uint64(i)+1)
		kind := kindNormal
		if i < 10 {
			kind = i
		} else {
			x := r.IntN(1000)
			for _, kt := range kindRates {
				if x < kt.below {
					kind = kt.kind
					break
				}
			}
		}
		u := genUser(r, t.domain, i, kind, created.Add(time.Duration(i)*time.Minute))
		t.users = append(t.users, u)
		t.byID[u.ID] = u
		t.byUPN[strings.ToLower(u.UserPrincipalName)] = u
		if u.Mailbox != MailboxNone {
			uid, mkind, ms := u.ID, u.Mailbox, uint64(i)+1
			t.mailboxes[u.ID] = &mailboxSlot{gen: func() *Mailbox {
				return genMailbox(genRand(seed^0x6d61696c, ms), uid, mkind, t.domain, anchor, ms == 1)
			}}
		}
		if i%3 == 0 && kind != kindShared {
			ps := uint64(seed) ^ uint64(i)*0x9e3779b97f4a7c15
			t.photos[u.ID] = &Photo{ContentType: "image/jpeg", Width: 96, Height: 96,
				ETag: fmt.Sprintf("\"%08X\"", uint32(ps>>16)), gen: func() []byte { return genPhoto(ps) }}
		}
		switch {
		case u.UserType == "Guest":
			guests = append(guests, u)
		case kind != kindShared:
			members = append(members, u)
			if u.Department != "" {
				byDept[u.Department] = append(byDept[u.Department], u)
			}
		}
	}
	slices.SortFunc(t.users, func(a, b *User) int { return strings.Compare(a.ID, b.ID) })
	genGroups(t, genRand(seed, 0), members, guests, byDept, created)
}

func genUser(r *rand.Rand, domain string, i, kind int, created time.Time) *User {
	u := &User{ID: newID(r), UserType: "Member", AccountEnabled: true, Mailbox: MailboxUser, CreatedDateTime: created}
	p := person{given: givenNames[r.IntN(len(givenNames))], surname: surnames[r.IntN(len(surnames))]}
	if kind == kindNonASCII || kind == kindNormal && r.IntN(4) == 0 {
		// The pools already hold many accented names; force one into the first user.
		p = person{given: givenNames[r.IntN(16)], surname: surnames[r.IntN(8)]}
	}
	if i == 0 {
		p = person{given: "Zoë", surname: "Núñez"}
	}
	if i == 1 {
		p = person{given: "Łukasz", surname: "Żak"}
	}
	p.display = p.given + " " + p.surname
	local := asciiFold(p.given) + "." + asciiFold(p.surname)
	if kind == kindCJK {
		p = nonLatin[r.IntN(len(nonLatin))]
		if i == 2 {
			p = nonLatin[0]
		}
		local = "user"
	}
	local = fmt.Sprintf("%s.%d", local, i)
	u.GivenName, u.Surname, u.DisplayName = p.given, p.surname, p.display
	u.UserPrincipalName = local + "@" + domain
	u.Mail = u.UserPrincipalName
	u.Department = departments[r.IntN(len(departments))]
	if r.IntN(10) == 0 {
		u.Department = ""
	}
	u.JobTitle = jobTitles[r.IntN(len(jobTitles))]
	u.OfficeLocation = offices[r.IntN(len(offices))]
	u.PreferredLanguage = languages[r.IntN(len(languages))]
	u.CompanyName = "Contoso"
	if r.IntN(5) > 0 {
		u.BusinessPhones = []string{fmt.Sprintf(businessPhoneFormats[r.IntN(len(businessPhoneFormats))], r.IntN(10000)%100*100+i%100)}
	}
	if r.IntN(3) > 0 {
		u.MobilePhone = fmt.Sprintf(mobileFormats[r.IntN(len(mobileFormats))], r.IntN(10000))
	}
	switch kind {
	case kindGuest:
		ext := asciiFold(p.given) + "." + asciiFold(p.surname) + fmt.Sprint(i)
		if ext == "."+fmt.Sprint(i) {
			ext = fmt.Sprint("guest", i)
		}
		partner := []string{"fabrikam.com", "gmail.com", "outlook.de", "tailspin.example"}[r.IntN(4)]
		u.UserType = "Guest"
		u.Mail = ext + "@" + partner
		u.UserPrincipalName = ext + "_" + partner + "#EXT#@" + domain
		u.Mailbox = MailboxNone
		u.Department, u.JobTitle, u.CompanyName, u.BusinessPhones = "", "", "", nil
	case kindDisabled:
		u.AccountEnabled = false
	case kindUntyped:
		u.UserType = ""
	case kindNameless:
		u.GivenName, u.Surname = "", ""
		u.DisplayName = nameless[r.IntN(len(nameless))]
		if i == 6 {
			u.DisplayName = nameless[0]
		}
	case kindNoMail:
		u.Mail = ""
		u.Mailbox = MailboxNone
	case kindShared:
		name := sharedNames[r.IntN(len(sharedNames))]
		if i == 8 {
			name = sharedNames[0]
		}
		u.GivenName, u.Surname, u.DisplayName = "", "", name
		u.UserPrincipalName = fmt.Sprintf("%s.%d@%s", asciiFold(name), i, domain)
		u.Mail = u.UserPrincipalName
		u.AccountEnabled = r.IntN(4) == 0 // mostly sign-in blocked
		u.Mailbox = MailboxShared
		u.JobTitle, u.MobilePhone = "", ""
	case kindJunkPhone:
		u.BusinessPhones = []string{junkPhones[r.IntN(len(junkPhones))]}
	}
	if i < 10 && kind != kindGuest && kind != kindShared {
		// The first users always have both kinds of numbers so every format shows up.
		u.BusinessPhones = []string{fmt.Sprintf(businessPhoneFormats[i], 100+i)}
		if kind == kindJunkPhone {
			u.BusinessPhones = []string{junkPhones[0]}
		}
		u.MobilePhone = fmt.Sprintf(mobileFormats[i%len(mobileFormats)], 4200+i)
	}
	return u
}

func genGroups(t *tenant, r *rand.Rand, members, guests []*User, byDept map[string][]*User, created time.Time) {
	add := func(name, desc string, mailEnabled bool, ids ...string) *Group {
		nick := asciiFold(name)
		if nick == "" {
			nick = "group"
		}
		g := &Group{ID: newID(r), DisplayName: name, Description: desc, MailEnabled: mailEnabled, SecurityEnabled: !mailEnabled,
			MailNickname: nick, CreatedDateTime: created, Members: ids}
		if mailEnabled {
			g.Mail = nick + "@" + t.domain
		}
		t.insertGroup(g)
		return g
	}
	ids := func(us []*User) []string {
		out := make([]string, len(us))
		for i, u := range us {
			out[i] = u.ID
		}
		return out
	}
	every := func(us []*User, k int) []*User {
		var out []*User
		for i, u := range us {
			if i%k == 0 {
				out = append(out, u)
			}
		}
		return out
	}
	add("All Staff", "Every employee", true, ids(members)...)
	var deptGroups []*Group
	for _, d := range departments {
		deptGroups = append(deptGroups, add("Dept "+d, "Members of "+d, false, ids(byDept[d])...))
	}
	managers := add("Managers", "People managers", false, ids(every(members, 17))...)
	add("Leadership", "Managers and the board (nested)", true, append([]string{managers.ID}, ids(every(members, 53))...)...)
	phone := []string{deptGroups[0].ID, deptGroups[2].ID} // Sales, Support nested
	phone = append(phone, ids(every(members, 11))...)
	if len(guests) > 0 {
		phone = append(phone, guests[0].ID)
	}
	add("Phone Users", "Users with a PBX extension: Sales and Support (nested) plus others", false, phone...)
	add("Équipe Français", "Non-ASCII group name", true, ids(every(members, 7))...)
	add("研发部", "R&D (CJK group name)", false, ids(every(members, 13))...)
	add("Empty Group", "No members", false)
	add("External Partners", "Guests", false, ids(guests)...)
}

// genPhoto renders a small deterministic JPEG.
func genPhoto(seed uint64) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 96, 96))
	c1 := color.RGBA{uint8(seed), uint8(seed >> 8), uint8(seed >> 16), 255}
	c2 := color.RGBA{uint8(seed >> 24), uint8(seed >> 32), uint8(seed >> 40), 255}
	for y := range 96 {
		for x := range 96 {
			if (x/16+y/16)%2 == 0 {
				img.Set(x, y, c1)
			} else {
				img.Set(x, y, c2)
			}
		}
	}
	var b bytes.Buffer
	_ = jpeg.Encode(&b, img, &jpeg.Options{Quality: 70}) // writing to a bytes.Buffer cannot fail
	return b.Bytes()
}

// genMailbox makes a mailbox: personal contacts (default folder and sometimes a
// child folder) and events around anchor. The first user's mailbox (full) has
// every kind of event.
func genMailbox(r *rand.Rand, userID string, kind MailboxKind, domain string, anchor time.Time, full bool) *Mailbox {
	mb := &Mailbox{Kind: kind}
	def := &ContactFolder{ID: "AAMkF-" + userID + "-contacts", DisplayName: "Contacts"}
	mb.ContactFolders = []*ContactFolder{def}
	nContacts := r.IntN(7)
	if kind == MailboxShared {
		nContacts = 5 + r.IntN(20)
	}
	if full {
		nContacts = max(nContacts, 4)
	}
	for range nContacts {
		def.Contacts = append(def.Contacts, genContact(r, anchor))
	}
	if r.IntN(4) == 0 || full {
		sub := &ContactFolder{ID: "AAMkF-" + userID + "-suppliers", DisplayName: "Suppliers", ParentFolderID: def.ID}
		for range 1 + r.IntN(3) {
			sub.Contacts = append(sub.Contacts, genContact(r, anchor))
		}
		mb.ContactFolders = append(mb.ContactFolders, sub)
	}
	if kind == MailboxShared {
		return mb
	}
	ev := func(subject, showAs string, start, end time.Time) *Event {
		e := &Event{ID: "AAMkE-" + newID(r), ICalUID: newID(r), ChangeKey: newChangeKey(r), Subject: subject, ShowAs: showAs,
			Sensitivity: "normal", Start: start, End: end, CreatedDateTime: anchor.AddDate(0, 0, -14), Organizer: "organizer@" + domain}
		e.LastModifiedDateTime = e.CreatedDateTime
		mb.Events = append(mb.Events, e)
		return e
	}
	h := func(n float64) time.Time { return anchor.Add(time.Duration(n * float64(time.Hour))) }
	day := anchor.Truncate(24 * time.Hour)
	kinds := r.Perm(8)[:r.IntN(6)]
	if full {
		kinds = []int{0, 1, 2, 3, 4, 5, 6, 7}
	}
	for _, k := range kinds {
		switch k {
		case 0:
			ev("Project sync", "busy", h(-1), h(1))
		case 1:
			ev("Maybe: lunch talk", "tentative", h(2), h(3))
		case 2:
			e := ev("Vacation", "oof", day.AddDate(0, 0, 1), day.AddDate(0, 0, 3))
			e.IsAllDay = true
		case 3:
			ev("Customer visit", "workingElsewhere", h(4), h(6))
		case 4:
			// Overlaps the busy one and the working-elsewhere one.
			ev("Overlapping review", "busy", h(0.5), h(4.5))
		case 5:
			e := ev("Cancelled planning", "busy", h(1), h(2))
			e.IsCancelled = true
		case 6:
			e := ev("Daily stand-up", "busy", day.AddDate(0, 0, -3).Add(9*time.Hour), day.AddDate(0, 0, -3).Add(9*time.Hour+15*time.Minute))
			e.Recurrence = &Recurrence{Pattern: "daily", Interval: 1, Count: 10, Cancelled: []int{4}}
		case 7:
			e := ev("Weekly 1:1", "busy", day.AddDate(0, 0, -7).Add(14*time.Hour), day.AddDate(0, 0, -7).Add(14*time.Hour+30*time.Minute))
			e.Recurrence = &Recurrence{Pattern: "weekly", Interval: 1, Count: 6}
			e.Sensitivity = "private"
		}
	}
	if r.IntN(8) == 0 {
		e := ev("Sick leave", "oof", day, day.AddDate(0, 0, 1))
		e.IsAllDay = true
	}
	return mb
}

func genContact(r *rand.Rand, anchor time.Time) *Contact {
	c := &Contact{ID: "AAMkC-" + newID(r), ChangeKey: newChangeKey(r), CreatedDateTime: anchor.AddDate(0, -1, 0)}
	c.LastModifiedDateTime = c.CreatedDateTime
	switch r.IntN(6) {
	case 0: // company only
		c.CompanyName = companies[r.IntN(len(companies)-1)]
		c.DisplayName = c.CompanyName
	case 1:
		p := nonLatin[r.IntN(len(nonLatin))]
		c.GivenName, c.Surname, c.DisplayName = p.given, p.surname, p.display
	default:
		c.GivenName, c.Surname = givenNames[r.IntN(len(givenNames))], surnames[r.IntN(len(surnames))]
		c.DisplayName = c.GivenName + " " + c.Surname
		c.CompanyName = companies[r.IntN(len(companies))]
	}
	if r.IntN(3) > 0 {
		c.EmailAddresses = []EmailAddress{{Name: c.DisplayName, Address: fmt.Sprintf("c%d@%s.example", r.IntN(100000), asciiFold(c.CompanyName)+"x")}}
	}
	if r.IntN(5) == 0 {
		c.EmailAddresses = append(c.EmailAddresses, EmailAddress{Address: fmt.Sprintf("private%d@mail.example", r.IntN(1000))})
	}
	if r.IntN(3) > 0 {
		c.BusinessPhones = []string{fmt.Sprintf(businessPhoneFormats[r.IntN(len(businessPhoneFormats))], r.IntN(10000))}
	}
	if r.IntN(2) == 0 {
		c.MobilePhone = fmt.Sprintf(mobileFormats[r.IntN(len(mobileFormats))], r.IntN(10000))
	}
	if r.IntN(6) == 0 {
		c.HomePhones = []string{junkPhones[r.IntN(len(junkPhones))]}
	}
	return c
}

// newChangeKey makes an Outlook-looking change key.
func newChangeKey(r *rand.Rand) string {
	return fmt.Sprintf("EQAAABYAAAD%012X", r.Uint64()&0xffffffffffff)
}
