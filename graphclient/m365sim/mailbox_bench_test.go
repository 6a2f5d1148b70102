package m365sim

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// BenchmarkGetSchedule20 measures one getSchedule call for 20 mailboxes
// (8 hours, 30-minute intervals) over HTTPS, as graphclient sends them.
func BenchmarkGetSchedule20(b *testing.B) {
	s := startSim(b, Options{Seed: 3, Users: 2000})
	c := httpClient(b, s)
	tok := token(b, c, s)
	var ids, anchors []string
	for _, u := range s.Users() {
		if u.Mailbox == MailboxUser && u.Mail != "" && len(ids) < 20 {
			ids = append(ids, u.Mail)
			anchors = append(anchors, u.ID)
		}
	}
	day := s.Now().Truncate(24 * time.Hour)
	raw, _ := json.Marshal(scheduleBody(ids, day.Add(8*time.Hour), day.Add(16*time.Hour), nil))
	hdr := map[string]string{"Content-Type": "application/json"}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		// Anchors rotate, as graphclient spreads them (each mailbox allows
		// OutlookRequestsPerWindow requests per window).
		i++
		path := s.GraphURL() + "/users/" + anchors[i%len(anchors)] + "/calendar/getSchedule"
		if st, _, body := graphDo(b, c, "POST", path, tok, raw, hdr); st != 200 {
			b.Fatalf("getSchedule: %d %s", st, body)
		}
	}
}

// BenchmarkContactDeltaInitial500 measures an initial contact delta round of a
// 500-contact folder in pages of 100 (Prefer: odata.maxpagesize=100).
func BenchmarkContactDeltaInitial500(b *testing.B) {
	s := startSim(b, Options{Seed: 4, Users: 20})
	c := httpClient(b, s)
	tok := token(b, c, s)
	u, err := s.AddUser(User{UserPrincipalName: "bench.contacts@" + Domain, Mail: "bench.contacts@" + Domain, UserType: "Member", AccountEnabled: true, Mailbox: MailboxUser})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 500 {
		if _, err := s.AddContact(u.ID, "", Contact{DisplayName: fmt.Sprintf("Contact %03d", i), MobilePhone: "+1 206 555 0100",
			EmailAddresses: []EmailAddress{{Address: fmt.Sprintf("c%03d@example.com", i)}}}); err != nil {
			b.Fatal(err)
		}
	}
	hdr := map[string]string{"Prefer": "odata.maxpagesize=100"}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		n := 0
		for next := s.GraphURL() + "/users/" + u.ID + "/contacts/delta()"; next != ""; {
			st, m := graphJSON(b, c, next, tok, hdr)
			if st != 200 {
				b.Fatalf("delta: %d %v", st, m)
			}
			n += len(m["value"].([]any))
			next, _ = m["@odata.nextLink"].(string)
		}
		if n != 500 {
			b.Fatalf("%d contacts", n)
		}
	}
}
