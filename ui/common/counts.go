package common

import (
	"fmt"
	"strings"

	"github.com/pbx365/pbx365/sync/plan"
)

// PlanCounts says what a plan does, in plan.Actions order: "3 create ·
// 1 adopt"; none when it does nothing.
func PlanCounts(m map[plan.Action]int, none string) string {
	return counts(m, none, "%[2]d %[1]s")
}

// ResultCounts says what a run did (or failed to do), for lines like
// "done: create 3 · update 1"; none when nothing.
func ResultCounts(m map[plan.Action]int, none string) string {
	return counts(m, none, "%[1]s %[2]d")
}

func counts(m map[plan.Action]int, none, format string) string {
	var parts []string
	for _, a := range plan.Actions {
		if m[a] > 0 {
			parts = append(parts, fmt.Sprintf(format, a, m[a]))
		}
	}
	if len(parts) == 0 {
		return none
	}
	return strings.Join(parts, " · ")
}
