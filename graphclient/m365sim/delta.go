package m365sim

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DeltaTokenLifetime is how long a directory delta (or skip) token stays valid on the sim clock.
const DeltaTokenLifetime = 7 * 24 * time.Hour

// deltaPageSize is the users delta page size (Prefer: odata.maxpagesize may lower or raise it, 1..999).
const deltaPageSize = 200

// deltaState is the content of a users delta $skiptoken or $deltatoken.
type deltaState struct {
	Kind   string `json:"k"`           // "u" (users delta)
	Phase  string `json:"p"`           // "i" initial round, "c" changes round, "d" deltaLink
	From   uint64 `json:"f"`           // changes after this seq...
	To     uint64 `json:"t"`           // ...up to and including this seq
	After  string `json:"a,omitempty"` // last id of the previous page
	Issued int64  `json:"i"`           // sim clock, unix seconds, of the round's start
	Sel    string `json:"s,omitempty"` // $select of the first request
}

// userResourceID returns the user id of a "users/{id}" change resource.
func userResourceID(resource string) (string, bool) {
	id, ok := strings.CutPrefix(resource, "users/")
	if !ok || id == "" || strings.Contains(id, "/") {
		return "", false
	}
	return id, true
}

// usersDelta serves GET /users/delta (also delta() and microsoft.graph.delta).
func (s *Sim) usersDelta(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k := range q {
		switch k {
		case "$select", "$deltatoken", "$skiptoken", "$filter":
		default:
			if strings.HasPrefix(k, "$") {
				s.unsupportedQuery(w, r, "The query option '"+k+"' is not supported with delta queries on users.")
				return
			}
		}
	}
	now := s.Now()
	pageSize := deltaPageSize
	if n, ok := preferMaxPageSize(r); ok {
		pageSize = n
	}
	var st deltaState
	switch {
	case q.Get("$deltatoken") == "latest":
		var seq uint64
		s.read(func(t *tenant) { seq = t.seq })
		st = deltaState{Kind: "u", Phase: "d", To: seq, Issued: now.Unix(), Sel: q.Get("$select")}
		if _, err := parseSelect(st.Sel, userSchema); err != nil {
			s.badRequest(w, r, err.Error())
			return
		}
		s.writeDeltaPage(w, r, nil, nil, st, "")
		return
	case q.Get("$deltatoken") != "" || q.Get("$skiptoken") != "":
		tok := q.Get("$deltatoken")
		if tok == "" {
			tok = q.Get("$skiptoken")
		}
		if !s.openToken(tok, &st) || st.Kind != "u" || (q.Get("$deltatoken") != "") != (st.Phase == "d") {
			s.deltaGone(w, r, "The delta token is not recognised. Restart the sync from the beginning (without a delta token).")
			return
		}
		if now.Sub(time.Unix(st.Issued, 0)) > DeltaTokenLifetime {
			s.deltaGone(w, r, "The delta token has expired (older than 7 days). Restart the sync from the beginning (without a delta token).")
			return
		}
		if st.Phase == "d" { // a new changes round starts from the deltaLink's seq
			var seq uint64
			s.read(func(t *tenant) { seq = t.seq })
			st = deltaState{Kind: "u", Phase: "c", From: st.To, To: seq, Issued: now.Unix(), Sel: st.Sel}
		}
	default:
		if q.Get("$filter") != "" {
			s.unsupportedQuery(w, r, "The simulator supports users delta without $filter only; graphclient does not filter delta.")
			return
		}
		var seq uint64
		s.read(func(t *tenant) { seq = t.seq })
		st = deltaState{Kind: "u", Phase: "i", To: seq, Issued: now.Unix(), Sel: q.Get("$select")}
	}
	sel, err := parseSelect(st.Sel, userSchema)
	if err != nil {
		s.badRequest(w, r, err.Error())
		return
	}
	var b []byte
	var last string
	more := false
	s.read(func(t *tenant) {
		n := 0
		emit := func(render func([]byte) []byte, id string) bool {
			if n == pageSize {
				more = true
				return false
			}
			if n > 0 {
				b = append(b, ',')
			}
			b = render(b)
			last = id
			n++
			return true
		}
		if st.Phase == "i" {
			for i := t.usersAfter(st.After); i < len(t.users); i++ {
				u := t.users[i]
				if u.SoftDeleted() {
					continue
				}
				if !emit(func(b []byte) []byte { return userSchema.appendObject(b, u, sel, false) }, u.ID) {
					break
				}
			}
			return
		}
		changed := map[string]bool{}
		for _, c := range t.changesSince(st.From, st.To) {
			if id, ok := userResourceID(c.Resource); ok {
				changed[id] = true
			}
		}
		ids := make([]string, 0, len(changed))
		for id := range changed {
			if id > st.After {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		for _, id := range ids {
			u := t.byID[id]
			var render func([]byte) []byte
			switch {
			case u == nil:
				render = func(b []byte) []byte { return appendRemoved(b, id, "deleted") }
			case u.SoftDeleted():
				render = func(b []byte) []byte { return appendRemoved(b, id, "changed") }
			default:
				render = func(b []byte) []byte { return userSchema.appendObject(b, u, sel, false) }
			}
			if !emit(render, id) {
				break
			}
		}
	})
	if more {
		st.After = last
		s.writeDeltaPage(w, r, b, sel, st, "$skiptoken")
		return
	}
	s.writeDeltaPage(w, r, b, sel, deltaState{Kind: "u", Phase: "d", To: st.To, Issued: st.Issued, Sel: st.Sel}, "$deltatoken")
}

// appendRemoved renders {"id":…,"@removed":{"reason":…}}.
func appendRemoved(b []byte, id, reason string) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, id)
	b = append(b, `,"@removed":{"reason":"`...)
	b = append(b, reason...)
	return append(b, `"}}`...)
}

// writeDeltaPage writes a delta page whose value items are in items, with a
// nextLink ($skiptoken) or deltaLink ($deltatoken) carrying st.
func (s *Sim) writeDeltaPage(w http.ResponseWriter, r *http.Request, items []byte, sel *selection, st deltaState, key string) {
	if key == "" {
		key = "$deltatoken"
	}
	out := make([]byte, 0, len(items)+512)
	out = append(out, `{"@odata.context":`...)
	out = appendJSONString(out, s.GraphURL()+"/$metadata#users"+sel.contextSuffix())
	link := s.URL() + r.URL.Path + "?" + key + "=" + s.sealToken(st)
	if key == "$skiptoken" {
		out = append(out, `,"@odata.nextLink":`...)
	} else {
		out = append(out, `,"@odata.deltaLink":`...)
	}
	out = appendJSONString(out, link)
	out = append(out, `,"value":[`...)
	out = append(out, items...)
	out = append(out, "]}"...)
	writeOData(w, http.StatusOK, out)
}

// deltaGone answers 410 Gone for an unknown or expired delta token, with a
// Location to restart from.
func (s *Sim) deltaGone(w http.ResponseWriter, r *http.Request, msg string) {
	w.Header().Set("Location", s.URL()+r.URL.Path)
	s.graphError(w, r, http.StatusGone, "syncStateNotFound", msg)
}

// preferMaxPageSize reads Prefer: odata.maxpagesize=N (1..999).
func preferMaxPageSize(r *http.Request) (int, bool) {
	for _, v := range r.Header.Values("Prefer") {
		for _, p := range strings.Split(v, ",") {
			if n, ok := strings.CutPrefix(strings.TrimSpace(p), "odata.maxpagesize="); ok {
				if x, err := strconv.Atoi(n); err == nil && x >= 1 && x <= 999 {
					return x, true
				}
			}
		}
	}
	return 0, false
}
