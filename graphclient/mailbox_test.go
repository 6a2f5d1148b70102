package graphclient

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pbx365/pbx365/graphclient/m365sim"
)

// mailboxUsers returns live users with a mailbox, and one without.
func mailboxUsers(t *testing.T, s *m365sim.Sim) (with []m365sim.User, without m365sim.User) {
	t.Helper()
	ids := make([]string, 0)
	live := liveUsers(s)
	for id := range live {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		u := live[id]
		if u.Mailbox == m365sim.MailboxUser && u.Mail != "" {
			with = append(with, u)
		} else if u.Mailbox == m365sim.MailboxNone && without.ID == "" {
			without = u
		}
	}
	if len(with) == 0 || without.ID == "" {
		t.Fatal("tenant lacks users with and without mailboxes")
	}
	return with, without
}

func TestContactsDefaultAndAllFolders(t *testing.T) {
	s := startSim(t, 200)
	c := newSimClient(t, s)
	ctx := testCtx(t)
	with, without := mailboxUsers(t, s)
	checked := 0
	for _, u := range with {
		mb := s.Mailbox(u.ID)
		if len(mb.ContactFolders) < 2 || len(mb.ContactFolders[0].Contacts) == 0 {
			continue
		}
		def, err := c.Contacts(ctx, u.ID, FoldersDefault)
		if err != nil {
			t.Fatal(err)
		}
		if len(def) != len(mb.ContactFolders[0].Contacts) {
			t.Fatalf("default folder: %d contacts, want %d", len(def), len(mb.ContactFolders[0].Contacts))
		}
		w := mb.ContactFolders[0].Contacts[0]
		i := slices.IndexFunc(def, func(x Contact) bool { return x.ID == w.ID })
		if i < 0 {
			t.Fatalf("contact %s missing", w.ID)
		}
		got := def[i]
		if got.DisplayName != w.DisplayName || got.MobilePhone != w.MobilePhone || got.ChangeKey != w.ChangeKey ||
			len(got.Emails) != len(w.EmailAddresses) || got.FolderID != mb.ContactFolders[0].ID {
			t.Fatalf("contact differs:\n got %+v\nwant %+v", got, w)
		}
		all, err := c.Contacts(ctx, u.UserPrincipalName, FoldersAll)
		if err != nil {
			t.Fatal(err)
		}
		total := 0
		for _, f := range mb.ContactFolders {
			total += len(f.Contacts)
		}
		if len(all) != total {
			t.Fatalf("all folders: %d contacts, want %d", len(all), total)
		}
		checked++
		break
	}
	if checked == 0 {
		t.Fatal("no mailbox with contacts in sub-folders")
	}
	if _, err := c.Contacts(ctx, without.ID, FoldersDefault); !IsNotFound(err) || ErrorCode(err) != "MailboxNotEnabledForRESTAPI" {
		t.Fatalf("user without mailbox: %v", err)
	}
	if _, err := c.Contacts(ctx, with[0].ID, "some"); err == nil || !strings.Contains(err.Error(), "contacts.folders") {
		t.Fatalf("bad folders value: %v", err)
	}
}

func TestContactFoldersAtAnyDepthAndTheirDelta(t *testing.T) {
	s := startSim(t, 50)
	c := newSimClient(t, s)
	ctx := testCtx(t)
	with, without := mailboxUsers(t, s)
	u := with[0]
	before := len(s.Mailbox(u.ID).ContactFolders) - 1
	top, err := s.AddContactFolder(u.ID, "Suppliers")
	if err != nil {
		t.Fatal(err)
	}
	nested, err := s.AddChildContactFolder(u.ID, top, "Bolts")
	if err != nil {
		t.Fatal(err)
	}
	deep, err := s.AddContact(u.ID, nested, m365sim.Contact{DisplayName: "Deep Down", MobilePhone: "+44 7700 900123"})
	if err != nil {
		t.Fatal(err)
	}
	fs, err := c.ContactFolders(ctx, u.UserPrincipalName)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != before+2 {
		t.Fatalf("%d folders, want %d: %+v", len(fs), before+2, fs)
	}
	it, in := slices.IndexFunc(fs, func(f ContactFolder) bool { return f.ID == top }), slices.IndexFunc(fs, func(f ContactFolder) bool { return f.ID == nested })
	if it < 0 || in < 0 || it > in || fs[in].ParentFolderID != top || fs[in].DisplayName != "Bolts" {
		t.Fatalf("folders %+v: want Suppliers before its child Bolts", fs)
	}
	all, err := c.Contacts(ctx, u.ID, FoldersAll)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(all, func(x Contact) bool { return x.ID == deep.ID }) {
		t.Fatal("Contacts(all) misses the contact of a nested folder")
	}
	// The nested folder has its own delta: a first round, then only changes.
	d, err := c.ContactsDelta(ctx, u.ID, nested, "")
	if err != nil || len(d.Changed) != 1 || d.Changed[0].ID != deep.ID || d.DeltaLink == "" {
		t.Fatalf("first round of the nested folder: %+v %v", d, err)
	}
	if err := s.DeleteContact(u.ID, deep.ID); err != nil {
		t.Fatal(err)
	}
	d2, err := c.ContactsDelta(ctx, u.ID, nested, d.DeltaLink)
	if err != nil || len(d2.Changed) != 0 || len(d2.Removed) != 1 || d2.Removed[0] != deep.ID {
		t.Fatalf("delta of the nested folder: %+v %v", d2, err)
	}
	// A deleted folder: its token now answers not found.
	if err := s.DeleteContactFolder(u.ID, top); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ContactsDelta(ctx, u.ID, nested, d2.DeltaLink); !IsNotFound(err) {
		t.Fatalf("delta of a deleted folder: %v, want not found", err)
	}
	if fs, err := c.ContactFolders(ctx, u.ID); err != nil || len(fs) != before {
		t.Fatalf("after the delete: %+v %v", fs, err)
	}
	if _, err := c.ContactFolders(ctx, without.ID); !IsNotFound(err) {
		t.Fatalf("user without mailbox: %v", err)
	}
}

func TestContactsDelta(t *testing.T) {
	s := startSim(t, 100)
	c := newSimClient(t, s)
	ctx := testCtx(t)
	with, _ := mailboxUsers(t, s)
	u := with[0]
	mb := s.Mailbox(u.ID)
	d, err := c.ContactsDelta(ctx, u.ID, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Changed) != len(mb.ContactFolders[0].Contacts) || d.DeltaLink == "" {
		t.Fatalf("initial: %d changed (want %d)", len(d.Changed), len(mb.ContactFolders[0].Contacts))
	}
	added, err := s.AddContact(u.ID, "", m365sim.Contact{DisplayName: "Łukasz Nowak", MobilePhone: "+48 601 234 567"})
	if err != nil {
		t.Fatal(err)
	}
	var removed string
	if len(mb.ContactFolders[0].Contacts) > 0 {
		removed = mb.ContactFolders[0].Contacts[0].ID
		if err := s.DeleteContact(u.ID, removed); err != nil {
			t.Fatal(err)
		}
	}
	d2, err := c.ContactsDelta(ctx, u.ID, "", d.DeltaLink)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(d2.Changed, func(x Contact) bool { return x.ID == added.ID && x.DisplayName == "Łukasz Nowak" }) {
		t.Fatalf("added contact not in delta: %+v", d2.Changed)
	}
	if removed != "" && !slices.Contains(d2.Removed, removed) {
		t.Fatalf("removed contact not in delta: %v", d2.Removed)
	}
	// A folder's own delta.
	if len(mb.ContactFolders) > 1 {
		f := mb.ContactFolders[1]
		fd, err := c.ContactsDelta(ctx, u.ID, f.ID, "")
		if err != nil || len(fd.Changed) != len(f.Contacts) {
			t.Fatalf("folder delta: %d (want %d) %v", len(fd.Changed), len(f.Contacts), err)
		}
	}
	// A tampered token means resync.
	bad := strings.Replace(d2.DeltaLink, "deltatoken=", "deltatoken=x", 1)
	if _, err := c.ContactsDelta(ctx, u.ID, "", bad); !errors.Is(err, ErrResyncRequired) {
		t.Fatalf("tampered token: %v", err)
	}
}

func TestCalendarView(t *testing.T) {
	s := startSim(t, 50)
	c := newSimClient(t, s)
	with, _ := mailboxUsers(t, s)
	u := with[0]
	start := time.Now().UTC().Add(72 * time.Hour).Truncate(time.Hour)
	id, err := s.AddMeeting(u.ID, m365sim.Meeting{Subject: "Review", Start: start, End: start.Add(90 * time.Minute), ShowAs: "oof"})
	if err != nil {
		t.Fatal(err)
	}
	evs, err := c.CalendarView(testCtx(t), u.ID, start.Add(-time.Hour), start.Add(3*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(evs, func(e Event) bool { return e.ID == id })
	if i < 0 {
		t.Fatalf("meeting %s not in view: %+v", id, evs)
	}
	e := evs[i]
	if !e.Start.Equal(start) || !e.End.Equal(start.Add(90*time.Minute)) || e.ShowAs != FreeBusyOOF || e.Subject != "Review" || e.Start.Location() != time.UTC {
		t.Fatalf("event %+v", e)
	}
	if _, err := c.CalendarView(testCtx(t), u.ID, start, start); err == nil {
		t.Fatal("empty window accepted")
	}
}

func TestGetScheduleManyUsersBatchedAndThrottled(t *testing.T) {
	s := startSim(t, 1000)
	c := newSimClient(t, s)
	with, without := mailboxUsers(t, s)
	start := time.Now().UTC().Add(24 * time.Hour).Truncate(time.Hour)
	end := start.Add(8 * time.Hour)
	// A known busy meeting for the first user.
	if _, err := s.AddMeeting(with[0].ID, m365sim.Meeting{Subject: "Board", Start: start.Add(2 * time.Hour), End: start.Add(3 * time.Hour), ShowAs: "busy"}); err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for _, u := range with {
		addrs = append(addrs, u.Mail)
	}
	addrs = append(addrs, without.UserPrincipalName, "nobody@example.invalid")
	s.ResetRequests()
	// Three getSchedule calls inside the batches are throttled once, and the
	// first $batch itself twice: its gzip body must be re-sent intact (pitfall 7).
	s.ThrottleNextMatching("POST", "/v1.0/users/", 3, time.Second)
	s.ThrottleNextMatching("POST", "/v1.0/$batch", 2, 0)
	scheds, err := c.GetSchedule(testCtx(t), addrs, start, end, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(scheds) != len(addrs) {
		t.Fatalf("%d schedules for %d addresses", len(scheds), len(addrs))
	}
	calls := (len(addrs) + 19) / 20
	batches := s.RequestCount("POST", "/v1.0/$batch")
	if minB := (calls + 19) / 20; batches < minB+2 || batches > minB+2+3 {
		t.Errorf("%d $batch requests for %d calls (want %d, 2 outer retries, at most 3 inner retries)", batches, calls, minB)
	}
	var ok, failed int
	for i, sc := range scheds {
		if sc.ID != addrs[i] {
			t.Fatalf("schedule %d is for %s, want %s", i, sc.ID, addrs[i])
		}
		if sc.Err != "" {
			failed++
			continue
		}
		ok++
		if len(sc.AvailabilityView) != int(end.Sub(start)/ScheduleInterval) {
			t.Fatalf("%s: availabilityView %q", sc.ID, sc.AvailabilityView)
		}
	}
	if failed < 1 || ok < len(with)-1 {
		t.Errorf("ok %d failed %d (with mailbox %d)", ok, failed, len(with))
	}
	if scheds[len(scheds)-1].Err == "" {
		t.Error("unknown address has no error")
	}
	first := scheds[0]
	j := slices.IndexFunc(first.Items, func(it ScheduleItem) bool { return it.Start.Equal(start.Add(2 * time.Hour)) })
	if j < 0 || first.Items[j].Status != FreeBusyBusy || !first.Items[j].End.Equal(start.Add(3*time.Hour)) {
		t.Fatalf("busy item not found: %+v", first.Items)
	}
	if first.ViewStatus(start.Add(2*time.Hour+time.Minute)) != FreeBusyBusy {
		t.Errorf("view at the meeting: %s (%q)", first.ViewStatus(start.Add(2*time.Hour)), first.AvailabilityView)
	}
	if throttled, _ := s.FaultCounts(); throttled != 5 {
		t.Errorf("%d throttled", throttled)
	}
}

func TestGetScheduleAnchorsRespectMailboxConcurrency(t *testing.T) {
	chunks := make([]*schedChunk, 45)
	for i := range chunks {
		chunks[i] = &schedChunk{anchor: i % 2}
	}
	// Two anchors: at most 4 calls each per batch, so batches of 8.
	for _, b := range packBatches(chunks, min(MaxBatchRequests, MailboxConcurrency*2)) {
		n := map[int]int{}
		for _, ch := range b {
			n[ch.anchor]++
		}
		if len(b) > 8 || n[0] > MailboxConcurrency || n[1] > MailboxConcurrency {
			t.Fatalf("batch %v", n)
		}
	}
	// After retries moved calls, a skewed set is still split.
	for _, ch := range chunks {
		ch.anchor = 0
	}
	total := 0
	for _, b := range packBatches(chunks, 20) {
		if len(b) > MailboxConcurrency {
			t.Fatalf("batch with %d calls on one anchor", len(b))
		}
		total += len(b)
	}
	if total != len(chunks) {
		t.Fatalf("packed %d of %d", total, len(chunks))
	}
}

func TestGetScheduleWithFewAnchors(t *testing.T) {
	s := startSim(t, 300)
	c := newSimClient(t, s)
	with, _ := mailboxUsers(t, s)
	var addrs []string
	for _, u := range with {
		addrs = append(addrs, u.UserPrincipalName)
	}
	start := time.Now().UTC().Truncate(time.Hour)
	// One anchor mailbox carries every call: never more than 4 at once, so the
	// sim's MailboxConcurrency limit never answers 429.
	scheds, err := c.GetSchedule(testCtx(t), addrs, start, start.Add(4*time.Hour), []string{with[0].Mail})
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range scheds {
		if sc.Err != "" {
			t.Fatalf("%s: %s", sc.ID, sc.Err)
		}
	}
	if throttled, _ := s.FaultCounts(); throttled != 0 {
		t.Errorf("%d throttled", throttled)
	}
	for _, r := range s.Requests() {
		if r.InBatch && r.Status == 429 {
			t.Fatalf("the anchor mailbox was throttled: %+v", r)
		}
	}
}

func TestSendMail(t *testing.T) {
	s := startSim(t, 50)
	c := newSimClient(t, s)
	with, _ := mailboxUsers(t, s)
	from := with[0].Mail
	err := c.SendMail(testCtx(t), Message{From: from, To: []string{"Ops <ops@example.com>", "admin@example.com"}, Subject: "pbx365 report", Body: "<b>3 changes</b>", HTML: true})
	if err != nil {
		t.Fatal(err)
	}
	sent := s.SentMail()
	if len(sent) != 1 {
		t.Fatalf("%d sent", len(sent))
	}
	m := sent[0]
	if !strings.EqualFold(m.From, from) || !slices.Equal(m.To, []string{"ops@example.com", "admin@example.com"}) ||
		m.Subject != "pbx365 report" || m.Body != "<b>3 changes</b>" || !strings.EqualFold(m.ContentType, "html") || m.SaveToSentItems {
		t.Fatalf("sent %+v", m)
	}
	if err := c.SendMail(testCtx(t), Message{From: from}); err == nil || !strings.Contains(err.Error(), "mail.to") {
		t.Fatalf("no recipients: %v", err)
	}
	if err := c.SendMail(testCtx(t), Message{To: []string{"a@example.com"}}); err == nil || !strings.Contains(err.Error(), "mail.from") {
		t.Fatalf("no sender: %v", err)
	}
	s.Revoke("Mail.Send")
	c2 := newSimClient(t, s)
	err = c2.SendMail(testCtx(t), Message{From: from, To: []string{"a@example.com"}, Subject: "x"})
	if !IsForbidden(err) || ErrorCode(err) != "ErrorAccessDenied" {
		t.Fatalf("without Mail.Send: %v", err)
	}
}

func TestGetScheduleLearnsAnchorsWithoutMailbox(t *testing.T) {
	s := startSim(t, 300)
	c := newSimClient(t, s)
	var addrs []string
	for _, id := range liveUsersSorted(s) {
		u, _ := s.User(id)
		addrs = append(addrs, u.UserPrincipalName)
	}
	start := time.Now().UTC().Truncate(time.Hour)
	calls := (len(addrs) + 19) / 20
	var first []Schedule
	var counts []int
	for run := 0; run < 4; run++ {
		s.ResetRequests()
		got, err := c.GetSchedule(testCtx(t), addrs, start, start.Add(time.Hour), nil)
		if err != nil {
			t.Fatal(err)
		}
		counts = append(counts, s.RequestCount("POST", "/v1.0/users/"))
		if first == nil {
			first = got
		}
		for i := range first {
			if (first[i].Err == "") != (got[i].Err == "") {
				t.Fatalf("%s: %q vs %q", first[i].ID, first[i].Err, got[i].Err)
			}
		}
		if counts[len(counts)-1] == calls {
			break
		}
	}
	// Anchors without a mailbox are learnt: later runs need no extra calls.
	if counts[len(counts)-1] != calls || !slices.IsSortedFunc(counts, func(a, b int) int { return b - a }) {
		t.Fatalf("getSchedule calls per run %v, want them to fall to %d", counts, calls)
	}
}
