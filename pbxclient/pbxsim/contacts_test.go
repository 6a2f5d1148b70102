package pbxsim

import (
	"fmt"
	"reflect"
	"testing"
)

func TestCompanyContacts(t *testing.T) {
	c := newTC(t, Options{})
	ct := c.expect(201, "POST", "/Contacts", map[string]any{"FirstName": "Nikolai", "PhoneNumber": "1234567890", "Tag": "pbx365:abc"})
	if ct["ContactType"] != "3CX" || ct["Tag"] != "pbx365:abc" {
		t.Errorf("created %v", ct)
	}
	c.expect(201, "POST", "/Contacts", map[string]any{"CompanyName": "ACME", "Business": "+1555", "ContactType": "M365"})
	c.expectWarning("POST", "/Contacts", map[string]any{"PhoneNumber": "1"}, "FirstName", WarnContactName)
	c.expectWarning("POST", "/Contacts", map[string]any{"LastName": "Doe"}, "PhoneNumber", WarnContactPhone)
	c.expectWarning("POST", "/Contacts", map[string]any{"FirstName": " ", "PhoneNumber": "1"}, "FirstName", WarnContactName)
	c.expect(400, "POST", "/Contacts", map[string]any{"FirstName": "A", "Mobile": "1"}) // no such field
	c.expect(400, "POST", "/Contacts", map[string]any{"FirstName": "A", "PhoneNumber": "1", "ContactType": "Outlook"})
	rows := values(t, c.expect(200, "GET", "/Contacts?$filter=contains(FirstName,'Nik') or contains(CompanyName,'Nik')", nil))
	if len(rows) != 1 || rows[0]["PhoneNumber"] != "1234567890" {
		t.Errorf("search %v", rows)
	}
	rows = values(t, c.expect(200, "GET", "/Contacts?$filter=ContactType eq 'M365'", nil))
	if len(rows) != 1 {
		t.Errorf("by type %v", rows)
	}
	path := fmt.Sprintf("/Contacts(%v)", ct["Id"])
	c.expect(204, "PATCH", path, map[string]any{"LastName": "Tesla", "Tag": "pbx365:def"})
	got := c.expect(200, "GET", path, nil)
	if got["LastName"] != "Tesla" || got["FirstName"] != "Nikolai" || got["Tag"] != "pbx365:def" {
		t.Errorf("after patch %v", got)
	}
	c.expectWarning("PATCH", path, map[string]any{"PhoneNumber": ""}, "PhoneNumber", WarnContactPhone)
	c.expect(204, "DELETE", path, nil)
	c.expect(404, "GET", path, nil)
	c.expect(204, "POST", "/Contacts/Pbx.DeleteContactsById", map[string]any{"ids": []int{int(ct["Id"].(float64)) + 1}})
	if n := len(c.sim.CompanyContacts()); n != 0 {
		t.Errorf("%d contacts left", n)
	}
}

func TestPersonalContactsAndQuotas(t *testing.T) {
	c := newTC(t, Options{})
	c.expect(201, "POST", "/Users", map[string]any{"Number": "101"})
	c.expect(201, "POST", "/Users", map[string]any{"Number": "102"})
	if err := c.sim.SetContactQuotas(c.sim.DefaultDepartmentID(), 2, 1); err != nil {
		t.Fatal(err)
	}
	body := func(name string) map[string]any {
		return map[string]any{"number": "101", "contact": map[string]any{"FirstName": name, "PhoneNumber": "+4930123"}}
	}
	p := c.expect(200, "POST", "/Contacts/Pbx.CreateContactByNumber", body("Mum"))
	if p["FirstName"] != "Mum" || p["Id"] == nil {
		t.Errorf("personal %v", p)
	}
	c.expect(200, "POST", "/Contacts/Pbx.CreateContactByNumber", map[string]any{"Number": "101", "Contact": map[string]any{"FirstName": "Dad", "Home": "1"}})
	c.expectWarning("POST", "/Contacts/Pbx.CreateContactByNumber", body("Gran"), "", WarnLimitReached)
	c.expectWarning("POST", "/Contacts/Pbx.CreateContactByNumber", map[string]any{"number": "999", "contact": map[string]any{"FirstName": "X", "PhoneNumber": "1"}}, "number", WarnNonExistentExt)
	c.expectWarning("POST", "/Contacts/Pbx.CreateContactByNumber", map[string]any{"number": "102", "contact": map[string]any{"FirstName": "X"}}, "PhoneNumber", WarnContactPhone)
	c.expect(400, "POST", "/Contacts/Pbx.CreateContactByNumber", map[string]any{"number": "102", "contact": map[string]any{"FirstName": "X", "PhoneNumber": "1"}, "extra": 1})
	mine := values(t, c.expect(200, "GET", "/Contacts/Pbx.GetContactsByNumber(number='101')?$orderby=FirstName", nil))
	if !reflect.DeepEqual(field(mine, "FirstName"), []any{"Dad", "Mum"}) {
		t.Errorf("personal list %v", mine)
	}
	if rows := values(t, c.expect(200, "GET", "/Contacts/Pbx.GetContactsByNumber(number='102')", nil)); len(rows) != 0 {
		t.Errorf("102 sees %v", rows)
	}
	if rows := values(t, c.expect(200, "GET", "/Contacts", nil)); len(rows) != 0 {
		t.Errorf("personal contacts in the company phonebook: %v", rows)
	}
	c.expect(404, "GET", "/Contacts/Pbx.GetContactsByNumber()", nil)
	c.expect(404, "GET", "/Contacts/Pbx.GetContactsByNumber(num='101')", nil)
	c.expect(404, "GET", "/Contacts/Pbx.GetContactsByNumber(number=101)", nil)
	c.expectWarning("GET", "/Contacts/Pbx.GetContactsByNumber(number='999')", nil, "number", WarnNonExistentExt)
	// Company quota: 1.
	c.expect(201, "POST", "/Contacts", map[string]any{"FirstName": "A", "PhoneNumber": "1"})
	c.expectWarning("POST", "/Contacts", map[string]any{"FirstName": "B", "PhoneNumber": "2"}, "", WarnLimitReached)
	// A personal contact is reachable by Id and deletable in bulk.
	c.expect(204, "PATCH", fmt.Sprintf("/Contacts(%v)", p["Id"]), map[string]any{"Mobile2": "+49170"})
	if pc := c.sim.PersonalContacts("101"); pc[0].Mobile2 != "+49170" || pc[0].Owner != "101" {
		t.Errorf("personal after patch %+v", pc)
	}
	c.expect(204, "POST", "/Contacts/Pbx.DeleteContactsById", map[string]any{"ids": []any{p["Id"]}})
	if n := len(c.sim.PersonalContacts("101")); n != 1 {
		t.Errorf("%d personal contacts", n)
	}
}
