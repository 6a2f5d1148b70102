package pbxsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
)

var (
	rightsNav    = &navInfo{schema: rightsSchema}
	userGroupNav = &navInfo{schema: userGroupSchema, navs: map[string]*navInfo{"Rights": rightsNav, "GroupRights": rightsNav}}
	emptyNav     = &navInfo{schema: newSchema("Pbx.Item", map[string]prop{"Id": {kind: kKey}})}
	userNavs     = map[string]*navInfo{
		"Groups":               userGroupNav,
		"ForwardingProfiles":   {schema: forwardingProfileSchema},
		"ForwardingExceptions": emptyNav, "Greetings": emptyNav, "Phones": emptyNav,
	}
	numberRe       = regexp.MustCompile(`^[0-9]{2,10}$`)
	objectNumberRe = regexp.MustCompile(`^[A-Za-z0-9]{2,10}$`)
	emailRe        = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s.]+$`)
	pinRe          = regexp.MustCompile(`^[0-9]{4,10}$`)
)

func (s *Sim) serveUsers(c *reqCtx, segs []segment) *apiError {
	st := s.st
	m := c.r.Method
	switch {
	case len(segs) == 1 && !segs[0].hasArgs:
		return c.serveCollection(entitySet{name: "Users", sc: userSchema, navs: userNavs,
			rows: func(q *queryOpts) []row {
				// $filter and $orderby read the stored properties; only the
				// page is rendered, so paging a large PBX stays linear.
				var rows []row
				for _, u := range st.sortedUsers() {
					rows = append(rows, row{view: u.props, render: func() map[string]any { return st.userWire(u, q) }})
				}
				return rows
			},
			create: func(body map[string]json.RawMessage) (map[string]any, *apiError) {
				u, e := st.createUser(body, false)
				if e != nil {
					return nil, e
				}
				return st.userWire(u, nil), nil
			}})
	case len(segs) == 1:
		k, e := parseKey(segs[0].args)
		if e != nil {
			return e
		}
		u := st.users[k.id]
		if k.byNumber {
			u = st.userByNumber(k.number)
		}
		if u == nil {
			return notFound()
		}
		ops := entityOps{set: "Users", sc: userSchema, navs: userNavs,
			row: func(q *queryOpts) map[string]any { return st.userWire(u, q) }}
		if !k.byNumber { // the alternate key Number is read-only
			ops.patch = func(body map[string]json.RawMessage) *apiError { return st.patchUser(u, body) }
			ops.del = func() *apiError { st.deleteUser(u); return nil }
		}
		return c.serveEntity(ops)
	case len(segs) == 2 && !segs[0].hasArgs:
		switch segs[1].name {
		case "Pbx.BatchDelete":
			ids, e := c.actionIDs(segs[1])
			if e != nil {
				return e
			}
			errs := []any{}
			for _, id := range ids {
				u := st.users[id]
				if u == nil {
					errs = append(errs, map[string]any{"ExtensionNumber": "", "Error": WarnNotFound})
					continue
				}
				st.deleteUser(u)
			}
			writeJSON(c.w, http.StatusOK, map[string]any{"@odata.context": c.context("Collection(Pbx.UserDeleteError)"), "value": errs})
			return nil
		case "Pbx.GetFirstAvailableExtensionNumber":
			if !segs[1].hasArgs || segs[1].args != "" {
				return notFound()
			}
			if m != http.MethodGet {
				return methodNotAllowed(c.w, "GET")
			}
			n, ok := st.firstFreeNumber()
			if !ok {
				return warning(http.StatusBadRequest, "", WarnNoMoreNumbers)
			}
			writeJSON(c.w, http.StatusOK, map[string]any{"@odata.context": c.context("Pbx.FirstAvailableNumber"), "Number": n})
			return nil
		}
	case len(segs) == 2:
		k, e := parseKey(segs[0].args)
		if e != nil || k.byNumber {
			return notFound()
		}
		u := st.users[k.id]
		if u == nil {
			return notFound()
		}
		ctx := fmt.Sprintf("Users(%d)/%s", u.id, segs[1].name)
		switch {
		case segs[1].name == "Groups" && !segs[1].hasArgs:
			return c.serveCollection(entitySet{name: ctx, sc: userGroupSchema, navs: userGroupNav.navs, rows: plain(func(q *queryOpts) []map[string]any {
				var rows []map[string]any
				for _, mem := range u.groups {
					rows = append(rows, st.membershipWire(u, mem, &queryOpts{expand: q.expand, top: -1, skip: -1}))
				}
				return rows
			})})
		case segs[1].name == "ForwardingProfiles" && !segs[1].hasArgs:
			return c.serveCollection(entitySet{name: ctx, sc: forwardingProfileSchema, rows: plain(func(*queryOpts) []map[string]any {
				var rows []map[string]any
				for _, p := range u.profiles {
					rows = append(rows, wire(forwardingProfileSchema, p.id, p.props))
				}
				return rows
			})})
		case segs[1].name == "Pbx.HasDuplicatedEmail" && segs[1].hasArgs && segs[1].args == "":
			if m != http.MethodGet {
				return methodNotAllowed(c.w, "GET")
			}
			dup := st.emailOwner(u.email(), u.id) != nil
			writeJSON(c.w, http.StatusOK, map[string]any{"@odata.context": c.context("Edm.Boolean"), "value": dup})
			return nil
		}
	}
	return &apiError{status: http.StatusNotFound, empty: true}
}

// clone copies a user record so a write can be validated before it commits.
func (u *userRec) clone() *userRec {
	cp := &userRec{id: u.id, props: deepCopy(u.props).(map[string]any)}
	cp.groups = append([]memberRec(nil), u.groups...)
	for _, p := range u.profiles {
		cp.profiles = append(cp.profiles, profileRec{id: p.id, props: deepCopy(p.props).(map[string]any)})
	}
	return cp
}

// createUser validates and stores a new user. seeding bypasses the licence
// limit and the EmailAddress rule (imported legacy data can hold duplicate
// addresses; 3CX has HasDuplicatedEmail for them).
func (st *state) createUser(body map[string]json.RawMessage, seeding bool) (*userRec, *apiError) {
	vals, e := userSchema.decode(body)
	if e != nil {
		return nil, e
	}
	if id, ok := vals["Id"]; ok && asInt(id) != 0 {
		return nil, warning(http.StatusBadRequest, "Id", WarnInvalid)
	}
	if !seeding && st.maxUsers > 0 && len(st.users) >= st.maxUsers {
		return nil, warning(http.StatusBadRequest, "", WarnLimitReached)
	}
	number, given := vals["Number"]
	if !given || number == nil {
		n, ok := st.firstFreeNumber()
		if !ok {
			return nil, warning(http.StatusBadRequest, "Number", WarnNoMoreNumbers)
		}
		number = n
	}
	num := number.(string)
	if num == "" {
		return nil, warning(http.StatusBadRequest, "Number", WarnEmptyString)
	}
	if !numberRe.MatchString(num) {
		return nil, warning(http.StatusBadRequest, "Number", WarnInvalid)
	}
	if _, taken := st.numbers[num]; taken {
		return nil, warning(http.StatusBadRequest, "Number", WarnAlreadyInUse)
	}
	saved := st.counters()
	u := st.newUserRec(num)
	delete(vals, "Id")
	delete(vals, "Number")
	if _, ok := vals["Groups"]; !ok {
		vals["Groups"] = json.RawMessage("[]")
	}
	nu, e := st.applyUser(u, vals, seeding)
	if e != nil {
		st.restore(saved) // nothing was created: no Id is used up
		return nil, e
	}
	st.users[nu.id] = nu
	st.numbers[num] = "Extension"
	st.userNumbers[num] = nu.id
	st.indexUser(nu, true)
	return nu, nil
}

// patchUser applies a partial update: all or nothing.
func (st *state) patchUser(u *userRec, body map[string]json.RawMessage) *apiError {
	vals, e := userSchema.decode(body)
	if e != nil {
		return e
	}
	if id, ok := vals["Id"]; ok && int32(asInt(id)) != u.id {
		return warning(http.StatusBadRequest, "Id", WarnForbiddenChange)
	}
	if n, ok := vals["Number"]; ok && n != u.props["Number"] {
		return warning(http.StatusBadRequest, "Number", WarnForbiddenChange)
	}
	delete(vals, "Id")
	delete(vals, "Number")
	saved := st.counters()
	nu, e := st.applyUser(u.clone(), vals, false)
	if e != nil {
		st.restore(saved)
		return e
	}
	st.indexUser(u, false)
	st.users[u.id] = nu
	st.indexUser(nu, true)
	return nil
}

// applyUser validates vals and applies them to u (a fresh or cloned record).
func (st *state) applyUser(u *userRec, vals map[string]any, seeding bool) (*userRec, *apiError) {
	if v, ok := vals["EmailAddress"]; ok {
		email := asString(v)
		if email != "" && !emailRe.MatchString(email) {
			return nil, warning(http.StatusBadRequest, "EmailAddress", WarnInvalid)
		}
		if !seeding && st.emailOwner(email, u.id) != nil {
			return nil, warning(http.StatusBadRequest, "EmailAddress", WarnAlreadyInUse)
		}
		vals["EmailAddress"] = email
	}
	if v, ok := vals["VMPIN"]; ok && v != nil && !pinRe.MatchString(v.(string)) {
		return nil, warning(http.StatusBadRequest, "VMPIN", WarnInvalidPIN)
	}
	if raw, ok := vals["ForwardingProfiles"]; ok {
		if e := st.applyProfiles(u, raw.(json.RawMessage)); e != nil {
			return nil, e
		}
	}
	if v, ok := vals["CurrentProfileName"]; ok {
		if !slices.ContainsFunc(u.profiles, func(p profileRec) bool { return v != nil && p.props["Name"] == v }) {
			return nil, warning(http.StatusBadRequest, "CurrentProfileName", WarnInvalid)
		}
	}
	for _, n := range []string{"ForwardingExceptions", "Greetings", "Phones"} {
		if raw, ok := vals[n]; ok {
			var list []json.RawMessage
			if json.Unmarshal(raw.(json.RawMessage), &list) != nil || len(list) > 0 {
				return nil, bodyError("The simulator does not model %s; send it empty or not at all.", n)
			}
		}
	}
	if raw, ok := vals["Groups"]; ok {
		if e := st.applyGroups(u, raw.(json.RawMessage)); e != nil {
			return nil, e
		}
	}
	for k, v := range vals {
		switch k {
		case "Groups", "ForwardingProfiles", "ForwardingExceptions", "Greetings", "Phones", "DisplayName", "IsRegistered":
			// navigation properties are applied above; DisplayName is
			// computed and IsRegistered reflects phones, so writes are ignored.
		default:
			u.props[k] = v
		}
	}
	if pg, ok := vals["PrimaryGroupId"]; ok && pg != nil {
		if !slices.ContainsFunc(u.groups, func(m memberRec) bool { return int64(m.groupID) == asInt(pg) }) {
			return nil, warning(http.StatusBadRequest, "PrimaryGroupId", WarnInvalid)
		}
	}
	if pg := int32(asInt(u.props["PrimaryGroupId"])); !slices.ContainsFunc(u.groups, func(m memberRec) bool { return m.groupID == pg }) {
		u.props["PrimaryGroupId"] = int64(u.groups[0].groupID)
	}
	u.props["DisplayName"] = displayName(asString(u.props["FirstName"]), asString(u.props["LastName"]))
	return u, nil
}

// applyGroups replaces the user's memberships with the list in raw. An
// entry names its department by GroupId and its role by Rights.RoleName
// (default: the current role in that department, else users). An empty list
// puts the user back into DEFAULT as users, since every extension belongs to
// a department.
func (st *state) applyGroups(u *userRec, raw json.RawMessage) *apiError {
	list, e := decodeList(raw, "Groups", userGroupSchema)
	if e != nil {
		return e
	}
	var out []memberRec
	for _, v := range list {
		gid, ok := v["GroupId"]
		if !ok || gid == nil {
			return warning(http.StatusBadRequest, "GroupId", WarnRequired)
		}
		g := st.groupByID(int32(asInt(gid)))
		if g == nil {
			return warning(http.StatusBadRequest, "GroupId", WarnNotFound)
		}
		if slices.ContainsFunc(out, func(m memberRec) bool { return m.groupID == g.id }) {
			return warning(http.StatusBadRequest, "Groups", WarnDuplicate)
		}
		mem := st.membershipIn(u, g.id)
		if r, ok := v["Rights"].(map[string]any); ok {
			role := asString(r["RoleName"])
			if !contains(roleNames, role) {
				return warning(http.StatusBadRequest, "RoleName", WarnInvalid)
			}
			mem.role = role
		}
		out = append(out, mem)
	}
	if len(out) == 0 {
		out = append(out, st.membershipIn(u, st.defaultGroup().id))
	}
	u.groups = out
	return nil
}

// membershipIn is the user's current membership of a department, or a new
// one with role users.
func (st *state) membershipIn(u *userRec, groupID int32) memberRec {
	if i := slices.IndexFunc(u.groups, func(m memberRec) bool { return m.groupID == groupID }); i >= 0 {
		return u.groups[i]
	}
	m := memberRec{id: st.nextMember, groupID: groupID, role: "users"}
	st.nextMember++
	return m
}

// applyProfiles updates forwarding profiles named by Id or Name; the Name of
// a profile cannot change.
func (st *state) applyProfiles(u *userRec, raw json.RawMessage) *apiError {
	list, e := decodeList(raw, "ForwardingProfiles", forwardingProfileSchema)
	if e != nil {
		return e
	}
	for _, v := range list {
		i := -1
		if id, ok := v["Id"]; ok && id != nil {
			i = slices.IndexFunc(u.profiles, func(p profileRec) bool { return int64(p.id) == asInt(id) })
		} else if name, ok := v["Name"]; ok {
			i = slices.IndexFunc(u.profiles, func(p profileRec) bool { return p.props["Name"] == name })
		}
		if i < 0 {
			return warning(http.StatusBadRequest, "ForwardingProfiles", WarnNotFound)
		}
		if name, ok := v["Name"]; ok && name != u.profiles[i].props["Name"] {
			return warning(http.StatusBadRequest, "Name", WarnForbiddenChange)
		}
		delete(v, "Id")
		mergeInto(u.profiles[i].props, v)
	}
	return nil
}

// counters are the id sequences, saved so a refused write uses up no ids
// and a run with refused writes ends in the same state as one without.
type counters struct{ dn, member, profile, contact int32 }

func (st *state) counters() counters {
	return counters{st.nextDN, st.nextMember, st.nextProfile, st.nextContact}
}

func (st *state) restore(c counters) {
	st.nextDN, st.nextMember, st.nextProfile, st.nextContact = c.dn, c.member, c.profile, c.contact
}

func (st *state) deleteUser(u *userRec) {
	st.indexUser(u, false)
	delete(st.users, u.id)
	delete(st.numbers, u.number())
	delete(st.userNumbers, u.number())
	st.contacts.removeOwner(u.number())
}
