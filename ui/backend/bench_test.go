package backend_test

import (
	"context"
	"testing"

	"github.com/pbx365/pbx365/ui/backend"
	"github.com/pbx365/pbx365/ui/common"
)

// BenchmarkPreview is what the Users screen pays a moment after each change
// of the selection: the directory and PBX read plus the plan, in-process
// against the simulators (10,000 users, five chosen).
func BenchmarkPreview(b *testing.B) {
	_, a := setup(b, 10000)
	l := backend.NewLocal(a)
	ctx := context.Background()
	dir, err := l.Directory(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var pick []string
	for _, u := range dir.Users {
		if u.State == common.StateCreate && len(pick) < 5 {
			pick = append(pick, u.ObjectID)
		}
	}
	sel := common.Selection{Scope: common.ScopeSelected, Users: pick}
	b.ResetTimer()
	for b.Loop() {
		p, err := l.Preview(ctx, sel)
		if err != nil || len(p.Changes) == 0 {
			b.Fatalf("preview: %v", err)
		}
	}
}
