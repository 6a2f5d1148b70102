package m365sim

import (
	"net/http"
	"strings"
	"sync"
	"time"
)

// RequestRecord is one request the sim served (login, Graph, and each $batch
// item; control API calls are not recorded).
type RequestRecord struct {
	Time            time.Time     `json:"time"` // sim clock
	Method          string        `json:"method"`
	Path            string        `json:"path"`  // e.g. /v1.0/users
	Query           string        `json:"query"` // raw query
	Status          int           `json:"status"`
	InBatch         bool          `json:"inBatch"`
	RequestID       string        `json:"requestId,omitempty"`
	ClientRequestID string        `json:"clientRequestId,omitempty"`
	Duration        time.Duration `json:"durationNs"` // wall time spent serving it
}

// requestLog keeps the records (bounded).
type requestLog struct {
	mu      sync.Mutex
	records []RequestRecord
	dropped int
}

const maxRecords = 200000

// pendingRecord is a record being filled in while its request runs.
type pendingRecord struct {
	log   *requestLog
	rec   RequestRecord
	start time.Time
}

func (l *requestLog) start(s *Sim, r *http.Request, inBatch bool) *pendingRecord {
	return &pendingRecord{log: l, start: time.Now(), rec: RequestRecord{
		Time: s.Now(), Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, InBatch: inBatch,
	}}
}

func (p *pendingRecord) setIDs(requestID, clientRequestID string) {
	p.rec.RequestID, p.rec.ClientRequestID = requestID, clientRequestID
}

func (p *pendingRecord) finish(status int) {
	p.rec.Status = status
	p.rec.Duration = time.Since(p.start)
	p.log.mu.Lock()
	if len(p.log.records) >= maxRecords {
		n := maxRecords / 10
		p.log.records = append(p.log.records[:0], p.log.records[n:]...)
		p.log.dropped += n
	}
	p.log.records = append(p.log.records, p.rec)
	p.log.mu.Unlock()
}

// Requests returns a copy of the request log, oldest first.
func (s *Sim) Requests() []RequestRecord {
	s.reqs.mu.Lock()
	defer s.reqs.mu.Unlock()
	return append([]RequestRecord(nil), s.reqs.records...)
}

// RequestCount counts logged requests with the given method ("" = any) whose
// path starts with pathPrefix (e.g. "/v1.0/users").
func (s *Sim) RequestCount(method, pathPrefix string) int {
	s.reqs.mu.Lock()
	defer s.reqs.mu.Unlock()
	n := 0
	for _, r := range s.reqs.records {
		if (method == "" || strings.EqualFold(method, r.Method)) && strings.HasPrefix(r.Path, pathPrefix) {
			n++
		}
	}
	return n
}

// ResetRequests empties the request log.
func (s *Sim) ResetRequests() {
	s.reqs.mu.Lock()
	s.reqs.records = nil
	s.reqs.dropped = 0
	s.reqs.mu.Unlock()
}
