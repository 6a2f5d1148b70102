package pbxsim

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestGroups(t *testing.T) {
	c := newTC(t, Options{})
	def := values(t, c.expect(200, "GET", "/Groups?$filter=IsDefault eq true", nil))
	if len(def) != 1 || def[0]["Name"] != "DEFAULT" || def[0]["Number"] != "GRP0000" {
		t.Fatalf("default %v", def)
	}
	none := c.expect(200, "GET", "/Groups?$filter=Name eq 'Azure AD'", nil)
	if len(values(t, none)) != 0 {
		t.Errorf("found %v", none)
	}
	g := c.expect(201, "POST", "/Groups", map[string]any{"Name": "Azure AD", "Props": map[string]any{"PersonalContactsMaxCount": 3}})
	if g["Number"] != "GRP0001" || g["IsDefault"] != false || !strings.HasSuffix(g["@odata.context"].(string), "#Groups/$entity") {
		t.Errorf("created %v", g)
	}
	props := g["Props"].(map[string]any)
	if props["PersonalContactsMaxCount"] != float64(3) || props["DepartmentContactsMaxCount"] != float64(0) {
		t.Errorf("props %v", props)
	}
	c.expectWarning("POST", "/Groups", map[string]any{"Name": "azure ad"}, "Name", WarnAlreadyInUse)
	c.expectWarning("POST", "/Groups", map[string]any{"Name": "  "}, "Name", WarnRequired)
	c.expectWarning("POST", "/Groups", map[string]any{}, "Name", WarnRequired)
	c.expect(400, "POST", "/Groups", map[string]any{"Name": "X", "Props": map[string]any{"Bogus": 1}})
	id := int(g["Id"].(float64))
	path := fmt.Sprintf("/Groups(%d)", id)
	c.expect(204, "PATCH", path, map[string]any{"Props": map[string]any{"DepartmentContactsMaxCount": 9}})
	deps := c.sim.Departments()
	if deps[1].PersonalContactsMaxCount != 3 || deps[1].DepartmentContactsMaxCount != 9 {
		t.Errorf("props merge: %+v", deps[1])
	}
	c.expectWarning("PATCH", path, map[string]any{"Number": "GRP0007"}, "Number", WarnForbiddenChange)
	c.expectWarning("PATCH", path, map[string]any{"Name": "DEFAULT"}, "Name", WarnAlreadyInUse)
	c.expectWarning("PATCH", path, map[string]any{"IsDefault": true}, "IsDefault", WarnForbiddenChange)

	// Members from the group side: a full replacement list.
	for _, n := range []string{"101", "102"} {
		c.expect(201, "POST", "/Users", map[string]any{"Number": n})
	}
	c.expect(204, "PATCH", path, map[string]any{"Members": []any{
		map[string]any{"Number": "101", "Rights": map[string]any{"RoleName": "managers"}},
		map[string]any{"Number": "102"},
	}})
	exp := c.expect(200, "GET", path+"?$expand=Members($expand=Rights),Rights&$select=Name,HasMembers", nil)
	mem := exp["Members"].([]any)
	if len(mem) != 2 || exp["HasMembers"] != true || len(exp["Rights"].([]any)) != 7 {
		t.Fatalf("expand %v", exp)
	}
	if r := mem[0].(map[string]any)["Rights"].(map[string]any)["RoleName"]; r != "managers" {
		t.Errorf("role %v", r)
	}
	c.expect(204, "PATCH", path, map[string]any{"Members": []any{map[string]any{"Number": "102"}}})
	u101, _ := c.sim.UserByNumber("101")
	if len(u101.Groups) != 1 || u101.Groups[0].GroupName != "DEFAULT" {
		t.Errorf("101 after removal: %+v", u101.Groups)
	}
	c.expectWarning("PATCH", path, map[string]any{"Members": []any{map[string]any{"Number": "999"}}}, "Number", WarnNonExistentExt)
	c.expectWarning("DELETE", path, nil, "", WarnGroupHasMembers)
	c.expectWarning("DELETE", fmt.Sprintf("/Groups(%d)", c.sim.DefaultDepartmentID()), nil, "", WarnGroupCannotDelete)
	rights := values(t, c.expect(200, "GET", path+"/Rights?$select=RoleName", nil))
	if !reflect.DeepEqual(field(rights, "RoleName"), []any{"users", "receptionists", "group_admins", "managers", "group_owners", "system_admins", "system_owners"}) {
		t.Errorf("rights %v", rights)
	}
	c.expect(204, "PATCH", path, map[string]any{"Members": []any{}})
	c.expect(204, "POST", "/Groups/Pbx.DeleteCompanyById", map[string]any{"Id": id})
	c.expect(404, "GET", path, nil)
}

func TestNumberedObjects(t *testing.T) {
	c := newTC(t, Options{})
	for _, f := range []func() (int32, error){
		func() (int32, error) { return c.sim.AddQueue("800", "Sales") },
		func() (int32, error) { return c.sim.AddRingGroup("801", "Support") },
		func() (int32, error) { return c.sim.AddIVR("802", "Main") },
		func() (int32, error) { return c.sim.AddParking("803") },
	} {
		if _, err := f(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.sim.AddQueue("800", "Again"); err == nil {
		t.Error("duplicate queue number accepted")
	}
	for set, want := range map[string]string{"Queues": "800", "RingGroups": "801", "Receptionists": "802", "Parkings": "803"} {
		rows := values(t, c.expect(200, "GET", "/"+set+"?$select=Id,Number&$orderby=Number", nil))
		if len(rows) != 1 || rows[0]["Number"] != want {
			t.Errorf("%s: %v", set, rows)
		}
		one := c.expect(200, "GET", "/"+set+"(Number='"+want+"')", nil)
		if one["Number"] != want {
			t.Errorf("%s by number: %v", set, one)
		}
		c.expect(405, "POST", "/"+set, map[string]any{"Number": "900"})
	}
	q := values(t, c.expect(200, "GET", "/Queues?$expand=Groups", nil))[0]
	if q["Name"] != "Sales" || q["Groups"].([]any)[0].(map[string]any)["Type"] != "Queue" {
		t.Errorf("queue %v", q)
	}
	c.expect(404, "GET", "/Queues(Number='801')", nil)
	c.expect(400, "GET", "/Parkings?$select=Name", nil) // parkings have no Name
}

func TestM365Integration(t *testing.T) {
	c := newTC(t, Options{})
	m := c.expect(200, "GET", "/Microsoft365Integration", nil)
	ad := m["AdUsers"].(map[string]any)
	if ad["IsEnabled"] != false || ad["SyncType"] != "SyncAllUsers" || !strings.HasSuffix(m["@odata.context"].(string), "#Microsoft365Integration") {
		t.Errorf("initial %v", m)
	}
	c.expect(204, "PATCH", "/Microsoft365Integration", map[string]any{
		"TenantId": "tid", "ApplicationId": "aid", "AdUsers": map[string]any{"EnableSSO": true},
		"SharedMailboxesSync": map[string]any{"IsEnabled": true, "SelectedUsers": []string{"info@x.com"}},
	})
	s := c.sim.M365Settings()
	if s.TenantID != "tid" || s.ApplicationID != "aid" || !s.SSOEnabled || s.UserSyncEnabled || s.SyncType != "SyncAllUsers" ||
		!s.SharedMailboxesEnabled || !reflect.DeepEqual(s.SharedMailboxes, []string{"info@x.com"}) {
		t.Errorf("after patch %+v", s)
	}
	c.expect(400, "PATCH", "/Microsoft365Integration", map[string]any{"AdUsers": map[string]any{"SyncType": "SyncEverything"}})
	c.expect(400, "PATCH", "/Microsoft365Integration", map[string]any{"Tenant": "x"})
	sel := c.expect(200, "GET", "/Microsoft365Integration?$select=TenantId", nil)
	if len(sel) != 2 || sel["TenantId"] != "tid" {
		t.Errorf("select %v", sel)
	}
	if err := c.sim.EditM365(map[string]any{"AdUsers": map[string]any{"IsEnabled": true}}); err != nil || !c.sim.M365Settings().UserSyncEnabled {
		t.Errorf("EditM365: %v", err)
	}
}

func TestPeersAndOtherNumberedSets(t *testing.T) {
	c := newTC(t, Options{ClientID: "900"})
	for _, f := range []func() (int32, error){
		func() (int32, error) { return c.sim.AddFax("888", "Fax in") },
		func() (int32, error) { return c.sim.AddTrunk("10000", "SIP provider") },
		func() (int32, error) { return c.sim.AddCallFlowApp("700", "Router") },
		func() (int32, error) { return c.sim.AddQueue("800", "Sales") },
	} {
		if _, err := f(); err != nil {
			t.Fatal(err)
		}
	}
	c.expect(201, "POST", "/Users", map[string]any{"Number": "101", "FirstName": "Ann", "LastName": "Lee"})
	// The API client's Client ID is a number in use.
	c.expectWarning("POST", "/Users", map[string]any{"Number": "900"}, "Number", WarnAlreadyInUse)
	sp := values(t, c.expect(200, "GET", "/ServicePrincipals?$select=Id,Number,XAPIEnabled", nil))
	if len(sp) != 1 || sp[0]["Number"] != "900" || sp[0]["XAPIEnabled"] != true {
		t.Errorf("service principals %v", sp)
	}
	for set, want := range map[string]string{"Fax": "888", "Trunks": "10000", "CallFlowApps": "700"} {
		rows := values(t, c.expect(200, "GET", "/"+set+"?$select=Id,Number", nil))
		if len(rows) != 1 || rows[0]["Number"] != want {
			t.Errorf("%s: %v", set, rows)
		}
	}
	c.expect(400, "GET", "/Fax?$select=Id,Number,Name", nil) // Pbx.Fax has no Name
	if cf := values(t, c.expect(200, "GET", "/CallFlowApps?$select=Name", nil)); cf[0]["Name"] != "Router" {
		t.Errorf("call flow %v", cf)
	}
	peers := values(t, c.expect(200, "GET", "/Peers?$select=Number,Name,Type&$orderby=Number", nil))
	got := map[string]string{}
	for _, p := range peers {
		got[p["Number"].(string)] = p["Type"].(string) + "/" + p["Name"].(string)
	}
	want := map[string]string{
		"GRP0000": "Group/DEFAULT", "900": "RoutePoint/pbx365 API client", "888": "Fax/Fax in", "10000": "ExternalLine/SIP provider",
		"700": "RoutePoint/Router", "800": "Queue/Sales", "101": "Extension/Ann Lee",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("peers %v", got)
	}
	ext := values(t, c.expect(200, "GET", "/Peers?$filter=Type eq 'Extension'", nil))
	if len(ext) != 1 || ext[0]["Hidden"] != false {
		t.Errorf("filtered peers %v", ext)
	}
}
