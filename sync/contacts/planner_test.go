package contacts_test

import (
	"strings"
	"testing"

	"github.com/pbx365/pbx365/graphclient"
	"github.com/pbx365/pbx365/pbxclient"
	"github.com/pbx365/pbx365/sync/contacts"
	"github.com/pbx365/pbx365/sync/plan"
)

func TestDesiredMapsNamesAndNumbers(t *testing.T) {
	tag := contacts.Tag("u1", "c1")
	cases := []struct {
		name string
		in   graphclient.Contact
		want pbxclient.Contact
		rule string
	}{
		{"names and slots", graphclient.Contact{GivenName: " Ada ", Surname: "Lovelace", CompanyName: "Engines", JobTitle: "Analyst", Department: "R&D",
			Emails: []string{"", "ada@x.example", "b@x.example"}, MobilePhone: "(212) 555-0142",
			BusinessPhones: []string{"+44 20 7946 0958", "020 7946 0959", "+1 415 555 0100"}, HomePhones: []string{"212-555-0199", "+49 30 1234567"},
			OtherPhones: []string{"+33 1 23 45 67 89"}},
			pbxclient.Contact{FirstName: "Ada", LastName: "Lovelace", CompanyName: "Engines", Title: "Analyst", Department: "R&D", Email: "ada@x.example",
				PhoneNumber: "+12125550142", Business: "+442079460958", Business2: "+14155550100", Home: "+12125550199", Other: "+49301234567",
				Mobile2: "+33123456789", Tag: tag}, ""}, // "020 7946 0959" is not a possible US number: dropped
		{"display name split", graphclient.Contact{DisplayName: "Jean Luc Picard", BusinessPhones: []string{"+33 1 23 45 67 89"}},
			pbxclient.Contact{FirstName: "Jean", LastName: "Luc Picard", Business: "+33123456789", Tag: tag}, ""},
		{"company only keeps no names", graphclient.Contact{DisplayName: "Acme", CompanyName: "Acme", MobilePhone: "+1 212 555 0100"},
			pbxclient.Contact{CompanyName: "Acme", PhoneNumber: "+12125550100", Tag: tag}, ""},
		{"duplicate numbers once", graphclient.Contact{GivenName: "A", MobilePhone: "+1 212 555 0100", BusinessPhones: []string{"(212) 555-0100", "+1 212 555 0101"}},
			pbxclient.Contact{FirstName: "A", PhoneNumber: "+12125550100", Business: "+12125550101", Tag: tag}, ""},
		{"no number", graphclient.Contact{GivenName: "A", MobilePhone: "ask reception", HomePhones: []string{"12"}}, pbxclient.Contact{}, "contact.no_number"},
		{"no name", graphclient.Contact{MobilePhone: "+1 212 555 0100"}, pbxclient.Contact{}, "contact.no_name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, rule, reason := contacts.Desired(c.in, "US", tag)
			if c.rule != "" {
				if got != nil || rule != c.rule || reason == "" {
					t.Fatalf("got %+v %q %q, want skip %s", got, rule, reason, c.rule)
				}
				return
			}
			if got == nil || *got != c.want {
				t.Fatalf("got %+v (%s %s)\nwant %+v", got, rule, reason, c.want)
			}
		})
	}
	if e := contacts.E164("030 1234567", "DE"); e != "+49301234567" {
		t.Errorf("region: %q", e)
	}
}

func TestTagIsStableAndDistinct(t *testing.T) {
	a := contacts.Tag("User@Contoso.com", "AAMk=1")
	if a != contacts.Tag("user@contoso.com", "AAMk=1") || !strings.HasPrefix(a, contacts.TagPrefix) || len(a) != len(contacts.TagPrefix)+16 {
		t.Errorf("tag %q", a)
	}
	if a == contacts.Tag("user@contoso.com", "AAMk=2") || a == contacts.Tag("other@contoso.com", "AAMk=1") {
		t.Error("different sources share a tag")
	}
}

func TestPlannerOwnershipRules(t *testing.T) {
	src := func(id, phone string) graphclient.Contact {
		return graphclient.Contact{ID: id, GivenName: "N" + id, MobilePhone: phone}
	}
	mb := "mbx"
	entry := func(id int32, sid, phone string) pbxclient.Contact {
		return pbxclient.Contact{ID: id, FirstName: "N" + sid, PhoneNumber: phone, Tag: contacts.Tag(mb, sid)}
	}
	userMade := pbxclient.Contact{ID: 9, FirstName: "Mine", PhoneNumber: "+12125550999"}
	stray := entry(8, "gone-unmapped", "+12125550998")
	b := contacts.Book{Phonebook: "user/101", Number: "101",
		Entries: []pbxclient.Contact{userMade, entry(1, "a", "+12125550001"), entry(2, "b", "+12125550002"), entry(3, "c", "+12125550003"), stray, entry(4, "x", "+12125550004")},
		Maps: []contacts.Map{
			{Phonebook: "user/101", SourceID: "mbx/a", PBXContactID: 1, Hash: contacts.EntryHash(entry(1, "a", "+12125550001"))},
			{Phonebook: "user/101", SourceID: "mbx/b", PBXContactID: 2, Hash: contacts.EntryHash(entry(2, "b", "+12125550002"))},
			{Phonebook: "user/101", SourceID: "mbx/d", PBXContactID: 7, Hash: "x"}, // its entry was deleted on the PBX
			{Phonebook: "user/101", SourceID: "mbx/e", PBXContactID: 6, Hash: "x"}, // source and entry gone
		},
		Sources: []contacts.Source{{Mailbox: mb, Label: "u@x", Full: true, Contacts: []graphclient.Contact{
			src("a", "+1 212 555 0001"), // unchanged
			src("b", "+1 212 555 0020"), // changed
			src("c", "+1 212 555 0003"), // marked but unmapped: adopted
			src("d", "+1 212 555 0005"), // mapped, entry gone: recreated
			src("f", "+1 212 555 0006"), // new
			// x: mapped? no; marked entry 4 with no source: an orphan
		}}},
	}
	p := contacts.Make(contacts.Input{Full: true, Books: []contacts.Book{b}})
	got := map[string]string{}
	for _, c := range p.Changes {
		got[string(c.Action)+"/"+c.Rule] += c.SourceID + " "
		if c.PBXContactID == userMade.ID {
			t.Errorf("a user-made entry is touched: %+v", c)
		}
	}
	want := map[string]string{
		"update/source.changed":       "b ",
		"adopt/ownership.marker":      "c ",
		"recreate/ownership.recreate": "d ",
		"create/source.new":           "f ",
		"delete/source.deleted":       "e ",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q (plan %v)", k, got[k], v, got)
		}
	}
	orphans := 0
	for _, c := range p.Changes {
		if c.Rule == "ownership.orphan" {
			orphans++
			if c.PBXContactID != 8 && c.PBXContactID != 4 {
				t.Errorf("orphan %+v", c)
			}
		}
	}
	if orphans != 2 {
		t.Errorf("%d orphans, want 2 (entries 4 and 8)", orphans)
	}
	// A delta read (not full) never removes what it did not see.
	b.Sources[0].Full = false
	for _, c := range contacts.Make(contacts.Input{Books: []contacts.Book{b}}).Changes {
		if c.Action == plan.ActDelete {
			t.Errorf("a delta run deletes %+v", c)
		}
	}
	// Quota: the user-made entry counts; creates past it are skips, by name.
	b.Sources[0].Full = true
	b.Quota, b.QuotaRule = 5, "quota.personal" // 6 entries, 2 orphans removed (e's delete is map-only): one free slot
	q := contacts.Make(contacts.Input{Full: true, Books: []contacts.Book{b}})
	if q.Counts[plan.ActRecreate] != 1 || q.Counts[plan.ActCreate] != 0 || countRule(q, plan.ActSkip, "quota.personal") != 1 {
		t.Errorf("quota plan %v", q.Counts)
	}
}
