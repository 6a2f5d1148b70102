package pbxclient

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pbx365/pbx365/pbxclient/pbxsim"
)

func TestVersionAndCapabilities(t *testing.T) {
	s := newSim(t, pbxsim.Options{Version: "20.0.9.995"})
	x := newClient(t, s, nil)
	ctx := ctxT(t)
	v, err := x.Version(ctx)
	if err != nil || v != "20.0.9.995" {
		t.Fatalf("Version = %q, %v", v, err)
	}
	if r := apiRequests(s, http.MethodGet, "Defs"); len(r) != 1 || r[0].Query != "$select=Id" {
		t.Fatalf("probe %+v", r)
	}
	c, err := x.Capabilities(ctx)
	if err != nil || c.PhotoUpload {
		t.Fatalf("Capabilities = %+v, %v", c, err)
	}
}

func TestNumbersInUseCoversEveryNumberedObject(t *testing.T) {
	s := newSim(t, pbxsim.Options{})
	x := newClient(t, s, nil)
	ctx := ctxT(t)
	if _, err := s.AddUser(pbxsim.User{Number: "100", FirstName: "Ann", LastName: "Lee", EmailAddress: "ann@example.com"}); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		func() error { _, err := s.AddQueue("800", "Support"); return err }(),
		func() error { _, err := s.AddRingGroup("801", "Sales"); return err }(),
		func() error { _, err := s.AddIVR("802", "Main menu"); return err }(),
		func() error { _, err := s.AddParking("803"); return err }(),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := x.NumbersInUse(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []NumberInUse{
		{Number: "100", Kind: "user", Name: "Ann Lee"},
		{Number: "800", Kind: "queue", Name: "Support"},
		{Number: "801", Kind: "ringgroup", Name: "Sales"},
		{Number: "802", Kind: "ivr", Name: "Main menu"},
		{Number: "803", Kind: "parking"},
		// pbx365's own API client is a service principal with a number, and
		// Peers lists the departments' system numbers.
		{Number: "pbx365", Kind: "serviceprincipal"},
		{Number: "GRP0000", Kind: "department", Name: "DEFAULT"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("NumbersInUse =\n%+v\nwant\n%+v", got, want)
	}
	// Every numbered collection was asked for once.
	for _, p := range []string{"Fax", "Trunks", "Peers"} {
		if len(apiRequests(s, http.MethodGet, p)) != 1 {
			t.Errorf("%s not probed", p)
		}
	}
	// A required collection the role may not read is an error.
	if err := s.SetClientRole("users"); err != nil {
		t.Fatal(err)
	}
	if _, err := x.NumbersInUse(ctx); !errors.Is(err, ErrForbidden) {
		t.Fatalf("NumbersInUse with role users: %v", err)
	}
}

func TestDepartments(t *testing.T) {
	s := newSim(t, pbxsim.Options{})
	a := newClient(t, s, nil)
	b := newClient(t, s, nil) // another XAPI value: its own per-name lock
	ctx := ctxT(t)
	sales, _ := s.AddDepartment("Sales")
	if err := s.SetContactQuotas(sales, 50, 500); err != nil {
		t.Fatal(err)
	}
	ds, err := a.Departments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 2 || !ds[0].IsDefault || ds[0].Name != "DEFAULT" ||
		ds[1] != (Department{ID: sales, Name: "Sales", Number: ds[1].Number, PersonalContactsMaxCount: 50, DepartmentContactsMaxCount: 500}) {
		t.Fatalf("Departments = %+v", ds)
	}
	d, err := a.EnsureDepartment(ctx, "Sales")
	if err != nil || d.ID != sales {
		t.Fatalf("EnsureDepartment(existing) = %+v, %v", d, err)
	}

	// Twenty concurrent callers on two clients: one department, one Id.
	s.ResetRequests()
	var wg sync.WaitGroup
	ids := make([]int32, 20)
	errs := make([]error, 20)
	for i := range ids {
		x := a
		if i%2 == 1 {
			x = b
		}
		wg.Go(func() {
			d, err := x.EnsureDepartment(ctx, "Azure AD")
			ids[i], errs[i] = d.ID, err
		})
	}
	wg.Wait()
	for i := range ids {
		if errs[i] != nil || ids[i] == 0 || ids[i] != ids[0] {
			t.Fatalf("caller %d: %d, %v (first %d)", i, ids[i], errs[i], ids[0])
		}
	}
	n := 0
	for _, d := range s.Departments() {
		if d.Name == "Azure AD" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d departments called Azure AD", n)
	}
	if p := len(apiRequests(s, http.MethodPost, "Groups")); p < 1 || p > 2 {
		t.Fatalf("%d department POSTs, want 1 per client at most", p)
	}
	if _, err := a.EnsureDepartment(ctx, " "); !errors.Is(err, ErrValidation) || !strings.Contains(err.Error(), "users.department") {
		t.Fatalf("empty name: %v", err)
	}
}

func TestProfiles(t *testing.T) {
	s := newSim(t, pbxsim.Options{})
	x := newClient(t, s, nil)
	ctx := ctxT(t)
	s.SetProfileNames("Lunch", "Business Trip")
	id, err := s.AddUser(pbxsim.User{Number: "100", FirstName: "P", EmailAddress: "p@example.com", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := x.UserProfiles(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	custom := map[string]string{}
	for _, p := range ps {
		if p.ID == 0 {
			t.Fatalf("profile without Id: %+v", p)
		}
		names = append(names, p.Name)
		custom[p.Name] = p.CustomName
	}
	if !slices.Equal(names, pbxsim.ProfileNames) || custom["Custom 2"] != "Business Trip" || custom["Custom 1"] != "Lunch" {
		t.Fatalf("profiles %+v", ps)
	}
	if err := x.SetProfile(ctx, id, "Out of office"); err != nil {
		t.Fatal(err)
	}
	if u, _ := x.GetUser(ctx, id); u.CurrentProfileName != "Out of office" {
		t.Fatalf("current profile %q", u.CurrentProfileName)
	}
	if err := x.SetProfile(ctx, id, "Beach"); !errors.Is(err, ErrValidation) {
		t.Fatalf("unknown profile: %v", err)
	}
	if err := x.SetProfile(ctx, id, ""); !errors.Is(err, ErrValidation) {
		t.Fatalf("empty profile: %v", err)
	}
	if _, err := x.UserProfiles(ctx, 9999); !errors.Is(err, ErrNotFound) {
		t.Fatalf("profiles of a missing user: %v", err)
	}
}

func TestM365SettingsNeverTurnOnNativeUserSync(t *testing.T) {
	s := newSim(t, pbxsim.Options{})
	x := newClient(t, s, nil)
	ctx := ctxT(t)
	if err := s.EditM365(map[string]any{"AdUsers": map[string]any{"SyncType": "SyncSelected", "SelectedUsers": []string{"u1"}}}); err != nil {
		t.Fatal(err)
	}
	err := x.SetM365Settings(ctx, M365Settings{TenantID: "tenant-1", ApplicationID: "app-1", SSOEnabled: true, UserSyncEnabled: true})
	if err != nil {
		t.Fatal(err)
	}
	got := s.M365Settings()
	if got.TenantID != "tenant-1" || got.ApplicationID != "app-1" || !got.SSOEnabled || got.UserSyncEnabled ||
		got.SyncType != "SyncSelected" || !slices.Equal(got.SelectedUsers, []string{"u1"}) {
		t.Fatalf("PBX settings %+v", got)
	}
	m, err := x.M365Settings(ctx)
	if err != nil || m != (M365Settings{TenantID: "tenant-1", ApplicationID: "app-1", SSOEnabled: true}) {
		t.Fatalf("M365Settings = %+v, %v", m, err)
	}
	// An admin turned 3CX's own sync on: it is reported, and kept as it is.
	if err := s.EditM365(map[string]any{"AdUsers": map[string]any{"IsEnabled": true}}); err != nil {
		t.Fatal(err)
	}
	if m, _ := x.M365Settings(ctx); !m.UserSyncEnabled {
		t.Fatal("native user sync not reported")
	}
	if err := x.SetM365Settings(ctx, M365Settings{}); err != nil {
		t.Fatal(err)
	}
	if got := s.M365Settings(); got.SSOEnabled || !got.UserSyncEnabled || got.TenantID != "tenant-1" || got.ApplicationID != "app-1" {
		t.Fatalf("after SSO off: %+v", got)
	}
}

func TestContacts(t *testing.T) {
	s := newSim(t, pbxsim.Options{})
	x := newClient(t, s, func(c *Config) { c.PageSize = 10 })
	ctx := ctxT(t)
	if _, err := s.AddUser(pbxsim.User{Number: "100", FirstName: "Owner", EmailAddress: "o@example.com"}); err != nil {
		t.Fatal(err)
	}
	in := Contact{FirstName: "Grace", LastName: "Hopper", CompanyName: "Navy", Title: "RADM", Department: "R&D",
		Email: "grace@example.com", PhoneNumber: "+15550001", Mobile2: "+15550002", Home: "+15550003",
		Business: "+15550004", Business2: "+15550005", Other: "+15550006", Tag: "pbx365:abc"}
	c, err := x.CreateCompanyContact(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	want := in
	want.ID, want.ContactType = c.ID, "3CX"
	if c != want {
		t.Fatalf("created %+v, want %+v", c, want)
	}
	// Enough entries for several pages.
	for i := range 25 {
		if _, err := x.CreateCompanyContact(ctx, Contact{CompanyName: "Co " + string(rune('A'+i)), PhoneNumber: "+1555100"}); err != nil {
			t.Fatal(err)
		}
	}
	all, err := x.CompanyContacts(ctx)
	if err != nil || len(all) != 26 || all[0] != want {
		t.Fatalf("CompanyContacts: %d entries, first %+v, %v", len(all), all, err)
	}
	if n := len(apiRequests(s, http.MethodGet, "Contacts")); n != 3 {
		t.Fatalf("%d pages, want 3", n)
	}

	// Update sets every field: what the source dropped is cleared.
	upd := Contact{FirstName: "Grace", LastName: "Hopper", PhoneNumber: "+15559999", Tag: "pbx365:abc"}
	if err := x.UpdateContact(ctx, c.ID, upd); err != nil {
		t.Fatal(err)
	}
	sc := s.CompanyContacts()[0]
	if sc.PhoneNumber != "+15559999" || sc.CompanyName != "" || sc.Mobile2 != "" || sc.Tag != "pbx365:abc" {
		t.Fatalf("after update %+v", sc)
	}
	if err := x.UpdateContact(ctx, c.ID, Contact{Tag: "x"}); !errors.Is(err, ErrValidation) {
		t.Fatalf("update to an invalid entry: %v", err)
	}

	p, err := x.CreatePersonalContact(ctx, "100", Contact{FirstName: "Kim", PhoneNumber: "+15550100"})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := x.PersonalContacts(ctx, "100")
	if err != nil || len(pc) != 1 || pc[0].ID != p.ID || pc[0].FirstName != "Kim" {
		t.Fatalf("PersonalContacts = %+v, %v", pc, err)
	}
	if len(s.PersonalContacts("100")) != 1 || len(s.CompanyContacts()) != 26 {
		t.Fatal("personal entry landed in the wrong phonebook")
	}
	if _, err := x.PersonalContacts(ctx, "999"); !errors.Is(err, ErrValidation) {
		t.Fatalf("phonebook of a missing extension: %v", err)
	}

	// Bulk delete by ids.
	ids := []int32{all[1].ID, all[2].ID, p.ID}
	s.ResetRequests()
	if err := x.DeleteContacts(ctx, ids); err != nil {
		t.Fatal(err)
	}
	if r := apiRequests(s, http.MethodPost, "Contacts/Pbx.DeleteContactsById"); len(r) != 1 {
		t.Fatalf("DeleteContactsById requests %+v", r)
	}
	if len(s.CompanyContacts()) != 24 || len(s.PersonalContacts("100")) != 0 {
		t.Fatal("entries not deleted")
	}

	// A PBX without DeleteContactsById (before 20.0.9): one DELETE each.
	s.AddFault(pbxsim.Fault{Kind: pbxsim.FaultStatus, Status: http.StatusNotFound, PathPrefix: "/xapi/v1/Contacts/Pbx.DeleteContactsById"})
	s.ResetRequests()
	ids = []int32{all[3].ID, all[4].ID}
	if err := x.DeleteContacts(ctx, ids); err != nil {
		t.Fatal(err)
	}
	if d := len(apiRequests(s, http.MethodDelete, "Contacts(")); d != 2 || len(s.CompanyContacts()) != 22 {
		t.Fatalf("fallback: %d DELETEs, %d left", d, len(s.CompanyContacts()))
	}
	if err := x.DeleteContacts(ctx, nil); err != nil {
		t.Fatal(err)
	}
}

func TestCheck(t *testing.T) {
	s := newSim(t, pbxsim.Options{})
	x := newClient(t, s, nil)
	ctx := ctxT(t)
	id, err := s.AddUser(pbxsim.User{Number: "100", FirstName: "Keep", EmailAddress: "k@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	names := func(rs []CheckResult) (out []string) {
		for _, r := range rs {
			out = append(out, r.Status+" "+r.Name)
		}
		return out
	}
	rs := x.Check(ctx)
	wantAll := []string{"ok pbx login", "ok pbx version", "ok pbx read users", "ok pbx write users",
		"ok pbx departments", "ok pbx phonebook", "ok pbx native m365 user sync"}
	if !slices.Equal(names(rs), wantAll) {
		t.Fatalf("Check = %v", rs)
	}
	if !strings.HasPrefix(rs[1].String(), "ok     pbx version: 20.0.10") {
		t.Fatalf("line %q", rs[1].String())
	}
	// The write probe changed nothing.
	if u, _ := s.User(id); u.FirstName != "Keep" {
		t.Fatalf("probe changed the user: %+v", u)
	}
	if p := apiRequests(s, http.MethodPatch, "Users"); len(p) != 1 || p[0].Body != `{"FirstName":"Keep"}` {
		t.Fatalf("probe %+v", p)
	}

	// A read-only role: the write line says what to fix.
	if err := s.SetClientRole("managers"); err != nil {
		t.Fatal(err)
	}
	rs = x.Check(ctx)
	if rs[3].OK() || !strings.Contains(rs[3].Detail, "System Owner") || !strings.Contains(rs[3].Detail, "pbx.client_id") || !rs[2].OK() {
		t.Fatalf("read-only role: %v", rs)
	}
	_ = s.SetClientRole("system_owners")

	// 3CX's own user sync on.
	if err := s.EditM365(map[string]any{"AdUsers": map[string]any{"IsEnabled": true}}); err != nil {
		t.Fatal(err)
	}
	rs = x.Check(ctx)
	if last := rs[len(rs)-1]; last.OK() || !strings.Contains(last.Detail, "turn it off") {
		t.Fatalf("native sync: %v", last)
	}

	// Bad credentials: one line naming the settings, nothing else tried.
	bad := newClient(t, s, func(c *Config) { c.Secret = "nope" })
	rs = bad.Check(ctx)
	if len(rs) != 1 || rs[0].OK() || !strings.Contains(rs[0].Detail, "pbx.secret") || !strings.HasPrefix(rs[0].String(), "error  pbx login") {
		t.Fatalf("bad secret: %v", rs)
	}
}
