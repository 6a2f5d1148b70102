package pbxclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// userSelect is the $select of every user read: the fields pbx365 reads or owns.
const userSelect = "Id,Number,FirstName,LastName,EmailAddress,Mobile,OutboundCallerID,Enabled,MS365SignInEnabled,CurrentProfileName,ContactImage,Tags"

// userExpand brings the department memberships with their roles.
const userExpand = "Groups($expand=Rights)"

// wireUser is Pbx.User as read.
type wireUser struct {
	ID                 int32           `json:"Id"`
	Number             string          `json:"Number"`
	FirstName          string          `json:"FirstName"`
	LastName           string          `json:"LastName"`
	EmailAddress       string          `json:"EmailAddress"`
	Mobile             string          `json:"Mobile"`
	OutboundCallerID   string          `json:"OutboundCallerID"`
	Enabled            *bool           `json:"Enabled"`
	MS365SignInEnabled *bool           `json:"MS365SignInEnabled"`
	CurrentProfileName string          `json:"CurrentProfileName"`
	ContactImage       string          `json:"ContactImage"`
	Tags               []string        `json:"Tags"`
	Groups             []wireUserGroup `json:"Groups"`
}

// wireUserGroup is Pbx.UserGroup: a membership as read or written.
type wireUserGroup struct {
	GroupID int32       `json:"GroupId"`
	Name    string      `json:"Name,omitempty"`
	Rights  *wireRights `json:"Rights,omitempty"`
}

type wireRights struct {
	RoleName string `json:"RoleName"`
}

func (w wireUser) user() User {
	u := User{
		ID: w.ID, Number: w.Number, FirstName: w.FirstName, LastName: w.LastName,
		EmailAddress: w.EmailAddress, Mobile: w.Mobile, OutboundCallerID: w.OutboundCallerID,
		Enabled: w.Enabled != nil && *w.Enabled, MS365SignInEnabled: w.MS365SignInEnabled != nil && *w.MS365SignInEnabled,
		CurrentProfileName: w.CurrentProfileName, ContactImage: w.ContactImage, Tags: w.Tags,
	}
	for _, g := range w.Groups {
		m := Membership{GroupID: g.GroupID, GroupName: g.Name}
		if g.Rights != nil {
			m.Role = g.Rights.RoleName
		}
		u.Groups = append(u.Groups, m)
	}
	return u
}

func wireGroups(ms []Membership) []wireUserGroup {
	out := make([]wireUserGroup, 0, len(ms))
	for _, m := range ms {
		role := m.Role
		if role == "" {
			role = "users"
		}
		out = append(out, wireUserGroup{GroupID: m.GroupID, Rights: &wireRights{RoleName: role}})
	}
	return out
}

func userQuery() query {
	return query{}.add("$select", userSelect).add("$expand", userExpand)
}

// ListUsers returns every extension with its departments and roles, paged
// by $top/$skip ordered by Id.
func (x *XAPI) ListUsers(ctx context.Context) ([]User, error) {
	ws, err := listAll(ctx, x, "list users", "Users", userQuery(), "Id", func(w wireUser) string { return strconv.Itoa(int(w.ID)) })
	if err != nil {
		return nil, err
	}
	out := make([]User, len(ws))
	for i, w := range ws {
		out[i] = w.user()
	}
	return out, nil
}

// GetUser reads one extension by Id; a missing one is ErrNotFound.
func (x *XAPI) GetUser(ctx context.Context, id int32) (User, error) {
	var w wireUser
	if err := x.get(ctx, fmt.Sprintf("get user %d", id), entity("Users", id), userQuery().String(), &w); err != nil {
		return User{}, err
	}
	return w.user(), nil
}

// FindUsers returns the users whose Number equals number or whose
// EmailAddress equals email, case-insensitively; either may be empty.
func (x *XAPI) FindUsers(ctx context.Context, number, email string) ([]User, error) {
	var terms []string
	if number != "" {
		terms = append(terms, "Number eq "+quote(number))
	}
	if email != "" {
		terms = append(terms, "tolower(EmailAddress) eq "+quote(strings.ToLower(email)))
	}
	if len(terms) == 0 {
		return nil, nil
	}
	q := userQuery().add("$filter", strings.Join(terms, " or "))
	ws, err := listAll(ctx, x, "find users", "Users", q, "Id", func(w wireUser) string { return strconv.Itoa(int(w.ID)) })
	if err != nil {
		return nil, err
	}
	var out []User
	for _, w := range ws {
		// Check again here: the filter's tolower is ASCII-only on some servers.
		if (number != "" && w.Number == number) || (email != "" && strings.EqualFold(w.EmailAddress, email)) {
			out = append(out, w.user())
		}
	}
	return out, nil
}

// wireNewUser is the POST /Users body.
type wireNewUser struct {
	ID                 int32           `json:"Id"`
	Number             string          `json:"Number"`
	FirstName          string          `json:"FirstName"`
	LastName           string          `json:"LastName"`
	EmailAddress       string          `json:"EmailAddress"`
	Mobile             string          `json:"Mobile"`
	OutboundCallerID   string          `json:"OutboundCallerID"`
	Enabled            bool            `json:"Enabled"`
	MS365SignInEnabled bool            `json:"MS365SignInEnabled"`
	Groups             []wireUserGroup `json:"Groups,omitempty"`
}

// CreateUser creates an extension (POST /Users → 201). It is not retried once
// sent: a lost reply is ErrOutcomeUnknown; look it up by number before trying
// again. A taken number or email is ErrAlreadyInUse with Field set.
func (x *XAPI) CreateUser(ctx context.Context, u NewUser) (User, error) {
	op := "create user " + u.Number
	if strings.TrimSpace(u.Number) == "" {
		return User{}, &Error{Op: op, Kind: ErrValidation, Field: "Number", Message: "a number is required"}
	}
	body := wireNewUser{Number: u.Number, FirstName: u.FirstName, LastName: u.LastName,
		EmailAddress: u.EmailAddress, Mobile: u.Mobile, OutboundCallerID: u.OutboundCallerID,
		Enabled: u.Enabled, MS365SignInEnabled: u.MS365SignInEnabled}
	if len(u.Groups) > 0 {
		body.Groups = wireGroups(u.Groups)
	}
	rep, err := x.do(ctx, request{op: op, method: http.MethodPost, path: "Users", body: body, policy: retryUnsentOnly})
	if err != nil {
		return User{}, err
	}
	var w wireUser
	if err := decode(op, rep, &w); err != nil {
		// Created, but the reply is unreadable: the caller must look.
		var e *Error
		errors.As(err, &e)
		e.Kind = ErrOutcomeUnknown
		return User{}, e
	}
	out := w.user()
	if len(out.Groups) == 0 && len(u.Groups) > 0 {
		out.Groups = slices.Clone(u.Groups) // the 201 reply does not expand Groups
	}
	return out, nil
}

// UpdateUser PATCHes only the fields set in p (204). Groups, when non-nil,
// is the complete membership list. An empty patch sends nothing. PATCH sets
// absolute values, so it is retried on 5xx and timeouts.
func (x *XAPI) UpdateUser(ctx context.Context, id int32, p UserPatch) error {
	body := map[string]any{}
	setStr := func(k string, v *string) {
		if v != nil {
			body[k] = *v
		}
	}
	setBool := func(k string, v *bool) {
		if v != nil {
			body[k] = *v
		}
	}
	setStr("FirstName", p.FirstName)
	setStr("LastName", p.LastName)
	setStr("EmailAddress", p.EmailAddress)
	setStr("Mobile", p.Mobile)
	setStr("OutboundCallerID", p.OutboundCallerID)
	setBool("Enabled", p.Enabled)
	setBool("MS365SignInEnabled", p.MS365SignInEnabled)
	setStr("CurrentProfileName", p.CurrentProfileName)
	setStr("ContactImage", p.ContactImage)
	if p.Groups != nil {
		body["Groups"] = wireGroups(p.Groups)
	}
	if len(body) == 0 {
		return nil
	}
	return x.patch(ctx, fmt.Sprintf("update user %d", id), entity("Users", id), body)
}

func (x *XAPI) patch(ctx context.Context, op, path string, body any) error {
	_, err := x.do(ctx, request{op: op, method: http.MethodPatch, path: path, body: body})
	return err
}

// DeleteUser deletes one extension (DELETE /Users({Id}) → 204). It is
// retried; a 404 after a repeated attempt counts as done, a 404 on the first
// is ErrNotFound.
func (x *XAPI) DeleteUser(ctx context.Context, id int32) error {
	_, err := x.do(ctx, request{op: fmt.Sprintf("delete user %d", id), method: http.MethodDelete,
		path: entity("Users", id), goneOK: true})
	return err
}

// DeleteUsers deletes several extensions with Users/Pbx.BatchDelete. The
// PBX reports refusals per extension; they come back joined, each an *Error.
// Not retried once sent (a lost reply is ErrOutcomeUnknown).
func (x *XAPI) DeleteUsers(ctx context.Context, ids []int32) error {
	if len(ids) == 0 {
		return nil
	}
	op := fmt.Sprintf("delete %d users", len(ids))
	rep, err := x.do(ctx, request{op: op, method: http.MethodPost, path: "Users/Pbx.BatchDelete",
		body: map[string]any{"ids": ids}, policy: retryUnsentOnly})
	if err != nil {
		return err
	}
	var res collection[struct {
		Error           string `json:"Error"`
		ExtensionNumber string `json:"ExtensionNumber"`
	}]
	if len(rep.body) > 0 {
		if err := decode(op, rep, &res); err != nil {
			return err
		}
	}
	var errs []error
	for _, r := range res.Value {
		if r.Error == "" {
			continue
		}
		what := op
		if r.ExtensionNumber != "" {
			what = "delete user " + r.ExtensionNumber
		}
		errs = append(errs, &Error{Op: what, Status: rep.status,
			Kind: kindOf(http.StatusBadRequest, r.Error), Warning: r.Error, Message: r.Error})
	}
	return errors.Join(errs...)
}

// FirstAvailableNumber asks the PBX for its next free extension number
// (Users/Pbx.GetFirstAvailableExtensionNumber()). It is not reserved.
func (x *XAPI) FirstAvailableNumber(ctx context.Context) (string, error) {
	var r struct {
		Number string `json:"Number"`
	}
	if err := x.get(ctx, "first available number", "Users/Pbx.GetFirstAvailableExtensionNumber()", "", &r); err != nil {
		return "", err
	}
	return r.Number, nil
}

// RoleRank is the position of a 3CX role in Roles (higher is more); an
// unknown role ranks above every known one, so it is never lowered.
func RoleRank(role string) int {
	if i := slices.Index(Roles, strings.ToLower(role)); i >= 0 {
		return i
	}
	return len(Roles)
}

// WithMembership returns groups with membership of department groupID at
// role at least minRole: appended when missing, raised when lower, left
// alone when equal or higher. The other memberships are kept as they are.
// changed reports whether the list differs from groups, so the caller can
// skip the PATCH. The result is the complete list UserPatch.Groups expects.
func WithMembership(groups []Membership, groupID int32, groupName, minRole string) (merged []Membership, changed bool) {
	merged = slices.Clone(groups)
	for i, m := range merged {
		if m.GroupID != groupID {
			continue
		}
		if RoleRank(m.Role) >= RoleRank(minRole) {
			return merged, false
		}
		merged[i].Role = minRole
		return merged, true
	}
	return append(merged, Membership{GroupID: groupID, GroupName: groupName, Role: minRole}), true
}
