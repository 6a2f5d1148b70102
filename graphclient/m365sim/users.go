package m365sim

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
)

func strProp(name string, def bool, filter string, get func(*User) string) propDef {
	return propDef{name: name, defaultOut: def, kind: fieldString, filter: filter,
		str:        func(o any) string { return get(o.(*User)) },
		appendJSON: func(b []byte, o any) []byte { return appendNullableString(b, get(o.(*User))) }}
}

// userSchema is microsoft.graph.user as far as the sim models it.
var userSchema = newSchema("microsoft.graph.user", "users", []propDef{
	{name: "businessPhones", defaultOut: true, kind: fieldStrings, filter: "-",
		appendJSON: func(b []byte, o any) []byte { return appendStringArray(b, o.(*User).BusinessPhones) }},
	strProp("displayName", true, "eq,in,startsWith", func(u *User) string { return u.DisplayName }),
	strProp("givenName", true, "eq,in,startsWith", func(u *User) string { return u.GivenName }),
	strProp("jobTitle", true, "eq,in,startsWith", func(u *User) string { return u.JobTitle }),
	strProp("mail", true, "eq,in,startsWith", func(u *User) string { return u.Mail }),
	strProp("mobilePhone", true, "", func(u *User) string { return u.MobilePhone }),
	strProp("officeLocation", true, "", func(u *User) string { return u.OfficeLocation }),
	strProp("preferredLanguage", true, "", func(u *User) string { return u.PreferredLanguage }),
	strProp("surname", true, "eq,in,startsWith", func(u *User) string { return u.Surname }),
	strProp("userPrincipalName", true, "eq,in,startsWith", func(u *User) string { return u.UserPrincipalName }),
	strProp("id", true, "eq,in", func(u *User) string { return u.ID }),
	{name: "accountEnabled", kind: fieldBool, filter: "eq,in",
		boolean:    func(o any) bool { return o.(*User).AccountEnabled },
		appendJSON: func(b []byte, o any) []byte { return strconv.AppendBool(b, o.(*User).AccountEnabled) }},
	strProp("userType", false, "eq,in", func(u *User) string { return u.UserType }),
	strProp("department", false, "eq,in,startsWith", func(u *User) string { return u.Department }),
	strProp("companyName", false, "", func(u *User) string { return u.CompanyName }),
	strProp("employeeId", false, "eq,in,startsWith", func(u *User) string { return "" }),
	strProp("usageLocation", false, "eq,in", func(u *User) string { return "" }),
	strProp("onPremisesImmutableId", false, "eq,in", func(u *User) string { return "" }),
	{name: "createdDateTime", kind: fieldString, filter: "-",
		appendJSON: func(b []byte, o any) []byte { return appendTime(b, o.(*User).CreatedDateTime) }},
	{name: "deletedDateTime", kind: fieldString, filter: "-",
		appendJSON: func(b []byte, o any) []byte { return appendTime(b, o.(*User).DeletedDateTime) }},
	{name: "otherMails", kind: fieldStrings, filter: "-",
		appendJSON: func(b []byte, o any) []byte { return append(b, "[]"...) }},
})

func (s *Sim) installGraphRoutes() {
	s.graphRoute("GET /users", accessUsers, s.listUsers)
	s.graphRoute("GET /users/{$}", accessUsers, s.listUsers)
	s.graphRoute("GET /users/$count", accessUsers, s.countUsers)
	s.graphRoute("GET /users/{id}", accessUsers, s.getUser)
	s.graphRoute("GET /users/delta", accessUsers, s.usersDelta)
	s.graphRoute("GET /users/delta()", accessUsers, s.usersDelta)
	s.graphRoute("GET /users/microsoft.graph.delta", accessUsers, s.usersDelta)
	s.graphRoute("GET /users/microsoft.graph.delta()", accessUsers, s.usersDelta)
	s.graphRoute("GET /groups", accessGroups, s.listGroups)
	s.graphRoute("GET /groups/$count", accessGroups, s.countGroups)
	s.graphRoute("GET /groups/{id}", accessGroups, s.getGroup)
	s.graphRoute("GET /groups/{id}/transitiveMembers", accessMembers, s.transitiveMembers(""))
	s.graphRoute("GET /groups/{id}/transitiveMembers/microsoft.graph.user", accessMembers, s.transitiveMembers("user"))
	s.graphRoute("GET /groups/{id}/transitiveMembers/graph.user", accessMembers, s.transitiveMembers("user"))
	s.graphRoute("GET /groups/{id}/transitiveMembers/microsoft.graph.group", accessMembers, s.transitiveMembers("group"))
	s.graphRoute("GET /groups/{id}/transitiveMembers/graph.group", accessMembers, s.transitiveMembers("group"))
	s.graphRoute("GET /users/{id}/photo", accessPhotos, s.photoMeta)
	s.graphRoute("GET /users/{id}/photo/$value", accessPhotos, s.photoValue)
	s.graphRoute("GET /users/{id}/photos/{size}", accessPhotos, s.photoMeta)
	s.graphRoute("GET /users/{id}/photos/{size}/$value", accessPhotos, s.photoValue)
	s.graphRoute("POST /$batch", accessAny, s.batch)
	s.graphRoute("GET /me", accessAny, func(w http.ResponseWriter, r *http.Request) {
		s.graphError(w, r, http.StatusBadRequest, "BadRequest", "/me request is only valid with delegated authentication flow.")
	})
}

// listUsers serves GET /users.
func (s *Sim) listUsers(w http.ResponseWriter, r *http.Request) {
	lq, fe := s.parseListQuery(r, userSchema)
	if fe != nil {
		s.graphError(w, r, http.StatusBadRequest, fe.code, fe.msg)
		return
	}
	bp := pageBufs.Get().(*[]byte)
	defer func() { pageBufs.Put(bp) }()
	b := (*bp)[:0]
	b = append(b, `{"@odata.context":`...)
	b = appendJSONString(b, s.GraphURL()+"/$metadata#users"+lq.sel.contextSuffix())
	var last string
	more := false
	s.read(func(t *tenant) {
		if lq.count {
			n := 0
			for _, u := range t.users {
				if !u.SoftDeleted() && lq.matches(userSchema, u) {
					n++
				}
			}
			if lq.after == "" {
				b = append(b, `,"@odata.count":`...)
				b = strconv.AppendInt(b, int64(n), 10)
			}
		}
		b = append(b, `,"value":[`...)
		n := 0
		for i := t.usersAfter(lq.after); i < len(t.users); i++ {
			u := t.users[i]
			if u.SoftDeleted() || !lq.matches(userSchema, u) {
				continue
			}
			if n == lq.top {
				more = true
				break
			}
			if n > 0 {
				b = append(b, ',')
			}
			b = userSchema.appendObject(b, u, lq.sel, false)
			last = u.ID
			n++
		}
	})
	b = append(b, ']')
	if more {
		b = append(b, `,"@odata.nextLink":`...)
		b = appendJSONString(b, s.nextLink("/v1.0/users", lq.raw, "$skiptoken", s.sealToken(pageToken{After: last, Q: lq.qhash})))
	}
	b = append(b, '}')
	*bp = b
	writeOData(w, http.StatusOK, b)
}

// pageBufs recycles the buffers big pages are rendered into (fewer GC cycles
// over a large tenant's heap).
var pageBufs = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// countUsers serves GET /users/$count.
func (s *Sim) countUsers(w http.ResponseWriter, r *http.Request) {
	s.writeCount(w, r, func(t *tenant) int {
		n := 0
		for _, u := range t.users {
			if !u.SoftDeleted() {
				n++
			}
		}
		return n
	})
}

// getUser serves GET /users/{id|upn}.
func (s *Sim) getUser(w http.ResponseWriter, r *http.Request) {
	s.getEntity(w, r, userSchema, func(t *tenant, id string) any {
		if u := t.activeUser(id); u != nil {
			return u
		}
		return nil
	})
}

// getEntity serves a single directory object with $select (the only query option allowed).
func (s *Sim) getEntity(w http.ResponseWriter, r *http.Request, sc *schema, find func(t *tenant, id string) any) {
	id := r.PathValue("id")
	q := r.URL.Query()
	for k := range q {
		if k != "$select" && strings.HasPrefix(k, "$") {
			s.badRequest(w, r, "Query option '"+k+"' is not allowed on a single "+strings.TrimPrefix(sc.typeName, "microsoft.graph.")+".")
			return
		}
	}
	sel, err := parseSelect(q.Get("$select"), sc)
	if err != nil {
		s.badRequest(w, r, err.Error())
		return
	}
	var b []byte
	s.read(func(t *tenant) {
		o := find(t, id)
		if o == nil {
			return
		}
		b = append(b, `{"@odata.context":`...)
		b = appendJSONString(b, s.GraphURL()+"/$metadata#"+sc.entity+sel.contextSuffix()+"/$entity")
		b = append(b, ',')
		obj := sc.appendObject(nil, o, sel, false)
		b = append(b, obj[1:]...)
	})
	if b == nil {
		s.notFound(w, r, id)
		return
	}
	writeOData(w, http.StatusOK, b)
}

// writeCount answers /$count (text/plain), which needs ConsistencyLevel: eventual.
func (s *Sim) writeCount(w http.ResponseWriter, r *http.Request, count func(t *tenant) int) {
	if r.Header.Get("ConsistencyLevel") != "eventual" {
		s.badRequest(w, r, "$count is not currently supported.")
		return
	}
	n := 0
	s.read(func(t *tenant) { n = count(t) })
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(strconv.Itoa(n))) // the client went away; nothing to do
}
