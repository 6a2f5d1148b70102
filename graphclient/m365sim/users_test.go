package m365sim

import (
	"net/url"
	"slices"
	"strings"
	"testing"
)

// pageAll follows nextLinks and returns every value item.
func pageAll(t *testing.T, s *Sim, tok, first string, hdr map[string]string) ([]map[string]any, int) {
	t.Helper()
	c := httpClient(t, s)
	var out []map[string]any
	pages := 0
	for u := first; u != ""; {
		st, m := graphJSON(t, c, u, tok, hdr)
		if st != 200 {
			t.Fatalf("GET %s: %d %v", u, st, m)
		}
		pages++
		for _, v := range m["value"].([]any) {
			out = append(out, v.(map[string]any))
		}
		next, _ := m["@odata.nextLink"].(string)
		if next != "" && !strings.HasPrefix(next, s.URL()+"/v1.0/") {
			t.Fatalf("nextLink %q is not absolute on the sim", next)
		}
		if strings.Contains(next, "$skip=") {
			t.Fatalf("nextLink uses $skip: %s", next)
		}
		u = next
	}
	return out, pages
}

func TestUsersPaging(t *testing.T) {
	s := startSim(t, Options{Seed: 7, Users: 2500})
	c := httpClient(t, s)
	tok := token(t, c, s)
	all, pages := pageAll(t, s, tok, s.GraphURL()+"/users?$top=999&$select=id,displayName,accountEnabled,userType,department", nil)
	if len(all) != 2500 || pages != 3 {
		t.Fatalf("got %d users in %d pages, want 2500 in 3", len(all), pages)
	}
	seen := map[string]bool{}
	for _, u := range all {
		id := u["id"].(string)
		if seen[id] {
			t.Fatalf("duplicate %s", id)
		}
		seen[id] = true
		if _, ok := u["accountEnabled"]; !ok {
			t.Fatalf("selected accountEnabled missing: %v", u)
		}
		if _, ok := u["mail"]; ok {
			t.Fatalf("unselected mail present: %v", u)
		}
	}
	// Default page size 100; select-only properties absent by default.
	st, m := graphJSON(t, c, s.GraphURL()+"/users", tok, nil)
	if st != 200 || len(m["value"].([]any)) != 100 {
		t.Fatalf("default page: %d %d", st, len(m["value"].([]any)))
	}
	first := m["value"].([]any)[0].(map[string]any)
	for _, p := range []string{"accountEnabled", "userType", "department"} {
		if _, ok := first[p]; ok {
			t.Errorf("%s must be select-only", p)
		}
	}
	for _, p := range []string{"id", "displayName", "userPrincipalName", "businessPhones", "mail", "givenName"} {
		if _, ok := first[p]; !ok {
			t.Errorf("default property %s missing", p)
		}
	}
	if !strings.HasSuffix(m["@odata.context"].(string), "/$metadata#users") {
		t.Errorf("context %v", m["@odata.context"])
	}
}

func TestUsersQueryLimits(t *testing.T) {
	s := startSim(t, Options{Seed: 7})
	c := httpClient(t, s)
	tok := token(t, c, s)
	for q, want := range map[string]string{
		"$top=1000":           "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive.",
		"$top=0":              "Invalid page size specified: '0'. Must be between 1 and 999 inclusive.",
		"$skip=10":            "$skip",
		"$select=id,nonsense": "nonsense",
		"$filter=" + url.QueryEscape("mobilePhone eq '1'"):    "Unsupported Query.",
		"$filter=" + url.QueryEscape("endsWith(mail,'.com')"): "Unsupported Query.",
		"$filter=" + url.QueryEscape("userType ne 'Guest'"):   "Unsupported Query.",
		"$filter=" + url.QueryEscape("businessPhones eq '1'"): "businessPhones",
		"$filter=" + url.QueryEscape("accountEnabled eq 'x'"): "incompatible",
		"$filter=" + url.QueryEscape("displayName eq"):        "Invalid filter clause",
		"$search=" + url.QueryEscape(`"displayName:zo"`):      "ConsistencyLevel",
		"$skiptoken=forged":                                         "skiptoken",
		"$orderby=displayName":                                      "$orderby",
		"$filter=" + url.QueryEscape("userType eq null"):            "Unsupported Query.",
		"$filter=" + url.QueryEscape("not(accountEnabled eq true)"): "Unsupported Query.",
	} {
		st, m := graphJSON(t, c, s.GraphURL()+"/users?"+q, tok, nil)
		code := errCode(t, m)
		msg := m["error"].(map[string]any)["message"].(string)
		if st != 400 || !strings.Contains(msg, want) || (code != "Request_BadRequest" && code != "Request_UnsupportedQuery") {
			t.Errorf("%s: %d %s %q, want 400 containing %q", q, st, code, msg, want)
		}
	}
	// Advanced queries work with ConsistencyLevel: eventual and $count=true.
	adv := map[string]string{"ConsistencyLevel": "eventual"}
	st, m := graphJSON(t, c, s.GraphURL()+"/users?$count=true&$filter="+url.QueryEscape("userType eq null"), tok, adv)
	if st != 200 || m["@odata.count"] == nil || len(m["value"].([]any)) == 0 {
		t.Fatalf("advanced userType eq null: %d %v", st, m)
	}
}

func TestUsersFilters(t *testing.T) {
	s := startSim(t, Options{Seed: 3, Users: 400})
	c := httpClient(t, s)
	tok := token(t, c, s)
	users := s.Users()
	count := func(pred func(User) bool) int {
		n := 0
		for _, u := range users {
			if pred(u) {
				n++
			}
		}
		return n
	}
	u0 := users[5]
	cases := []struct {
		filter string
		want   int
	}{
		{"accountEnabled eq true", count(func(u User) bool { return u.AccountEnabled })},
		{"accountEnabled eq false", count(func(u User) bool { return !u.AccountEnabled })},
		{"userType eq 'Member'", count(func(u User) bool { return u.UserType == "Member" })},
		{"userType eq 'Guest'", count(func(u User) bool { return u.UserType == "Guest" })},
		{"userType eq 'Member' and accountEnabled eq true", count(func(u User) bool { return u.UserType == "Member" && u.AccountEnabled })},
		{"userPrincipalName eq '" + strings.ToUpper(u0.UserPrincipalName) + "'", 1},
		{"id in ('" + users[1].ID + "','" + users[2].ID + "','nope')", 2},
		{"startsWith(displayName,'zo')", count(func(u User) bool { return strings.HasPrefix(strings.ToLower(u.DisplayName), "zo") })},
	}
	if u0.Mail != "" {
		cases = append(cases, struct {
			filter string
			want   int
		}{"mail eq '" + strings.ReplaceAll(u0.Mail, "'", "''") + "'", 1})
	}
	for _, tc := range cases {
		all, _ := pageAll(t, s, tok, s.GraphURL()+"/users?$top=50&$select=id&$filter="+url.QueryEscape(tc.filter), nil)
		if len(all) != tc.want || tc.want == 0 {
			t.Errorf("%s: got %d, want %d (>0)", tc.filter, len(all), tc.want)
		}
	}
	// Single user by id and by UPN (guest UPNs contain #EXT#).
	var guest User
	for _, u := range users {
		if u.UserType == "Guest" {
			guest = u
			break
		}
	}
	for _, key := range []string{guest.ID, url.PathEscape(guest.UserPrincipalName)} {
		st, m := graphJSON(t, c, s.GraphURL()+"/users/"+key+"?$select=id,userType", tok, nil)
		if st != 200 || m["id"] != guest.ID || m["userType"] != "Guest" {
			t.Errorf("GET user %s: %d %v", key, st, m)
		}
	}
	st, m := graphJSON(t, c, s.GraphURL()+"/users/00000000-0000-0000-0000-000000000000", tok, nil)
	if st != 404 || errCode(t, m) != "Request_ResourceNotFound" {
		t.Errorf("unknown user: %d %v", st, m)
	}
	// $count with ConsistencyLevel gives @odata.count; without it is silently ignored.
	st, m = graphJSON(t, c, s.GraphURL()+"/users?$count=true&$top=1", tok, nil)
	if st != 200 || m["@odata.count"] != nil {
		t.Errorf("$count without header: %d %v", st, m["@odata.count"])
	}
	st, m = graphJSON(t, c, s.GraphURL()+"/users?$count=true&$top=1", tok, map[string]string{"ConsistencyLevel": "eventual"})
	if st != 200 || m["@odata.count"] != float64(count(func(u User) bool { return !u.SoftDeleted() })) {
		t.Errorf("$count: %d %v", st, m["@odata.count"])
	}
	// $search needs ConsistencyLevel.
	st, m = graphJSON(t, c, s.GraphURL()+"/users?$search="+url.QueryEscape(`"displayName:zoë"`), tok, map[string]string{"ConsistencyLevel": "eventual"})
	if st != 200 || len(m["value"].([]any)) == 0 {
		t.Errorf("$search: %d %v", st, m)
	}
	ids := []string{}
	for _, v := range m["value"].([]any) {
		ids = append(ids, v.(map[string]any)["displayName"].(string))
	}
	if !slices.ContainsFunc(ids, func(n string) bool { return strings.HasPrefix(n, "Zoë") }) {
		t.Errorf("$search results %v", ids)
	}
}

func TestCaseFolding(t *testing.T) {
	for _, c := range []struct {
		s, p     string
		pre, suf bool
	}{
		{"Zoë Núñez", "ZOË", true, false},
		{"Zoë Núñez", "núÑEZ", false, true},
		{"Łukasz", "ł", true, false},
		{"abc", "abcd", false, false},
		{"", "", true, true},
		{"王芳", "王", true, false},
	} {
		if got := hasPrefixFold(c.s, c.p); got != c.pre {
			t.Errorf("hasPrefixFold(%q, %q) = %v", c.s, c.p, got)
		}
		if got := hasSuffixFold(c.s, c.p); got != c.suf {
			t.Errorf("hasSuffixFold(%q, %q) = %v", c.s, c.p, got)
		}
	}
	s := startSim(t, Options{Seed: 3, Users: 50})
	c := httpClient(t, s)
	tok := token(t, c, s)
	all, _ := pageAll(t, s, tok, s.GraphURL()+"/users?$select=id,displayName&$filter="+url.QueryEscape("startsWith(displayName,'ZOË') or displayName eq 'ŁUKASZ ŻAK'"), nil)
	if len(all) < 2 {
		t.Fatalf("case-insensitive filters found %v", all)
	}
}
