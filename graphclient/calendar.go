package graphclient

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// graphTime is Graph's dateTimeTimeZone.
type graphTime struct {
	DateTime string `json:"dateTime"`
	TimeZone string `json:"timeZone"`
}

// wireTimeLayout is how pbx365 sends times (always in UTC).
const wireTimeLayout = "2006-01-02T15:04:05"

func toGraphTime(t time.Time) graphTime {
	return graphTime{DateTime: t.UTC().Format(wireTimeLayout), TimeZone: "UTC"}
}

// utc converts a dateTimeTimeZone to a UTC instant. pbx365 asks for UTC
// (Prefer: outlook.timezone="UTC"); IANA zone names are understood too.
func (g graphTime) utc() (time.Time, error) {
	if g.DateTime == "" {
		return time.Time{}, errors.New("empty dateTime")
	}
	if t, err := time.Parse(time.RFC3339Nano, g.DateTime); err == nil {
		return t.UTC(), nil // carries its own offset
	}
	loc := time.UTC
	switch tz := strings.TrimSpace(g.TimeZone); strings.ToLower(tz) {
	case "", "utc", "etc/utc", "coordinated universal time", "z", "gmt":
	default:
		l, err := time.LoadLocation(tz)
		if err != nil {
			return time.Time{}, fmt.Errorf("time zone %q not understood", tz)
		}
		loc = l
	}
	t, err := time.ParseInLocation("2006-01-02T15:04:05.9999999", g.DateTime, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("dateTime %q: %w", g.DateTime, err)
	}
	return t.UTC(), nil
}

// parseFreeBusy maps Graph's status strings (case-insensitively) to FreeBusy.
func parseFreeBusy(s string) FreeBusy {
	switch strings.ToLower(s) {
	case "free":
		return FreeBusyFree
	case "tentative":
		return FreeBusyTentative
	case "busy":
		return FreeBusyBusy
	case "oof":
		return FreeBusyOOF
	case "workingelsewhere":
		return FreeBusyWorkingElsewhere
	}
	return FreeBusyUnknown
}

var preferUTC = map[string]string{"Prefer": `outlook.timezone="UTC"`}

type eventJSON struct {
	ID          string    `json:"id"`
	Subject     string    `json:"subject"`
	ShowAs      string    `json:"showAs"`
	Start       graphTime `json:"start"`
	End         graphTime `json:"end"`
	IsAllDay    bool      `json:"isAllDay"`
	IsCancelled bool      `json:"isCancelled"`
	Type        string    `json:"type"`
}

// CalendarView returns the events of a mailbox's calendar that overlap
// [start, end): single instances, occurrences and exceptions, times in UTC.
func (c *Client) CalendarView(ctx context.Context, userID string, start, end time.Time) ([]Event, error) {
	if strings.TrimSpace(userID) == "" {
		return nil, errors.New("calendar view: empty user id")
	}
	op := "calendar view of " + userID
	if !end.After(start) {
		return nil, fmt.Errorf("%s: end %s is not after start %s", op, end, start)
	}
	q := url.Values{
		"startDateTime": {start.UTC().Format(time.RFC3339)},
		"endDateTime":   {end.UTC().Format(time.RFC3339)},
		"$select":       {"id,subject,showAs,start,end,isAllDay,isCancelled,type"},
		"$top":          {"100"},
	}
	var out []Event
	var perr error
	_, err := pageAll(ctx, c, c.url("/users/"+pathEscape(userID)+"/calendarView", q), preferUTC, func(p []eventJSON) error {
		for _, e := range p {
			s, err1 := e.Start.utc()
			en, err2 := e.End.utc()
			if err := errors.Join(err1, err2); err != nil {
				perr = fmt.Errorf("event %s: %w", e.ID, err)
				return perr
			}
			out = append(out, Event{ID: e.ID, Subject: e.Subject, ShowAs: parseFreeBusy(e.ShowAs), Start: s, End: en,
				IsAllDay: e.IsAllDay, IsCancelled: e.IsCancelled, Type: e.Type})
		}
		return nil
	})
	if err != nil {
		if perr != nil {
			return nil, fmt.Errorf("%s: %w", op, perr)
		}
		return nil, c.wrap(op, err)
	}
	return out, nil
}
