package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestSSOApplyShowsThenWritesWithoutTurningOnNativeSync(t *testing.T) {
	data, sims := simDataDir(t, 10, nil)
	ctx := context.Background()
	var out, errb bytes.Buffer

	// Declined: nothing written.
	code := SSOApply(ctx, data, false, IO{In: strings.NewReader("n\n"), Out: &out, Err: &errb})
	if code != ExitOK || sims.PBX.M365Settings().SSOEnabled {
		t.Fatalf("declined: exit %d, settings %+v", code, sims.PBX.M365Settings())
	}
	if !strings.Contains(out.String(), sims.M365.TenantID()) || !strings.Contains(out.String(), "Microsoft sign-in") {
		t.Fatalf("preview does not show the change:\n%s", out.String())
	}
	out.Reset()
	if code := SSOApply(ctx, data, true, IO{Out: &out, Err: &errb}); code != ExitOK {
		t.Fatalf("apply exit %d: %s", code, errb.String())
	}
	got := sims.PBX.M365Settings()
	if got.TenantID != sims.M365.TenantID() || got.ApplicationID != sims.M365.ClientID() || !got.SSOEnabled || got.UserSyncEnabled {
		t.Fatalf("PBX has %+v", got)
	}
	out.Reset()
	if code := SSOApply(ctx, data, true, IO{Out: &out, Err: &errb}); code != ExitOK || !strings.Contains(out.String(), "Nothing to change") {
		t.Fatalf("second apply: exit %d\n%s", code, out.String())
	}
}
