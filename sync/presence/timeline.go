package presence

import (
	"slices"
	"time"

	"github.com/pbx365/pbx365/graphclient"
)

// Kind is what the calendar asks of a user's status at some moment.
type Kind int

// Kinds, weakest first: busy wins over away when they overlap.
const (
	KindNone Kind = iota // free, tentative, or no meeting: no change
	KindAway             // out of office
	KindBusy             // busy or working elsewhere
)

// String names the kind.
func (k Kind) String() string {
	switch k {
	case KindAway:
		return "away"
	case KindBusy:
		return "busy"
	}
	return "none"
}

// kindOf maps a free/busy status.
func kindOf(s graphclient.FreeBusy) Kind {
	switch s {
	case graphclient.FreeBusyBusy, graphclient.FreeBusyWorkingElsewhere:
		return KindBusy
	case graphclient.FreeBusyOOF:
		return KindAway
	}
	return KindNone
}

// Segment is a stretch of time with one kind; Item is the meeting that
// decides it (the strongest, earliest starting one covering the stretch).
type Segment struct {
	Start, End time.Time
	Kind       Kind
	Item       graphclient.ScheduleItem
}

// Timeline is one user's mapped time in a window: segments in order, never
// overlapping; adjacent segments of the same kind are merged, so back-to-back
// and overlapping meetings make one segment.
type Timeline struct {
	Segments []Segment
	End      time.Time // end of the window read; nothing is known after it
}

// BuildTimeline merges a schedule's items into a timeline over [from, to).
func BuildTimeline(items []graphclient.ScheduleItem, from, to time.Time) Timeline {
	type iv struct {
		s, e time.Time
		k    Kind
		it   graphclient.ScheduleItem
	}
	var ivs []iv
	var cuts []time.Time
	for _, it := range items {
		k := kindOf(it.Status)
		s, e := it.Start.UTC(), it.End.UTC()
		if k == KindNone || !e.After(s) || !e.After(from) || !s.Before(to) {
			continue
		}
		s, e = maxTime(s, from), minTime(e, to)
		ivs = append(ivs, iv{s, e, k, it})
		cuts = append(cuts, s, e)
	}
	tl := Timeline{End: to}
	if len(ivs) == 0 {
		return tl
	}
	slices.SortFunc(cuts, func(a, b time.Time) int { return a.Compare(b) })
	cuts = slices.CompactFunc(cuts, func(a, b time.Time) bool { return a.Equal(b) })
	for i := 0; i+1 < len(cuts); i++ {
		s, e := cuts[i], cuts[i+1]
		best := -1
		for j, v := range ivs {
			if v.s.After(s) || !v.e.After(s) {
				continue
			}
			if best < 0 || v.k > ivs[best].k || v.k == ivs[best].k && v.s.Before(ivs[best].s) {
				best = j
			}
		}
		if best < 0 {
			continue
		}
		n := len(tl.Segments)
		if n > 0 && tl.Segments[n-1].Kind == ivs[best].k && tl.Segments[n-1].End.Equal(s) {
			tl.Segments[n-1].End = e
			continue
		}
		tl.Segments = append(tl.Segments, Segment{Start: s, End: e, Kind: ivs[best].k, Item: ivs[best].it})
	}
	return tl
}

// At returns the segment covering t (ok false when none) and the block it
// belongs to: the run of segments with no gap between them, from the first
// one's start to the last one's end.
func (tl Timeline) At(t time.Time) (seg Segment, blockStart, blockEnd time.Time, ok bool) {
	i, found := slices.BinarySearchFunc(tl.Segments, t, func(s Segment, t time.Time) int {
		switch {
		case !s.End.After(t):
			return -1
		case s.Start.After(t):
			return 1
		}
		return 0
	})
	if !found {
		return Segment{}, time.Time{}, time.Time{}, false
	}
	seg = tl.Segments[i]
	a, b := i, i
	for a > 0 && tl.Segments[a-1].End.Equal(tl.Segments[a].Start) {
		a--
	}
	for b+1 < len(tl.Segments) && tl.Segments[b].End.Equal(tl.Segments[b+1].Start) {
		b++
	}
	return seg, tl.Segments[a].Start, tl.Segments[b].End, true
}

// Next returns the first segment boundary after t (zero when none): the
// moment the desired status changes next.
func (tl Timeline) Next(t time.Time) time.Time {
	for _, s := range tl.Segments {
		if s.Start.After(t) {
			return s.Start
		}
		if s.End.After(t) {
			return s.End
		}
	}
	return time.Time{}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
