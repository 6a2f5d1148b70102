package pbxsim

import (
	"cmp"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// navInfo describes a navigation property that $expand may name.
type navInfo struct {
	schema *schema
	navs   map[string]*navInfo
}

// expandItem is one entry of $expand with its nested options.
type expandItem struct {
	name string
	opts *queryOpts
}

// orderKey is one $orderby key.
type orderKey struct {
	prop string
	desc bool
}

// queryOpts are the parsed system query options of one request.
type queryOpts struct {
	top, skip int // -1 when absent
	count     bool
	filter    node
	orderby   []orderKey
	selects   []string
	expand    []expandItem
}

func (q *queryOpts) expanded(name string) *queryOpts {
	if q == nil {
		return nil
	}
	for _, e := range q.expand {
		if e.name == name {
			return e.opts
		}
	}
	return nil
}

func (q *queryOpts) isExpanded(name string) bool {
	if q == nil {
		return false
	}
	for _, e := range q.expand {
		if e.name == name {
			return true
		}
	}
	return false
}

// parseQuery reads the system query options of a request. collection says
// whether the resource is a collection ($top and friends allowed).
func parseQuery(raw string, sc *schema, navs map[string]*navInfo, collection bool) (*queryOpts, *apiError) {
	q := &queryOpts{top: -1, skip: -1}
	values, err := url.ParseQuery(raw)
	if err != nil {
		return nil, queryError("The query string cannot be parsed: " + err.Error())
	}
	allowed := map[string]bool{"$select": true, "$expand": true}
	if collection {
		for _, k := range []string{"$top", "$skip", "$count", "$filter", "$orderby", "$search"} {
			allowed[k] = true
		}
	}
	names := mapKeys(values)
	slices.Sort(names)
	for _, k := range names {
		if !strings.HasPrefix(k, "$") {
			continue // custom query options are ignored by OData
		}
		if !allowed[k] {
			return nil, queryError(fmt.Sprintf("The query option '%s' is not supported on this resource.", k))
		}
		if len(values[k]) > 1 {
			return nil, queryError(fmt.Sprintf("Query option '%s' was specified more than once, but it must be specified at most once.", k))
		}
		v := values[k][0]
		var e *apiError
		switch k {
		case "$top":
			q.top, e = parseNonNeg(k, v)
		case "$skip":
			q.skip, e = parseNonNeg(k, v)
		case "$count":
			switch v {
			case "true":
				q.count = true
			case "false":
			default:
				e = queryError(fmt.Sprintf("'%s' is not a valid count option; use true or false.", v))
			}
		case "$filter":
			q.filter, e = parseFilter(v, sc)
		case "$orderby":
			q.orderby, e = parseOrderBy(v, sc)
		case "$select":
			q.selects, e = parseSelect(v, sc)
		case "$expand":
			q.expand, e = parseExpand(v, navs)
		case "$search":
			e = queryError("$search is not supported by this service.")
		}
		if e != nil {
			return nil, e
		}
	}
	return q, nil
}

func parseNonNeg(name, v string) (int, *apiError) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, queryError(fmt.Sprintf("Invalid value '%s' for %s query option found. The %s query option requires a non-negative integer value.", v, name, name))
	}
	return n, nil
}

// primitiveProp checks that name is a primitive (non-navigation,
// non-collection) property of sc and returns its filter type.
func primitiveProp(sc *schema, name string) (string, *apiError) {
	p, ok := sc.props[name]
	if !ok {
		return "", queryError(fmt.Sprintf("Could not find a property named '%s' on type '%s'.", name, sc.name))
	}
	switch p.kind {
	case kString, kEnum:
		return "string", nil
	case kBool:
		return "bool", nil
	case kInt, kKey:
		return "int", nil
	}
	return "", queryError(fmt.Sprintf("The property '%s' on type '%s' cannot be used here.", name, sc.name))
}

func parseOrderBy(v string, sc *schema) ([]orderKey, *apiError) {
	var keys []orderKey
	for _, part := range strings.Split(v, ",") {
		f := strings.Fields(part)
		if len(f) == 0 || len(f) > 2 {
			return nil, queryError(fmt.Sprintf("Syntax error in $orderby '%s'.", v))
		}
		k := orderKey{prop: f[0]}
		if len(f) == 2 {
			switch f[1] {
			case "asc":
			case "desc":
				k.desc = true
			default:
				return nil, queryError(fmt.Sprintf("Syntax error in $orderby '%s': expected asc or desc.", v))
			}
		}
		if _, err := primitiveProp(sc, k.prop); err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func parseSelect(v string, sc *schema) ([]string, *apiError) {
	var out []string
	for _, part := range strings.Split(v, ",") {
		name := strings.TrimSpace(part)
		if name == "*" {
			return nil, nil
		}
		p, ok := sc.props[name]
		if !ok {
			return nil, queryError(fmt.Sprintf("Could not find a property named '%s' on type '%s'.", name, sc.name))
		}
		if p.kind == kNav {
			return nil, queryError(fmt.Sprintf("The navigation property '%s' must be named in $expand, not $select.", name))
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out, nil
}

// splitTop splits s at sep outside parentheses and quotes.
func splitTop(s string, sep byte) ([]string, bool) {
	var parts []string
	depth, start, inQuote := 0, 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'':
			inQuote = !inQuote
		case inQuote:
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth < 0 {
				return nil, false
			}
		case c == sep && depth == 0:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	if depth != 0 || inQuote {
		return nil, false
	}
	return append(parts, s[start:]), true
}

func parseExpand(v string, navs map[string]*navInfo) ([]expandItem, *apiError) {
	parts, ok := splitTop(v, ',')
	if !ok {
		return nil, queryError(fmt.Sprintf("Syntax error in $expand '%s'.", v))
	}
	var items []expandItem
	for _, part := range parts {
		part = strings.TrimSpace(part)
		name, inner := part, ""
		if i := strings.IndexByte(part, '('); i >= 0 {
			if !strings.HasSuffix(part, ")") {
				return nil, queryError(fmt.Sprintf("Syntax error in $expand '%s'.", v))
			}
			name, inner = part[:i], part[i+1:len(part)-1]
		}
		ni, ok := navs[name]
		if !ok {
			return nil, queryError(fmt.Sprintf("Property '%s' on this type is not a navigation property or complex property; only navigation properties can be expanded.", name))
		}
		sub := &queryOpts{top: -1, skip: -1}
		if inner != "" {
			opts, ok := splitTop(inner, ';')
			if !ok {
				return nil, queryError(fmt.Sprintf("Syntax error in $expand '%s'.", v))
			}
			for _, o := range opts {
				k, val, found := strings.Cut(strings.TrimSpace(o), "=")
				if !found {
					return nil, queryError(fmt.Sprintf("Syntax error in $expand option '%s'.", o))
				}
				var e *apiError
				switch k {
				case "$expand":
					sub.expand, e = parseExpand(val, ni.navs)
				case "$select":
					sub.selects, e = parseSelect(val, ni.schema)
				default:
					e = queryError(fmt.Sprintf("The option '%s' is not supported inside $expand.", k))
				}
				if e != nil {
					return nil, e
				}
			}
		}
		items = append(items, expandItem{name: name, opts: sub})
	}
	return items, nil
}

// row is one entity of a collection: view holds its primitive properties
// (read by $filter and $orderby, never modified); render builds the wire
// form and is called only for the rows of the page (nil: view is the wire
// form).
type row struct {
	view   map[string]any
	render func() map[string]any
}

func (r row) wire() map[string]any {
	if r.render == nil {
		return r.view
	}
	return r.render()
}

// plainRows wraps rows that are already in wire form.
func plainRows(list []map[string]any) []row {
	out := make([]row, len(list))
	for i, m := range list {
		out[i] = row{view: m}
	}
	return out
}

// plain adapts a producer of wire-form rows.
func plain(f func(*queryOpts) []map[string]any) func(*queryOpts) []row {
	return func(q *queryOpts) []row { return plainRows(f(q)) }
}

// apply filters, orders and pages rows. It returns the page and the count
// of all matching rows.
func (q *queryOpts) apply(rows []row) ([]row, int, error) {
	var out []row
	for _, r := range rows {
		if q.filter != nil {
			v, err := q.filter.eval(r.view)
			if err != nil {
				return nil, 0, err
			}
			if b, _ := v.(bool); !b {
				continue
			}
		}
		out = append(out, r)
	}
	if len(q.orderby) > 0 {
		slices.SortStableFunc(out, func(a, b row) int {
			for _, k := range q.orderby {
				c := compareValues(a.view[k.prop], b.view[k.prop])
				if k.desc {
					c = -c
				}
				if c != 0 {
					return c
				}
			}
			return 0
		})
	}
	total := len(out)
	if q.skip > 0 {
		out = out[min(q.skip, len(out)):]
	}
	if q.top >= 0 && q.top < len(out) {
		out = out[:q.top]
	}
	return out, total, nil
}

// compareValues orders two primitive values; null sorts first.
func compareValues(a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	switch x := a.(type) {
	case string:
		return strings.Compare(x, b.(string))
	case int64:
		return cmp.Compare(x, asInt(b))
	case bool:
		y := b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	}
	return 0
}

// project keeps only the selected properties (all when sel is empty) plus
// the expanded navigation properties already present in row.
func project(row map[string]any, sel []string, q *queryOpts) map[string]any {
	if len(sel) == 0 {
		return row
	}
	out := make(map[string]any, len(sel))
	for _, s := range sel {
		out[s] = row[s]
	}
	if q != nil {
		for _, e := range q.expand {
			if v, ok := row[e.name]; ok {
				out[e.name] = v
			}
		}
	}
	return out
}

// contextSuffix renders the $select/$expand part of @odata.context.
func (q *queryOpts) contextSuffix() string {
	if q == nil || (len(q.selects) == 0 && len(q.expand) == 0) {
		return ""
	}
	var parts []string
	parts = append(parts, q.selects...)
	for _, e := range q.expand {
		parts = append(parts, e.name+"("+e.opts.contextSuffixInner()+")")
	}
	return "(" + strings.Join(parts, ",") + ")"
}

func (q *queryOpts) contextSuffixInner() string {
	s := q.contextSuffix()
	return strings.TrimSuffix(strings.TrimPrefix(s, "("), ")")
}
