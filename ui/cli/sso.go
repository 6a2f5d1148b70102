package cli

import (
	"context"
	"fmt"

	"github.com/pbx365/pbx365/pbxclient"
)

// SSOApply is pbx365 sso apply: it writes the tenant ID and application ID
// into the PBX's Microsoft 365 settings and enables Microsoft sign-in there,
// never turning on 3CX's own user sync (which would fight pbx365's). It shows
// what it will change first and reports what the PBX then holds.
func SSOApply(ctx context.Context, dataDir string, yes bool, sio IO) int {
	a, ok := openApp(dataDir, sio, "sso apply")
	if !ok {
		return ExitFailed
	}
	defer a.Close()
	if err := a.Store.RequireSettings("ms.tenant", "ms.client_id"); err != nil {
		fmt.Fprintf(sio.Err, "pbx365 sso apply: %v\n", err)
		return ExitFailed
	}
	s, err := a.Store.Settings()
	if err != nil {
		fmt.Fprintf(sio.Err, "pbx365 sso apply: %v\n", err)
		return ExitFailed
	}
	pbx, err := a.PBX()
	if err != nil {
		fmt.Fprintf(sio.Err, "pbx365 sso apply: %v\n", err)
		return ExitFailed
	}
	cur, err := pbx.M365Settings(ctx)
	if err != nil {
		fmt.Fprintf(sio.Err, "pbx365 sso apply: read the PBX's Microsoft 365 settings: %v\n", err)
		return ExitFailed
	}
	want := pbxclient.M365Settings{TenantID: s.MS.Tenant, ApplicationID: s.MS.ClientID, SSOEnabled: true}
	fmt.Fprintln(sio.Out, "The PBX's Microsoft 365 settings (Admin Console → Integrations → Microsoft 365):")
	row := func(name, old, new string) {
		mark := "  (unchanged)"
		if old != new {
			mark = ""
		}
		fmt.Fprintf(sio.Out, "  %-26s %q → %q%s\n", name, old, new, mark)
	}
	row("Tenant ID", cur.TenantID, want.TenantID)
	row("Application ID", cur.ApplicationID, want.ApplicationID)
	row("Microsoft sign-in (SSO)", onOff(cur.SSOEnabled), onOff(true))
	fmt.Fprintf(sio.Out, "  %-26s %s (pbx365 never turns it on)\n", "3CX's own user sync", onOff(cur.UserSyncEnabled))
	if cur.UserSyncEnabled {
		fmt.Fprintln(sio.Err, "warning: 3CX's own Microsoft 365 user sync is ON: it re-creates and reverts what pbx365 manages.")
		fmt.Fprintln(sio.Err, "         Turn it off in the 3CX Admin Console (Integrations → Microsoft 365 → Users).")
	}
	if cur.TenantID == want.TenantID && cur.ApplicationID == want.ApplicationID && cur.SSOEnabled {
		fmt.Fprintln(sio.Out, "Nothing to change.")
		return ExitOK
	}
	if !yes && !confirm(sio, "Write these settings to the PBX? [y/N] ") {
		fmt.Fprintln(sio.Out, "not applied")
		return ExitOK
	}
	if err := pbx.SetM365Settings(ctx, want); err != nil {
		fmt.Fprintf(sio.Err, "pbx365 sso apply: the PBX refused: %v\n", err)
		return ExitFailed
	}
	got, err := pbx.M365Settings(ctx)
	if err != nil {
		fmt.Fprintf(sio.Err, "pbx365 sso apply: read back: %v\n", err)
		return ExitFailed
	}
	fmt.Fprintf(sio.Out, "The PBX now has: tenant %s, application %s, Microsoft sign-in %s, its own user sync %s.\n",
		got.TenantID, got.ApplicationID, onOff(got.SSOEnabled), onOff(got.UserSyncEnabled))
	if got.TenantID != want.TenantID || got.ApplicationID != want.ApplicationID || !got.SSOEnabled {
		fmt.Fprintln(sio.Err, "pbx365 sso apply: the PBX did not keep the values written")
		return ExitFailed
	}
	fmt.Fprintln(sio.Out, "Per-user sign-in follows sso.enabled / sso.users at the next user sync.")
	return ExitOK
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
