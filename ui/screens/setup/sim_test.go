package setup_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/pbx365/pbx365/sync/app"
	"github.com/pbx365/pbx365/ui/backend"
	"github.com/pbx365/pbx365/ui/common"
	"github.com/pbx365/pbx365/ui/screens/setup"
	"github.com/pbx365/pbx365/ui/uitest"
)

// The wizard from an empty data dir against the simulators over HTTPS:
// the admin types the tenant and app ID, generates the key pair, uploads
// the certificate (to the simulated portal), checks the permissions live,
// enters the PBX connection and sees the login checked with the version.
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
	c := common.NewContext(context.Background(), b, false)
	s := setup.New(c).(*setup.Screen)
	s.SetSize(110, 34)
	pump := func(cmd tea.Cmd) { uitest.Pump(s.Update, cmd, 3*time.Second) }
	pump(s.Init())
	view := func() string { return ansi.Strip(s.View()) }
	key := func(k string) { pump(s.Update(uitest.Key(k))) }
	typ := func(text string) {
		for _, r := range text {
			pump(s.Update(uitest.Key(string(r))))
		}
	}
	waitFor := func(what string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(view(), what) {
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %q; the screen shows:\n%s", what, view())
			}
			pump(nil)
		}
	}

	// 1: tenant and application ID.
	key("e")
	typ(sims.M365.TenantID())
	key("enter")
	typ(sims.M365.ClientID())
	key("enter")
	waitFor("[x] 1 Register app")

	// 2: key pair, then "upload" public_key.pem to the app.
	s.SetStep(setup.StepKey)
	key("g")
	waitFor("thumbprint")
	kf, _ := a.KeyFile()
	cert, err := os.ReadFile(filepath.Join(filepath.Dir(kf), "public_key.pem"))
	if err != nil {
		t.Fatalf("public_key.pem: %v", err)
	}
	if err := sims.M365.RegisterCertificate(cert); err != nil {
		t.Fatal(err)
	}

	// 3: permissions checked live; a missing consent is named.
	sims.M365.Revoke("Mail.Send")
	s.SetStep(setup.StepPermissions)
	key("c")
	waitFor("[missing] Mail.Send")
	waitFor("[ok] User.Read.All")
	sims.M365.GrantAll()
	key("c")
	waitFor("[ok] Mail.Send")

	// The PBX connection, then the login is checked and shows the version.
	s.SetStep(setup.StepPBX)
	key("e")
	typ(sims.PBX.URL())
	key("enter")
	typ(sims.PBX.ClientID())
	key("enter")
	typ(sims.PBX.Secret())
	if strings.Contains(view(), sims.PBX.Secret()) {
		t.Fatal("the API key is shown")
	}
	key("enter")
	waitFor("[ok] version")
	waitFor("[x] · PBX connection")

	st, err := b.SetupStatus(context.Background())
	if err != nil || !st.Complete() {
		t.Fatalf("setup not complete: %+v %v", st, err)
	}
}
