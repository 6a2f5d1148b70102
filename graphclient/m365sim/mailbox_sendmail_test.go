package m365sim

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

func mailBodyJSON(to ...string) map[string]any {
	var rcpts []map[string]any
	for _, a := range to {
		rcpts = append(rcpts, map[string]any{"emailAddress": map[string]string{"address": a}})
	}
	return map[string]any{
		"message": map[string]any{
			"subject":      "pbx365 report: 3 changes",
			"body":         map[string]string{"contentType": "HTML", "content": "<p>Zoë was added</p>"},
			"toRecipients": rcpts,
		},
		"saveToSentItems": false,
	}
}

func TestSendMail(t *testing.T) {
	e := newMbEnv(t)
	st, h, m := e.post(t, "POST", "/users/"+e.full.UserPrincipalName+"/sendMail", e.tok, mailBodyJSON("admin@example.com", "ops@example.com"), nil)
	if st != 202 || m != nil || h.Get("Content-Length") != "0" {
		t.Fatalf("sendMail: %d %v", st, m)
	}
	sent := e.s.SentMail()
	if len(sent) != 1 {
		t.Fatalf("recorded %d messages", len(sent))
	}
	got := sent[0]
	if got.From != e.full.Mail || got.FromID != e.full.ID || strings.Join(got.To, ",") != "admin@example.com,ops@example.com" ||
		got.Subject != "pbx365 report: 3 changes" || got.Body != "<p>Zoë was added</p>" || got.ContentType != "html" ||
		got.SaveToSentItems || !got.Time.Equal(mbNow) {
		t.Fatalf("recorded %+v", got)
	}
	// A shared mailbox can send too (app-only Mail.Send covers every mailbox); an empty subject is fine, as in Graph.
	b := mailBodyJSON("a@example.com")
	msg := b["message"].(map[string]any)
	delete(msg, "subject")
	delete(b, "saveToSentItems") // defaults to true
	msg["ccRecipients"] = []map[string]any{{"emailAddress": map[string]string{"address": "cc@example.com", "name": "Cc Person"}}}
	if st, _, m := e.post(t, "POST", "/users/"+e.shared.ID+"/sendMail", e.tok, b, nil); st != 202 {
		t.Fatalf("shared mailbox: %d %v", st, m)
	}
	if s := e.s.SentMail()[1]; s.From != e.shared.Mail || s.Subject != "" || len(s.Cc) != 1 || !s.SaveToSentItems {
		t.Fatalf("second message %+v", s)
	}
	// The MIME variant.
	mimeMsg := "From: " + e.full.Mail + "\r\nTo: Admin <admin@example.com>\r\nSubject: =?UTF-8?Q?Z=C3=B6e?=\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n"
	st, _, m = e.post(t, "POST", "/users/"+e.full.ID+"/sendMail", e.tok, base64.StdEncoding.EncodeToString([]byte(mimeMsg)), map[string]string{"Content-Type": "text/plain"})
	if st != 202 {
		t.Fatalf("MIME: %d %v", st, m)
	}
	if s := e.s.SentMail()[2]; !s.MIME || s.Subject != "Zöe" || s.To[0] != "admin@example.com" || s.Body != "hello\r\n" {
		t.Fatalf("MIME message %+v", s)
	}

	// Refusals.
	for _, c := range []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"no recipients", mailBodyJSON(), 400, "ErrorInvalidRecipients"},
		{"bad address", mailBodyJSON("not an address"), 400, "ErrorInvalidRecipients"},
		{"recipient without emailAddress", map[string]any{"message": map[string]any{"toRecipients": []map[string]any{{}}}}, 400, "ErrorInvalidRecipients"},
		{"no message", map[string]any{"saveToSentItems": true}, 400, "ErrorInvalidParameter"},
		{"unknown property", map[string]any{"message": map[string]any{"subjekt": "x"}}, 400, "RequestBodyRead"},
		{"bad body type", map[string]any{"message": map[string]any{"body": map[string]string{"contentType": "xml"}, "toRecipients": []map[string]any{{"emailAddress": map[string]string{"address": "a@example.com"}}}}}, 400, "RequestBodyRead"},
		{"subject not a string", map[string]any{"message": map[string]any{"subject": 42}}, 400, "RequestBodyRead"},
		{"not JSON", "{", 400, "UnableToDeserializePostBody"},
	} {
		st, _, m := e.post(t, "POST", "/users/"+e.full.ID+"/sendMail", e.tok, c.body, nil)
		wantError(t, c.name, st, m, c.status, c.code)
	}
	st, _, m = e.post(t, "POST", "/users/"+e.full.ID+"/sendMail", e.tok, "!!not base64!!", map[string]string{"Content-Type": "text/plain"})
	wantError(t, "bad base64", st, m, 400, "ErrorMimeContentInvalidBase64String")
	st, _, m = e.post(t, "POST", "/users/"+e.noMbx.ID+"/sendMail", e.tok, mailBodyJSON("a@example.com"), nil)
	wantError(t, "sender without mailbox", st, m, 404, "MailboxNotEnabledForRESTAPI")
	st, _, m = e.post(t, "POST", "/users/nobody@"+Domain+"/sendMail", e.tok, mailBodyJSON("a@example.com"), nil)
	wantError(t, "unknown sender", st, m, 404, "ErrorInvalidUser")
	tok := e.tokenWithout(t, "Mail.Send")
	st, _, m = e.post(t, "POST", "/users/"+e.full.ID+"/sendMail", tok, mailBodyJSON("a@example.com"), nil)
	wantError(t, "without Mail.Send", st, m, 403, "ErrorAccessDenied")
	if n := len(e.s.SentMail()); n != 3 {
		t.Fatalf("refused messages were recorded: %d", n)
	}

	// The control API shows and resets the record.
	var list []SentMessage
	if st := ctl(t, e.c, e.s, e.s.ControlKey(), "GET", "/_sim/sentMail", nil, &list); st != 200 || len(list) != 3 || list[0].Subject != "pbx365 report: 3 changes" {
		t.Fatalf("control sentMail: %d %v", st, list)
	}
	if st := ctl(t, e.c, e.s, e.s.ControlKey(), "DELETE", "/_sim/sentMail", nil, nil); st != 200 || len(e.s.SentMail()) != 0 {
		t.Fatalf("reset: %d", st)
	}
}

func TestMailboxControlAPI(t *testing.T) {
	e := newMbEnv(t)
	key := e.s.ControlKey()
	day := mbDay()
	var out map[string]string
	st := ctl(t, e.c, e.s, key, "POST", "/_sim/users/"+e.fresh.ID+"/meetings", Meeting{Subject: "Ctl", Start: day.Add(9 * time.Hour), End: day.Add(10 * time.Hour), ShowAs: "oof"}, &out)
	if st != 200 || out["id"] == "" {
		t.Fatalf("add meeting: %d %v", st, out)
	}
	id := out["id"]
	var errOut map[string]string
	if st := ctl(t, e.c, e.s, key, "POST", "/_sim/users/"+e.fresh.ID+"/meetings", Meeting{Subject: "Bad", Start: day, End: day.Add(time.Hour), ShowAs: "away"}, &errOut); st != 400 || !strings.Contains(errOut["error"], "showAs") {
		t.Fatalf("bad showAs: %d %v", st, errOut)
	}
	if st := ctl(t, e.c, e.s, key, "POST", "/_sim/users/"+e.fresh.ID+"/meetings/"+id+"/move", map[string]any{"start": day.Add(11 * time.Hour), "end": day.Add(13 * time.Hour)}, nil); st != 200 {
		t.Fatalf("move: %d", st)
	}
	if st := ctl(t, e.c, e.s, key, "POST", "/_sim/users/"+e.fresh.ID+"/meetings/"+id+"/cancel", nil, nil); st != 200 {
		t.Fatalf("cancel: %d", st)
	}
	ev := e.s.Mailbox(e.fresh.ID).Events[0]
	if !ev.Start.Equal(day.Add(11*time.Hour)) || !ev.End.Equal(day.Add(13*time.Hour)) || !ev.IsCancelled || ev.ShowAs != "oof" {
		t.Fatalf("event after move+cancel: %+v", ev)
	}
	if st := ctl(t, e.c, e.s, key, "POST", "/_sim/users/"+e.fresh.ID+"/meetings/AAMkE-none/cancel", nil, nil); st != 404 {
		t.Fatalf("cancel unknown: %d", st)
	}
	// Cancelling one occurrence of a series.
	sid, err := e.s.AddMeeting(e.fresh.ID, Meeting{Subject: "Series", Start: day.Add(8 * time.Hour), End: day.Add(8*time.Hour + 30*time.Minute),
		Recurrence: &Recurrence{Pattern: "daily", Interval: 1, Count: 3}})
	if err != nil {
		t.Fatal(err)
	}
	occ := occurrenceID(sid, day.AddDate(0, 0, 1).Add(8*time.Hour))
	if err := e.s.CancelMeeting(e.fresh.ID, occ); err != nil {
		t.Fatal(err)
	}
	st, _, m := e.get(t, "/users/"+e.fresh.ID+"/calendarView?"+windowQuery(day, day.AddDate(0, 0, 3))+"&$top=50", e.tok, nil)
	cancelled := 0
	for _, it := range values(t, m) {
		if it["subject"] == "Series" && it["isCancelled"] == true {
			cancelled++
			if it["id"] != occ || it["type"] != "exception" {
				t.Fatalf("cancelled occurrence %v", it)
			}
		}
	}
	if st != 200 || cancelled != 1 {
		t.Fatalf("cancelled occurrences: %d (%d)", cancelled, st)
	}
	if err := e.s.CancelMeeting(e.fresh.ID, sid+"_20000101T000000Z"); err == nil {
		t.Fatal("cancelling a non-existent occurrence must fail")
	}
	for _, bad := range []Meeting{
		{Subject: "x", Start: day, End: day},
		{Subject: "x", Start: day.Add(time.Hour), End: day.Add(25 * time.Hour), IsAllDay: true},
		{Subject: "x", Start: day, End: day.Add(time.Hour), Sensitivity: "secret"},
		{Subject: "x", Start: day, End: day.Add(time.Hour), Recurrence: &Recurrence{Pattern: "monthly", Interval: 1, Count: 2}},
	} {
		if _, err := e.s.AddMeeting(e.fresh.ID, bad); err == nil {
			t.Fatalf("AddMeeting accepted %+v", bad)
		}
	}
	if _, err := e.s.AddMeeting(e.noMbx.ID, Meeting{Subject: "x", Start: day, End: day.Add(time.Hour)}); err == nil {
		t.Fatal("a meeting for a user without mailbox was accepted")
	}
	var shared []User
	if st := ctl(t, e.c, e.s, key, "GET", "/_sim/sharedMailboxes", nil, &shared); st != 200 || len(shared) == 0 || shared[0].Mailbox != MailboxShared {
		t.Fatalf("shared mailboxes: %d %v", st, shared)
	}
}
