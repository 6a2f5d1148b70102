package m365sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// eventRow is one calendarView instance rendered in a time zone.
type eventRow struct {
	occ   Occurrence
	loc   *time.Location
	zone  string
	owner *User
}

func (e *eventRow) typ() string {
	if e.occ.Type == "occurrence" && e.occ.IsCancelled && !e.occ.Event.IsCancelled {
		return "exception" // a cancelled occurrence is an exception of its series
	}
	return e.occ.Type
}

func eventProp(name string, f func(b []byte, e *eventRow) []byte) propDef {
	return propDef{name: name, defaultOut: true, kind: fieldString, filter: "-",
		appendJSON: func(b []byte, o any) []byte { return f(b, o.(*eventRow)) }}
}

func eventConst(name, value string) propDef {
	return eventProp(name, func(b []byte, _ *eventRow) []byte { return append(b, value...) })
}

func appendEmailAddressObj(b []byte, name, addr string) []byte {
	b = append(b, `{"emailAddress":{"name":`...)
	b = appendJSONString(b, name)
	b = append(b, `,"address":`...)
	b = appendJSONString(b, addr)
	return append(b, `}}`...)
}

// eventSchema is microsoft.graph.event as calendarView returns it.
var eventSchema = newSchema("microsoft.graph.event", "events", []propDef{
	eventProp("id", func(b []byte, e *eventRow) []byte { return appendJSONString(b, e.occ.ID) }),
	eventProp("createdDateTime", func(b []byte, e *eventRow) []byte { return appendTime(b, e.occ.Event.CreatedDateTime) }),
	eventProp("lastModifiedDateTime", func(b []byte, e *eventRow) []byte { return appendTime(b, e.occ.Event.LastModifiedDateTime) }),
	eventProp("changeKey", func(b []byte, e *eventRow) []byte { return appendJSONString(b, e.occ.Event.ChangeKey) }),
	eventConst("categories", "[]"),
	eventConst("transactionId", "null"),
	eventConst("originalStartTimeZone", `"UTC"`),
	eventConst("originalEndTimeZone", `"UTC"`),
	eventProp("iCalUId", func(b []byte, e *eventRow) []byte { return appendJSONString(b, e.occ.Event.ICalUID) }),
	eventConst("reminderMinutesBeforeStart", "15"),
	eventConst("isReminderOn", "true"),
	eventConst("hasAttachments", "false"),
	eventProp("subject", func(b []byte, e *eventRow) []byte { return appendJSONString(b, e.occ.Event.Subject) }),
	eventConst("bodyPreview", `""`),
	eventConst("importance", `"normal"`),
	eventProp("sensitivity", func(b []byte, e *eventRow) []byte {
		return appendJSONString(b, orDefault(e.occ.Event.Sensitivity, "normal"))
	}),
	eventProp("isAllDay", func(b []byte, e *eventRow) []byte { return strconv.AppendBool(b, e.occ.Event.IsAllDay) }),
	eventProp("isCancelled", func(b []byte, e *eventRow) []byte { return strconv.AppendBool(b, e.occ.IsCancelled) }),
	eventProp("isOrganizer", func(b []byte, e *eventRow) []byte { return strconv.AppendBool(b, e.isOrganizer()) }),
	eventConst("responseRequested", "true"),
	eventProp("seriesMasterId", func(b []byte, e *eventRow) []byte {
		if e.occ.Type == "singleInstance" {
			return append(b, "null"...)
		}
		return appendJSONString(b, e.occ.Event.ID)
	}),
	eventProp("showAs", func(b []byte, e *eventRow) []byte { return appendJSONString(b, orDefault(e.occ.Event.ShowAs, "busy")) }),
	eventProp("type", func(b []byte, e *eventRow) []byte { return appendJSONString(b, e.typ()) }),
	eventProp("webLink", func(b []byte, e *eventRow) []byte {
		return appendJSONString(b, "https://outlook.office365.com/owa/?itemid="+e.occ.ID+"&exvsurl=1&path=/calendar/item")
	}),
	eventConst("onlineMeetingUrl", "null"),
	eventConst("isOnlineMeeting", "false"),
	eventConst("onlineMeetingProvider", `"unknown"`),
	eventConst("allowNewTimeProposals", "true"),
	eventConst("isDraft", "false"),
	eventConst("hideAttendees", "false"),
	eventProp("responseStatus", func(b []byte, e *eventRow) []byte {
		if e.isOrganizer() {
			return append(b, `{"response":"organizer","time":"0001-01-01T00:00:00Z"}`...)
		}
		return append(b, `{"response":"accepted","time":"0001-01-01T00:00:00Z"}`...)
	}),
	eventConst("body", `{"contentType":"html","content":""}`),
	eventProp("start", func(b []byte, e *eventRow) []byte {
		return appendDateTimeTZ(b, e.occ.Start, e.loc, e.zone, e.occ.Event.IsAllDay)
	}),
	eventProp("end", func(b []byte, e *eventRow) []byte {
		return appendDateTimeTZ(b, e.occ.End, e.loc, e.zone, e.occ.Event.IsAllDay)
	}),
	eventProp("location", func(b []byte, e *eventRow) []byte {
		b = append(b, `{"displayName":`...)
		b = appendJSONString(b, e.occ.Event.Location)
		return append(b, `,"locationType":"default","uniqueIdType":"unknown","address":{},"coordinates":{}}`...)
	}),
	eventConst("locations", "[]"),
	eventConst("recurrence", "null"),
	eventConst("attendees", "[]"),
	eventProp("organizer", func(b []byte, e *eventRow) []byte {
		addr := e.occ.Event.Organizer
		if addr == "" {
			addr = orDefault(e.owner.Mail, e.owner.UserPrincipalName)
		}
		return appendEmailAddressObj(b, addr, addr)
	}),
	eventConst("onlineMeeting", "null"),
})

func (e *eventRow) isOrganizer() bool {
	org := e.occ.Event.Organizer
	return org == "" || strings.EqualFold(org, e.owner.Mail) || strings.EqualFold(org, e.owner.UserPrincipalName)
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// accessCalendars is the Calendars.Read rule (Outlook-style 403).
var accessCalendars = access{roles: []string{"Calendars.Read"}, mailbox: true}

// Limits of getSchedule (graph.md §4.3).
const (
	MaxScheduleIDs       = 20
	MaxScheduleWindow    = 62 * 24 * time.Hour // the window must be shorter
	defaultAvailInterval = 30
)

func init() {
	registerExtension(func(s *Sim) {
		s.outlookRoute("GET /users/{id}/calendarView", accessCalendars, s.calendarView)
		s.outlookRoute("GET /users/{id}/calendar/calendarView", accessCalendars, s.calendarView)
		s.outlookRoute("POST /users/{id}/calendar/getSchedule", accessCalendars, s.getSchedule)
		s.outlookRoute("POST /users/{id}/calendar/microsoft.graph.getSchedule", accessCalendars, s.getSchedule)
	})
}

// occurrencesIn expands mb's events into the instances overlapping [from, to),
// ordered by start then id.
func occurrencesIn(mb *Mailbox, from, to time.Time) []Occurrence {
	var out []Occurrence
	for _, e := range mb.Events {
		out = append(out, e.Occurrences(from, to)...)
	}
	slices.SortFunc(out, func(a, b Occurrence) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// calendarView serves /users/{id}/calendarView and /users/{id}/calendar/calendarView.
func (s *Sim) calendarView(w http.ResponseWriter, r *http.Request, userID string) {
	oq, fe := parseOutlookQuery(r, eventSchema, "startDateTime", "endDateTime", "$orderby")
	if fe != nil {
		s.graphError(w, r, http.StatusBadRequest, fe.code, fe.msg)
		return
	}
	q := oq.raw
	window, ok := s.calendarWindow(w, r, q)
	if !ok {
		return
	}
	desc := false
	switch ob := strings.TrimSpace(q.Get("$orderby")); ob {
	case "", "start/dateTime", "start/dateTime asc":
	case "start/dateTime desc":
		desc = true
	default:
		s.graphError(w, r, http.StatusBadRequest, "ErrorInvalidUrlQuery", fmt.Sprintf("The $orderby '%s' is not supported by the simulator; use start/dateTime [asc|desc].", ob))
		return
	}
	loc, zone, applied, ok := s.outlookZone(w, r)
	if !ok {
		return
	}
	page := &outlookPage{oq: oq}
	found := s.withMailbox(w, r, userID, func(t *tenant, u *User, mb *Mailbox) {
		occs := occurrencesIn(mb, window[0], window[1])
		if desc {
			slices.Reverse(occs)
		}
		for _, o := range occs {
			if !page.add(func(b []byte) []byte {
				return appendOutlookItem(b, eventSchema, &eventRow{o, loc, zone, u}, oq.sel, o.Event.ChangeKey, false)
			}) {
				break
			}
		}
	})
	if !found {
		return
	}
	var hdr []string
	if applied != "" {
		hdr = []string{"Preference-Applied", applied}
	}
	s.writeOutlookPage(w, r, "users('"+userID+"')/calendarView", page, hdr...)
}

// calendarWindow reads the required startDateTime and endDateTime (ISO 8601,
// no offset = UTC), writing Graph's 400 ErrorInvalidParameter when they are
// missing or malformed.
func (s *Sim) calendarWindow(w http.ResponseWriter, r *http.Request, q url.Values) ([2]time.Time, bool) {
	var window [2]time.Time
	if q.Get("startDateTime") == "" || q.Get("endDateTime") == "" {
		s.graphError(w, r, http.StatusBadRequest, "ErrorInvalidParameter", "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.")
		return window, false
	}
	for i, name := range []string{"startDateTime", "endDateTime"} {
		t, err := parseOutlookTime(q.Get(name), time.UTC)
		if err != nil {
			s.graphError(w, r, http.StatusBadRequest, "ErrorInvalidParameter", fmt.Sprintf("The value '%s' of parameter '%s' is invalid: %v (e.g. 2026-01-02T15:04:05Z or 2026-01-02T15:04:05-08:00, '+' escaped as %%2B).", q.Get(name), name, err))
			return window, false
		}
		window[i] = t
	}
	return window, true
}

// dateTimeTimeZone is Graph's {"dateTime","timeZone"}.
type dateTimeTimeZone struct {
	DateTime string `json:"dateTime"`
	TimeZone string `json:"timeZone"`
}

// scheduleRequest is getSchedule's body.
type scheduleRequest struct {
	Schedules                []string          `json:"schedules"`
	StartTime                *dateTimeTimeZone `json:"startTime"`
	EndTime                  *dateTimeTimeZone `json:"endTime"`
	AvailabilityViewInterval json.RawMessage   `json:"availabilityViewInterval"`
}

// availabilityDigit is the availabilityView digit of a showAs value.
var availabilityDigit = map[string]byte{"free": '0', "tentative": '1', "busy": '2', "oof": '3', "workingElsewhere": '4', "unknown": '0'}

// availabilityRank orders statuses when items overlap in one interval:
// oof > busy > tentative > workingElsewhere > free.
var availabilityRank = map[byte]int{'0': 0, '4': 1, '1': 2, '2': 3, '3': 4}

// getSchedule serves POST /users/{anchor}/calendar/getSchedule.
func (s *Sim) getSchedule(w http.ResponseWriter, r *http.Request, _ string) {
	var req scheduleRequest
	if !s.decodeGraphBody(w, r, &req, "microsoft.graph.getSchedule") {
		return
	}
	bad := func(format string, args ...any) {
		s.graphError(w, r, http.StatusBadRequest, "ErrorInvalidParameter", fmt.Sprintf(format, args...))
	}
	interval := defaultAvailInterval
	switch raw := bytes.TrimSpace(req.AvailabilityViewInterval); {
	case len(raw) == 0:
	case string(raw) == "null":
		// Observed on Graph (docs#4494): an explicit null is a server error.
		s.graphError(w, r, http.StatusInternalServerError, "ErrorInternalServerError", "An internal server error occurred. The operation failed., Object reference not set to an instance of an object.")
		return
	default:
		n, err := strconv.Atoi(string(raw))
		if err != nil {
			s.graphError(w, r, http.StatusBadRequest, "RequestBodyRead", fmt.Sprintf("Cannot convert the literal '%s' to the expected type 'Edm.Int32' (availabilityViewInterval).", raw))
			return
		}
		if n < 5 || n > 1440 {
			bad("The value %d of availabilityViewInterval is invalid: use 5..1440 minutes.", n)
			return
		}
		interval = n
	}
	switch {
	case len(req.Schedules) == 0:
		bad("The schedules parameter is empty: give 1..%d e-mail addresses.", MaxScheduleIDs)
		return
	case len(req.Schedules) > MaxScheduleIDs:
		bad("Too many schedules: %d were requested, the maximum is %d per request.", len(req.Schedules), MaxScheduleIDs)
		return
	case req.StartTime == nil || req.EndTime == nil:
		bad("startTime and endTime are required ({\"dateTime\":\"2026-01-02T09:00:00\",\"timeZone\":\"UTC\"}).")
		return
	}
	var window [2]time.Time
	for i, dt := range []*dateTimeTimeZone{req.StartTime, req.EndTime} {
		loc, err := resolveZone(dt.TimeZone)
		if err != nil {
			s.graphError(w, r, http.StatusBadRequest, "TimeZoneNotSupportedException", fmt.Sprintf("A valid TimeZone value must be specified. The following TimeZone value is not supported: '%s'.", dt.TimeZone))
			return
		}
		t, err := parseOutlookTime(dt.DateTime, loc)
		if err != nil {
			bad("The dateTime '%s' is invalid: %v.", dt.DateTime, err)
			return
		}
		window[i] = t
	}
	if !window[1].After(window[0]) {
		bad("endTime must be after startTime.")
		return
	}
	if window[1].Sub(window[0]) >= MaxScheduleWindow {
		bad("The requested time window is too long: it must be shorter than 62 days.")
		return
	}
	loc, zone, applied, ok := s.outlookZone(w, r)
	if !ok {
		return
	}
	nIntervals := int((window[1].Sub(window[0]) + time.Duration(interval)*time.Minute - 1) / (time.Duration(interval) * time.Minute))
	b := make([]byte, 0, 256*len(req.Schedules))
	b = append(b, `{"@odata.context":`...)
	b = appendJSONString(b, s.GraphURL()+"/$metadata#Collection(microsoft.graph.scheduleInformation)")
	b = append(b, `,"value":[`...)
	s.read(func(t *tenant) {
		for i, addr := range req.Schedules {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"scheduleId":`...)
			b = appendJSONString(b, addr)
			u, mb := scheduleMailbox(t, addr)
			if mb == nil {
				b = append(b, `,"availabilityView":"","scheduleItems":[],"error":{"message":`...)
				b = appendJSONString(b, fmt.Sprintf("Unable to resolve e-mail address %s to an Active Directory object.", addr))
				b = append(b, `,"responseCode":"5009"}}`...)
				continue
			}
			b = s.appendSchedule(b, u, mb, window[0], window[1], interval, nIntervals, loc, zone)
		}
	})
	b = append(b, "]}"...)
	if applied != "" {
		w.Header().Set("Preference-Applied", applied)
	}
	writeOData(w, http.StatusOK, b)
}

// scheduleMailbox resolves a getSchedule address (mail or UPN) to a mailbox.
func scheduleMailbox(t *tenant, addr string) (*User, *Mailbox) {
	addr = strings.TrimSpace(addr)
	if addr == "" {
		return nil, nil
	}
	u := t.byUPN[strings.ToLower(addr)]
	if u == nil || !strings.EqualFold(u.Mail, addr) && !strings.EqualFold(u.UserPrincipalName, addr) {
		u = nil
		for _, x := range t.users {
			if strings.EqualFold(x.Mail, addr) {
				u = x
				break
			}
		}
	}
	if u == nil || u.SoftDeleted() || u.Mailbox == MailboxNone {
		return nil, nil
	}
	return u, t.mailbox(u.ID)
}

// appendSchedule renders one scheduleInformation (without the leading scheduleId).
func (s *Sim) appendSchedule(b []byte, u *User, mb *Mailbox, from, to time.Time, interval, n int, loc *time.Location, zone string) []byte {
	view := bytes.Repeat([]byte{'0'}, n)
	step := time.Duration(interval) * time.Minute
	var items []byte
	k := 0
	for _, o := range occurrencesIn(mb, from, to) {
		if o.IsCancelled {
			continue
		}
		status := orDefault(o.Event.ShowAs, "busy")
		d := availabilityDigit[status]
		if d == 0 {
			d = '0'
		}
		for i := range n {
			is, ie := from.Add(time.Duration(i)*step), from.Add(time.Duration(i+1)*step)
			if o.Start.Before(ie) && o.End.After(is) && availabilityRank[d] > availabilityRank[view[i]] {
				view[i] = d
			}
		}
		if k > 0 {
			items = append(items, ',')
		}
		k++
		private := o.Event.Sensitivity == "private" || o.Event.Sensitivity == "confidential"
		items = append(items, `{"isPrivate":`...)
		items = strconv.AppendBool(items, private)
		items = append(items, `,"status":`...)
		items = appendJSONString(items, status)
		if !private {
			items = append(items, `,"subject":`...)
			items = appendJSONString(items, o.Event.Subject)
			items = append(items, `,"location":`...)
			items = appendJSONString(items, o.Event.Location)
		}
		items = append(items, `,"start":`...)
		items = appendDateTimeTZ(items, o.Start, loc, zone, false)
		items = append(items, `,"end":`...)
		items = appendDateTimeTZ(items, o.End, loc, zone, false)
		items = append(items, '}')
	}
	b = append(b, `,"availabilityView":"`...)
	b = append(b, view...)
	b = append(b, `","scheduleItems":[`...)
	b = append(b, items...)
	b = append(b, `],"workingHours":{"daysOfWeek":["monday","tuesday","wednesday","thursday","friday"],"startTime":"08:00:00.0000000","endTime":"17:00:00.0000000","timeZone":{"name":"UTC"}}}`...)
	return b
}
