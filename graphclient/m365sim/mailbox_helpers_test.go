package m365sim

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// mbNow is the fixed sim clock of the mailbox tests: 10:30 UTC tomorrow (the
// test certificates are valid from now on, so the clock must not be in the past).
var mbNow = time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, 1).Add(10*time.Hour + 30*time.Minute)

// mbEnv is a started sim with a client, a token and a few well-known users.
type mbEnv struct {
	s        *Sim
	c        *http.Client
	tok      string
	full     User // the generated user whose mailbox has every kind of data
	noMbx    User // a member without a mailbox
	shared   User // a shared mailbox
	fresh    User // an added user with an empty mailbox
	graphURL string
}

func newMbEnv(t *testing.T) *mbEnv {
	t.Helper()
	s := startSim(t, Options{Seed: 21, Users: 40, Now: func() time.Time { return mbNow }})
	e := &mbEnv{s: s, c: httpClient(t, s), graphURL: s.GraphURL()}
	e.tok = token(t, e.c, s)
	var ok bool
	if e.full, ok = s.User("zoe.nunez.0@" + Domain); !ok {
		t.Fatal("generated user 0 missing")
	}
	for _, u := range s.Users() {
		switch {
		case u.Mailbox == MailboxNone && u.UserType == "Member" && e.noMbx.ID == "":
			e.noMbx = u
		case u.Mailbox == MailboxShared && e.shared.ID == "":
			e.shared = u
		}
	}
	if e.noMbx.ID == "" || e.shared.ID == "" {
		t.Fatal("the generated tenant lacks a user without mailbox or a shared mailbox")
	}
	fresh, err := s.AddUser(User{UserPrincipalName: "fresh.mailbox@" + Domain, Mail: "fresh.mailbox@" + Domain, DisplayName: "Fresh Mailbox",
		UserType: "Member", AccountEnabled: true, Mailbox: MailboxUser})
	if err != nil {
		t.Fatal(err)
	}
	e.fresh = fresh
	return e
}

// tokenWithout returns a token lacking the given roles (consent is restored afterwards).
func (e *mbEnv) tokenWithout(t *testing.T, roles ...string) string {
	t.Helper()
	e.s.Revoke(roles...)
	defer e.s.Grant(roles...)
	return token(t, e.c, e.s)
}

// get is a GET returning status, headers and the decoded JSON object.
func (e *mbEnv) get(t *testing.T, path, tok string, hdr map[string]string) (int, http.Header, map[string]any) {
	t.Helper()
	u := path
	if !strings.HasPrefix(path, "https://") {
		u = e.graphURL + path
	}
	st, h, b := graphDo(t, e.c, "GET", u, tok, nil, hdr)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("GET %s: not JSON (%d): %s", u, st, b)
	}
	return st, h, m
}

// post sends a JSON body and decodes the answer (nil for an empty body).
func (e *mbEnv) post(t *testing.T, method, path, tok string, body any, hdr map[string]string) (int, http.Header, map[string]any) {
	t.Helper()
	var raw []byte
	switch b := body.(type) {
	case []byte:
		raw = b
	case string:
		raw = []byte(b)
	default:
		raw, _ = json.Marshal(b)
	}
	h := map[string]string{"Content-Type": "application/json"}
	for k, v := range hdr {
		h[k] = v
	}
	st, rh, rb := graphDo(t, e.c, method, e.graphURL+path, tok, raw, h)
	if len(rb) == 0 {
		return st, rh, nil
	}
	var m map[string]any
	if err := json.Unmarshal(rb, &m); err != nil {
		t.Fatalf("%s %s: not JSON (%d): %s", method, path, st, rb)
	}
	return st, rh, m
}

// values returns the "value" array of a collection answer.
func values(t *testing.T, m map[string]any) []map[string]any {
	t.Helper()
	arr, ok := m["value"].([]any)
	if !ok {
		t.Fatalf("no value array: %v", m)
	}
	out := make([]map[string]any, len(arr))
	for i, v := range arr {
		out[i] = v.(map[string]any)
	}
	return out
}

// wantError checks a Graph error answer's status and code.
func wantError(t *testing.T, what string, st int, m map[string]any, status int, code string) {
	t.Helper()
	if st != status {
		t.Fatalf("%s: status %d, want %d: %v", what, st, status, m)
	}
	if got := errCode(t, m); got != code {
		t.Fatalf("%s: code %q, want %q: %v", what, got, code, m)
	}
}

func errMessage(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	msg, _ := e["message"].(string)
	return msg
}
