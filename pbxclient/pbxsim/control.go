package pbxsim

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The control API under /_sim/ (JSON; every request needs the header
// X-Sim-Key: <ControlKey>):
//
//	GET    /_sim/info                  {"url","client_id","secret","version"}
//	GET    /_sim/state                 the Snapshot
//	POST   /_sim/users                 a User → {"id"}
//	PATCH  /_sim/users/{id}            Pbx.User fields (wire names), as an admin edit
//	DELETE /_sim/users/{id}
//	POST   /_sim/users/{id}/profile    {"name"}: a manual status change
//	POST   /_sim/seed-extensions       {"count","match_emails":[...]} → {"ids"}
//	POST   /_sim/numbered              {"kind":"Queue|RingGroup|IVR|Parking|Fax|Trunk|CallFlowApp","number","name"} → {"id"}
//	POST   /_sim/departments           {"name"} → {"id"}
//	POST   /_sim/profile-names         {"custom1","custom2"}
//	POST   /_sim/faults                {"latency_ms","fail_rate","fail_next":{"count","status"},"timeout_next","lose_next","clear"}
//	POST   /_sim/revoke-tokens
//	POST   /_sim/advance               {"seconds"}
//	GET    /_sim/requests              the request log;  DELETE empties it
//
// Errors are {"error":"..."} with 400 (bad input), 401 (key) or 404.

func (s *Sim) serveControl(w http.ResponseWriter, r *http.Request, body []byte) {
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("X-Sim-Key")), []byte(s.opts.ControlKey)) != 1 {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing or wrong X-Sim-Key header"})
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/_sim/")
	fail := func(err error) { writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()}) }
	decode := func(v any) bool {
		if err := json.Unmarshal(body, v); err != nil {
			fail(fmt.Errorf("bad JSON body: %w", err))
			return false
		}
		return true
	}
	ok := func(v any) { writeJSON(w, http.StatusOK, v) }
	route := r.Method + " " + path
	if rest, found := strings.CutPrefix(path, "users/"); found {
		idText, sub, _ := strings.Cut(rest, "/")
		n, err := strconv.ParseInt(idText, 10, 32)
		if err != nil {
			fail(fmt.Errorf("bad user id %q", idText))
			return
		}
		id := int32(n)
		switch {
		case r.Method == http.MethodPatch && sub == "":
			var fields map[string]any
			if decode(&fields) {
				if err := s.EditUser(id, fields); err != nil {
					fail(err)
					return
				}
				ok(map[string]any{})
			}
		case r.Method == http.MethodDelete && sub == "":
			if err := s.DeleteUser(id); err != nil {
				fail(err)
				return
			}
			ok(map[string]any{})
		case r.Method == http.MethodPost && sub == "profile":
			var in struct{ Name string }
			if decode(&in) {
				if err := s.SetUserProfile(id, in.Name); err != nil {
					fail(err)
					return
				}
				ok(map[string]any{})
			}
		default:
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown control route " + route})
		}
		return
	}
	switch route {
	case "GET info":
		ok(map[string]any{"url": s.URL(), "client_id": s.ClientID(), "secret": s.Secret(), "version": s.Version()})
	case "GET state":
		ok(s.Snapshot())
	case "POST users":
		var u User
		if decode(&u) {
			id, err := s.AddUser(u)
			if err != nil {
				fail(err)
				return
			}
			ok(map[string]any{"id": id})
		}
	case "POST seed-extensions":
		var in struct {
			Count       int      `json:"count"`
			MatchEmails []string `json:"match_emails"`
		}
		if decode(&in) {
			ids, err := s.SeedExtensions(in.Count, in.MatchEmails...)
			if err != nil {
				fail(err)
				return
			}
			ok(map[string]any{"ids": ids})
		}
	case "POST numbered":
		var in struct{ Kind, Number, Name string }
		if decode(&in) {
			var id int32
			var err error
			switch in.Kind {
			case "Queue", "RingGroup", "IVR", "Parking", "Fax", "Trunk", "CallFlowApp":
				id, err = s.addNumbered(in.Kind, in.Number, in.Name)
			default:
				err = fmt.Errorf("kind %q: use Queue, RingGroup, IVR, Parking, Fax, Trunk or CallFlowApp", in.Kind)
			}
			if err != nil {
				fail(err)
				return
			}
			ok(map[string]any{"id": id})
		}
	case "POST departments":
		var in struct{ Name string }
		if decode(&in) {
			id, err := s.AddDepartment(in.Name)
			if err != nil {
				fail(err)
				return
			}
			ok(map[string]any{"id": id})
		}
	case "POST profile-names":
		var in struct{ Custom1, Custom2 string }
		if decode(&in) {
			s.SetProfileNames(in.Custom1, in.Custom2)
			ok(map[string]any{})
		}
	case "POST faults":
		var in struct {
			LatencyMS *int     `json:"latency_ms"`
			FailRate  *float64 `json:"fail_rate"`
			FailNext  *struct {
				Count  int `json:"count"`
				Status int `json:"status"`
			} `json:"fail_next"`
			TimeoutNext int  `json:"timeout_next"`
			LoseNext    int  `json:"lose_next"`
			Clear       bool `json:"clear"`
		}
		if decode(&in) {
			if in.Clear {
				s.ClearFaults()
			}
			if in.LatencyMS != nil {
				s.SetLatency(time.Duration(*in.LatencyMS) * time.Millisecond)
			}
			if in.FailRate != nil {
				s.Fail5xxRate(*in.FailRate)
			}
			if in.FailNext != nil && in.FailNext.Count > 0 {
				if in.FailNext.Status < 400 || in.FailNext.Status > 599 {
					fail(fmt.Errorf("fail_next.status %d: use an HTTP error status (400-599)", in.FailNext.Status))
					return
				}
				s.FailNext(in.FailNext.Count, in.FailNext.Status)
			}
			if in.TimeoutNext > 0 {
				s.TimeoutNext(in.TimeoutNext)
			}
			if in.LoseNext > 0 {
				s.LoseResponseNext(in.LoseNext)
			}
			ok(map[string]any{})
		}
	case "POST revoke-tokens":
		s.RevokeTokens()
		ok(map[string]any{})
	case "POST advance":
		var in struct{ Seconds int64 }
		if decode(&in) {
			if in.Seconds < 0 {
				fail(fmt.Errorf("seconds must not be negative"))
				return
			}
			s.Advance(time.Duration(in.Seconds) * time.Second)
			ok(map[string]any{"now": s.Now()})
		}
	case "GET requests":
		ok(s.Requests())
	case "DELETE requests":
		s.ResetRequests()
		ok(map[string]any{})
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown control route " + route})
	}
}
