package pbxsim

import (
	"encoding/json"
	"net/http"
	"slices"
)

// serveM365 serves the Microsoft365Integration singleton. PATCH merges
// complex values (AdUsers, SharedMailboxesSync) property by property, the
// OData 4.01 rule for complex properties in a PATCH.
func (s *Sim) serveM365(c *reqCtx, segs []segment) *apiError {
	if len(segs) != 1 || segs[0].hasArgs {
		return &apiError{status: http.StatusNotFound, empty: true}
	}
	st := s.st
	return c.serveEntity(entityOps{set: "Microsoft365Integration", singleton: true, sc: m365Schema,
		row: func(*queryOpts) map[string]any { return deepCopy(st.m365).(map[string]any) },
		patch: func(body map[string]json.RawMessage) *apiError {
			vals, e := m365Schema.decode(body)
			if e != nil {
				return e
			}
			if id, ok := vals["Id"]; ok && asInt(id) != asInt(st.m365["Id"]) {
				return warning(http.StatusBadRequest, "Id", WarnForbiddenChange)
			}
			mergeInto(st.m365, vals)
			return nil
		}})
}

// numberedKinds maps an entity set to its kind and schema.
var numberedKinds = map[string]struct {
	kind string
	sc   *schema
}{
	"Queues":            {"Queue", queueSchema},
	"RingGroups":        {"RingGroup", ringGroupSchema},
	"Receptionists":     {"IVR", receptionistSchema},
	"Parkings":          {"Parking", parkingSchema},
	"Fax":               {"Fax", faxSchema},
	"Trunks":            {"Trunk", trunkSchema},
	"CallFlowApps":      {"CallFlowApp", callFlowSchema},
	"ServicePrincipals": {"ServicePrincipal", servicePrincipalSchema},
}

// peerType is the Pbx.PeerType of each numbered kind.
var peerType = map[string]string{
	"Queue": "Queue", "RingGroup": "RingGroup", "IVR": "IVR", "Parking": "Parking", "Fax": "Fax",
	"Trunk": "ExternalLine", "CallFlowApp": "RoutePoint", "ServicePrincipal": "RoutePoint",
}

// servePeers serves Peers, the directory of every numbered object (users,
// departments, queues, ring groups, IVRs, parkings, fax, trunks, call flow
// apps and API clients), read-only.
func (s *Sim) servePeers(c *reqCtx, segs []segment) *apiError {
	if len(segs) != 1 || segs[0].hasArgs {
		return &apiError{status: http.StatusNotFound, empty: true}
	}
	st := s.st
	return c.serveCollection(entitySet{name: "Peers", sc: peerSchema, navs: map[string]*navInfo{"MemberOf": emptyNav},
		rows: plain(func(q *queryOpts) []map[string]any {
			var rows []map[string]any
			add := func(id int32, number, name, typ string, tags any) {
				row := map[string]any{"Id": int64(id), "Number": number, "Name": name, "Type": typ, "Hidden": false, "Tags": tags}
				if q.isExpanded("MemberOf") {
					row["MemberOf"] = []any{}
				}
				rows = append(rows, row)
			}
			for _, g := range st.groups {
				add(g.id, asString(g.props["Number"]), g.name(), "Group", []any{})
			}
			for _, u := range st.sortedUsers() {
				add(u.id, u.number(), asString(u.props["DisplayName"]), "Extension", deepCopy(u.props["Tags"]))
			}
			for _, n := range st.numbered {
				add(n.id, asString(n.props["Number"]), asString(n.props["Name"]), peerType[n.kind], []any{})
			}
			slices.SortFunc(rows, func(a, b map[string]any) int { return compareValues(a["Id"], b["Id"]) })
			return rows
		})})
}

// serveNumbered serves the read side of Queues, RingGroups, Receptionists
// and Parkings (seeded by the test; the simulator does not create them over
// the API).
func (s *Sim) serveNumbered(c *reqCtx, segs []segment) *apiError {
	set := segs[0].name
	nk := numberedKinds[set]
	if len(segs) != 1 {
		return &apiError{status: http.StatusNotFound, empty: true}
	}
	st := s.st
	navs := map[string]*navInfo{"Groups": userGroupNav}
	if !segs[0].hasArgs {
		return c.serveCollection(entitySet{name: set, sc: nk.sc, navs: navs, rows: plain(func(q *queryOpts) []map[string]any {
			var rows []map[string]any
			for _, n := range st.numbered {
				if n.kind == nk.kind {
					rows = append(rows, st.numberedWire(n, nk.sc, q))
				}
			}
			return rows
		})})
	}
	k, e := parseKey(segs[0].args)
	if e != nil {
		return e
	}
	i := slices.IndexFunc(st.numbered, func(n *numberedRec) bool {
		return n.kind == nk.kind && ((k.byNumber && n.props["Number"] == k.number) || (!k.byNumber && n.id == k.id))
	})
	if i < 0 {
		return notFound()
	}
	return c.serveEntity(entityOps{set: set, sc: nk.sc, navs: navs,
		row: func(q *queryOpts) map[string]any { return st.numberedWire(st.numbered[i], nk.sc, q) }})
}

func (st *state) numberedWire(n *numberedRec, sc *schema, q *queryOpts) map[string]any {
	row := wire(sc, n.id, n.props)
	if q.isExpanded("Groups") {
		d := st.defaultGroup()
		sub := q.expanded("Groups")
		m := map[string]any{
			"Id": int64(0), "GroupId": int64(d.id), "Name": d.name(), "Number": n.props["Number"],
			"MemberName": n.props["Name"], "Type": n.kind, "CanDelete": true, "Tags": []any{}, "TranscriptionMode": nil,
		}
		if sub.isExpanded("Rights") {
			m["Rights"] = deepCopy(d.rights["users"])
		}
		row["Groups"] = []any{project(m, sub.selectsOrNil(), sub)}
	}
	return row
}
