package m365sim

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
)

// requestInfo travels in a Graph request's context.
type requestInfo struct {
	requestID       string
	clientRequestID string
	claims          *accessClaims
	inBatch         bool
}

type ctxKey int

const requestInfoKey ctxKey = 1

func requestInfoFrom(r *http.Request) *requestInfo {
	if ri, ok := r.Context().Value(requestInfoKey).(*requestInfo); ok {
		return ri
	}
	return &requestInfo{}
}

// access says which application roles allow a route and how a refusal looks.
type access struct {
	roles   []string
	mailbox bool // Outlook-style 403 (ErrorAccessDenied) instead of directory-style
}

// Access rules of the core routes; extensions define their own, e.g.
// access{roles: []string{"Contacts.Read"}, mailbox: true}.
var (
	accessUsers   = access{roles: []string{"User.Read.All", "Directory.Read.All"}}
	accessGroups  = access{roles: []string{"Directory.Read.All", "Group.Read.All", "GroupMember.Read.All"}}
	accessMembers = access{roles: []string{"Directory.Read.All", "Group.Read.All", "GroupMember.Read.All"}}
	accessPhotos  = access{roles: []string{"User.Read.All"}, mailbox: true}
	accessAny     = access{}
)

// graphRoute registers a Graph v1.0 handler. pattern is an http.ServeMux
// pattern relative to /v1.0, e.g. "GET /users/{id}/contacts". The handler
// runs after authentication, fault injection and the role check of acc
// (an empty role list lets every authenticated caller in).
func (s *Sim) graphRoute(pattern string, acc access, h http.HandlerFunc) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		panic("m365sim: graphRoute pattern needs a method: " + pattern)
	}
	s.graph.HandleFunc(method+" /v1.0"+path, func(w http.ResponseWriter, r *http.Request) {
		if len(acc.roles) > 0 {
			ri := requestInfoFrom(r)
			if ri.claims == nil || !slices.ContainsFunc(acc.roles, func(role string) bool { return slices.Contains(ri.claims.Roles, role) }) {
				if acc.mailbox {
					s.graphError(w, r, http.StatusForbidden, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
				} else {
					s.graphError(w, r, http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
				}
				return
			}
		}
		h(w, r)
	})
}

// serveGraph is the Graph pipeline: request log, latency, gzip bodies,
// authentication, injected faults, then the route. inBatch marks requests
// dispatched from $batch.
func (s *Sim) serveGraph(w http.ResponseWriter, r *http.Request, inBatch bool) {
	rec := s.reqs.start(s, r, inBatch)
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		rec.finish(sw.status())
		s.log.Debug("m365sim graph request", "method", r.Method, "path", r.URL.Path, "status", sw.status(), "inBatch", inBatch)
	}()
	ri := &requestInfo{requestID: newUUID(), clientRequestID: r.Header.Get("client-request-id"), inBatch: inBatch}
	if ri.clientRequestID == "" {
		ri.clientRequestID = ri.requestID
	}
	rec.setIDs(ri.requestID, ri.clientRequestID)
	r = r.WithContext(context.WithValue(r.Context(), requestInfoKey, ri))
	h := sw.Header()
	h.Set("request-id", ri.requestID)
	h.Set("client-request-id", ri.clientRequestID)
	h.Set("x-ms-ags-diagnostic", `{"ServerInfo":{"DataCenter":"Loopback","Slice":"E","Ring":"0","ScaleUnit":"000","RoleInstance":"m365sim"}}`)
	h.Set("Strict-Transport-Security", "max-age=31536000")

	if !s.applyLatency(r) {
		s.graphError(sw, r, http.StatusServiceUnavailable, "ServiceUnavailable", "The request was cancelled.")
		return
	}
	switch enc := strings.ToLower(r.Header.Get("Content-Encoding")); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			s.graphError(sw, r, http.StatusBadRequest, "BadRequest", fmt.Sprintf("The request body is marked Content-Encoding: gzip but is not gzip data: %v.", err))
			return
		}
		body, err := io.ReadAll(io.LimitReader(zr, 16<<20))
		if err != nil {
			s.graphError(sw, r, http.StatusBadRequest, "BadRequest", fmt.Sprintf("The request body is marked Content-Encoding: gzip but could not be decompressed: %v.", err))
			return
		}
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		r.ContentLength = int64(len(body))
		r.Header.Del("Content-Encoding")
	default:
		s.graphError(sw, r, http.StatusUnsupportedMediaType, "BadRequest", fmt.Sprintf("Content-Encoding '%s' is not supported.", enc))
		return
	}
	claims, problem := s.checkAccessToken(r.Header.Get("Authorization"))
	if problem != nil {
		s.writeAuthChallenge(sw, r, problem)
		return
	}
	ri.claims = claims
	if f := s.faults.next(r.Method, r.URL.Path); f != nil {
		s.writeFault(sw, r, f)
		return
	}
	if _, pattern := s.graph.Handler(r); pattern == "" {
		s.noRoute(sw, r)
		return
	}
	s.graph.ServeHTTP(sw, r)
}

// noRoute answers a request no route matched: 405 when another method
// would match, else Graph's "Resource not found for the segment".
func (s *Sim) noRoute(w http.ResponseWriter, r *http.Request) {
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete, http.MethodPut} {
		if m == r.Method {
			continue
		}
		r2 := r.Clone(r.Context())
		r2.Method = m
		if _, p := s.graph.Handler(r2); p != "" {
			s.graphError(w, r, http.StatusMethodNotAllowed, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")
			return
		}
	}
	segs := strings.Split(strings.TrimPrefix(r.URL.Path, "/v1.0/"), "/")
	seg := segs[len(segs)-1]
	for _, sg := range segs {
		if sg != "" && !isKnownSegment(sg) {
			seg = sg
			break
		}
	}
	s.graphError(w, r, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", seg))
}

func isKnownSegment(seg string) bool {
	switch seg {
	case "users", "groups", "photo", "$value", "transitiveMembers", "delta", "delta()", "$batch", "subscriptions", "contacts", "contactFolders", "calendar", "calendarView", "events", "sendMail":
		return true
	}
	return strings.Count(seg, "-") == 4 || strings.Contains(seg, "@")
}
