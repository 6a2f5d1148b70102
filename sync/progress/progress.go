// Package progress carries what a running sync reports: events on a channel
// that a reader drains at its own pace. Progress events are coalesced, item
// errors and the final summary are never dropped.
package progress

import (
	"time"

	"github.com/pbx365/pbx365/sync/plan"
)

// Phase is the stage a run is in.
type Phase string

// The phases of a run.
const (
	PhaseSettle Phase = "settle" // settling intents left by a previous crash
	PhaseRead   Phase = "read"   // reading the directory and the PBX
	PhasePlan   Phase = "plan"   // computing the plan
	PhaseApply  Phase = "apply"  // writing to the PBX
	PhaseDone   Phase = "done"   // finished (Summary is set)
)

// Item is one finished change.
type Item struct {
	Action   plan.Action `json:"action"`
	ObjectID string      `json:"object_id"`
	UPN      string      `json:"upn"`
	Number   string      `json:"number"`
	OK       bool        `json:"ok"`
	Err      string      `json:"error,omitempty"`
}

// Summary is the outcome of a whole run.
type Summary struct {
	RunID    uint64              `json:"run_id"`
	Started  time.Time           `json:"started"`
	Finished time.Time           `json:"finished"`
	Done     map[plan.Action]int `json:"done"`   // succeeded per action
	Failed   map[plan.Action]int `json:"failed"` // failed per action
	Skipped  int                 `json:"skipped"`
	Conflict int                 `json:"conflict"`
	Guard    *plan.Guard         `json:"guard,omitempty"` // set when a guard stopped the run
	Canceled bool                `json:"canceled,omitempty"`
	Err      string              `json:"error,omitempty"` // a run-level failure
}

// Event is what a run reports.
type Event struct {
	RunID   uint64              `json:"run_id"`
	Phase   Phase               `json:"phase"`
	Done    int                 `json:"done"`  // changes finished so far (ok or failed)
	Total   int                 `json:"total"` // changes to apply
	Counts  map[plan.Action]int `json:"counts,omitempty"`
	Current string              `json:"current,omitempty"` // what is being worked on
	Items   []Item              `json:"items,omitempty"`   // items finished since the last event
	Summary *Summary            `json:"summary,omitempty"` // set on PhaseDone
}
