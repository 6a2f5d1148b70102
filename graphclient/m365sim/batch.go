package m365sim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// MaxBatchRequests is Graph's limit of requests in one $batch.
const MaxBatchRequests = 20

type batchItem struct {
	ID        string            `json:"id"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	Body      json.RawMessage   `json:"body"`
	DependsOn []string          `json:"dependsOn"`
}

type batchResult struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`
}

// batch serves POST /$batch: validates the envelope, runs the items (in
// parallel unless dependsOn orders them) back through the Graph pipeline and
// collects their responses.
func (s *Sim) batch(w http.ResponseWriter, r *http.Request) {
	if ri := requestInfoFrom(r); ri.inBatch {
		s.graphError(w, r, http.StatusBadRequest, "BadRequest", "A $batch request cannot contain another $batch request.")
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		s.graphError(w, r, http.StatusBadRequest, "BadRequest", fmt.Sprintf("The $batch request needs Content-Type: application/json (got '%s').", ct))
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		s.graphError(w, r, http.StatusBadRequest, "BadRequest", "Could not read the $batch body: "+err.Error())
		return
	}
	var env struct {
		Requests []batchItem `json:"requests"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		s.graphError(w, r, http.StatusBadRequest, "BadRequest", "Invalid batch payload format: "+err.Error())
		return
	}
	items := env.Requests
	if len(items) == 0 {
		s.graphError(w, r, http.StatusBadRequest, "BadRequest", "Invalid batch payload format: the batch has no requests.")
		return
	}
	if len(items) > MaxBatchRequests {
		s.graphError(w, r, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Invalid batch payload format: the batch has %d requests; the maximum is %d.", len(items), MaxBatchRequests))
		return
	}
	byID := map[string]int{}
	for i, it := range items {
		key := strings.ToLower(it.ID)
		switch {
		case it.ID == "":
			s.graphError(w, r, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Invalid batch payload format: request %d has no id.", i+1))
			return
		case byID[key] != 0:
			s.graphError(w, r, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Invalid batch payload format: the request id '%s' is used more than once.", it.ID))
			return
		case it.Method == "" || it.URL == "":
			s.graphError(w, r, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Invalid batch payload format: request '%s' needs a method and a url.", it.ID))
			return
		case strings.Contains(it.URL, "://"):
			s.graphError(w, r, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Invalid batch payload format: request '%s' has an absolute url; batch urls are relative to the version, e.g. /users.", it.ID))
			return
		case len(it.Body) > 0 && string(it.Body) != "null" && headerValue(it.Headers, "Content-Type") == "":
			s.graphError(w, r, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Invalid batch payload format: request '%s' has a body but no Content-Type header.", it.ID))
			return
		}
		byID[key] = i + 1
	}
	for _, it := range items {
		for _, d := range it.DependsOn {
			if byID[strings.ToLower(d)] == 0 {
				s.graphError(w, r, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Invalid batch payload format: request '%s' depends on unknown request '%s'.", it.ID, d))
				return
			}
		}
	}
	if cyclic(items, byID) {
		s.graphError(w, r, http.StatusBadRequest, "BadRequest", "Invalid batch payload format: the dependsOn chain has a cycle.")
		return
	}
	results := make([]batchResult, len(items))
	done := make([]chan struct{}, len(items))
	for i := range done {
		done[i] = make(chan struct{})
	}
	var wg sync.WaitGroup
	for i, it := range items {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done[i])
			for _, d := range it.DependsOn {
				j := byID[strings.ToLower(d)] - 1
				<-done[j]
				if results[j].Status >= 400 {
					results[i] = s.failedDependency(r, it.ID, d)
					return
				}
			}
			results[i] = s.runBatchItem(r, it)
		}()
	}
	wg.Wait()
	out, err := json.Marshal(map[string]any{"responses": results})
	if err != nil {
		s.graphError(w, r, http.StatusInternalServerError, "generalException", "Could not encode the batch response: "+err.Error())
		return
	}
	writeOData(w, http.StatusOK, out)
}

// cyclic reports a dependsOn cycle.
func cyclic(items []batchItem, byID map[string]int) bool {
	state := make([]int, len(items)) // 0 new, 1 visiting, 2 done
	var visit func(i int) bool
	visit = func(i int) bool {
		if state[i] == 1 {
			return true
		}
		if state[i] == 2 {
			return false
		}
		state[i] = 1
		for _, d := range items[i].DependsOn {
			if visit(byID[strings.ToLower(d)] - 1) {
				return true
			}
		}
		state[i] = 2
		return false
	}
	for i := range items {
		if visit(i) {
			return true
		}
	}
	return false
}

func headerValue(h map[string]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// failedDependency is the 424 answer for an item whose dependency failed.
func (s *Sim) failedDependency(outer *http.Request, id, dep string) batchResult {
	rec := newRecorder()
	s.graphError(rec, outer, http.StatusFailedDependency, "FailedDependency", fmt.Sprintf("The request '%s' was not executed because the request '%s' it depends on failed.", id, dep))
	return rec.result(id)
}

// runBatchItem dispatches one item through the Graph pipeline.
func (s *Sim) runBatchItem(outer *http.Request, it batchItem) batchResult {
	rel := strings.TrimPrefix(it.URL, "/")
	u, err := url.Parse(s.URL() + "/v1.0/" + rel)
	if err != nil {
		rec := newRecorder()
		s.graphError(rec, outer, http.StatusBadRequest, "BadRequest", fmt.Sprintf("The url '%s' is not valid: %v.", it.URL, err))
		return rec.result(it.ID)
	}
	var body []byte
	if len(it.Body) > 0 && string(it.Body) != "null" {
		body = it.Body
		var str string
		ct := strings.ToLower(headerValue(it.Headers, "Content-Type"))
		if !strings.Contains(ct, "json") && json.Unmarshal(it.Body, &str) == nil {
			if dec, err := base64.StdEncoding.DecodeString(str); err == nil {
				body = dec
			}
		}
	}
	req, err := http.NewRequestWithContext(outer.Context(), strings.ToUpper(it.Method), u.String(), bytes.NewReader(body))
	if err != nil {
		rec := newRecorder()
		s.graphError(rec, outer, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Request '%s': %v.", it.ID, err))
		return rec.result(it.ID)
	}
	for k, v := range it.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Authorization", outer.Header.Get("Authorization"))
	req.RemoteAddr = outer.RemoteAddr
	rec := newRecorder()
	s.serveGraph(rec, req, true)
	return rec.result(it.ID)
}

// recorder is a minimal in-memory http.ResponseWriter for batch items.
type recorder struct {
	h    http.Header
	code int
	buf  bytes.Buffer
}

func newRecorder() *recorder { return &recorder{h: http.Header{}} }

func (rc *recorder) Header() http.Header { return rc.h }

func (rc *recorder) WriteHeader(code int) {
	if rc.code == 0 {
		rc.code = code
	}
}

func (rc *recorder) Write(b []byte) (int, error) {
	if rc.code == 0 {
		rc.code = http.StatusOK
	}
	return rc.buf.Write(b)
}

// result converts the recorded response into a batch response item.
func (rc *recorder) result(id string) batchResult {
	res := batchResult{ID: id, Status: rc.code, Headers: map[string]string{}}
	if res.Status == 0 {
		res.Status = http.StatusOK
	}
	for k, v := range rc.h {
		switch k {
		case "Content-Length", "Strict-Transport-Security", "X-Ms-Ags-Diagnostic":
			continue
		}
		res.Headers[k] = strings.Join(v, ", ")
	}
	if rc.buf.Len() > 0 {
		ct := strings.ToLower(rc.h.Get("Content-Type"))
		if strings.Contains(ct, "json") && json.Valid(rc.buf.Bytes()) {
			res.Body = append(json.RawMessage(nil), rc.buf.Bytes()...)
		} else {
			res.Body = mustJSON(base64.StdEncoding.EncodeToString(rc.buf.Bytes()))
		}
	}
	return res
}
