package graphclient

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

func TestGroupsAndTransitiveMembers(t *testing.T) {
	s := startSim(t, 300)
	c := newSimClient(t, s)
	ctx := testCtx(t)
	gs, err := c.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(gs) != len(s.Groups()) || len(gs) == 0 {
		t.Fatalf("%d groups, want %d", len(gs), len(s.Groups()))
	}
	// Search by a prefix of a group's name (case-insensitive).
	target := s.Groups()[0]
	prefix := strings.ToLower(target.DisplayName[:min(4, len(target.DisplayName))])
	found, err := c.SearchGroups(ctx, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(found, func(g Group) bool { return g.ID == target.ID }) {
		t.Fatalf("search %q did not find %q: %v", prefix, target.DisplayName, found)
	}
	for _, g := range found {
		if !strings.HasPrefix(strings.ToLower(g.DisplayName), prefix) {
			t.Errorf("search %q returned %q", prefix, g.DisplayName)
		}
	}
	// Transitive members of every group equal the sim's flattening.
	nested := 0
	for _, g := range s.Groups() {
		members, err := c.TransitiveUserMembers(ctx, g.ID)
		if err != nil {
			t.Fatalf("members of %s: %v", g.DisplayName, err)
		}
		var got []string
		for _, m := range members {
			got = append(got, m.ID)
			if m.UserPrincipalName == "" {
				t.Errorf("member %s without UPN", m.ID)
			}
		}
		want := s.TransitiveUserIDs(g.ID)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("group %s: %d members, want %d", g.DisplayName, len(got), len(want))
		}
		if len(want) > len(g.Members) {
			nested++
		}
	}
	if nested == 0 {
		t.Log("no nested group in this tenant")
	}
	// The advanced query carried its header and $count on every page.
	for _, r := range s.Requests() {
		if strings.Contains(r.Path, "/transitiveMembers/") && !strings.Contains(r.Query, "count=true") {
			t.Errorf("transitive members request without $count: %s", r.Query)
		}
	}
	if _, err := c.TransitiveUserMembers(ctx, "00000000-0000-0000-0000-00000000dead"); !IsNotFound(err) {
		t.Fatalf("unknown group: %v", err)
	}
}

func TestPhotos(t *testing.T) {
	s := startSim(t, 50)
	c := newSimClient(t, s)
	ctx := testCtx(t)
	var with, without string
	for _, u := range liveUsers(s) {
		if s.PhotoETag(u.ID) != "" && with == "" {
			with = u.ID
		} else if s.PhotoETag(u.ID) == "" && without == "" {
			without = u.ID
		}
	}
	if with == "" || without == "" {
		t.Fatal("tenant lacks users with and without photo")
	}
	m, err := c.PhotoMeta(ctx, with)
	if err != nil {
		t.Fatal(err)
	}
	if m.ETag == "" || m.ETag != s.PhotoETag(with) || m.Width == 0 || m.ContentType == "" {
		t.Fatalf("meta %+v, sim etag %q", m, s.PhotoETag(with))
	}
	img := []byte("\xff\xd8\xff\xe0 new photo bytes")
	if err := s.SetPhoto(with, img); err != nil {
		t.Fatal(err)
	}
	m2, err := c.PhotoMeta(ctx, with)
	if err != nil || m2.ETag == m.ETag {
		t.Fatalf("etag did not change: %q -> %q (%v)", m.ETag, m2.ETag, err)
	}
	b, err := c.Photo(ctx, with)
	if err != nil || !bytes.Equal(b, img) {
		t.Fatalf("photo bytes: %d bytes, %v", len(b), err)
	}
	none, err := c.PhotoMeta(ctx, without)
	if err != nil || none != (PhotoMeta{}) {
		t.Fatalf("no photo: %+v %v", none, err)
	}
	nb, err := c.Photo(ctx, without)
	if err != nil || nb != nil {
		t.Fatalf("no photo bytes: %d %v", len(nb), err)
	}
}
