package m365sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// ctl calls the control API and decodes the JSON answer into out (if non-nil).
func ctl(t *testing.T, c *http.Client, s *Sim, key, method, path string, body any, out any) int {
	t.Helper()
	var rd *bytes.Reader
	switch b := body.(type) {
	case nil:
		rd = bytes.NewReader(nil)
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, s.URL()+path, rd)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return resp.StatusCode
}

func TestControlAPI(t *testing.T) {
	s := startSim(t, Options{Seed: 51})
	c := httpClient(t, s)
	key := s.ControlKey()
	var e map[string]string
	if st := ctl(t, c, s, "", "GET", "/_sim/info", nil, &e); st != 401 || !strings.Contains(e["error"], "control key") {
		t.Fatalf("no key: %d %v", st, e)
	}
	if st := ctl(t, c, s, "wrong", "GET", "/_sim/info", nil, nil); st != 401 {
		t.Fatalf("wrong key: %d", st)
	}
	var info map[string]any
	if st := ctl(t, c, s, key, "GET", "/_sim/info", nil, &info); st != 200 || info["tenantId"] != s.TenantID() || info["graphUrl"] != s.GraphURL() || !strings.Contains(info["caCertPem"].(string), "BEGIN CERTIFICATE") {
		t.Fatalf("info: %d %v", st, info)
	}

	// Consent through the API shows in the next token.
	var cons map[string]any
	if st := ctl(t, c, s, key, "POST", "/_sim/consent", map[string]any{"revoke": DefaultRoles}, &cons); st != 200 {
		t.Fatalf("consent: %d", st)
	}
	if _, ok := decodeJWTClaims(t, token(t, c, s))["roles"]; ok {
		t.Fatal("roles after revoking all")
	}
	ctl(t, c, s, key, "POST", "/_sim/consent", map[string]any{"grant": []string{"User.Read.All"}}, &cons)
	if roles := decodeJWTClaims(t, token(t, c, s))["roles"].([]any); len(roles) != 1 || roles[0] != "User.Read.All" {
		t.Fatalf("roles %v", roles)
	}
	if st := ctl(t, c, s, key, "POST", "/_sim/consent", map[string]any{"grant": []string{"Everything.All"}}, &e); st != 400 || !strings.Contains(e["error"], "Everything.All") {
		t.Fatalf("unknown permission: %d %v", st, e)
	}
	ctl(t, c, s, key, "POST", "/_sim/consent", map[string]any{"grantAll": true}, &cons)

	// Certificates: remove all → token fails; upload again → works.
	k, _ := testKeys(t)
	ctl(t, c, s, key, "DELETE", "/_sim/certificates", nil, nil)
	if st, m := postToken(t, c, s, s.TenantID(), tokenForm(s, makeAssertion(t, s, assertionOpts{}))); st != 401 || aadsts(m) != 700027 {
		t.Fatalf("after removing certs: %d %v", st, m)
	}
	if st := ctl(t, c, s, key, "POST", "/_sim/certificates", k.certPEM, nil); st != 200 {
		t.Fatalf("upload cert: %d", st)
	}
	if st := ctl(t, c, s, key, "POST", "/_sim/certificates", "not a pem", &e); st != 400 {
		t.Fatalf("bad cert: %d", st)
	}
	tok := token(t, c, s)

	// Users: add, patch, disable, soft delete, restore, delete.
	var nu User
	if st := ctl(t, c, s, key, "POST", "/_sim/users", map[string]any{"userPrincipalName": "ctl.user@" + Domain, "displayName": "Ctl User", "userType": "Member", "accountEnabled": true, "mailbox": "user"}, &nu); st != 200 || nu.ID == "" {
		t.Fatalf("add user: %d %+v", st, nu)
	}
	if st := ctl(t, c, s, key, "POST", "/_sim/users", map[string]any{"userPrincipalName": "ctl.user@" + Domain}, &e); st != 400 || !strings.Contains(e["error"], "already used") {
		t.Fatalf("duplicate UPN: %d %v", st, e)
	}
	if st := ctl(t, c, s, key, "POST", "/_sim/users", map[string]any{"upn": "x"}, &e); st != 400 || !strings.Contains(e["error"], "unknown field") {
		t.Fatalf("unknown field: %d %v", st, e)
	}
	var pu User
	if st := ctl(t, c, s, key, "PATCH", "/_sim/users/"+nu.ID, map[string]any{"department": "Sales", "businessPhones": []string{"+1 555 0100"}}, &pu); st != 200 || pu.Department != "Sales" || pu.DisplayName != "Ctl User" {
		t.Fatalf("patch: %d %+v", st, pu)
	}
	st, m := graphJSON(t, c, s.GraphURL()+"/users/"+nu.ID+"?$select=department,businessPhones", tok, nil)
	if st != 200 || m["department"] != "Sales" {
		t.Fatalf("patched user over Graph: %d %v", st, m)
	}
	for _, a := range []string{"disable", "softDelete"} {
		if st := ctl(t, c, s, key, "POST", "/_sim/users/"+nu.ID+"/"+a, nil, nil); st != 200 {
			t.Fatalf("%s: %d", a, st)
		}
	}
	if st, _ := graphJSON(t, c, s.GraphURL()+"/users/"+nu.ID, tok, nil); st != 404 {
		t.Fatalf("soft-deleted user visible: %d", st)
	}
	ctl(t, c, s, key, "POST", "/_sim/users/"+nu.ID+"/restore", nil, nil)
	if u, _ := s.User(nu.ID); u.SoftDeleted() || u.AccountEnabled {
		t.Fatalf("restored user %+v", u)
	}
	if st := ctl(t, c, s, key, "POST", "/_sim/users/"+nu.ID+"/explode", nil, &e); st != 400 {
		t.Fatalf("unknown action: %d", st)
	}
	if st := ctl(t, c, s, key, "PUT", "/_sim/users/"+nu.ID+"/photo", genPhoto(3), nil); st != 200 || s.PhotoETag(nu.ID) == "" {
		t.Fatalf("photo: %d", st)
	}
	ctl(t, c, s, key, "DELETE", "/_sim/users/"+nu.ID+"/photo", nil, nil)
	if s.PhotoETag(nu.ID) != "" {
		t.Fatal("photo not removed")
	}

	// Meetings: add, move, cancel, delete; contacts: add, patch, delete.
	var ev Event
	start := s.Now().Add(time.Hour).Truncate(time.Minute)
	if st := ctl(t, c, s, key, "POST", "/_sim/users/"+nu.ID+"/events", map[string]any{"subject": "Ctl meeting", "showAs": "oof", "start": start, "end": start.Add(time.Hour)}, &ev); st != 200 || ev.ID == "" {
		t.Fatalf("add event: %d %+v", st, ev)
	}
	if st := ctl(t, c, s, key, "POST", "/_sim/users/"+nu.ID+"/events", map[string]any{"subject": "bad", "showAs": "sleeping", "start": start, "end": start.Add(time.Hour)}, &e); st != 400 || !strings.Contains(e["error"], "showAs") {
		t.Fatalf("bad showAs: %d %v", st, e)
	}
	ctl(t, c, s, key, "POST", "/_sim/users/"+nu.ID+"/events/"+ev.ID+"/move", map[string]any{"start": start.Add(2 * time.Hour)}, nil)
	ctl(t, c, s, key, "POST", "/_sim/users/"+nu.ID+"/events/"+ev.ID+"/cancel", nil, nil)
	ctl(t, c, s, key, "PATCH", "/_sim/users/"+nu.ID+"/events/"+ev.ID, map[string]any{"subject": "Renamed"}, nil)
	var mb Mailbox
	ctl(t, c, s, key, "GET", "/_sim/users/"+nu.ID+"/mailbox", nil, &mb)
	if len(mb.Events) != 1 || !mb.Events[0].Start.Equal(start.Add(2*time.Hour)) || mb.Events[0].End.Sub(mb.Events[0].Start) != time.Hour || !mb.Events[0].IsCancelled || mb.Events[0].Subject != "Renamed" {
		t.Fatalf("event after move/cancel/patch: %+v", mb.Events)
	}
	var ct Contact
	ctl(t, c, s, key, "POST", "/_sim/users/"+nu.ID+"/contacts", map[string]any{"displayName": "Ext Person", "businessPhones": []string{"+49 30 1234"}}, &ct)
	ctl(t, c, s, key, "PATCH", "/_sim/users/"+nu.ID+"/contacts/"+ct.ID, map[string]any{"mobilePhone": "+49 151 1"}, nil)
	ctl(t, c, s, key, "GET", "/_sim/users/"+nu.ID+"/mailbox", nil, &mb)
	if c0 := mb.ContactFolders[0].Contacts; len(c0) != 1 || c0[0].MobilePhone != "+49 151 1" || c0[0].DisplayName != "Ext Person" || c0[0].ChangeKey == ct.ChangeKey {
		t.Fatalf("contact after patch: %+v", c0)
	}
	ctl(t, c, s, key, "DELETE", "/_sim/users/"+nu.ID+"/contacts/"+ct.ID, nil, nil)
	ctl(t, c, s, key, "DELETE", "/_sim/users/"+nu.ID+"/events/"+ev.ID, nil, nil)
	ctl(t, c, s, key, "GET", "/_sim/users/"+nu.ID+"/mailbox", nil, &mb)
	if len(mb.Events) != 0 || len(mb.ContactFolders[0].Contacts) != 0 {
		t.Fatalf("after deletes: %+v", mb)
	}

	// Groups.
	var groups []Group
	ctl(t, c, s, key, "GET", "/_sim/groups", nil, &groups)
	if len(groups) < 5 {
		t.Fatalf("groups: %d", len(groups))
	}
	if st := ctl(t, c, s, key, "POST", "/_sim/groups/"+groups[0].ID+"/members", map[string]string{"id": nu.ID}, nil); st != 200 || !slices.Contains(s.TransitiveUserIDs(groups[0].ID), nu.ID) {
		t.Fatalf("add member: %d", st)
	}
	if st := ctl(t, c, s, key, "DELETE", "/_sim/groups/"+groups[0].ID+"/members/"+nu.ID, nil, nil); st != 200 {
		t.Fatalf("remove member: %d", st)
	}
	if st := ctl(t, c, s, key, "DELETE", "/_sim/users/"+nu.ID, nil, nil); st != 200 {
		t.Fatalf("delete: %d", st)
	}
	if st := ctl(t, c, s, key, "DELETE", "/_sim/users/"+nu.ID, nil, &e); st != 404 {
		t.Fatalf("delete again: %d %v", st, e)
	}

	// Faults and clock.
	var fr map[string]any
	if st := ctl(t, c, s, key, "POST", "/_sim/faults", map[string]any{"throttleNext": map[string]any{"n": 1, "retryAfter": "3s"}}, &fr); st != 200 {
		t.Fatalf("faults: %d", st)
	}
	if st, hdr, _ := graphDo(t, c, "GET", s.GraphURL()+"/users?$top=1", tok, nil, nil); st != 429 || hdr.Get("Retry-After") != "3" {
		t.Fatalf("throttle via API: %d", st)
	}
	ctl(t, c, s, key, "POST", "/_sim/faults", map[string]any{"failNext": map[string]any{"n": 1, "status": 503}}, &fr)
	if st, _, _ := graphDo(t, c, "GET", s.GraphURL()+"/users?$top=1", tok, nil, nil); st != 503 {
		t.Fatalf("fail via API: %d", st)
	}
	if st := ctl(t, c, s, key, "POST", "/_sim/faults", map[string]any{"failNext": map[string]any{"n": 1, "status": 404}}, &e); st != 400 {
		t.Fatalf("4xx failNext: %d", st)
	}
	if st := ctl(t, c, s, key, "POST", "/_sim/faults", map[string]any{"latency": "soon"}, &e); st != 400 || !strings.Contains(e["error"], "latency") {
		t.Fatalf("bad latency: %d %v", st, e)
	}
	ctl(t, c, s, key, "POST", "/_sim/faults", map[string]any{"expireAccessTokens": true}, &fr)
	if st, _, _ := graphDo(t, c, "GET", s.GraphURL()+"/users?$top=1", tok, nil, nil); st != 401 {
		t.Fatalf("expire via API: %d", st)
	}
	before := s.Now()
	var clk map[string]string
	ctl(t, c, s, key, "POST", "/_sim/clock", map[string]any{"advance": "48h"}, &clk)
	if d := s.Now().Sub(before); d < 48*time.Hour || d > 49*time.Hour {
		t.Fatalf("advance: %v", d)
	}
	ctl(t, c, s, key, "POST", "/_sim/clock", map[string]any{"now": "2030-01-02T03:04:05Z"}, &clk)
	if s.Now().Year() != 2030 {
		t.Fatalf("set now: %v", s.Now())
	}
	if st := ctl(t, c, s, key, "POST", "/_sim/clock", map[string]any{"advance": "-1h"}, &e); st != 400 {
		t.Fatalf("negative advance: %d", st)
	}
	var reqs []RequestRecord
	ctl(t, c, s, key, "GET", "/_sim/requests", nil, &reqs)
	if len(reqs) == 0 {
		t.Fatal("request log empty")
	}
	var cnt map[string]int
	ctl(t, c, s, key, "GET", "/_sim/requests/count?method=GET&prefix=/v1.0/users", nil, &cnt)
	if cnt["count"] != s.RequestCount("GET", "/v1.0/users") || cnt["count"] == 0 {
		t.Fatalf("request count %v", cnt)
	}
	var ng Group
	if st := ctl(t, c, s, key, "POST", "/_sim/groups", map[string]any{"displayName": "Ctl Group", "members": []string{s.Users()[0].ID}}, &ng); st != 200 || ng.ID == "" {
		t.Fatalf("add group: %d %+v", st, ng)
	}
	if ids := s.TransitiveUserIDs(ng.ID); len(ids) != 1 {
		t.Fatalf("new group members %v", ids)
	}
	var changes []Change
	ctl(t, c, s, key, "GET", "/_sim/changes?since=0", nil, &changes)
	if len(changes) < 5 || changes[0].Seq != 1 {
		t.Fatalf("changes: %v", changes)
	}
	if st := ctl(t, c, s, key, "GET", "/_sim/nothing", nil, &e); st != 404 {
		t.Fatalf("unknown control route: %d", st)
	}
}

func TestChangeHook(t *testing.T) {
	s := New(Options{Seed: 61, Users: 20, Now: fixedClock})
	var mu sync.Mutex
	var got []string
	s.OnChange(func(c Change) {
		mu.Lock()
		got = append(got, fmt.Sprintf("%d %s %s %v", c.Seq, c.Type, c.Resource, c.SoftDelete))
		mu.Unlock()
	})
	users := s.Users()
	var mbUser User
	for _, u := range users[5:] {
		if u.Mailbox == MailboxUser {
			mbUser = u
			break
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.UpdateUser(users[0].ID, func(u *User) { u.JobTitle = "x" }))
	must(s.SoftDeleteUser(users[1].ID))
	must(s.HardDeleteUser(users[2].ID))
	ev, err := s.AddEvent(mbUser.ID, Event{Subject: "Hook", Start: fixedNow, End: fixedNow.Add(time.Hour)})
	must(err)
	must(s.MoveEvent(mbUser.ID, ev.ID, fixedNow.Add(time.Hour)))
	ct, err := s.AddContact(mbUser.ID, "", Contact{DisplayName: "Hooked"})
	must(err)
	fid, err := s.AddContactFolder(mbUser.ID, "Partners")
	must(err)
	ct2, err := s.AddContact(mbUser.ID, fid, Contact{DisplayName: "In folder"})
	must(err)
	must(s.DeleteContact(mbUser.ID, ct.ID))
	g := s.Groups()[0]
	must(s.AddGroupMember(g.ID, users[3].ID))
	must(s.SetPhoto(users[4].ID, genPhoto(1)))
	want := []string{
		"1 updated users/" + users[0].ID + " false",
		"2 deleted users/" + users[1].ID + " true",
		"3 deleted users/" + users[2].ID + " false",
		"4 created users/" + mbUser.ID + "/events/" + ev.ID + " false",
		"5 updated users/" + mbUser.ID + "/events/" + ev.ID + " false",
		"6 created users/" + mbUser.ID + "/contacts/" + ct.ID + " false",
		"7 created users/" + mbUser.ID + "/contactFolders/" + fid + " false",
		"8 created users/" + mbUser.ID + "/contactFolders/" + fid + "/contacts/" + ct2.ID + " false",
		"9 deleted users/" + mbUser.ID + "/contacts/" + ct.ID + " false",
		"10 updated groups/" + g.ID + " false",
		"11 updated users/" + users[4].ID + "/photo false",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("hook saw\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Failed changes fire nothing.
	if err := s.UpdateUser("nobody", func(*User) {}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown user: %v", err)
	}
	if _, err := s.AddEvent(mbUser.ID, Event{Subject: "Backwards", Start: fixedNow, End: fixedNow}); err == nil {
		t.Fatal("event ending before it starts accepted")
	}
	if len(got) != len(want) {
		t.Fatalf("failed changes fired hooks: %v", got[len(want):])
	}
}

func TestStartOnFixedAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := New(Options{Seed: 1, Users: 10})
	if err := s.StartOn(addr); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.URL() != "https://"+addr || s.GraphURL() != "https://"+addr+"/v1.0" {
		t.Fatalf("urls %s %s", s.URL(), s.GraphURL())
	}
	if err := s.Start(); err == nil {
		t.Fatal("second start accepted")
	}
	c := httpClient(t, s)
	resp, err := c.Get(s.URL() + "/" + s.TenantID() + "/v2.0/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s2 := New(Options{Seed: 1, Users: 10})
	if err := s2.StartOn(addr); err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("address in use: %v", err)
	}
	s2.Close()
	s.Close()
	if _, err := c.Get(s.URL() + "/"); err == nil {
		t.Fatal("served after Close")
	}
}

func TestConcurrentReadsAndChanges(t *testing.T) {
	s := startSim(t, Options{Seed: 71, Users: 1500})
	c := httpClient(t, s)
	tok := token(t, c, s)
	g, _ := s.GroupByName("All Staff")
	users := s.Users()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // writer
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			u := users[i%len(users)]
			_ = s.UpdateUser(u.ID, func(x *User) { x.JobTitle = fmt.Sprint("T", i) })
			if i%7 == 0 {
				_ = s.AddGroupMember(g.ID, u.ID)
			}
			if i%11 == 0 {
				_ = s.SetPhoto(u.ID, genPhoto(uint64(i)))
			}
		}
	}()
	urls := []string{
		s.GraphURL() + "/users?$top=300&$select=id,jobTitle",
		s.GraphURL() + "/users/delta()?$select=id,jobTitle",
		s.GraphURL() + "/groups/" + g.ID + "/transitiveMembers?$top=400",
		s.GraphURL() + "/groups?$top=5",
		s.GraphURL() + "/users/" + users[3].ID + "/photo",
	}
	errs := make(chan error, len(urls))
	for _, first := range urls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := first; ; {
				if u == "" {
					select {
					case <-stop:
						return
					default:
						u = first
					}
				}
				req, _ := http.NewRequest("GET", u, nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := c.Do(req)
				if err != nil {
					errs <- err
					return
				}
				var m map[string]any
				err = json.NewDecoder(resp.Body).Decode(&m)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 && resp.StatusCode != 404 {
					errs <- fmt.Errorf("GET %s: %d %v", u, resp.StatusCode, err)
					return
				}
				u, _ = m["@odata.nextLink"].(string)
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
