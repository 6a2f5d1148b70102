package plan

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pbx365/pbx365/graphclient"
	"github.com/pbx365/pbx365/pbxclient"
)

// bytesReader hands out fuzz bytes as small choices.
type bytesReader struct {
	b []byte
	i int
}

func (r *bytesReader) n(k int) int {
	if r.i >= len(r.b) {
		return 0
	}
	v := int(r.b[r.i])
	r.i++
	return v % k
}

func (r *bytesReader) pick(xs []string) string { return xs[r.n(len(xs))] }

var (
	fzIDs     = []string{"a", "b", "c", "A", "", "d", "e", "f"}
	fzAddrs   = []string{"a@x.io", "A@X.IO", "b@x.io", "c@x.io", "", "bad", "a@x.io ", "d@x.io", "@x.io"}
	fzNames   = []string{"Ann Lee", "ann lee", "Émile", "", "  ", "Zoë Q R", "\xff\xfe", "Bo"}
	fzNumbers = []string{"100", "101", "0100", "102", "", "abc", "199", "200", "99999999999999999999999", "1", "0"}
	fzPhones  = []string{"", "+1 202 456 1111", "(202) 456-1111", "12", "+", "+999999999999999999999", "ext 5", "0049 30 901820"}
	fzTypes   = []string{"Member", "Guest", "", "Other"}
	fzStarts  = []string{"", "100", "0100", "150", "x"}
	fzEnds    = []string{"", "105", "199", "0102", "99"}
	fzRemoval = []string{"", "keep", "disable", "delete", "bogus"}
	fzMax     = []string{"", "0", "1", "10%", "100%", "x%"}
	fzScopes  = []string{"all", "groups", "selected", "all-except", ""}
)

// fuzzInput decodes a small, often inconsistent, input from fuzz bytes.
func fuzzInput(data []byte) Input {
	r := &bytesReader{b: data}
	in := Input{Full: r.n(4) != 0, Now: now}
	in.Settings = Settings{
		Scope: r.pick(fzScopes), ExtStart: r.pick(fzStarts), ExtEnd: r.pick(fzEnds),
		IncludeGuests: r.n(2) == 0, IncludeUntyped: r.n(2) == 0, CallerID: r.n(2) == 0, Photos: r.n(2) == 0,
		Removal: r.pick(fzRemoval), RemovalGrace: time.Duration(r.n(3)) * time.Hour, MaxRemovals: r.pick(fzMax),
		SSOEnabled: r.n(2) == 0, SSOUsers: []string{"all", "selected"}[r.n(2)],
		Selected: []string{r.pick(fzIDs), r.pick(fzAddrs)}, SSOSelected: []string{r.pick(fzIDs)},
	}
	in.GroupMembers = map[string]bool{r.pick(fzIDs): true}
	in.Photos = map[string]string{r.pick(fzIDs): r.pick([]string{"", "e1", "e2"})}
	for range r.n(7) {
		in.Directory = append(in.Directory, graphclient.User{
			ID: r.pick(fzIDs), UserPrincipalName: r.pick(fzAddrs), Mail: r.pick(fzAddrs), DisplayName: r.pick(fzNames),
			GivenName: r.pick(fzNames), UserType: r.pick(fzTypes), AccountEnabled: r.n(4) != 0,
			MobilePhone: r.pick(fzPhones), BusinessPhones: []string{r.pick(fzPhones)},
		})
	}
	for range r.n(4) {
		in.Removed = append(in.Removed, graphclient.RemovedUser{ID: r.pick(fzIDs), Reason: []string{"changed", "deleted"}[r.n(2)]})
	}
	for range r.n(6) {
		in.PBXUsers = append(in.PBXUsers, pbxclient.User{
			ID: int32(r.n(6)), Number: r.pick(fzNumbers), EmailAddress: r.pick(fzAddrs), FirstName: r.pick(fzNames),
			Enabled: r.n(2) == 0, MS365SignInEnabled: r.n(2) == 0,
			Groups: []pbxclient.Membership{{GroupName: []string{"Azure AD", "Sales", ""}[r.n(3)], Role: r.pick(pbxclient.Roles)}},
		})
	}
	for range r.n(4) {
		in.NumbersInUse = append(in.NumbersInUse, pbxclient.NumberInUse{Number: r.pick(fzNumbers), Kind: "queue"})
	}
	for range r.n(5) {
		l := Link{ObjectID: r.pick(fzIDs), PBXUserID: int32(r.n(6)), Number: r.pick(fzNumbers), Disabled: r.n(3) == 0}
		if r.n(2) == 0 {
			l.LeftAt = now.Add(-time.Duration(r.n(4)) * time.Hour)
		}
		in.Links = append(in.Links, l)
	}
	return in
}

// reversed returns in with every slice reversed.
func reversed(in Input) Input {
	out := clone(in)
	out.Directory = slices.Clone(in.Directory)
	out.Removed = slices.Clone(in.Removed)
	slices.Reverse(out.Directory)
	slices.Reverse(out.Removed)
	slices.Reverse(out.PBXUsers)
	slices.Reverse(out.NumbersInUse)
	slices.Reverse(out.Links)
	return out
}

// FuzzMake checks the planner's invariants on arbitrary inputs: no panic,
// determinism (also under reordered input), no number handed out twice or
// outside the range or already in use, nothing but the conflict for a
// conflicted user, no removal under the empty-directory guard, and a correct
// hash.
func FuzzMake(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x01\x00\x01\x00\x00\x00\x00\x00\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x05"))
	f.Add([]byte("plan all the users of this tenant, please, with numbers in range"))
	f.Add([]byte{3, 1, 1, 2, 1, 1, 1, 1, 2, 2, 0, 3, 1, 0, 1, 0, 0, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 5, 0, 0, 0, 0, 4, 1, 1, 1, 1, 1, 4, 2, 2, 2, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := fuzzInput(data)
		p := Make(in)
		if q := Make(in); key(Change{Reason: q.Hash}) != key(Change{Reason: p.Hash}) {
			t.Fatal("same input, different plan")
		}
		if q := Make(reversed(in)); q.Hash != p.Hash {
			t.Fatalf("reordered input, different plan:\n%s---\n%s", dump(p), dump(q))
		}
		if hash(p) != p.Hash {
			t.Fatal("hash does not match the changes")
		}
		s, err := normalize(in.Settings)
		if err != nil {
			if p.Guard == nil || p.Guard.Kind != GuardInvalidSettings || len(p.Changes) != 0 {
				t.Fatalf("invalid settings (%v) but plan %+v", err, p)
			}
			return
		}
		used := map[uint64]bool{}
		for _, x := range in.PBXUsers {
			if v, ok := parseNumber(x.Number); ok {
				used[v] = true
			}
		}
		for _, n := range in.NumbersInUse {
			if v, ok := parseNumber(n.Number); ok {
				used[v] = true
			}
		}
		for _, l := range in.Links {
			if v, ok := parseNumber(l.Number); ok {
				used[v] = true
			}
		}
		given := map[string]string{}
		conflicted := map[string]bool{}
		perUser := map[string]int{}
		for _, c := range p.Changes {
			perUser[c.ObjectID]++
			if c.Action == ActConflict {
				conflicted[c.ObjectID] = true
				if c.Desired != nil || c.Fields != nil {
					t.Fatalf("conflict with writes: %+v", c)
				}
			}
			if c.Action == ActCreate || c.Action == ActRecreate {
				if prev, dup := given[canonical(c.Number)]; dup {
					t.Fatalf("number %s given to %s and %s", c.Number, prev, c.ObjectID)
				}
				given[canonical(c.Number)] = c.ObjectID
			}
			if c.Action == ActCreate {
				v, ok := parseNumber(c.Number)
				if !ok || used[v] {
					t.Fatalf("create with number %q already in use or not a number", c.Number)
				}
				if (s.ExtStart != "" && v < s.start) || v > s.end {
					t.Fatalf("number %s outside [%q, %q]", c.Number, s.ExtStart, s.ExtEnd)
				}
			}
			if c.Action == ActRecreate && !slices.ContainsFunc(in.Links, func(l Link) bool { return l.ObjectID == c.ObjectID && l.Number == c.Number }) {
				t.Fatalf("recreate with a number not from the link: %+v", c)
			}
			if c.Action != ActSkip && c.ObjectID == "" {
				t.Fatalf("%s without an object id: %+v", c.Action, c)
			}
			if p.Guard != nil && p.Guard.Kind == GuardEmptyDirectory && (c.Action == ActDisable || c.Action == ActDelete) {
				t.Fatalf("removal under the empty-directory guard: %+v", c)
			}
			if strings.TrimSpace(c.Reason) == "" || c.Rule == "" || !slices.Contains(Rules, c.Rule) {
				t.Fatalf("change without a known rule or a reason: %+v", c)
			}
		}
		for id := range conflicted {
			if perUser[id] != 1 {
				t.Fatalf("conflicted user %q has %d changes:\n%s", id, perUser[id], dump(p))
			}
		}
		// Applied, the plan creates nobody twice: a second plan has no create,
		// adoption or recreation for a user the first one gave an extension.
		if p.Guard == nil {
			in2 := clone(in)
			a := newApplier(&in2)
			for _, c := range p.Changes {
				a.apply(c)
			}
			for _, c := range Make(in2).Changes {
				if (c.Action == ActCreate || c.Action == ActAdopt || c.Action == ActRecreate) && given[canonical(c.Number)] != "" {
					t.Fatalf("after applying, %s %s again for %s", c.Action, c.Number, c.ObjectID)
				}
				if prev := changesFor(p, c.ObjectID); c.Action == ActCreate && len(prev) > 0 && (prev[0].Action == ActCreate || prev[0].Action == ActAdopt) {
					t.Fatalf("after applying, %s is created again", c.ObjectID)
				}
			}
		}
		// Explain works for every user the plan names.
		for id := range perUser {
			if id == "" {
				continue
			}
			if _, err := Explain(in, id); err != nil && !strings.Contains(err.Error(), "several users") {
				t.Fatalf("explain %q: %v", id, err)
			}
		}
	})
}
