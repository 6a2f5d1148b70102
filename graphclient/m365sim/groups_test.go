package m365sim

import (
	"bytes"
	"image/jpeg"
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestGroupsAndTransitiveMembers(t *testing.T) {
	s := startSim(t, Options{Seed: 21, Users: 300})
	c := httpClient(t, s)
	tok := token(t, c, s)
	st, m := graphJSON(t, c, s.GraphURL()+"/groups?$filter="+url.QueryEscape("startsWith(displayName,'phone')"), tok, nil)
	if st != 200 || len(m["value"].([]any)) != 1 {
		t.Fatalf("groups filter: %d %v", st, m)
	}
	phone := m["value"].([]any)[0].(map[string]any)
	gid := phone["id"].(string)
	if st, _ := graphJSON(t, c, s.GraphURL()+"/groups?$search="+url.QueryEscape(`"displayName:phone"`), tok, nil); st != 400 {
		t.Errorf("$search without ConsistencyLevel: %d", st)
	}
	st, m = graphJSON(t, c, s.GraphURL()+"/groups?$search="+url.QueryEscape(`"displayName:users"`), tok, map[string]string{"ConsistencyLevel": "eventual"})
	if st != 200 || len(m["value"].([]any)) != 1 {
		t.Errorf("$search: %d %v", st, m)
	}
	st, m = graphJSON(t, c, s.GraphURL()+"/groups/"+gid, tok, nil)
	if st != 200 || m["displayName"] != "Phone Users" {
		t.Fatalf("group: %d %v", st, m)
	}

	// Nested groups flattened: Phone Users = Sales + Support department groups + direct users.
	want := s.TransitiveUserIDs(gid)
	g, _ := s.GroupByName("Phone Users")
	sales, _ := s.GroupByName("Dept Sales")
	if !slices.Contains(g.Members, sales.ID) || len(want) <= len(g.Members) {
		t.Fatalf("generator should nest groups: %d members, %d transitive users", len(g.Members), len(want))
	}
	all, _ := pageAll(t, s, tok, s.GraphURL()+"/groups/"+gid+"/transitiveMembers?$top=20&$select=id,displayName", nil)
	var users, groups []string
	for _, o := range all {
		switch o["@odata.type"] {
		case "#microsoft.graph.user":
			users = append(users, o["id"].(string))
		case "#microsoft.graph.group":
			groups = append(groups, o["id"].(string))
		default:
			t.Fatalf("member without @odata.type: %v", o)
		}
	}
	slices.Sort(want)
	slices.Sort(users)
	if !slices.Equal(users, want) || len(groups) != 2 {
		t.Fatalf("transitive users %d (want %d), groups %d", len(users), len(want), len(groups))
	}
	// The user cast needs ConsistencyLevel: eventual and $count=true, in both spellings.
	for _, cast := range []string{"microsoft.graph.user", "graph.user"} {
		u := s.GraphURL() + "/groups/" + gid + "/transitiveMembers/" + cast + "?$select=id,accountEnabled,userType&$top=25"
		st, m := graphJSON(t, c, u, tok, nil)
		if st != 400 || errCode(t, m) != "Request_UnsupportedQuery" {
			t.Errorf("%s without advanced headers: %d %v", cast, st, m)
		}
		hdr := map[string]string{"ConsistencyLevel": "eventual"}
		st, m = graphJSON(t, c, u+"&$count=true", tok, hdr)
		if st != 200 || m["@odata.count"] != float64(len(want)) {
			t.Fatalf("%s: %d %v", cast, st, m["@odata.count"])
		}
		got, _ := pageAll(t, s, tok, u+"&$count=true", hdr)
		if len(got) != len(want) {
			t.Fatalf("%s paged: %d, want %d", cast, len(got), len(want))
		}
		if _, ok := got[0]["accountEnabled"]; !ok || got[0]["@odata.type"] != nil {
			t.Errorf("cast item %v", got[0])
		}
	}
	// Membership changes show at once.
	outsider := ""
	for _, u := range s.Users() {
		if !slices.Contains(want, u.ID) && !u.SoftDeleted() {
			outsider = u.ID
			break
		}
	}
	if err := s.AddGroupMember(sales.ID, outsider); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(s.TransitiveUserIDs(gid), outsider) {
		t.Error("member of nested group not transitive")
	}
	if err := s.RemoveGroupMember(sales.ID, outsider); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(s.TransitiveUserIDs(gid), outsider) {
		t.Error("removed member still transitive")
	}
	st, m = graphJSON(t, c, s.GraphURL()+"/groups/00000000-0000-0000-0000-000000000000/transitiveMembers", tok, nil)
	if st != 404 || errCode(t, m) != "Request_ResourceNotFound" {
		t.Errorf("unknown group: %d %v", st, m)
	}
}

func TestPhotos(t *testing.T) {
	s := startSim(t, Options{Seed: 22})
	c := httpClient(t, s)
	tok := token(t, c, s)
	var with, without string
	for _, u := range s.Users() {
		if s.PhotoETag(u.ID) != "" && with == "" {
			with = u.ID
		}
		if s.PhotoETag(u.ID) == "" && without == "" {
			without = u.ID
		}
	}
	st, m := graphJSON(t, c, s.GraphURL()+"/users/"+with+"/photo", tok, nil)
	if st != 200 || m["@odata.mediaEtag"] != s.PhotoETag(with) || m["@odata.mediaContentType"] != "image/jpeg" || m["width"] == nil {
		t.Fatalf("photo meta: %d %v", st, m)
	}
	st, hdr, body := graphDo(t, c, "GET", s.GraphURL()+"/users/"+with+"/photo/$value", tok, nil, map[string]string{"Accept": "application/octet-stream, application/json"})
	if st != 200 || hdr.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("photo value: %d %s", st, hdr.Get("Content-Type"))
	}
	if _, err := jpeg.Decode(bytes.NewReader(body)); err != nil {
		t.Fatalf("photo is not a JPEG: %v", err)
	}
	for _, p := range []string{"/photo", "/photo/$value"} {
		st, m := graphJSON(t, c, s.GraphURL()+"/users/"+without+p, tok, nil)
		if st != 404 || errCode(t, m) != "ImageNotFound" {
			t.Errorf("no photo %s: %d %v", p, st, m)
		}
	}
	// Setting a photo changes the etag; removing it gives 404.
	old := s.PhotoETag(with)
	if err := s.SetPhoto(with, genPhoto(99)); err != nil {
		t.Fatal(err)
	}
	if s.PhotoETag(with) == old {
		t.Error("etag unchanged after SetPhoto")
	}
	if err := s.SetPhoto(with, []byte("not an image")); err == nil || !strings.Contains(err.Error(), "JPEG") {
		t.Errorf("SetPhoto with text: %v", err)
	}
	if err := s.RemovePhoto(with); err != nil {
		t.Fatal(err)
	}
	if st, _ := graphJSON(t, c, s.GraphURL()+"/users/"+with+"/photo", tok, nil); st != 404 {
		t.Errorf("removed photo: %d", st)
	}
}
