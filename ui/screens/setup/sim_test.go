package setup_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/pbx365/pbx365/sync/app"
	"github.com/pbx365/pbx365/ui"
	"github.com/pbx365/pbx365/ui/backend"
	"github.com/pbx365/pbx365/ui/common"
	"github.com/pbx365/pbx365/ui/uitest"
)

// The wizard from an empty data dir against the simulators over HTTPS, in
// the real program: the admin types the tenant and app ID, generates the key
// pair, uploads the certificate (to the simulated portal), checks the
// permissions live, enters the PBX connection and sees the login checked.
func TestWizardCompletesAgainstTheSimulators(t *testing.T) {
	dir := t.TempDir()
	sims, err := app.StartSims(app.SimOptions{Seed: 2, Users: 30, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer sims.Close()
	a, err := app.Open(filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	// Only the endpoints and CAs of the simulators (not part of the wizard:
	// a real tenant uses the cloud's endpoints and the system's CAs).
	set := sims.Settings()
	for _, k := range []string{"ms.graph_url", "ms.login_url", "ms.ca_file", "pbx.ca_file"} {
		if _, err := a.Store.Set(k, set[k]); err != nil {
			t.Fatal(err)
		}
	}
	b := backend.NewLocal(a)
	root := ui.New(b, ui.Options{StartScreen: common.ScreenSetup})
	tm := teatest.NewTestModel(t, root, teatest.WithInitialTermSize(120, 40),
		teatest.WithProgramOptions(tea.WithColorProfile(colorprofile.ASCII)))
	waitFor := func(what string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(ansi.Strip(root.LastFrame()), what) {
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %q; the screen shows:\n%s", what, ansi.Strip(root.LastFrame()))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	send := func(keys ...string) {
		for _, k := range keys {
			tm.Send(uitest.Key(k))
		}
	}
	waitFor("Register app")
	// 1: tenant and application ID.
	send("e")
	tm.Type(sims.M365.TenantID())
	send("enter")
	tm.Type(sims.M365.ClientID())
	send("enter")
	waitFor("[x] 1 Register app")
	// 2: the key pair; then "upload" public_key.pem to the app.
	send("j", "g")
	kf, _ := a.KeyFile()
	pub := filepath.Join(filepath.Dir(kf), "public_key.pem")
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(pub); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no public_key.pem; the screen shows:\n%s", ansi.Strip(root.LastFrame()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitFor("thumbprint")
	cert, err := os.ReadFile(pub)
	if err != nil {
		t.Fatalf("public_key.pem: %v", err)
	}
	if err := sims.M365.RegisterCertificate(cert); err != nil {
		t.Fatal(err)
	}
	// 3: permissions checked live; a missing consent is named.
	sims.M365.Revoke("Mail.Send")
	send("j", "c")
	waitFor("[missing] Mail.Send")
	waitFor("[ok] User.Read.All")
	sims.M365.GrantAll()
	send("c")
	waitFor("[ok] Mail.Send")
	// The PBX connection, then the login is checked and shows the version.
	send("j", "e")
	tm.Type(sims.PBX.URL())
	send("enter")
	tm.Type(sims.PBX.ClientID())
	send("enter")
	tm.Type(sims.PBX.Secret())
	send("enter")
	waitFor("[ok] version")
	if strings.Contains(root.LastFrame(), sims.PBX.Secret()) {
		t.Fatal("the API key is shown")
	}
	st, err := b.SetupStatus(context.Background())
	if err != nil || !st.Complete() {
		t.Fatalf("setup not complete: %+v %v", st, err)
	}
	send("ctrl+c")
	tm.WaitFinished(t, teatest.WithFinalTimeout(10*time.Second))
	root.Shutdown(5 * time.Second)
}
