package m365sim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"
)

// BenchmarkServe100kUsers pages through 100,000 users with $top=999 over
// HTTPS/h2 (101 pages); the client only scans for the nextLink, so the figure
// is the server's cost plus TLS on loopback.
func BenchmarkServe100kUsers(b *testing.B) {
	s := startSim(b, Options{Seed: 1, Users: 100000})
	c := httpClient(b, s)
	tok := token(b, c, s)
	first := s.GraphURL() + "/users?$top=999&$select=id,displayName,givenName,surname,mail,userPrincipalName,userType,accountEnabled,businessPhones,mobilePhone,department,jobTitle"
	var bytesTotal int64
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		users, pages := 0, 0
		for u := first; u != ""; {
			req, _ := http.NewRequest("GET", u, nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := c.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 {
				b.Fatalf("%d %v", resp.StatusCode, err)
			}
			bytesTotal += int64(len(body))
			pages++
			users += bytes.Count(body, []byte(`"userPrincipalName":`))
			u = ""
			if i := bytes.LastIndex(body, []byte(`"@odata.nextLink":`)); i >= 0 {
				var link string
				rest := body[i+len(`"@odata.nextLink":`):]
				if err := json.NewDecoder(bytes.NewReader(rest)).Decode(&link); err != nil {
					b.Fatal(err)
				}
				u = link
			}
		}
		if users != 100000 || pages != 101 {
			b.Fatalf("%d users in %d pages", users, pages)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100000, "ns/user")
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N)/100000, "cpu-ns/user")
	b.ReportMetric(float64(bytesTotal)/float64(b.N)/100000, "bytes/user")
}

// BenchmarkUsersDelta100k runs an initial users delta round over 100,000
// users (pages of 200) in process: the server's cost per user.
func BenchmarkUsersDelta100k(b *testing.B) {
	s := startSim(b, Options{Seed: 1, Users: 100000})
	c := httpClient(b, s)
	tok := token(b, c, s)
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		pages := 0
		for u := s.GraphURL() + "/users/delta()?$select=id,displayName,accountEnabled,userType,mail,userPrincipalName"; u != ""; {
			req, _ := http.NewRequest("GET", u, nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			rec := newRecorder()
			s.ServeHTTP(rec, req)
			if rec.code != 200 {
				b.Fatalf("%d %s", rec.code, rec.buf.Bytes())
			}
			pages++
			var page struct {
				Next string `json:"@odata.nextLink"`
			}
			body := rec.buf.Bytes()
			if i := bytes.LastIndex(body, []byte(`],"@odata.nextLink"`)); i < 0 {
				i = bytes.Index(body, []byte(`"@odata.nextLink":`))
				if i >= 0 {
					end := bytes.Index(body[i:], []byte(`","value"`))
					if err := json.Unmarshal(append(append([]byte("{"), body[i:i+end+1]...), '}'), &page); err != nil {
						b.Fatal(err)
					}
				}
			}
			u = page.Next
		}
		if pages != 500 {
			b.Fatalf("%d pages", pages)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100000, "ns/user")
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N)/100000, "cpu-ns/user")
}

// BenchmarkRenderUsersPage renders pages of 999 users in process (no TLS,
// no client): the server's own cost per user.
func BenchmarkRenderUsersPage(b *testing.B) {
	s := startSim(b, Options{Seed: 1, Users: 100000})
	c := httpClient(b, s)
	tok := token(b, c, s)
	req, _ := http.NewRequest("GET", s.GraphURL()+"/users?$top=999&$select=id,displayName,givenName,surname,mail,userPrincipalName,userType,accountEnabled,businessPhones,mobilePhone,department,jobTitle", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		rec := newRecorder()
		s.ServeHTTP(rec, req)
		if rec.code != 200 {
			b.Fatalf("%d %s", rec.code, rec.buf.Bytes())
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/999, "ns/user")
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N)/999, "cpu-ns/user")
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkGenerate100k measures building a 100,000-user tenant.
func BenchmarkGenerate100k(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		New(Options{Seed: 1, Users: 100000})
	}
}

// BenchmarkTransitiveMembersAllStaff pages through the user members of the
// largest group of a 100,000-user tenant ($top=999) in process.
func BenchmarkTransitiveMembersAllStaff(b *testing.B) {
	s := startSim(b, Options{Seed: 1, Users: 100000})
	c := httpClient(b, s)
	tok := token(b, c, s)
	g, _ := s.GroupByName("All Staff")
	want := len(s.TransitiveUserIDs(g.ID))
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		for u := s.GraphURL() + "/groups/" + g.ID + "/transitiveMembers/microsoft.graph.user?$select=id,displayName&$top=999&$count=true"; u != ""; {
			req, _ := http.NewRequest("GET", u, nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("ConsistencyLevel", "eventual")
			rec := newRecorder()
			s.ServeHTTP(rec, req)
			if rec.code != 200 {
				b.Fatalf("%d %s", rec.code, rec.buf.Bytes())
			}
			var page struct {
				Next  string `json:"@odata.nextLink"`
				Value []struct {
					ID string `json:"id"`
				} `json:"value"`
			}
			if err := json.Unmarshal(rec.buf.Bytes(), &page); err != nil {
				b.Fatal(err)
			}
			n += len(page.Value)
			u = page.Next
		}
		if n != want {
			b.Fatalf("%d members, want %d", n, want)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(want), "ns/member")
}
