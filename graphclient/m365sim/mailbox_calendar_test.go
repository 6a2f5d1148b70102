package m365sim

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// day is midnight UTC of the mailbox tests' sim clock.
func mbDay() time.Time { return mbNow.Truncate(24 * time.Hour) }

func windowQuery(from, to time.Time) string {
	return "startDateTime=" + url.QueryEscape(from.Format(time.RFC3339)) + "&endDateTime=" + url.QueryEscape(to.Format(time.RFC3339))
}

// eventIDs returns the ids of the generated full user's events by subject.
func eventIDs(t *testing.T, e *mbEnv) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, ev := range e.s.Mailbox(e.full.ID).Events {
		out[ev.Subject] = ev.ID
	}
	return out
}

func TestCalendarViewExpansion(t *testing.T) {
	e := newMbEnv(t)
	day := mbDay()
	ids := eventIDs(t, e)
	for _, p := range []string{"/calendarView", "/calendar/calendarView"} {
		st, _, m := e.get(t, "/users/"+e.full.ID+p, e.tok, nil)
		wantError(t, p+" without window", st, m, 400, "ErrorInvalidParameter")
		st, _, m = e.get(t, "/users/"+e.full.ID+p+"?startDateTime=2026-01-01T00:00:00Z", e.tok, nil)
		wantError(t, p+" without end", st, m, 400, "ErrorInvalidParameter")
	}
	st, _, m := e.get(t, "/users/"+e.full.ID+"/calendarView?startDateTime=yesterday&endDateTime=today", e.tok, nil)
	wantError(t, "bad dates", st, m, 400, "ErrorInvalidParameter")

	q := windowQuery(day.AddDate(0, 0, -3), day.AddDate(0, 0, 4)) + "&$top=100"
	st, _, m = e.get(t, "/users/"+e.full.UserPrincipalName+"/calendar/calendarView?"+q, e.tok, nil)
	if st != 200 {
		t.Fatalf("calendarView: %d %v", st, m)
	}
	items := values(t, m)
	standups, exceptions := 0, 0
	var last string
	bySubject := map[string]map[string]any{}
	for _, it := range items {
		start := it["start"].(map[string]any)
		if start["timeZone"] != "UTC" || !strings.HasSuffix(start["dateTime"].(string), ".0000000") {
			t.Fatalf("start %v", start)
		}
		if dt := start["dateTime"].(string); dt < last {
			t.Fatalf("not ordered by start: %s after %s", dt, last)
		} else {
			last = dt
		}
		if it["type"] == "seriesMaster" {
			t.Fatalf("series masters must not appear: %v", it)
		}
		if it["subject"] == "Daily stand-up" {
			standups++
			if it["seriesMasterId"] != ids["Daily stand-up"] {
				t.Fatalf("occurrence without seriesMasterId: %v", it)
			}
			if it["type"] == "exception" {
				exceptions++
				if it["isCancelled"] != true || !strings.HasPrefix(start["dateTime"].(string), day.AddDate(0, 0, 1).Format("2006-01-02")) {
					t.Fatalf("cancelled occurrence: %v", it)
				}
			} else if it["type"] != "occurrence" || it["isCancelled"] != false {
				t.Fatalf("occurrence: %v", it)
			}
		}
		bySubject[it["subject"].(string)] = it
	}
	if standups != 7 || exceptions != 1 {
		t.Fatalf("daily stand-up: %d instances, %d exceptions; want 7 and 1", standups, exceptions)
	}
	if v := bySubject["Vacation"]; v["isAllDay"] != true || v["showAs"] != "oof" ||
		v["start"].(map[string]any)["dateTime"] != day.AddDate(0, 0, 1).Format("2006-01-02")+"T00:00:00.0000000" {
		t.Fatalf("all-day vacation: %v", v)
	}
	if v := bySubject["Cancelled planning"]; v["isCancelled"] != true || v["type"] != "singleInstance" || v["seriesMasterId"] != nil {
		t.Fatalf("cancelled meeting: %v", v)
	}
	if v := bySubject["Customer visit"]; v["showAs"] != "workingElsewhere" {
		t.Fatalf("working elsewhere: %v", v)
	}
	if v := bySubject["Weekly 1:1"]; v["type"] != "occurrence" || v["sensitivity"] != "private" {
		t.Fatalf("weekly: %v", v)
	}
	if v := bySubject["Maybe: lunch talk"]; v["showAs"] != "tentative" || v["organizer"].(map[string]any)["emailAddress"].(map[string]any)["address"] == "" {
		t.Fatalf("tentative: %v", v)
	}

	// Paging with $top and $skip nextLinks returns the same instances.
	var paged []string
	for u := e.graphURL + "/users/" + e.full.ID + "/calendarView?" + windowQuery(day.AddDate(0, 0, -3), day.AddDate(0, 0, 4)) + "&$top=4&$select=subject,start"; u != ""; {
		st, _, m := e.get(t, u, e.tok, nil)
		if st != 200 {
			t.Fatalf("page: %d %v", st, m)
		}
		for _, it := range values(t, m) {
			if _, ok := it["end"]; ok {
				t.Fatalf("$select leaked end: %v", it)
			}
			paged = append(paged, it["id"].(string))
		}
		u, _ = m["@odata.nextLink"].(string)
		if u != "" && !strings.Contains(u, "$skip=") {
			t.Fatalf("nextLink %s", u)
		}
	}
	if len(paged) != len(items) {
		t.Fatalf("paged %d instances, unpaged %d", len(paged), len(items))
	}
	// Default page size 10.
	_, _, m = e.get(t, "/users/"+e.full.ID+"/calendarView?"+windowQuery(day.AddDate(0, 0, -3), day.AddDate(0, 0, 4)), e.tok, nil)
	if len(values(t, m)) != 10 || m["@odata.nextLink"] == nil {
		t.Fatalf("default page: %d items", len(values(t, m)))
	}
	// $orderby desc reverses; other orders are refused.
	_, _, m = e.get(t, "/users/"+e.full.ID+"/calendarView?"+q+"&$orderby="+url.QueryEscape("start/dateTime desc"), e.tok, nil)
	if d := values(t, m); d[0]["id"] != items[len(items)-1]["id"] {
		t.Fatalf("desc order: first %v", d[0]["subject"])
	}
	st, _, m = e.get(t, "/users/"+e.full.ID+"/calendarView?"+q+"&$orderby=subject", e.tok, nil)
	wantError(t, "$orderby subject", st, m, 400, "ErrorInvalidUrlQuery")

	// A window with an offset: 05:00-06:00 at -05:00 is 10:00-11:00 UTC.
	w := "startDateTime=" + day.Format("2006-01-02") + "T05:00:00-05:00&endDateTime=" + day.Format("2006-01-02") + "T06:00:00-05:00"
	_, _, m = e.get(t, "/users/"+e.full.ID+"/calendarView?"+w, e.tok, nil)
	got := map[string]bool{}
	for _, it := range values(t, m) {
		got[it["subject"].(string)] = true
	}
	if !got["Project sync"] || !got["Overlapping review"] || got["Cancelled planning"] || got["Maybe: lunch talk"] {
		t.Fatalf("offset window: %v", got)
	}
}

func TestCalendarViewTimeZones(t *testing.T) {
	e := newMbEnv(t)
	day := mbDay()
	q := windowQuery(day, day.AddDate(0, 0, 3)) + "&$top=100"
	for _, c := range []struct{ pref, iana string }{{"Europe/Berlin", "Europe/Berlin"}, {"Pacific Standard Time", "America/Los_Angeles"}, {"UTC", "UTC"}} {
		st, h, m := e.get(t, "/users/"+e.full.ID+"/calendarView?"+q, e.tok, map[string]string{"Prefer": `outlook.timezone="` + c.pref + `"`})
		if st != 200 || h.Get("Preference-Applied") != `outlook.timezone="`+c.pref+`"` {
			t.Fatalf("%s: %d %q %v", c.pref, st, h.Get("Preference-Applied"), m)
		}
		loc, _ := time.LoadLocation(c.iana)
		for _, it := range values(t, m) {
			start := it["start"].(map[string]any)
			if start["timeZone"] != c.pref {
				t.Fatalf("%s: timeZone %v", c.pref, start["timeZone"])
			}
			switch it["subject"] {
			case "Project sync": // 09:00 UTC
				want := day.Add(9*time.Hour).In(loc).Format("2006-01-02T15:04:05") + ".0000000"
				if start["dateTime"] != want {
					t.Fatalf("%s: project sync at %v, want %s", c.pref, start["dateTime"], want)
				}
			case "Vacation": // all-day events float: midnight in every zone
				if start["dateTime"] != day.AddDate(0, 0, 1).Format("2006-01-02")+"T00:00:00.0000000" {
					t.Fatalf("%s: all-day start %v", c.pref, start)
				}
			}
		}
	}
	st, _, m := e.get(t, "/users/"+e.full.ID+"/calendarView?"+q, e.tok, map[string]string{"Prefer": `outlook.timezone="Mars/Olympus Mons"`})
	wantError(t, "unknown zone", st, m, 400, "TimeZoneNotSupportedException")
	st, _, m = e.get(t, "/users/"+e.full.ID+"/calendarView?"+q, e.tok, map[string]string{"Prefer": `outlook.timezone='UTC'`})
	wantError(t, "single quotes", st, m, 400, "TimeZoneNotSupportedException")
}

func TestCalendarErrors(t *testing.T) {
	e := newMbEnv(t)
	q := "?" + windowQuery(mbDay(), mbDay().AddDate(0, 0, 1))
	st, _, m := e.get(t, "/users/"+e.noMbx.ID+"/calendarView"+q, e.tok, nil)
	wantError(t, "no mailbox", st, m, 404, "MailboxNotEnabledForRESTAPI")
	st, _, m = e.get(t, "/users/ghost@"+Domain+"/calendarView"+q, e.tok, nil)
	wantError(t, "unknown user", st, m, 404, "ErrorInvalidUser")
	tok := e.tokenWithout(t, "Calendars.Read")
	st, _, m = e.get(t, "/users/"+e.full.ID+"/calendarView"+q, tok, nil)
	wantError(t, "without Calendars.Read", st, m, 403, "ErrorAccessDenied")
	st, _, m = e.post(t, "POST", "/users/"+e.full.ID+"/calendar/getSchedule", tok, map[string]any{"schedules": []string{e.full.Mail}}, nil)
	wantError(t, "getSchedule without Calendars.Read", st, m, 403, "ErrorAccessDenied")
}

// scheduleBody builds a getSchedule body for UTC times.
func scheduleBody(ids []string, from, to time.Time, interval any) map[string]any {
	b := map[string]any{
		"schedules": ids,
		"startTime": map[string]string{"dateTime": from.Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
		"endTime":   map[string]string{"dateTime": to.Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
	}
	if interval != nil {
		b["availabilityViewInterval"] = interval
	}
	return b
}

// scheduleItem is a $batch item posting the getSchedule body raw to anchor's calendar.
func scheduleItem(id, anchor string, raw []byte) map[string]any {
	return map[string]any{"id": id, "method": "POST", "url": "/users/" + anchor + "/calendar/getSchedule",
		"headers": map[string]string{"Content-Type": "application/json"}, "body": json.RawMessage(raw)}
}

// addDayMeetings gives u a known day of meetings (UTC hours of day).
func addDayMeetings(t *testing.T, s *Sim, userID string) {
	t.Helper()
	h := func(x float64) time.Time { return mbDay().Add(time.Duration(x * float64(time.Hour))) }
	for _, m := range []Meeting{
		{Subject: "Busy one", Start: h(9), End: h(10), ShowAs: "busy", Location: "Room 1"},
		{Subject: "Maybe", Start: h(10), End: h(11), ShowAs: "tentative"},
		{Subject: "Away", Start: h(11), End: h(12), ShowAs: "oof"},
		{Subject: "Overlap", Start: h(11.5), End: h(12.5), ShowAs: "busy"},
		{Subject: "Offsite", Start: h(13), End: h(14), ShowAs: "workingElsewhere"},
		{Subject: "Free slot", Start: h(14), End: h(15), ShowAs: "free"},
		{Subject: "Called off", Start: h(15), End: h(16), ShowAs: "busy"},
		{Subject: "Secret", Start: h(16), End: h(16.5), ShowAs: "busy", Sensitivity: "private", Location: "Hidden"},
	} {
		id, err := s.AddMeeting(userID, m)
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject == "Called off" {
			if err := s.CancelMeeting(userID, id); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestGetSchedule(t *testing.T) {
	e := newMbEnv(t)
	addDayMeetings(t, e.s, e.fresh.ID)
	day := mbDay()
	path := "/users/" + e.full.ID + "/calendar/getSchedule"
	ids := []string{e.fresh.Mail, "nobody@" + Domain, e.noMbx.UserPrincipalName, e.shared.Mail}
	st, _, m := e.post(t, "POST", path, e.tok, scheduleBody(ids, day.Add(9*time.Hour), day.Add(17*time.Hour), 60), nil)
	if st != 200 {
		t.Fatalf("getSchedule: %d %v", st, m)
	}
	if !strings.HasSuffix(m["@odata.context"].(string), "$metadata#Collection(microsoft.graph.scheduleInformation)") {
		t.Errorf("context %v", m["@odata.context"])
	}
	infos := values(t, m)
	if len(infos) != 4 {
		t.Fatalf("%d schedules", len(infos))
	}
	a := infos[0]
	if a["scheduleId"] != e.fresh.Mail || a["availabilityView"] != "21324002" {
		t.Fatalf("availabilityView %v (want 21324002: busy, tentative, oof over busy, busy, working elsewhere, free, cancelled, busy)", a["availabilityView"])
	}
	items := a["scheduleItems"].([]any)
	if len(items) != 7 {
		t.Fatalf("%d schedule items (the cancelled one must be left out): %v", len(items), items)
	}
	statuses := ""
	for _, x := range items {
		it := x.(map[string]any)
		statuses += it["status"].(string) + ","
		if it["subject"] == "Called off" {
			t.Fatalf("cancelled meeting in scheduleItems: %v", it)
		}
		if it["isPrivate"] == true && (it["subject"] != nil || it["location"] != nil) {
			t.Fatalf("private item leaks details: %v", it)
		}
		if it["start"].(map[string]any)["timeZone"] != "UTC" {
			t.Fatalf("item zone: %v", it)
		}
	}
	if statuses != "busy,tentative,oof,busy,workingElsewhere,free,busy," {
		t.Fatalf("statuses %s", statuses)
	}
	if first := items[0].(map[string]any); first["subject"] != "Busy one" || first["location"] != "Room 1" ||
		first["start"].(map[string]any)["dateTime"] != day.Format("2006-01-02")+"T09:00:00.0000000" {
		t.Fatalf("first item %v", first)
	}
	if wh, ok := a["workingHours"].(map[string]any); !ok || len(wh["daysOfWeek"].([]any)) != 5 {
		t.Fatalf("workingHours %v", a["workingHours"])
	}
	for i, who := range []string{"nobody@" + Domain, e.noMbx.UserPrincipalName} {
		er, _ := infos[i+1]["error"].(map[string]any)
		if er["responseCode"] != "5009" || er["message"] != fmt.Sprintf("Unable to resolve e-mail address %s to an Active Directory object.", who) {
			t.Fatalf("per-schedule error for %s: %v", who, infos[i+1])
		}
	}
	if infos[3]["availabilityView"] != "00000000" || infos[3]["error"] != nil {
		t.Fatalf("shared mailbox: %v", infos[3])
	}

	// Default interval 30; start/end in another zone; output zone from Prefer.
	body := scheduleBody([]string{e.fresh.UserPrincipalName}, day.Add(9*time.Hour), day.Add(17*time.Hour), nil)
	loc, _ := time.LoadLocation("Europe/Berlin")
	body["startTime"] = map[string]string{"dateTime": day.Add(9 * time.Hour).In(loc).Format("2006-01-02T15:04:05"), "timeZone": "W. Europe Standard Time"}
	st, h, m := e.post(t, "POST", path, e.tok, body, map[string]string{"Prefer": `outlook.timezone="Europe/Berlin"`})
	if st != 200 || h.Get("Preference-Applied") == "" {
		t.Fatalf("zoned getSchedule: %d %v", st, m)
	}
	v := values(t, m)[0]
	if v["availabilityView"] != "2211332044000020" {
		t.Fatalf("30-minute view %v", v["availabilityView"])
	}
	start := v["scheduleItems"].([]any)[0].(map[string]any)["start"].(map[string]any)
	if start["timeZone"] != "Europe/Berlin" || start["dateTime"] != day.Add(9*time.Hour).In(loc).Format("2006-01-02T15:04:05")+".0000000" {
		t.Fatalf("zoned item start %v", start)
	}

	// gzip bodies (the SDK's default) and $batch.
	raw, _ := json.Marshal(scheduleBody([]string{e.fresh.Mail}, day.Add(9*time.Hour), day.Add(10*time.Hour), 60))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw)
	zw.Close()
	st, _, rb := graphDo(t, e.c, "POST", e.graphURL+path, e.tok, gz.Bytes(), map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"})
	if st != 200 || !strings.Contains(string(rb), `"availabilityView":"2"`) {
		t.Fatalf("gzip getSchedule: %d %s", st, rb)
	}
	st, br, braw := postBatch(t, e.c, e.s, e.tok, []map[string]any{scheduleItem("a", e.fresh.ID, raw), scheduleItem("b", e.shared.ID, raw)}, false)
	if got := batchStatuses(br); st != 200 || got["a"] != 200 || got["b"] != 200 {
		t.Fatalf("batch: %d %s", st, braw)
	}
}

func TestGetScheduleLimits(t *testing.T) {
	e := newMbEnv(t)
	day := mbDay()
	path := "/users/" + e.full.ID + "/calendar/getSchedule"
	many := make([]string, 21)
	for i := range many {
		many[i] = e.full.Mail
	}
	st, _, m := e.post(t, "POST", path, e.tok, scheduleBody(many[:20], day, day.Add(time.Hour), nil), nil)
	if st != 200 || len(values(t, m)) != 20 {
		t.Fatalf("20 schedules: %d", st)
	}
	st, _, m = e.post(t, "POST", path, e.tok, scheduleBody(many, day, day.Add(time.Hour), nil), nil)
	wantError(t, "21 schedules", st, m, 400, "ErrorInvalidParameter")
	st, _, m = e.post(t, "POST", path, e.tok, scheduleBody(nil, day, day.Add(time.Hour), nil), nil)
	wantError(t, "no schedules", st, m, 400, "ErrorInvalidParameter")
	st, _, m = e.post(t, "POST", path, e.tok, scheduleBody(many[:1], day, day.AddDate(0, 0, 62), 1440), nil)
	wantError(t, "62 days", st, m, 400, "ErrorInvalidParameter")
	st, _, m = e.post(t, "POST", path, e.tok, scheduleBody(many[:1], day, day.AddDate(0, 0, 61), 1440), nil)
	if st != 200 || len(values(t, m)[0]["availabilityView"].(string)) != 61 {
		t.Fatalf("61 days: %d %v", st, m)
	}
	for _, iv := range []int{4, 1441} {
		st, _, m = e.post(t, "POST", path, e.tok, scheduleBody(many[:1], day, day.Add(time.Hour), iv), nil)
		wantError(t, fmt.Sprint("interval ", iv), st, m, 400, "ErrorInvalidParameter")
	}
	st, _, m = e.post(t, "POST", path, e.tok, `{"schedules":["`+e.full.Mail+`"],"startTime":{"dateTime":"`+day.Format("2006-01-02T15:04:05")+`","timeZone":"UTC"},"endTime":{"dateTime":"`+day.Add(time.Hour).Format("2006-01-02T15:04:05")+`","timeZone":"UTC"},"availabilityViewInterval":null}`, nil)
	wantError(t, "null interval (Graph answers 500)", st, m, 500, "ErrorInternalServerError")
	st, _, m = e.post(t, "POST", path, e.tok, scheduleBody(many[:1], day.Add(time.Hour), day, nil), nil)
	wantError(t, "end before start", st, m, 400, "ErrorInvalidParameter")
	b := scheduleBody(many[:1], day, day.Add(time.Hour), nil)
	delete(b, "startTime")
	st, _, m = e.post(t, "POST", path, e.tok, b, nil)
	wantError(t, "no startTime", st, m, 400, "ErrorInvalidParameter")
	b = scheduleBody(many[:1], day, day.Add(time.Hour), nil)
	b["startTime"] = map[string]string{"dateTime": day.Format("2006-01-02T15:04:05"), "timeZone": "Atlantis Standard Time"}
	st, _, m = e.post(t, "POST", path, e.tok, b, nil)
	wantError(t, "unknown zone", st, m, 400, "TimeZoneNotSupportedException")
	b = scheduleBody(many[:1], day, day.Add(time.Hour), nil)
	b["scheduleIds"] = []string{"x"}
	st, _, m = e.post(t, "POST", path, e.tok, b, nil)
	wantError(t, "unknown property", st, m, 400, "RequestBodyRead")
	st, _, m = e.post(t, "POST", path, e.tok, "{not json", nil)
	wantError(t, "bad JSON", st, m, 400, "UnableToDeserializePostBody")
	st, _, m = e.post(t, "POST", "/users/"+e.noMbx.ID+"/calendar/getSchedule", e.tok, scheduleBody(many[:1], day, day.Add(time.Hour), nil), nil)
	wantError(t, "anchor without mailbox", st, m, 404, "MailboxNotEnabledForRESTAPI")
}

// holdMailbox blocks Outlook handlers of userID until the returned release is called.
func holdMailbox(s *Sim, userID string) (release func()) {
	e := s.ext()
	ch := make(chan struct{})
	e.holdMu.Lock()
	e.hold, e.holdUser = ch, userID
	e.holdMu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(ch)
			e.holdMu.Lock()
			e.hold, e.holdUser = nil, ""
			e.holdMu.Unlock()
		})
	}
}

// inflight reports the concurrent requests on a mailbox.
func inflight(s *Sim, userID string) int {
	l := &s.ext().limiter
	l.mu.Lock()
	defer l.mu.Unlock()
	if b := l.m[userID]; b != nil {
		return b.inflight
	}
	return 0
}

func TestOutlookConcurrencyLimit(t *testing.T) {
	e := newMbEnv(t)
	day := mbDay()
	raw, _ := json.Marshal(scheduleBody([]string{e.fresh.Mail}, day, day.Add(time.Hour), nil))
	path := e.graphURL + "/users/" + e.full.ID + "/calendar/getSchedule"
	release := holdMailbox(e.s, e.full.ID)
	defer release()
	statuses := make(chan int, 4)
	for range 4 {
		go func() {
			req, _ := http.NewRequest("POST", path, bytes.NewReader(raw))
			req.Header.Set("Authorization", "Bearer "+e.tok)
			req.Header.Set("Content-Type", "application/json")
			resp, err := e.c.Do(req)
			if err != nil {
				statuses <- -1
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for inflight(e.s, e.full.ID) < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d requests in flight", inflight(e.s, e.full.ID))
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The fifth concurrent request on the same anchor mailbox is throttled…
	st, h, b := graphDo(t, e.c, "POST", path, e.tok, raw, map[string]string{"Content-Type": "application/json"})
	var m map[string]any
	json.Unmarshal(b, &m)
	wantError(t, "5th concurrent request", st, m, 429, "ApplicationThrottled")
	if h.Get("Retry-After") == "" || errMessage(m) != "Application is over its MailboxConcurrency limit." {
		t.Fatalf("429: Retry-After %q, %v", h.Get("Retry-After"), m)
	}
	// …also other Outlook routes of that mailbox, while other anchors are fine.
	st, _, m = e.get(t, "/users/"+e.full.ID+"/contacts", e.tok, nil)
	wantError(t, "contacts of the busy mailbox", st, m, 429, "ApplicationThrottled")
	st, _, _ = e.post(t, "POST", "/users/"+e.shared.ID+"/calendar/getSchedule", e.tok, raw, nil)
	if st != 200 {
		t.Fatalf("another anchor: %d", st)
	}
	// Inside $batch the throttled item carries its own 429 and Retry-After.
	_, br, braw := postBatch(t, e.c, e.s, e.tok, []map[string]any{scheduleItem("1", e.full.ID, raw), scheduleItem("2", e.fresh.ID, raw)}, false)
	if got := batchStatuses(br); got["1"] != 429 || got["2"] != 200 || !strings.Contains(string(braw), `"Retry-After":"1"`) {
		t.Fatalf("batch during throttling: %v %s", got, braw)
	}
	release()
	for range 4 {
		if st := <-statuses; st != 200 {
			t.Fatalf("held request: %d", st)
		}
	}
	st, _, _ = e.post(t, "POST", "/users/"+e.full.ID+"/calendar/getSchedule", e.tok, raw, nil)
	if st != 200 {
		t.Fatalf("after release: %d", st)
	}
}

func TestOutlookRateWindow(t *testing.T) {
	e := newMbEnv(t)
	q := "/users/" + e.full.ID + "/calendarView?" + windowQuery(mbDay(), mbDay().AddDate(0, 0, 1))
	if st, _, m := e.get(t, q, e.tok, nil); st != 200 {
		t.Fatalf("first: %d %v", st, m)
	}
	l := &e.s.ext().limiter
	l.mu.Lock()
	l.m[e.full.ID].count = OutlookRequestsPerWindow - 1 // as if 9,999 requests had been served
	l.mu.Unlock()
	if st, _, m := e.get(t, q, e.tok, nil); st != 200 {
		t.Fatalf("10,000th: %d %v", st, m)
	}
	st, h, m := e.get(t, q, e.tok, nil)
	wantError(t, "10,001st request in the window", st, m, 429, "ApplicationThrottled")
	if ra := h.Get("Retry-After"); ra != "600" {
		t.Fatalf("Retry-After %q, want the rest of the 10-minute window (600)", ra)
	}
	e.s.Advance(OutlookWindow)
	tok := token(t, e.c, e.s)
	if st, _, m := e.get(t, q, tok, nil); st != 200 {
		t.Fatalf("next window: %d %v", st, m)
	}
}
