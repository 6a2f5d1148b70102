package pbxclient

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// Version returns the PBX version from the X-3CX-Version header of the
// cheap probe GET /xapi/v1/Defs?$select=Id, e.g. "20.0.10.123".
func (x *XAPI) Version(ctx context.Context) (string, error) {
	const op = "read PBX version"
	if err := x.get(ctx, op, "Defs", query{}.add("$select", "Id").String(), nil); err != nil {
		return "", err
	}
	v := x.lastVersion()
	if v == "" {
		return "", &Error{Op: op, Kind: ErrValidation,
			Message: "the PBX sent no X-3CX-Version header: is pbx.url a 3CX V20 PBX?"}
	}
	return v, nil
}

// Capabilities says what this PBX allows beyond the basics. XAPI has no
// photo upload route (only the ContactImage field), so PhotoUpload is false.
func (x *XAPI) Capabilities(ctx context.Context) (Capabilities, error) {
	return Capabilities{PhotoUpload: false}, ctx.Err()
}

// wireProfile is Pbx.ForwardingProfile as read.
type wireProfile struct {
	ID         int32  `json:"Id"`
	Name       string `json:"Name"`
	CustomName string `json:"CustomName"`
}

// UserProfiles lists a user's forwarding profiles (statuses) with their
// internal names and the admin's custom names.
func (x *XAPI) UserProfiles(ctx context.Context, userID int32) ([]Profile, error) {
	var c collection[wireProfile]
	q := query{}.add("$select", "Id,Name,CustomName")
	if err := x.get(ctx, fmt.Sprintf("list profiles of user %d", userID),
		entity("Users", userID)+"/ForwardingProfiles", q.String(), &c); err != nil {
		return nil, err
	}
	out := make([]Profile, len(c.Value))
	for i, w := range c.Value {
		out[i] = Profile(w)
	}
	return out, nil
}

// SetProfile makes name (an internal profile Name from UserProfiles, e.g.
// "Away") the user's current status: PATCH /Users({Id}) CurrentProfileName.
func (x *XAPI) SetProfile(ctx context.Context, userID int32, name string) error {
	op := fmt.Sprintf("set profile of user %d", userID)
	if strings.TrimSpace(name) == "" {
		return &Error{Op: op, Kind: ErrValidation, Field: "CurrentProfileName", Message: "a profile name is required"}
	}
	return x.patch(ctx, op, entity("Users", userID), map[string]string{"CurrentProfileName": name})
}

// wireM365 is the part of Pbx.Microsoft365Integration pbx365 reads.
type wireM365 struct {
	TenantID      string    `json:"TenantId"`
	ApplicationID string    `json:"ApplicationId"`
	AdUsers       rawObject `json:"AdUsers"`
}

func (x *XAPI) readM365(ctx context.Context) (wireM365, error) {
	var w wireM365
	err := x.get(ctx, "read Microsoft 365 settings", "Microsoft365Integration", "", &w)
	return w, err
}

func rawBool(o rawObject, k string) bool {
	var b bool
	_ = json.Unmarshal(o[k], &b) // absent or null is false
	return b
}

// M365Settings reads the PBX's Microsoft 365 integration: tenant and
// application ID, the SSO switch and whether 3CX's own user sync is on.
func (x *XAPI) M365Settings(ctx context.Context) (M365Settings, error) {
	w, err := x.readM365(ctx)
	if err != nil {
		return M365Settings{}, err
	}
	return M365Settings{TenantID: w.TenantID, ApplicationID: w.ApplicationID,
		SSOEnabled: rawBool(w.AdUsers, "EnableSSO"), UserSyncEnabled: rawBool(w.AdUsers, "IsEnabled")}, nil
}

// SetM365Settings writes TenantId and ApplicationId (an empty one is left
// as it is) and AdUsers.EnableSSO. It never turns on 3CX's own user sync
// (AdUsers.IsEnabled) and ignores s.UserSyncEnabled: AdUsers is sent back
// exactly as read except EnableSSO, since a PATCH of a complex property may
// replace it whole.
func (x *XAPI) SetM365Settings(ctx context.Context, s M365Settings) error {
	cur, err := x.readM365(ctx)
	if err != nil {
		return err
	}
	ad := rawObject{}
	for k, v := range cur.AdUsers {
		ad[k] = v
	}
	ad["EnableSSO"] = json.RawMessage(fmt.Sprint(s.SSOEnabled))
	if _, ok := ad["IsEnabled"]; !ok {
		ad["IsEnabled"] = json.RawMessage("false")
	}
	body := map[string]any{"AdUsers": ad}
	if s.TenantID != "" {
		body["TenantId"] = s.TenantID
	}
	if s.ApplicationID != "" {
		body["ApplicationId"] = s.ApplicationID
	}
	return x.patch(ctx, "write Microsoft 365 settings", "Microsoft365Integration", body)
}
