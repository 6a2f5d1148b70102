package plan

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pbx365/pbx365/graphclient"
	"github.com/pbx365/pbx365/pbxclient"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// member is an eligible directory user.
func member(id, upn, display string) graphclient.User {
	return graphclient.User{ID: id, UserPrincipalName: upn, Mail: upn, DisplayName: display, UserType: "Member", AccountEnabled: true}
}

// ext is a PBX extension that already matches what member(id, upn, display)
// wants (first/last name from the display name, in the default department).
func ext(id int32, number, email, display string) pbxclient.User {
	w := strings.Fields(display)
	x := pbxclient.User{ID: id, Number: number, EmailAddress: email, Enabled: true,
		Groups: []pbxclient.Membership{{GroupID: 7, GroupName: DefaultDepartment, Role: "users"}}}
	if len(w) > 0 {
		x.FirstName = w[0]
		x.LastName = strings.Join(w[1:], " ")
	}
	return x
}

func link(obj string, id int32, number string) Link {
	return Link{ObjectID: obj, PBXUserID: id, Number: number}
}

// baseInput is a full run with the range [100, 199].
func baseInput() Input {
	return Input{Full: true, Now: now, Settings: Settings{ExtStart: "100", ExtEnd: "199"}}
}

// changesFor returns the plan's changes for an object id.
func changesFor(p Plan, id string) []Change {
	var cs []Change
	for _, c := range p.Changes {
		if c.ObjectID == id {
			cs = append(cs, c)
		}
	}
	return cs
}

// one returns the only change for id, failing otherwise.
func one(t *testing.T, p Plan, id string) Change {
	t.Helper()
	cs := changesFor(p, id)
	if len(cs) != 1 {
		t.Fatalf("changes for %q: got %d, want 1:\n%s", id, len(cs), dump(p))
	}
	return cs[0]
}

func dump(p Plan) string {
	var b strings.Builder
	for _, c := range p.Changes {
		fmt.Fprintf(&b, "  %-8s %-6s %-10s %-22s %s %v\n", c.Action, c.Number, c.ObjectID, c.Rule, c.Reason, c.Fields)
	}
	if p.Guard != nil {
		fmt.Fprintf(&b, "  guard %s: %s\n", p.Guard.Kind, p.Guard.Message)
	}
	return b.String()
}

// isWrite reports whether an action writes to the PBX.
func isWrite(a Action) bool {
	return a != ActSkip && a != ActConflict
}

// writes returns the plan's PBX-writing changes.
func writes(p Plan) []Change {
	var cs []Change
	for _, c := range p.Changes {
		if isWrite(c.Action) {
			cs = append(cs, c)
		}
	}
	return cs
}

// applier models the engine applying a plan to the inputs: PBX users and
// numbers, and the link table. It writes exactly what each change says.
type applier struct {
	in     *Input
	nextID int32
}

func newApplier(in *Input) *applier {
	a := &applier{in: in, nextID: 1000}
	for _, x := range in.PBXUsers {
		a.nextID = max(a.nextID, x.ID+1)
	}
	return a
}

func (a *applier) pbx(id int32) *pbxclient.User {
	for i := range a.in.PBXUsers {
		if a.in.PBXUsers[i].ID == id {
			return &a.in.PBXUsers[i]
		}
	}
	return nil
}

func (a *applier) link(obj string) *Link {
	for i := range a.in.Links {
		if a.in.Links[i].ObjectID == obj {
			return &a.in.Links[i]
		}
	}
	return nil
}

func (a *applier) setFields(x *pbxclient.User, d *Desired, fs []FieldChange) {
	for _, f := range fs {
		switch f.Field {
		case FieldFirstName:
			x.FirstName = d.FirstName
		case FieldLastName:
			x.LastName = d.LastName
		case FieldEmailAddress:
			x.EmailAddress = d.EmailAddress
		case FieldMobile:
			x.Mobile = d.Mobile
		case FieldOutboundCallerID:
			x.OutboundCallerID = d.OutboundCallerID
		case FieldEnabled:
			x.Enabled = d.Enabled
		case FieldSSO:
			x.MS365SignInEnabled = d.MS365SignInEnabled
		case FieldDepartment:
			x.Groups = append(x.Groups, pbxclient.Membership{GroupID: 7, GroupName: d.Department, Role: "users"})
		}
	}
}

func (a *applier) apply(c Change) {
	in := a.in
	switch c.Action {
	case ActCreate, ActRecreate:
		x := pbxclient.User{ID: a.nextID, Number: c.Number}
		a.nextID++
		a.setFields(&x, c.Desired, c.Fields)
		in.PBXUsers = append(in.PBXUsers, x)
		in.NumbersInUse = append(in.NumbersInUse, pbxclient.NumberInUse{Number: c.Number, Kind: "user"})
		if l := a.link(c.ObjectID); l != nil {
			l.PBXUserID, l.LeftAt, l.Disabled, l.PhotoETag = x.ID, time.Time{}, false, c.Desired.PhotoETag
		} else {
			in.Links = append(in.Links, Link{ObjectID: c.ObjectID, PBXUserID: x.ID, Number: c.Number, PhotoETag: c.Desired.PhotoETag})
		}
	case ActAdopt:
		a.setFields(a.pbx(c.PBXUserID), c.Desired, c.Fields)
		in.Links = append(in.Links, Link{ObjectID: c.ObjectID, PBXUserID: c.PBXUserID, Number: c.Number, PhotoETag: c.Desired.PhotoETag})
	case ActUpdate, ActEnable:
		a.setFields(a.pbx(c.PBXUserID), c.Desired, c.Fields)
		l := a.link(c.ObjectID)
		if hasField(c.Fields, FieldPhoto) {
			l.PhotoETag = c.Desired.PhotoETag
		}
		if c.Action == ActEnable {
			l.LeftAt, l.Disabled = time.Time{}, false
		}
	case ActDisable:
		a.pbx(c.PBXUserID).Enabled = false
		l := a.link(c.ObjectID)
		l.Disabled = true
		if l.LeftAt.IsZero() {
			l.LeftAt = c.LeftAt
		}
	case ActDelete:
		in.PBXUsers = slices.DeleteFunc(in.PBXUsers, func(x pbxclient.User) bool { return x.ID == c.PBXUserID })
		in.NumbersInUse = slices.DeleteFunc(in.NumbersInUse, func(n pbxclient.NumberInUse) bool { return n.Number == c.Number })
		if l := a.link(c.ObjectID); l.LeftAt.IsZero() {
			l.LeftAt = c.LeftAt
		}
	case ActSkip:
		if l := a.link(c.ObjectID); l != nil && !c.LeftAt.IsZero() && l.LeftAt.IsZero() {
			l.LeftAt = c.LeftAt
		}
	}
}
