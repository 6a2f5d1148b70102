package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLinksRoundTripAndIndex(t *testing.T) {
	s := openTemp(t)
	left := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	in := []Link{
		{ObjectID: "oid-b", PBXUserID: 12, Number: "102", PhotoETag: "W/\"1\""},
		{ObjectID: "oid-a", PBXUserID: 11, Number: "101", LeftAt: left, Disabled: true},
	}
	if err := s.PutLinks(in); err != nil {
		t.Fatal(err)
	}
	all, err := s.Links()
	if err != nil || len(all) != 2 || all[0].ObjectID != "oid-a" || all[1].ObjectID != "oid-b" {
		t.Fatalf("Links: %+v %v", all, err)
	}
	a := all[0]
	if a.PBXUserID != 11 || a.Number != "101" || !a.LeftAt.Equal(left) || !a.Disabled || a.LinkedAt.IsZero() {
		t.Errorf("link a: %+v", a)
	}
	if b, ok, _ := s.Link("oid-b"); !ok || b.PhotoETag != `W/"1"` || b.Disabled {
		t.Errorf("link b: %+v", b)
	}
	if l, ok, err := s.LinkByNumber("102"); err != nil || !ok || l.ObjectID != "oid-b" {
		t.Errorf("by number: %+v %v %v", l, ok, err)
	}
	if _, ok, err := s.Link("oid-x"); ok || err != nil {
		t.Errorf("missing link: %v %v", ok, err)
	}
	if _, ok, err := s.LinkByNumber("999"); ok || err != nil {
		t.Errorf("missing number: %v %v", ok, err)
	}

	// Updating state keeps LinkedAt and the number; a recreated extension may get a new PBX id.
	a.Disabled, a.LeftAt, a.PBXUserID, a.LinkedAt = false, time.Time{}, 99, time.Time{}
	if err := s.PutLinks([]Link{a}); err != nil {
		t.Fatal(err)
	}
	a2, _, _ := s.Link("oid-a")
	if a2.Disabled || !a2.LeftAt.IsZero() || a2.PBXUserID != 99 || !a2.LinkedAt.Equal(all[0].LinkedAt) {
		t.Errorf("updated link: %+v (linked at %v)", a2, all[0].LinkedAt)
	}
}

func TestLinksAreNeverRenumbered(t *testing.T) {
	s := openTemp(t)
	if err := s.PutLinks([]Link{{ObjectID: "oid-a", PBXUserID: 1, Number: "101"}, {ObjectID: "oid-b", PBXUserID: 2, Number: "102"}}); err != nil {
		t.Fatal(err)
	}
	err := s.PutLinks([]Link{{ObjectID: "oid-a", PBXUserID: 1, Number: "150"}})
	if !errors.Is(err, ErrLinkConflict) || !strings.Contains(err.Error(), "oid-a is linked to number 101 and cannot be renumbered to 150") {
		t.Errorf("renumber: %v", err)
	}
	err = s.PutLinks([]Link{{ObjectID: "oid-c", PBXUserID: 3, Number: "103"}, {ObjectID: "oid-d", PBXUserID: 4, Number: "102"}})
	if !errors.Is(err, ErrLinkConflict) || !strings.Contains(err.Error(), "number 102 is already linked to oid-b, not oid-d") {
		t.Errorf("number taken: %v", err)
	}
	// The refused batch wrote nothing, not even its valid first link.
	if _, ok, _ := s.Link("oid-c"); ok {
		t.Error("a refused batch was partly written")
	}
	if err := s.PutLinks([]Link{{ObjectID: "", Number: "1"}}); err == nil {
		t.Error("a link without object id was written")
	}
	// Unlink (the admin action) frees the number for someone else.
	if err := s.Unlink("oid-b"); err != nil {
		t.Fatal(err)
	}
	if err := s.Unlink("oid-b"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second unlink: %v", err)
	}
	if err := s.PutLinks([]Link{{ObjectID: "oid-d", PBXUserID: 4, Number: "102"}}); err != nil {
		t.Errorf("number after unlink: %v", err)
	}
	if l, _, _ := s.LinkByNumber("102"); l.ObjectID != "oid-d" {
		t.Errorf("102 → %s", l.ObjectID)
	}
}

func TestRuns(t *testing.T) {
	s := openTemp(t)
	r1, err := s.StartRun("users", "hash-1")
	if err != nil || r1.ID != 1 || r1.Status != RunRunning {
		t.Fatalf("StartRun: %+v %v", r1, err)
	}
	r2, _ := s.StartRun("contacts", "")
	r3, _ := s.StartRun("users", "hash-3")
	if _, err := s.StartRun("", ""); err == nil {
		t.Error("a run without kind started")
	}
	counts := map[string]int{"create": 3, "skip": 1}
	if err := s.FinishRun(r1.ID, RunOK, counts, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishRun(r1.ID, RunFailed, nil, "again"); err == nil || !strings.Contains(err.Error(), "already ok") {
		t.Errorf("finishing twice: %v", err)
	}
	if err := s.FinishRun(r2.ID, "done", nil, ""); err == nil || !strings.Contains(err.Error(), `status "done" is not one of`) {
		t.Errorf("bad status: %v", err)
	}
	if err := s.FinishRun(42, RunOK, nil, ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing run: %v", err)
	}
	if err := s.FinishRun(r2.ID, RunStopped, nil, "would remove 12 of 20"); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.Run(r1.ID)
	if err != nil || !ok || got.Status != RunOK || !reflect.DeepEqual(got.Counts, counts) || got.PlanHash != "hash-1" || got.Finished.Before(got.Started) {
		t.Errorf("run 1: %+v %v %v", got, ok, err)
	}
	runs, _ := s.Runs(0, 0)
	if len(runs) != 3 || runs[0].ID != r3.ID || runs[2].ID != r1.ID || runs[1].Error != "would remove 12 of 20" {
		t.Errorf("Runs newest first: %+v", runs)
	}
	if page, _ := s.Runs(1, r3.ID); len(page) != 1 || page[0].ID != r2.ID {
		t.Errorf("Runs page: %+v", page)
	}
	ids, err := s.InterruptRuns()
	if err != nil || !reflect.DeepEqual(ids, []uint64{r3.ID}) {
		t.Errorf("InterruptRuns: %v %v", ids, err)
	}
	if r, _, _ := s.Run(r3.ID); r.Status != RunInterrupted || r.Finished.IsZero() {
		t.Errorf("interrupted run: %+v", r)
	}
}

// seedAudit makes runs 1..runs and n items spread over them and over users
// u0..u(users-1), in batches.
func seedAudit(t testing.TB, s *Store, runs, users, n int) {
	t.Helper()
	for range runs {
		if _, err := s.StartRun("users", ""); err != nil {
			t.Fatal(err)
		}
	}
	const batch = 10000
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for start := 0; start < n; start += batch {
		items := make([]RunItem, 0, batch)
		for i := start; i < min(start+batch, n); i++ {
			u := i % users
			items = append(items, RunItem{
				Time: base.Add(time.Duration(i) * time.Second), Run: uint64(1 + i%runs),
				ObjectID: fmt.Sprintf("00000000-0000-0000-0000-%012d", u), UPN: fmt.Sprintf("User%d@Contoso.com", u), Number: fmt.Sprint(1000 + u),
				Action: "update", Rule: "owned.mobile", Before: json.RawMessage(`{"Mobile":"1"}`), After: json.RawMessage(`{"Mobile":"2"}`), Result: ResultOK,
			})
		}
		if err := s.AppendRunItems(items); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAuditLogQueries(t *testing.T) {
	s := openTemp(t)
	seedAudit(t, s, 3, 5, 250)
	collect := func(q AuditQuery) []RunItem {
		var out []RunItem
		for {
			p, err := s.Audit(q)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, p.Items...)
			if p.Next == 0 {
				return out
			}
			q.Before = p.Next
		}
	}
	check := func(name string, q AuditQuery, keep func(RunItem) bool) {
		got := collect(q)
		var want []uint64
		for id := uint64(250); id >= 1; id-- {
			i := int(id - 1)
			it := RunItem{Run: uint64(1 + i%3), ObjectID: fmt.Sprintf("00000000-0000-0000-0000-%012d", i%5), Number: fmt.Sprint(1000 + i%5)}
			if keep(it) {
				want = append(want, id)
			}
		}
		var ids []uint64
		for _, it := range got {
			ids = append(ids, it.ID)
		}
		if !reflect.DeepEqual(ids, want) {
			t.Errorf("%s: ids %v\nwant %v", name, ids, want)
		}
	}
	all := func(RunItem) bool { return true }
	check("all, pages of 7", AuditQuery{Limit: 7}, all)
	check("all, default page", AuditQuery{}, all)
	check("run 2", AuditQuery{Run: 2, Limit: 9}, func(it RunItem) bool { return it.Run == 2 })
	check("by object id", AuditQuery{User: "00000000-0000-0000-0000-000000000003", Limit: 11}, func(it RunItem) bool { return it.Number == "1003" })
	check("by upn in another case", AuditQuery{User: "USER3@contoso.COM"}, func(it RunItem) bool { return it.Number == "1003" })
	check("by number", AuditQuery{User: "1004", Limit: 5}, func(it RunItem) bool { return it.Number == "1004" })
	check("run and user", AuditQuery{User: "1001", Run: 3, Limit: 4}, func(it RunItem) bool { return it.Number == "1001" && it.Run == 3 })
	check("unknown user", AuditQuery{User: "nobody@x.com"}, func(RunItem) bool { return false })
	check("unknown run", AuditQuery{Run: 99}, func(RunItem) bool { return false })

	p, _ := s.Audit(AuditQuery{Limit: 1})
	it := p.Items[0]
	if it.ID != 250 || it.UPN != "User4@Contoso.com" || it.Action != "update" || it.Rule != "owned.mobile" || string(it.Before) != `{"Mobile":"1"}` ||
		string(it.After) != `{"Mobile":"2"}` || it.Result != ResultOK || it.Time.IsZero() || p.Next != 250 {
		t.Errorf("newest item: %+v next %d", it, p.Next)
	}
	// An exact page ends without a dangling cursor.
	if p, _ := s.Audit(AuditQuery{Run: 1, Limit: 84}); len(p.Items) != 84 || p.Next != 0 {
		t.Errorf("exact page: %d items, next %d", len(p.Items), p.Next)
	}
}

func TestAppendRunItemsValidatesAndIsAtomic(t *testing.T) {
	s := openTemp(t)
	r, _ := s.StartRun("users", "")
	good := RunItem{Run: r.ID, ObjectID: "a", Action: "create", Result: ResultOK}
	for name, bad := range map[string]RunItem{
		"no run":      {ObjectID: "a", Action: "create", Result: ResultOK},
		"missing run": {Run: 77, ObjectID: "a", Action: "create", Result: ResultOK},
		"no action":   {Run: r.ID, ObjectID: "a", Result: ResultOK},
		"bad result":  {Run: r.ID, ObjectID: "a", Action: "create", Result: "done"},
		"bad before":  {Run: r.ID, ObjectID: "a", Action: "create", Result: ResultOK, Before: json.RawMessage(`{`)},
		"bad after":   {Run: r.ID, ObjectID: "a", Action: "create", Result: ResultOK, After: json.RawMessage(`nope`)},
	} {
		if err := s.AppendRunItems([]RunItem{good, bad}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if p, _ := s.Audit(AuditQuery{}); len(p.Items) != 0 {
		t.Errorf("refused batches left %d items", len(p.Items))
	}
	items := []RunItem{good, good}
	if err := s.AppendRunItems(items); err != nil || items[0].ID != 1 || items[1].ID != 2 || items[0].Time.IsZero() {
		t.Errorf("ids assigned in place: %+v %v", items, err)
	}
}

func TestExportAuditJSONLines(t *testing.T) {
	s := openTemp(t)
	seedAudit(t, s, 2, 3, 2500)
	var buf bytes.Buffer
	if err := s.ExportAudit(context.Background(), &buf, AuditQuery{}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 2500 {
		t.Fatalf("%d lines", len(lines))
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"type": "audit", "id": 2500.0, "run": 2.0, "action": "update", "result": "ok", "number": "1000", "rule": "owned.mobile"} {
		if first[k] != want {
			t.Errorf("first line %s = %v, want %v (%s)", k, first[k], want, lines[0])
		}
	}
	if b, _ := first["before"].(map[string]any); b["Mobile"] != "1" {
		t.Errorf("before not embedded as JSON: %s", lines[0])
	}
	var last RunItem
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil || last.ID != 1 {
		t.Errorf("last line: %+v %v", last, err)
	}
	buf.Reset()
	if err := s.ExportAudit(context.Background(), &buf, AuditQuery{User: "1001", Limit: 5}); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(buf.String(), "\n"); n != 5 || strings.Contains(buf.String(), `"number":"1000"`) {
		t.Errorf("filtered export: %d lines\n%s", n, buf.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.ExportAudit(ctx, &buf, AuditQuery{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled export: %v", err)
	}
}

func TestIntentsAndSettleAtomicity(t *testing.T) {
	s := openTemp(t)
	r, _ := s.StartRun("users", "h")
	if _, err := s.PutIntent(Intent{Run: r.ID, Action: "create"}); err == nil {
		t.Error("intent without change key stored")
	}
	if _, err := s.PutIntent(Intent{Run: 99, ChangeKey: "k", Action: "create"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("intent for a missing run: %v", err)
	}
	if _, err := s.PutIntent(Intent{Run: r.ID, ChangeKey: "k", Action: "create", Payload: json.RawMessage("{")}); err == nil {
		t.Error("intent with bad payload stored")
	}
	payload := json.RawMessage(`{"FirstName":"Ann"}`)
	id1, err := s.PutIntent(Intent{Run: r.ID, ChangeKey: "create/oid-a", Action: "create", ObjectID: "oid-a", Number: "101", Email: "ann@x.com", Payload: payload})
	if err != nil {
		t.Fatal(err)
	}
	id2, _ := s.PutIntent(Intent{Run: r.ID, ChangeKey: "create/oid-b", Action: "create", ObjectID: "oid-b", Number: "102", Email: "bob@x.com"})
	id3, _ := s.PutIntent(Intent{Run: r.ID, ChangeKey: "update/oid-c", Action: "update", ObjectID: "oid-c", Number: "101"})
	open, err := s.ListOpenIntents()
	if err != nil || len(open) != 3 || open[0].ID != id1 || string(open[0].Payload) != string(payload) || open[0].Email != "ann@x.com" || open[0].Created.IsZero() {
		t.Fatalf("open intents: %+v %v", open, err)
	}

	// Settle: intent, link and item together.
	item := RunItem{Run: r.ID, ObjectID: "oid-a", Number: "101", Action: "create", Result: ResultOK}
	if err := s.Settle(id1, &Link{ObjectID: "oid-a", PBXUserID: 5, Number: "101"}, &item); err != nil {
		t.Fatal(err)
	}
	if item.ID == 0 {
		t.Error("settled item got no id")
	}
	if l, ok, _ := s.Link("oid-a"); !ok || l.PBXUserID != 5 {
		t.Errorf("link after settle: %+v", l)
	}
	if in, ok, _ := s.SettledIntent(id1); !ok || in.Outcome != OutcomeDone || in.Settled.IsZero() {
		t.Errorf("settled intent: %+v %v", in, ok)
	}

	// A settle whose link cannot be written changes nothing: the intent stays open, no item.
	bad := RunItem{Run: r.ID, ObjectID: "oid-c", Number: "101", Action: "create", Result: ResultOK}
	err = s.Settle(id3, &Link{ObjectID: "oid-c", PBXUserID: 6, Number: "101"}, &bad)
	if !errors.Is(err, ErrLinkConflict) {
		t.Fatalf("conflicting settle: %v", err)
	}
	open, _ = s.ListOpenIntents()
	if len(open) != 2 || open[0].ID != id2 || open[1].ID != id3 {
		t.Errorf("open after failed settle: %+v", open)
	}
	if p, _ := s.Audit(AuditQuery{User: "oid-c"}); len(p.Items) != 0 {
		t.Error("the failed settle wrote its audit item")
	}
	if _, ok, _ := s.SettledIntent(id3); ok {
		t.Error("the failed settle settled its intent")
	}
	// And a settle of an intent that is not open writes no link.
	err = s.Settle(id1, &Link{ObjectID: "oid-z", PBXUserID: 9, Number: "109"}, nil)
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("settling a settled intent: %v", err)
	}
	if _, ok, _ := s.Link("oid-z"); ok {
		t.Error("a link was written for an intent that was not open")
	}

	// Failed writes settle as failed, with no link.
	failed := RunItem{Run: r.ID, ObjectID: "oid-b", Action: "create", Result: ResultFailed, Error: "409 email taken"}
	if err := s.Settle(id2, nil, &failed); err != nil {
		t.Fatal(err)
	}
	if in, _, _ := s.SettledIntent(id2); in.Outcome != OutcomeFailed {
		t.Errorf("failed outcome: %q", in.Outcome)
	}
	if err := s.SettleIntent(id3, "maybe"); err == nil {
		t.Error("bad outcome accepted")
	}
	if err := s.SettleIntent(id3, OutcomeNotWritten); err != nil {
		t.Fatal(err)
	}
	if open, _ := s.ListOpenIntents(); len(open) != 0 {
		t.Errorf("still open: %+v", open)
	}
	n, err := s.PruneSettledIntents(time.Now().Add(time.Minute))
	if err != nil || n != 3 {
		t.Errorf("pruned %d, %v", n, err)
	}
	if _, ok, _ := s.SettledIntent(id1); ok {
		t.Error("pruned intent still there")
	}
}

func TestTxGroupsWrites(t *testing.T) {
	s := openTemp(t)
	r, _ := s.StartRun("users", "")
	boom := errors.New("boom")
	err := s.Update(func(tx *Tx) error {
		if err := tx.PutLinks([]Link{{ObjectID: "a", PBXUserID: 1, Number: "100"}}); err != nil {
			return err
		}
		if err := tx.PutDeltaToken("users", "tok"); err != nil {
			return err
		}
		if err := tx.FinishRun(r.ID, RunOK, nil, ""); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if _, ok, _ := s.Link("a"); ok {
		t.Error("link survived a rolled-back transaction")
	}
	if _, ok, _ := s.DeltaToken("users"); ok {
		t.Error("token survived a rolled-back transaction")
	}
	if run, _, _ := s.Run(r.ID); run.Status != RunRunning {
		t.Error("run finished in a rolled-back transaction")
	}
}

func TestDeltaTokens(t *testing.T) {
	s := openTemp(t)
	if _, ok, err := s.DeltaToken("users"); ok || err != nil {
		t.Errorf("missing token: %v %v", ok, err)
	}
	if err := s.PutDeltaToken("users", ""); err == nil {
		t.Error("empty token stored")
	}
	for name, tok := range map[string]string{"users": "https://graph/delta?token=1", "contacts/a@b.com/default": "t2"} {
		if err := s.PutDeltaToken(name, tok); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutDeltaToken("users", "https://graph/delta?token=2"); err != nil {
		t.Fatal(err)
	}
	tok, ok, _ := s.DeltaToken("users")
	if !ok || tok.Token != "https://graph/delta?token=2" || tok.Saved.IsZero() || tok.Name != "users" {
		t.Errorf("token: %+v", tok)
	}
	all, _ := s.DeltaTokens()
	if len(all) != 2 || all[0].Name != "contacts/a@b.com/default" {
		t.Errorf("tokens: %+v", all)
	}
	if err := s.DeleteDeltaToken("users"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.DeltaToken("users"); ok {
		t.Error("deleted token still there")
	}
}

func TestReplaceDeltaTokensUnderAPrefix(t *testing.T) {
	s := openTemp(t)
	for name, tok := range map[string]string{
		"contacts/a@b.com/default": "a0", "contacts/a@b.com/F1": "a1", "contacts/a@b.com/F2": "a2",
		"contacts/a@b.com.au/default": "other", "users": "u",
	} {
		if err := s.PutDeltaToken(name, tok); err != nil {
			t.Fatal(err)
		}
	}
	under := func(prefix string) map[string]string {
		ts, err := s.DeltaTokensUnder(prefix)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, x := range ts {
			m[x.Name] = x.Token
		}
		return m
	}
	if got := under("contacts/a@b.com/"); len(got) != 3 || got["contacts/a@b.com/F2"] != "a2" {
		t.Fatalf("under a@b.com: %v", got)
	}
	// F2 is gone, F3 is new, the default folder moves on.
	err := s.Update(func(tx *Tx) error {
		return tx.ReplaceDeltaTokens("contacts/a@b.com/", map[string]string{"contacts/a@b.com/default": "a0'", "contacts/a@b.com/F1": "a1", "contacts/a@b.com/F3": "a3"})
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"contacts/a@b.com/default": "a0'", "contacts/a@b.com/F1": "a1", "contacts/a@b.com/F3": "a3"}
	if got := under("contacts/a@b.com/"); !maps.Equal(got, want) {
		t.Errorf("after replace: %v, want %v", got, want)
	}
	if got := under("contacts/a@b.com.au/"); got["contacts/a@b.com.au/default"] != "other" {
		t.Errorf("another mailbox's token was touched: %v", got)
	}
	if _, ok, _ := s.DeltaToken("users"); !ok {
		t.Error("the users token was dropped")
	}
	// A name outside the prefix is refused and nothing changes.
	err = s.Update(func(tx *Tx) error {
		return tx.ReplaceDeltaTokens("contacts/a@b.com/", map[string]string{"users": "x"})
	})
	if err == nil || !strings.Contains(err.Error(), "not under") {
		t.Errorf("a name outside the prefix: %v", err)
	}
	if got := under("contacts/a@b.com/"); !maps.Equal(got, want) {
		t.Errorf("a refused replace changed the tokens: %v", got)
	}
	if _, err := s.DeltaTokensUnder(""); err == nil {
		t.Error("empty prefix accepted")
	}
}

func TestPresenceAndContactMaps(t *testing.T) {
	s := openTemp(t)
	until := time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)
	if err := s.PutPresence([]Presence{{ObjectID: "a", Number: "101", SetProfile: "Out of office", Previous: "Available", Until: until}, {ObjectID: "b"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutPresence([]Presence{{Number: "1"}}); err == nil {
		t.Error("presence without object id stored")
	}
	p, ok, _ := s.Presence("a")
	if !ok || p.SetProfile != "Out of office" || p.Previous != "Available" || !p.Until.Equal(until) || p.Updated.IsZero() {
		t.Errorf("presence: %+v", p)
	}
	if err := s.DeletePresence("b"); err != nil {
		t.Fatal(err)
	}
	if all, _ := s.PresenceStates(); len(all) != 1 || all[0].ObjectID != "a" {
		t.Errorf("presence states: %+v", all)
	}

	maps := []ContactMap{
		{Phonebook: "company", SourceID: "c1", PBXContactID: 11, Hash: "h1"},
		{Phonebook: "company", SourceID: "c2", PBXContactID: 12},
		{Phonebook: "user/101", SourceID: "c1", PBXContactID: 21},
		{Phonebook: "user/1010", SourceID: "c9", PBXContactID: 29},
	}
	if err := s.PutContactMaps(maps); err != nil {
		t.Fatal(err)
	}
	if err := s.PutContactMaps([]ContactMap{{Phonebook: "company"}}); err == nil {
		t.Error("mapping without source id stored")
	}
	got, _ := s.ContactMaps("company")
	if len(got) != 2 || got[0].SourceID != "c1" || got[0].PBXContactID != 11 || got[0].Hash != "h1" || got[1].SourceID != "c2" {
		t.Errorf("company: %+v", got)
	}
	if got, _ := s.ContactMaps("user/101"); len(got) != 1 || got[0].PBXContactID != 21 {
		t.Errorf("user/101 (must not include user/1010): %+v", got)
	}
	if err := s.DeleteContactMaps("company", "c1"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ContactMaps("company"); len(got) != 1 || got[0].SourceID != "c2" {
		t.Errorf("after delete: %+v", got)
	}
}
