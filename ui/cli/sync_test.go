package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pbx365/pbx365/sync/app"
)

// simDataDir starts both simulators and returns a data dir configured for
// them.
func simDataDir(t *testing.T, users int, settings map[string]string) (string, *app.Sims) {
	t.Helper()
	dir := t.TempDir()
	sims, err := app.StartSims(app.SimOptions{Seed: 3, Users: users, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sims.Close)
	data := filepath.Join(dir, "data")
	a, err := app.Open(data)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := sims.Configure(a.Store); err != nil {
		t.Fatal(err)
	}
	if len(settings) > 0 {
		if err := a.Store.SetMany(settings); err != nil {
			t.Fatal(err)
		}
	}
	return data, sims
}

func runSync(t *testing.T, data string, opt SyncOptions, stdin string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Sync(context.Background(), data, opt, IO{In: strings.NewReader(stdin), Out: &out, Err: &errb})
	return code, out.String(), errb.String()
}

func TestSyncJSONLinesDryRunConfirmAndApply(t *testing.T) {
	data, sims := simDataDir(t, 40, nil)
	before := len(sims.PBX.Users())

	code, out, errs := runSync(t, data, SyncOptions{Full: true, DryRun: true, JSON: true}, "")
	if code != ExitOK {
		t.Fatalf("dry run exit %d: %s", code, errs)
	}
	var changes, creates int
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("not a JSON line: %q", sc.Text())
		}
		if line["type"] == "change" {
			changes++
			for _, k := range []string{"action", "object_id", "upn", "number", "rule", "fields"} {
				if _, ok := line[k]; !ok {
					t.Errorf("change line without %q: %s", k, sc.Text())
				}
			}
			if line["action"] == "create" {
				creates++
			}
		}
	}
	if creates == 0 || changes == 0 {
		t.Fatalf("dry run printed %d changes, %d creates:\n%s", changes, creates, out)
	}
	if len(sims.PBX.Users()) != before {
		t.Fatal("a dry run wrote to the PBX")
	}

	// Without --yes it asks; "n" applies nothing.
	code, _, errs = runSync(t, data, SyncOptions{Full: true}, "n\n")
	if code != ExitOK || !strings.Contains(errs, "Apply") || len(sims.PBX.Users()) != before {
		t.Fatalf("declined confirmation: exit %d, stderr %q, users %d", code, errs, len(sims.PBX.Users()))
	}
	// "y" applies and prints a summary.
	code, out, errs = runSync(t, data, SyncOptions{Full: true}, "y\n")
	if code != ExitOK {
		t.Fatalf("apply exit %d: %s", code, errs)
	}
	if got := len(sims.PBX.Users()) - before; got != creates {
		t.Errorf("PBX gained %d users, plan had %d creates", got, creates)
	}
	if !strings.Contains(out, "Run ") || !strings.Contains(out, "create") {
		t.Errorf("no summary line:\n%s", out)
	}
	// JSON apply of an up-to-date PBX ends with a summary object.
	code, out, _ = runSync(t, data, SyncOptions{Full: true, Yes: true, JSON: true}, "")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var last map[string]any
	if code != ExitOK || json.Unmarshal([]byte(lines[len(lines)-1]), &last) != nil || last["type"] != "summary" {
		t.Fatalf("exit %d, last line %q, want a summary", code, lines[len(lines)-1])
	}
}

func TestSyncGuardExitsTwoAndMissingSettingNamesTheKey(t *testing.T) {
	data, sims := simDataDir(t, 30, map[string]string{"users.max_removals": "1"})
	if code, _, errs := runSync(t, data, SyncOptions{Full: true, Yes: true}, ""); code != ExitOK {
		t.Fatalf("first sync exit %d: %s", code, errs)
	}
	n := 0
	for _, u := range sims.M365.Users() {
		if u.UserType == "Member" && u.AccountEnabled && n < 2 {
			if err := sims.M365.DisableUser(u.ID); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	code, _, errs := runSync(t, data, SyncOptions{Full: true, Yes: true}, "")
	if code != ExitGuarded || !strings.Contains(errs, "--allow-removals") {
		t.Fatalf("exit %d, stderr %q: want 2 naming --allow-removals", code, errs)
	}
	if code, _, errs := runSync(t, data, SyncOptions{Full: true, Yes: true, AllowRemovals: true}, ""); code != ExitOK {
		t.Fatalf("allowed: exit %d: %s", code, errs)
	}

	empty := t.TempDir()
	code, _, errs = runSync(t, empty, SyncOptions{Full: true, Yes: true}, "")
	if code != ExitFailed || !strings.Contains(errs, "ms.tenant") {
		t.Fatalf("unconfigured: exit %d, stderr %q: want 1 naming ms.tenant", code, errs)
	}
}
