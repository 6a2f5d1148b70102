package pbxclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// CheckResult is one line of `pbx365 check`: Status "ok" or "error", the
// thing checked, and what was found or what to fix.
type CheckResult struct {
	Name   string // e.g. "pbx login"
	Status string // "ok" or "error"
	Detail string
}

// OK reports whether the check passed.
func (r CheckResult) OK() bool { return r.Status == "ok" }

// String is the printed line: "ok     pbx login: ...".
func (r CheckResult) String() string {
	s := fmt.Sprintf("%-6s %s", r.Status, r.Name)
	if r.Detail != "" {
		s += ": " + r.Detail
	}
	return s
}

const fixRole = "give the API client (pbx.client_id) the System Owner role in a department (Admin Console → Integrations → API)"

// Check runs the PBX part of `pbx365 check`: login, version, and whether the
// API client's role may read users, write users, read departments and read
// the phonebook, plus a warning line when 3CX's own Microsoft 365 user sync
// is on. Writing is probed harmlessly: the first extension's FirstName is
// read and PATCHed back with the same value, which changes nothing. After a
// failed login the remaining checks are not run.
func (x *XAPI) Check(ctx context.Context) []CheckResult {
	var out []CheckResult
	add := func(name string, err error, okDetail string, hint string) bool {
		out = append(out, checkLine(name, err, okDetail, hint))
		return err == nil
	}

	_, _, err := x.tokens.get(ctx, x)
	if !add("pbx login", err, "API client "+x.clientID+" signed in at "+x.base, "") {
		return out
	}
	v, err := x.Version(ctx)
	add("pbx version", err, v, "")

	var users collection[rawObject]
	err = x.get(ctx, "read users", "Users", query{}.add("$select", "Id,FirstName").add("$top", "1").String(), &users)
	add("pbx read users", err, "", "the role may not read users")

	if err == nil {
		out = append(out, x.checkWrite(ctx, users.Value))
	}

	var groups collection[rawObject]
	err = x.get(ctx, "read departments", "Groups", query{}.add("$select", "Id,Name").add("$top", "1").String(), &groups)
	add("pbx departments", err, "", "the role may not read departments")

	var cs collection[rawObject]
	err = x.get(ctx, "read phonebook", "Contacts", query{}.add("$select", "Id").add("$top", "1").String(), &cs)
	add("pbx phonebook", err, "", "the role may not read the phonebook")

	m, err := x.M365Settings(ctx)
	if err == nil && m.UserSyncEnabled {
		err = errors.New("3CX's own Microsoft 365 user sync is on and would undo pbx365's changes: turn it off (Admin Console → Integrations → Microsoft 365 → Users)")
	}
	add("pbx native m365 user sync", err, "off", "the role may not read the Microsoft 365 settings")
	return out
}

func checkLine(name string, err error, okDetail, hint string) CheckResult {
	if err == nil {
		return CheckResult{Name: name, Status: "ok", Detail: okDetail}
	}
	d := err.Error()
	if errors.Is(err, ErrForbidden) && hint != "" {
		d = hint + ": " + fixRole
	}
	return CheckResult{Name: name, Status: "error", Detail: d}
}

// checkWrite probes write access by PATCHing the first user's FirstName
// with the value it already has.
func (x *XAPI) checkWrite(ctx context.Context, users []rawObject) CheckResult {
	const name, hint = "pbx write users", "the role may not change users"
	if len(users) == 0 {
		return checkLine(name, nil, "not probed: the PBX has no extensions yet", hint)
	}
	var id int32
	if err := json.Unmarshal(users[0]["Id"], &id); err != nil {
		return checkLine(name, fmt.Errorf("read users: unreadable Id: %w", err), "", hint)
	}
	first := users[0]["FirstName"]
	if len(first) == 0 || strings.TrimSpace(string(first)) == "null" {
		first = json.RawMessage(`""`)
	}
	err := x.patch(ctx, fmt.Sprintf("write user %d (same FirstName, no change)", id), entity("Users", id),
		map[string]json.RawMessage{"FirstName": first})
	return checkLine(name, err, "", hint)
}
