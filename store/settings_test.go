package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// productKeys is PRODUCT.md's settings table, key by key.
var productKeys = []string{"ms.tenant", "ms.client_id", "ms.cloud", "ms.graph_url", "ms.login_url", "ms.key_file", "ms.ca_file",
	"pbx.url", "pbx.client_id", "pbx.secret", "pbx.ca_file",
	"users.scope", "users.groups", "users.selected", "users.include_guests", "users.include_untyped", "users.ext_start", "users.ext_end",
	"users.caller_id", "users.photos", "users.phone_region", "users.department", "users.removal", "users.removal_grace", "users.max_removals",
	"sso.enabled", "sso.users", "sso.selected", "contacts.personal", "contacts.shared_mailboxes", "contacts.folders",
	"calendar.enabled", "calendar.users", "calendar.selected", "calendar.busy_profile", "calendar.away_profile", "calendar.protected_profiles", "calendar.refresh",
	"schedule.delta_interval", "schedule.nightly", "notify.public_url", "notify.listen", "notify.cert_file", "notify.key_file", "mail.from", "mail.to"}

func TestRegistryIsExactlyTheProductTable(t *testing.T) {
	var names []string
	groups := map[Group]bool{}
	for _, g := range Groups {
		groups[g] = true
	}
	for _, k := range Keys() {
		names = append(names, k.Name)
		if k.Help == "" || k.Kind == "" || !groups[k.Group] || k.normalize == nil || k.assign == nil {
			t.Errorf("%s: incomplete description %+v", k.Name, k)
		}
		if k.Kind == KindEnum && len(k.Allowed) == 0 {
			t.Errorf("%s: enum without allowed values", k.Name)
		}
		if k.Default != "" {
			if v, err := k.normalize(k.Default); err != nil || v != k.Default {
				t.Errorf("%s: default %q normalizes to %q, %v", k.Name, k.Default, v, err)
			}
		}
		if !k.HasDefault() && k.Placeholder == "" {
			t.Errorf("%s: no default and no placeholder for hints", k.Name)
		}
	}
	if !reflect.DeepEqual(names, productKeys) {
		t.Errorf("registry keys\n%v\nwant\n%v", names, productKeys)
	}
}

func TestValidateEverySetting(t *testing.T) {
	abs := func(p string) string { a, _ := filepath.Abs(p); return a }
	type ok struct{ in, want string }
	tests := []struct {
		key  string
		good []ok
		bad  map[string]string // value → part of the message after "key: "
	}{
		{"ms.tenant", []ok{{"8F1E0E2A-1B2C-4D5E-8F90-0A1B2C3D4E5F", "8f1e0e2a-1b2c-4d5e-8f90-0a1b2c3d4e5f"}, {"Contoso.onmicrosoft.com", "contoso.onmicrosoft.com"}},
			map[string]string{"nope": `"nope" is neither a tenant ID`, "8f1e0e2a-1b2c": "neither", "a..b": "neither", "x.123": "neither"}},
		{"ms.client_id", []ok{{" 00000000-0000-0000-0000-0000000000AB ", "00000000-0000-0000-0000-0000000000ab"}},
			map[string]string{"contoso.com": `"contoso.com" is not a GUID`, "": "not a GUID"}},
		{"ms.cloud", []ok{{"global", "global"}, {"USGov", "usgov"}, {"china", "china"}},
			map[string]string{"germany": `"germany" is not one of global, usgov, china`}},
		{"ms.graph_url", []ok{{"https://127.0.0.1:8443/v1.0/", "https://127.0.0.1:8443/v1.0"}, {"HTTPS://Graph.Example.com", "https://graph.example.com"}},
			map[string]string{"http://127.0.0.1:8443/v1.0": "is not https", "ftp://x": "not an http(s) URL", "graph": "not a URL", "https://u:p@x.com": "credentials"}},
		{"ms.login_url", []ok{{"https://127.0.0.1:8443", "https://127.0.0.1:8443"}},
			map[string]string{"http://localhost:8443": "is not https"}},
		{"ms.key_file", []ok{{"/etc/pbx365/key.pem", "/etc/pbx365/key.pem"}, {"keys/k.pem", abs("keys/k.pem")}},
			map[string]string{"  ": "not a path"}},
		{"ms.ca_file", []ok{{"/etc/ssl/ca.pem", "/etc/ssl/ca.pem"}}, map[string]string{"": "not a path"}},
		{"pbx.url", []ok{{"https://pbx.example.com/", "https://pbx.example.com"}, {"http://127.0.0.1:5000", "http://127.0.0.1:5000"}, {"http://[::1]:5000", "http://[::1]:5000"}},
			map[string]string{"http://pbx.example.com": "is not https", "https://pbx.example.com/xapi/v1": "ends in /xapi/v1", "pbx.example.com": "not a URL"}},
		{"pbx.client_id", []ok{{"pbx365", "pbx365"}}, map[string]string{"two words": "spaces", "": "empty"}},
		{"pbx.secret", []ok{{"k3y-value", "k3y-value"}}, map[string]string{"has space": "spaces"}},
		{"pbx.ca_file", []ok{{"/etc/ssl/pbx.pem", "/etc/ssl/pbx.pem"}}, nil},
		{"users.scope", []ok{{"all-except", "all-except"}, {"Groups", "groups"}},
			map[string]string{"some": `"some" is not one of all, groups, selected, all-except`}},
		{"users.groups", []ok{{"00000000-0000-0000-0000-000000000001, 00000000-0000-0000-0000-000000000002,,00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000001,00000000-0000-0000-0000-000000000002"}},
			map[string]string{"sales": `item "sales" is not a GUID`, " , ": "empty list"}},
		{"users.selected", []ok{{"ann@contoso.com,00000000-0000-0000-0000-000000000001", "ann@contoso.com,00000000-0000-0000-0000-000000000001"},
			{"ann_fabrikam.com#EXT#@contoso.onmicrosoft.com", "ann_fabrikam.com#EXT#@contoso.onmicrosoft.com"}},
			map[string]string{"ann": `item "ann" is neither an object ID`}},
		{"users.include_guests", []ok{{"yes", "true"}, {"OFF", "false"}, {"1", "true"}, {"0", "false"}, {"on", "true"}, {"no", "false"}, {"True", "true"}},
			map[string]string{"maybe": `"maybe" is not a boolean: use true or false`}},
		{"users.include_untyped", []ok{{"false", "false"}}, map[string]string{"2": "not a boolean"}},
		{"users.ext_start", []ok{{"100", "100"}, {" 0100 ", "0100"}}, map[string]string{"1a0": "digits only", "-5": "digits only", "12345678901234567": "digits only"}},
		{"users.ext_end", []ok{{"199", "199"}}, map[string]string{"": "digits only"}},
		{"users.caller_id", []ok{{"true", "true"}}, map[string]string{"y": "not a boolean"}},
		{"users.photos", []ok{{"no", "false"}}, map[string]string{"nah": "not a boolean"}},
		{"users.phone_region", []ok{{"de", "DE"}, {"GB", "GB"}}, map[string]string{"USA": "not a region", "XX": "not a region", "": "not a region"}},
		{"users.department", []ok{{" Sales Team ", "Sales Team"}}, map[string]string{"": "non-empty", "a\nb": "one line"}},
		{"users.removal", []ok{{"keep", "keep"}, {"Delete", "delete"}}, map[string]string{"remove": `"remove" is not one of keep, disable, delete`}},
		{"users.removal_grace", []ok{{"7d", "7d"}, {"1d12h", "1d12h"}, {"36h", "36h"}, {"1s", "1s"}},
			map[string]string{"7x": "not a duration: use a Go duration like 30s, 5m or 1h, or days like 7d", "500ms": "shorter than the minimum of 1s", "0d": "shorter than the minimum", "0": "shorter than the minimum"}},
		{"users.max_removals", []ok{{"10%", "10%"}, {" 25 ", "25"}, {"0", "0"}, {"100 %", "100%"}},
			map[string]string{"ten": "not a count or a percentage", "150%": "more than 100%", "-1": "not a count", "%": "not a count"}},
		{"sso.enabled", []ok{{"on", "true"}}, map[string]string{"enabled": "not a boolean"}},
		{"sso.users", []ok{{"selected", "selected"}}, map[string]string{"some": "is not one of all, selected"}},
		{"sso.selected", []ok{{"Bob@Contoso.com", "Bob@Contoso.com"}}, map[string]string{"bob": "neither"}},
		{"contacts.personal", []ok{{"1", "true"}}, map[string]string{"x": "not a boolean"}},
		{"contacts.shared_mailboxes", []ok{{"sales@contoso.com, support@contoso.com", "sales@contoso.com,support@contoso.com"}},
			map[string]string{"Sales <sales@contoso.com>": "not an email address", "sales": "not an email address"}},
		{"contacts.folders", []ok{{"all", "all"}, {"DEFAULT", "default"}}, map[string]string{"inbox": "is not one of default, all"}},
		{"calendar.enabled", []ok{{"yes", "true"}}, map[string]string{"si": "not a boolean"}},
		{"calendar.users", []ok{{"all", "all"}}, map[string]string{"everyone": "is not one of all, selected"}},
		{"calendar.selected", []ok{{"00000000-0000-0000-0000-0000000000FF", "00000000-0000-0000-0000-0000000000ff"}}, map[string]string{"x y": "neither"}},
		{"calendar.busy_profile", []ok{{"Out of office", "Out of office"}}, map[string]string{"": "non-empty"}},
		{"calendar.away_profile", []ok{{"Away", "Away"}}, map[string]string{" ": "non-empty"}},
		{"calendar.protected_profiles", []ok{{"Business Trip, holiday, HOLIDAY", "Business Trip,holiday"}}, map[string]string{",": "empty list"}},
		{"calendar.refresh", []ok{{"30s", "30s"}, {"5M", "5m"}}, map[string]string{"7d": "not a duration: use a Go duration like 30s, 5m or 1h", "0s": "minimum of 1s"}},
		{"schedule.delta_interval", []ok{{"1h30m", "1h30m"}}, map[string]string{"5": "not a duration", "999ms": "minimum"}},
		{"schedule.nightly", []ok{{"02:00", "02:00"}, {"2:05", "02:05"}, {"23:59", "23:59"}},
			map[string]string{"24:00": "use HH:MM from 00:00 to 23:59", "2am": "not a time of day", "12:5": "not a time", "-1:00": "not a time", "12:60": "not a time"}},
		{"notify.public_url", []ok{{"https://pbx.example.com/pbx365/notify", "https://pbx.example.com/pbx365/notify"}, {"https://127.0.0.1:9443/n", "https://127.0.0.1:9443/n"}},
			map[string]string{"http://127.0.0.1:9443/n": "is not https", "https://x.com/n?a=1": "query"}},
		{"notify.listen", []ok{{":8080", ":8080"}, {"127.0.0.1:8080", "127.0.0.1:8080"}, {"[::1]:80", "[::1]:80"}},
			map[string]string{"8080": "not a listen address", ":0": "not a listen address", "host:http": "not a listen address"}},
		{"notify.cert_file", []ok{{"/etc/pbx365/cert.pem", "/etc/pbx365/cert.pem"}}, nil},
		{"notify.key_file", []ok{{"/etc/pbx365/key.pem", "/etc/pbx365/key.pem"}}, nil},
		{"mail.from", []ok{{"pbx@contoso.com", "pbx@contoso.com"}}, map[string]string{"pbx": "not an email address", "a@b": "not an email address"}},
		{"mail.to", []ok{{"a@contoso.com,b@contoso.com", "a@contoso.com,b@contoso.com"}}, map[string]string{"a@contoso.com;b@contoso.com": "not an email address"}},
	}
	covered := map[string]bool{}
	for _, tc := range tests {
		covered[tc.key] = true
		for _, g := range tc.good {
			got, err := Validate(tc.key, g.in)
			if err != nil || got != g.want {
				t.Errorf("Validate(%s, %q) = %q, %v; want %q", tc.key, g.in, got, err, g.want)
			}
		}
		for in, want := range tc.bad {
			_, err := Validate(tc.key, in)
			var se *SettingError
			if !errors.As(err, &se) || se.Key != tc.key {
				t.Errorf("Validate(%s, %q): %v, want a SettingError for the key", tc.key, in, err)
				continue
			}
			if msg := err.Error(); !strings.HasPrefix(msg, tc.key+": ") || !strings.Contains(msg, want) {
				t.Errorf("Validate(%s, %q): %q, want it to contain %q", tc.key, in, msg, want)
			}
		}
	}
	for _, k := range productKeys {
		if !covered[k] {
			t.Errorf("%s has no validation case", k)
		}
	}
}

func TestSecretErrorsDoNotEchoTheValue(t *testing.T) {
	_, err := Validate("pbx.secret", "top secret")
	if err == nil || strings.Contains(err.Error(), "top secret") {
		t.Errorf("err %v", err)
	}
}

func TestUnknownKeySuggestsTheNearest(t *testing.T) {
	for in, want := range map[string]string{"users.remval": "users.removal", "tenant": "ms.tenant", "pbx.urll": "pbx.url", "Users.Removal": "users.removal", "calendar.refres": "calendar.refresh"} {
		_, err := Validate(in, "x")
		var uk *UnknownKeyError
		if !errors.As(err, &uk) || uk.Suggestion != want || !strings.Contains(err.Error(), `unknown setting "`+in+`"`) || !strings.Contains(err.Error(), "did you mean "+want+"?") {
			t.Errorf("%s: %v, want suggestion %s", in, err, want)
		}
	}
}

func TestSettingsDefaults(t *testing.T) {
	s := openTemp(t)
	got, err := s.Settings()
	if err != nil {
		t.Fatal(err)
	}
	want := Settings{
		MS:       MSSettings{Cloud: "global", KeyFile: filepath.Join(s.Dir(), "keys", "pbx365.pem")},
		Users:    UserSettings{Scope: "all", PhoneRegion: "US", Department: "Azure AD", Removal: "disable", RemovalGrace: 7 * 24 * time.Hour, MaxRemovals: CountOrPercent{N: 10, Percent: true}},
		SSO:      SSOSettings{Users: "all"},
		Contacts: ContactSettings{Folders: "default"},
		Calendar: CalendarSettings{Users: "all", BusyProfile: "Out of office", AwayProfile: "Away", ProtectedProfiles: []string{"Business Trip", "Holiday"}, Refresh: 5 * time.Minute},
		Schedule: ScheduleSettings{DeltaInterval: 5 * time.Minute, Nightly: TimeOfDay{Hour: 2}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("defaults\n%+v\nwant\n%+v", got, want)
	}
}

func TestSettingsTypedRoundTrip(t *testing.T) {
	s := openTemp(t)
	values := map[string]string{
		"ms.tenant": "contoso.onmicrosoft.com", "ms.client_id": "00000000-0000-0000-0000-000000000001", "ms.cloud": "usgov",
		"ms.graph_url": "https://127.0.0.1:8443/v1.0", "ms.login_url": "https://127.0.0.1:8443", "ms.key_file": "/k.pem", "ms.ca_file": "/ca.pem",
		"pbx.url": "https://pbx.example.com", "pbx.client_id": "pbx365", "pbx.secret": "s3cr3t", "pbx.ca_file": "/pbxca.pem",
		"users.scope": "groups", "users.groups": "00000000-0000-0000-0000-00000000000a", "users.selected": "a@b.com,c@d.com",
		"users.include_guests": "yes", "users.include_untyped": "on", "users.ext_start": "200", "users.ext_end": "299",
		"users.caller_id": "1", "users.photos": "true", "users.phone_region": "gb", "users.department": "Staff",
		"users.removal": "delete", "users.removal_grace": "1d12h", "users.max_removals": "25",
		"sso.enabled": "true", "sso.users": "selected", "sso.selected": "a@b.com",
		"contacts.personal": "true", "contacts.shared_mailboxes": "sales@b.com", "contacts.folders": "all",
		"calendar.enabled": "true", "calendar.users": "selected", "calendar.selected": "c@d.com", "calendar.busy_profile": "DND",
		"calendar.away_profile": "Lunch", "calendar.protected_profiles": "Custom 2", "calendar.refresh": "90s",
		"schedule.delta_interval": "2m", "schedule.nightly": "3:30",
		"notify.public_url": "https://pbx.example.com/n", "notify.listen": ":8080", "notify.cert_file": "/c.pem", "notify.key_file": "/ck.pem",
		"mail.from": "pbx@b.com", "mail.to": "a@b.com,c@d.com",
	}
	if len(values) != len(productKeys) {
		t.Fatalf("the round trip covers %d keys of %d", len(values), len(productKeys))
	}
	if err := s.SetMany(values); err != nil {
		t.Fatal(err)
	}
	got, err := s.Settings()
	if err != nil {
		t.Fatal(err)
	}
	want := Settings{
		MS:  MSSettings{Tenant: "contoso.onmicrosoft.com", ClientID: "00000000-0000-0000-0000-000000000001", Cloud: "usgov", GraphURL: "https://127.0.0.1:8443/v1.0", LoginURL: "https://127.0.0.1:8443", KeyFile: "/k.pem", CAFile: "/ca.pem"},
		PBX: PBXSettings{URL: "https://pbx.example.com", ClientID: "pbx365", SecretSet: true, CAFile: "/pbxca.pem"},
		Users: UserSettings{Scope: "groups", Groups: []string{"00000000-0000-0000-0000-00000000000a"}, Selected: []string{"a@b.com", "c@d.com"},
			IncludeGuests: true, IncludeUntyped: true, ExtStart: "200", ExtEnd: "299", CallerID: true, Photos: true, PhoneRegion: "GB", Department: "Staff",
			Removal: "delete", RemovalGrace: 36 * time.Hour, MaxRemovals: CountOrPercent{N: 25}},
		SSO:      SSOSettings{Enabled: true, Users: "selected", Selected: []string{"a@b.com"}},
		Contacts: ContactSettings{Personal: true, SharedMailboxes: []string{"sales@b.com"}, Folders: "all"},
		Calendar: CalendarSettings{Enabled: true, Users: "selected", Selected: []string{"c@d.com"}, BusyProfile: "DND", AwayProfile: "Lunch", ProtectedProfiles: []string{"Custom 2"}, Refresh: 90 * time.Second},
		Schedule: ScheduleSettings{DeltaInterval: 2 * time.Minute, Nightly: TimeOfDay{Hour: 3, Minute: 30}},
		Notify:   NotifySettings{PublicURL: "https://pbx.example.com/n", Listen: ":8080", CertFile: "/c.pem", KeyFile: "/ck.pem"},
		Mail:     MailSettings{From: "pbx@b.com", To: []string{"a@b.com", "c@d.com"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("settings\n%+v\nwant\n%+v", got, want)
	}
	// Reopen: the values are on disk.
	dir := s.Dir()
	s.Close()
	s2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	got2, _ := s2.Settings()
	if !reflect.DeepEqual(got2, want) {
		t.Error("settings differ after reopening")
	}
	if sec, err := s2.PBXSecret(); err != nil || sec != "s3cr3t" {
		t.Errorf("PBXSecret: %q, %v", sec, err)
	}
}

func TestSecretIsWriteOnly(t *testing.T) {
	s := openTemp(t)
	v, _ := s.Get("pbx.secret")
	if v.Text != SecretNotSet || v.Set {
		t.Errorf("unset secret shows %+v", v)
	}
	if sec, _ := s.PBXSecret(); sec != "" {
		t.Errorf("unset secret reads %q", sec)
	}
	if _, err := s.Set("pbx.secret", "hunter2"); err != nil {
		t.Fatal(err)
	}
	v, _ = s.Get("pbx.secret")
	if v.Text != SecretSet || !v.Set {
		t.Errorf("set secret shows %+v", v)
	}
	list, _ := s.List()
	for _, v := range list {
		if strings.Contains(v.Text, "hunter2") {
			t.Errorf("List shows the secret in %s", v.Key.Name)
		}
	}
	st, _ := s.Settings()
	if strings.Contains(fmt.Sprintf("%+v %#v", st, st), "hunter2") || !st.PBX.SecretSet {
		t.Error("Settings carries the secret value or misses that it is set")
	}
}

func TestGetSetUnset(t *testing.T) {
	s := openTemp(t)
	v, err := s.Get("users.removal")
	if err != nil || v.Text != "disable" || v.Set || !v.IsDefault() {
		t.Errorf("default: %+v %v", v, err)
	}
	if got, err := s.Set("users.removal", "Delete"); err != nil || got != "delete" {
		t.Errorf("Set: %q %v", got, err)
	}
	v, _ = s.Get("users.removal")
	if v.Text != "delete" || !v.Set || v.IsDefault() {
		t.Errorf("after Set: %+v", v)
	}
	if _, err := s.Set("users.removal", "remove"); err == nil || err.Error() != `users.removal: "remove" is not one of keep, disable, delete` {
		t.Errorf("bad Set: %v", err)
	}
	if v, _ := s.Get("users.removal"); v.Text != "delete" {
		t.Errorf("a refused Set changed the value to %q", v.Text)
	}
	if err := s.Unset("users.removal"); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Get("users.removal"); v.Text != "disable" || v.Set {
		t.Errorf("after Unset: %+v", v)
	}
	if v, _ := s.Get("ms.tenant"); v.Text != "" || v.IsDefault() {
		t.Errorf("unset without default: %+v", v)
	}
	if v, _ := s.Get("ms.key_file"); v.Text != filepath.Join(s.Dir(), "keys", KeyFileName) || !v.IsDefault() {
		t.Errorf("key file default: %+v", v)
	}
	for _, f := range []func() error{
		func() error { _, err := s.Get("nope.key"); return err },
		func() error { _, err := s.Set("nope.key", "1"); return err },
		func() error { return s.Unset("nope.key") },
	} {
		var uk *UnknownKeyError
		if err := f(); !errors.As(err, &uk) || uk.Key != "nope.key" {
			t.Errorf("unknown key: %v", err)
		}
	}
}

func TestExtensionRangeOrder(t *testing.T) {
	s := openTemp(t)
	if _, err := s.Set("users.ext_end", "199"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Set("users.ext_start", "200"); err == nil || !strings.Contains(err.Error(), `users.ext_start: "200" is above users.ext_end 199`) {
		t.Errorf("start above end: %v", err)
	}
	if _, err := s.Set("users.ext_start", "99"); err != nil {
		t.Errorf("99 ≤ 199 numerically: %v", err)
	}
	if _, err := s.Set("users.ext_end", "98"); err == nil || !strings.Contains(err.Error(), "users.ext_end") || !strings.Contains(err.Error(), "below users.ext_start 99") {
		t.Errorf("end below start: %v", err)
	}
	// Both at once are checked against each other, not the stored values.
	if err := s.SetMany(map[string]string{"users.ext_start": "500", "users.ext_end": "599"}); err != nil {
		t.Errorf("moving the range: %v", err)
	}
	if err := s.SetMany(map[string]string{"users.ext_start": "700", "users.ext_end": "600"}); err == nil {
		t.Error("an inverted range was stored")
	}
	st, _ := s.Settings()
	if st.Users.ExtStart != "500" || st.Users.ExtEnd != "599" {
		t.Errorf("range %s–%s", st.Users.ExtStart, st.Users.ExtEnd)
	}
}

func TestSetManyStoresNothingWhenOneIsBad(t *testing.T) {
	s := openTemp(t)
	err := s.SetMany(map[string]string{"users.scope": "groups", "users.removal": "remove"})
	if err == nil || !strings.Contains(err.Error(), "users.removal") {
		t.Fatalf("err %v", err)
	}
	if v, _ := s.Get("users.scope"); v.Set {
		t.Error("users.scope stored although the batch was refused")
	}
}

func TestRequireSettings(t *testing.T) {
	s := openTemp(t)
	err := s.RequireSettings("ms.tenant", "ms.client_id")
	var me *MissingSettingError
	if !errors.As(err, &me) || err.Error() != "ms.tenant is not set: run pbx365 config set ms.tenant <tenant-id>" {
		t.Errorf("err %v", err)
	}
	if _, err := s.Set("ms.tenant", "contoso.com"); err != nil {
		t.Fatal(err)
	}
	if err := s.RequireSettings("ms.tenant", "ms.client_id"); err == nil || !strings.HasPrefix(err.Error(), "ms.client_id is not set: run pbx365 config set ms.client_id <application-id>") {
		t.Errorf("second key: %v", err)
	}
	// Keys with a default are never missing.
	if err := s.RequireSettings("users.removal", "ms.key_file"); err != nil {
		t.Errorf("defaults: %v", err)
	}
	if err := s.RequireSettings("ms.tennant"); err == nil || !strings.Contains(err.Error(), "did you mean ms.tenant") {
		t.Errorf("unknown: %v", err)
	}
	want := []string{"ms.tenant", "ms.client_id", "pbx.url", "pbx.client_id", "pbx.secret"}
	if got := KeysRequiredFor("sync"); !reflect.DeepEqual(got, want) {
		t.Errorf("KeysRequiredFor(sync) = %v", got)
	}
	if got := KeysRequiredFor("keygen"); len(got) != 0 {
		t.Errorf("KeysRequiredFor(keygen) = %v", got)
	}
	err = s.RequireFor("check")
	if err == nil || !strings.HasPrefix(err.Error(), "ms.client_id is not set") {
		t.Errorf("RequireFor(check): %v", err)
	}
	if err := s.SetMany(map[string]string{"ms.client_id": "00000000-0000-0000-0000-000000000001", "pbx.url": "https://p.example.com", "pbx.client_id": "c"}); err != nil {
		t.Fatal(err)
	}
	if err := s.RequireFor("check"); err == nil || err.Error() != "pbx.secret is not set: run pbx365 config set pbx.secret <api-key>" {
		t.Errorf("secret missing: %v", err)
	}
}

func TestInvalidStoredValueNamesTheKey(t *testing.T) {
	s := openTemp(t)
	if err := s.Update(func(tx *Tx) error {
		return tx.tx.Bucket(bucketSettings).Put([]byte("users.removal"), []byte("purge"))
	}); err != nil {
		t.Fatal(err)
	}
	_, err := s.Settings()
	if err == nil || !strings.Contains(err.Error(), "stored setting users.removal is invalid") || !strings.Contains(err.Error(), "pbx365 config unset users.removal") {
		t.Errorf("err %v", err)
	}
}

func TestCountOrPercentLimit(t *testing.T) {
	for _, tc := range []struct {
		c      CountOrPercent
		linked int
		want   int
	}{
		{CountOrPercent{N: 10, Percent: true}, 100, 10},
		{CountOrPercent{N: 10, Percent: true}, 59, 5},
		{CountOrPercent{N: 10, Percent: true}, 5, 1},
		{CountOrPercent{N: 0, Percent: true}, 500, 1},
		{CountOrPercent{N: 25}, 5, 25},
		{CountOrPercent{N: 0}, 5, 0},
	} {
		if got := tc.c.Limit(tc.linked); got != tc.want {
			t.Errorf("%s of %d = %d, want %d", tc.c, tc.linked, got, tc.want)
		}
	}
}

func TestTimeOfDayNext(t *testing.T) {
	loc := time.FixedZone("X", 3600)
	n := TimeOfDay{Hour: 2}
	if got := n.Next(time.Date(2026, 3, 1, 1, 0, 0, 0, loc)); !got.Equal(time.Date(2026, 3, 1, 2, 0, 0, 0, loc)) {
		t.Errorf("same day: %v", got)
	}
	if got := n.Next(time.Date(2026, 3, 1, 2, 0, 0, 0, loc)); !got.Equal(time.Date(2026, 3, 2, 2, 0, 0, 0, loc)) {
		t.Errorf("at the time: %v", got)
	}
	if got := n.Next(time.Date(2026, 12, 31, 23, 0, 0, 0, loc)); !got.Equal(time.Date(2027, 1, 1, 2, 0, 0, 0, loc)) {
		t.Errorf("year end: %v", got)
	}
}
