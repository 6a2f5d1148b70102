package plan

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/pbx365/pbx365/graphclient"
	"github.com/pbx365/pbx365/pbxclient"
)

var (
	givenNames = []string{"Ann", "émile", "Zoë", "Øystein", "adam", "Björn", "Chloé", "Dmitri", "Eve", "Łukasz", "Maria", "ñico", "Oskar", "Yusuf", "İlker"}
	surnames   = []string{"Lee", "Müller", "van Dam", "Ødegård", "Smith", "García", "Nowak", "O'Brien", "Šimek", "Zhang"}
)

// scenario builds a tenant of n directory users and a PBX of about m
// extensions with every kind of case: linked and drifted users, leavers,
// guests, adoptions, adoption conflicts, vanished extensions, queues in the
// range. The same seed gives the same scenario.
func scenario(n, m int, seed uint64) Input {
	r := rand.New(rand.NewPCG(seed, 42))
	in := Input{Full: true, Now: now, Settings: Settings{ExtStart: "1000", MaxRemovals: "100%", CallerID: true, Photos: true}}
	in.Photos = map[string]string{}
	for i := range 50 {
		in.NumbersInUse = append(in.NumbersInUse, pbxclient.NumberInUse{Number: fmt.Sprint(1000 + r.IntN(m+n)), Kind: "queue", Name: fmt.Sprint("Q", i)})
	}
	pid := int32(1)
	number := 1000
	for i := range n {
		id := fmt.Sprintf("%08x-0000-4000-8000-%012d", r.Uint32(), i)
		g, s := givenNames[r.IntN(len(givenNames))], surnames[r.IntN(len(surnames))]
		upn := fmt.Sprintf("u%d@contoso.example", i)
		u := graphclient.User{ID: id, GivenName: g, Surname: s, DisplayName: g + " " + s, UserPrincipalName: upn,
			Mail: fmt.Sprintf("%s.%d@contoso.example", g, i), UserType: "Member", AccountEnabled: true}
		if r.IntN(3) == 0 {
			u.MobilePhone = fmt.Sprintf("(202) 555-%04d", r.IntN(10000))
		}
		if r.IntN(4) == 0 {
			u.BusinessPhones = []string{fmt.Sprintf("+49 30 %07d", r.IntN(10_000_000))}
		}
		if r.IntN(5) == 0 {
			in.Photos[id] = fmt.Sprint("etag-", r.IntN(3))
		}
		switch k := r.IntN(100); {
		case k < 3:
			u.UserType = "Guest"
		case k < 5:
			u.AccountEnabled = false
		case k < 6:
			u.UserType = ""
		}
		in.Directory = append(in.Directory, u)
		if i < m {
			// linked to an extension; some drifted, some gone
			for {
				number++
				if !slices.ContainsFunc(in.NumbersInUse, func(x pbxclient.NumberInUse) bool { return x.Number == fmt.Sprint(number) }) {
					break
				}
			}
			d := desired(&u, &settings{Settings: Settings{CallerID: true, PhoneRegion: "US", Department: DefaultDepartment}}, "", false)
			x := pbxclient.User{ID: pid, Number: fmt.Sprint(number), FirstName: d.FirstName, LastName: d.LastName,
				EmailAddress: d.EmailAddress, Mobile: d.Mobile, OutboundCallerID: d.OutboundCallerID, Enabled: true,
				Groups: []pbxclient.Membership{{GroupID: 3, GroupName: DefaultDepartment, Role: "users"}}}
			if r.IntN(10) == 0 {
				x.FirstName = "Edited"
			}
			l := Link{ObjectID: id, PBXUserID: pid, Number: x.Number, PhotoETag: "etag-0"}
			pid++
			if r.IntN(50) != 0 {
				in.PBXUsers = append(in.PBXUsers, x)
			}
			in.Links = append(in.Links, l)
			continue
		}
		switch r.IntN(50) {
		case 0: // an unlinked extension to adopt
			in.PBXUsers = append(in.PBXUsers, pbxclient.User{ID: pid, Number: fmt.Sprint(5000 + i), EmailAddress: upn, FirstName: "Old"})
			pid++
		case 1: // two extensions for one user: a conflict
			in.PBXUsers = append(in.PBXUsers,
				pbxclient.User{ID: pid, Number: fmt.Sprint(5000 + i), EmailAddress: upn},
				pbxclient.User{ID: pid + 1, Number: fmt.Sprint(6000 + i), EmailAddress: u.Mail})
			pid += 2
		}
	}
	for _, x := range in.PBXUsers {
		in.NumbersInUse = append(in.NumbersInUse, pbxclient.NumberInUse{Number: x.Number, Kind: "user"})
	}
	return in
}

// clone deep-copies what the applier changes.
func clone(in Input) Input {
	out := in
	out.PBXUsers = slices.Clone(in.PBXUsers)
	for i := range out.PBXUsers {
		out.PBXUsers[i].Groups = slices.Clone(out.PBXUsers[i].Groups)
	}
	out.NumbersInUse = slices.Clone(in.NumbersInUse)
	out.Links = slices.Clone(in.Links)
	return out
}

func key(c Change) string {
	b, _ := json.Marshal(c)
	return string(b)
}

// TestPartialApply: applying any prefix of a plan (the engine works in plan
// order) and planning again gives exactly the writes still to do, with the
// same numbers.
func TestPartialApply(t *testing.T) {
	in := scenario(400, 150, 1)
	in.Settings.ExtEnd = "1350" // so that the range runs out
	p := Make(in)
	if p.Counts[ActCreate] < 100 || p.Counts[ActAdopt] == 0 || p.Counts[ActUpdate] == 0 || p.Counts[ActRecreate] == 0 ||
		p.Counts[ActDisable] == 0 || p.Counts[ActConflict] == 0 || p.Counts[ActSkip] == 0 {
		t.Fatalf("scenario lacks cases: %v", p.Counts)
	}
	exhausted := false
	for _, c := range p.Changes {
		exhausted = exhausted || (c.Action == ActSkip && c.Rule == RuleNumbers)
	}
	if !exhausted {
		t.Fatal("scenario does not exhaust the range")
	}
	for _, k := range []int{0, 1, 2, 17, 60, 150, p.Counts[ActCreate], p.Counts[ActCreate] + 3, len(writes(p)) - 1, len(p.Changes)} {
		t.Run(fmt.Sprint(k), func(t *testing.T) {
			in2 := clone(in)
			a := newApplier(&in2)
			applied := map[string]bool{}
			for _, c := range p.Changes[:min(k, len(p.Changes))] {
				a.apply(c)
				applied[c.ObjectID] = true
			}
			checkRemaining(t, p, Make(in2), applied)
		})
	}
}

// TestCreatesInAnyOrder: the engine writes creates concurrently, so after a
// crash any subset of them may be done. The others keep their numbers.
func TestCreatesInAnyOrder(t *testing.T) {
	for _, rng := range [][2]string{{"1000", "1330"}, {"", ""}, {"0990", "1400"}} {
		in := scenario(300, 100, 2)
		in.Settings.ExtStart, in.Settings.ExtEnd = rng[0], rng[1]
		p := Make(in)
		r := rand.New(rand.NewPCG(7, 7))
		for round := range 10 {
			in2 := clone(in)
			a := newApplier(&in2)
			applied := map[string]bool{}
			for _, c := range p.Changes {
				if c.Action == ActCreate && r.IntN(3) == 0 {
					a.apply(c)
					applied[c.ObjectID] = true
				}
			}
			t.Run(fmt.Sprint(rng, round), func(t *testing.T) { checkRemaining(t, p, Make(in2), applied) })
		}
	}
}

// checkRemaining compares the writes of p not yet applied with the writes of
// the new plan q: they must be equal, change for change.
func checkRemaining(t *testing.T, p, q Plan, applied map[string]bool) {
	t.Helper()
	var want, got []string
	for _, c := range writes(p) {
		if !applied[c.ObjectID] {
			want = append(want, key(c))
		}
	}
	for _, c := range writes(q) {
		got = append(got, key(c))
	}
	// Skips for numbers (range exhausted) and conflicts stay the same too.
	inQ := map[string]bool{}
	for _, c := range q.Changes {
		inQ[key(c)] = true
	}
	for _, c := range p.Changes {
		if !isWrite(c.Action) && c.LeftAt.IsZero() {
			if !inQ[key(c)] {
				t.Errorf("lost %s for %s: %s", c.Action, c.ObjectID, c.Reason)
			}
		}
	}
	if !slices.Equal(want, got) {
		for i := range max(len(want), len(got)) {
			var w, g string
			if i < len(want) {
				w = want[i]
			}
			if i < len(got) {
				g = got[i]
			}
			if w != g {
				t.Fatalf("write %d differs (%d vs %d writes):\nwant %s\n got %s", i, len(want), len(got), w, g)
			}
		}
	}
}

// TestConvergence: a plan applied in full leaves nothing to write.
func TestConvergence(t *testing.T) {
	for _, removal := range []string{"keep", "disable", "delete"} {
		t.Run(removal, func(t *testing.T) {
			in := scenario(500, 200, 3)
			in.Settings.Removal = removal
			in2 := clone(in)
			a := newApplier(&in2)
			p := Make(in)
			for _, c := range p.Changes {
				a.apply(c)
			}
			q := Make(in2)
			if w := writes(q); len(w) != 0 {
				t.Fatalf("after applying the plan, %d writes remain, first: %+v", len(w), w[0])
			}
			if q.Counts[ActConflict] != p.Counts[ActConflict] {
				t.Errorf("conflicts %d, then %d", p.Counts[ActConflict], q.Counts[ActConflict])
			}
		})
	}
}

// TestOrderIndependent: the plan does not depend on the order of the input's
// slices, nor on the time zone of Now.
func TestOrderIndependent(t *testing.T) {
	in := scenario(300, 120, 4)
	p := Make(in)
	r := rand.New(rand.NewPCG(9, 9))
	for range 5 {
		sh := clone(in)
		sh.Directory = slices.Clone(in.Directory)
		r.Shuffle(len(sh.Directory), func(i, j int) { sh.Directory[i], sh.Directory[j] = sh.Directory[j], sh.Directory[i] })
		r.Shuffle(len(sh.PBXUsers), func(i, j int) { sh.PBXUsers[i], sh.PBXUsers[j] = sh.PBXUsers[j], sh.PBXUsers[i] })
		r.Shuffle(len(sh.Links), func(i, j int) { sh.Links[i], sh.Links[j] = sh.Links[j], sh.Links[i] })
		r.Shuffle(len(sh.NumbersInUse), func(i, j int) { sh.NumbersInUse[i], sh.NumbersInUse[j] = sh.NumbersInUse[j], sh.NumbersInUse[i] })
		q := Make(sh)
		if q.Hash != p.Hash {
			t.Fatalf("shuffled input gives another plan")
		}
	}
	in.Now = now.In(time.FixedZone("UTC-7", -7*3600))
	if q := Make(in); q.Hash != p.Hash {
		t.Fatal("another time zone for Now gives another plan")
	}
}

func TestOrderingAndHash(t *testing.T) {
	in := baseInput()
	in.Settings.ExtStart, in.Settings.ExtEnd = "98", "200"
	in.NumbersInUse = []pbxclient.NumberInUse{{Number: "98"}}
	in.Directory = []graphclient.User{member("b", "b@ex.com", "B"), member("a", "a@ex.com", "A"), member("c", "c@ex.com", "C")}
	g := member("g", "g@ex.com", "G")
	g.UserType = "Guest"
	in.Directory = append(in.Directory, g)
	p := Make(in)
	var got []string
	for _, c := range p.Changes {
		got = append(got, string(c.Action)+" "+c.Number+" "+c.ObjectID)
	}
	// 99 before 100: numbers compare as numbers
	wantOrder := []string{"create 99 a", "create 100 b", "create 101 c", "skip  g"}
	if !slices.Equal(got, wantOrder) {
		t.Errorf("order %q, want %q", got, wantOrder)
	}
	if p.Counts[ActCreate] != 3 || p.Counts[ActSkip] != 1 || p.Counts[ActDelete] != 0 || len(p.Counts) != len(Actions) {
		t.Errorf("counts %v", p.Counts)
	}
	if len(p.Hash) != 64 || p.Hash != Make(in).Hash {
		t.Errorf("hash %q not stable", p.Hash)
	}
	later := in
	later.Now = now.Add(1)
	if Make(later).Hash != p.Hash {
		t.Error("Created changes the hash")
	}
	other := in
	other.Settings.Department = "Staff"
	if Make(other).Hash == p.Hash {
		t.Error("a different plan has the same hash")
	}
	b1, _ := json.Marshal(Make(in))
	b2, _ := json.Marshal(Make(in))
	if string(b1) != string(b2) {
		t.Error("plans are not byte-identical")
	}
}
