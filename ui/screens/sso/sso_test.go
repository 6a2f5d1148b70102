package sso_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/pbx365/pbx365/ui/common"
	"github.com/pbx365/pbx365/ui/screens/sso"
	"github.com/pbx365/pbx365/ui/uitest"
)

const idle = 80 * time.Millisecond

func newFake(t *testing.T) *uitest.Extras {
	f := uitest.NewExtras(5)
	f.Configure()
	if err := f.SetSetting(context.Background(), "sso.enabled", "true"); err != nil {
		t.Fatal(err)
	}
	f.PBXM365 = common.M365{TenantID: "old-tenant", UserSyncEnabled: true}
	return f
}

func TestShowsChangeConfirmsAndReportsThePBXAnswer(t *testing.T) {
	f := newFake(t)
	c := common.NewContext(context.Background(), f, false)
	s := sso.New(c).(*sso.Screen)
	s.SetSize(80, 24)
	var asked []common.ConfirmMsg
	update := uitest.Answering(s.Update, true, &asked)
	uitest.Pump(update, s.Init(), idle)
	out := ansi.Strip(s.View())
	tenant := f.Setting("ms.tenant")
	for _, want := range []string{"sso.enabled is on", "old-tenant → " + tenant, "WARNING 3CX's own user sync is on", "off → on"} {
		if !strings.Contains(out, want) {
			t.Fatalf("missing %q:\n%s", want, out)
		}
	}
	for _, l := range strings.Split(s.View(), "\n") {
		if ansi.StringWidth(l) > 80 {
			t.Fatalf("line wider than 80: %q", l)
		}
	}
	uitest.Send(update, idle, uitest.Key("a"))
	if len(asked) != 1 || !strings.Contains(asked[0].Body, "old-tenant → "+tenant) || f.Calls("ApplySSO") != 1 {
		t.Fatalf("asked %+v, applied %d", asked, f.Calls("ApplySSO"))
	}
	if r := s.Result(); r == nil || !r.Kept || r.After.TenantID != tenant || !r.After.UserSyncEnabled {
		t.Fatalf("result %+v", r)
	}
	out = ansi.Strip(s.View())
	if !strings.Contains(out, "OK The PBX now has: tenant "+tenant) || !strings.Contains(out, "OK the PBX already has these settings") {
		t.Fatalf("after apply:\n%s", out)
	}
	// Nothing to change now: no prompt.
	uitest.Send(update, idle, uitest.Key("a"))
	if len(asked) != 1 || f.Calls("ApplySSO") != 1 {
		t.Fatalf("asked again: %d, applied %d", len(asked), f.Calls("ApplySSO"))
	}
}

func TestRefusalIsShownAndDeclineWritesNothing(t *testing.T) {
	f := newFake(t)
	c := common.NewContext(context.Background(), f, false)
	s := sso.New(c)
	s.SetSize(100, 30)
	var asked []common.ConfirmMsg
	no := uitest.Answering(s.Update, false, &asked)
	uitest.Pump(no, s.Init(), idle)
	uitest.Send(no, idle, uitest.Key("a"))
	if len(asked) != 1 || f.Calls("ApplySSO") != 0 {
		t.Fatalf("declined: asked %d, applied %d", len(asked), f.Calls("ApplySSO"))
	}
	f.SSOError = errors.New("PBX answered 403: the API client may not change Microsoft 365 settings")
	yes := uitest.Answering(s.Update, true, &asked)
	uitest.Send(yes, idle, uitest.Key("a"))
	if out := ansi.Strip(s.View()); !strings.Contains(out, "ERROR the PBX refused: PBX answered 403") {
		t.Fatalf("refusal not shown:\n%s", out)
	}
}
