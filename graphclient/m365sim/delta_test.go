package m365sim

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// deltaRound follows a delta round to its deltaLink.
func deltaRound(t *testing.T, s *Sim, tok, first string) (items []map[string]any, deltaLink string, pages int) {
	t.Helper()
	c := httpClient(t, s)
	for u := first; u != ""; {
		st, m := graphJSON(t, c, u, tok, nil)
		if st != 200 {
			t.Fatalf("GET %s: %d %v", u, st, m)
		}
		pages++
		for _, v := range m["value"].([]any) {
			items = append(items, v.(map[string]any))
		}
		next, _ := m["@odata.nextLink"].(string)
		dl, _ := m["@odata.deltaLink"].(string)
		if (next == "") == (dl == "") {
			t.Fatalf("page must have exactly one of nextLink/deltaLink: %v", m)
		}
		if dl != "" {
			if !strings.Contains(dl, "$deltatoken=") || !strings.HasPrefix(dl, s.URL()) {
				t.Fatalf("deltaLink %s", dl)
			}
			return items, dl, pages
		}
		if !strings.Contains(next, "$skiptoken=") {
			t.Fatalf("nextLink %s", next)
		}
		u = next
	}
	return
}

func TestUsersDeltaRounds(t *testing.T) {
	s := startSim(t, Options{Seed: 11, Users: 450})
	c := httpClient(t, s)
	tok := token(t, c, s)
	for _, form := range []string{"/users/delta", "/users/delta()", "/users/microsoft.graph.delta"} {
		items, _, pages := deltaRound(t, s, tok, s.GraphURL()+form+"?$select=id,displayName,accountEnabled")
		if len(items) != 450 || pages != 3 {
			t.Fatalf("%s initial round: %d items, %d pages", form, len(items), pages)
		}
	}
	_, link, _ := deltaRound(t, s, tok, s.GraphURL()+"/users/delta()?$select=id,displayName,accountEnabled")

	// Nothing changed: an empty round with a new deltaLink.
	items, link, _ := deltaRound(t, s, tok, link)
	if len(items) != 0 {
		t.Fatalf("quiet round: %v", items)
	}
	users := s.Users()
	a, b, cc, d := users[1], users[2], users[3], users[4]
	if err := s.UpdateUser(a.ID, func(u *User) { u.DisplayName = "Renamed Ünïcode" }); err != nil {
		t.Fatal(err)
	}
	if err := s.SoftDeleteUser(b.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.HardDeleteUser(cc.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DisableUser(d.ID); err != nil {
		t.Fatal(err)
	}
	added, err := s.AddUser(User{UserPrincipalName: "new.person@" + Domain, DisplayName: "New Person", UserType: "Member", AccountEnabled: true})
	if err != nil {
		t.Fatal(err)
	}
	items, link2, _ := deltaRound(t, s, tok, link)
	got := map[string]map[string]any{}
	for _, it := range items {
		got[it["id"].(string)] = it
	}
	if len(got) != 5 {
		t.Fatalf("changes round: %d items: %v", len(items), items)
	}
	if got[a.ID]["displayName"] != "Renamed Ünïcode" {
		t.Errorf("renamed: %v", got[a.ID])
	}
	if r, _ := got[b.ID]["@removed"].(map[string]any); r["reason"] != "changed" {
		t.Errorf("soft-deleted: %v", got[b.ID])
	}
	if r, _ := got[cc.ID]["@removed"].(map[string]any); r["reason"] != "deleted" {
		t.Errorf("hard-deleted: %v", got[cc.ID])
	}
	if got[d.ID]["accountEnabled"] != false {
		t.Errorf("disabled: %v", got[d.ID])
	}
	if got[added.ID]["displayName"] != "New Person" {
		t.Errorf("added: %v", got[added.ID])
	}
	// Restore shows the user again as a normal object.
	if err := s.RestoreUser(b.ID); err != nil {
		t.Fatal(err)
	}
	items, _, _ = deltaRound(t, s, tok, link2)
	if len(items) != 1 || items[0]["id"] != b.ID || items[0]["@removed"] != nil {
		t.Errorf("restore round: %v", items)
	}
	// Photos never show in users delta.
	if err := s.SetPhoto(users[6].ID, genPhoto(5)); err != nil {
		t.Fatal(err)
	}
	items, _, _ = deltaRound(t, s, tok, link2)
	if len(items) != 1 {
		t.Errorf("photo change leaked into delta: %v", items)
	}
}

func TestUsersDeltaManyChangesPage(t *testing.T) {
	s := startSim(t, Options{Seed: 12, Users: 600})
	c := httpClient(t, s)
	tok := token(t, c, s)
	_, link, _ := deltaRound(t, s, tok, s.GraphURL()+"/users/delta()")
	for _, u := range s.Users()[:450] {
		if err := s.UpdateUser(u.ID, func(u *User) { u.JobTitle = "Changed" }); err != nil {
			t.Fatal(err)
		}
	}
	items, _, pages := deltaRound(t, s, tok, link)
	if len(items) != 450 || pages != 3 {
		t.Fatalf("got %d items in %d pages", len(items), pages)
	}
	for _, it := range items {
		if it["jobTitle"] != "Changed" {
			t.Fatalf("item %v", it)
		}
	}
}

func TestUsersDeltaLatestAndGone(t *testing.T) {
	s := startSim(t, Options{Seed: 13})
	c := httpClient(t, s)
	tok := token(t, c, s)
	items, link, pages := deltaRound(t, s, tok, s.GraphURL()+"/users/delta?$deltatoken=latest")
	if len(items) != 0 || pages != 1 {
		t.Fatalf("latest: %v", items)
	}
	u := s.Users()[0]
	if err := s.UpdateUser(u.ID, func(x *User) { x.Department = "Moved" }); err != nil {
		t.Fatal(err)
	}
	items, link, _ = deltaRound(t, s, tok, link)
	if len(items) != 1 || items[0]["id"] != u.ID {
		t.Fatalf("after latest: %v", items)
	}
	// Unknown token → 410 Gone with Location.
	st, hdr, body := graphDo(t, c, "GET", s.GraphURL()+"/users/delta()?$deltatoken=bm90LWEtdG9rZW4", tok, nil, nil)
	if st != 410 || hdr.Get("Location") == "" || !strings.Contains(string(body), "syncStateNotFound") {
		t.Fatalf("unknown token: %d %q %s", st, hdr.Get("Location"), body)
	}
	// Still valid after 6 days, gone after 7 (sim clock; the access token is renewed).
	s.Advance(6 * 24 * time.Hour)
	tok = token(t, c, s)
	_, link, _ = deltaRound(t, s, tok, link)
	s.Advance(7*24*time.Hour + time.Minute)
	tok = token(t, c, s)
	st, hdr, body = graphDo(t, c, "GET", link, tok, nil, nil)
	if st != 410 || !strings.Contains(string(body), "expired") || hdr.Get("Location") == "" {
		t.Fatalf("expired token: %d %s", st, body)
	}
	// A skiptoken passed as deltatoken (or tampered) is unknown too.
	u2, _ := url.Parse(link)
	q := u2.Query()
	q.Set("$skiptoken", q.Get("$deltatoken"))
	q.Del("$deltatoken")
	u2.RawQuery = q.Encode()
	if st, _, _ := graphDo(t, c, "GET", u2.String(), tok, nil, nil); st != 410 {
		t.Fatalf("deltatoken used as skiptoken: %d", st)
	}
	if st, m := graphJSON(t, c, s.GraphURL()+"/users/delta()?$top=5", tok, nil); st != 400 {
		t.Fatalf("$top on delta: %d %v", st, m)
	}
}
