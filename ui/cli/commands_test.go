package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func TestCheckExplainLogAndKeygen(t *testing.T) {
	data, sims := simDataDir(t, 30, nil)
	ctx := context.Background()
	var out, errb bytes.Buffer
	sio := IO{Out: &out, Err: &errb}

	if code := Check(ctx, data, sio); code != ExitOK {
		t.Fatalf("check exit %d:\n%s%s", code, out.String(), errb.String())
	}
	for _, want := range []string{"graph token", "Calendars.Read", "Contacts.Read", "Directory.Read.All", "Mail.Send", "User.Read.All", "pbx login"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("check output lacks %q:\n%s", want, out.String())
		}
	}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if !strings.HasPrefix(l, "ok") {
			t.Errorf("line not ok: %q", l)
		}
	}
	// A revoked permission is named, and check exits 1.
	sims.M365.Revoke("Calendars.Read")
	out.Reset()
	if code := Check(ctx, data, sio); code != ExitFailed || !strings.Contains(out.String(), "missing") {
		t.Fatalf("revoked: exit %d:\n%s", code, out.String())
	}
	sims.M365.GrantAll()

	if code := Sync(ctx, data, SyncOptions{Full: true, Yes: true}, IO{Out: &bytes.Buffer{}, Err: &errb}); code != ExitOK {
		t.Fatalf("sync: %s", errb.String())
	}
	var member string
	for _, u := range sims.M365.Users() {
		if u.UserType == "Member" && u.AccountEnabled && u.Mail != "" {
			member = u.UserPrincipalName
			break
		}
	}
	out.Reset()
	if code := Explain(ctx, data, strings.ToUpper(member), false, sio); code != ExitOK || !strings.Contains(strings.ToLower(out.String()), strings.ToLower(member)) {
		t.Fatalf("explain exit %d:\n%s%s", code, out.String(), errb.String())
	}
	out.Reset()
	errb.Reset()
	if code := Explain(ctx, data, "nobody@nowhere.example", false, sio); code != ExitFailed || !strings.Contains(errb.String(), "nobody@nowhere.example") {
		t.Fatalf("unknown user: exit %d, %q", code, errb.String())
	}

	out.Reset()
	if code := Log(ctx, data, LogOptions{JSON: true, User: member}, sio); code != ExitOK {
		t.Fatalf("log exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var item map[string]any
	if len(lines) == 0 || json.Unmarshal([]byte(lines[0]), &item) != nil || !strings.EqualFold(item["upn"].(string), member) {
		t.Fatalf("log --json --user: %q", out.String())
	}
	out.Reset()
	if code := Log(ctx, data, LogOptions{}, sio); code != ExitOK || !strings.Contains(out.String(), "create") {
		t.Fatalf("log table:\n%s", out.String())
	}

	// keygen on the data dir of the simulators rotates: the old pair is kept.
	out.Reset()
	if code := Keygen(data, 30, true, sio); code != ExitOK {
		t.Fatalf("keygen: %s", errb.String())
	}
	for _, want := range []string{"public certificate:", "thumbprint:", "expires:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("keygen output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "PRIVATE KEY") {
		t.Fatal("keygen printed the private key")
	}
	st, err := os.Stat(sims.KeyFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", st.Mode(), err)
	}
}
