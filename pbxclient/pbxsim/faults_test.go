package pbxsim

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestFailNext(t *testing.T) {
	c := newTC(t, Options{})
	c.sim.FailNext(2, 503)
	for range 2 {
		resp, b := c.do("POST", "/Users", map[string]any{"Number": "101"})
		if resp.StatusCode != 503 || !strings.Contains(string(b), `"error"`) || resp.Header.Get("X-3CX-Version") == "" {
			t.Errorf("fault: %d %s", resp.StatusCode, b)
		}
	}
	if len(c.sim.Users()) != 0 {
		t.Fatal("a failed request wrote")
	}
	c.expect(201, "POST", "/Users", map[string]any{"Number": "101"})
	// Faults never hit /connect/token.
	c.sim.FailNext(1, 500)
	c.login()
	c.expect(500, "GET", "/Users", nil)
	// Targeted fault.
	c.sim.AddFault(Fault{Kind: FaultStatus, Status: 502, Method: "PATCH", PathPrefix: "/xapi/v1/Users(", Count: 1})
	c.expect(200, "GET", "/Users", nil)
	u, _ := c.sim.UserByNumber("101")
	path := fmt.Sprintf("/Users(%d)", u.ID)
	c.expect(502, "PATCH", path, map[string]any{"FirstName": "x"})
	c.expect(204, "PATCH", path, map[string]any{"FirstName": "x"})
	var faulted int
	for _, r := range c.sim.Requests() {
		if r.Fault == "status" {
			faulted++
		}
	}
	if faulted != 4 {
		t.Errorf("%d faulted requests logged", faulted)
	}
}

func TestFail5xxRateIsRepeatable(t *testing.T) {
	run := func() []int {
		c := newTC(t, Options{})
		c.sim.Fail5xxRate(0.3)
		var statuses []int
		for range 60 {
			resp, _ := c.do("GET", "/Defs?$select=Id", nil)
			statuses = append(statuses, resp.StatusCode)
		}
		c.sim.Fail5xxRate(0)
		c.expect(200, "GET", "/Defs?$select=Id", nil)
		return statuses
	}
	a, b := run(), run()
	fails := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("runs differ at %d: %v vs %v", i, a, b)
		}
		if a[i] == 503 {
			fails++
		}
	}
	if fails < 8 || fails > 30 {
		t.Errorf("%d of 60 failed at rate 0.3", fails)
	}
}

func TestTimeoutNext(t *testing.T) {
	c := newTC(t, Options{})
	c.sim.TimeoutNext(1)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, _, err := c.try(ctx, "POST", "/Users", map[string]any{"Number": "101"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want deadline exceeded, got %v", err)
	}
	if len(c.sim.Users()) != 0 {
		t.Error("timed-out request wrote")
	}
	c.expect(201, "POST", "/Users", map[string]any{"Number": "101"})
	// Close releases a held request.
	c.sim.TimeoutNext(1)
	done := make(chan error, 1)
	go func() {
		_, _, err := c.try(context.Background(), "GET", "/Users", nil)
		done <- err
	}()
	for c.sim.PendingFaults() > 0 {
		time.Sleep(5 * time.Millisecond)
	}
	c.sim.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not release a held request")
	}
}

func TestLoseResponse(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		name := "http1"
		if h2 {
			name = "http2"
		}
		t.Run(name, func(t *testing.T) {
			s := newSim(t, Options{})
			c := &tc{t: t, sim: s, http: httpClient(t, s, h2)}
			c.login()
			resp, _ := c.do("GET", "/Defs?$select=Id", nil)
			if want := map[bool]int{false: 1, true: 2}[h2]; resp.ProtoMajor != want {
				t.Fatalf("protocol HTTP/%d, want %d", resp.ProtoMajor, want)
			}
			s.LoseResponseNext(1)
			// Reads are not hit by LoseResponseNext.
			c.expect(200, "GET", "/Users", nil)
			_, _, err := c.try(context.Background(), "POST", "/Users", map[string]any{"Number": "101", "EmailAddress": "a@b.cd"})
			if err == nil {
				t.Fatal("lost response reached the client")
			}
			u, ok := s.UserByNumber("101")
			if !ok || u.EmailAddress != "a@b.cd" {
				t.Fatalf("the write did not happen: %+v", u)
			}
			reqs := s.Requests()
			last := reqs[len(reqs)-1]
			if last.Fault != "lose-response" || last.Status != 0 || last.Method != "POST" {
				t.Errorf("log %+v", last)
			}
			// The client can look, and a retry is refused as a duplicate.
			c.expect(200, "GET", "/Users(Number='101')", nil)
			c.expectWarning("POST", "/Users", map[string]any{"Number": "101"}, "Number", WarnAlreadyInUse)
		})
	}
}

func TestLatencyAndRequestLog(t *testing.T) {
	c := newTC(t, Options{})
	c.sim.SetLatency(40 * time.Millisecond)
	start := time.Now()
	c.expect(200, "GET", "/Users?$top=1", nil)
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Errorf("latency not applied: %v", d)
	}
	c.sim.SetLatency(0)
	c.expect(201, "POST", "/Users", map[string]any{"Number": "101"})
	if n := c.sim.RequestCount(http.MethodPost, "/xapi/v1/Users"); n != 1 {
		t.Errorf("POST count %d", n)
	}
	if n := c.sim.RequestCount("", "/connect/token"); n != 1 {
		t.Errorf("token count %d", n)
	}
	reqs := c.sim.Requests()
	last := reqs[len(reqs)-1]
	if last.Body != `{"Number":"101"}` || last.Status != 201 {
		t.Errorf("last %+v", last)
	}
	if reqs[1].Query != "$top=1" {
		t.Errorf("query %q", reqs[1].Query)
	}
	c.sim.ResetRequests()
	if len(c.sim.Requests()) != 0 {
		t.Error("log not reset")
	}
}
