package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/pbx365/pbx365/pbxclient/pbxsim"
	"github.com/pbx365/pbx365/sync/app"
	"github.com/pbx365/pbx365/sync/contacts"
)

// contactEnv is a data dir for the simulators with users synced, and both
// engines on it.
func contactEnv(t *testing.T) (*app.App, *app.Sims) {
	t.Helper()
	data, sims := simDataDir(t, 30, map[string]string{"contacts.personal": "true"})
	var shared []string
	for _, u := range sims.M365.SharedMailboxes() {
		shared = append(shared, u.Mail)
	}
	a, err := app.Open(data)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	if _, err := a.Store.Set("contacts.shared_mailboxes", strings.Join(shared[:1], ",")); err != nil {
		t.Fatal(err)
	}
	return a, sims
}

func engines(t *testing.T, a *app.App) (UserSyncer, ContactSyncer) {
	t.Helper()
	u, err := a.Users(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c, err := a.Contacts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return u, c
}

func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("not a JSON line: %q", sc.Text())
		}
		lines = append(lines, line)
	}
	return lines
}

func TestSyncAllJSONThenContactsTableAndNoChanges(t *testing.T) {
	a, sims := contactEnv(t)
	ueng, ceng := engines(t, a)
	ctx := context.Background()

	// Dry run of --all: users are planned, contacts need links, so nothing
	// is written anywhere.
	var out, errb bytes.Buffer
	code := SyncAll(ctx, ueng, ceng, SyncOptions{Full: true, DryRun: true, JSON: true}, IO{Out: &out, Err: &errb})
	if code != ExitOK || len(sims.PBX.Snapshot().Contacts) != 0 {
		t.Fatalf("dry run exit %d, %d contacts on the PBX: %s", code, len(sims.PBX.Snapshot().Contacts), errb.String())
	}

	out.Reset()
	code = SyncAll(ctx, ueng, ceng, SyncOptions{Full: true, Yes: true, JSON: true}, IO{Out: &out, Err: &errb})
	if code != ExitOK {
		t.Fatalf("sync --all exit %d: %s", code, errb.String())
	}
	var contactCreates, summaries, plans int
	for _, l := range jsonLines(t, out.String()) {
		switch l["type"] {
		case "change":
			if _, ok := l["phonebook"]; ok && l["action"] == "create" {
				contactCreates++
				for _, k := range []string{"object_id", "upn", "number", "rule", "fields", "name", "source_id"} {
					if _, ok := l[k]; !ok {
						t.Errorf("contact change line without %q: %v", k, l)
					}
				}
			}
		case "summary":
			summaries++
		case "plan":
			plans++
		}
	}
	if contactCreates == 0 || summaries != 2 || plans != 2 {
		t.Fatalf("%d contact creates, %d summaries, %d plans:\n%s", contactCreates, summaries, plans, out.String())
	}
	tagged := 0
	for _, c := range sims.PBX.Snapshot().Contacts {
		if strings.HasPrefix(c.Tag, contacts.TagPrefix) {
			tagged++
		}
	}
	if tagged != contactCreates {
		t.Errorf("%d marked entries on the PBX for %d planned creates", tagged, contactCreates)
	}

	// A second run in table form: nothing to do.
	out.Reset()
	code = SyncContacts(ctx, ceng, SyncOptions{}, IO{Out: &out, Err: &errb})
	if code != ExitOK || !strings.Contains(out.String(), "Contacts plan, incremental") || !strings.Contains(out.String(), "nothing written") ||
		strings.Contains(out.String(), "create") || strings.Contains(out.String(), "update") {
		t.Fatalf("exit %d:\n%s", code, out.String())
	}
}

func TestSyncContactsConfirmTableAndFailedWrites(t *testing.T) {
	a, sims := contactEnv(t)
	ueng, ceng := engines(t, a)
	ctx := context.Background()
	var out, errb bytes.Buffer
	if code := SyncUsers(ctx, ueng, SyncOptions{Full: true, Yes: true}, IO{Out: &out, Err: &errb}); code != ExitOK {
		t.Fatalf("users: %d %s", code, errb.String())
	}
	// Declined at the prompt: nothing written.
	out.Reset()
	code := SyncContacts(ctx, ceng, SyncOptions{Full: true}, IO{In: strings.NewReader("n\n"), Out: &out, Err: &errb})
	if code != ExitOK || len(sims.PBX.Snapshot().Contacts) != 0 || !strings.Contains(out.String(), "not applied") {
		t.Fatalf("declined: exit %d\n%s", code, out.String())
	}
	for _, col := range []string{"ACTION", "PHONEBOOK", "CONTACT", "MAILBOX", "RULE", "contact.no_number"} {
		if !strings.Contains(out.String(), col) {
			t.Errorf("the table lacks %q", col)
		}
	}
	// Accepted, and the PBX refuses one write: exit 1 naming it.
	sims.PBX.AddFault(pbxsim.Fault{Kind: pbxsim.FaultStatus, Status: 403, Method: "POST", PathPrefix: "/xapi/v1/Contacts"})
	out.Reset()
	errb.Reset()
	code = SyncContacts(ctx, ceng, SyncOptions{Full: true}, IO{In: strings.NewReader("y\n"), Out: &out, Err: &errb})
	if code != ExitFailed || !strings.Contains(errb.String(), "failed  create") || !strings.Contains(out.String(), "FAILED: 1 create") {
		t.Fatalf("exit %d\nout:\n%s\nerr:\n%s", code, out.String(), errb.String())
	}
	// The next run finishes it.
	out.Reset()
	if code := SyncContacts(ctx, ceng, SyncOptions{Yes: true}, IO{Out: &out, Err: &errb}); code != ExitOK {
		t.Fatalf("rerun exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "1 create") {
		t.Errorf("the rerun did not create the failed entry:\n%s", out.String())
	}
}
