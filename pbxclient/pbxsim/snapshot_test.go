package pbxsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSnapshotComparesRunsWithoutIDs(t *testing.T) {
	clean := newTC(t, Options{})
	clean.expect(201, "POST", "/Users", map[string]any{"Number": "101", "FirstName": "Ann", "EmailAddress": "ann@x.com"})
	clean.expect(201, "POST", "/Users", map[string]any{"Number": "102", "FirstName": "Bob"})
	clean.expect(200, "POST", "/Contacts/Pbx.CreateContactByNumber", map[string]any{"number": "101", "contact": map[string]any{"FirstName": "Mum", "PhoneNumber": "1"}})

	// The "crashed" run: other order, a refused write, a delete and re-create.
	crashed := newTC(t, Options{})
	crashed.expect(201, "POST", "/Users", map[string]any{"Number": "102", "FirstName": "Bob"})
	crashed.expectWarning("POST", "/Users", map[string]any{"Number": "102"}, "Number", WarnAlreadyInUse)
	first := crashed.expect(201, "POST", "/Users", map[string]any{"Number": "101", "FirstName": "Ann"})
	crashed.expect(204, "DELETE", fmt.Sprintf("/Users(%v)", first["Id"]), nil)
	crashed.expect(201, "POST", "/Users", map[string]any{"Number": "101", "FirstName": "Ann", "EmailAddress": "ann@x.com"})
	crashed.expect(200, "POST", "/Contacts/Pbx.CreateContactByNumber", map[string]any{"number": "101", "contact": map[string]any{"FirstName": "Mum", "PhoneNumber": "1"}})

	a, b := clean.sim.Snapshot(), crashed.sim.Snapshot()
	if reflect.DeepEqual(a, b) {
		t.Fatal("raw snapshots equal although Ids differ")
	}
	if d := a.WithoutIDs().Diff(b.WithoutIDs()); len(d) != 0 {
		t.Fatalf("same state differs: %v", d)
	}
	if !reflect.DeepEqual(a.WithoutIDs(), b.WithoutIDs()) {
		t.Fatal("Diff empty but DeepEqual false")
	}
	crashed.expect(405, "PATCH", "/Users(Number='102')", map[string]any{}) // the alternate key is read-only
}

func TestSnapshotDiffNamesDifferences(t *testing.T) {
	c := newTC(t, Options{})
	c.expect(201, "POST", "/Users", map[string]any{"Number": "101"})
	before := c.sim.Snapshot()
	u, _ := c.sim.UserByNumber("101")
	c.expect(204, "PATCH", fmt.Sprintf("/Users(%d)", u.ID), map[string]any{"MS365SignInEnabled": true})
	c.expect(201, "POST", "/Users", map[string]any{"Number": "102"})
	d := before.Diff(c.sim.Snapshot())
	if len(d) != 2 || !strings.HasPrefix(d[0], "user 101:") || !strings.HasPrefix(d[1], "user 102: only in other") {
		t.Errorf("diff %q", d)
	}
}

func TestConcurrentWritersShareOneToken(t *testing.T) {
	c := newTC(t, Options{})
	var wg sync.WaitGroup
	errs := make(chan string, 200)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				n := fmt.Sprintf("%d", 1000+w*100+i)
				resp, b, err := c.try(t.Context(), "POST", "/Users", map[string]any{"Number": n, "EmailAddress": "u" + n + "@x.com"})
				if err != nil || resp.StatusCode != 201 {
					errs <- fmt.Sprintf("%s: %v %v %s", n, err, resp, b)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if n := len(c.sim.Users()); n != 200 {
		t.Errorf("%d users", n)
	}
}

func TestControlAPI(t *testing.T) {
	s := newSim(t, Options{ControlKey: "k"})
	hc := httpClient(t, s, false)
	call := func(key, method, path string, body any) (int, map[string]any) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, s.URL()+"/_sim/"+path, rd)
		req.Header.Set("X-Sim-Key", key)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		raw, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(raw, &out)
		return resp.StatusCode, out
	}
	if st, _ := call("wrong", "GET", "info", nil); st != 401 {
		t.Errorf("wrong key: %d", st)
	}
	st, info := call("k", "GET", "info", nil)
	if st != 200 || info["secret"] != s.Secret() || info["client_id"] != "pbx365" || info["url"] != s.URL() {
		t.Errorf("info %d %v", st, info)
	}
	if st, out := call("k", "POST", "users", map[string]any{"number": "150", "first_name": "Zed", "email": "z@x.com", "enabled": true}); st != 200 || out["id"] == nil {
		t.Errorf("add user %d %v", st, out)
	}
	if st, out := call("k", "POST", "users", map[string]any{"number": "150"}); st != 400 || !strings.Contains(out["error"].(string), "ALREADY_IN_USE") {
		t.Errorf("duplicate user %d %v", st, out)
	}
	u, _ := s.UserByNumber("150")
	if st, _ := call("k", "POST", fmt.Sprintf("users/%d/profile", u.ID), map[string]any{"name": "Away"}); st != 200 {
		t.Errorf("profile %d", st)
	}
	if st, _ := call("k", "PATCH", fmt.Sprintf("users/%d", u.ID), map[string]any{"LastName": "Zulu"}); st != 200 {
		t.Errorf("edit %d", st)
	}
	if st, out := call("k", "POST", "seed-extensions", map[string]any{"count": 2, "match_emails": []string{"amy@corp.com"}}); st != 200 || len(out["ids"].([]any)) != 2 {
		t.Errorf("seed %d %v", st, out)
	}
	for _, r := range []struct {
		path string
		body any
	}{
		{"numbered", map[string]any{"kind": "Queue", "number": "800", "name": "Q"}},
		{"departments", map[string]any{"name": "Sales"}},
		{"profile-names", map[string]any{"custom1": "Lunch", "custom2": "Business Trip"}},
		{"faults", map[string]any{"fail_next": map[string]any{"count": 1, "status": 500}}},
		{"advance", map[string]any{"seconds": 10}},
		{"revoke-tokens", nil},
	} {
		if st, out := call("k", "POST", r.path, r.body); st != 200 {
			t.Errorf("%s: %d %v", r.path, st, out)
		}
	}
	if st, _ := call("k", "POST", "numbered", map[string]any{"kind": "Conference", "number": "801"}); st != 400 {
		t.Errorf("bad kind: %d", st)
	}
	if s.PendingFaults() != 1 {
		t.Errorf("pending faults %d", s.PendingFaults())
	}
	st, state := call("k", "GET", "state", nil)
	if st != 200 || len(state["users"].([]any)) != 3 || len(state["numbered"].([]any)) != 2 { // the queue and the API client
		t.Errorf("state %v", state)
	}
	u, _ = s.UserByNumber("150")
	if u.CurrentProfileName != "Away" || u.LastName != "Zulu" || u.Profiles[3].CustomName != "Lunch" {
		t.Errorf("user after control %+v", u)
	}
	amy, _ := s.UserByNumber("100") // the first free number
	if amy.EmailAddress != "AMY@CORP.COM" {
		t.Errorf("seeded match %q", amy.EmailAddress)
	}
	if st, _ := call("k", "GET", "nope", nil); st != 404 {
		t.Errorf("unknown route %d", st)
	}
}

func TestSeedDemoAndCAFile(t *testing.T) {
	c := newTC(t, Options{})
	if err := c.sim.SeedDemo("Ann@Corp.com", "BOB@CORP.COM"); err != nil {
		t.Fatal(err)
	}
	emails := field(values(t, c.expect(200, "GET", "/Users?$orderby=Number&$select=EmailAddress", nil)), "EmailAddress")
	if !reflect.DeepEqual(emails, []any{"operator@pbx.example", "ANN@CORP.COM", "bob@corp.com"}) {
		t.Errorf("demo emails %v", emails)
	}
	c.expectWarning("POST", "/Users", map[string]any{"Number": "800"}, "Number", WarnAlreadyInUse)
	if p := values(t, c.expect(200, "GET", "/Parkings", nil)); p[0]["Number"] != "SP0" {
		t.Errorf("parking %v", p)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := c.sim.WriteCAFile(path); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || !bytes.Equal(b, c.sim.CACertPEM()) {
		t.Errorf("CA file: %v", err)
	}
}

func TestAdminSideChanges(t *testing.T) {
	c := newTC(t, Options{ControlKey: "ck"})
	if c.sim.ControlKey() != "ck" {
		t.Errorf("control key %q", c.sim.ControlKey())
	}
	id, err := c.sim.AddUser(User{Number: "101", FirstName: "Ann", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.sim.EditUser(id, map[string]any{"Number": "109"}); err == nil || !strings.Contains(err.Error(), WarnForbiddenChange) {
		t.Errorf("admin number change: %v", err)
	}
	if err := c.sim.DeleteUser(id); err != nil {
		t.Fatal(err)
	}
	if err := c.sim.DeleteUser(id); err == nil {
		t.Error("deleting twice succeeded")
	}
	c.expect(404, "GET", fmt.Sprintf("/Users(%d)", id), nil)
	c.sim.SetMaxUsers(1)
	c.expect(201, "POST", "/Users", map[string]any{"Number": "101"})
	c.expectWarning("POST", "/Users", map[string]any{"Number": "102"}, "", WarnLimitReached)
	c.sim.SetMaxUsers(0)
	c.expect(201, "POST", "/Users", map[string]any{"Number": "102"})
	if _, err := c.sim.AddQueue("800", "Q"); err != nil {
		t.Fatal(err)
	}
	objs := c.sim.NumberedObjects()
	if len(objs) != 2 || objs[0].Kind != "ServicePrincipal" || objs[1].Number != "800" {
		t.Errorf("numbered %+v", objs)
	}
	c.sim.FailNext(3, 500)
	c.sim.SetLatency(time.Hour)
	c.sim.Fail5xxRate(1)
	c.sim.ClearFaults()
	if c.sim.PendingFaults() != 0 {
		t.Error("faults left after ClearFaults")
	}
	c.expect(200, "GET", "/Users", nil)
}
