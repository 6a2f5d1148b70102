package common

import (
	"testing"

	"github.com/pbx365/pbx365/sync/plan"
)

func TestCountsInActionOrder(t *testing.T) {
	m := map[plan.Action]int{plan.ActSkip: 2, plan.ActCreate: 3, plan.ActUpdate: 0, plan.ActAdopt: 1}
	if got := PlanCounts(m, "-"); got != "3 create · 1 adopt · 2 skip" {
		t.Errorf("PlanCounts %q", got)
	}
	if got := ResultCounts(m, "-"); got != "create 3 · adopt 1 · skip 2" {
		t.Errorf("ResultCounts %q", got)
	}
	if PlanCounts(nil, "no changes") != "no changes" || ResultCounts(map[plan.Action]int{plan.ActCreate: 0}, "") != "" {
		t.Error("empty counts")
	}
}
