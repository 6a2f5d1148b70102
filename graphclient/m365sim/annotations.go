package m365sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// OData annotations in request bodies. Graph reads a JSON body as an OData
// payload: instance annotations ("@odata.type") and property annotations
// ("toRecipients@odata.type") are metadata, not properties, so they never
// count as unknown properties. The msgraph SDK's typed models always send
// "@odata.type" on every object (e.g. "#microsoft.graph.message"), and real
// Graph accepts that. The sim removes the @odata.* annotations before its
// strict decode (which still refuses real unknown properties) and checks that
// every "@odata.type" names a type, as Graph does.

// odataAnnotation is the marker of an OData-namespace annotation key.
const odataAnnotation = "@odata."

// stripODataAnnotations returns raw without @odata.* annotation keys, at any
// depth. A body without annotations (or not parseable JSON, which the strict
// decoder then reports) is returned unchanged. The error names a bad
// "@odata.type" value.
func stripODataAnnotations(raw []byte) ([]byte, error) {
	if !bytes.Contains(raw, []byte(odataAnnotation)) {
		return raw, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // numbers keep their exact text through the round trip
	var v any
	if err := dec.Decode(&v); err != nil {
		return raw, nil
	}
	changed, err := stripAnnotationsIn(v)
	if err != nil || !changed {
		return raw, err
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("re-encode the body: %w", err)
	}
	return out, nil
}

// stripAnnotationsIn removes @odata.* keys from v's objects in place and
// reports whether it removed any.
func stripAnnotationsIn(v any) (bool, error) {
	changed := false
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if i := strings.Index(k, odataAnnotation); i >= 0 {
				if k[i:] == "@odata.type" {
					if err := checkODataType(k, val); err != nil {
						return false, err
					}
				}
				delete(x, k)
				changed = true
				continue
			}
			c, err := stripAnnotationsIn(val)
			if err != nil {
				return false, err
			}
			changed = changed || c
		}
	case []any:
		for _, val := range x {
			c, err := stripAnnotationsIn(val)
			if err != nil {
				return false, err
			}
			changed = changed || c
		}
	}
	return changed, nil
}

// checkODataType accepts a type name of Graph's model ("#microsoft.graph.X",
// the "#" optional as in OData 4.01), a primitive ("#Edm.String"), or a
// collection of either ("#Collection(microsoft.graph.recipient)").
func checkODataType(key string, val any) error {
	s, ok := val.(string)
	if !ok {
		return fmt.Errorf("The annotation '%s' must be a string naming a type; got %v.", key, val)
	}
	name := strings.TrimPrefix(s, "#")
	if inner, ok := strings.CutPrefix(name, "Collection("); ok && strings.HasSuffix(inner, ")") {
		name = strings.TrimSuffix(inner, ")")
	}
	for _, ns := range []string{"microsoft.graph.", "Edm."} {
		if rest, ok := strings.CutPrefix(name, ns); ok && rest != "" && !strings.ContainsAny(rest, " ./#") {
			return nil
		}
	}
	return fmt.Errorf("A type named '%s' could not be resolved by the model. When a model is available, each type name must resolve to a valid type.", s)
}
