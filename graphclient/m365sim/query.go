package m365sim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// fieldKind is the Edm type of a filterable property.
type fieldKind int

const (
	fieldString fieldKind = iota
	fieldBool
	fieldStrings // collection of strings (not filterable here)
)

// propDef describes one property of a directory object type.
type propDef struct {
	name       string
	defaultOut bool      // returned without $select
	kind       fieldKind // for $filter
	filter     string    // default-supported filter ops ("eq,in,startsWith"); "" = advanced only, "-" = not filterable
	str        func(o any) string
	boolean    func(o any) bool
	appendJSON func(b []byte, o any) []byte
}

// schema is a directory object type.
type schema struct {
	typeName string // microsoft.graph.user
	entity   string // users
	props    []propDef
	byName   map[string]*propDef
}

func newSchema(typeName, entity string, props []propDef) *schema {
	s := &schema{typeName: typeName, entity: entity, props: props, byName: map[string]*propDef{}}
	for i := range s.props {
		s.byName[strings.ToLower(s.props[i].name)] = &s.props[i]
	}
	return s
}

// selection is the list of properties to render. A selection belongs to one
// request (its cache is not locked).
type selection struct {
	names []string // canonical names; nil = default properties
	cache map[*schema][]*propDef
}

// props resolves the selection for sc (id always included, default
// properties when nothing is selected).
func (sel *selection) props(sc *schema) []*propDef {
	if ps, ok := sel.cache[sc]; ok {
		return ps
	}
	var ps []*propDef
	if len(sel.names) == 0 {
		for i := range sc.props {
			if sc.props[i].defaultOut {
				ps = append(ps, &sc.props[i])
			}
		}
	} else {
		for _, n := range sel.names {
			if p := sc.byName[strings.ToLower(n)]; p != nil {
				ps = append(ps, p)
			}
		}
		if !slices.Contains(sel.names, "id") {
			ps = append(ps, sc.byName["id"])
		}
	}
	if sel.cache == nil {
		sel.cache = map[*schema][]*propDef{}
	}
	sel.cache[sc] = ps
	return ps
}

// parseSelect validates $select against the schemas (a name must exist in at least one).
func parseSelect(raw string, schemas ...*schema) (*selection, error) {
	if raw == "" {
		return &selection{}, nil
	}
	sel := &selection{}
	for _, n := range strings.Split(raw, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		canon := ""
		for _, sc := range schemas {
			if p := sc.byName[strings.ToLower(n)]; p != nil {
				canon = p.name
				break
			}
		}
		if canon == "" {
			return nil, fmt.Errorf("Could not find a property named '%s' on type '%s'.", n, schemas[0].typeName)
		}
		if !slices.Contains(sel.names, canon) {
			sel.names = append(sel.names, canon)
		}
	}
	return sel, nil
}

// appendObject renders o with the selected (or default) properties.
func (sc *schema) appendObject(b []byte, o any, sel *selection, odataType bool) []byte {
	if sel == nil {
		sel = &selection{}
	}
	b = append(b, '{')
	if odataType {
		b = append(b, `"@odata.type":"#`...)
		b = append(b, sc.typeName...)
		b = append(b, '"')
	}
	for i, p := range sel.props(sc) {
		if i > 0 || odataType {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, p.name...)
		b = append(b, `":`...)
		b = p.appendJSON(b, o)
	}
	return append(b, '}')
}

// contextSuffix is the "(a,b)" part of @odata.context for a selection.
func (sel *selection) contextSuffix() string {
	if sel == nil || len(sel.names) == 0 {
		return ""
	}
	return "(" + strings.Join(sel.names, ",") + ")"
}

// --- $filter ---

// predicate is a compiled $filter.
type predicate func(o any) bool

// filterError is a $filter refusal with Graph's code.
type filterError struct{ code, msg string }

func (e *filterError) Error() string { return e.msg }

type tok struct {
	kind string // ident, str, lp, rp, comma
	val  string
}

func lexFilter(s string) ([]tok, error) {
	var out []tok
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '(':
			out = append(out, tok{"lp", "("})
			i++
		case c == ')':
			out = append(out, tok{"rp", ")"})
			i++
		case c == ',':
			out = append(out, tok{"comma", ","})
			i++
		case c == '\'':
			var b strings.Builder
			i++
			for {
				if i >= len(s) {
					return nil, errors.New("unterminated string literal")
				}
				if s[i] == '\'' {
					if i+1 < len(s) && s[i+1] == '\'' {
						b.WriteByte('\'')
						i += 2
						continue
					}
					i++
					break
				}
				b.WriteByte(s[i])
				i++
			}
			out = append(out, tok{"str", b.String()})
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t(),'", rune(s[j])) {
				j++
			}
			out = append(out, tok{"ident", s[i:j]})
			i = j
		}
	}
	return out, nil
}

type filterParser struct {
	toks     []tok
	pos      int
	sc       *schema
	advanced bool // uses an advanced-query-only construct
}

func (p *filterParser) peek() tok {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return tok{}
}

func (p *filterParser) next() tok { t := p.peek(); p.pos++; return t }

func (p *filterParser) isKeyword(kw string) bool {
	t := p.peek()
	return t.kind == "ident" && strings.EqualFold(t.val, kw)
}

func invalidClause(format string, args ...any) error {
	return &filterError{"Request_BadRequest", "Invalid filter clause: " + fmt.Sprintf(format, args...)}
}

// compileFilter parses a $filter for schema sc.
func compileFilter(raw string, sc *schema) (predicate, bool, error) {
	toks, err := lexFilter(raw)
	if err != nil {
		return nil, false, invalidClause("%v.", err)
	}
	p := &filterParser{toks: toks, sc: sc}
	pred, err := p.orExpr()
	if err != nil {
		return nil, false, err
	}
	if p.pos != len(p.toks) {
		return nil, false, invalidClause("syntax error at position %d in '%s'.", p.pos, raw)
	}
	return pred, p.advanced, nil
}

func (p *filterParser) orExpr() (predicate, error) {
	return p.chain("or", p.andExpr, func(a, b predicate) predicate { return func(o any) bool { return a(o) || b(o) } })
}

func (p *filterParser) andExpr() (predicate, error) {
	return p.chain("and", p.unary, func(a, b predicate) predicate { return func(o any) bool { return a(o) && b(o) } })
}

// chain parses operand (kw operand)* and joins the operands with join.
func (p *filterParser) chain(kw string, operand func() (predicate, error), join func(a, b predicate) predicate) (predicate, error) {
	l, err := operand()
	if err != nil {
		return nil, err
	}
	for p.isKeyword(kw) {
		p.next()
		r, err := operand()
		if err != nil {
			return nil, err
		}
		l = join(l, r)
	}
	return l, nil
}

func (p *filterParser) unary() (predicate, error) {
	if p.isKeyword("not") {
		p.next()
		p.advanced = true
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return func(o any) bool { return !x(o) }, nil
	}
	return p.primary()
}

// prop resolves a property name and checks op is allowed on it.
func (p *filterParser) prop(name, op string) (*propDef, error) {
	d := p.sc.byName[strings.ToLower(name)]
	if d == nil {
		return nil, invalidClause("Could not find a property named '%s' on type '%s'.", name, p.sc.typeName)
	}
	if d.filter == "-" || d.kind == fieldStrings {
		return nil, &filterError{"Request_UnsupportedQuery", fmt.Sprintf("Unsupported or invalid query filter clause specified for property '%s' of resource '%s'.", d.name, strings.TrimPrefix(p.sc.typeName, "microsoft.graph."))}
	}
	if !slices.Contains(strings.Split(d.filter, ","), op) {
		p.advanced = true
	}
	return d, nil
}

func (p *filterParser) primary() (predicate, error) {
	t := p.next()
	switch {
	case t.kind == "lp":
		x, err := p.orExpr()
		if err != nil {
			return nil, err
		}
		if p.next().kind != "rp" {
			return nil, invalidClause("')' expected.")
		}
		return x, nil
	case t.kind != "ident":
		return nil, invalidClause("property or function expected, found '%s'.", t.val)
	}
	if p.peek().kind == "lp" { // function call
		fn := strings.ToLower(t.val)
		if fn != "startswith" && fn != "endswith" {
			return nil, &filterError{"Request_UnsupportedQuery", fmt.Sprintf("Unsupported Query: function '%s' is not supported.", t.val)}
		}
		p.next()
		pt := p.next()
		if pt.kind != "ident" || p.next().kind != "comma" {
			return nil, invalidClause("%s(property,'value') expected.", t.val)
		}
		lit := p.next()
		if lit.kind != "str" || p.next().kind != "rp" {
			return nil, invalidClause("%s(property,'value') expected.", t.val)
		}
		op := "startsWith"
		if fn == "endswith" {
			op = "endsWith"
		}
		d, err := p.prop(pt.val, op)
		if err != nil {
			return nil, err
		}
		if d.kind != fieldString {
			return nil, invalidClause("%s needs a string property, '%s' is not one.", t.val, d.name)
		}
		want := strings.ToLower(lit.val)
		if op == "startsWith" {
			return func(o any) bool { return hasPrefixFold(d.str(o), want) }, nil
		}
		return func(o any) bool { return hasSuffixFold(d.str(o), want) }, nil
	}
	opTok := p.next()
	op := strings.ToLower(opTok.val)
	switch op {
	case "in":
		d, err := p.prop(t.val, "in")
		if err != nil {
			return nil, err
		}
		if p.next().kind != "lp" {
			return nil, invalidClause("'(' expected after 'in'.")
		}
		var vals []string
		for {
			lit := p.next()
			if lit.kind != "str" {
				return nil, invalidClause("string literal expected in 'in' list.")
			}
			vals = append(vals, strings.ToLower(lit.val))
			sepTok := p.next()
			if sepTok.kind == "rp" {
				break
			}
			if sepTok.kind != "comma" {
				return nil, invalidClause("',' or ')' expected in 'in' list.")
			}
		}
		if len(vals) > 15 && d.name != "id" {
			return nil, &filterError{"Request_UnsupportedQuery", "Too many child clauses specified in search filter expression containing 'OR' operators: 16. Max allowed: 15."}
		}
		return func(o any) bool {
			v := d.str(o)
			for _, want := range vals {
				if strings.EqualFold(v, want) {
					return true
				}
			}
			return false
		}, nil
	case "eq", "ne":
		lit := p.next()
		d, err := p.prop(t.val, op)
		if err != nil {
			return nil, err
		}
		var eq predicate
		switch {
		case lit.kind == "ident" && lit.val == "null":
			p.advanced = true
			if d.kind == fieldBool {
				eq = func(any) bool { return false }
			} else {
				eq = func(o any) bool { return d.str(o) == "" }
			}
		case d.kind == fieldBool:
			if lit.kind != "ident" || (lit.val != "true" && lit.val != "false") {
				return nil, invalidClause("A binary operator with incompatible types was detected. Found operand types 'Edm.Boolean' and 'Edm.String' for operator kind 'Equal'.")
			}
			want := lit.val == "true"
			eq = func(o any) bool { return d.boolean(o) == want }
		default:
			if lit.kind != "str" {
				return nil, invalidClause("A binary operator with incompatible types was detected. Found operand types 'Edm.String' and '%s' for operator kind 'Equal'.", lit.val)
			}
			want := strings.ToLower(lit.val)
			eq = func(o any) bool { return strings.EqualFold(d.str(o), want) }
		}
		if op == "ne" {
			return func(o any) bool { return !eq(o) }, nil
		}
		return eq, nil
	case "gt", "ge", "lt", "le":
		return nil, &filterError{"Request_UnsupportedQuery", "Unsupported Query: operator '" + opTok.val + "' is not supported for this property."}
	default:
		return nil, invalidClause("operator expected after '%s', found '%s'.", t.val, opTok.val)
	}
}

// hasPrefixFold is strings.HasPrefix ignoring case (Unicode simple folding), without allocating.
func hasPrefixFold(s, prefix string) bool {
	for _, pr := range prefix {
		r, size := utf8.DecodeRuneInString(s)
		if size == 0 || !foldEq(r, pr) {
			return false
		}
		s = s[size:]
	}
	return true
}

// hasSuffixFold is strings.HasSuffix ignoring case, without allocating.
func hasSuffixFold(s, suffix string) bool {
	for len(suffix) > 0 {
		sr, ssize := utf8.DecodeLastRuneInString(s)
		fr, fsize := utf8.DecodeLastRuneInString(suffix)
		if ssize == 0 || !foldEq(sr, fr) {
			return false
		}
		s, suffix = s[:len(s)-ssize], suffix[:len(suffix)-fsize]
	}
	return true
}

// foldEq compares two runes under Unicode simple case folding.
func foldEq(a, b rune) bool {
	if a == b {
		return true
	}
	return unicode.ToLower(a) == unicode.ToLower(b) || unicode.ToUpper(a) == unicode.ToUpper(b)
}

// --- list queries ---

// listQuery is a parsed collection query.
type listQuery struct {
	top      int
	sel      *selection
	filter   predicate
	count    bool // $count=true honoured (advanced mode)
	eventual bool // ConsistencyLevel: eventual
	search   []searchTerm
	after    string // last id of the previous page
	qhash    string
	raw      url.Values
}

type searchTerm struct{ prop, text string }

// allowedOptions are the query options collections accept; others are refused.
var allowedOptions = []string{"$select", "$filter", "$top", "$skiptoken", "$count", "$search", "$orderby", "$expand", "$skip", "$format", "$deltatoken"}

// parseListQuery parses and validates a collection query for schema sc.
// extra are additional schemas $select may name (for mixed collections).
func (s *Sim) parseListQuery(r *http.Request, sc *schema, extra ...*schema) (*listQuery, *filterError) {
	q := r.URL.Query()
	lq := &listQuery{top: 100, raw: q}
	for k := range q {
		if strings.HasPrefix(k, "$") && !slices.Contains(allowedOptions, strings.ToLower(k)) {
			return nil, &filterError{"Request_BadRequest", fmt.Sprintf("Unrecognized query argument specified: '%s'.", k)}
		}
	}
	if q.Has("$skip") {
		return nil, &filterError{"Request_BadRequest", "'$skip' is not supported by the service."}
	}
	if q.Has("$orderby") {
		return nil, &filterError{"Request_UnsupportedQuery", "$orderby is not supported by this simulator; graphclient does not need it."}
	}
	if q.Has("$expand") {
		return nil, &filterError{"Request_UnsupportedQuery", "$expand is not supported by this simulator; graphclient does not need it."}
	}
	lq.eventual = strings.EqualFold(r.Header.Get("ConsistencyLevel"), "eventual")
	if c := q.Get("$count"); c != "" {
		if c != "true" && c != "false" {
			return nil, &filterError{"Request_BadRequest", fmt.Sprintf("Invalid value '%s' for $count: use true or false.", c)}
		}
		lq.count = c == "true" && lq.eventual
	}
	if t := q.Get("$top"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 1 || n > 999 {
			return nil, &filterError{"Request_BadRequest", fmt.Sprintf("Invalid page size specified: '%s'. Must be between 1 and 999 inclusive.", t)}
		}
		lq.top = n
	}
	sel, err := parseSelect(q.Get("$select"), append([]*schema{sc}, extra...)...)
	if err != nil {
		return nil, &filterError{"Request_BadRequest", err.Error()}
	}
	lq.sel = sel
	if f := q.Get("$filter"); f != "" {
		pred, advanced, err := compileFilter(f, sc)
		if err != nil {
			var fe *filterError
			if errors.As(err, &fe) {
				return nil, fe
			}
			return nil, &filterError{"Request_BadRequest", err.Error()}
		}
		if advanced && !(lq.eventual && lq.count) {
			return nil, &filterError{"Request_UnsupportedQuery", "Unsupported Query."}
		}
		lq.filter = pred
	}
	if sr := q.Get("$search"); sr != "" {
		if !lq.eventual {
			return nil, &filterError{"Request_UnsupportedQuery", "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'"}
		}
		terms, err := parseSearch(sr, sc)
		if err != nil {
			return nil, &filterError{"Request_UnsupportedQuery", err.Error()}
		}
		lq.search = terms
	}
	lq.qhash = queryHash(q)
	if st := q.Get("$skiptoken"); st != "" {
		var pt pageToken
		if !s.openToken(st, &pt) || pt.Q != lq.qhash {
			return nil, &filterError{"Request_BadRequest", "The $skiptoken is invalid or does not belong to this query."}
		}
		lq.after = pt.After
	}
	return lq, nil
}

// parseSearch parses $search="prop:text" [AND|OR "prop:text"] (OR semantics kept simple: any term).
func parseSearch(raw string, sc *schema) ([]searchTerm, error) {
	var out []searchTerm
	for _, part := range strings.Split(raw, "\"") {
		part = strings.TrimSpace(part)
		if part == "" || strings.EqualFold(part, "OR") || strings.EqualFold(part, "AND") {
			continue
		}
		prop, text, ok := strings.Cut(part, ":")
		if !ok {
			return nil, fmt.Errorf("Syntax error: the $search value %s must be \"property:text\".", raw)
		}
		d := sc.byName[strings.ToLower(prop)]
		if d == nil || d.kind != fieldString {
			return nil, fmt.Errorf("Unsupported or invalid $search property '%s'.", prop)
		}
		out = append(out, searchTerm{d.name, strings.ToLower(text)})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("Syntax error: the $search value %s must be \"property:text\".", raw)
	}
	return out, nil
}

// matchSearch: a term matches when a word of the property starts with the text.
func matchSearch(terms []searchTerm, sc *schema, o any) bool {
	for _, t := range terms {
		v := strings.ToLower(sc.byName[strings.ToLower(t.prop)].str(o))
		if strings.HasPrefix(v, t.text) {
			return true
		}
		for _, w := range strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == '.' || r == '@' || r == '-' || r == '_' }) {
			if strings.HasPrefix(w, t.text) {
				return true
			}
		}
	}
	return false
}

// matches applies filter and search.
func (lq *listQuery) matches(sc *schema, o any) bool {
	if lq.filter != nil && !lq.filter(o) {
		return false
	}
	if len(lq.search) > 0 && !matchSearch(lq.search, sc, o) {
		return false
	}
	return true
}

// optionKeys lists a query's keys except the paging tokens, sorted.
func optionKeys(q url.Values) []string {
	keys := make([]string, 0, len(q))
	for k := range q {
		if k != "$skiptoken" && k != "$deltatoken" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// queryHash identifies a query's options (except paging state).
func queryHash(q url.Values) string {
	keys := optionKeys(q)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%s=%q;", k, q[k])
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:9])
}

// pageToken is the content of a $skiptoken.
type pageToken struct {
	After string `json:"a"`
	Q     string `json:"q"`
}

// sealToken makes an opaque, tamper-evident token from v.
func (s *Sim) sealToken(v any) string {
	payload := mustJSON(v)
	m := hmac.New(sha256.New, s.secret)
	m.Write(payload)
	return base64.RawURLEncoding.EncodeToString(append(payload, m.Sum(nil)[:12]...))
}

// openToken verifies and decodes a token made by sealToken.
func (s *Sim) openToken(tok string, v any) bool {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(raw) < 13 {
		return false
	}
	payload, mac := raw[:len(raw)-12], raw[len(raw)-12:]
	m := hmac.New(sha256.New, s.secret)
	m.Write(payload)
	if !hmac.Equal(mac, m.Sum(nil)[:12]) {
		return false
	}
	return json.Unmarshal(payload, v) == nil
}

// nextLink builds an absolute link to path with the query's options plus extra.
func (s *Sim) nextLink(path string, q url.Values, extraKey, extraVal string) string {
	keys := optionKeys(q)
	var b strings.Builder
	b.WriteString(s.URL())
	b.WriteString(path)
	b.WriteByte('?')
	for _, k := range keys {
		for _, v := range q[k] {
			b.WriteString(k)
			b.WriteByte('=')
			b.WriteString(strings.ReplaceAll(url.QueryEscape(v), "+", "%20"))
			b.WriteByte('&')
		}
	}
	b.WriteString(extraKey)
	b.WriteByte('=')
	b.WriteString(extraVal)
	return b.String()
}
