package m365sim

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
)

func groupStr(name string, def bool, filter string, get func(*Group) string) propDef {
	return propDef{name: name, defaultOut: def, kind: fieldString, filter: filter,
		str:        func(o any) string { return get(o.(*Group)) },
		appendJSON: func(b []byte, o any) []byte { return appendNullableString(b, get(o.(*Group))) }}
}

func groupBool(name string, get func(*Group) bool) propDef {
	return propDef{name: name, defaultOut: true, kind: fieldBool, filter: "eq",
		boolean:    func(o any) bool { return get(o.(*Group)) },
		appendJSON: func(b []byte, o any) []byte { return strconv.AppendBool(b, get(o.(*Group))) }}
}

// groupSchema is microsoft.graph.group as far as the sim models it.
var groupSchema = newSchema("microsoft.graph.group", "groups", []propDef{
	groupStr("id", true, "eq,in", func(g *Group) string { return g.ID }),
	{name: "createdDateTime", defaultOut: true, kind: fieldString, filter: "-",
		appendJSON: func(b []byte, o any) []byte { return appendTime(b, o.(*Group).CreatedDateTime) }},
	groupStr("description", true, "eq,startsWith", func(g *Group) string { return g.Description }),
	groupStr("displayName", true, "eq,in,startsWith", func(g *Group) string { return g.DisplayName }),
	{name: "groupTypes", defaultOut: true, kind: fieldStrings, filter: "-",
		appendJSON: func(b []byte, o any) []byte { return append(b, "[]"...) }},
	groupStr("mail", true, "eq,in,startsWith", func(g *Group) string { return g.Mail }),
	groupBool("mailEnabled", func(g *Group) bool { return g.MailEnabled }),
	groupStr("mailNickname", true, "eq,in,startsWith", func(g *Group) string { return g.MailNickname }),
	groupBool("securityEnabled", func(g *Group) bool { return g.SecurityEnabled }),
	groupStr("visibility", true, "-", func(g *Group) string { return "" }),
})

// listGroups serves GET /groups.
func (s *Sim) listGroups(w http.ResponseWriter, r *http.Request) {
	lq, fe := s.parseListQuery(r, groupSchema)
	if fe != nil {
		s.graphError(w, r, http.StatusBadRequest, fe.code, fe.msg)
		return
	}
	var page []byte
	s.read(func(t *tenant) {
		var items []any
		for _, g := range t.groups {
			if lq.matches(groupSchema, g) {
				items = append(items, g)
			}
		}
		page = s.renderPage(lq, "/v1.0/groups", "groups", items, func(b []byte, o any) []byte {
			return groupSchema.appendObject(b, o, lq.sel, false)
		})
	})
	writeOData(w, http.StatusOK, page)
}

// objectID returns the id of a user or group.
func objectID(o any) string {
	switch x := o.(type) {
	case *User:
		return x.ID
	case *Group:
		return x.ID
	}
	return ""
}

// renderPage renders one page of items (sorted by id) after lq.after. The
// caller holds the read lock (the items are live tenant objects).
func (s *Sim) renderPage(lq *listQuery, path, contextSet string, items []any, render func(b []byte, o any) []byte) []byte {
	b := make([]byte, 0, 256+lq.top*300)
	b = append(b, `{"@odata.context":`...)
	b = appendJSONString(b, s.GraphURL()+"/$metadata#"+contextSet+lq.sel.contextSuffix())
	if lq.count && lq.after == "" {
		b = append(b, `,"@odata.count":`...)
		b = strconv.AppendInt(b, int64(len(items)), 10)
	}
	start := 0
	if lq.after != "" {
		start, _ = slices.BinarySearchFunc(items, lq.after, func(o any, id string) int { return strings.Compare(objectID(o), id) })
		if start < len(items) && objectID(items[start]) == lq.after {
			start++
		}
	}
	end := min(start+lq.top, len(items))
	b = append(b, `,"value":[`...)
	for i := start; i < end; i++ {
		if i > start {
			b = append(b, ',')
		}
		b = render(b, items[i])
	}
	b = append(b, ']')
	if end < len(items) {
		b = append(b, `,"@odata.nextLink":`...)
		b = appendJSONString(b, s.nextLink(path, lq.raw, "$skiptoken", s.sealToken(pageToken{After: objectID(items[end-1]), Q: lq.qhash})))
	}
	return append(b, '}')
}

// countGroups serves GET /groups/$count.
func (s *Sim) countGroups(w http.ResponseWriter, r *http.Request) {
	s.writeCount(w, r, func(t *tenant) int { return len(t.groups) })
}

// getGroup serves GET /groups/{id}.
func (s *Sim) getGroup(w http.ResponseWriter, r *http.Request) {
	s.getEntity(w, r, groupSchema, func(t *tenant, id string) any {
		if g := t.groupByID[id]; g != nil {
			return g
		}
		return nil
	})
}

// transitiveMembers serves /groups/{id}/transitiveMembers and its casts
// ("user" or "group"; "" = all directory objects).
func (s *Sim) transitiveMembers(cast string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sc := userSchema
		if cast == "group" {
			sc = groupSchema
		}
		lq, fe := s.parseListQuery(r, sc, groupSchema)
		if fe != nil {
			s.graphError(w, r, http.StatusBadRequest, fe.code, fe.msg)
			return
		}
		if cast != "" && !(lq.eventual && lq.count) {
			s.unsupportedQuery(w, r, "Unsupported Query. Casting a members collection (/"+cast+") requires the 'ConsistencyLevel: eventual' header and $count=true.")
			return
		}
		if cast == "" && (lq.filter != nil || len(lq.search) > 0) {
			s.unsupportedQuery(w, r, "Unsupported Query. $filter and $search on transitiveMembers need an OData cast (e.g. /microsoft.graph.user), 'ConsistencyLevel: eventual' and $count=true.")
			return
		}
		id := r.PathValue("id")
		set := "directoryObjects"
		switch cast {
		case "user":
			set = "users"
		case "group":
			set = "groups"
		}
		path := strings.TrimSuffix(r.URL.Path, "/")
		var page []byte
		s.read(func(t *tenant) {
			g := t.groupByID[id]
			if g == nil {
				return
			}
			f := t.flatten(g)
			all := f.all
			switch cast {
			case "user":
				all = f.usersAny
			case "group":
				all = f.groupsAny
			}
			items := all // shared, read-only
			if lq.filter != nil || len(lq.search) > 0 {
				items = nil
				for _, o := range all {
					sc := userSchema
					if _, ok := o.(*Group); ok {
						sc = groupSchema
					}
					if lq.matches(sc, o) {
						items = append(items, o)
					}
				}
			}
			page = s.renderPage(lq, path, set, items, func(b []byte, o any) []byte {
				switch x := o.(type) {
				case *User:
					return userSchema.appendObject(b, x, lq.sel, cast == "")
				default:
					return groupSchema.appendObject(b, x, lq.sel, cast == "")
				}
			})
		})
		if page == nil {
			s.notFound(w, r, id)
			return
		}
		writeOData(w, http.StatusOK, page)
	}
}
