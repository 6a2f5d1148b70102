package plan

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pbx365/pbx365/graphclient"
	"github.com/pbx365/pbx365/pbxclient"
)

// want is what the plan must hold for one object id. Action "" means no
// change at all for that user.
type want struct {
	id     string
	action Action
	rule   string
	number string
	reason string            // a substring of the reason
	fields map[string]string // field → "old→new"; nil: not checked
}

type ruleCase struct {
	name  string
	setup func(in *Input)
	wants []want
	guard string // guard kind, "" for none
}

func runCases(t *testing.T, cases []ruleCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := baseInput()
			tc.setup(&in)
			p := Make(in)
			gk := ""
			if p.Guard != nil {
				gk = p.Guard.Kind
			}
			if gk != tc.guard {
				t.Errorf("guard = %q, want %q\n%s", gk, tc.guard, dump(p))
			}
			for _, w := range tc.wants {
				cs := changesFor(p, w.id)
				if w.action == "" {
					if len(cs) != 0 {
						t.Errorf("%s: want no change, got\n%s", w.id, dump(p))
					}
					continue
				}
				c := one(t, p, w.id)
				if c.Action != w.action || c.Rule != w.rule {
					t.Errorf("%s: got %s/%s (%s), want %s/%s", w.id, c.Action, c.Rule, c.Reason, w.action, w.rule)
				}
				if w.number != "" && c.Number != w.number {
					t.Errorf("%s: number %q, want %q", w.id, c.Number, w.number)
				}
				if !strings.Contains(c.Reason, w.reason) {
					t.Errorf("%s: reason %q lacks %q", w.id, c.Reason, w.reason)
				}
				if w.fields != nil {
					got := map[string]string{}
					for _, f := range c.Fields {
						got[f.Field] = f.Old + "→" + f.New
					}
					if !maps.Equal(got, w.fields) {
						t.Errorf("%s: fields %v, want %v", w.id, got, w.fields)
					}
				}
				if c.Action == ActConflict && (c.Desired != nil || len(c.Fields) > 0) {
					t.Errorf("%s: a conflict carries writes: %+v", w.id, c)
				}
				if (c.Action == ActCreate || c.Action == ActAdopt || c.Action == ActUpdate || c.Action == ActRecreate || c.Action == ActEnable) && c.Desired == nil {
					t.Errorf("%s: %s without Desired", w.id, c.Action)
				}
			}
		})
	}
}

func TestEligibility(t *testing.T) {
	guest := func(id string) graphclient.User {
		u := member(id, id+"@ex.com", "Guest "+id)
		u.UserType = "Guest"
		return u
	}
	untyped := func(id string) graphclient.User {
		u := member(id, id+"@ex.com", "Old "+id)
		u.UserType = ""
		return u
	}
	disabled := func(id string) graphclient.User {
		u := member(id, id+"@ex.com", "Gone "+id)
		u.AccountEnabled = false
		return u
	}
	runCases(t, []ruleCase{
		{"member is created", func(in *Input) {
			in.Directory = append(in.Directory, member("m", "m@ex.com", "Mia M"))
		}, []want{{id: "m", action: ActCreate, rule: RuleNumbers, number: "100"}}, ""},
		{"guest skipped", func(in *Input) {
			in.Directory = append(in.Directory, guest("g"))
		}, []want{{id: "g", action: ActSkip, rule: RuleUserType, reason: "users.include_guests is off"}}, ""},
		{"guest included", func(in *Input) {
			in.Directory = append(in.Directory, guest("g"))
			in.Settings.IncludeGuests = true
		}, []want{{id: "g", action: ActCreate, rule: RuleNumbers, number: "100"}}, ""},
		{"untyped skipped", func(in *Input) {
			in.Directory = append(in.Directory, untyped("u"))
		}, []want{{id: "u", action: ActSkip, rule: RuleUserType, reason: "users.include_untyped is off"}}, ""},
		{"untyped included", func(in *Input) {
			in.Directory = append(in.Directory, untyped("u"))
			in.Settings.IncludeUntyped = true
		}, []want{{id: "u", action: ActCreate, rule: RuleNumbers}}, ""},
		{"guests do not include untyped", func(in *Input) {
			in.Directory = append(in.Directory, untyped("u"))
			in.Settings.IncludeGuests = true
		}, []want{{id: "u", action: ActSkip, rule: RuleUserType}}, ""},
		{"unknown userType skipped", func(in *Input) {
			u := member("p", "p@ex.com", "P P")
			u.UserType = "Partner"
			in.Directory = append(in.Directory, u)
			in.Settings.IncludeGuests, in.Settings.IncludeUntyped = true, true
		}, []want{{id: "p", action: ActSkip, rule: RuleUserType, reason: `"Partner"`}}, ""},
		{"disabled account skipped", func(in *Input) {
			in.Directory = append(in.Directory, disabled("d"))
		}, []want{{id: "d", action: ActSkip, rule: RuleAccountEnabled, reason: "accountEnabled false"}}, ""},
		{"disabled guest names the user type first", func(in *Input) {
			u := guest("g")
			u.AccountEnabled = false
			in.Directory = append(in.Directory, u)
		}, []want{{id: "g", action: ActSkip, rule: RuleUserType}}, ""},
		{"linked user disabled in the directory is disabled on the PBX", func(in *Input) {
			in.Directory = append(in.Directory, disabled("d"))
			in.PBXUsers = append(in.PBXUsers, ext(5, "150", "d@ex.com", "Gone d"))
			in.Links = append(in.Links, link("d", 5, "150"))
		}, []want{{id: "d", action: ActDisable, rule: RuleRemoval, number: "150", reason: "accountEnabled false",
			fields: map[string]string{FieldEnabled: "true→false"}}}, ""},
		{"linked guest without include_guests leaves scope", func(in *Input) {
			in.Directory = append(in.Directory, guest("g"))
			in.PBXUsers = append(in.PBXUsers, ext(5, "150", "g@ex.com", "Guest g"))
			in.Links = append(in.Links, link("g", 5, "150"))
			in.Settings.MaxRemovals = "5"
		}, []want{{id: "g", action: ActDisable, rule: RuleRemoval}}, ""},
	})
}

func TestScope(t *testing.T) {
	dir := func(in *Input) {
		in.Directory = append(in.Directory,
			member("a", "ann@ex.com", "Ann A"),
			member("b", "bob@ex.com", "Bob B"),
			member("c", "cy@ex.com", "Cy C"))
	}
	runCases(t, []ruleCase{
		{"all", func(in *Input) { dir(in); in.Settings.Scope = "all" }, []want{
			{id: "a", action: ActCreate, rule: RuleNumbers, number: "100"},
			{id: "b", action: ActCreate, rule: RuleNumbers, number: "101"},
			{id: "c", action: ActCreate, rule: RuleNumbers, number: "102"}}, ""},
		{"groups", func(in *Input) {
			dir(in)
			in.Settings.Scope = "groups"
			in.GroupMembers = map[string]bool{"b": true}
		}, []want{
			{id: "a", action: ActSkip, rule: RuleScope, reason: "chosen groups"},
			{id: "b", action: ActCreate, rule: RuleNumbers, number: "100"},
			{id: "c", action: ActSkip, rule: RuleScope}}, ""},
		{"groups without members selects nobody", func(in *Input) {
			dir(in)
			in.Settings.Scope = "groups"
		}, []want{{id: "a", action: ActSkip, rule: RuleScope}, {id: "b", action: ActSkip, rule: RuleScope}}, ""},
		{"selected by object id and by UPN in any case", func(in *Input) {
			dir(in)
			in.Settings.Scope = "selected"
			in.Settings.Selected = []string{" A ", "BOB@EX.COM"}
		}, []want{
			{id: "a", action: ActCreate, rule: RuleNumbers, number: "100"},
			{id: "b", action: ActCreate, rule: RuleNumbers, number: "101"},
			{id: "c", action: ActSkip, rule: RuleScope, reason: "not among the chosen users"}}, ""},
		{"all-except", func(in *Input) {
			dir(in)
			in.Settings.Scope = "all-except"
			in.Settings.Selected = []string{"cy@ex.com"}
		}, []want{
			{id: "a", action: ActCreate, rule: RuleNumbers, number: "100"},
			{id: "b", action: ActCreate, rule: RuleNumbers, number: "101"},
			{id: "c", action: ActSkip, rule: RuleScope, reason: "excluded"}}, ""},
		{"linked user dropped from the groups leaves scope", func(in *Input) {
			dir(in)
			in.Settings.Scope = "groups"
			in.Settings.MaxRemovals = "1"
			in.GroupMembers = map[string]bool{"a": true, "b": true}
			in.PBXUsers = append(in.PBXUsers, ext(9, "120", "cy@ex.com", "Cy C"))
			in.Links = append(in.Links, link("c", 9, "120"))
		}, []want{
			{id: "a", action: ActCreate, number: "100", rule: RuleNumbers},
			{id: "c", action: ActDisable, rule: RuleRemoval, number: "120", reason: "chosen groups"}}, ""},
	})
}

func TestNumbers(t *testing.T) {
	names := func(in *Input, ns ...string) {
		for i, n := range ns {
			id := string(rune('a' + i))
			in.Directory = append(in.Directory, member(id, id+"@ex.com", n))
		}
	}
	runCases(t, []ruleCase{
		{"numbers used by any PBX object or link are skipped", func(in *Input) {
			names(in, "A", "B", "C")
			in.NumbersInUse = []pbxclient.NumberInUse{{Number: "100", Kind: "queue", Name: "Sales"}, {Number: "103", Kind: "ivr"}}
			in.PBXUsers = []pbxclient.User{ext(1, "101", "x@ex.com", "X X")}
			// linked, extension deleted on the PBX, user gone: number stays taken
			in.Links = []Link{link("old", 77, "102")}
		}, []want{
			{id: "a", action: ActCreate, rule: RuleNumbers, number: "104"},
			{id: "b", action: ActCreate, rule: RuleNumbers, number: "105"},
			{id: "c", action: ActCreate, rule: RuleNumbers, number: "106"},
			{id: "old", action: ""}}, ""},
		{"collation order, root locale, case-insensitive", func(in *Input) {
			// byte order would give Zoë, adam, Émile, Eve
			names(in, "Zoë Z", "adam A", "Émile E", "Eve E")
		}, []want{
			{id: "b", action: ActCreate, number: "100", rule: RuleNumbers},
			{id: "c", action: ActCreate, number: "101", rule: RuleNumbers},
			{id: "d", action: ActCreate, number: "102", rule: RuleNumbers},
			{id: "a", action: ActCreate, number: "103", rule: RuleNumbers}}, ""},
		{"equal names are ordered by object id", func(in *Input) {
			in.Directory = []graphclient.User{member("z9", "z9@ex.com", "ann lee"), member("a1", "a1@ex.com", "Ann Lee")}
		}, []want{
			{id: "a1", action: ActCreate, number: "100", rule: RuleNumbers},
			{id: "z9", action: ActCreate, number: "101", rule: RuleNumbers}}, ""},
		{"range exhausted", func(in *Input) {
			names(in, "A", "B", "C")
			in.Settings.ExtStart, in.Settings.ExtEnd = "100", "101"
		}, []want{
			{id: "a", action: ActCreate, number: "100", rule: RuleNumbers},
			{id: "b", action: ActCreate, number: "101", rule: RuleNumbers},
			{id: "c", action: ActSkip, rule: RuleNumbers, reason: "no free number left in the range [100, 101]"}}, ""},
		{"first free on an empty PBX starts at 100", func(in *Input) {
			names(in, "A")
			in.Settings.ExtStart, in.Settings.ExtEnd = "", ""
		}, []want{{id: "a", action: ActCreate, number: "100", rule: RuleNumbers}}, ""},
		{"first free follows the PBX's digit count", func(in *Input) {
			names(in, "A", "B")
			in.Settings.ExtStart, in.Settings.ExtEnd = "", ""
			in.PBXUsers = []pbxclient.User{ext(1, "100", "o@ex.com", "O"), ext(2, "1000", "p@ex.com", "P"), ext(3, "1001", "q@ex.com", "Q")}
		}, []want{
			{id: "a", action: ActCreate, number: "1002", rule: RuleNumbers},
			{id: "b", action: ActCreate, number: "1003", rule: RuleNumbers}}, ""},
		{"first free fills gaps", func(in *Input) {
			names(in, "A")
			in.Settings.ExtStart, in.Settings.ExtEnd = "", ""
			in.PBXUsers = []pbxclient.User{ext(1, "100", "o@ex.com", "O"), ext(2, "102", "p@ex.com", "P")}
		}, []want{{id: "a", action: ActCreate, number: "101", rule: RuleNumbers}}, ""},
		{"first free up to ext_end", func(in *Input) {
			names(in, "A")
			in.Settings.ExtStart, in.Settings.ExtEnd = "", "199"
			in.PBXUsers = []pbxclient.User{ext(2, "1000", "p@ex.com", "P")}
		}, []want{{id: "a", action: ActCreate, number: "100", rule: RuleNumbers}}, ""},
		{"open range grows past its digit count", func(in *Input) {
			names(in, "A")
			in.Settings.ExtStart, in.Settings.ExtEnd = "998", ""
			in.NumbersInUse = []pbxclient.NumberInUse{{Number: "998", Kind: "queue"}, {Number: "999", Kind: "ringgroup"}}
		}, []want{{id: "a", action: ActCreate, number: "1000", rule: RuleNumbers}}, ""},
		{"leading zeros: padded, and compared by value", func(in *Input) {
			names(in, "A", "B")
			in.Settings.ExtStart, in.Settings.ExtEnd = "0100", "0199"
			in.NumbersInUse = []pbxclient.NumberInUse{{Number: "100", Kind: "queue"}}
		}, []want{
			{id: "a", action: ActCreate, number: "0101", rule: RuleNumbers},
			{id: "b", action: ActCreate, number: "0102", rule: RuleNumbers}}, ""},
		{"non-numeric numbers in use do not block", func(in *Input) {
			names(in, "A")
			in.NumbersInUse = []pbxclient.NumberInUse{{Number: "*100", Kind: "parking"}, {Number: "99999999999999999999999", Kind: "trunk"}}
		}, []want{{id: "a", action: ActCreate, number: "100", rule: RuleNumbers}}, ""},
		{"conflicted and adopted users take no number", func(in *Input) {
			names(in, "A", "B", "C")
			in.PBXUsers = []pbxclient.User{ext(1, "150", "A@EX.COM", "A")}
		}, []want{
			{id: "a", action: ActAdopt, number: "150", rule: RuleAdoption},
			{id: "b", action: ActCreate, number: "100", rule: RuleNumbers},
			{id: "c", action: ActCreate, number: "101", rule: RuleNumbers}}, ""},
	})
}

func TestAdoption(t *testing.T) {
	u := member("u", "Ann.Lee@ex.com", "Ann Lee")
	u.Mail = "ann@ex.com"
	runCases(t, []ruleCase{
		{"by UPN in another case, owned fields set in the same change", func(in *Input) {
			in.Directory = []graphclient.User{u}
			x := ext(4, "140", "ANN.LEE@EX.COM", "Ann Lee")
			x.Enabled = false
			x.Groups = nil
			in.PBXUsers = []pbxclient.User{x}
		}, []want{{id: "u", action: ActAdopt, rule: RuleAdoption, number: "140", fields: map[string]string{
			FieldEmailAddress: "ANN.LEE@EX.COM→ann@ex.com",
			FieldEnabled:      "false→true",
			FieldDepartment:   "→Azure AD",
		}}}, ""},
		{"by mail, nothing to change", func(in *Input) {
			in.Directory = []graphclient.User{u}
			in.PBXUsers = []pbxclient.User{ext(4, "140", "ann@ex.com", "Ann Lee")}
		}, []want{{id: "u", action: ActAdopt, rule: RuleAdoption, number: "140", fields: map[string]string{}}}, ""},
		{"two candidates for one user", func(in *Input) {
			in.Directory = []graphclient.User{u}
			in.PBXUsers = []pbxclient.User{ext(4, "140", "ann@ex.com", "Ann Lee"), ext(5, "141", "ann.lee@ex.com", "Ann Lee")}
		}, []want{{id: "u", action: ActConflict, rule: RuleAdoption, reason: "extension 140 (PBX id 4) and extension 141 (PBX id 5)"}}, ""},
		{"one extension matching two users", func(in *Input) {
			v := member("v", "v@ex.com", "Vic V")
			v.Mail = "ann@ex.com"
			in.Directory = []graphclient.User{u, v, member("w", "w@ex.com", "W W")}
			in.PBXUsers = []pbxclient.User{ext(4, "140", "ann@ex.com", "Ann Lee")}
		}, []want{
			{id: "u", action: ActConflict, rule: RuleAdoption, reason: "several users (Ann.Lee@ex.com, v@ex.com)"},
			{id: "v", action: ActConflict, rule: RuleAdoption},
			{id: "w", action: ActCreate, number: "100", rule: RuleNumbers}}, ""},
		{"an extension linked to another user is no candidate", func(in *Input) {
			in.Directory = []graphclient.User{u, member("o", "o@ex.com", "O O")}
			in.PBXUsers = []pbxclient.User{ext(4, "140", "ann@ex.com", "Ann Lee")}
			in.Links = []Link{link("o", 4, "140")}
		}, []want{
			{id: "u", action: ActConflict, rule: RuleEmailUnique, reason: "already used by extension 140 (PBX id 4), linked to o"},
			{id: "o", action: ActUpdate, rule: RuleFields}}, ""},
		{"new users sharing a mail are conflicts", func(in *Input) {
			v := member("v", "v@ex.com", "Vic V")
			v.Mail = "ANN@ex.com"
			in.Directory = []graphclient.User{u, v}
		}, []want{
			{id: "u", action: ActConflict, rule: RuleEmailUnique, reason: "several users"},
			{id: "v", action: ActConflict, rule: RuleEmailUnique}}, ""},
		{"adopting a disabled extension enables it", func(in *Input) {
			in.Directory = []graphclient.User{u}
			x := ext(4, "140", "ann@ex.com", "Ann Lee")
			x.Enabled = false
			in.PBXUsers = []pbxclient.User{x}
		}, []want{{id: "u", action: ActAdopt, rule: RuleAdoption, fields: map[string]string{FieldEnabled: "false→true"}}}, ""},
	})
}

func TestOwnedFields(t *testing.T) {
	linked := func(in *Input, u graphclient.User, x pbxclient.User) {
		in.Directory = append(in.Directory, u)
		in.PBXUsers = append(in.PBXUsers, x)
		in.Links = append(in.Links, link(u.ID, x.ID, x.Number))
	}
	given := member("g", "g.h@ex.com", "Dr Gina Holm")
	given.GivenName, given.Surname = "Gina", "Holm"
	noGiven := member("n", "n@ex.com", "  Nils   van   Dam ")
	single := member("s", "solo.name@ex.com", "Solo")
	empty := member("e", "e.local@ex.com", "")
	phones := member("p", "p@ex.com", "Pat P")
	phones.MobilePhone = "(202) 456-1111"
	phones.BusinessPhones = []string{" ", "+44 20 7946 0958", "+1 202 456 1414"}
	runCases(t, []ruleCase{
		{"names: givenName and surname", func(in *Input) { in.Directory = []graphclient.User{given} },
			[]want{{id: "g", action: ActCreate, rule: RuleNumbers, fields: map[string]string{
				FieldFirstName: "→Gina", FieldLastName: "→Holm", FieldEmailAddress: "→g.h@ex.com",
				FieldEnabled: "→true", FieldDepartment: "→Azure AD", FieldSSO: "→false"}}}, ""},
		{"names: from displayName words", func(in *Input) { in.Directory = []graphclient.User{noGiven} },
			[]want{{id: "n", action: ActCreate, rule: RuleNumbers, fields: map[string]string{
				FieldFirstName: "→Nils", FieldLastName: "→van Dam", FieldEmailAddress: "→n@ex.com",
				FieldEnabled: "→true", FieldDepartment: "→Azure AD", FieldSSO: "→false"}}}, ""},
		{"names: one word, no last name", func(in *Input) { in.Directory = []graphclient.User{single} },
			[]want{{id: "s", action: ActCreate, rule: RuleNumbers, fields: map[string]string{
				FieldFirstName: "→Solo", FieldEmailAddress: "→solo.name@ex.com",
				FieldEnabled: "→true", FieldDepartment: "→Azure AD", FieldSSO: "→false"}}}, ""},
		{"names: UPN local part", func(in *Input) { in.Directory = []graphclient.User{empty} },
			[]want{{id: "e", action: ActCreate, rule: RuleNumbers, fields: map[string]string{
				FieldFirstName: "→e.local", FieldEmailAddress: "→e.local@ex.com",
				FieldEnabled: "→true", FieldDepartment: "→Azure AD", FieldSSO: "→false"}}}, ""},
		{"email falls back to the UPN", func(in *Input) {
			u := member("x", "x.y@ex.com", "X Y")
			u.Mail = ""
			linked(in, u, ext(3, "130", "old@ex.com", "X Y"))
		}, []want{{id: "x", action: ActUpdate, rule: RuleFields, number: "130", fields: map[string]string{FieldEmailAddress: "old@ex.com→x.y@ex.com"}}}, ""},
		{"a case-only email difference is an update", func(in *Input) {
			u := member("x", "x@ex.com", "X Y")
			u.Mail = "X.Y@Ex.com"
			linked(in, u, ext(3, "130", "x.y@ex.com", "X Y"))
		}, []want{{id: "x", action: ActUpdate, rule: RuleFields, fields: map[string]string{FieldEmailAddress: "x.y@ex.com→X.Y@Ex.com"}}}, ""},
		{"mobile and caller id in E.164", func(in *Input) {
			in.Settings.CallerID = true
			linked(in, phones, ext(3, "130", "p@ex.com", "Pat P"))
		}, []want{{id: "p", action: ActUpdate, rule: RuleFields, fields: map[string]string{
			FieldMobile: "→+12024561111", FieldOutboundCallerID: "→+442079460958"}}}, ""},
		{"caller id off: not touched", func(in *Input) {
			x := ext(3, "130", "p@ex.com", "Pat P")
			x.OutboundCallerID, x.Mobile = "12345", "+12024561111"
			linked(in, phones, x)
		}, []want{{id: "p", action: ""}}, ""},
		{"caller id without business phones: not touched", func(in *Input) {
			in.Settings.CallerID = true
			u := phones
			u.BusinessPhones = nil
			x := ext(3, "130", "p@ex.com", "Pat P")
			x.OutboundCallerID, x.Mobile = "12345", "+12024561111"
			linked(in, u, x)
		}, []want{{id: "p", action: ""}}, ""},
		{"phone region", func(in *Input) {
			in.Settings.PhoneRegion = "de"
			u := member("q", "q@ex.com", "Q Q")
			u.MobilePhone = "030 901820"
			linked(in, u, ext(3, "130", "q@ex.com", "Q Q"))
		}, []want{{id: "q", action: ActUpdate, rule: RuleFields, fields: map[string]string{FieldMobile: "→+4930901820"}}}, ""},
		{"unreadable mobile kept as given", func(in *Input) {
			u := member("q", "q@ex.com", "Q Q")
			u.MobilePhone = " ask reception "
			linked(in, u, ext(3, "130", "q@ex.com", "Q Q"))
		}, []want{{id: "q", action: ActUpdate, rule: RuleFields, fields: map[string]string{FieldMobile: "→ask reception"}}}, ""},
		{"enabled put back when disabled on the PBX", func(in *Input) {
			x := ext(3, "130", "q@ex.com", "Q Q")
			x.Enabled = false
			linked(in, member("q", "q@ex.com", "Q Q"), x)
		}, []want{{id: "q", action: ActUpdate, rule: RuleFields, fields: map[string]string{FieldEnabled: "false→true"}}}, ""},
		{"department added, other memberships left alone", func(in *Input) {
			x := ext(3, "130", "q@ex.com", "Q Q")
			x.Groups = []pbxclient.Membership{{GroupID: 2, GroupName: "Sales", Role: "managers"}}
			linked(in, member("q", "q@ex.com", "Q Q"), x)
		}, []want{{id: "q", action: ActUpdate, rule: RuleFields, fields: map[string]string{FieldDepartment: "→Azure AD"}}}, ""},
		{"a higher role in the department is never lowered", func(in *Input) {
			x := ext(3, "130", "q@ex.com", "Q Q")
			x.Groups = []pbxclient.Membership{{GroupID: 7, GroupName: "azure ad", Role: "group_owners"}}
			linked(in, member("q", "q@ex.com", "Q Q"), x)
		}, []want{{id: "q", action: ""}}, ""},
		{"custom department", func(in *Input) {
			in.Settings.Department = "Staff"
			linked(in, member("q", "q@ex.com", "Q Q"), ext(3, "130", "q@ex.com", "Q Q"))
		}, []want{{id: "q", action: ActUpdate, rule: RuleFields, fields: map[string]string{FieldDepartment: "→Staff"}}}, ""},
		{"SSO for all", func(in *Input) {
			in.Settings.SSOEnabled = true
			linked(in, member("q", "q@ex.com", "Q Q"), ext(3, "130", "q@ex.com", "Q Q"))
		}, []want{{id: "q", action: ActUpdate, rule: RuleFields, fields: map[string]string{FieldSSO: "false→true"}}}, ""},
		{"SSO for selected users", func(in *Input) {
			in.Settings.SSOEnabled, in.Settings.SSOUsers, in.Settings.SSOSelected = true, "selected", []string{"Q@EX.COM"}
			linked(in, member("q", "q@ex.com", "Q Q"), ext(3, "130", "q@ex.com", "Q Q"))
			r := ext(4, "131", "r@ex.com", "R R")
			r.MS365SignInEnabled = true
			linked(in, member("r", "r@ex.com", "R R"), r)
		}, []want{
			{id: "q", action: ActUpdate, rule: RuleFields, fields: map[string]string{FieldSSO: "false→true"}},
			{id: "r", action: ActUpdate, rule: RuleFields, fields: map[string]string{FieldSSO: "true→false"}}}, ""},
		{"SSO off is put back to false", func(in *Input) {
			x := ext(3, "130", "q@ex.com", "Q Q")
			x.MS365SignInEnabled = true
			linked(in, member("q", "q@ex.com", "Q Q"), x)
		}, []want{{id: "q", action: ActUpdate, rule: RuleFields, fields: map[string]string{FieldSSO: "true→false"}}}, ""},
		{"photo changed", func(in *Input) {
			in.Settings.Photos = true
			in.Photos = map[string]string{"q": "etag-2"}
			linked(in, member("q", "q@ex.com", "Q Q"), ext(3, "130", "q@ex.com", "Q Q"))
			in.Links[0].PhotoETag = "etag-1"
		}, []want{{id: "q", action: ActUpdate, rule: RuleFields, fields: map[string]string{FieldPhoto: "etag-1→etag-2"}}}, ""},
		{"photo unchanged, unknown, or photos off", func(in *Input) {
			in.Settings.Photos = true
			in.Photos = map[string]string{"q": "etag-1"}
			linked(in, member("q", "q@ex.com", "Q Q"), ext(3, "130", "q@ex.com", "Q Q"))
			in.Links[0].PhotoETag = "etag-1"
			linked(in, member("r", "r@ex.com", "R R"), ext(4, "131", "r@ex.com", "R R"))
			in.Links[1].PhotoETag = "etag-9"
		}, []want{{id: "q", action: ""}, {id: "r", action: ""}}, ""},
		{"photos off ignores etags", func(in *Input) {
			in.Photos = map[string]string{"q": "etag-2"}
			linked(in, member("q", "q@ex.com", "Q Q"), ext(3, "130", "q@ex.com", "Q Q"))
		}, []want{{id: "q", action: ""}}, ""},
		{"new user with a photo", func(in *Input) {
			in.Settings.Photos = true
			in.Photos = map[string]string{"q": "etag-1"}
			in.Directory = []graphclient.User{member("q", "q@ex.com", "Q")}
		}, []want{{id: "q", action: ActCreate, rule: RuleNumbers, fields: map[string]string{
			FieldFirstName: "→Q", FieldEmailAddress: "→q@ex.com", FieldEnabled: "→true", FieldDepartment: "→Azure AD", FieldSSO: "→false", FieldPhoto: "→etag-1"}}}, ""},
		{"only the differing fields are listed", func(in *Input) {
			x := ext(3, "130", "q@ex.com", "Old Name")
			linked(in, member("q", "q@ex.com", "Q Name"), x)
		}, []want{{id: "q", action: ActUpdate, rule: RuleFields, fields: map[string]string{FieldFirstName: "Old→Q"}}}, ""},
		{"an email change onto another extension's email is a conflict", func(in *Input) {
			u := member("q", "q@ex.com", "Q Q")
			u.Mail = "shared@ex.com"
			linked(in, u, ext(3, "130", "q@ex.com", "Q Q"))
			in.PBXUsers = append(in.PBXUsers, ext(8, "180", "Shared@ex.com", "Front Desk"))
		}, []want{{id: "q", action: ActConflict, rule: RuleEmailUnique, number: "130", reason: "extension 180 (PBX id 8)"}}, ""},
	})
}

func TestRemoval(t *testing.T) {
	gone := func(id string) graphclient.User {
		u := member(id, id+"@ex.com", "Gone "+id)
		u.AccountEnabled = false
		return u
	}
	linkedGone := func(in *Input, id string, pid int32, number string, enabled bool) {
		in.Directory = append(in.Directory, gone(id))
		x := ext(pid, number, id+"@ex.com", "Gone "+id)
		x.Enabled = enabled
		in.PBXUsers = append(in.PBXUsers, x)
		in.Links = append(in.Links, link(id, pid, number))
	}
	earlier := now.Add(-3 * 24 * time.Hour)
	runCases(t, []ruleCase{
		{"disable (default)", func(in *Input) { linkedGone(in, "a", 1, "110", true) },
			[]want{{id: "a", action: ActDisable, rule: RuleRemoval, number: "110", reason: "extension 110 is disabled, its number kept"}}, ""},
		{"disable: already disabled", func(in *Input) { linkedGone(in, "a", 1, "110", false) },
			[]want{{id: "a", action: ActSkip, rule: RuleRemoval, reason: "already disabled"}}, ""},
		{"keep", func(in *Input) {
			in.Settings.Removal = "keep"
			linkedGone(in, "a", 1, "110", true)
		}, []want{{id: "a", action: ActSkip, rule: RuleRemoval, reason: "policy keep"}}, ""},
		{"delete: disabled first", func(in *Input) {
			in.Settings.Removal, in.Settings.RemovalGrace = "delete", 7*24*time.Hour
			linkedGone(in, "a", 1, "110", true)
		}, []want{{id: "a", action: ActDisable, rule: RuleRemoval, reason: "deleted at 2026-12-02T12:00:00Z"}}, ""},
		{"delete: within the grace", func(in *Input) {
			in.Settings.Removal, in.Settings.RemovalGrace = "delete", 7*24*time.Hour
			linkedGone(in, "a", 1, "110", false)
			in.Links[0].LeftAt = earlier
		}, []want{{id: "a", action: ActSkip, rule: RuleRemoval, reason: "deleted at 2026-11-29T12:00:00Z"}}, ""},
		{"delete: grace over", func(in *Input) {
			in.Settings.Removal, in.Settings.RemovalGrace = "delete", 72*time.Hour
			linkedGone(in, "a", 1, "110", false)
			in.Links[0].LeftAt = earlier
		}, []want{{id: "a", action: ActDelete, rule: RuleRemoval, number: "110", reason: "the grace of 72h0m0s"}}, ""},
		{"delete: no grace", func(in *Input) {
			in.Settings.Removal = "delete"
			linkedGone(in, "a", 1, "110", true)
		}, []want{{id: "a", action: ActDelete, rule: RuleRemoval}}, ""},
		{"absent from a full directory", func(in *Input) {
			in.Directory = []graphclient.User{member("b", "b@ex.com", "B B")}
			in.PBXUsers = []pbxclient.User{ext(1, "110", "a@ex.com", "Al A"), ext(2, "111", "b@ex.com", "B B")}
			in.Links = []Link{link("a", 1, "110"), link("b", 2, "111")}
		}, []want{{id: "a", action: ActDisable, rule: RuleRemoval, reason: "no longer in the directory"}, {id: "b", action: ""}}, ""},
		{"absent, extension gone too", func(in *Input) {
			in.Directory = []graphclient.User{member("b", "b@ex.com", "B B")}
			in.Links = []Link{link("a", 1, "110")}
		}, []want{{id: "a", action: ""}, {id: "b", action: ActCreate, number: "100", rule: RuleNumbers}}, ""},
		{"out of scope, extension gone", func(in *Input) {
			in.Directory = []graphclient.User{gone("a")}
			in.Links = []Link{link("a", 1, "110")}
		}, []want{{id: "a", action: ActSkip, rule: RuleRemoval, reason: "already gone"}}, ""},
		{"back in scope after being disabled", func(in *Input) {
			in.Directory = []graphclient.User{member("a", "a@ex.com", "Al A")}
			x := ext(1, "110", "a@ex.com", "Al A")
			x.Enabled = false
			in.PBXUsers = []pbxclient.User{x}
			in.Links = []Link{{ObjectID: "a", PBXUserID: 1, Number: "110", LeftAt: earlier, Disabled: true}}
		}, []want{{id: "a", action: ActEnable, rule: RuleReturn, number: "110", fields: map[string]string{FieldEnabled: "false→true"}}}, ""},
		{"back in scope, kept extension: link cleared", func(in *Input) {
			in.Directory = []graphclient.User{member("a", "a@ex.com", "Al A")}
			in.PBXUsers = []pbxclient.User{ext(1, "110", "a@ex.com", "Al A")}
			in.Links = []Link{{ObjectID: "a", PBXUserID: 1, Number: "110", LeftAt: earlier}}
		}, []want{{id: "a", action: ActEnable, rule: RuleReturn, fields: map[string]string{}}}, ""},
		{"back in scope after deletion: recreated with the same number", func(in *Input) {
			in.Directory = []graphclient.User{member("a", "a@ex.com", "Al A")}
			in.Links = []Link{{ObjectID: "a", PBXUserID: 1, Number: "110", LeftAt: earlier, Disabled: true}}
		}, []want{{id: "a", action: ActRecreate, rule: RuleRecreate, number: "110"}}, ""},
	})
}

func TestRemovalLeftAt(t *testing.T) {
	in := baseInput()
	u := member("a", "a@ex.com", "Al A")
	u.AccountEnabled = false
	in.Directory = []graphclient.User{u}
	in.PBXUsers = []pbxclient.User{ext(1, "110", "a@ex.com", "Al A")}
	in.Links = []Link{link("a", 1, "110")}
	in.Now = now.In(time.FixedZone("X", 3600))
	if c := one(t, Make(in), "a"); !c.LeftAt.Equal(now) || c.LeftAt.Location() != time.UTC {
		t.Errorf("first removal LeftAt = %v, want now in UTC", c.LeftAt)
	}
	earlier := now.Add(-time.Hour)
	in.Links[0].LeftAt = earlier
	if c := one(t, Make(in), "a"); !c.LeftAt.Equal(earlier) {
		t.Errorf("LeftAt = %v, want the link's %v", c.LeftAt, earlier)
	}
}

func TestDelta(t *testing.T) {
	setup := func(in *Input) {
		in.Full = false
		in.Settings.MaxRemovals = "100"
		in.PBXUsers = []pbxclient.User{ext(1, "110", "a@ex.com", "Al A"), ext(2, "111", "b@ex.com", "Bo B"), ext(3, "112", "c@ex.com", "Cy C")}
		in.Links = []Link{link("a", 1, "110"), link("b", 2, "111"), link("c", 3, "112")}
	}
	earlier := now.Add(-10 * 24 * time.Hour)
	runCases(t, []ruleCase{
		{"users not in the delta are unchanged", func(in *Input) {
			setup(in)
			in.Directory = []graphclient.User{member("n", "n@ex.com", "New N")}
		}, []want{{id: "a", action: ""}, {id: "b", action: ""}, {id: "n", action: ActCreate, number: "100", rule: RuleNumbers}}, ""},
		{"soft- and hard-deleted users are removed", func(in *Input) {
			setup(in)
			in.Removed = []graphclient.RemovedUser{{ID: "a", Reason: graphclient.RemovedChanged}, {ID: "b", Reason: graphclient.RemovedDeleted}, {ID: "zz", Reason: graphclient.RemovedDeleted}}
		}, []want{
			{id: "a", action: ActDisable, rule: RuleRemoval, reason: "soft-deleted"},
			{id: "b", action: ActDisable, rule: RuleRemoval, reason: "permanently deleted"},
			{id: "zz", action: ""}, {id: "c", action: ""}}, ""},
		{"removed wins over a changed entry for the same id", func(in *Input) {
			setup(in)
			in.Directory = []graphclient.User{member("a", "a@ex.com", "Al A")}
			in.Removed = []graphclient.RemovedUser{{ID: "a", Reason: graphclient.RemovedChanged}}
		}, []want{{id: "a", action: ActDisable, rule: RuleRemoval}}, ""},
		{"grace ends for a user who left earlier", func(in *Input) {
			setup(in)
			in.Settings.Removal, in.Settings.RemovalGrace = "delete", 7*24*time.Hour
			in.PBXUsers[0].Enabled = false
			in.Links[0].LeftAt, in.Links[0].Disabled = earlier, true
		}, []want{{id: "a", action: ActDelete, rule: RuleRemoval}, {id: "b", action: ""}}, ""},
		{"a kept or disabled leaver is not listed again", func(in *Input) {
			setup(in)
			in.PBXUsers[0].Enabled = false
			in.Links[0].LeftAt = earlier
		}, []want{{id: "a", action: ""}}, ""},
		{"a vanished extension without directory data", func(in *Input) {
			setup(in)
			in.PBXUsers = in.PBXUsers[1:]
		}, []want{{id: "a", action: ActSkip, rule: RuleRecreate, reason: "MissingUsers"}}, ""},
		{"a vanished extension with the user read back", func(in *Input) {
			setup(in)
			in.PBXUsers = in.PBXUsers[1:]
			in.Directory = []graphclient.User{member("a", "a@ex.com", "Al A")}
		}, []want{{id: "a", action: ActRecreate, rule: RuleRecreate, number: "110"}}, ""},
	})
	in := baseInput()
	setup(&in)
	in.PBXUsers = in.PBXUsers[1:]
	if got := MissingUsers(in); !slices.Equal(got, []string{"a"}) {
		t.Errorf("MissingUsers = %v, want [a]", got)
	}
	in.Full = true
	if got := MissingUsers(in); got != nil {
		t.Errorf("MissingUsers on a full run = %v, want none", got)
	}
}

func TestRecreate(t *testing.T) {
	runCases(t, []ruleCase{
		{"deleted on the PBX while in scope", func(in *Input) {
			in.Directory = []graphclient.User{member("a", "a@ex.com", "Al A"), member("b", "b@ex.com", "Bo B")}
			in.Links = []Link{link("a", 1, "100")}
		}, []want{
			{id: "a", action: ActRecreate, rule: RuleRecreate, number: "100", reason: "recreated with the same number"},
			{id: "b", action: ActCreate, rule: RuleNumbers, number: "101"}}, ""},
		{"its number now used by a queue", func(in *Input) {
			in.Directory = []graphclient.User{member("a", "a@ex.com", "Al A")}
			in.Links = []Link{link("a", 1, "100")}
			in.NumbersInUse = []pbxclient.NumberInUse{{Number: "100", Kind: "queue", Name: "Sales"}}
		}, []want{{id: "a", action: ActConflict, rule: RuleRecreate, number: "100", reason: "queue 100 (Sales)"}}, ""},
		{"its email now used by another extension", func(in *Input) {
			in.Directory = []graphclient.User{member("a", "a@ex.com", "Al A")}
			in.Links = []Link{link("a", 1, "100")}
			in.PBXUsers = []pbxclient.User{ext(2, "150", "A@ex.com", "Imposter")}
		}, []want{{id: "a", action: ActConflict, rule: RuleEmailUnique}}, ""},
	})
}

func TestGuards(t *testing.T) {
	leavers := func(in *Input, n int) {
		for i := range n {
			id := string(rune('a' + i))
			u := member(id, id+"@ex.com", "L "+id)
			u.AccountEnabled = false
			in.Directory = append(in.Directory, u)
			number := strconvItoa(110 + i)
			in.PBXUsers = append(in.PBXUsers, ext(int32(i+1), number, id+"@ex.com", "L "+id))
			in.Links = append(in.Links, link(id, int32(i+1), number))
		}
	}
	stay := func(in *Input, n int) {
		for i := range n {
			id := "s" + strconvItoa(i)
			in.Directory = append(in.Directory, member(id, id+"@ex.com", "S "+id))
			number := strconvItoa(150 + i)
			in.PBXUsers = append(in.PBXUsers, ext(int32(100+i), number, id+"@ex.com", "S "+id))
			in.Links = append(in.Links, link(id, int32(100+i), number))
		}
	}
	runCases(t, []ruleCase{
		{"count: at the limit", func(in *Input) { leavers(in, 3); in.Settings.MaxRemovals = "3" }, nil, ""},
		{"count: over the limit", func(in *Input) { leavers(in, 3); in.Settings.MaxRemovals = "2" },
			[]want{{id: "a", action: ActDisable, rule: RuleRemoval}}, GuardRemovalThreshold},
		{"count zero forbids any removal", func(in *Input) { leavers(in, 1); in.Settings.MaxRemovals = "0" }, nil, GuardRemovalThreshold},
		{"percent of linked, rounded down", func(in *Input) {
			leavers(in, 2)
			stay(in, 18) // 20 linked, 10% = 2
		}, nil, ""},
		{"percent exceeded", func(in *Input) {
			leavers(in, 3)
			stay(in, 17)
		}, nil, GuardRemovalThreshold},
		{"percent at least one", func(in *Input) {
			leavers(in, 1)
			stay(in, 3) // 4 linked, 10% = 0 → 1
		}, nil, ""},
		{"deletes count too", func(in *Input) {
			leavers(in, 2)
			in.Settings.Removal, in.Settings.MaxRemovals = "delete", "1"
		}, []want{{id: "a", action: ActDelete, rule: RuleRemoval}}, GuardRemovalThreshold},
		{"kept leavers do not count", func(in *Input) {
			leavers(in, 5)
			in.Settings.Removal, in.Settings.MaxRemovals = "keep", "0"
		}, nil, ""},
		{"empty full directory: no removal whatever the settings", func(in *Input) {
			stay(in, 5)
			in.Directory = nil
			in.Settings.Removal, in.Settings.MaxRemovals = "delete", "100%"
		}, []want{{id: "s0", action: ""}, {id: "s4", action: ""}}, GuardEmptyDirectory},
		{"empty delta is normal", func(in *Input) {
			stay(in, 5)
			in.Directory, in.Full = nil, false
		}, nil, ""},
		{"empty PBX with linked users in scope", func(in *Input) {
			stay(in, 3)
			in.PBXUsers = nil
		}, []want{{id: "s0", action: ActRecreate, rule: RuleRecreate}}, GuardEmptyPBX},
		{"invalid settings", func(in *Input) {
			stay(in, 3)
			in.Settings.Removal = "purge"
		}, []want{{id: "s0", action: ""}}, GuardInvalidSettings},
	})
	// A shrunken directory: most users vanish at once.
	in := baseInput()
	stay(&in, 40)
	in.Directory = in.Directory[:4]
	p := Make(in)
	if p.Guard == nil || p.Guard.Kind != GuardRemovalThreshold || p.Guard.Count != 36 || p.Guard.Limit != 4 {
		t.Errorf("shrunken directory guard = %+v, want removal_threshold 36 > 4", p.Guard)
	}
}

func strconvItoa(i int) string { return formatNumber(uint64(i), 0) }

func TestMalformed(t *testing.T) {
	runCases(t, []ruleCase{
		{"no object id", func(in *Input) { in.Directory = []graphclient.User{member("", "x@ex.com", "X")} },
			[]want{{id: "", action: ActSkip, rule: RuleEntry, reason: "no object id"}}, ""},
		{"no UPN", func(in *Input) { in.Directory = []graphclient.User{member("a", " ", "X")} },
			[]want{{id: "a", action: ActSkip, rule: RuleEntry, reason: "no userPrincipalName"}}, ""},
		{"UPN without domain", func(in *Input) { in.Directory = []graphclient.User{member("a", "alice", "X")} },
			[]want{{id: "a", action: ActSkip, rule: RuleEntry, reason: "name@domain"}}, ""},
		{"bad mail", func(in *Input) {
			u := member("a", "a@ex.com", "X")
			u.Mail = "a at ex dot com"
			in.Directory = []graphclient.User{u}
		}, []want{{id: "a", action: ActSkip, rule: RuleEntry, reason: "the mail"}}, ""},
		{"a linked malformed user is not removed", func(in *Input) {
			in.Directory = []graphclient.User{member("a", "", "X")}
			in.PBXUsers = []pbxclient.User{ext(1, "110", "a@ex.com", "X")}
			in.Links = []Link{link("a", 1, "110")}
		}, []want{{id: "a", action: ActSkip, rule: RuleEntry}}, ""},
		{"link table with one object id twice", func(in *Input) {
			in.Directory = []graphclient.User{member("a", "a@ex.com", "A")}
			in.PBXUsers = []pbxclient.User{ext(1, "110", "a@ex.com", "A")}
			in.Links = []Link{link("a", 1, "110"), link("a", 2, "111")}
		}, []want{{id: "a", action: ActConflict, rule: RuleLink, reason: "more than once"}}, ""},
		{"link table with one extension for two users", func(in *Input) {
			in.Directory = []graphclient.User{member("a", "a@ex.com", "A"), member("b", "b@ex.com", "B")}
			in.PBXUsers = []pbxclient.User{ext(1, "110", "a@ex.com", "A")}
			in.Links = []Link{link("a", 1, "110"), link("b", 1, "111")}
		}, []want{
			{id: "a", action: ActConflict, rule: RuleLink, reason: "PBX user id 1 is linked to several users (a, b)"},
			{id: "b", action: ActConflict, rule: RuleLink}}, ""},
	})
	// Duplicate object ids: every copy is a skip.
	in := baseInput()
	in.Directory = []graphclient.User{member("a", "a@ex.com", "A"), member("a", "a2@ex.com", "A2")}
	p := Make(in)
	if cs := changesFor(p, "a"); len(cs) != 2 || cs[0].Action != ActSkip || cs[1].Action != ActSkip || !strings.Contains(cs[0].Reason, "appears 2 times") {
		t.Errorf("duplicate ids:\n%s", dump(p))
	}
}

func TestValidateSettings(t *testing.T) {
	ok := []Settings{{}, {Scope: "all-except", ExtStart: "0100", ExtEnd: "0199", MaxRemovals: "0%", Removal: "keep", PhoneRegion: "gb", SSOUsers: "selected"}}
	for _, s := range ok {
		if err := s.Validate(); err != nil {
			t.Errorf("%+v: %v", s, err)
		}
	}
	bad := map[string]Settings{
		"users.scope":          {Scope: "some"},
		"users.ext_start":      {ExtStart: "1a"},
		"users.ext_end":        {ExtEnd: "-5"},
		"users.ext_start: 200": {ExtStart: "200", ExtEnd: "100"},
		"users.phone_region":   {PhoneRegion: "XX"},
		"users.removal:":       {Removal: "purge"},
		"users.removal_grace":  {RemovalGrace: -time.Hour},
		"users.max_removals":   {MaxRemovals: "ten"},
		"users.max_removals: ": {MaxRemovals: "150%"},
		"sso.users":            {SSOUsers: "some"},
	}
	for key, s := range bad {
		err := s.Validate()
		if err == nil || !strings.Contains(err.Error(), strings.TrimSpace(key)) {
			t.Errorf("%+v: error %v, want one naming %q", s, err, key)
		}
	}
	in := baseInput()
	in.Settings.Scope = "everyone"
	p := Make(in)
	if p.Guard == nil || p.Guard.Kind != GuardInvalidSettings || !strings.Contains(p.Guard.Message, "users.scope") || len(p.Changes) != 0 {
		t.Errorf("invalid settings plan: %+v", p)
	}
}

func TestAdoptionNumberOfALink(t *testing.T) {
	runCases(t, []ruleCase{
		{"an extension reusing a linked number is no candidate", func(in *Input) {
			in.Directory = []graphclient.User{member("a", "a@ex.com", "Al A"), member("b", "b@ex.com", "Bo B")}
			// a's extension 110 was deleted; someone made a new 110 with b's address
			in.Links = []Link{link("a", 1, "110")}
			in.PBXUsers = []pbxclient.User{ext(2, "110", "b@ex.com", "Bo B")}
		}, []want{
			{id: "a", action: ActConflict, rule: RuleRecreate, reason: "now used by extension 110 (PBX id 2"},
			{id: "b", action: ActConflict, rule: RuleEmailUnique, reason: "already used by extension 110 (PBX id 2)"}}, ""},
	})
}
