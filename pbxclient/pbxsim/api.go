package pbxsim

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// segment is one path segment of /xapi/v1: a name with an optional
// parenthesised key or argument list.
type segment struct {
	name    string
	args    string
	hasArgs bool
}

// splitPath splits the path after /xapi/v1/ at slashes outside quotes.
func splitPath(p string) ([]segment, bool) {
	parts, ok := splitTopSlash(p)
	if !ok {
		return nil, false
	}
	var segs []segment
	for _, part := range parts {
		if part == "" {
			return nil, false
		}
		s := segment{name: part}
		if i := strings.IndexByte(part, '('); i >= 0 {
			if !strings.HasSuffix(part, ")") {
				return nil, false
			}
			s = segment{name: part[:i], args: part[i+1 : len(part)-1], hasArgs: true}
		}
		segs = append(segs, s)
	}
	return segs, true
}

func splitTopSlash(s string) ([]string, bool) {
	var parts []string
	start, inQuote := 0, false
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\'':
			inQuote = !inQuote
		case s[i] == '/' && !inQuote:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	if inQuote {
		return nil, false
	}
	return append(parts, s[start:]), true
}

// key is a parsed entity key: an Id or an alternate Number key.
type key struct {
	id       int32
	number   string
	byNumber bool
}

func parseKey(args string) (key, *apiError) {
	a := strings.TrimSpace(args)
	if v, ok := strings.CutPrefix(a, "Number="); ok {
		s, ok := parseStringLiteral(v)
		if !ok {
			return key{}, queryError(fmt.Sprintf("The key value '%s' is not a valid string literal.", v))
		}
		return key{number: s, byNumber: true}, nil
	}
	a = strings.TrimPrefix(a, "Id=")
	n, err := strconv.ParseInt(a, 10, 32)
	if err != nil {
		return key{}, queryError(fmt.Sprintf("The key value '%s' is not a valid Edm.Int32.", args))
	}
	return key{id: int32(n)}, nil
}

// parseIDKey reads the key of an entity set that has no alternate key: an
// alternate key there is an unknown path (404).
func parseIDKey(args string) (int32, *apiError) {
	k, e := parseKey(args)
	if e != nil {
		return 0, e
	}
	if k.byNumber {
		return 0, &apiError{status: http.StatusNotFound, empty: true}
	}
	return k.id, nil
}

// parseStringLiteral reads an OData string literal '...' with ” escapes.
func parseStringLiteral(v string) (string, bool) {
	if len(v) < 2 || v[0] != '\'' || v[len(v)-1] != '\'' {
		return "", false
	}
	inner := v[1 : len(v)-1]
	var b strings.Builder
	for i := 0; i < len(inner); i++ {
		if inner[i] == '\'' {
			if i+1 < len(inner) && inner[i+1] == '\'' {
				b.WriteByte('\'')
				i++
				continue
			}
			return "", false
		}
		b.WriteByte(inner[i])
	}
	return b.String(), true
}

// parseFuncArgs reads name='value' function arguments; every name in want
// must be present and nothing else. A bad argument list is a 404, as 3CX
// answers for a function whose arguments do not match.
func parseFuncArgs(args string, want ...string) (map[string]string, *apiError) {
	out := map[string]string{}
	if strings.TrimSpace(args) != "" {
		parts, ok := splitTop(args, ',')
		if !ok {
			return nil, notFound()
		}
		for _, p := range parts {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if !ok {
				return nil, notFound()
			}
			s, ok := parseStringLiteral(strings.TrimSpace(v))
			if !ok || !contains(want, k) {
				return nil, notFound()
			}
			out[k] = s
		}
	}
	if len(out) != len(want) {
		return nil, notFound()
	}
	return out, nil
}

// reqCtx is one /xapi/v1 request being served.
type reqCtx struct {
	w    http.ResponseWriter
	r    *http.Request
	body []byte
	base string // https://host/xapi/v1
}

func (c *reqCtx) context(suffix string) string { return c.base + "/$metadata#" + suffix }

// collection writes a collection response.
func (c *reqCtx) collection(ctx string, q *queryOpts, rows []row) {
	page, total, err := q.apply(rows)
	if err != nil {
		writeError(c.w, queryError(err.Error()))
		return
	}
	value := make([]any, 0, len(page))
	for _, r := range page {
		value = append(value, project(r.wire(), q.selects, q))
	}
	out := map[string]any{"@odata.context": c.context(ctx + q.contextSuffix())}
	if q.count {
		out["@odata.count"] = total
	}
	out["value"] = value
	writeJSON(c.w, http.StatusOK, out)
}

// entity writes one entity with its @odata.context.
func (c *reqCtx) entity(status int, ctx string, q *queryOpts, row map[string]any) {
	out := project(row, q.selectsOrNil(), q)
	res := make(map[string]any, len(out)+1)
	for k, v := range out {
		res[k] = v
	}
	res["@odata.context"] = c.context(ctx)
	writeJSON(c.w, status, res)
}

// jsonBody checks the Content-Type and reads the body as an object.
func (c *reqCtx) jsonBody() (map[string]json.RawMessage, *apiError) {
	mt, _, err := mime.ParseMediaType(c.r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return nil, &apiError{status: http.StatusUnsupportedMediaType, empty: true}
	}
	return decodeObject(c.body)
}

// methodNotAllowed sets the Allow header and returns the empty 405.
func methodNotAllowed(w http.ResponseWriter, allow ...string) *apiError {
	w.Header().Set("Allow", strings.Join(allow, ", "))
	return &apiError{status: http.StatusMethodNotAllowed, empty: true}
}

// actionIDs reads the body of an action that takes {"ids":[...]}
// (POST only; a segment with arguments is not the action).
func (c *reqCtx) actionIDs(seg segment) ([]int32, *apiError) {
	if seg.hasArgs {
		return nil, notFound()
	}
	if c.r.Method != http.MethodPost {
		return nil, methodNotAllowed(c.w, "POST")
	}
	p, e := actionParams(c, "ids")
	if e != nil {
		return nil, e
	}
	return readIDs(p["ids"])
}

// decodeList reads a JSON array of objects of type sc (the value of the
// property named prop).
func decodeList(raw json.RawMessage, prop string, sc *schema) ([]map[string]any, *apiError) {
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, bodyError("The property '%s' must be an array of %s.", prop, sc.name)
	}
	out := make([]map[string]any, 0, len(list))
	for _, item := range list {
		obj, e := decodeObject(item)
		if e != nil {
			return nil, bodyError("Each entry of '%s' must be a %s object.", prop, sc.name)
		}
		v, e := sc.decode(obj)
		if e != nil {
			return nil, e
		}
		out = append(out, v)
	}
	return out, nil
}

// permitted applies the API client's role (see SetClientRole).
func (s *Sim) permitted(method, resource string) bool {
	s.mu.Lock()
	role := s.role
	s.mu.Unlock()
	rank := 0
	for i, r := range roleNames {
		if r == role {
			rank = i
		}
	}
	write := method != http.MethodGet
	switch {
	case resource == "Defs":
		return true
	case rank >= 6: // system_owners
		return true
	case rank == 5: // system_admins
		return !(write && resource == "Microsoft365Integration")
	case rank >= 2: // group_admins, managers, group_owners
		return !write
	}
	return false
}

func (s *Sim) serveAPI(w http.ResponseWriter, r *http.Request, body []byte) {
	if !s.authenticate(r) {
		w.Header().Set("WWW-Authenticate", "Bearer")
		writeError(w, &apiError{status: http.StatusUnauthorized, empty: true})
		return
	}
	segs, ok := splitPath(strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/xapi/v1"), "/"))
	if !ok || len(segs) == 0 {
		writeError(w, &apiError{status: http.StatusNotFound, empty: true})
		return
	}
	if !s.permitted(r.Method, segs[0].name) {
		writeError(w, &apiError{status: http.StatusForbidden, empty: true})
		return
	}
	c := &reqCtx{w: w, r: r, body: body, base: "https://" + r.Host + "/xapi/v1"}
	s.mu.Lock()
	defer s.mu.Unlock()
	var e *apiError
	switch segs[0].name {
	case "Defs":
		e = s.serveDefs(c, segs)
	case "Users":
		e = s.serveUsers(c, segs)
	case "Groups":
		e = s.serveGroups(c, segs)
	case "Contacts":
		e = s.serveContacts(c, segs)
	case "Microsoft365Integration":
		e = s.serveM365(c, segs)
	case "Queues", "RingGroups", "Receptionists", "Parkings", "Fax", "Trunks", "CallFlowApps", "ServicePrincipals":
		e = s.serveNumbered(c, segs)
	case "Peers":
		e = s.servePeers(c, segs)
	default:
		e = &apiError{status: http.StatusNotFound, empty: true}
	}
	if e != nil {
		writeError(w, e)
	}
}

func (s *Sim) serveDefs(c *reqCtx, segs []segment) *apiError {
	if len(segs) != 1 || segs[0].hasArgs {
		return &apiError{status: http.StatusNotFound, empty: true}
	}
	if c.r.Method != http.MethodGet {
		return methodNotAllowed(c.w, "GET")
	}
	defs := newSchema("Pbx.Defs", map[string]prop{"Id": {kind: kKey}, "Codecs": nav(), "GatewayParameters": nav(), "GatewayParameterValues": nav(), "TimeZones": nav()})
	q, e := parseQuery(c.r.URL.RawQuery, defs, nil, false)
	if e != nil {
		return e
	}
	ctx := "Defs"
	if len(q.selects) > 0 {
		ctx += "(" + strings.Join(q.selects, ",") + ")"
	}
	c.entity(http.StatusOK, ctx, q, map[string]any{"Id": int64(0)})
	return nil
}

// actionParams reads an action body whose parameter names are matched
// case-insensitively (3CX accepts "ids" and "Ids"); unknown parameters are
// refused.
func actionParams(c *reqCtx, names ...string) (map[string]json.RawMessage, *apiError) {
	m, e := c.jsonBody()
	if e != nil {
		return nil, e
	}
	out := map[string]json.RawMessage{}
	for k, v := range m {
		found := false
		for _, n := range names {
			if strings.EqualFold(k, n) {
				if _, dup := out[n]; dup {
					return nil, bodyError("The parameter '%s' is given twice.", n)
				}
				out[n] = v
				found = true
			}
		}
		if !found {
			return nil, bodyError("The parameter '%s' is not a parameter of this action; expected %s.", k, strings.Join(names, ", "))
		}
	}
	return out, nil
}

func readIDs(raw json.RawMessage) ([]int32, *apiError) {
	var ids []int32
	if raw == nil || json.Unmarshal(raw, &ids) != nil {
		return nil, bodyError("The parameter 'ids' must be an array of Edm.Int32.")
	}
	return ids, nil
}

// entitySet serves GET and POST on a collection generically.
type entitySet struct {
	name   string // entity set name, used in @odata.context
	sc     *schema
	navs   map[string]*navInfo
	rows   func(q *queryOpts) []row
	create func(body map[string]json.RawMessage) (map[string]any, *apiError) // nil: POST not allowed
}

func (c *reqCtx) serveCollection(es entitySet) *apiError {
	switch {
	case c.r.Method == http.MethodGet:
		q, e := parseQuery(c.r.URL.RawQuery, es.sc, es.navs, true)
		if e != nil {
			return e
		}
		c.collection(es.name, q, es.rows(q))
	case c.r.Method == http.MethodPost && es.create != nil:
		body, e := c.jsonBody()
		if e != nil {
			return e
		}
		row, e := es.create(body)
		if e != nil {
			return e
		}
		c.entity(http.StatusCreated, es.name+"/$entity", nil, row)
	case es.create != nil:
		return methodNotAllowed(c.w, "GET", "POST")
	default:
		return methodNotAllowed(c.w, "GET")
	}
	return nil
}

// entityOps serves GET, PATCH and DELETE on one entity (or a singleton).
type entityOps struct {
	set       string
	singleton bool
	sc        *schema
	navs      map[string]*navInfo
	row       func(q *queryOpts) map[string]any
	patch     func(body map[string]json.RawMessage) *apiError // nil: PATCH not allowed
	del       func() *apiError                                // nil: DELETE not allowed
}

func (c *reqCtx) serveEntity(o entityOps) *apiError {
	allow := []string{"GET"}
	if o.patch != nil {
		allow = append(allow, "PATCH")
	}
	if o.del != nil {
		allow = append(allow, "DELETE")
	}
	switch {
	case c.r.Method == http.MethodGet:
		q, e := parseQuery(c.r.URL.RawQuery, o.sc, o.navs, false)
		if e != nil {
			return e
		}
		ctx := o.set + q.contextSuffix()
		if !o.singleton {
			ctx += "/$entity"
		}
		c.entity(http.StatusOK, ctx, q, o.row(q))
	case c.r.Method == http.MethodPatch && o.patch != nil:
		body, e := c.jsonBody()
		if e != nil {
			return e
		}
		if e := o.patch(body); e != nil {
			return e
		}
		c.w.WriteHeader(http.StatusNoContent)
	case c.r.Method == http.MethodDelete && o.del != nil:
		if e := o.del(); e != nil {
			return e
		}
		c.w.WriteHeader(http.StatusNoContent)
	default:
		return methodNotAllowed(c.w, allow...)
	}
	return nil
}
