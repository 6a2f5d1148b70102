package m365sim

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// The /_sim/ control API (JSON), for `pbx365 sim` users and the demo. Every
// call needs "Authorization: Bearer <ControlKey()>". Errors are
// {"error":"message"} with 400 (bad input), 401 (key), 404 (unknown id).
//
//	GET    /_sim/info                         urls, tenant, client id, CA PEM, consented roles
//	POST   /_sim/certificates                 body: certificate PEM → registered
//	DELETE /_sim/certificates                 remove all certificates
//	POST   /_sim/consent                      {"grant":[...],"revoke":[...],"grantAll":true}
//	GET    /_sim/users                        all users (JSON array)
//	POST   /_sim/users                        User JSON → created user
//	GET    /_sim/users/{id}                   one user
//	PATCH  /_sim/users/{id}                   partial User JSON (only the fields given change)
//	POST   /_sim/users/{id}/disable|enable|softDelete|restore
//	DELETE /_sim/users/{id}                   hard delete
//	PUT    /_sim/users/{id}/photo             body: JPEG/PNG bytes
//	DELETE /_sim/users/{id}/photo
//	GET    /_sim/groups                       all groups
//	POST   /_sim/groups/{id}/members          {"id":"member id"}
//	DELETE /_sim/groups/{id}/members/{member}
//	POST   /_sim/faults                       {"latency":"20ms","throttleNext":{"n":3,"retryAfter":"1s","method":"","prefix":""},
//	                                           "throttleRate":{"fraction":0.1,"retryAfter":"1s"},"failNext":{"n":1,"status":503,"retryAfter":"1s"},
//	                                           "expireAccessTokens":true,"clear":true}
//	GET    /_sim/clock                        {"now":RFC3339}
//	POST   /_sim/clock                        {"now":RFC3339} or {"advance":"1h"}
//	GET    /_sim/requests                     the request log
//	GET    /_sim/requests/count?method=&prefix=  {"count":N} (RequestCount)
//	POST   /_sim/groups                       Group JSON → created group
//	DELETE /_sim/requests                     reset it
//	GET    /_sim/changes?since=N              the change log after seq N
//	GET    /_sim/users/{id}/mailbox           contact folders and events
//	POST   /_sim/users/{id}/events            Event JSON → created meeting
//	PATCH  /_sim/users/{id}/events/{eid}      partial Event JSON
//	POST   /_sim/users/{id}/events/{eid}/move {"start":RFC3339} (duration kept)
//	POST   /_sim/users/{id}/events/{eid}/cancel
//	DELETE /_sim/users/{id}/events/{eid}
//	POST   /_sim/users/{id}/contacts[?folder=ID]  Contact JSON → created
//	PATCH  /_sim/users/{id}/contacts/{cid}    partial Contact JSON
//	DELETE /_sim/users/{id}/contacts/{cid}
func (s *Sim) installControlRoutes() {
	m := s.controlMux
	m.HandleFunc("GET /_sim/info", s.ctlInfo)
	m.HandleFunc("POST /_sim/certificates", s.ctlAddCert)
	m.HandleFunc("DELETE /_sim/certificates", func(w http.ResponseWriter, r *http.Request) {
		s.RemoveCertificates()
		ctlOK(w, map[string]any{"removed": true})
	})
	m.HandleFunc("POST /_sim/consent", s.ctlConsent)
	m.HandleFunc("GET /_sim/users", func(w http.ResponseWriter, r *http.Request) { ctlOK(w, s.Users()) })
	m.HandleFunc("POST /_sim/users", s.ctlAddUser)
	m.HandleFunc("GET /_sim/users/{id}", func(w http.ResponseWriter, r *http.Request) {
		u, ok := s.User(r.PathValue("id"))
		if !ok {
			ctlErr(w, fmt.Errorf("user %q: %w", r.PathValue("id"), ErrNotFound))
			return
		}
		ctlOK(w, u)
	})
	m.HandleFunc("PATCH /_sim/users/{id}", s.ctlPatchUser)
	m.HandleFunc("POST /_sim/users/{id}/{action}", s.ctlUserAction)
	m.HandleFunc("DELETE /_sim/users/{id}", func(w http.ResponseWriter, r *http.Request) {
		ctlResult(w, s.HardDeleteUser(r.PathValue("id")))
	})
	m.HandleFunc("PUT /_sim/users/{id}/photo", func(w http.ResponseWriter, r *http.Request) {
		data, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
		if err != nil {
			ctlErr(w, fmt.Errorf("read photo: %w", err))
			return
		}
		ctlResult(w, s.SetPhoto(r.PathValue("id"), data))
	})
	m.HandleFunc("DELETE /_sim/users/{id}/photo", func(w http.ResponseWriter, r *http.Request) {
		ctlResult(w, s.RemovePhoto(r.PathValue("id")))
	})
	m.HandleFunc("GET /_sim/groups", func(w http.ResponseWriter, r *http.Request) { ctlOK(w, s.Groups()) })
	m.HandleFunc("POST /_sim/groups/{id}/members", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			ID string `json:"id"`
		}
		if !ctlDecode(w, r, &body) {
			return
		}
		ctlResult(w, s.AddGroupMember(r.PathValue("id"), body.ID))
	})
	m.HandleFunc("DELETE /_sim/groups/{id}/members/{member}", func(w http.ResponseWriter, r *http.Request) {
		ctlResult(w, s.RemoveGroupMember(r.PathValue("id"), r.PathValue("member")))
	})
	m.HandleFunc("POST /_sim/faults", s.ctlFaults)
	m.HandleFunc("GET /_sim/clock", func(w http.ResponseWriter, r *http.Request) {
		ctlOK(w, map[string]any{"now": s.Now().Format(time.RFC3339Nano)})
	})
	m.HandleFunc("POST /_sim/clock", s.ctlClock)
	m.HandleFunc("GET /_sim/requests", func(w http.ResponseWriter, r *http.Request) { ctlOK(w, s.Requests()) })
	m.HandleFunc("GET /_sim/requests/count", func(w http.ResponseWriter, r *http.Request) {
		ctlOK(w, map[string]int{"count": s.RequestCount(r.URL.Query().Get("method"), r.URL.Query().Get("prefix"))})
	})
	m.HandleFunc("POST /_sim/groups", func(w http.ResponseWriter, r *http.Request) {
		var g Group
		if !ctlDecode(w, r, &g) {
			return
		}
		ng, err := s.AddGroup(g)
		if err != nil {
			ctlErr(w, err)
			return
		}
		ctlOK(w, ng)
	})
	m.HandleFunc("DELETE /_sim/requests", func(w http.ResponseWriter, r *http.Request) {
		s.ResetRequests()
		ctlOK(w, map[string]any{"reset": true})
	})
	m.HandleFunc("GET /_sim/changes", s.ctlChanges)
	s.installMailboxControlRoutes()
}

// serveControl authenticates and dispatches a control API call.
func (s *Sim) serveControl(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Authorization")
	if len(key) > 7 && key[:7] == "Bearer " {
		key = key[7:]
	} else {
		key = ""
	}
	if subtle.ConstantTimeCompare([]byte(key), []byte(s.controlKey)) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="m365sim control"`)
		writeRawJSON(w, http.StatusUnauthorized, mustJSON(map[string]string{"error": "the control API needs Authorization: Bearer <control key> (Sim.ControlKey, printed by `pbx365 sim`)"}))
		return
	}
	if _, pattern := s.controlMux.Handler(r); pattern == "" {
		writeRawJSON(w, http.StatusNotFound, mustJSON(map[string]string{"error": fmt.Sprintf("no control route %s %s", r.Method, r.URL.Path)}))
		return
	}
	s.controlMux.ServeHTTP(w, r)
}

func ctlOK(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		ctlErr(w, err)
		return
	}
	writeRawJSON(w, http.StatusOK, b)
}

func ctlErr(w http.ResponseWriter, err error) {
	status := http.StatusBadRequest
	if errors.Is(err, ErrNotFound) {
		status = http.StatusNotFound
	}
	writeRawJSON(w, status, mustJSON(map[string]string{"error": err.Error()}))
}

func ctlResult(w http.ResponseWriter, err error) {
	if err != nil {
		ctlErr(w, err)
		return
	}
	ctlOK(w, map[string]any{"ok": true})
}

// ctlDecode reads a JSON body strictly (unknown fields refused).
func ctlDecode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		ctlErr(w, fmt.Errorf("bad JSON body: %w", err))
		return false
	}
	return true
}

func (s *Sim) ctlInfo(w http.ResponseWriter, r *http.Request) {
	ctlOK(w, map[string]any{
		"url": s.URL(), "graphUrl": s.GraphURL(), "tenantId": s.TenantID(), "clientId": s.ClientID(),
		"domain": Domain, "caCertPem": string(s.CACertPEM()), "consented": s.Consented(), "now": s.Now().Format(time.RFC3339Nano),
	})
}

func (s *Sim) ctlAddCert(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		ctlErr(w, fmt.Errorf("read certificate: %w", err))
		return
	}
	ctlResult(w, s.RegisterCertificate(data))
}

func (s *Sim) ctlConsent(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Grant    []string `json:"grant"`
		Revoke   []string `json:"revoke"`
		GrantAll bool     `json:"grantAll"`
	}
	if !ctlDecode(w, r, &body) {
		return
	}
	for _, p := range append(append([]string(nil), body.Grant...), body.Revoke...) {
		if !knownRole(p) {
			ctlErr(w, fmt.Errorf("unknown permission %q (known: %v)", p, knownRoles))
			return
		}
	}
	if body.GrantAll {
		s.GrantAll()
	}
	s.Grant(body.Grant...)
	s.Revoke(body.Revoke...)
	ctlOK(w, map[string]any{"consented": s.Consented()})
}

func knownRole(p string) bool {
	for _, k := range knownRoles {
		if k == p {
			return true
		}
	}
	return false
}

func (s *Sim) ctlAddUser(w http.ResponseWriter, r *http.Request) {
	var u User
	if !ctlDecode(w, r, &u) {
		return
	}
	nu, err := s.AddUser(u)
	if err != nil {
		ctlErr(w, err)
		return
	}
	ctlOK(w, nu)
}

// ctlReadPatch reads a partial JSON object, checking its fields against T.
func ctlReadPatch[T any](w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		ctlErr(w, fmt.Errorf("read body: %w", err))
		return nil, false
	}
	var probe T
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&probe); err != nil {
		ctlErr(w, fmt.Errorf("bad JSON body: %w", err))
		return nil, false
	}
	return raw, true
}

// applyPatch unmarshals raw onto x, remembering the first error in *perr.
func applyPatch(raw []byte, x any, perr *error) {
	if err := json.Unmarshal(raw, x); err != nil && *perr == nil {
		*perr = fmt.Errorf("bad JSON body: %w", err)
	}
}

// ctlPatchUser applies the given JSON fields onto the user.
func (s *Sim) ctlPatchUser(w http.ResponseWriter, r *http.Request) {
	raw, ok := ctlReadPatch[User](w, r)
	if !ok {
		return
	}
	var perr error
	err := s.UpdateUser(r.PathValue("id"), func(u *User) {
		id := u.ID
		applyPatch(raw, u, &perr)
		u.ID = id
	})
	if err = errors.Join(err, perr); err != nil {
		ctlErr(w, err)
		return
	}
	u, _ := s.User(r.PathValue("id"))
	ctlOK(w, u)
}

func (s *Sim) installMailboxControlRoutes() {
	m := s.controlMux
	m.HandleFunc("GET /_sim/users/{id}/mailbox", func(w http.ResponseWriter, r *http.Request) {
		mb := s.Mailbox(r.PathValue("id"))
		if mb == nil {
			ctlErr(w, fmt.Errorf("mailbox of %q: %w", r.PathValue("id"), ErrNotFound))
			return
		}
		ctlOK(w, mb)
	})
	m.HandleFunc("POST /_sim/users/{id}/events", func(w http.ResponseWriter, r *http.Request) {
		var e Event
		if !ctlDecode(w, r, &e) {
			return
		}
		ne, err := s.AddEvent(r.PathValue("id"), e)
		if err != nil {
			ctlErr(w, err)
			return
		}
		ctlOK(w, ne)
	})
	m.HandleFunc("PATCH /_sim/users/{id}/events/{eid}", func(w http.ResponseWriter, r *http.Request) {
		raw, ok := ctlReadPatch[Event](w, r)
		if !ok {
			return
		}
		var perr error
		err := s.UpdateEvent(r.PathValue("id"), r.PathValue("eid"), func(e *Event) { applyPatch(raw, e, &perr) })
		ctlResult(w, errors.Join(err, perr))
	})
	m.HandleFunc("POST /_sim/users/{id}/events/{eid}/cancel", func(w http.ResponseWriter, r *http.Request) {
		ctlResult(w, s.CancelEvent(r.PathValue("id"), r.PathValue("eid")))
	})
	m.HandleFunc("POST /_sim/users/{id}/events/{eid}/move", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Start time.Time `json:"start"`
		}
		if !ctlDecode(w, r, &body) {
			return
		}
		if body.Start.IsZero() {
			ctlErr(w, errors.New(`move: give {"start":"RFC 3339 time"}`))
			return
		}
		ctlResult(w, s.MoveEvent(r.PathValue("id"), r.PathValue("eid"), body.Start))
	})
	m.HandleFunc("DELETE /_sim/users/{id}/events/{eid}", func(w http.ResponseWriter, r *http.Request) {
		ctlResult(w, s.DeleteEvent(r.PathValue("id"), r.PathValue("eid")))
	})
	m.HandleFunc("POST /_sim/users/{id}/contacts", func(w http.ResponseWriter, r *http.Request) {
		var c Contact
		if !ctlDecode(w, r, &c) {
			return
		}
		nc, err := s.AddContact(r.PathValue("id"), r.URL.Query().Get("folder"), c)
		if err != nil {
			ctlErr(w, err)
			return
		}
		ctlOK(w, nc)
	})
	m.HandleFunc("PATCH /_sim/users/{id}/contacts/{cid}", func(w http.ResponseWriter, r *http.Request) {
		raw, ok := ctlReadPatch[Contact](w, r)
		if !ok {
			return
		}
		var perr error
		err := s.UpdateContact(r.PathValue("id"), r.PathValue("cid"), func(c *Contact) { applyPatch(raw, c, &perr) })
		ctlResult(w, errors.Join(err, perr))
	})
	m.HandleFunc("DELETE /_sim/users/{id}/contacts/{cid}", func(w http.ResponseWriter, r *http.Request) {
		ctlResult(w, s.DeleteContact(r.PathValue("id"), r.PathValue("cid")))
	})
}

func (s *Sim) ctlUserAction(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var err error
	switch r.PathValue("action") {
	case "disable":
		err = s.DisableUser(id)
	case "enable":
		err = s.EnableUser(id)
	case "softDelete":
		err = s.SoftDeleteUser(id)
	case "restore":
		err = s.RestoreUser(id)
	default:
		ctlErr(w, fmt.Errorf("unknown user action %q (disable, enable, softDelete, restore)", r.PathValue("action")))
		return
	}
	ctlResult(w, err)
}

// ctlDuration parses an optional Go duration field.
func ctlDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad duration %q (use Go durations like 20ms, 1s, 2h): %w", s, err)
	}
	return d, nil
}

func (s *Sim) ctlFaults(w http.ResponseWriter, r *http.Request) {
	type rule struct {
		N          int    `json:"n"`
		RetryAfter string `json:"retryAfter"`
		Status     int    `json:"status"`
		Method     string `json:"method"`
		Prefix     string `json:"prefix"`
	}
	var body struct {
		Latency      *string `json:"latency"`
		ThrottleNext *rule   `json:"throttleNext"`
		ThrottleRate *struct {
			Fraction   float64 `json:"fraction"`
			RetryAfter string  `json:"retryAfter"`
		} `json:"throttleRate"`
		FailNext           *rule `json:"failNext"`
		ExpireAccessTokens bool  `json:"expireAccessTokens"`
		Clear              bool  `json:"clear"`
	}
	if !ctlDecode(w, r, &body) {
		return
	}
	if body.FailNext != nil && (body.FailNext.Status < 500 || body.FailNext.Status > 599) {
		ctlErr(w, fmt.Errorf("failNext.status %d: use a 5xx status", body.FailNext.Status))
		return
	}
	if body.ThrottleRate != nil && (body.ThrottleRate.Fraction < 0 || body.ThrottleRate.Fraction > 1) {
		ctlErr(w, fmt.Errorf("throttleRate.fraction %v: use 0..1", body.ThrottleRate.Fraction))
		return
	}
	var lat, tnRA, trRA time.Duration
	var err error
	if body.Latency != nil {
		if lat, err = ctlDuration(*body.Latency); err != nil {
			ctlErr(w, fmt.Errorf("latency: %w", err))
			return
		}
	}
	if body.ThrottleNext != nil {
		if tnRA, err = ctlDuration(body.ThrottleNext.RetryAfter); err != nil {
			ctlErr(w, fmt.Errorf("throttleNext.retryAfter: %w", err))
			return
		}
	}
	if body.ThrottleRate != nil {
		if trRA, err = ctlDuration(body.ThrottleRate.RetryAfter); err != nil {
			ctlErr(w, fmt.Errorf("throttleRate.retryAfter: %w", err))
			return
		}
	}
	fnRA := time.Duration(-1) // no Retry-After
	if body.FailNext != nil && body.FailNext.RetryAfter != "" {
		if fnRA, err = ctlDuration(body.FailNext.RetryAfter); err != nil {
			ctlErr(w, fmt.Errorf("failNext.retryAfter: %w", err))
			return
		}
	}
	if body.Clear {
		s.ClearFaults()
	}
	if body.Latency != nil {
		s.SetLatency(lat)
	}
	if tn := body.ThrottleNext; tn != nil {
		s.ThrottleNextMatching(tn.Method, tn.Prefix, tn.N, tnRA)
	}
	if body.ThrottleRate != nil {
		s.ThrottleRate(body.ThrottleRate.Fraction, trRA)
	}
	if fn := body.FailNext; fn != nil {
		s.failNext(fn.Method, fn.Prefix, fn.N, fn.Status, fnRA)
	}
	if body.ExpireAccessTokens {
		s.ExpireAccessTokens()
	}
	throttled, failed := s.FaultCounts()
	ctlOK(w, map[string]any{"ok": true, "throttled": throttled, "failed": failed})
}

func (s *Sim) ctlClock(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Now     string `json:"now"`
		Advance string `json:"advance"`
	}
	if !ctlDecode(w, r, &body) {
		return
	}
	switch {
	case body.Now != "" && body.Advance != "":
		ctlErr(w, errors.New("give either now or advance, not both"))
		return
	case body.Now != "":
		t, err := time.Parse(time.RFC3339, body.Now)
		if err != nil {
			ctlErr(w, fmt.Errorf("now %q is not RFC 3339 (e.g. 2026-01-02T15:04:05Z): %w", body.Now, err))
			return
		}
		s.SetNow(t)
	case body.Advance != "":
		d, err := ctlDuration(body.Advance)
		if err != nil {
			ctlErr(w, fmt.Errorf("advance: %w", err))
			return
		}
		if d < 0 {
			ctlErr(w, errors.New("advance must not be negative; use now to go back"))
			return
		}
		s.Advance(d)
	default:
		ctlErr(w, errors.New("give now (RFC 3339) or advance (Go duration)"))
		return
	}
	ctlOK(w, map[string]any{"now": s.Now().Format(time.RFC3339Nano)})
}

func (s *Sim) ctlChanges(w http.ResponseWriter, r *http.Request) {
	var since uint64
	if v := r.URL.Query().Get("since"); v != "" {
		if _, err := fmt.Sscan(v, &since); err != nil {
			ctlErr(w, fmt.Errorf("since %q: not a number", v))
			return
		}
	}
	ctlOK(w, s.Changes(since))
}

// Changes returns the change log entries after seq since.
func (s *Sim) Changes(since uint64) []Change {
	var out []Change
	s.read(func(t *tenant) { out = append(out, t.changesSince(since, t.seq)...) })
	return out
}
