package pbxsim

import (
	"encoding/json"
	"testing"
)

func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	v := map[string]any{
		"s": "quote\" back\\ nl\n cr\r tab\t ctl\x01 html<>& ünï 😀 \u2028\u2029", "b": true, "n": nil,
		"i": int64(-42), "i32": int32(7), "int": 3, "f": 1.5,
		"list": []any{"a", int64(1), false, nil, map[string]any{"z": "y", "a": []any{}}},
		"m":    map[string]any{}, "strs": []string{"x", "y"},
	}
	got, err := appendJSON(nil, v)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(v)
	if string(got) != string(want) {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	var back map[string]any
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatal(err)
	}
}
