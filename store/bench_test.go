package store

import (
	"fmt"
	"path/filepath"
	"testing"
)

func benchLinks(n int) []Link {
	links := make([]Link, n)
	for i := range links {
		// Object ids in random-looking order, as Graph returns them.
		links[i] = Link{ObjectID: fmt.Sprintf("%08x-0000-4000-8000-%012d", uint32(i)*2654435761, i), PBXUserID: int32(i + 1), Number: fmt.Sprint(100000 + i)}
	}
	return links
}

// BenchmarkPutLinks100k writes 100,000 new links in one batch (one
// transaction) into a fresh store.
func BenchmarkPutLinks100k(b *testing.B) {
	links := benchLinks(100_000)
	i := 0
	defer cpuMeter(b)()
	for b.Loop() {
		b.StopTimer()
		s, err := Open(filepath.Join(b.TempDir(), fmt.Sprint(i)))
		if err != nil {
			b.Fatal(err)
		}
		i++
		b.StartTimer()
		if err := s.PutLinks(links); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(links)), "ns/link")
}

// BenchmarkAppendRunItems10k appends 10,000 audit items in one batch.
func BenchmarkAppendRunItems10k(b *testing.B) {
	s := openTemp(b)
	r, err := s.StartRun("users", "")
	if err != nil {
		b.Fatal(err)
	}
	items := make([]RunItem, 10_000)
	defer cpuMeter(b)()
	for b.Loop() {
		for i := range items {
			items[i] = RunItem{Run: r.ID, ObjectID: fmt.Sprintf("00000000-0000-0000-0000-%012d", i), UPN: fmt.Sprintf("user%d@contoso.com", i),
				Number: fmt.Sprint(1000 + i), Action: "update", Rule: "owned.mobile", Before: []byte(`{"Mobile":"+1 555 0100"}`), After: []byte(`{"Mobile":"+15550100"}`), Result: ResultOK}
		}
		if err := s.AppendRunItems(items); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(items)), "ns/item")
}

// BenchmarkAuditPage1M reads one newest-first page of 100 from an audit log
// of 1,000,000 items (1,000 runs, 10,000 users): unfiltered, by run, by user,
// and a deep page (cursor in the middle of the log).
func BenchmarkAuditPage1M(b *testing.B) {
	s := openTemp(b)
	s.db.NoSync = true // seeding only; the measured reads do not write
	seedAudit(b, s, 1000, 10_000, 1_000_000)
	s.db.NoSync = false
	for _, q := range []struct {
		name string
		q    AuditQuery
	}{
		{"newest", AuditQuery{Limit: 100}},
		{"deep", AuditQuery{Limit: 100, Before: 500_000}},
		{"run", AuditQuery{Limit: 100, Run: 500}},
		{"user", AuditQuery{Limit: 100, User: "user4242@contoso.com"}},
		{"user+run", AuditQuery{Limit: 100, User: "1042", Run: 43}},
	} {
		b.Run(q.name, func(b *testing.B) {
			defer cpuMeter(b)()
			for b.Loop() {
				p, err := s.Audit(q.q)
				if err != nil || len(p.Items) == 0 {
					b.Fatalf("page: %d items, %v", len(p.Items), err)
				}
			}
		})
	}
}
