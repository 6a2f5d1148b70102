package pbxsim

import (
	"fmt"
	"strconv"
	"strings"
)

// The $filter language subset 3CX clients use: eq ne gt ge lt le, and or
// not, parentheses, string literals ('' escapes a quote), integers, true,
// false, null, and the functions tolower, toupper, trim, length, contains,
// startswith, endswith, indexof. Expressions are type-checked before they run, as OData
// does: comparing a string property with a number is a 400, not "no match".

// node is a typed filter expression.
type node interface {
	eval(row map[string]any) (any, error)
	typ() string // string, int, bool or null
}

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tString
	tInt
	tLParen
	tRParen
	tComma
)

type token struct {
	kind tokKind
	text string
	pos  int
}

func lexFilter(s string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '(':
			toks = append(toks, token{tLParen, "(", i})
			i++
		case c == ')':
			toks = append(toks, token{tRParen, ")", i})
			i++
		case c == ',':
			toks = append(toks, token{tComma, ",", i})
			i++
		case c == '\'':
			var b strings.Builder
			start := i
			i++
			closed := false
			for i < len(s) {
				if s[i] == '\'' {
					if i+1 < len(s) && s[i+1] == '\'' {
						b.WriteByte('\'')
						i += 2
						continue
					}
					i++
					closed = true
					break
				}
				b.WriteByte(s[i])
				i++
			}
			if !closed {
				return nil, fmt.Errorf("unterminated string literal at position %d", start)
			}
			toks = append(toks, token{tString, b.String(), start})
		case c == '-' || (c >= '0' && c <= '9'):
			start := i
			i++
			for i < len(s) && s[i] >= '0' && s[i] <= '9' {
				i++
			}
			if i < len(s) && (s[i] == '.' || isIdentChar(s[i])) {
				return nil, fmt.Errorf("unsupported numeric literal at position %d", start)
			}
			toks = append(toks, token{tInt, s[start:i], start})
		case isIdentChar(c):
			start := i
			for i < len(s) && (isIdentChar(s[i]) || (s[i] >= '0' && s[i] <= '9')) {
				i++
			}
			toks = append(toks, token{tIdent, s[start:i], start})
		default:
			return nil, fmt.Errorf("syntax error: character '%c' is not valid at position %d", c, i)
		}
	}
	return append(toks, token{tEOF, "", len(s)}), nil
}

func isIdentChar(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

type filterParser struct {
	toks []token
	pos  int
	sc   *schema
}

// parseFilter parses and type-checks a $filter expression against sc.
func parseFilter(s string, sc *schema) (node, *apiError) {
	toks, err := lexFilter(s)
	if err != nil {
		return nil, queryError(fmt.Sprintf("$filter '%s': %v", s, err))
	}
	p := &filterParser{toks: toks, sc: sc}
	n, err := p.parseOr()
	if err == nil && p.peek().kind != tEOF {
		err = fmt.Errorf("syntax error at position %d ('%s')", p.peek().pos, p.peek().text)
	}
	if err == nil && n.typ() != "bool" {
		err = fmt.Errorf("the expression is not a boolean")
	}
	if err != nil {
		return nil, queryError(fmt.Sprintf("$filter '%s': %v", s, err))
	}
	return n, nil
}

func (p *filterParser) peek() token { return p.toks[p.pos] }
func (p *filterParser) next() token {
	t := p.toks[p.pos]
	if t.kind != tEOF {
		p.pos++
	}
	return t
}

func (p *filterParser) keyword(kw string) bool {
	t := p.peek()
	if t.kind == tIdent && t.text == kw {
		p.pos++
		return true
	}
	return false
}

func (p *filterParser) parseOr() (node, error) {
	l, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for p.keyword("or") {
		r, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		if l.typ() != "bool" || r.typ() != "bool" {
			return nil, fmt.Errorf("'or' needs boolean operands")
		}
		l = &logical{op: "or", l: l, r: r}
	}
	return l, nil
}

func (p *filterParser) parseAnd() (node, error) {
	l, err := p.parseNot()
	if err != nil {
		return nil, err
	}
	for p.keyword("and") {
		r, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		if l.typ() != "bool" || r.typ() != "bool" {
			return nil, fmt.Errorf("'and' needs boolean operands")
		}
		l = &logical{op: "and", l: l, r: r}
	}
	return l, nil
}

func (p *filterParser) parseNot() (node, error) {
	if p.keyword("not") {
		x, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		if x.typ() != "bool" {
			return nil, fmt.Errorf("'not' needs a boolean operand")
		}
		return &notNode{x: x}, nil
	}
	return p.parseCmp()
}

var cmpOps = map[string]bool{"eq": true, "ne": true, "gt": true, "ge": true, "lt": true, "le": true}

func (p *filterParser) parseCmp() (node, error) {
	l, err := p.parsePrimary()
	if err != nil {
		return nil, err
	}
	t := p.peek()
	if t.kind != tIdent || !cmpOps[t.text] {
		return l, nil
	}
	p.pos++
	r, err := p.parsePrimary()
	if err != nil {
		return nil, err
	}
	lt, rt := l.typ(), r.typ()
	if lt != "null" && rt != "null" && lt != rt {
		return nil, fmt.Errorf("a binary operator with incompatible types was detected: found operand types '%s' and '%s' for operator '%s'", lt, rt, t.text)
	}
	if t.text != "eq" && t.text != "ne" && (lt == "bool" || rt == "bool" || lt == "null" || rt == "null") {
		return nil, fmt.Errorf("operator '%s' cannot compare '%s' and '%s'", t.text, lt, rt)
	}
	return &compare{op: t.text, l: l, r: r}, nil
}

func (p *filterParser) parsePrimary() (node, error) {
	t := p.next()
	switch t.kind {
	case tLParen:
		n, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if p.next().kind != tRParen {
			return nil, fmt.Errorf("')' expected at position %d", p.toks[p.pos].pos)
		}
		return n, nil
	case tString:
		return &literal{v: t.text, t: "string"}, nil
	case tInt:
		n, err := strconv.ParseInt(t.text, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad number '%s'", t.text)
		}
		return &literal{v: n, t: "int"}, nil
	case tIdent:
		switch t.text {
		case "true", "false":
			return &literal{v: t.text == "true", t: "bool"}, nil
		case "null":
			return &literal{v: nil, t: "null"}, nil
		}
		if p.peek().kind == tLParen {
			return p.parseCall(t)
		}
		ty, e := primitiveProp(p.sc, t.text)
		if e != nil {
			return nil, fmt.Errorf("could not find a primitive property named '%s' on type '%s'", t.text, p.sc.name)
		}
		return &propRef{name: t.text, t: ty}, nil
	}
	return nil, fmt.Errorf("syntax error at position %d", t.pos)
}

// funcs: name -> (argument types, result type).
var funcs = map[string]struct {
	args []string
	res  string
}{
	"tolower":    {[]string{"string"}, "string"},
	"toupper":    {[]string{"string"}, "string"},
	"trim":       {[]string{"string"}, "string"},
	"length":     {[]string{"string"}, "int"},
	"contains":   {[]string{"string", "string"}, "bool"},
	"startswith": {[]string{"string", "string"}, "bool"},
	"endswith":   {[]string{"string", "string"}, "bool"},
	"indexof":    {[]string{"string", "string"}, "int"},
}

func (p *filterParser) parseCall(name token) (node, error) {
	f, ok := funcs[name.text]
	if !ok {
		return nil, fmt.Errorf("unknown function '%s'", name.text)
	}
	p.next() // (
	var args []node
	for {
		a, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		args = append(args, a)
		t := p.next()
		if t.kind == tRParen {
			break
		}
		if t.kind != tComma {
			return nil, fmt.Errorf("',' or ')' expected at position %d", t.pos)
		}
	}
	if len(args) != len(f.args) {
		return nil, fmt.Errorf("function '%s' takes %d arguments, got %d", name.text, len(f.args), len(args))
	}
	for i, a := range args {
		if a.typ() != f.args[i] && a.typ() != "null" {
			return nil, fmt.Errorf("argument %d of '%s' must be %s, not %s", i+1, name.text, f.args[i], a.typ())
		}
	}
	return &call{name: name.text, args: args, t: f.res}, nil
}

type literal struct {
	v any
	t string
}

func (l *literal) eval(map[string]any) (any, error) { return l.v, nil }
func (l *literal) typ() string                      { return l.t }

type propRef struct{ name, t string }

func (p *propRef) eval(row map[string]any) (any, error) {
	v := row[p.name]
	if n, ok := v.(int32); ok {
		return int64(n), nil
	}
	return v, nil
}
func (p *propRef) typ() string { return p.t }

type logical struct {
	op   string
	l, r node
}

func (n *logical) typ() string { return "bool" }
func (n *logical) eval(row map[string]any) (any, error) {
	l, err := n.l.eval(row)
	if err != nil {
		return nil, err
	}
	lb, _ := l.(bool)
	if n.op == "and" && !lb {
		return false, nil
	}
	if n.op == "or" && lb {
		return true, nil
	}
	r, err := n.r.eval(row)
	if err != nil {
		return nil, err
	}
	rb, _ := r.(bool)
	return rb, nil
}

type notNode struct{ x node }

func (n *notNode) typ() string { return "bool" }
func (n *notNode) eval(row map[string]any) (any, error) {
	v, err := n.x.eval(row)
	if err != nil {
		return nil, err
	}
	b, _ := v.(bool)
	return !b, nil
}

type compare struct {
	op   string
	l, r node
}

func (c *compare) typ() string { return "bool" }
func (c *compare) eval(row map[string]any) (any, error) {
	l, err := c.l.eval(row)
	if err != nil {
		return nil, err
	}
	r, err := c.r.eval(row)
	if err != nil {
		return nil, err
	}
	if l == nil || r == nil {
		switch c.op {
		case "eq":
			return l == nil && r == nil, nil
		case "ne":
			return !(l == nil && r == nil), nil
		}
		return false, nil
	}
	d := compareValues(l, r)
	switch c.op {
	case "eq":
		return d == 0, nil
	case "ne":
		return d != 0, nil
	case "gt":
		return d > 0, nil
	case "ge":
		return d >= 0, nil
	case "lt":
		return d < 0, nil
	}
	return d <= 0, nil
}

type call struct {
	name string
	args []node
	t    string
}

func (c *call) typ() string { return c.t }
func (c *call) eval(row map[string]any) (any, error) {
	vals := make([]string, len(c.args))
	for i, a := range c.args {
		v, err := a.eval(row)
		if err != nil {
			return nil, err
		}
		if v == nil {
			if c.t == "bool" {
				return false, nil
			}
			return nil, nil
		}
		vals[i] = v.(string)
	}
	switch c.name {
	case "tolower":
		return strings.ToLower(vals[0]), nil
	case "toupper":
		return strings.ToUpper(vals[0]), nil
	case "trim":
		return strings.TrimSpace(vals[0]), nil
	case "length":
		return int64(len([]rune(vals[0]))), nil
	case "contains":
		return strings.Contains(vals[0], vals[1]), nil
	case "startswith":
		return strings.HasPrefix(vals[0], vals[1]), nil
	case "endswith":
		return strings.HasSuffix(vals[0], vals[1]), nil
	case "indexof":
		return int64(strings.Index(vals[0], vals[1])), nil
	}
	return nil, fmt.Errorf("unknown function %s", c.name)
}
