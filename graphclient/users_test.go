package graphclient

import (
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/pbx365/pbx365/graphclient/m365sim"
)

// liveUsers are the sim's users Graph lists (not soft-deleted), by id.
func liveUsers(s *m365sim.Sim) map[string]m365sim.User {
	out := map[string]m365sim.User{}
	for _, u := range s.Users() {
		if !u.SoftDeleted() {
			out[u.ID] = u
		}
	}
	return out
}

func TestListUsersAllPagesAndFields(t *testing.T) {
	s := startSim(t, 2100)
	c := newSimClient(t, s)
	want := liveUsers(s)
	s.ResetRequests()
	var got []User
	pages := 0
	if err := c.ListUsers(testCtx(t), func(p []User) error {
		pages++
		got = append(got, p...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d users, want %d", len(got), len(want))
	}
	if wantPages := (len(want) + MaxPageSize - 1) / MaxPageSize; pages != wantPages {
		t.Errorf("%d pages, want %d ($top 999)", pages, wantPages)
	}
	seen := map[string]bool{}
	var guests, untyped, disabled, phones int
	for _, u := range got {
		if seen[u.ID] {
			t.Fatalf("user %s twice", u.ID)
		}
		seen[u.ID] = true
		w, ok := want[u.ID]
		if !ok {
			t.Fatalf("unknown user %s", u.ID)
		}
		if u.DisplayName != w.DisplayName || u.GivenName != w.GivenName || u.Surname != w.Surname || u.Mail != w.Mail ||
			u.UserPrincipalName != w.UserPrincipalName || u.UserType != w.UserType || u.AccountEnabled != w.AccountEnabled ||
			u.MobilePhone != w.MobilePhone || u.Department != w.Department || u.JobTitle != w.JobTitle ||
			!slices.Equal(u.BusinessPhones, w.BusinessPhones) && len(u.BusinessPhones)+len(w.BusinessPhones) > 0 {
			t.Fatalf("user %s differs:\n got %+v\nwant %+v", u.ID, u, w)
		}
		switch {
		case u.UserType == "Guest":
			guests++
		case u.UserType == "":
			untyped++
		}
		if !u.AccountEnabled {
			disabled++
		}
		if len(u.BusinessPhones) > 0 {
			phones++
		}
	}
	if guests == 0 || untyped == 0 || disabled == 0 || phones == 0 {
		t.Errorf("fields not carried: guests %d untyped %d disabled %d phones %d", guests, untyped, disabled, phones)
	}
	// The first request asked for $top=999 and exactly the User fields.
	reqs := s.Requests()
	var first *m365sim.RequestRecord
	for i := range reqs {
		if reqs[i].Path == "/v1.0/users" {
			first = &reqs[i]
			break
		}
	}
	if first == nil {
		t.Fatal("no /v1.0/users request logged")
	}
	q, _ := url.ParseQuery(first.Query)
	if q.Get("$top") != "999" || q.Get("$select") != UserSelect {
		t.Errorf("first query %q", first.Query)
	}
}

func TestListUsersCallbackErrorStops(t *testing.T) {
	s := startSim(t, 2100)
	c := newSimClient(t, s)
	stop := errors.New("enough")
	calls := 0
	err := c.ListUsers(testCtx(t), func([]User) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("err %v after %d calls", err, calls)
	}
}

func TestGetUser(t *testing.T) {
	s := startSim(t, 50)
	c := newSimClient(t, s)
	var w m365sim.User
	for _, u := range liveUsers(s) {
		w = u
		break
	}
	got, err := c.GetUser(testCtx(t), w.UserPrincipalName)
	if err != nil || got.ID != w.ID {
		t.Fatalf("get by UPN: %+v %v", got, err)
	}
	_, err = c.GetUser(testCtx(t), "00000000-0000-0000-0000-000000000000")
	if !IsNotFound(err) {
		t.Fatalf("unknown user: %v", err)
	}
	found, err := c.FindUserByMail(testCtx(t), w.UserPrincipalName)
	if err != nil || len(found) != 1 || found[0].ID != w.ID {
		t.Fatalf("find by mail: %v %v", found, err)
	}
}

func TestUsersDeltaRounds(t *testing.T) {
	s := startSim(t, 300)
	c := newSimClient(t, s)
	ctx := testCtx(t)
	d, err := c.UsersDelta(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Changed) != len(liveUsers(s)) || d.DeltaLink == "" {
		t.Fatalf("initial round: %d changed (want %d), link %q", len(d.Changed), len(liveUsers(s)), d.DeltaLink)
	}
	// Nothing changed: an empty round with a fresh link.
	d2, err := c.UsersDelta(ctx, d.DeltaLink)
	if err != nil {
		t.Fatal(err)
	}
	if len(d2.Changed)+len(d2.Removed) != 0 || d2.DeltaLink == "" {
		t.Fatalf("quiet round: %+v", d2)
	}
	// Change one, soft-delete one, hard-delete one, add one.
	var ids []string
	for id := range liveUsers(s) {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	changed, soft, hard := ids[0], ids[1], ids[2]
	if err := s.UpdateUser(changed, func(u *m365sim.User) { u.JobTitle = "Chief Tester" }); err != nil {
		t.Fatal(err)
	}
	if err := s.SoftDeleteUser(soft); err != nil {
		t.Fatal(err)
	}
	if err := s.HardDeleteUser(hard); err != nil {
		t.Fatal(err)
	}
	added, err := s.AddUser(m365sim.User{DisplayName: "Zoë Núñez", UserPrincipalName: "zoe.nunez@" + m365sim.Domain, UserType: "Member", AccountEnabled: true})
	if err != nil {
		t.Fatal(err)
	}
	d3, err := c.UsersDelta(ctx, d2.DeltaLink)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]User{}
	for _, u := range d3.Changed {
		byID[u.ID] = u
	}
	if byID[changed].JobTitle != "Chief Tester" {
		t.Errorf("changed user missing or stale: %+v", byID[changed])
	}
	if byID[added.ID].DisplayName != "Zoë Núñez" {
		t.Errorf("added user missing: %+v", byID[added.ID])
	}
	removed := map[string]string{}
	for _, r := range d3.Removed {
		removed[r.ID] = r.Reason
	}
	if removed[soft] != RemovedChanged || removed[hard] != RemovedDeleted {
		t.Errorf("removed %v, want %s=changed %s=deleted", removed, soft, hard)
	}
}

func TestUsersDeltaRejectedTokenNeedsResync(t *testing.T) {
	s := startSim(t, 50)
	c := newSimClient(t, s)
	d, err := c.UsersDelta(testCtx(t), "")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(d.DeltaLink)
	q := u.Query()
	tok := q.Get("$deltatoken")
	if tok == "" {
		t.Fatalf("delta link without $deltatoken: %s", d.DeltaLink)
	}
	q.Set("$deltatoken", strings.ToUpper(tok[:len(tok)/2])+"x"+tok[len(tok)/2:])
	u.RawQuery = q.Encode()
	_, err = c.UsersDelta(testCtx(t), u.String())
	if !errors.Is(err, ErrResyncRequired) {
		t.Fatalf("tampered token: %v, want ErrResyncRequired", err)
	}
	if StatusCode(err) != 410 || ErrorCode(err) != "syncStateNotFound" {
		t.Errorf("status %d code %q", StatusCode(err), ErrorCode(err))
	}
	// A link to another host (e.g. after ms.graph_url changed) also means resync.
	_, err = c.UsersDelta(testCtx(t), "https://graph.example.net/v1.0/users/delta?$deltatoken=abc")
	if !errors.Is(err, ErrResyncRequired) {
		t.Fatalf("foreign link: %v", err)
	}
}
