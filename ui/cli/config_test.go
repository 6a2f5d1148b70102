package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pbx365/pbx365/store"
)

// runConfig runs pbx365 config with args against dir.
func runConfig(t *testing.T, dir string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Config(context.Background(), dir, args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestConfigSetGetUnset(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	code, out, errs := runConfig(t, dir, "get", "users.removal")
	if code != 0 || out != "disable\n" || errs != "" {
		t.Errorf("get default: %d %q %q", code, out, errs)
	}
	if fi, err := os.Stat(filepath.Join(dir, "state.db")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("state.db: %v %v", fi, err)
	}
	code, out, _ = runConfig(t, dir, "set", "users.removal", "Delete")
	if code != 0 || out != "users.removal = delete\n" {
		t.Errorf("set: %d %q", code, out)
	}
	if code, out, _ = runConfig(t, dir, "get", "users.removal"); code != 0 || out != "delete\n" {
		t.Errorf("get after set: %d %q", code, out)
	}
	if code, out, _ = runConfig(t, dir, "unset", "users.removal"); code != 0 || out != "users.removal unset (default: disable)\n" {
		t.Errorf("unset: %d %q", code, out)
	}
	if code, out, _ = runConfig(t, dir, "get", "users.removal"); code != 0 || out != "disable\n" {
		t.Errorf("get after unset: %d %q", code, out)
	}
	code, out, errs = runConfig(t, dir, "get", "ms.tenant")
	if code != 0 || out != "" || errs != "ms.tenant is not set\n" {
		t.Errorf("get unset key: %d %q %q", code, out, errs)
	}
	code, out, errs = runConfig(t, dir, "get", "ms.graph_url")
	if code != 0 || out != "" || errs != "ms.graph_url is not set (default: from ms.cloud)\n" {
		t.Errorf("get key with described default: %d %q %q", code, out, errs)
	}
	if code, out, _ = runConfig(t, dir, "unset", "ms.tenant"); code != 0 || out != "ms.tenant unset\n" {
		t.Errorf("unset key without default: %d %q", code, out)
	}
	// The value is really in the store.
	runConfig(t, dir, "set", "users.ext_start", "200")
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := st.Settings()
	st.Close()
	if s.Users.ExtStart != "200" {
		t.Errorf("store has ext_start %q", s.Users.ExtStart)
	}
}

func TestConfigSetBadValueStoresNothing(t *testing.T) {
	dir := t.TempDir()
	runConfig(t, dir, "set", "users.removal", "keep")
	code, out, errs := runConfig(t, dir, "set", "users.removal", "remove")
	if code != 1 || out != "" || !strings.Contains(errs, `users.removal: "remove" is not one of keep, disable, delete`) {
		t.Errorf("bad value: %d %q %q", code, out, errs)
	}
	if _, out, _ = runConfig(t, dir, "get", "users.removal"); out != "keep\n" {
		t.Errorf("value after a refused set: %q", out)
	}
	for _, tc := range []struct{ key, value, want string }{
		{"users.include_guests", "maybe", "use true or false"},
		{"users.max_removals", "lots", "a number like 25 or a percentage like 10%"},
		{"schedule.nightly", "25:00", "HH:MM"},
		{"ms.graph_url", "http://graph.example.com", "https://"},
		{"users.ext_end", "1x", "digits only"},
	} {
		code, _, errs := runConfig(t, dir, "set", tc.key, tc.value)
		if code != 1 || !strings.Contains(errs, tc.key+": ") || !strings.Contains(errs, tc.want) {
			t.Errorf("set %s %q: %d %q", tc.key, tc.value, code, errs)
		}
	}
}

func TestConfigUnknownKeySuggests(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "never")
	for _, args := range [][]string{{"get", "users.remval"}, {"set", "users.remval", "keep"}, {"unset", "users.remval"}} {
		code, out, errs := runConfig(t, dir, args...)
		if code != 1 || out != "" || !strings.Contains(errs, `unknown setting "users.remval"`) || !strings.Contains(errs, "did you mean users.removal?") {
			t.Errorf("%v: %d %q %q", args, code, out, errs)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Error("an unknown key created the data directory")
	}
}

func TestConfigSecretIsWriteOnly(t *testing.T) {
	dir := t.TempDir()
	code, out, errs := runConfig(t, dir, "set", "pbx.secret", "hunter2-key")
	if code != 0 || out != "pbx.secret set\n" || strings.Contains(out+errs, "hunter2") {
		t.Errorf("set secret: %d %q %q", code, out, errs)
	}
	if _, out, _ = runConfig(t, dir, "get", "pbx.secret"); out != "set\n" {
		t.Errorf("get secret: %q", out)
	}
	_, out, _ = runConfig(t, dir, "list")
	if strings.Contains(out, "hunter2") || !regexpLine(out, "pbx.secret", "set") {
		t.Errorf("list shows:\n%s", out)
	}
	code, _, errs = runConfig(t, dir, "set", "pbx.secret", "has space")
	if code != 1 || strings.Contains(errs, "has space") || !strings.Contains(errs, "pbx.secret: ") {
		t.Errorf("bad secret: %d %q", code, errs)
	}
	runConfig(t, dir, "unset", "pbx.secret")
	if _, out, _ = runConfig(t, dir, "get", "pbx.secret"); out != "not set\n" {
		t.Errorf("get unset secret: %q", out)
	}
}

// regexpLine reports whether out has a line "  key   value".
func regexpLine(out, key, value string) bool {
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == key && strings.Join(f[1:], " ") == value {
			return true
		}
	}
	return false
}

func TestConfigListGroupsAndMarksDefaults(t *testing.T) {
	dir := t.TempDir()
	runConfig(t, dir, "set", "users.scope", "groups")
	runConfig(t, dir, "set", "ms.tenant", "contoso.onmicrosoft.com")
	code, out, errs := runConfig(t, dir, "list")
	if code != 0 || errs != "" {
		t.Fatalf("list: %d %q", code, errs)
	}
	// Every group heads its section, in order, and every key appears once.
	last := -1
	for _, g := range store.Groups {
		i := strings.Index(out, "\n"+string(g)+"\n")
		if g == store.Groups[0] {
			i = strings.Index(out, string(g)+"\n")
		}
		if i < 0 || i < last {
			t.Errorf("group %s missing or out of order", g)
		}
		last = i
	}
	for _, k := range store.Keys() {
		if n := strings.Count(out, "  "+k.Name+" "); n != 1 {
			t.Errorf("%s appears %d times", k.Name, n)
		}
	}
	for key, value := range map[string]string{
		"users.scope":         "groups",
		"ms.tenant":           "contoso.onmicrosoft.com",
		"users.removal":       "disable (default)",
		"users.removal_grace": "7d (default)",
		"ms.graph_url":        "(from ms.cloud, default)",
		"users.ext_start":     "(first free, default)",
		"ms.client_id":        "(not set)",
		"pbx.secret":          "not set",
		"ms.key_file":         filepath.Join(dir, "keys", "pbx365.pem") + " (default)",
	} {
		if !regexpLine(out, key, value) {
			t.Errorf("list lacks %s = %q:\n%s", key, value, out)
		}
	}
}

func TestConfigUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{nil, {"frob"}, {"get"}, {"set", "users.removal"}, {"set", "users.department", "Azure", "AD"}, {"list", "x"}, {"unset"}} {
		code, out, errs := runConfig(t, dir, args...)
		if code != 2 || out != "" || !strings.Contains(errs, ConfigUsage) {
			t.Errorf("%v: %d %q %q", args, code, out, errs)
		}
	}
	if code, out, _ := runConfig(t, dir, "--help"); code != 0 || !strings.Contains(out, ConfigUsage) {
		t.Errorf("--help: %d %q", code, out)
	}
}

func TestConfigAdviceAndLockedStore(t *testing.T) {
	dir := t.TempDir()
	code, out, errs := runConfig(t, dir, "set", "schedule.delta_interval", "30s")
	if code != 0 || out != "schedule.delta_interval = 30s\n" || !strings.Contains(errs, "below 1m") {
		t.Errorf("advice: %d %q %q", code, out, errs)
	}
	// Another holder of the store: config fails naming it (here: this process).
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	code, _, errs = runConfig(t, dir, "get", "users.removal")
	if code != 1 || !strings.Contains(errs, "in use by another process") || !strings.Contains(errs, "pid ") {
		t.Errorf("locked: %d %q", code, errs)
	}
}

func TestConfigDefaultDataDir(t *testing.T) {
	state := filepath.Join(t.TempDir(), "pbx365")
	defer func(f func() (string, error)) { defaultDataDir = f }(defaultDataDir)
	defaultDataDir = func() (string, error) { return state, nil }
	if code, _, errs := runConfig(t, "", "set", "users.department", "Staff"); code != 0 {
		t.Fatalf("default dir: %q", errs)
	}
	if _, err := os.Stat(filepath.Join(state, "state.db")); err != nil {
		t.Errorf("no state.db in the default dir: %v", err)
	}
	defaultDataDir = func() (string, error) { return "", errors.New("find the data directory: no home directory") }
	if code, _, errs := runConfig(t, "", "list"); code != 1 || !strings.Contains(errs, "no home directory") {
		t.Errorf("no default dir: %d %q", code, errs)
	}
}
