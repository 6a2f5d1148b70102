package pbxsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

var groupNavs = map[string]*navInfo{
	"Members":        userGroupNav,
	"Rights":         rightsNav,
	"OfficeHolidays": emptyNav,
}

func (s *Sim) serveGroups(c *reqCtx, segs []segment) *apiError {
	st := s.st
	m := c.r.Method
	switch {
	case len(segs) == 1 && !segs[0].hasArgs:
		return c.serveCollection(entitySet{name: "Groups", sc: groupSchema, navs: groupNavs,
			rows: plain(func(q *queryOpts) []map[string]any {
				var rows []map[string]any
				for _, g := range st.groups {
					rows = append(rows, st.groupWire(g, q))
				}
				return rows
			}),
			create: func(body map[string]json.RawMessage) (map[string]any, *apiError) {
				g, e := st.createGroup(body)
				if e != nil {
					return nil, e
				}
				return st.groupWire(g, nil), nil
			}})
	case len(segs) == 1:
		id, e := parseIDKey(segs[0].args)
		if e != nil {
			return e
		}
		g := st.groupByID(id)
		if g == nil {
			return notFound()
		}
		return c.serveEntity(entityOps{set: "Groups", sc: groupSchema, navs: groupNavs,
			row:   func(q *queryOpts) map[string]any { return st.groupWire(g, q) },
			patch: func(body map[string]json.RawMessage) *apiError { return st.patchGroup(g, body) },
			del:   func() *apiError { return st.deleteGroup(g) }})
	case len(segs) == 2 && !segs[0].hasArgs && segs[1].name == "Pbx.DeleteCompanyById" && !segs[1].hasArgs:
		if m != http.MethodPost {
			return methodNotAllowed(c.w, "POST")
		}
		p, e := actionParams(c, "id")
		if e != nil {
			return e
		}
		var id int32
		if json.Unmarshal(p["id"], &id) != nil {
			return bodyError("The parameter 'id' must be an Edm.Int32.")
		}
		g := st.groupByID(id)
		if g == nil {
			return notFound()
		}
		if e := st.deleteGroup(g); e != nil {
			return e
		}
		c.w.WriteHeader(http.StatusNoContent)
		return nil
	case len(segs) == 2 && segs[0].hasArgs && !segs[1].hasArgs:
		k, e := parseKey(segs[0].args)
		if e != nil || k.byNumber {
			return notFound()
		}
		g := st.groupByID(k.id)
		if g == nil {
			return notFound()
		}
		ctx := fmt.Sprintf("Groups(%d)/%s", g.id, segs[1].name)
		switch segs[1].name {
		case "Members":
			return c.serveCollection(entitySet{name: ctx, sc: userGroupSchema, navs: userGroupNav.navs,
				rows: plain(func(q *queryOpts) []map[string]any {
					return asRows(st.groupMembers(g, &queryOpts{expand: q.expand, top: -1, skip: -1}))
				})})
		case "Rights":
			return c.serveCollection(entitySet{name: ctx, sc: rightsSchema,
				rows: plain(func(*queryOpts) []map[string]any { return asRows(rightsList(g, nil)) })})
		}
	}
	return &apiError{status: http.StatusNotFound, empty: true}
}

// createGroup adds a department. Name is required and unique
// (case-insensitively); Number is assigned by the PBX (a Number in the body is
// ignored, as 3CX's NUMBER_IGNORED warning suggests).
func (st *state) createGroup(body map[string]json.RawMessage) (*groupRec, *apiError) {
	vals, e := groupSchema.decode(body)
	if e != nil {
		return nil, e
	}
	if id, ok := vals["Id"]; ok && asInt(id) != 0 {
		return nil, warning(http.StatusBadRequest, "Id", WarnInvalid)
	}
	name := strings.TrimSpace(asString(vals["Name"]))
	if name == "" {
		return nil, warning(http.StatusBadRequest, "Name", WarnRequired)
	}
	if st.groupByName(name) != nil {
		return nil, warning(http.StatusBadRequest, "Name", WarnAlreadyInUse)
	}
	if asBool(vals["IsDefault"]) {
		return nil, warning(http.StatusBadRequest, "IsDefault", WarnForbiddenChange)
	}
	saved := st.counters()
	g := st.addGroup(name, false)
	if e := st.applyGroup(g, vals); e != nil {
		st.groups = st.groups[:len(st.groups)-1]
		st.restore(saved)
		return nil, e
	}
	return g, nil
}

func (st *state) patchGroup(g *groupRec, body map[string]json.RawMessage) *apiError {
	vals, e := groupSchema.decode(body)
	if e != nil {
		return e
	}
	if id, ok := vals["Id"]; ok && int32(asInt(id)) != g.id {
		return warning(http.StatusBadRequest, "Id", WarnForbiddenChange)
	}
	if n, ok := vals["Number"]; ok && n != g.props["Number"] {
		return warning(http.StatusBadRequest, "Number", WarnForbiddenChange)
	}
	if d, ok := vals["IsDefault"]; ok && d != g.props["IsDefault"] {
		return warning(http.StatusBadRequest, "IsDefault", WarnForbiddenChange)
	}
	if n, ok := vals["Name"]; ok {
		name := strings.TrimSpace(asString(n))
		if name == "" {
			return warning(http.StatusBadRequest, "Name", WarnRequired)
		}
		if o := st.groupByName(name); o != nil && o != g {
			return warning(http.StatusBadRequest, "Name", WarnAlreadyInUse)
		}
		vals["Name"] = name
	}
	saved := st.counters()
	cp := &groupRec{id: g.id, props: deepCopy(g.props).(map[string]any), rights: g.rights}
	if e := st.applyGroup(cp, vals); e != nil {
		st.restore(saved)
		return e
	}
	g.props = cp.props
	return nil
}

// applyGroup applies decoded values; Members (a full replacement list of
// {Number, Rights{RoleName}}) is applied to the users last, once everything
// else validated.
func (st *state) applyGroup(g *groupRec, vals map[string]any) *apiError {
	var members []memberChange
	if raw, ok := vals["Members"]; ok {
		var e *apiError
		if members, e = st.parseMembers(raw.(json.RawMessage)); e != nil {
			return e
		}
	}
	for _, n := range []string{"Rights", "OfficeHolidays"} {
		if raw, ok := vals[n]; ok {
			var list []json.RawMessage
			if json.Unmarshal(raw.(json.RawMessage), &list) != nil || len(list) > 0 {
				return bodyError("The simulator does not model writes of %s; send it empty or not at all.", n)
			}
		}
	}
	for k, v := range vals {
		switch k {
		case "Id", "Number", "IsDefault", "HasMembers", "Members", "Rights", "OfficeHolidays", "Groups":
		case "Props":
			p, _ := g.props["Props"].(map[string]any)
			if p == nil {
				p = map[string]any{}
				g.props["Props"] = p
			}
			mergeInto(p, v.(map[string]any))
		default:
			g.props[k] = v
		}
	}
	if _, ok := vals["Members"]; ok {
		st.replaceMembers(g, members)
	}
	return nil
}

type memberChange struct {
	user *userRec
	role string // "" keeps the current role (users when new)
}

func (st *state) parseMembers(raw json.RawMessage) ([]memberChange, *apiError) {
	list, e := decodeList(raw, "Members", userGroupSchema)
	if e != nil {
		return nil, e
	}
	var out []memberChange
	for _, v := range list {
		num := asString(v["Number"])
		if num == "" {
			return nil, warning(http.StatusBadRequest, "Number", WarnRequired)
		}
		u := st.userByNumber(num)
		if u == nil {
			return nil, warning(http.StatusBadRequest, "Number", WarnNonExistentExt)
		}
		if slices.ContainsFunc(out, func(m memberChange) bool { return m.user == u }) {
			return nil, warning(http.StatusBadRequest, "Members", WarnDuplicate)
		}
		mc := memberChange{user: u}
		if r, ok := v["Rights"].(map[string]any); ok {
			mc.role = asString(r["RoleName"])
			if !contains(roleNames, mc.role) {
				return nil, warning(http.StatusBadRequest, "RoleName", WarnInvalid)
			}
		}
		out = append(out, mc)
	}
	return out, nil
}

// replaceMembers makes the group's members exactly the list. A user removed
// from its only department goes back to DEFAULT as users.
func (st *state) replaceMembers(g *groupRec, list []memberChange) {
	for _, u := range st.sortedUsers() {
		i := slices.IndexFunc(list, func(m memberChange) bool { return m.user == u })
		j := slices.IndexFunc(u.groups, func(m memberRec) bool { return m.groupID == g.id })
		switch {
		case i >= 0 && j >= 0:
			if list[i].role != "" {
				u.groups[j].role = list[i].role
			}
		case i >= 0:
			role := list[i].role
			if role == "" {
				role = "users"
			}
			u.groups = append(u.groups, memberRec{id: st.nextMember, groupID: g.id, role: role})
			st.nextMember++
		case j >= 0 && len(u.groups) == 1 && asBool(g.props["IsDefault"]):
			// the last membership of a user cannot leave DEFAULT
		case j >= 0:
			u.groups = slices.Delete(u.groups, j, j+1)
			if len(u.groups) == 0 {
				d := st.defaultGroup()
				u.groups = []memberRec{{id: st.nextMember, groupID: d.id, role: "users"}}
				st.nextMember++
			}
			if int32(asInt(u.props["PrimaryGroupId"])) == g.id {
				u.props["PrimaryGroupId"] = int64(u.groups[0].groupID)
			}
		}
	}
}

func (st *state) deleteGroup(g *groupRec) *apiError {
	if asBool(g.props["IsDefault"]) {
		return warning(http.StatusBadRequest, "", WarnGroupCannotDelete)
	}
	if st.groupHasMembers(g.id) {
		return warning(http.StatusBadRequest, "", WarnGroupHasMembers)
	}
	st.groups = slices.DeleteFunc(st.groups, func(x *groupRec) bool { return x == g })
	return nil
}

func asRows(list []any) []map[string]any {
	rows := make([]map[string]any, 0, len(list))
	for _, r := range list {
		rows = append(rows, r.(map[string]any))
	}
	return rows
}
