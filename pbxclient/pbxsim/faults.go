package pbxsim

import (
	"net/http"
	"strings"
	"time"
)

// FaultKind is what an injected fault does to a request.
type FaultKind int

const (
	// FaultStatus answers with Fault.Status (e.g. 503) without doing anything.
	FaultStatus FaultKind = iota
	// FaultTimeout holds the request, doing nothing, until the client gives
	// up (its context ends or it closes the connection) or the simulator closes.
	FaultTimeout
	// FaultLoseResponse performs the request in full, then closes the
	// connection without a reply (HTTP/1: hijack and close; HTTP/2: stream
	// reset), so the client cannot know whether it happened. Note that Go's
	// http.Transport silently retries an idempotent request (GET, or one with
	// an Idempotency-Key header) that failed this way on a reused connection.
	FaultLoseResponse
)

// String names the kind as the request log shows it.
func (k FaultKind) String() string {
	switch k {
	case FaultStatus:
		return "status"
	case FaultTimeout:
		return "timeout"
	case FaultLoseResponse:
		return "lose-response"
	}
	return "unknown"
}

// Fault is an injected fault for the next Count matching /xapi/v1 requests.
// Faults never apply to /connect/token or /_sim/.
type Fault struct {
	Kind FaultKind
	// Status is the HTTP status of a FaultStatus (default 503).
	Status int
	// Method limits the fault to one method ("" any, "WRITE" any of POST,
	// PATCH, DELETE).
	Method string
	// PathPrefix limits the fault to paths starting with it, e.g.
	// "/xapi/v1/Users" ("" any /xapi/v1 path).
	PathPrefix string
	// Count is how many requests it hits (default 1).
	Count int
}

func (f *Fault) matches(method, path string) bool {
	switch f.Method {
	case "":
	case "WRITE":
		if method == http.MethodGet || method == http.MethodHead {
			return false
		}
	default:
		if f.Method != method {
			return false
		}
	}
	return strings.HasPrefix(path, f.PathPrefix)
}

// AddFault queues a fault. Faults are matched in the order added.
func (s *Sim) AddFault(f Fault) {
	if f.Count <= 0 {
		f.Count = 1
	}
	if f.Kind == FaultStatus && f.Status == 0 {
		f.Status = http.StatusServiceUnavailable
	}
	s.fmu.Lock()
	s.faults = append(s.faults, &f)
	s.fmu.Unlock()
}

// FailNext answers the next n /xapi/v1 requests with status.
func (s *Sim) FailNext(n, status int) {
	s.AddFault(Fault{Kind: FaultStatus, Status: status, Count: n})
}

// TimeoutNext holds the next n /xapi/v1 requests until the client gives up.
func (s *Sim) TimeoutNext(n int) { s.AddFault(Fault{Kind: FaultTimeout, Count: n}) }

// LoseResponseNext performs the next n /xapi/v1 writes (POST, PATCH,
// DELETE) and then drops their connections without a reply.
func (s *Sim) LoseResponseNext(n int) {
	s.AddFault(Fault{Kind: FaultLoseResponse, Method: "WRITE", Count: n})
}

// ClearFaults removes queued faults, the failure rate and the latency.
func (s *Sim) ClearFaults() {
	s.fmu.Lock()
	s.faults, s.failRate, s.latency = nil, 0, 0
	s.fmu.Unlock()
}

// SetLatency delays every request (token and API) by d.
func (s *Sim) SetLatency(d time.Duration) {
	s.fmu.Lock()
	s.latency = d
	s.fmu.Unlock()
}

// Fail5xxRate answers that fraction (0..1) of /xapi/v1 requests with 503,
// chosen by a fixed-seed generator so runs repeat.
func (s *Sim) Fail5xxRate(fraction float64) {
	s.fmu.Lock()
	s.failRate = min(max(fraction, 0), 1)
	s.fmu.Unlock()
}

func (s *Sim) currentLatency() time.Duration {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	return s.latency
}

func (s *Sim) takeFault(method, path string) *Fault {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	for i, f := range s.faults {
		if f.matches(method, path) {
			cp := *f
			f.Count--
			if f.Count <= 0 {
				s.faults = append(s.faults[:i], s.faults[i+1:]...)
			}
			return &cp
		}
	}
	if s.failRate > 0 && s.rng.Float64() < s.failRate {
		return &Fault{Kind: FaultStatus, Status: http.StatusServiceUnavailable}
	}
	return nil
}

// Request is one request the simulator received (control requests excluded).
type Request struct {
	Time     time.Time
	Method   string
	Path     string // URL path, e.g. /xapi/v1/Users(5)
	Query    string // raw query
	Body     string // request body of writes, first 4 KiB
	Status   int    // 0 when no reply was sent (timeout, lost response)
	Fault    string // the injected fault, if any
	Duration time.Duration
}

// Requests returns the request log in arrival order of completion.
func (s *Sim) Requests() []Request {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	return append([]Request(nil), s.log...)
}

// RequestCount counts logged requests with that method ("" any) whose path
// starts with pathPrefix.
func (s *Sim) RequestCount(method, pathPrefix string) int {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	n := 0
	for _, r := range s.log {
		if (method == "" || r.Method == method) && strings.HasPrefix(r.Path, pathPrefix) {
			n++
		}
	}
	return n
}

// ResetRequests empties the request log.
func (s *Sim) ResetRequests() {
	s.fmu.Lock()
	s.log = nil
	s.fmu.Unlock()
}

// PendingFaults is how many faulted requests the queued faults still hold
// (the failure rate not counted).
func (s *Sim) PendingFaults() int {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	n := 0
	for _, f := range s.faults {
		n += f.Count
	}
	return n
}
