package m365sim

import (
	"encoding/json"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
)

var fixedNow = time.Date(2026, 3, 10, 10, 30, 0, 0, time.UTC)

func fixedClock() time.Time { return fixedNow }

func TestGeneratorDeterministic(t *testing.T) {
	a := New(Options{Seed: 5, Users: 200, Now: fixedClock})
	b := New(Options{Seed: 5, Users: 200, Now: fixedClock})
	c := New(Options{Seed: 6, Users: 200, Now: fixedClock})
	if !reflect.DeepEqual(a.Users(), b.Users()) || !reflect.DeepEqual(a.Groups(), b.Groups()) {
		t.Fatal("same seed, different tenant")
	}
	if reflect.DeepEqual(a.Users(), c.Users()) {
		t.Fatal("different seed, same tenant")
	}
	for _, u := range a.Users() {
		if a.PhotoETag(u.ID) != b.PhotoETag(u.ID) {
			t.Fatal("photo etags differ")
		}
		ma, mb := a.Mailbox(u.ID), b.Mailbox(u.ID)
		ja, _ := json.Marshal(ma)
		jb, _ := json.Marshal(mb)
		if string(ja) != string(jb) {
			t.Fatalf("mailbox of %s differs", u.ID)
		}
	}
	// The first users of a larger tenant equal those of a smaller one with the same seed.
	big := New(Options{Seed: 5, Users: 400, Now: fixedClock})
	for _, u := range a.Users() {
		if bu, ok := big.User(u.ID); !ok || !reflect.DeepEqual(bu, u) {
			t.Fatalf("user %s differs between sizes", u.ID)
		}
	}
	if n := len(big.Users()); n != 400 {
		t.Fatalf("size %d", n)
	}
}

func TestGeneratorAwkwardData(t *testing.T) {
	for _, size := range []int{10, 300, 5000} {
		s := New(Options{Seed: 9, Users: size, Now: fixedClock})
		users := s.Users()
		has := map[string]bool{}
		upnRe := regexp.MustCompile(`^[a-z0-9._#-]+@[a-z0-9.]+$`)
		nonASCII := func(s string) bool {
			return strings.IndexFunc(s, func(r rune) bool { return r > unicode.MaxASCII }) >= 0
		}
		ids := map[string]bool{}
		upns := map[string]bool{}
		for _, u := range users {
			if ids[u.ID] || upns[strings.ToLower(u.UserPrincipalName)] {
				t.Fatalf("size %d: duplicate id or UPN %s", size, u.UserPrincipalName)
			}
			ids[u.ID], upns[strings.ToLower(u.UserPrincipalName)] = true, true
			if !upnRe.MatchString(strings.ToLower(u.UserPrincipalName)) {
				t.Errorf("UPN %q not ASCII", u.UserPrincipalName)
			}
			if nonASCII(u.DisplayName) {
				has["non-ASCII name"] = true
			}
			for _, n := range []string{"Zoë", "Łukasz", "王芳", "Núñez"} {
				if strings.Contains(u.DisplayName, n) {
					has[n] = true
				}
			}
			if u.GivenName == "" && u.Surname == "" && u.Mailbox != MailboxShared {
				has["no given/surname"] = true
			}
			if u.Mail == "" {
				has["no mail"] = true
			}
			if u.UserType == "Guest" && strings.Contains(u.UserPrincipalName, "#EXT#") {
				has["guest"] = true
			}
			if !u.AccountEnabled && u.Mailbox != MailboxShared {
				has["disabled"] = true
			}
			if u.UserType == "" {
				has["no userType"] = true
			}
			if u.Department != "" {
				has["department"] = true
			}
			if u.MobilePhone != "" {
				has["mobile"] = true
			}
			for _, p := range u.BusinessPhones {
				switch {
				case strings.HasPrefix(p, "+"):
					has["international phone"] = true
				case strings.IndexFunc(p, unicode.IsDigit) < 0 || strings.ContainsAny(p, "ACL"):
					has["junk phone"] = true
				default:
					has["national phone"] = true
				}
			}
			if s.PhotoETag(u.ID) != "" {
				has["photo"] = true
			}
			mb := s.Mailbox(u.ID)
			if u.Mailbox == MailboxShared && mb != nil && len(mb.ContactFolders[0].Contacts) > 0 {
				has["shared mailbox with contacts"] = true
			}
			if u.Mailbox == MailboxUser && mb != nil {
				for _, f := range mb.ContactFolders {
					if len(f.Contacts) > 0 {
						has["personal contacts"] = true
					}
				}
				for _, e := range mb.Events {
					has["event "+e.ShowAs] = true
					if e.IsAllDay {
						has["all-day"] = true
					}
					if e.IsCancelled {
						has["cancelled"] = true
					}
					if e.Recurrence != nil && len(e.Occurrences(fixedNow.Add(-72*time.Hour), fixedNow.Add(72*time.Hour))) > 1 {
						has["recurring occurrences"] = true
					}
					if e.Start.Before(fixedNow) && e.End.After(fixedNow) && !e.IsCancelled {
						has["meeting now"] = true
					}
				}
			}
			if u.Mailbox == MailboxNone && mb == nil {
				has["no mailbox"] = true
			}
		}
		want := []string{"non-ASCII name", "Zoë", "Łukasz", "王芳", "Núñez", "no given/surname", "no mail", "guest", "disabled",
			"no userType", "department", "mobile", "international phone", "national phone", "junk phone", "photo",
			"shared mailbox with contacts", "personal contacts", "event busy", "event tentative", "event oof",
			"event workingElsewhere", "all-day", "cancelled", "recurring occurrences", "meeting now", "no mailbox"}
		for _, w := range want {
			if !has[w] {
				t.Errorf("size %d: no %s", size, w)
			}
		}
		// Nested groups exist.
		g, ok := s.GroupByName("Leadership")
		m, _ := s.GroupByName("Managers")
		if !ok || !slices.Contains(g.Members, m.ID) {
			t.Errorf("size %d: Leadership should nest Managers", size)
		}
	}
}

func TestOverlappingEventsInFirstMailbox(t *testing.T) {
	s := New(Options{Seed: 1, Users: 10, Now: fixedClock})
	// The generator's first user has every kind of event; busy ones overlap.
	var mb *Mailbox
	for _, u := range s.Users() {
		if u.DisplayName == "Zoë Núñez" {
			mb = s.Mailbox(u.ID)
		}
	}
	if mb == nil {
		t.Fatal("no mailbox for Zoë Núñez")
	}
	var busy []*Event
	for _, e := range mb.Events {
		if e.ShowAs == "busy" && e.Recurrence == nil && !e.IsCancelled {
			busy = append(busy, e)
		}
	}
	overlap := false
	for i := range busy {
		for j := range busy {
			if i != j && busy[i].Start.Before(busy[j].End) && busy[j].Start.Before(busy[i].End) {
				overlap = true
			}
		}
	}
	if !overlap {
		t.Error("no overlapping busy meetings")
	}
	// Daily stand-up: 10 occurrences, one cancelled.
	for _, e := range mb.Events {
		if e.Recurrence != nil && e.Recurrence.Pattern == "daily" {
			occ := e.Occurrences(fixedNow.AddDate(0, 0, -30), fixedNow.AddDate(0, 0, 30))
			cancelled := 0
			for _, o := range occ {
				if o.IsCancelled {
					cancelled++
				}
				if o.Type != "occurrence" || o.End.Sub(o.Start) != 15*time.Minute {
					t.Errorf("occurrence %+v", o)
				}
			}
			if len(occ) != 10 || cancelled != 1 {
				t.Errorf("stand-up occurrences %d, cancelled %d", len(occ), cancelled)
			}
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, o := range []Options{{Users: 9}, {Users: 100001}, {TenantID: "contoso"}, {ClientID: "8f2a9c3e-1b47-4d6a-9e51-3c0b7d2f6a1"}} {
		if err := o.Validate(); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	for _, o := range []Options{{}, {Users: 10}, {Users: 100000, TenantID: DefaultTenantID, ClientID: strings.ToUpper(DefaultClientID)}} {
		if err := o.Validate(); err != nil {
			t.Errorf("%+v: %v", o, err)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("New with 5 users did not panic")
		}
	}()
	New(Options{Users: 5})
}
