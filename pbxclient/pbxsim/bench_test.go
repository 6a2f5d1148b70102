package pbxsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
)

// benchClient logs in and returns a client and its bearer token.
func benchClient(b *testing.B, s *Sim) (*http.Client, string) {
	b.Helper()
	hc := httpClient(b, s, false)
	hc.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
	resp, err := hc.PostForm(s.URL()+"/connect/token", url.Values{"client_id": {s.ClientID()}, "client_secret": {s.Secret()}, "grant_type": {"client_credentials"}})
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil {
		b.Fatal(err)
	}
	return hc, tok.AccessToken
}

// BenchmarkCreateUsers measures serving POST /Users over HTTPS from parallel
// clients sharing one token (every create checks number and email
// uniqueness against all users created so far).
func BenchmarkCreateUsers(b *testing.B) {
	s := newSim(b, Options{})
	hc, tok := benchClient(b, s)
	var n atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			body := fmt.Sprintf(`{"Number":"%d","FirstName":"F%d","LastName":"L","EmailAddress":"u%d@example.com","Groups":[]}`, 10000+i, i, i)
			req, _ := http.NewRequest("POST", s.URL()+"/xapi/v1/Users", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := hc.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 201 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
}

// BenchmarkListUsers measures a full page of 1,000 users with their
// departments and roles expanded, the call a full reconcile makes.
func BenchmarkListUsers(b *testing.B) {
	s := newSim(b, Options{})
	for i := range 1000 {
		if _, err := s.AddUser(User{Number: fmt.Sprint(1000 + i), FirstName: "F", EmailAddress: fmt.Sprintf("u%d@example.com", i), Enabled: true}); err != nil {
			b.Fatal(err)
		}
	}
	hc, tok := benchClient(b, s)
	u := s.URL() + "/xapi/v1/Users?$top=1000&$skip=0&$orderby=Number&$expand=Groups($expand=Rights)"
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req, _ := http.NewRequest("GET", strings.ReplaceAll(u, " ", "%20"), nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var buf bytes.Buffer
		_, _ = io.Copy(&buf, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

// BenchmarkPageAll10kUsers measures one full read of a 10,000-user PBX in
// pages of 100 ($top/$skip/$orderby with Groups($expand=Rights)), as
// pbxclient pages; one op is the whole listing (100 requests).
func BenchmarkPageAll10kUsers(b *testing.B) {
	s := newSim(b, Options{})
	for i := range 10000 {
		if _, err := s.AddUser(User{Number: fmt.Sprint(10000 + i), FirstName: "F", EmailAddress: fmt.Sprintf("u%d@example.com", i), Enabled: true}); err != nil {
			b.Fatal(err)
		}
	}
	hc, tok := benchClient(b, s)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for skip := 0; skip < 10000; skip += 100 {
			u := fmt.Sprintf("%s/xapi/v1/Users?$top=100&$skip=%d&$orderby=Number&$select=Id,Number,EmailAddress&$expand=Groups($expand=Rights)", s.URL(), skip)
			req, _ := http.NewRequest("GET", u, nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	}
}
