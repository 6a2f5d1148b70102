package pbxsim

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"
)

// Snapshot is the whole PBX state at one moment. Two snapshots compare with
// reflect.DeepEqual or Diff; WithoutIDs drops the server-assigned ids so a run
// that crashed and resumed can be compared with a clean run.
type Snapshot struct {
	Users       []User       `json:"users"`       // by Number
	Departments []Department `json:"departments"` // by Name
	Contacts    []Contact    `json:"contacts"`    // by Owner, then creation
	Numbered    []Numbered   `json:"numbered"`    // by Number
	M365        M365Settings `json:"m365"`
}

// Snapshot captures the current state.
func (s *Sim) Snapshot() Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	var snap Snapshot
	for _, u := range st.sortedUsers() {
		snap.Users = append(snap.Users, st.exportUser(u))
	}
	slices.SortFunc(snap.Users, func(a, b User) int { return cmp.Compare(a.Number, b.Number) })
	for _, g := range st.groups {
		snap.Departments = append(snap.Departments, Department{
			ID: g.id, Number: asString(g.props["Number"]), Name: g.name(), IsDefault: asBool(g.props["IsDefault"]),
			PersonalContactsMaxCount: g.quota("PersonalContactsMaxCount"), DepartmentContactsMaxCount: g.quota("DepartmentContactsMaxCount"),
		})
	}
	slices.SortFunc(snap.Departments, func(a, b Department) int { return cmp.Compare(a.Name, b.Name) })
	for _, c := range st.contacts.all() {
		snap.Contacts = append(snap.Contacts, exportContact(c))
	}
	slices.SortStableFunc(snap.Contacts, func(a, b Contact) int { return cmp.Compare(a.Owner, b.Owner) })
	for _, n := range st.numbered {
		snap.Numbered = append(snap.Numbered, Numbered{ID: n.id, Kind: n.kind, Number: asString(n.props["Number"]), Name: asString(n.props["Name"])})
	}
	slices.SortFunc(snap.Numbered, func(a, b Numbered) int { return cmp.Compare(a.Number, b.Number) })
	snap.M365 = st.exportM365()
	return snap
}

// WithoutIDs returns a copy with every server-assigned id zeroed and the
// orders that depend on ids made canonical (memberships by department name,
// contacts by owner and content). Department Numbers (GRP0001, ...) are kept.
func (snap Snapshot) WithoutIDs() Snapshot {
	out := Snapshot{M365: snap.M365}
	for _, u := range snap.Users {
		u.ID, u.PrimaryGroupID = 0, 0
		var groups []Membership
		for _, m := range u.Groups {
			groups = append(groups, Membership{GroupName: m.GroupName, Role: m.Role})
		}
		slices.SortFunc(groups, func(a, b Membership) int { return cmp.Compare(a.GroupName, b.GroupName) })
		u.Groups = groups
		var profiles []Profile
		for _, p := range u.Profiles {
			profiles = append(profiles, Profile{Name: p.Name, CustomName: p.CustomName})
		}
		u.Profiles = profiles
		out.Users = append(out.Users, u)
	}
	for _, d := range snap.Departments {
		d.ID = 0
		out.Departments = append(out.Departments, d)
	}
	for _, c := range snap.Contacts {
		c.ID = 0
		out.Contacts = append(out.Contacts, c)
	}
	slices.SortStableFunc(out.Contacts, func(a, b Contact) int {
		return cmp.Or(cmp.Compare(a.Owner, b.Owner), cmp.Compare(fmt.Sprintf("%+v", a), fmt.Sprintf("%+v", b)))
	})
	for _, n := range snap.Numbered {
		n.ID = 0
		out.Numbered = append(out.Numbered, n)
	}
	return out
}

// Diff lists the differences between two snapshots, one line each; empty
// when they are equal.
func (snap Snapshot) Diff(other Snapshot) []string {
	var out []string
	users := map[string][2]*User{}
	for i := range snap.Users {
		u := &snap.Users[i]
		users[u.Number] = [2]*User{u, nil}
	}
	for i := range other.Users {
		u := &other.Users[i]
		p := users[u.Number]
		p[1] = u
		users[u.Number] = p
	}
	numbers := mapKeys(users)
	slices.Sort(numbers)
	for _, n := range numbers {
		p := users[n]
		switch {
		case p[0] == nil:
			out = append(out, fmt.Sprintf("user %s: only in other: %+v", n, *p[1]))
		case p[1] == nil:
			out = append(out, fmt.Sprintf("user %s: missing in other: %+v", n, *p[0]))
		case !reflect.DeepEqual(*p[0], *p[1]):
			out = append(out, fmt.Sprintf("user %s:\n  %+v\n  %+v", n, *p[0], *p[1]))
		}
	}
	if !reflect.DeepEqual(snap.Departments, other.Departments) {
		out = append(out, fmt.Sprintf("departments:\n  %+v\n  %+v", snap.Departments, other.Departments))
	}
	if !reflect.DeepEqual(snap.Contacts, other.Contacts) {
		out = append(out, fmt.Sprintf("contacts:\n  %+v\n  %+v", snap.Contacts, other.Contacts))
	}
	if !reflect.DeepEqual(snap.Numbered, other.Numbered) {
		out = append(out, fmt.Sprintf("numbered objects:\n  %+v\n  %+v", snap.Numbered, other.Numbered))
	}
	if !reflect.DeepEqual(snap.M365, other.M365) {
		out = append(out, fmt.Sprintf("m365:\n  %+v\n  %+v", snap.M365, other.M365))
	}
	return out
}

func mapKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
