package m365sim

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

type batchResp struct {
	Responses []struct {
		ID      string            `json:"id"`
		Status  int               `json:"status"`
		Headers map[string]string `json:"headers"`
		Body    json.RawMessage   `json:"body"`
	} `json:"responses"`
}

func postBatch(t *testing.T, c *http.Client, s *Sim, tok string, reqs []map[string]any, gz bool) (int, batchResp, []byte) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"requests": reqs})
	hdr := map[string]string{"Content-Type": "application/json"}
	if gz {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(body)
		zw.Close()
		body = b.Bytes()
		hdr["Content-Encoding"] = "gzip"
	}
	st, _, raw := graphDo(t, c, "POST", s.GraphURL()+"/$batch", tok, body, hdr)
	var br batchResp
	if st == 200 {
		if err := json.Unmarshal(raw, &br); err != nil {
			t.Fatalf("batch answer: %v %s", err, raw)
		}
	}
	return st, br, raw
}

func byID(br batchResp) map[string]int {
	out := map[string]int{}
	for i, r := range br.Responses {
		out[r.ID] = i
	}
	return out
}

func TestBatch(t *testing.T) {
	s := startSim(t, Options{Seed: 31})
	c := httpClient(t, s)
	tok := token(t, c, s)
	users := s.Users()
	reqs := []map[string]any{
		{"id": "1", "method": "GET", "url": "/users/" + users[0].ID + "?%24select=id,displayName"},
		{"id": "2", "method": "GET", "url": "users?$top=2&$select=id"},
		{"id": "3", "method": "GET", "url": "/users/00000000-0000-0000-0000-000000000000"},
		{"id": "4", "method": "GET", "url": "/users/" + users[1].ID, "dependsOn": []string{"3"}},
		{"id": "5", "method": "GET", "url": "/users/" + users[2].ID, "dependsOn": []string{"1"}, "headers": map[string]string{"ConsistencyLevel": "eventual"}},
	}
	for _, gz := range []bool{false, true} {
		st, br, raw := postBatch(t, c, s, tok, reqs, gz)
		if st != 200 || len(br.Responses) != 5 {
			t.Fatalf("gzip=%v: %d %s", gz, st, raw)
		}
		ix := byID(br)
		r1 := br.Responses[ix["1"]]
		var u map[string]any
		json.Unmarshal(r1.Body, &u)
		if r1.Status != 200 || u["id"] != users[0].ID || u["mail"] != nil {
			t.Errorf("item 1 (%%24select): %d %s", r1.Status, r1.Body)
		}
		var page map[string]any
		json.Unmarshal(br.Responses[ix["2"]].Body, &page)
		if br.Responses[ix["2"]].Status != 200 || len(page["value"].([]any)) != 2 {
			t.Errorf("item 2 (no leading slash): %s", br.Responses[ix["2"]].Body)
		}
		if br.Responses[ix["3"]].Status != 404 || !strings.Contains(string(br.Responses[ix["3"]].Body), "Request_ResourceNotFound") {
			t.Errorf("item 3: %d %s", br.Responses[ix["3"]].Status, br.Responses[ix["3"]].Body)
		}
		if br.Responses[ix["4"]].Status != 424 {
			t.Errorf("item 4 depends on a failure: %d", br.Responses[ix["4"]].Status)
		}
		if br.Responses[ix["5"]].Status != 200 {
			t.Errorf("item 5 depends on success: %d", br.Responses[ix["5"]].Status)
		}
	}
	if n := s.RequestCount("GET", "/v1.0/users/"+users[0].ID); n != 2 {
		t.Errorf("inner requests logged: %d", n)
	}
}

func TestBatchLimits(t *testing.T) {
	s := startSim(t, Options{Seed: 31})
	c := httpClient(t, s)
	tok := token(t, c, s)
	var many []map[string]any
	for i := range 21 {
		many = append(many, map[string]any{"id": fmt.Sprint(i), "method": "GET", "url": "/users?$top=1"})
	}
	cases := map[string][]map[string]any{
		"21 requests":     many,
		"duplicate id":    {{"id": "a", "method": "GET", "url": "/users"}, {"id": "A", "method": "GET", "url": "/users"}},
		"absolute url":    {{"id": "a", "method": "GET", "url": s.GraphURL() + "/users"}},
		"unknown dep":     {{"id": "a", "method": "GET", "url": "/users", "dependsOn": []string{"zz"}}},
		"cycle":           {{"id": "a", "method": "GET", "url": "/users", "dependsOn": []string{"b"}}, {"id": "b", "method": "GET", "url": "/users", "dependsOn": []string{"a"}}},
		"body no headers": {{"id": "a", "method": "POST", "url": "/users", "body": map[string]any{"x": 1}}},
		"no id":           {{"method": "GET", "url": "/users"}},
		"empty":           {},
	}
	for name, reqs := range cases {
		st, _, raw := postBatch(t, c, s, tok, reqs, false)
		var m map[string]any
		json.Unmarshal(raw, &m)
		if st != 400 || errCode(t, m) != "BadRequest" {
			t.Errorf("%s: %d %s", name, st, raw)
		}
	}
	if st, _, _ := postBatch(t, c, s, tok, many[:20], false); st != 200 {
		t.Errorf("20 requests: %d", st)
	}
	// A batch item may not be a batch.
	st, br, _ := postBatch(t, c, s, tok, []map[string]any{{"id": "a", "method": "POST", "url": "/$batch", "headers": map[string]string{"Content-Type": "application/json"}, "body": map[string]any{"requests": []any{}}}}, false)
	if st != 200 || br.Responses[0].Status != 400 {
		t.Errorf("nested batch: %d %+v", st, br)
	}
}

func TestBatchInnerThrottle(t *testing.T) {
	s := startSim(t, Options{Seed: 31})
	c := httpClient(t, s)
	tok := token(t, c, s)
	users := s.Users()
	s.ThrottleNextMatching("GET", "/v1.0/users/"+users[3].ID, 1, 7*time.Second)
	reqs := []map[string]any{
		{"id": "1", "method": "GET", "url": "/users/" + users[2].ID},
		{"id": "2", "method": "GET", "url": "/users/" + users[3].ID},
	}
	st, br, raw := postBatch(t, c, s, tok, reqs, false)
	if st != 200 {
		t.Fatalf("outer: %d %s", st, raw)
	}
	r2 := br.Responses[byID(br)["2"]]
	if r2.Status != 429 || r2.Headers["Retry-After"] != "7" || !strings.Contains(string(r2.Body), "TooManyRequests") {
		t.Fatalf("inner 429: %d %v %s", r2.Status, r2.Headers, r2.Body)
	}
	if br.Responses[byID(br)["1"]].Status != 200 {
		t.Fatal("other item throttled too")
	}
	// Photos in a batch come back base64-encoded.
	for _, u := range users {
		if s.PhotoETag(u.ID) != "" {
			_, br, _ = postBatch(t, c, s, tok, []map[string]any{{"id": "p", "method": "GET", "url": "/users/" + u.ID + "/photo/$value"}}, false)
			var b64 string
			if br.Responses[0].Status != 200 || json.Unmarshal(br.Responses[0].Body, &b64) != nil || len(b64) < 100 {
				t.Errorf("photo in batch: %d %.80s", br.Responses[0].Status, br.Responses[0].Body)
			}
			break
		}
	}
}

func TestGzipBodies(t *testing.T) {
	s := startSim(t, Options{Seed: 31})
	c := httpClient(t, s)
	tok := token(t, c, s)
	// Marked gzip but not gzip (kiota's retry-before-compression bug) → 400.
	body, _ := json.Marshal(map[string]any{"requests": []any{map[string]any{"id": "1", "method": "GET", "url": "/users"}}})
	st, _, raw := graphDo(t, c, "POST", s.GraphURL()+"/$batch", tok, body, map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"})
	if st != 400 || !strings.Contains(string(raw), "gzip") {
		t.Errorf("fake gzip: %d %s", st, raw)
	}
	st, _, raw = graphDo(t, c, "POST", s.GraphURL()+"/$batch", tok, body, map[string]string{"Content-Type": "application/json", "Content-Encoding": "br"})
	if st != 415 {
		t.Errorf("brotli: %d %s", st, raw)
	}
}

func TestFaultInjection(t *testing.T) {
	s := startSim(t, Options{Seed: 41})
	c := httpClient(t, s)
	tok := token(t, c, s)
	get := func() (int, http.Header, []byte) {
		return graphDo(t, c, "GET", s.GraphURL()+"/users?$top=1", tok, nil, nil)
	}
	s.ThrottleNext(2, 1500*time.Millisecond)
	for i := range 2 {
		st, hdr, body := get()
		var m map[string]any
		json.Unmarshal(body, &m)
		if st != 429 || hdr.Get("Retry-After") != "2" || errCode(t, m) != "TooManyRequests" || hdr.Get("request-id") == "" {
			t.Fatalf("throttle %d: %d %q %s", i, st, hdr.Get("Retry-After"), body)
		}
	}
	if st, _, _ := get(); st != 200 {
		t.Fatalf("after throttling: %d", st)
	}
	for _, status := range []int{500, 502, 503, 504} {
		s.FailNext(1, status)
		st, _, body := get()
		var m map[string]any
		json.Unmarshal(body, &m)
		if st != status || errCode(t, m) == "" {
			t.Errorf("FailNext(%d): %d %s", status, st, body)
		}
	}
	s.FailNextWithRetryAfter(1, 503, 1200*time.Millisecond)
	if st, hdr, _ := get(); st != 503 || hdr.Get("Retry-After") != "2" {
		t.Errorf("503 with Retry-After: %d %q", st, hdr.Get("Retry-After"))
	}
	s.ThrottleRate(0.5, 0)
	n429 := 0
	for range 60 {
		if st, _, _ := get(); st == 429 {
			n429++
		}
	}
	if n429 < 15 || n429 > 45 {
		t.Errorf("rate 0.5 gave %d/60 throttled", n429)
	}
	s.ThrottleRate(0, 0)
	s.SetLatency(60 * time.Millisecond)
	start := time.Now()
	if st, _, _ := get(); st != 200 {
		t.Fatal(st)
	}
	if d := time.Since(start); d < 60*time.Millisecond {
		t.Errorf("latency not applied: %v", d)
	}
	s.ClearFaults()
	throttled, failed := s.FaultCounts()
	if throttled != 2+n429 || failed != 5 {
		t.Errorf("fault counts %d %d", throttled, failed)
	}
	if n := s.RequestCount("GET", "/v1.0/users"); n < 60 {
		t.Errorf("request log: %d", n)
	}
	s.ResetRequests()
	if len(s.Requests()) != 0 {
		t.Error("reset")
	}
}

func TestUnknownRoutes(t *testing.T) {
	s := startSim(t, Options{Seed: 41})
	c := httpClient(t, s)
	tok := token(t, c, s)
	st, m := graphJSON(t, c, s.GraphURL()+"/usres", tok, nil)
	if st != 400 || errCode(t, m) != "BadRequest" || !strings.Contains(m["error"].(map[string]any)["message"].(string), "usres") {
		t.Errorf("unknown segment: %d %v", st, m)
	}
	st, _, b := graphDo(t, c, "DELETE", s.GraphURL()+"/users", tok, nil, nil)
	if st != 405 || !strings.Contains(string(b), "not allowed") {
		t.Errorf("wrong method: %d %s", st, b)
	}
	st, m = graphJSON(t, c, s.GraphURL()+"/me", tok, nil)
	if st != 400 || !strings.Contains(m["error"].(map[string]any)["message"].(string), "delegated") {
		t.Errorf("/me: %d %v", st, m)
	}
}

func TestLoginFaults(t *testing.T) {
	s := startSim(t, Options{Seed: 42})
	c := httpClient(t, s)
	tokenPath := "/" + s.TenantID() + "/oauth2/v2.0/token"
	// Rules without a login prefix never reach the token endpoint.
	s.ThrottleNext(1, time.Second)
	token(t, c, s)
	s.ClearFaults()
	s.ThrottleNextMatching("POST", tokenPath, 1, 2*time.Second)
	s.FailNextMatching("POST", tokenPath, 1, 503)
	resp, err := c.PostForm(s.URL()+tokenPath, tokenForm(s, makeAssertion(t, s, assertionOpts{})))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" || m["error"] != "temporarily_unavailable" {
		t.Fatalf("throttled login: %d %v", resp.StatusCode, m)
	}
	st, m := postToken(t, c, s, s.TenantID(), tokenForm(s, makeAssertion(t, s, assertionOpts{})))
	if st != 503 || aadsts(m) != 90033 {
		t.Fatalf("failed login: %d %v", st, m)
	}
	token(t, c, s)
}
