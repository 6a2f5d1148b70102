package pbxsim

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// seedPeople adds users 101..105 with varied names and addresses.
func seedPeople(t *testing.T, c *tc) {
	t.Helper()
	people := []User{
		{Number: "101", FirstName: "Ann", LastName: "Zimmer", EmailAddress: "Ann@Example.com", Enabled: true},
		{Number: "102", FirstName: "Bob", LastName: "O'Brien", EmailAddress: "bob@example.com", Enabled: false},
		{Number: "103", FirstName: "Cleo", LastName: "Young", EmailAddress: "", Enabled: true},
		{Number: "1000", FirstName: "Dan", LastName: "Xu", EmailAddress: "dan@other.org", Enabled: true},
		{Number: "105", FirstName: "Eve", LastName: "Ward", EmailAddress: "eve@example.com", Enabled: true},
	}
	for _, p := range people {
		if _, err := c.sim.AddUser(p); err != nil {
			t.Fatal(err)
		}
	}
}

func numbersOf(t *testing.T, c *tc, query string) []any {
	t.Helper()
	return field(values(t, c.expect(200, "GET", "/Users?"+query, nil)), "Number")
}

func TestFilter(t *testing.T) {
	c := newTC(t, Options{})
	seedPeople(t, c)
	cases := map[string][]any{
		"$filter=Number eq '101'":                                     {"101"},
		"$filter=tolower(EmailAddress) eq 'ann@example.com'":          {"101"},
		"$filter=EmailAddress eq 'ann@example.com'":                   nil, // eq is case-sensitive
		"$filter=Number ge '100' and Number lt '104'":                 {"101", "102", "103", "1000"},
		"$filter=Number gt '103'":                                     {"105"},
		"$filter=Number le '101'":                                     {"101", "1000"},
		"$filter=contains(FirstName,'e') or contains(LastName,'X')":   {"103", "1000", "105"},
		"$filter=startswith(EmailAddress,'b')":                        {"102"},
		"$filter=endswith(EmailAddress,'.org')":                       {"1000"},
		"$filter=Enabled eq false":                                    {"102"},
		"$filter=not (Enabled eq true)":                               {"102"},
		"$filter=Enabled ne true and Number eq '102'":                 {"102"},
		"$filter=LastName eq 'O''Brien'":                              {"102"},
		"$filter=(Number eq '101' or Number eq '105') and Enabled":    {"101", "105"},
		"$filter=EmailAddress eq ''":                                  {"103"},
		"$filter=HotdeskingAssignment eq null":                        nil,
		"$filter=PinProtectTimeout eq 0 and Number eq '101'":          {"101"},
		"$filter=toupper(FirstName) eq 'EVE'":                         {"105"},
		"$filter=length(LastName) eq 2":                               {"1000"},
		"$filter=Id gt 2 and Id lt 5":                                 {"101", "102"}, // DEFAULT and the API client hold 1 and 2
		"$filter=tolower(EmailAddress) eq tolower('BOB@EXAMPLE.COM')": {"102"},
	}
	for query, want := range cases {
		if got := numbersOf(t, c, query); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %v, want %v", query, got, want)
		}
	}
	for _, bad := range []string{
		"$filter=Number eq 101",          // string vs number
		"$filter=Number eq '101",         // unterminated
		"$filter=Nope eq '1'",            // unknown property
		"$filter=number eq '101'",        // names are case-sensitive
		"$filter=Number eq '101' and",    // dangling
		"$filter=Number",                 // not boolean
		"$filter=frobnicate(Number)",     // unknown function
		"$filter=contains(Number)",       // arity
		"$filter=Groups eq null",         // navigation
		"$filter=Number eq '1' xor true", // unknown operator
		"$filter=Enabled gt false",       // ordering on booleans
		"$filter=Number eq '101')",       // stray paren
		"$filter=Tags eq 'MS'",           // collection
		"$search=ann",                    // unsupported
		"$top=-1", "$top=abc", "$skip=x", // paging
		"$count=yes",                   // count
		"$orderby=Number up",           // direction
		"$orderby=Groups",              // navigation
		"$select=Nope",                 // unknown
		"$select=Groups",               // navigation in select
		"$expand=Nope",                 // unknown nav
		"$expand=Groups($expand=Nope)", // unknown nested
		"$expand=Groups($top=1)",       // unsupported nested option
		"$frob=1",                      // unknown system option
		"$top=1&$top=2",                // repeated
	} {
		resp, b := c.do("GET", "/Users?"+bad, nil)
		if resp.StatusCode != 400 || !strings.Contains(string(b), "The query specified in the URI is not valid.") {
			t.Errorf("%s: %d %s", bad, resp.StatusCode, b)
		}
	}
	// Custom (non-$) query options are ignored, as OData does.
	c.expect(200, "GET", "/Users?foo=bar", nil)
}

func TestPagingOrderSelectCount(t *testing.T) {
	c := newTC(t, Options{})
	seedPeople(t, c)
	if got := numbersOf(t, c, "$orderby=Number asc"); !reflect.DeepEqual(got, []any{"1000", "101", "102", "103", "105"}) {
		t.Errorf("orderby: %v", got)
	}
	if got := numbersOf(t, c, "$orderby=Enabled desc,Number desc"); !reflect.DeepEqual(got, []any{"105", "103", "101", "1000", "102"}) {
		t.Errorf("orderby 2 keys: %v", got)
	}
	var all []any
	for skip := 0; ; skip += 2 {
		page := c.expect(200, "GET", fmt.Sprintf("/Users?$top=2&$skip=%d&$orderby=Number&$count=true", skip), nil)
		if page["@odata.count"] != float64(5) {
			t.Errorf("count %v", page["@odata.count"])
		}
		if _, ok := page["@odata.nextLink"]; ok {
			t.Error("nextLink emitted")
		}
		rows := values(t, page)
		all = append(all, field(rows, "Number")...)
		if len(rows) < 2 {
			break
		}
	}
	if !reflect.DeepEqual(all, []any{"1000", "101", "102", "103", "105"}) {
		t.Errorf("paged: %v", all)
	}
	page := c.expect(200, "GET", "/Users?$top=0", nil)
	if len(values(t, page)) != 0 {
		t.Error("$top=0 returned rows")
	}
	if _, ok := page["@odata.count"]; ok {
		t.Error("@odata.count without $count=true")
	}
	sel := c.expect(200, "GET", "/Users?$select=Number,EmailAddress&$filter=Number eq '101'", nil)
	row := values(t, sel)[0]
	if !reflect.DeepEqual(row, map[string]any{"Number": "101", "EmailAddress": "Ann@Example.com"}) {
		t.Errorf("select row %v", row)
	}
	if !strings.HasSuffix(sel["@odata.context"].(string), "$metadata#Users(Number,EmailAddress)") {
		t.Errorf("context %v", sel["@odata.context"])
	}
	// Single-entity GETs take only $select and $expand.
	c.expect(400, "GET", "/Users(3)?$top=1", nil)
	one := c.expect(200, "GET", "/Users(3)?$select=Id,FirstName", nil)
	if len(one) != 3 || one["FirstName"] != "Ann" {
		t.Errorf("entity select %v", one)
	}
}

func TestExpandGroupsRights(t *testing.T) {
	c := newTC(t, Options{})
	seedPeople(t, c)
	m := c.expect(200, "GET", "/Users?$top=1&$count=true&$select=Id,Number,FirstName,LastName,EmailAddress&$expand=Groups($expand=Rights)", nil)
	if !strings.HasSuffix(m["@odata.context"].(string), "#Users(Id,Number,FirstName,LastName,EmailAddress,Groups(Rights()))") {
		t.Errorf("context %v", m["@odata.context"])
	}
	row := values(t, m)[0]
	g := row["Groups"].([]any)[0].(map[string]any)
	if g["Name"] != "DEFAULT" || g["MemberName"] != "Zimmer, Ann" || g["Rights"].(map[string]any)["RoleName"] != "users" {
		t.Errorf("group %v", g)
	}
	if len(row) != 6 {
		t.Errorf("row has %d properties: %v", len(row), row)
	}
	// Without nested $expand, Rights is absent.
	m = c.expect(200, "GET", "/Users?$top=1&$expand=Groups", nil)
	if _, ok := values(t, m)[0]["Groups"].([]any)[0].(map[string]any)["Rights"]; ok {
		t.Error("Rights present without $expand=Rights")
	}
	m = c.expect(200, "GET", "/Users?$top=1&$expand=Groups($expand=Rights,GroupRights),ForwardingProfiles,ForwardingExceptions,Phones,Greetings", nil)
	r := values(t, m)[0]
	if len(r["ForwardingProfiles"].([]any)) != 5 || len(r["Phones"].([]any)) != 0 {
		t.Errorf("long expand %v", r)
	}
	groups := values(t, c.expect(200, "GET", "/Users(3)/Groups?$expand=Rights", nil))
	if len(groups) != 1 || groups[0]["Rights"].(map[string]any)["RoleName"] != "users" {
		t.Errorf("Users(3)/Groups %v", groups)
	}
}
