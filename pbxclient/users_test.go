package pbxclient

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/pbx365/pbx365/pbxclient/pbxsim"
)

func TestUserLifecycle(t *testing.T) {
	s := newSim(t, pbxsim.Options{})
	x := newClient(t, s, nil)
	ctx := ctxT(t)
	dept, err := s.AddDepartment("Azure AD")
	if err != nil {
		t.Fatal(err)
	}

	u, err := x.CreateUser(ctx, NewUser{Number: "201", FirstName: "Ada", LastName: "Lovelace",
		EmailAddress: "Ada@Example.com", Mobile: "+441234567890", OutboundCallerID: "+442079460000",
		Enabled: true, MS365SignInEnabled: true,
		Groups: []Membership{{GroupID: dept, Role: "users"}}})
	if err != nil {
		t.Fatal(err)
	}
	if u.ID == 0 || u.Number != "201" || u.EmailAddress != "Ada@Example.com" || !u.Enabled || !u.MS365SignInEnabled {
		t.Fatalf("created %+v", u)
	}
	su, ok := s.User(u.ID)
	if !ok || su.Mobile != "+441234567890" || su.OutboundCallerID != "+442079460000" || len(su.Groups) != 1 || su.Groups[0].GroupID != dept {
		t.Fatalf("sim has %+v", su)
	}

	got, err := x.GetUser(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.FirstName != "Ada" || got.LastName != "Lovelace" || len(got.Groups) != 1 ||
		got.Groups[0] != (Membership{GroupID: dept, GroupName: "Azure AD", Role: "users"}) || got.CurrentProfileName == "" {
		t.Fatalf("GetUser %+v", got)
	}

	// Find by email in another case, by number, by both, by neither.
	for _, tc := range []struct{ number, email string }{{"", "ada@example.COM"}, {"201", ""}, {"201", "ADA@example.com"}} {
		found, err := x.FindUsers(ctx, tc.number, tc.email)
		if err != nil || len(found) != 1 || found[0].ID != u.ID {
			t.Fatalf("FindUsers(%q, %q) = %+v, %v", tc.number, tc.email, found, err)
		}
	}
	if found, err := x.FindUsers(ctx, "999", "nobody@example.com"); err != nil || len(found) != 0 {
		t.Fatalf("FindUsers of nobody = %+v, %v", found, err)
	}
	if found, err := x.FindUsers(ctx, "", ""); err != nil || found != nil {
		t.Fatalf("FindUsers() = %+v, %v", found, err)
	}

	// PATCH sends only the fields set.
	s.ResetRequests()
	last, off := "King", false
	if err := x.UpdateUser(ctx, u.ID, UserPatch{LastName: &last, Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	reqs := apiRequests(s, "", "")
	if len(reqs) != 1 || reqs[0].Method != http.MethodPatch || reqs[0].Body != `{"Enabled":false,"LastName":"King"}` {
		t.Fatalf("PATCH requests %+v", reqs)
	}
	if su, _ := s.User(u.ID); su.LastName != "King" || su.Enabled || su.FirstName != "Ada" {
		t.Fatalf("after patch %+v", su)
	}
	// An empty patch sends nothing.
	s.ResetRequests()
	if err := x.UpdateUser(ctx, u.ID, UserPatch{}); err != nil || len(apiRequests(s, "", "")) != 0 {
		t.Fatalf("empty patch: %v, %d requests", err, len(apiRequests(s, "", "")))
	}

	if err := x.DeleteUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.User(u.ID); ok {
		t.Fatal("user still on the PBX")
	}
	if _, err := x.GetUser(ctx, u.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetUser after delete: %v", err)
	}
	if err := x.DeleteUser(ctx, u.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func TestDeleteUsersBatch(t *testing.T) {
	s := newSim(t, pbxsim.Options{})
	x := newClient(t, s, nil)
	ctx := ctxT(t)
	ids, err := s.SeedExtensions(3)
	if err != nil {
		t.Fatal(err)
	}
	s.ResetRequests()
	if err := x.DeleteUsers(ctx, ids[:2]); err != nil {
		t.Fatal(err)
	}
	if n := s.RequestCount(http.MethodPost, "/xapi/v1/Users/Pbx.BatchDelete"); n != 1 {
		t.Fatalf("BatchDelete requests %d", n)
	}
	if r := apiRequests(s, http.MethodPost, "Users")[0]; r.Body != fmt.Sprintf(`{"ids":[%d,%d]}`, ids[0], ids[1]) {
		t.Fatalf("body %s", r.Body)
	}
	if us := s.Users(); len(us) != 1 || us[0].ID != ids[2] {
		t.Fatalf("left %+v", us)
	}
	if err := x.DeleteUsers(ctx, nil); err != nil {
		t.Fatal(err)
	}
	// Refusals come back per extension; the others are deleted.
	err = x.DeleteUsers(ctx, []int32{ids[2], 9999})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "WARNINGS.XAPI.NOT_FOUND") {
		t.Fatalf("batch with a missing id: %v", err)
	}
	if us := s.Users(); len(us) != 0 {
		t.Fatalf("left %+v", us)
	}
}

func TestListUsersPagesToTheCount(t *testing.T) {
	s := newSim(t, pbxsim.Options{})
	const n = 1234
	if _, err := s.SeedExtensions(n); err != nil {
		t.Fatal(err)
	}
	// 617 divides 1234: the $count of the first page saves the empty third.
	for _, page := range []int{500, 100, 617} {
		x := newClient(t, s, func(c *Config) { c.PageSize = page })
		s.ResetRequests()
		us, err := x.ListUsers(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if len(us) != n {
			t.Fatalf("page %d: %d users, want %d", page, len(us), n)
		}
		seen := map[int32]bool{}
		for _, u := range us {
			if seen[u.ID] || u.Number == "" || len(u.Groups) == 0 {
				t.Fatalf("page %d: bad or repeated user %+v", page, u)
			}
			seen[u.ID] = true
		}
		want := (n + page - 1) / page
		reqs := apiRequests(s, http.MethodGet, "Users")
		if len(reqs) != want {
			t.Fatalf("page %d: %d list requests, want %d", page, len(reqs), want)
		}
		for i, r := range reqs {
			for _, part := range []string{"$top=" + fmt.Sprint(page), fmt.Sprintf("$skip=%d", i*page), "$orderby=Id", "$expand=Groups%28%24expand%3DRights%29"} {
				if !strings.Contains(r.Query, part) {
					t.Fatalf("query %q lacks %q", r.Query, part)
				}
			}
			if strings.Contains(r.Query, "$count=true") != (i == 0) {
				t.Fatalf("page %d asks for $count: %q", i, r.Query)
			}
		}
	}
}

func TestApostrophesAreQuoted(t *testing.T) {
	s := newSim(t, pbxsim.Options{})
	x := newClient(t, s, nil)
	ctx := ctxT(t)
	u, err := x.CreateUser(ctx, NewUser{Number: "300", FirstName: "Seán", LastName: "O'Brien", EmailAddress: "sean.o'brien@example.com", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	found, err := x.FindUsers(ctx, "", "Sean.O'Brien@example.com")
	if err != nil || len(found) != 1 || found[0].ID != u.ID || found[0].LastName != "O'Brien" {
		t.Fatalf("FindUsers = %+v, %v", found, err)
	}
	d, err := x.EnsureDepartment(ctx, "O'Brien's Team")
	if err != nil || d.Name != "O'Brien's Team" {
		t.Fatalf("EnsureDepartment = %+v, %v", d, err)
	}
	again, err := x.EnsureDepartment(ctx, "O'Brien's Team")
	if err != nil || again.ID != d.ID {
		t.Fatalf("EnsureDepartment again = %+v, %v", again, err)
	}
	c, err := x.CreatePersonalContact(ctx, "300", Contact{FirstName: "Miles", LastName: "O'Hara", PhoneNumber: "+15551234567"})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := x.PersonalContacts(ctx, "300")
	if err != nil || len(pc) != 1 || pc[0].ID != c.ID || pc[0].LastName != "O'Hara" {
		t.Fatalf("PersonalContacts = %+v, %v", pc, err)
	}
}

func TestMembershipPatchKeepsOtherDepartmentsAndHigherRoles(t *testing.T) {
	s := newSim(t, pbxsim.Options{})
	x := newClient(t, s, nil)
	ctx := ctxT(t)
	sales, _ := s.AddDepartment("Sales")
	id, err := s.AddUser(pbxsim.User{Number: "400", FirstName: "Max", EmailAddress: "max@example.com", Enabled: true,
		Groups: []pbxsim.Membership{{GroupName: "DEFAULT", Role: "system_owners"}, {GroupID: sales, Role: "managers"}}})
	if err != nil {
		t.Fatal(err)
	}
	d, err := x.EnsureDepartment(ctx, "Azure AD")
	if err != nil {
		t.Fatal(err)
	}
	u, err := x.GetUser(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	groups, changed := WithMembership(u.Groups, d.ID, d.Name, "users")
	if !changed {
		t.Fatal("membership should change")
	}
	if err := x.UpdateUser(ctx, id, UserPatch{Groups: groups}); err != nil {
		t.Fatal(err)
	}
	u, _ = x.GetUser(ctx, id)
	roles := map[string]string{}
	for _, m := range u.Groups {
		roles[m.GroupName] = m.Role
	}
	if len(roles) != 3 || roles["DEFAULT"] != "system_owners" || roles["Sales"] != "managers" || roles["Azure AD"] != "users" {
		t.Fatalf("memberships %v", roles)
	}
	// Asking again for "users" in Sales keeps managers.
	if _, changed := WithMembership(u.Groups, sales, "Sales", "users"); changed {
		t.Fatal("a managers membership would be lowered")
	}
}

func TestFirstAvailableNumber(t *testing.T) {
	s := newSim(t, pbxsim.Options{})
	x := newClient(t, s, nil)
	ctx := ctxT(t)
	n1, err := x.FirstAvailableNumber(ctx)
	if err != nil || n1 == "" {
		t.Fatalf("FirstAvailableNumber = %q, %v", n1, err)
	}
	if _, err := x.CreateUser(ctx, NewUser{Number: n1, FirstName: "A", EmailAddress: "a@example.com"}); err != nil {
		t.Fatal(err)
	}
	n2, err := x.FirstAvailableNumber(ctx)
	if err != nil || n2 == n1 || n2 == "" {
		t.Fatalf("after taking %s: %q, %v", n1, n2, err)
	}
}
