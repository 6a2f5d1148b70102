package m365sim

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// calDeltaRound follows a calendarView delta round; it returns the items by id.
func calDeltaRound(t *testing.T, e *mbEnv, first string) (map[string]map[string]any, string, int) {
	t.Helper()
	got := map[string]map[string]any{}
	pages := 0
	for u := first; ; {
		st, _, m := e.get(t, u, e.tok, map[string]string{"Prefer": "odata.maxpagesize=3"})
		if st != 200 {
			t.Fatalf("GET %s: %d %v", u, st, m)
		}
		pages++
		for _, it := range values(t, m) {
			if it["@odata.type"] != "#microsoft.graph.event" {
				t.Fatalf("item without @odata.type: %v", it)
			}
			got[it["id"].(string)] = it
		}
		if dl, _ := m["@odata.deltaLink"].(string); dl != "" {
			return got, dl, pages
		}
		next, _ := m["@odata.nextLink"].(string)
		if !strings.Contains(next, "$skiptoken=") {
			t.Fatalf("page without links: %v", m)
		}
		u = next
	}
}

func TestCalendarViewDelta(t *testing.T) {
	e := newMbEnv(t)
	day := mbDay()
	h := func(x float64) time.Time { return day.Add(time.Duration(x * float64(time.Hour))) }
	single, err := e.s.AddMeeting(e.fresh.ID, Meeting{Subject: "Single", Start: h(9), End: h(10)})
	if err != nil {
		t.Fatal(err)
	}
	series, err := e.s.AddMeeting(e.fresh.ID, Meeting{Subject: "Series", Start: h(8), End: h(8.5), Recurrence: &Recurrence{Pattern: "daily", Interval: 1, Count: 5}})
	if err != nil {
		t.Fatal(err)
	}
	gone, err := e.s.AddMeeting(e.fresh.ID, Meeting{Subject: "Gone", Start: h(12), End: h(13)})
	if err != nil {
		t.Fatal(err)
	}
	window := windowQuery(day, day.AddDate(0, 0, 3)) // three occurrences of the series
	items, link, pages := calDeltaRound(t, e, e.graphURL+"/users/"+e.fresh.ID+"/calendarView/delta()?"+window)
	if len(items) != 5 || pages != 2 || items[single]["subject"] != "Single" || items[series] != nil {
		t.Fatalf("initial round (%d pages): %v", pages, items)
	}
	if st := items[single]["start"].(map[string]any); st["timeZone"] != "UTC" || st["dateTime"] != day.Format("2006-01-02")+"T09:00:00.0000000" {
		t.Fatalf("start %v", st)
	}
	items, link, _ = calDeltaRound(t, e, link)
	if len(items) != 0 {
		t.Fatalf("quiet round: %v", items)
	}
	// Changes: a new meeting, a cancellation, one cancelled occurrence, a meeting moved out of the window.
	added, err := e.s.AddMeeting(e.fresh.ID, Meeting{Subject: "Added", Start: h(15), End: h(16), ShowAs: "tentative"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.s.CancelMeeting(e.fresh.ID, single); err != nil {
		t.Fatal(err)
	}
	occ := occurrenceID(series, h(8).AddDate(0, 0, 1))
	if err := e.s.CancelMeeting(e.fresh.ID, occ); err != nil {
		t.Fatal(err)
	}
	if err := e.s.MoveMeeting(e.fresh.ID, gone, h(24*10), h(24*10+1)); err != nil {
		t.Fatal(err)
	}
	items, link, _ = calDeltaRound(t, e, link)
	if items[added]["showAs"] != "tentative" || items[single]["isCancelled"] != true || items[occ]["type"] != "exception" || items[occ]["isCancelled"] != true {
		t.Fatalf("changes round: %v", items)
	}
	if r, _ := items[gone]["@removed"].(map[string]any); r["reason"] != "deleted" {
		t.Fatalf("moved out of the window: %v", items[gone])
	}
	// A cancelled occurrence changes the series' change key: every occurrence comes again.
	if len(items) != 6 {
		t.Fatalf("changes round has %d items: %v", len(items), items)
	}
	// Deleting the series removes each of its occurrences.
	if err := e.s.DeleteEvent(e.fresh.ID, series); err != nil {
		t.Fatal(err)
	}
	items, link, _ = calDeltaRound(t, e, link)
	if len(items) != 3 {
		t.Fatalf("series deletion: %v", items)
	}
	for id, it := range items {
		if !strings.HasPrefix(id, series+"_") || it["@removed"] == nil {
			t.Fatalf("removal %s: %v", id, it)
		}
	}
	// The /calendar/ form and microsoft.graph.delta work too.
	items, _, _ = calDeltaRound(t, e, e.graphURL+"/users/"+e.fresh.UserPrincipalName+"/calendar/calendarView/microsoft.graph.delta?"+window)
	if len(items) != 2 {
		t.Fatalf("second initial round: %v", items)
	}
	// Refusals.
	st, _, m := e.get(t, "/users/"+e.fresh.ID+"/calendarView/delta", e.tok, nil)
	wantError(t, "no window", st, m, 400, "ErrorInvalidParameter")
	st, _, m = e.get(t, "/users/"+e.fresh.ID+"/calendarView/delta?"+window+"&$select=subject", e.tok, nil)
	wantError(t, "$select", st, m, 400, "ErrorInvalidUrlQuery")
	st, _, m = e.get(t, "/users/"+e.fresh.ID+"/calendarView/delta?$deltatoken=eHh4eHh4eHh4eHh4eHh4", e.tok, nil)
	wantError(t, "garbage token", st, m, 410, "syncStateNotFound")
	u, _ := url.Parse(link)
	tok := u.Query().Get("$deltatoken")
	st, _, m = e.get(t, "/users/"+e.full.ID+"/calendarView/delta?$deltatoken="+url.QueryEscape(tok), e.tok, nil)
	wantError(t, "another mailbox's token", st, m, 410, "syncStateNotFound")
	st, _, m = e.get(t, "/users/"+e.fresh.ID+"/calendarView/delta?$skiptoken="+url.QueryEscape(tok), e.tok, nil)
	wantError(t, "deltatoken as skiptoken", st, m, 410, "syncStateNotFound")
	e.s.Advance(DeltaTokenLifetime + time.Minute)
	e.tok = token(t, e.c, e.s)
	st, _, m = e.get(t, link, e.tok, nil)
	wantError(t, "expired", st, m, 410, "syncStateNotFound")
	tok2 := e.tokenWithout(t, "Calendars.Read")
	st, _, m = e.get(t, "/users/"+e.fresh.ID+"/calendarView/delta?"+window, tok2, nil)
	wantError(t, "without Calendars.Read", st, m, 403, "ErrorAccessDenied")
}
