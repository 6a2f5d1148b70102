package pbxsim

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestUserCreateGetPatchDelete(t *testing.T) {
	c := newTC(t, Options{})
	created := c.expect(201, "POST", "/Users", map[string]any{
		"Number": "101", "FirstName": "Ada", "LastName": "Lovelace", "EmailAddress": "Ada@Example.com",
		"MS365SignInEnabled": true, "VMEmailOptions": "Attachment", "Language": "DE",
	})
	if !strings.HasSuffix(created["@odata.context"].(string), "/xapi/v1/$metadata#Users/$entity") {
		t.Errorf("context %v", created["@odata.context"])
	}
	id := int(created["Id"].(float64))
	if created["Number"] != "101" || created["DisplayName"] != "Ada Lovelace" || created["Enabled"] != true ||
		created["CurrentProfileName"] != "Available" || created["VMEmailOptions"] != "Attachment" || created["MS365SignInEnabled"] != true {
		t.Errorf("created entity: %v", created)
	}
	if _, ok := created["Groups"]; ok {
		t.Error("navigation property Groups present without $expand")
	}
	got := c.expect(200, "GET", fmt.Sprintf("/Users(%d)", id), nil)
	if got["EmailAddress"] != "Ada@Example.com" || got["Language"] != "DE" {
		t.Errorf("get: %v", got)
	}
	byNumber := c.expect(200, "GET", "/Users(Number='101')", nil)
	if byNumber["Id"] != got["Id"] {
		t.Errorf("by number: %v", byNumber)
	}
	c.expect(204, "PATCH", fmt.Sprintf("/Users(%d)", id), map[string]any{"FirstName": "Augusta", "Number": "101", "Mobile": "+15550100"})
	u, ok := c.sim.User(int32(id))
	if !ok || u.FirstName != "Augusta" || u.LastName != "Lovelace" || u.Mobile != "+15550100" || u.DisplayName != "Augusta Lovelace" || !u.MS365SignInEnabled {
		t.Errorf("after patch: %+v", u)
	}
	if u.Other["VMEmailOptions"] != `"Attachment"` {
		t.Errorf("VMEmailOptions did not round-trip: %v", u.Other)
	}
	c.expect(204, "DELETE", fmt.Sprintf("/Users(%d)", id), nil)
	c.expect(404, "GET", fmt.Sprintf("/Users(%d)", id), nil)
	c.expect(404, "PATCH", fmt.Sprintf("/Users(%d)", id), map[string]any{"FirstName": "x"})
	c.expect(404, "DELETE", fmt.Sprintf("/Users(%d)", id), nil)
	c.expect(404, "GET", "/Users(Number='101')", nil)
}

func TestUserCreateWithoutNumberTakesFirstFree(t *testing.T) {
	c := newTC(t, Options{})
	if _, err := c.sim.AddQueue("100", "Sales queue"); err != nil {
		t.Fatal(err)
	}
	c.expect(201, "POST", "/Users", map[string]any{"Number": "101"})
	first := c.expect(200, "GET", "/Users/Pbx.GetFirstAvailableExtensionNumber()", nil)
	if first["Number"] != "102" || !strings.HasSuffix(first["@odata.context"].(string), "#Pbx.FirstAvailableNumber") {
		t.Errorf("first available: %v", first)
	}
	u := c.expect(201, "POST", "/Users", map[string]any{})
	if u["Number"] != "102" {
		t.Errorf("empty create got number %v", u["Number"])
	}
	c.expect(404, "GET", "/Users/Pbx.GetFirstAvailableExtensionNumber", nil)
}

func TestUserUnknownPropertyAndBadTypes(t *testing.T) {
	c := newTC(t, Options{})
	for _, body := range []string{
		`{"Number":"101","firstName":"lower-case name"}`,
		`{"Number":"101","Foo":1}`,
		`{"Number":101}`,
		`{"Number":"101","Enabled":"yes"}`,
		`{"Number":"101","VMEmailOptions":"Sometimes"}`,
		`{"Number":"101","Tags":["Nope"]}`,
		`{"Number":"101"`,
		`[]`,
		`{"Number":"101","Groups":[{"GroupId":1,"Rights":{"RoleName":"users","Bogus":true}}]}`,
	} {
		resp, b := c.do("POST", "/Users", body)
		if resp.StatusCode != 400 || !strings.Contains(string(b), `"error"`) {
			t.Errorf("POST %s: %d %s", body, resp.StatusCode, b)
		}
	}
	if n := len(c.sim.Users()); n != 0 {
		t.Errorf("%d users created by refused requests", n)
	}
	// Wrong media type.
	req := `{"Number":"101"}`
	resp, _ := c.doRaw("POST", "/Users", req, "text/plain")
	if resp.StatusCode != 415 {
		t.Errorf("text/plain body: %d", resp.StatusCode)
	}
}

func TestNumberImmutableAndUnique(t *testing.T) {
	c := newTC(t, Options{})
	if _, err := c.sim.AddRingGroup("200", "Support"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.sim.AddIVR("300", "Main menu"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.sim.AddParking("400"); err != nil {
		t.Fatal(err)
	}
	u := c.expect(201, "POST", "/Users", map[string]any{"Number": "101"})
	id := int(u["Id"].(float64))
	c.expectWarning("PATCH", fmt.Sprintf("/Users(%d)", id), map[string]any{"Number": "102"}, "Number", WarnForbiddenChange)
	c.expectWarning("PATCH", fmt.Sprintf("/Users(%d)", id), map[string]any{"Number": nil}, "Number", WarnForbiddenChange)
	c.expect(204, "PATCH", fmt.Sprintf("/Users(%d)", id), map[string]any{"Number": "101"})
	for _, n := range []string{"101", "200", "300", "400"} {
		c.expectWarning("POST", "/Users", map[string]any{"Number": n}, "Number", WarnAlreadyInUse)
	}
	c.expectWarning("POST", "/Users", map[string]any{"Number": ""}, "Number", WarnEmptyString)
	c.expectWarning("POST", "/Users", map[string]any{"Number": "12a"}, "Number", WarnInvalid)
	c.expectWarning("POST", "/Users", map[string]any{"Id": 5, "Number": "105"}, "Id", WarnInvalid)
	c.expectWarning("PATCH", fmt.Sprintf("/Users(%d)", id), map[string]any{"Id": id + 1}, "Id", WarnForbiddenChange)
	c.expect(204, "PATCH", fmt.Sprintf("/Users(%d)", id), map[string]any{"Id": id})
}

func TestEmailUniqueCaseInsensitive(t *testing.T) {
	c := newTC(t, Options{})
	a := c.expect(201, "POST", "/Users", map[string]any{"Number": "101", "EmailAddress": "ann@example.com"})
	b := c.expect(201, "POST", "/Users", map[string]any{"Number": "102", "EmailAddress": "bob@example.com"})
	c.expectWarning("POST", "/Users", map[string]any{"Number": "103", "EmailAddress": "ANN@example.COM"}, "EmailAddress", WarnAlreadyInUse)
	c.expectWarning("PATCH", fmt.Sprintf("/Users(%v)", b["Id"]), map[string]any{"EmailAddress": "Ann@Example.com"}, "EmailAddress", WarnAlreadyInUse)
	// The owner may change the case of its own address.
	c.expect(204, "PATCH", fmt.Sprintf("/Users(%v)", a["Id"]), map[string]any{"EmailAddress": "ANN@example.com"})
	c.expectWarning("POST", "/Users", map[string]any{"Number": "104", "EmailAddress": "not-an-address"}, "EmailAddress", WarnInvalid)
	// Empty addresses are not unique values.
	c.expect(201, "POST", "/Users", map[string]any{"Number": "105", "EmailAddress": ""})
	c.expect(201, "POST", "/Users", map[string]any{"Number": "106"})
	// A refused write leaves no trace and uses no Id.
	before := c.sim.Snapshot()
	c.expectWarning("POST", "/Users", map[string]any{"Number": "107", "EmailAddress": "bob@EXAMPLE.com"}, "EmailAddress", WarnAlreadyInUse)
	if d := before.Diff(c.sim.Snapshot()); len(d) > 0 {
		t.Errorf("refused write changed state: %v", d)
	}
	next := c.expect(201, "POST", "/Users", map[string]any{"Number": "107"})
	if next["Id"].(float64) != b["Id"].(float64)+3 {
		t.Errorf("ids not dense: b=%v next=%v", b["Id"], next["Id"])
	}
}

func TestLicenceLimit(t *testing.T) {
	c := newTC(t, Options{MaxUsers: 2})
	c.expect(201, "POST", "/Users", map[string]any{"Number": "101"})
	c.expect(201, "POST", "/Users", map[string]any{"Number": "102"})
	c.expectWarning("POST", "/Users", map[string]any{"Number": "103"}, "", WarnLimitReached)
	c.expect(405, "DELETE", "/Users(Number='101')", nil)
}

func TestDefaultDepartmentAndGroupsReplace(t *testing.T) {
	c := newTC(t, Options{})
	sales, err := c.sim.AddDepartment("Sales")
	if err != nil {
		t.Fatal(err)
	}
	def := c.sim.DefaultDepartmentID()
	u := c.expect(201, "POST", "/Users", map[string]any{"Number": "101"})
	path := fmt.Sprintf("/Users(%v)", u["Id"])
	got := c.expect(200, "GET", path+"?$expand=Groups($expand=Rights)", nil)
	groups := got["Groups"].([]any)
	if len(groups) != 1 {
		t.Fatalf("groups %v", groups)
	}
	g := groups[0].(map[string]any)
	if g["Name"] != "DEFAULT" || int32(g["GroupId"].(float64)) != def || g["Type"] != "Extension" || g["Number"] != "101" ||
		g["Rights"].(map[string]any)["RoleName"] != "users" {
		t.Errorf("membership %v", g)
	}
	if got["PrimaryGroupId"].(float64) != float64(def) {
		t.Errorf("PrimaryGroupId %v", got["PrimaryGroupId"])
	}
	c.expect(204, "PATCH", path, map[string]any{"Groups": []any{
		map[string]any{"GroupId": def, "Rights": map[string]any{"RoleName": "managers"}},
		map[string]any{"GroupId": sales, "Rights": map[string]any{"RoleName": "users"}},
	}})
	us, _ := c.sim.User(int32(u["Id"].(float64)))
	want := []Membership{{GroupID: def, GroupName: "DEFAULT", Role: "managers"}, {GroupID: sales, GroupName: "Sales", Role: "users"}}
	if len(us.Groups) != 2 || us.Groups[0].Role != want[0].Role || us.Groups[1].GroupName != "Sales" || float64(us.Groups[0].ID) != g["Id"].(float64) {
		t.Errorf("after patch: %+v", us.Groups)
	}
	// Replacement: only Sales remains, and the primary group follows.
	c.expect(204, "PATCH", path, map[string]any{"Groups": []any{map[string]any{"GroupId": sales, "Rights": map[string]any{"RoleName": "group_owners"}}}})
	us, _ = c.sim.User(us.ID)
	if len(us.Groups) != 1 || us.Groups[0].GroupName != "Sales" || us.Groups[0].Role != "group_owners" || us.PrimaryGroupID != sales {
		t.Errorf("after replace: %+v", us)
	}
	members := values(t, c.expect(200, "GET", fmt.Sprintf("/Groups(%d)/Members?$expand=Rights", sales), nil))
	if len(members) != 1 || members[0]["Number"] != "101" || members[0]["Rights"].(map[string]any)["RoleName"] != "group_owners" {
		t.Errorf("members %v", members)
	}
	c.expectWarning("PATCH", path, map[string]any{"Groups": []any{map[string]any{"GroupId": 999}}}, "GroupId", WarnNotFound)
	c.expectWarning("PATCH", path, map[string]any{"Groups": []any{map[string]any{"GroupId": sales, "Rights": map[string]any{"RoleName": "king"}}}}, "RoleName", WarnInvalid)
	c.expectWarning("PATCH", path, map[string]any{"Groups": []any{map[string]any{"GroupId": sales}, map[string]any{"GroupId": sales}}}, "Groups", WarnDuplicate)
	c.expectWarning("PATCH", path, map[string]any{"Groups": []any{map[string]any{"Rights": map[string]any{"RoleName": "users"}}}}, "GroupId", WarnRequired)
	c.expectWarning("PATCH", path, map[string]any{"PrimaryGroupId": def}, "PrimaryGroupId", WarnInvalid)
	// An empty list puts the user back into DEFAULT as users.
	c.expect(204, "PATCH", path, map[string]any{"Groups": []any{}})
	us, _ = c.sim.User(us.ID)
	if len(us.Groups) != 1 || us.Groups[0].GroupName != "DEFAULT" || us.Groups[0].Role != "users" {
		t.Errorf("after empty: %+v", us.Groups)
	}
	// Create with a department and role.
	v := c.expect(201, "POST", "/Users", map[string]any{"Number": "102", "Groups": []any{map[string]any{"GroupId": sales, "Rights": map[string]any{"RoleName": "managers"}}}})
	u2, _ := c.sim.User(int32(v["Id"].(float64)))
	if !reflect.DeepEqual(u2.Groups[0].GroupName+"/"+u2.Groups[0].Role, "Sales/managers") || u2.PrimaryGroupID != sales {
		t.Errorf("create with groups: %+v", u2)
	}
}

func TestProfiles(t *testing.T) {
	c := newTC(t, Options{})
	c.sim.SetProfileNames("Lunch", "Business Trip")
	u := c.expect(201, "POST", "/Users", map[string]any{"Number": "101"})
	path := fmt.Sprintf("/Users(%v)", u["Id"])
	profiles := values(t, c.expect(200, "GET", path+"/ForwardingProfiles", nil))
	if !reflect.DeepEqual(field(profiles, "Name"), []any{"Available", "Away", "Out of office", "Custom 1", "Custom 2"}) {
		t.Errorf("names %v", field(profiles, "Name"))
	}
	if !reflect.DeepEqual(field(profiles, "CustomName"), []any{nil, nil, nil, "Lunch", "Business Trip"}) {
		t.Errorf("custom names %v", field(profiles, "CustomName"))
	}
	c.expect(204, "PATCH", path, map[string]any{"CurrentProfileName": "Out of office"})
	got := c.expect(200, "GET", "/Users?$filter=Number eq '101'&$select=Id,Number,CurrentProfileName", nil)
	row := values(t, got)[0]
	if row["CurrentProfileName"] != "Out of office" || len(row) != 3 {
		t.Errorf("select row %v", row)
	}
	for _, bad := range []any{"Do Not Disturb", "Business Trip", "away", nil, ""} {
		c.expectWarning("PATCH", path, map[string]any{"CurrentProfileName": bad}, "CurrentProfileName", WarnInvalid)
	}
	// A manual change on the PBX side.
	if err := c.sim.SetUserProfile(int32(u["Id"].(float64)), "Custom 2"); err != nil {
		t.Fatal(err)
	}
	if err := c.sim.SetUserProfile(int32(u["Id"].(float64)), "Holiday"); err == nil {
		t.Error("unknown profile accepted")
	}
	us, _ := c.sim.User(int32(u["Id"].(float64)))
	if us.CurrentProfileName != "Custom 2" || us.Profiles[4].CustomName != "Business Trip" {
		t.Errorf("user %+v", us)
	}
	// Per-user custom name and expand.
	if err := c.sim.SetUserProfileCustomName(us.ID, "Custom 1", "Holiday"); err != nil {
		t.Fatal(err)
	}
	exp := c.expect(200, "GET", path+"?$expand=ForwardingProfiles($select=Name,CustomName)&$select=Id", nil)
	fps := exp["ForwardingProfiles"].([]any)
	if fps[3].(map[string]any)["CustomName"] != "Holiday" || len(fps[3].(map[string]any)) != 2 {
		t.Errorf("expanded profiles %v", fps)
	}
	// ForwardingProfiles PATCH by name.
	c.expect(204, "PATCH", path, map[string]any{"ForwardingProfiles": []any{map[string]any{"Name": "Away", "CustomMessage": "back soon"}}})
	c.expectWarning("PATCH", path, map[string]any{"ForwardingProfiles": []any{map[string]any{"Name": "Nope"}}}, "ForwardingProfiles", WarnNotFound)
}

func TestBatchDelete(t *testing.T) {
	c := newTC(t, Options{})
	a := c.expect(201, "POST", "/Users", map[string]any{"Number": "101"})
	b := c.expect(201, "POST", "/Users", map[string]any{"Number": "102"})
	d := c.expect(201, "POST", "/Users", map[string]any{"Number": "103"})
	if _, err := c.sim.AddContact("101", Contact{FirstName: "P", PhoneNumber: "1"}); err != nil {
		t.Fatal(err)
	}
	res := c.expect(200, "POST", "/Users/Pbx.BatchDelete", map[string]any{"ids": []any{a["Id"], b["Id"]}})
	if len(values(t, res)) != 0 || !strings.HasSuffix(res["@odata.context"].(string), "#Collection(Pbx.UserDeleteError)") {
		t.Errorf("batch delete: %v", res)
	}
	res = c.expect(200, "POST", "/Users/Pbx.BatchDelete", map[string]any{"Ids": []any{d["Id"], 9999}})
	errs := values(t, res)
	if len(errs) != 1 || errs[0]["Error"] != WarnNotFound {
		t.Errorf("batch delete with unknown id: %v", res)
	}
	if n := len(c.sim.Users()); n != 0 {
		t.Errorf("%d users left", n)
	}
	if n := len(c.sim.PersonalContacts("101")); n != 0 {
		t.Errorf("personal contacts survive their extension: %d", n)
	}
	c.expect(400, "POST", "/Users/Pbx.BatchDelete", map[string]any{"userIds": []any{1}})
	c.expect(405, "GET", "/Users/Pbx.BatchDelete", nil)
}

func TestRequiredVersionHeaderAndDefs(t *testing.T) {
	c := newTC(t, Options{Version: "20.0.9.995"})
	resp, b := c.do("GET", "/Defs?$select=Id", nil)
	if resp.StatusCode != 200 || resp.Header.Get("X-3CX-Version") != "20.0.9.995" {
		t.Fatalf("defs: %d %v", resp.StatusCode, resp.Header)
	}
	if !strings.HasSuffix(string(b), `"Id":0}`) || !strings.Contains(string(b), `/xapi/v1/$metadata#Defs(Id)"`) {
		t.Errorf("defs body %s", b)
	}
	resp, _ = c.do("GET", "/Nope", nil)
	if resp.StatusCode != 404 || resp.Header.Get("X-3CX-Version") == "" {
		t.Errorf("unknown path: %d version %q", resp.StatusCode, resp.Header.Get("X-3CX-Version"))
	}
}

func TestSeededDuplicateEmails(t *testing.T) {
	c := newTC(t, Options{})
	a, err := c.sim.AddUser(User{Number: "101", EmailAddress: "dup@x.com", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.sim.AddUser(User{Number: "102", EmailAddress: "DUP@x.com", Enabled: true}); err != nil {
		t.Fatalf("seeding refused a duplicate address: %v", err)
	}
	if _, err := c.sim.AddUser(User{Number: "101"}); err == nil || !strings.Contains(err.Error(), WarnAlreadyInUse) {
		t.Errorf("seeding a taken number: %v", err)
	}
	res := c.expect(200, "GET", fmt.Sprintf("/Users(%d)/Pbx.HasDuplicatedEmail()", a), nil)
	if res["value"] != true {
		t.Errorf("HasDuplicatedEmail %v", res)
	}
	rows := values(t, c.expect(200, "GET", "/Users?$filter=tolower(EmailAddress) eq 'dup@x.com'&$count=true&$top=1", nil))
	if len(rows) != 1 {
		t.Errorf("top 1: %v", rows)
	}
	counted := c.expect(200, "GET", "/Users?$filter=tolower(EmailAddress) eq 'dup@x.com'&$count=true&$top=1", nil)
	if counted["@odata.count"] != float64(2) {
		t.Errorf("filtered count %v", counted["@odata.count"])
	}
	// Other fields of a duplicate can still be changed; the address cannot be re-sent.
	c.expect(204, "PATCH", fmt.Sprintf("/Users(%d)", a), map[string]any{"FirstName": "A"})
	c.expectWarning("PATCH", fmt.Sprintf("/Users(%d)", a), map[string]any{"EmailAddress": "dup@x.com"}, "EmailAddress", WarnAlreadyInUse)
	b, _ := c.sim.UserByNumber("102")
	c.expect(204, "DELETE", fmt.Sprintf("/Users(%d)", b.ID), nil)
	if res := c.expect(200, "GET", fmt.Sprintf("/Users(%d)/Pbx.HasDuplicatedEmail()", a), nil); res["value"] != false {
		t.Errorf("after delete %v", res)
	}
	c.expect(204, "PATCH", fmt.Sprintf("/Users(%d)", a), map[string]any{"EmailAddress": "dup@x.com"})
}
