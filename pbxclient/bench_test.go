package pbxclient

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/pbx365/pbx365/pbxclient/pbxsim"
)

// BenchmarkCreateUsers10k creates 10,000 users against pbxsim with 15 ms
// injected latency per request, at two concurrency bounds. It reports the
// wall time, the requests the PBX saw, the token requests during the run
// (0: the token fetched before the run stayed valid) and the floor
// 10,000 × latency ÷ concurrency. The run without latency shows what the
// simulator itself costs (it serialises requests on one lock). Run with
// -benchtime=1x.
func BenchmarkCreateUsers10k(b *testing.B) {
	const users = 10000
	for _, bc := range []struct {
		conc    int
		latency time.Duration
	}{{8, 15 * time.Millisecond}, {32, 15 * time.Millisecond}, {32, 0}} {
		conc, latency := bc.conc, bc.latency
		b.Run(fmt.Sprintf("concurrency=%d/latency=%v", conc, latency), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				s := newSim(b, pbxsim.Options{})
				x := newClient(b, s, func(c *Config) { c.Concurrency = conc })
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
				defer cancel()
				if _, err := x.Version(ctx); err != nil {
					b.Fatal(err)
				}
				s.SetLatency(latency)
				s.ResetRequests()
				work := make(chan int)
				var wg sync.WaitGroup
				var mu sync.Mutex
				var firstErr error
				b.StartTimer()
				start := time.Now()
				for range conc {
					wg.Go(func() {
						for i := range work {
							n := fmt.Sprint(100000 + i)
							_, err := x.CreateUser(ctx, NewUser{Number: n, FirstName: "Bench", LastName: n,
								EmailAddress: "u" + n + "@example.com", Enabled: true})
							if err != nil {
								mu.Lock()
								firstErr = err
								mu.Unlock()
							}
						}
					})
				}
				for i := range users {
					work <- i
				}
				close(work)
				wg.Wait()
				wall := time.Since(start)
				b.StopTimer()
				if firstErr != nil {
					b.Fatal(firstErr)
				}
				if n := len(s.Users()); n != users {
					b.Fatalf("%d users on the PBX", n)
				}
				b.ReportMetric(wall.Seconds(), "wall_s")
				b.ReportMetric(float64(len(s.Requests())), "requests")
				b.ReportMetric(float64(s.RequestCount(http.MethodPost, "/connect/token")), "token_requests")
				b.ReportMetric((users * latency / time.Duration(conc)).Seconds(), "floor_s")
				b.StartTimer()
			}
		})
	}
}
