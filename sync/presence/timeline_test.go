package presence

import (
	"testing"
	"time"

	"github.com/pbx365/pbx365/graphclient"
)

var t0 = time.Date(2026, 9, 17, 9, 0, 0, 0, time.UTC)

func at(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }

func item(status graphclient.FreeBusy, from, to int, subject string) graphclient.ScheduleItem {
	return graphclient.ScheduleItem{Status: status, Start: at(from), End: at(to), Subject: subject}
}

type seg struct {
	from, to int
	kind     Kind
	subject  string
}

func checkSegments(t *testing.T, tl Timeline, want []seg) {
	t.Helper()
	if len(tl.Segments) != len(want) {
		t.Fatalf("segments %+v, want %+v", tl.Segments, want)
	}
	for i, w := range want {
		g := tl.Segments[i]
		if !g.Start.Equal(at(w.from)) || !g.End.Equal(at(w.to)) || g.Kind != w.kind || g.Item.Subject != w.subject {
			t.Errorf("segment %d = %s..%s %s %q, want %+v", i, g.Start.Format("15:04"), g.End.Format("15:04"), g.Kind, g.Item.Subject, w)
		}
	}
}

func TestTimelineMergesOverlapAndBackToBack(t *testing.T) {
	tl := BuildTimeline([]graphclient.ScheduleItem{
		item(graphclient.FreeBusyBusy, 30, 60, "B"),
		item(graphclient.FreeBusyBusy, 10, 40, "A"),             // overlaps B
		item(graphclient.FreeBusyWorkingElsewhere, 60, 90, "C"), // back to back with B, 0 gap
		item(graphclient.FreeBusyTentative, 100, 120, "maybe"),  // no change
		item(graphclient.FreeBusyFree, 130, 140, "free"),        // no change
		item(graphclient.FreeBusyBusy, 150, 150, "empty"),       // zero length
	}, at(0), at(24*60))
	checkSegments(t, tl, []seg{{10, 90, KindBusy, "A"}})
	if _, s, e, ok := tl.At(at(60)); !ok || !s.Equal(at(10)) || !e.Equal(at(90)) {
		t.Errorf("At(60) block %v..%v ok=%v, want 10..90", s, e, ok)
	}
	if _, _, _, ok := tl.At(at(90)); ok {
		t.Error("the end of a meeting is not inside it")
	}
	if n := tl.Next(at(0)); !n.Equal(at(10)) {
		t.Errorf("Next(0) = %v, want the start", n)
	}
	if n := tl.Next(at(10)); !n.Equal(at(90)) {
		t.Errorf("Next(10) = %v, want the end of the merged block", n)
	}
	if n := tl.Next(at(90)); !n.IsZero() {
		t.Errorf("Next(90) = %v, want none", n)
	}
}

func TestTimelineBusyWinsOverOOF(t *testing.T) {
	tl := BuildTimeline([]graphclient.ScheduleItem{
		item(graphclient.FreeBusyOOF, 0, 120, "Vacation"),
		item(graphclient.FreeBusyBusy, 30, 60, "Call"),
	}, at(0), at(24*60))
	checkSegments(t, tl, []seg{{0, 30, KindAway, "Vacation"}, {30, 60, KindBusy, "Call"}, {60, 120, KindAway, "Vacation"}})
	_, s, e, _ := tl.At(at(45))
	if !s.Equal(at(0)) || !e.Equal(at(120)) {
		t.Errorf("block %v..%v, want the whole vacation", s, e)
	}
	var ns []time.Time
	for n := at(-1); ; {
		n = tl.Next(n)
		if n.IsZero() {
			break
		}
		ns = append(ns, n)
	}
	if len(ns) != 4 || !ns[0].Equal(at(0)) || !ns[3].Equal(at(120)) {
		t.Errorf("transitions %v, want 0, 30, 60, 120", ns)
	}
}

func TestTimelineAllDayAndClipping(t *testing.T) {
	day := t0.Truncate(24 * time.Hour)
	tl := BuildTimeline([]graphclient.ScheduleItem{
		{Status: graphclient.FreeBusyOOF, Start: day, End: day.Add(48 * time.Hour), Subject: "Holiday"},
	}, at(0), at(24*60))
	checkSegments(t, tl, []seg{{0, 24 * 60, KindAway, "Holiday"}})
	if seg, _, _, ok := tl.At(at(5)); !ok || seg.Kind != KindAway {
		t.Error("an all-day out-of-office event counts")
	}
}

func TestTimelineGapKeepsBlocksApart(t *testing.T) {
	tl := BuildTimeline([]graphclient.ScheduleItem{
		item(graphclient.FreeBusyBusy, 10, 20, "A"),
		item(graphclient.FreeBusyBusy, 21, 30, "B"),
	}, at(0), at(24*60))
	checkSegments(t, tl, []seg{{10, 20, KindBusy, "A"}, {21, 30, KindBusy, "B"}})
	if _, s, e, _ := tl.At(at(25)); !s.Equal(at(21)) || !e.Equal(at(30)) {
		t.Errorf("block %v..%v, want 21..30", s, e)
	}
}

func TestManualClockRunsDueFunctionsInOrder(t *testing.T) {
	c := NewManualClock(t0)
	var got []int
	c.AfterFunc(2*time.Minute, func() { got = append(got, 2) })
	c.AfterFunc(time.Minute, func() { got = append(got, 1) })
	stopped := c.AfterFunc(90*time.Second, func() { got = append(got, 99) })
	if !stopped.Stop() {
		t.Error("Stop of a pending timer reports false")
	}
	c.Advance(30 * time.Second)
	if len(got) != 0 {
		t.Fatalf("ran %v before their time", got)
	}
	c.Advance(5 * time.Minute)
	if len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Errorf("ran %v, want [1 2]", got)
	}
	if !c.Now().Equal(t0.Add(5*time.Minute + 30*time.Second)) {
		t.Errorf("Now = %v", c.Now())
	}
	c.Set(t0) // never backwards
	if !c.Now().After(t0) {
		t.Error("Set moved the clock backwards")
	}
}
