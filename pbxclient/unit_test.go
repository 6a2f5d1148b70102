package pbxclient

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestNewNamesTheSettingToFix(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := Config{URL: "https://pbx.example.com", ClientID: "900", Secret: "s"}
	cases := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"no url", func(c *Config) { c.URL = "" }, "pbx.url is not set"},
		{"http url", func(c *Config) { c.URL = "http://pbx.example.com" }, "pbx.url"},
		{"no host", func(c *Config) { c.URL = "https://" }, "pbx.url"},
		{"with xapi", func(c *Config) { c.URL = "https://pbx.example.com/xapi/v1/" }, "must not end in /xapi/v1"},
		{"no client id", func(c *Config) { c.ClientID = " " }, "pbx.client_id"},
		{"no secret", func(c *Config) { c.Secret = "" }, "pbx.secret"},
		{"missing ca file", func(c *Config) { c.CAFile = filepath.Join(dir, "none.pem") }, "pbx.ca_file unreadable"},
		{"ca file without pem", func(c *Config) { c.CAFile = bad }, "pbx.ca_file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			_, err := New(c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	x, err := New(Config{URL: "https://pbx.example.com:5001/", ClientID: "900", Secret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if x.base != "https://pbx.example.com:5001" || x.pageSize != defaultPageSize || cap(x.sem) != defaultConcurrency {
		t.Fatalf("defaults: base %q page %d conc %d", x.base, x.pageSize, cap(x.sem))
	}
}

func TestTokenLifetimeUnits(t *testing.T) {
	for in, want := range map[int64]time.Duration{
		60:   60 * time.Minute, // up to 20.0.8: minutes
		120:  120 * time.Minute,
		3600: time.Hour, // 20.0.9+: seconds
		121:  121 * time.Second,
	} {
		if got := tokenLifetime(in); got != want {
			t.Errorf("tokenLifetime(%d) = %v, want %v", in, got, want)
		}
	}
}

func TestODataQuoting(t *testing.T) {
	if got := quote("O'Brien"); got != "'O''Brien'" {
		t.Errorf("quote = %s", got)
	}
	if got := keyLiteral("O'Brien & Co/1"); got != "'O''Brien%20&%20Co%2F1'" {
		t.Errorf("keyLiteral = %s", got)
	}
	q := query{}.add("$filter", "Name eq 'a+b c'").add("$top", "5").add("$skip", "")
	if got := q.String(); got != "$filter=Name%20eq%20%27a%2Bb%20c%27&$top=5" {
		t.Errorf("query = %s", got)
	}
}

func TestParseErrorKinds(t *testing.T) {
	body := func(field, key string) []byte {
		return []byte(`{"error":{"code":"","message":"` + field + `:\n` + key +
			`","details":[{"code":"","message":"` + key + `","target":"` + field + `"}]}}`)
	}
	cases := []struct {
		status int
		body   []byte
		kind   error
		field  string
	}{
		{400, body("EmailAddress", "WARNINGS.XAPI.ALREADY_IN_USE"), ErrAlreadyInUse, "EmailAddress"},
		{400, body("Name", "WARNINGS.XAPI.DUPLICATE"), ErrAlreadyInUse, "Name"},
		{400, body("Number", "WARNINGS.XAPI.FORBIDDEN_CHANGE"), ErrForbiddenChange, "Number"},
		{400, body("Number", "WARNINGS.LIMIT_REACHED"), ErrLimitReached, "Number"},
		{400, body("FirstName", "WARNINGS.CONTACTS_SPECIFY_NAME_SURNAME_COMPANY"), ErrValidation, "FirstName"},
		{404, body("", "WARNINGS.XAPI.NOT_FOUND"), ErrNotFound, ""},
		{404, nil, ErrNotFound, ""},
		{403, nil, ErrForbidden, ""},
		{401, []byte(`{"error":"unauthorized","error_description":"x"}`), ErrAuth, ""},
		{503, []byte("busy"), ErrUnavailable, ""},
		// message only, no details
		{400, []byte(`{"error":{"code":"","message":"Number:\nWARNINGS.XAPI.ALREADY_IN_USE"}}`), ErrAlreadyInUse, "Number"},
	}
	for _, tc := range cases {
		e := parseError("op", tc.status, tc.body)
		if !errors.Is(e, tc.kind) || e.Field != tc.field {
			t.Errorf("%d %s: kind %v field %q, want %v %q", tc.status, tc.body, e.Kind, e.Field, tc.kind, tc.field)
		}
	}
	e := parseError("create user 100", 400, body("Number", "WARNINGS.XAPI.ALREADY_IN_USE"))
	if e.Warning != "WARNINGS.XAPI.ALREADY_IN_USE" ||
		e.Error() != "create user 100: already in use (Number): WARNINGS.XAPI.ALREADY_IN_USE [HTTP 400]" {
		t.Errorf("error text %q warning %q", e.Error(), e.Warning)
	}
}

func TestWithMembershipNeverLowersARole(t *testing.T) {
	cur := []Membership{{GroupID: 1, GroupName: "DEFAULT", Role: "system_owners"}, {GroupID: 7, GroupName: "Azure AD", Role: "managers"}}
	got, changed := WithMembership(cur, 7, "Azure AD", "users")
	if changed || len(got) != 2 || got[1].Role != "managers" {
		t.Fatalf("higher role: %v %v", got, changed)
	}
	got, changed = WithMembership(cur, 9, "Sales", "users")
	if !changed || len(got) != 3 || got[2] != (Membership{GroupID: 9, GroupName: "Sales", Role: "users"}) || got[0].Role != "system_owners" {
		t.Fatalf("append: %v %v", got, changed)
	}
	got, changed = WithMembership([]Membership{{GroupID: 7, Role: "users"}}, 7, "Azure AD", "managers")
	if !changed || got[0].Role != "managers" {
		t.Fatalf("raise: %v %v", got, changed)
	}
	if len(cur) != 2 || cur[1].Role != "managers" {
		t.Fatalf("input modified: %v", cur)
	}
	got, changed = WithMembership([]Membership{{GroupID: 7, Role: "custom_role"}}, 7, "x", "users")
	if changed || got[0].Role != "custom_role" {
		t.Fatalf("unknown role lowered: %v", got)
	}
}
