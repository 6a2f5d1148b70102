package plan

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/pbx365/pbx365/pbxclient"
)

// numbers knows which numbers are taken and hands out free ones.
//
// Not free: every number in NumbersInUse (users, queues, ring groups, IVRs,
// ...), every PBX user's number and every linked number, even when its
// extension is gone from the PBX. Numbers compare by value, so "0101" blocks
// 101 and the other way round.
//
// Free numbers are handed out lowest first, to new users in their stable
// order. That makes a plan stable under partial application: if any subset of
// its creates is applied and linked, the users still to be created get the same
// numbers on the next plan. Proof sketch: the i-th new user gets n_i, the lowest
// free number not among n_1..n_{i-1}; so n_1 < n_2 < ... and every free number
// below n_i is one of n_1..n_{i-1}. After a subset S is applied, the free set
// loses exactly {n_j : j in S}; the i-th remaining user (i not in S) sees as
// taken below n_i only numbers from n_1..n_{i-1} (taken by earlier users or
// by S) and n_i itself is still free, so it gets n_i again.
type numbers struct {
	taken  map[uint64]struct{}
	usedBy map[string]string // canonical number → what uses it (for messages)
	sorted []uint64          // taken values ≥ start, ascending (built on first use)
	start  uint64
	end    uint64
	width  int
	next   uint64 // lowest candidate not yet examined
	pos    int    // index into sorted of the first value ≥ next
	ready  bool
}

// canonical is the key a number is compared by: its value for numeric numbers,
// the string itself otherwise.
func canonical(n string) string {
	if v, ok := parseNumber(n); ok {
		return strconv.FormatUint(v, 10)
	}
	return "s:" + n
}

func newNumbers(s *settings, in *Input, pbx []pbxclient.User) *numbers {
	ns := &numbers{
		taken:  make(map[uint64]struct{}, len(pbx)+len(in.NumbersInUse)+len(in.Links)),
		usedBy: make(map[string]string, len(pbx)+len(in.NumbersInUse)),
		end:    s.end,
		width:  s.width,
	}
	add := func(n, what string) {
		if n == "" {
			return
		}
		if v, ok := parseNumber(n); ok {
			ns.taken[v] = struct{}{}
		}
		if what != "" {
			c := canonical(n)
			if old, ok := ns.usedBy[c]; !ok || what < old {
				ns.usedBy[c] = what // the smallest description: order-independent
			}
		}
	}
	for _, n := range in.NumbersInUse {
		what := n.Kind
		if what == "" {
			what = "object"
		}
		what += " " + n.Number
		if n.Name != "" {
			what += fmt.Sprintf(" (%s)", n.Name)
		}
		add(n.Number, what)
	}
	lengths := map[int]int{}
	for i := range pbx {
		x := &pbx[i]
		add(x.Number, fmt.Sprintf("extension %s (PBX id %d, %s)", x.Number, x.ID, x.EmailAddress))
		countLength(lengths, x.Number)
	}
	for _, l := range in.Links {
		add(l.Number, "")
		countLength(lengths, l.Number)
	}
	ns.start = s.start
	if s.ExtStart == "" {
		ns.start = firstFreeStart(lengths, s)
	}
	ns.next = ns.start
	return ns
}

// countLength counts the digit count of a plain numeric user extension
// number (no leading zero).
func countLength(lengths map[int]int, n string) {
	if _, ok := parseNumber(n); ok && n[0] != '0' && len(n) <= maxDigits {
		lengths[len(n)]++
	}
}

// firstFreeStart is where "first free" (users.ext_start empty) begins: the
// lowest number with the digit count most user extensions have (ties: the
// shorter count; at least 3 digits, so 100 when the PBX has none). With
// users.ext_end set, the digit count of ext_end is used instead.
//
// The choice is stable while a plan is applied: new users get numbers of that
// digit count, which only strengthens it (or, in an open range, numbers beyond
// it once every number of that count is taken, so a shift cannot uncover
// any free number below).
func firstFreeStart(lengths map[int]int, s *settings) uint64 {
	w := 0
	if s.ExtEnd != "" {
		w = len(strconv.FormatUint(s.end, 10))
	} else {
		best := 0
		for l, c := range lengths {
			if c > best || (c == best && l < w) {
				w, best = l, c
			}
		}
	}
	w = max(w, 3)
	start := uint64(1)
	for range w - 1 {
		start *= 10
	}
	return start
}

// describe names the range for messages.
func (ns *numbers) describe() string {
	if ns.end == maxNumber {
		return fmt.Sprintf("from %s (open range)", formatNumber(ns.start, ns.width))
	}
	return fmt.Sprintf("[%s, %s]", formatNumber(ns.start, ns.width), formatNumber(ns.end, ns.width))
}

// isUsed reports what uses number n on the PBX, if anything.
func (ns *numbers) isUsed(n string) (string, bool) {
	what, ok := ns.usedBy[canonical(n)]
	return what, ok
}

// take returns the lowest free number in range not handed out before.
func (ns *numbers) take() (string, bool) {
	if !ns.ready {
		ns.sorted = make([]uint64, 0, len(ns.taken))
		for v := range ns.taken {
			if v >= ns.start && v <= ns.end {
				ns.sorted = append(ns.sorted, v)
			}
		}
		slices.Sort(ns.sorted)
		ns.ready = true
	}
	for ns.next <= ns.end {
		for ns.pos < len(ns.sorted) && ns.sorted[ns.pos] < ns.next {
			ns.pos++
		}
		if ns.pos < len(ns.sorted) && ns.sorted[ns.pos] == ns.next {
			ns.next++
			continue
		}
		v := ns.next
		ns.next++
		return formatNumber(v, ns.width), true
	}
	return "", false
}
