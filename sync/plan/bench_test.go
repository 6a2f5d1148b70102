package plan

import (
	"fmt"
	"testing"
)

// BenchmarkMake plans a full reconcile of n directory users against a PBX
// with 10,000 linked extensions (a few hundred drifted, gone or to adopt),
// the rest of the users new.
func BenchmarkMake(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		in := scenario(n, 10_000, 5)
		b.Run(fmt.Sprintf("users=%d/extensions=10000", n), func(b *testing.B) {
			b.ReportAllocs()
			var p Plan
			for b.Loop() {
				p = Make(in)
			}
			b.ReportMetric(float64(len(p.Changes)), "changes")
		})
	}
}

// BenchmarkMakeSteady is the nightly case: 10,000 users all linked and in
// sync, nothing to do but compare.
func BenchmarkMakeSteady(b *testing.B) {
	in := scenario(10_000, 10_000, 6)
	a := newApplier(&in)
	for _, c := range Make(in).Changes {
		a.apply(c)
	}
	b.ReportAllocs()
	for b.Loop() {
		Make(in)
	}
}

// BenchmarkMakeCold is BenchmarkMake for 10,000 users with the phone number
// cache emptied before every plan: the first run of a process.
func BenchmarkMakeCold(b *testing.B) {
	in := scenario(10_000, 10_000, 5)
	b.ReportAllocs()
	for b.Loop() {
		phoneCache.Lock()
		clear(phoneCache.m)
		phoneCache.Unlock()
		Make(in)
	}
}
