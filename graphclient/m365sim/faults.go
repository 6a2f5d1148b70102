package m365sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// fault is one injected failure.
type fault struct {
	status     int
	retryAfter time.Duration
	hasRetry   bool
}

// faultRule answers the next n matching Graph requests with a fault.
type faultRule struct {
	method, prefix string
	n              int
	f              fault
}

type faultState struct {
	mu         sync.Mutex
	latency    time.Duration
	rules      []*faultRule
	rate       float64
	rateRetry  time.Duration
	rnd        *rand.Rand
	throttled  int
	injected5x int
}

func (f *faultState) init(seed int64) {
	f.rnd = rand.New(rand.NewPCG(uint64(seed), 0x7468726f74746c65))
}

// SetLatency delays every request (login and Graph, each $batch item too) by d.
func (s *Sim) SetLatency(d time.Duration) {
	s.faults.mu.Lock()
	s.faults.latency = d
	s.faults.mu.Unlock()
}

// ThrottleNext answers the next n Graph requests (each $batch item counts)
// with 429 TooManyRequests and Retry-After (whole seconds, rounded up).
func (s *Sim) ThrottleNext(n int, retryAfter time.Duration) {
	s.ThrottleNextMatching("", "", n, retryAfter)
}

// ThrottleNextMatching is ThrottleNext for requests whose method equals method
// ("" = any) and whose path (e.g. "/v1.0/users/x/calendar/getSchedule") starts with prefix.
// Use it to throttle items inside a $batch but not the batch itself. A prefix
// naming a login path (e.g. "/"+TenantID()+"/oauth2/v2.0/token") reaches the
// token endpoint, which then answers with Entra's error JSON.
func (s *Sim) ThrottleNextMatching(method, prefix string, n int, retryAfter time.Duration) {
	s.addRule(&faultRule{method: method, prefix: prefix, n: n, f: fault{status: http.StatusTooManyRequests, retryAfter: retryAfter, hasRetry: true}})
}

// ThrottleRate answers the given fraction (0..1) of Graph requests with 429,
// chosen by a random sequence seeded from Options.Seed. 0 turns it off.
func (s *Sim) ThrottleRate(fraction float64, retryAfter time.Duration) {
	s.faults.mu.Lock()
	s.faults.rate = min(max(fraction, 0), 1)
	s.faults.rateRetry = retryAfter
	s.faults.mu.Unlock()
}

// FailNext answers the next n Graph requests with status (500, 502, 503 or 504).
func (s *Sim) FailNext(n int, status int) {
	s.FailNextMatching("", "", n, status)
}

// FailNextMatching is FailNext restricted like ThrottleNextMatching.
func (s *Sim) FailNextMatching(method, prefix string, n int, status int) {
	s.failNext(method, prefix, n, status, -1)
}

// FailNextWithRetryAfter is FailNext with a Retry-After header (503 and 504
// often carry one; the SDK then waits that long instead of backing off).
func (s *Sim) FailNextWithRetryAfter(n, status int, retryAfter time.Duration) {
	s.failNext("", "", n, status, retryAfter)
}

// failNext adds a 5xx rule; retryAfter < 0 means no Retry-After header.
func (s *Sim) failNext(method, prefix string, n, status int, retryAfter time.Duration) {
	if status < 500 || status > 599 {
		panic(fmt.Sprintf("m365sim: FailNext status %d is not a 5xx status", status))
	}
	s.addRule(&faultRule{method: method, prefix: prefix, n: n, f: fault{status: status, retryAfter: max(retryAfter, 0), hasRetry: retryAfter >= 0}})
}

// ClearFaults removes latency, throttling and failure injection.
func (s *Sim) ClearFaults() {
	s.faults.mu.Lock()
	s.faults.latency, s.faults.rules, s.faults.rate = 0, nil, 0
	s.faults.mu.Unlock()
}

// FaultCounts reports how many 429s and 5xx the sim has injected.
func (s *Sim) FaultCounts() (throttled, failed int) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	return s.faults.throttled, s.faults.injected5x
}

func (s *Sim) addRule(r *faultRule) {
	if r.n <= 0 {
		return
	}
	s.faults.mu.Lock()
	s.faults.rules = append(s.faults.rules, r)
	s.faults.mu.Unlock()
}

// next consumes the fault for a Graph request, if any.
func (f *faultState) next(method, path string) *fault { return f.match(method, path, false) }

// nextLogin consumes the fault for a login request: only rules whose prefix
// names a login path (e.g. "/"+tenant+"/oauth2/v2.0/token") apply there.
func (f *faultState) nextLogin(method, path string) *fault { return f.match(method, path, true) }

func (f *faultState) match(method, path string, login bool) *fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, r := range f.rules {
		if login && r.prefix == "" {
			continue
		}
		if (r.method == "" || strings.EqualFold(r.method, method)) && strings.HasPrefix(path, r.prefix) {
			r.n--
			if r.n <= 0 {
				f.rules = append(f.rules[:i:i], f.rules[i+1:]...)
			}
			out := r.f
			f.count(&out)
			return &out
		}
	}
	if !login && f.rate > 0 && f.rnd.Float64() < f.rate {
		out := fault{status: http.StatusTooManyRequests, retryAfter: f.rateRetry, hasRetry: true}
		f.count(&out)
		return &out
	}
	return nil
}

func (f *faultState) count(x *fault) {
	if x.status == http.StatusTooManyRequests {
		f.throttled++
	} else {
		f.injected5x++
	}
}

// retryAfterSeconds renders d as Retry-After's whole seconds (rounded up).
func retryAfterSeconds(d time.Duration) string {
	return strconv.Itoa(int(math.Ceil(d.Seconds())))
}

// writeFault writes an injected 429 or 5xx in Graph's shape.
func (s *Sim) writeFault(w http.ResponseWriter, r *http.Request, f *fault) {
	if f.hasRetry {
		w.Header().Set("Retry-After", retryAfterSeconds(f.retryAfter))
	}
	switch f.status {
	case http.StatusTooManyRequests:
		w.Header().Set("x-ms-throttle-information", "ResourceUnitLimitExceeded")
		w.Header().Set("x-ms-throttle-scope", "Tenant_Application/ReadWrite/"+s.clientID+"/"+s.tenantID)
		s.graphError(w, r, f.status, "TooManyRequests", "Too many requests. Please retry again later.")
	case http.StatusServiceUnavailable:
		s.graphError(w, r, f.status, "serviceNotAvailable", "The service is temporarily unavailable. Please retry.")
	case http.StatusGatewayTimeout:
		s.graphError(w, r, f.status, "GatewayTimeout", "The gateway did not receive a timely response.")
	case http.StatusBadGateway:
		s.graphError(w, r, f.status, "BadGateway", "The gateway received an invalid response.")
	default:
		s.graphError(w, r, f.status, "generalException", "An unexpected error occurred.")
	}
}

// applyLatency sleeps the injected latency; false when the request's context ended first.
func (s *Sim) applyLatency(r *http.Request) bool {
	s.faults.mu.Lock()
	d := s.faults.latency
	s.faults.mu.Unlock()
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}
