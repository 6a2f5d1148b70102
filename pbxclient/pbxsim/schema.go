package pbxsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// kind is the wire type of one entity property.
type kind int

const (
	kString  kind = iota // Edm.String, nullable
	kBool                // Edm.Boolean, nullable
	kInt                 // Edm.Int32, nullable
	kEnum                // a Pbx enum, sent as its member name
	kStrings             // collection of Edm.String
	kEnums               // collection of a Pbx enum
	kComplex             // a complex type with its own schema (PATCH merges it)
	kRaw                 // a complex type the simulator stores verbatim
	kNav                 // navigation property: never stored as a plain value
	kKey                 // the Int32 key Id
)

// prop describes one property of an entity or complex type.
type prop struct {
	kind kind
	enum []string
	sub  *schema
}

// schema is an entity or complex type: its OData name and properties.
type schema struct {
	name   string // e.g. Pbx.User
	props  map[string]prop
	sorted []string // property names, navigation properties excluded
}

func newSchema(name string, groups ...map[string]prop) *schema {
	s := &schema{name: name, props: map[string]prop{}}
	for _, g := range groups {
		maps.Copy(s.props, g)
	}
	for n, p := range s.props {
		if p.kind != kNav {
			s.sorted = append(s.sorted, n)
		}
	}
	slices.Sort(s.sorted)
	return s
}

// names lists the property names sorted, navigation properties excluded.
func (s *schema) names() []string { return s.sorted }

func str() prop                { return prop{kind: kString} }
func boolean() prop            { return prop{kind: kBool} }
func integer() prop            { return prop{kind: kInt} }
func enum(v ...string) prop    { return prop{kind: kEnum, enum: v} }
func enums(v ...string) prop   { return prop{kind: kEnums, enum: v} }
func complexOf(s *schema) prop { return prop{kind: kComplex, sub: s} }
func raw() prop                { return prop{kind: kRaw} }
func nav() prop                { return prop{kind: kNav} }
func strs() prop               { return prop{kind: kStrings} }

// bodyError builds the 400 an OData service returns for a payload it cannot read.
func bodyError(format string, a ...any) *apiError {
	msg := fmt.Sprintf(format, a...)
	return &apiError{status: 400, message: msg, details: []errorDetail{{Message: msg, Target: strPtr("body")}}}
}

// decodeObject reads a JSON object strictly: it must be an object, and
// duplicate keys are refused.
func decodeObject(data []byte) (map[string]json.RawMessage, *apiError) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, bodyError("A request body is required.")
	}
	if data[0] != '{' {
		return nil, bodyError("The request body must be a JSON object.")
	}
	var m map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&m); err != nil {
		return nil, bodyError("The request body is not valid JSON: %v", err)
	}
	if dec.More() {
		return nil, bodyError("The request body has data after the JSON object.")
	}
	return m, nil
}

// decode validates a (partial) payload against the schema and returns the
// normalised values: string or nil, bool or nil, int64 or nil, []any,
// map[string]any for complex values, any for raw values. Navigation
// properties are returned as json.RawMessage for the caller to handle. Every
// property must be declared by the schema (names are case-sensitive), as
// OData does for a non-open type.
func (s *schema) decode(m map[string]json.RawMessage) (map[string]any, *apiError) {
	out := make(map[string]any, len(m))
	for _, name := range slices.Sorted(maps.Keys(m)) {
		v := m[name]
		if strings.HasPrefix(name, "@odata.") {
			continue // annotations such as @odata.type are allowed
		}
		p, ok := s.props[name]
		if !ok {
			return nil, bodyError("The property '%s' does not exist on type '%s'. Make sure to only use property names that are defined by the type.", name, s.name)
		}
		val, err := p.decodeValue(v, s.name+"."+name)
		if err != nil {
			return nil, err
		}
		out[name] = val
	}
	return out, nil
}

func isNull(v json.RawMessage) bool { return string(bytes.TrimSpace(v)) == "null" }

func (p prop) decodeValue(v json.RawMessage, where string) (any, *apiError) {
	if p.kind == kNav {
		return v, nil
	}
	if isNull(v) {
		if p.kind == kKey {
			return nil, bodyError("A null value was found for the property named '%s', which has the expected type 'Edm.Int32'. The expected type does not allow null values.", where)
		}
		return nil, nil
	}
	switch p.kind {
	case kString:
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, bodyError("Cannot convert the literal '%s' to the expected type 'Edm.String' (%s).", v, where)
		}
		return s, nil
	case kBool:
		var b bool
		if err := json.Unmarshal(v, &b); err != nil {
			return nil, bodyError("Cannot convert the literal '%s' to the expected type 'Edm.Boolean' (%s).", v, where)
		}
		return b, nil
	case kInt, kKey:
		var n int32
		if err := json.Unmarshal(v, &n); err != nil {
			return nil, bodyError("Cannot convert the literal '%s' to the expected type 'Edm.Int32' (%s).", v, where)
		}
		return int64(n), nil
	case kEnum:
		var s string
		if err := json.Unmarshal(v, &s); err != nil || !slices.Contains(p.enum, s) {
			return nil, bodyError("The value '%s' is not a valid enumerated value for %s; allowed: %s.", v, where, strings.Join(p.enum, ", "))
		}
		return s, nil
	case kStrings, kEnums:
		var list []string
		if err := json.Unmarshal(v, &list); err != nil {
			return nil, bodyError("Cannot convert '%s' to a collection of strings (%s).", v, where)
		}
		out := make([]any, 0, len(list))
		for _, s := range list {
			if p.kind == kEnums && !slices.Contains(p.enum, s) {
				return nil, bodyError("The value '%s' is not a valid enumerated value for %s; allowed: %s.", s, where, strings.Join(p.enum, ", "))
			}
			out = append(out, s)
		}
		return out, nil
	case kComplex:
		m, err := decodeObject(v)
		if err != nil {
			return nil, bodyError("The value of %s must be a JSON object.", where)
		}
		return p.sub.decode(m)
	case kRaw:
		var a any
		if err := json.Unmarshal(v, &a); err != nil {
			return nil, bodyError("Cannot read %s: %v", where, err)
		}
		return a, nil
	}
	return nil, bodyError("unsupported property %s", where)
}

// mergeInto applies decoded values onto stored ones: complex values are
// merged recursively (PATCH semantics), everything else replaced.
func mergeInto(dst, src map[string]any) {
	for k, v := range src {
		if sub, ok := v.(map[string]any); ok {
			if cur, ok := dst[k].(map[string]any); ok {
				mergeInto(cur, sub)
				continue
			}
			cp := map[string]any{}
			mergeInto(cp, sub)
			dst[k] = cp
			continue
		}
		dst[k] = v
	}
}

// deepCopy copies a decoded value tree.
func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}

func strPtr(s string) *string { return &s }

// asString reads a stored string value ("" when null).
func asString(v any) string {
	s, _ := v.(string)
	return s
}

// asBool reads a stored boolean (false when null).
func asBool(v any) bool {
	b, _ := v.(bool)
	return b
}

// asInt reads a stored integer (0 when null).
func asInt(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case int32:
		return int64(n)
	case int:
		return int64(n)
	case float64:
		return int64(n)
	}
	return 0
}
