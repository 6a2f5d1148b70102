package graphclient

import (
	"encoding/json"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	kjson "github.com/microsoft/kiota-serialization-json-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/pbx365/pbx365/graphclient/m365sim"
)

// heapSampler records the HeapInuse high-water mark while it runs.
type heapSampler struct {
	stop chan struct{}
	wg   sync.WaitGroup
	peak atomic.Uint64
}

func sampleHeap() *heapSampler {
	h := &heapSampler{stop: make(chan struct{})}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		var ms runtime.MemStats
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > h.peak.Load() {
				h.peak.Store(ms.HeapInuse)
			}
			select {
			case <-h.stop:
				return
			case <-t.C:
			}
		}
	}()
	return h
}

// cpuTime is the process's user+system CPU time (sim and client together):
// under a loaded machine it is steadier than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (h *heapSampler) done() uint64 {
	close(h.stop)
	h.wg.Wait()
	return h.peak.Load()
}

// BenchmarkListUsers100k pages 100,000 users from the in-process sim over
// HTTPS/h2 through the SDK pipeline (hybrid decoding). CPU, allocations and
// heap include the sim serving the pages in the same process.
func BenchmarkListUsers100k(b *testing.B) {
	s := startSim(b, 100000)
	c := newSimClient(b, s)
	ctx := testCtx(b)
	if _, err := c.Token(ctx); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	h := sampleHeap()
	cpu0 := cpuTime()
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for range b.N {
		if err := c.ListUsers(ctx, func(p []User) error { n += len(p); return nil }); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	peak := h.done()
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(n), "µs/user")
	b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-µs/user")
	b.ReportMetric(float64(peak-min(peak, base.HeapInuse))/(1<<20), "MiB-peak-heap-growth")
	b.ReportMetric(float64(peak)/(1<<20), "MiB-peak-heap")
}

// userPageJSON fetches one page of 999 users from a sim, as Graph sends it.
func userPageJSON(b *testing.B) []byte {
	s := startSim(b, 1000)
	c := newSimClient(b, s)
	ri, err := newRequest(abstractions.GET, c.url("/users", map[string][]string{"$top": {"999"}, "$select": {UserSelect}}), nil)
	if err != nil {
		b.Fatal(err)
	}
	raw, err := c.send(testCtx(b), ri)
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

// BenchmarkDecodeUserPage is the client's share of paging: decoding one page
// of 999 users (as the sim sends them) into []User.
func BenchmarkDecodeUserPage(b *testing.B) {
	raw := userPageJSON(b)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	b.ResetTimer()
	var users int
	for range b.N {
		var p page[User]
		if err := json.Unmarshal(raw, &p); err != nil {
			b.Fatal(err)
		}
		users += len(p.Value)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(users)/1000, "µs/user")
	b.ReportMetric(float64(testing.AllocsPerRun(3, func() {
		var p page[User]
		_ = json.Unmarshal(raw, &p)
	}))/float64(users/b.N), "allocs/user")
}

// BenchmarkGetSchedule10k asks free/busy for 10,000 addresses with 20 ms of
// latency injected on every request (each $batch item too).
func BenchmarkGetSchedule10k(b *testing.B) {
	s := startSim(b, 10000)
	c := newSimClient(b, s)
	ctx := testCtx(b)
	var addrs []string
	for _, u := range s.Users() {
		if !u.SoftDeleted() {
			addrs = append(addrs, u.UserPrincipalName)
		}
		if len(addrs) == 10000 {
			break
		}
	}
	if _, err := c.Token(ctx); err != nil {
		b.Fatal(err)
	}
	s.SetLatency(20 * time.Millisecond)
	start := time.Now().UTC().Truncate(time.Hour)
	s.ResetRequests()
	cpu0 := cpuTime()
	b.ResetTimer()
	var failed int
	for range b.N {
		scheds, err := c.GetSchedule(ctx, addrs, start, start.Add(12*time.Hour), nil)
		if err != nil {
			b.Fatal(err)
		}
		failed = 0
		for _, sc := range scheds {
			if sc.Err != "" {
				failed++
			}
		}
	}
	b.StopTimer()
	b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
	b.ReportMetric(float64(s.RequestCount("POST", "/v1.0/$batch"))/float64(b.N), "batches/op")
	b.ReportMetric(float64(s.RequestCount("POST", "/v1.0/users/"))/float64(b.N), "getSchedule-calls/op")
	b.ReportMetric(float64(failed), "no-mailbox-schedules")
	throttled, _ := s.FaultCounts()
	b.ReportMetric(float64(throttled)/float64(b.N), "throttled/op")
	_ = m365sim.DefaultRoles
}

// BenchmarkDecodeUserPageSDK decodes the same page with the SDK's kiota
// parser and models, the cost the hybrid path avoids.
func BenchmarkDecodeUserPageSDK(b *testing.B) {
	raw := userPageJSON(b)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	b.ResetTimer()
	var users int
	for range b.N {
		node, err := kjson.NewJsonParseNode(raw)
		if err != nil {
			b.Fatal(err)
		}
		v, err := node.GetObjectValue(models.CreateUserCollectionResponseFromDiscriminatorValue)
		if err != nil {
			b.Fatal(err)
		}
		users += len(v.(models.UserCollectionResponseable).GetValue())
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(users)/1000, "µs/user")
}
