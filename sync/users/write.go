package users

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/pbx365/pbx365/pbxclient"
	"github.com/pbx365/pbx365/sync/plan"
	"github.com/pbx365/pbx365/sync/progress"
)

const (
	defaultConcurrency = 8
	defaultDepartment  = "Azure AD"
	fieldDepartment    = "Department"
	roleUsers          = "users"
)

// leftAt is when the change's user left scope, as the plan says (now when it
// does not).
func leftAt(c plan.Change, now time.Time) time.Time {
	if !c.LeftAt.IsZero() {
		return c.LeftAt
	}
	return now
}

func hasField(c plan.Change, name string) bool {
	for _, f := range c.Fields {
		if f.Field == name {
			return true
		}
	}
	return false
}

// apply writes one change: intent, PBX write, settlement.
func (a *applier) apply(ctx context.Context, c plan.Change) progress.Item {
	e := a.e
	it := progress.Item{Action: c.Action, ObjectID: c.ObjectID, UPN: c.UPN, Number: c.Number}
	in := Intent{RunID: a.runID, Action: c.Action, ObjectID: c.ObjectID, UPN: c.UPN, Number: c.Number, PBXUserID: c.PBXUserID}
	if c.Desired != nil {
		in.Email = c.Desired.EmailAddress
	}
	var reserve *plan.Link
	if c.Action == plan.ActCreate {
		reserve = &plan.Link{ObjectID: c.ObjectID, Number: c.Number}
	}
	id, err := e.State.PutIntent(in, reserve)
	if err != nil {
		it.Err = fmt.Sprintf("store intent: %v", err)
		return it
	}
	in.ID = id

	link, err := a.write(ctx, c)
	item := &AuditItem{RunID: a.runID, Time: e.now(), ObjectID: c.ObjectID, UPN: c.UPN, Number: c.Number,
		Action: c.Action, Rule: c.Rule, Before: before(c), After: after(c)}
	st := Settlement{IntentID: id, Item: item}
	switch {
	case err == nil:
		item.OK, st.Outcome, st.Link = true, "ok", link
		if link != nil {
			item.Number = link.Number
			it.Number = link.Number
		}
	case errors.Is(err, pbxclient.ErrOutcomeUnknown):
		// Leave the intent open: the next run looks the extension up.
		e.log().Warn("PBX write outcome unknown; the next run settles it", "action", c.Action, "number", c.Number, "err", err)
		it.Err = err.Error() + " (the next run looks it up)"
		return it
	default:
		item.Err, st.Outcome = err.Error(), "failed"
		if c.Action == plan.ActCreate {
			st.DropLink = c.ObjectID // the reservation: the create definitely did not happen
		}
	}
	if serr := e.State.Settle(st); serr != nil {
		it.Err = fmt.Sprintf("settle: %v", serr)
		if err != nil {
			it.Err = err.Error() + "; " + it.Err
		}
		return it
	}
	it.OK = err == nil
	if err != nil {
		it.Err = err.Error()
	}
	return it
}

// write performs the PBX side of one change and returns the link to store.
func (a *applier) write(ctx context.Context, c plan.Change) (*plan.Link, error) {
	pbx := a.e.PBX
	old, linked := a.links[c.ObjectID]
	switch c.Action {
	case plan.ActCreate, plan.ActRecreate:
		if c.Desired == nil {
			return nil, errors.New("plan change has no desired state")
		}
		nu := a.newUser(c)
		u, err := pbx.CreateUser(ctx, nu)
		if errors.Is(err, pbxclient.ErrOutcomeUnknown) {
			found, ok, lerr := a.lookup(ctx, c.Number, nu.EmailAddress)
			switch {
			case lerr != nil:
				return nil, err
			case ok:
				u, err = found, nil
			default:
				u, err = pbx.CreateUser(ctx, nu) // looked: it did not happen
			}
		}
		if err != nil {
			return nil, fmt.Errorf("create extension %s: %w", c.Number, err)
		}
		l := plan.Link{ObjectID: c.ObjectID, PBXUserID: u.ID, Number: u.Number}
		if c.Desired.PhotoETag != "" {
			l.PhotoETag = c.Desired.PhotoETag
		}
		return &l, nil
	case plan.ActAdopt:
		if err := a.patch(ctx, c, c.PBXUserID, nil); err != nil {
			return nil, fmt.Errorf("adopt extension %s: %w", c.Number, err)
		}
		l := plan.Link{ObjectID: c.ObjectID, PBXUserID: c.PBXUserID, Number: c.Number}
		if c.Desired != nil && hasField(c, "Photo") {
			l.PhotoETag = c.Desired.PhotoETag
		}
		return &l, nil
	case plan.ActUpdate:
		if err := a.patch(ctx, c, c.PBXUserID, nil); err != nil {
			return nil, fmt.Errorf("update extension %s: %w", c.Number, err)
		}
		if linked && c.Desired != nil && c.Desired.PhotoETag != old.PhotoETag && hasField(c, "Photo") {
			l := old
			l.PhotoETag = c.Desired.PhotoETag
			return &l, nil
		}
		return nil, nil
	case plan.ActEnable:
		t := true
		if err := a.patch(ctx, c, c.PBXUserID, &t); err != nil {
			return nil, fmt.Errorf("re-enable extension %s: %w", c.Number, err)
		}
		l := old
		l.LeftAt, l.Disabled = time.Time{}, false
		return &l, nil
	case plan.ActDisable:
		f := false
		if err := pbx.UpdateUser(ctx, c.PBXUserID, pbxclient.UserPatch{Enabled: &f}); err != nil {
			return nil, fmt.Errorf("disable extension %s: %w", c.Number, err)
		}
		l := old
		if !linked {
			l = plan.Link{ObjectID: c.ObjectID, PBXUserID: c.PBXUserID, Number: c.Number}
		}
		if l.LeftAt.IsZero() {
			l.LeftAt = leftAt(c, a.e.now())
		}
		l.Disabled = true
		return &l, nil
	case plan.ActDelete:
		if err := pbx.DeleteUser(ctx, c.PBXUserID); err != nil && !errors.Is(err, pbxclient.ErrNotFound) {
			return nil, fmt.Errorf("delete extension %s: %w", c.Number, err)
		}
		// The link stays: the number is never reused.
		if linked && old.LeftAt.IsZero() {
			l := old
			l.LeftAt = leftAt(c, a.e.now())
			return &l, nil
		}
		return nil, nil
	}
	return nil, fmt.Errorf("cannot apply action %q", c.Action)
}

func (a *applier) newUser(c plan.Change) pbxclient.NewUser {
	d := c.Desired
	nu := pbxclient.NewUser{Number: c.Number, FirstName: d.FirstName, LastName: d.LastName, EmailAddress: d.EmailAddress,
		Mobile: d.Mobile, Enabled: true, MS365SignInEnabled: d.SetSSO && d.MS365SignInEnabled}
	if d.SetCallerID {
		nu.OutboundCallerID = d.OutboundCallerID
	}
	if a.hasDept {
		nu.Groups = []pbxclient.Membership{{GroupID: a.dept.ID, GroupName: a.dept.Name, Role: roleUsers}}
	}
	return nu
}

// patch sends the changed owned fields of c (and enabled, when set).
func (a *applier) patch(ctx context.Context, c plan.Change, id int32, enabled *bool) error {
	var p pbxclient.UserPatch
	d := c.Desired
	n := 0
	if d != nil {
		for _, f := range c.Fields {
			n++
			switch f.Field {
			case "FirstName":
				p.FirstName = &d.FirstName
			case "LastName":
				p.LastName = &d.LastName
			case "EmailAddress":
				p.EmailAddress = &d.EmailAddress
			case "Mobile":
				p.Mobile = &d.Mobile
			case "OutboundCallerID":
				p.OutboundCallerID = &d.OutboundCallerID
			case "Enabled":
				p.Enabled = &d.Enabled
			case "MS365SignInEnabled":
				p.MS365SignInEnabled = &d.MS365SignInEnabled
			case fieldDepartment:
				if a.hasDept {
					if merged, changed := pbxclient.WithMembership(a.pbx[id].Groups, a.dept.ID, a.dept.Name, roleUsers); changed {
						p.Groups = merged
					} else {
						n--
					}
				}
			default:
				n-- // e.g. Photo: the PBX has no upload route
			}
		}
	}
	if enabled != nil {
		p.Enabled = enabled
		n++
	}
	if n == 0 {
		return nil
	}
	return a.e.PBX.UpdateUser(ctx, id, p)
}

// lookup finds the extension with this number and email, if it exists.
func (a *applier) lookup(ctx context.Context, number, email string) (pbxclient.User, bool, error) {
	return lookupExtension(ctx, a.e.PBX, number, email)
}

func lookupExtension(ctx context.Context, pbx pbxclient.Port, number, email string) (pbxclient.User, bool, error) {
	us, err := pbx.FindUsers(ctx, number, email)
	if err != nil {
		return pbxclient.User{}, false, fmt.Errorf("look up extension %s: %w", number, err)
	}
	for _, u := range us {
		if u.Number == number && (email == "" || lowerEq(u.EmailAddress, email)) {
			return u, true, nil
		}
	}
	return pbxclient.User{}, false, nil
}

func before(c plan.Change) map[string]string {
	if len(c.Fields) == 0 {
		return nil
	}
	m := make(map[string]string, len(c.Fields))
	for _, f := range c.Fields {
		m[f.Field] = f.Old
	}
	return m
}

func after(c plan.Change) map[string]string {
	m := map[string]string{}
	for _, f := range c.Fields {
		m[f.Field] = f.New
	}
	if c.Number != "" {
		m["Number"] = c.Number
	}
	switch c.Action {
	case plan.ActDisable:
		m["Enabled"] = strconv.FormatBool(false)
	case plan.ActEnable:
		m["Enabled"] = strconv.FormatBool(true)
	}
	return m
}
