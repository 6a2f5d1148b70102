package m365sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // IANA zones for Prefer: outlook.timezone on machines without zoneinfo
)

// The mailbox side of the simulator (mailbox_*.go) and change notifications
// (subscriptions_*.go). Routes, relative to /v1.0, all usable inside $batch:
//
//	GET  /users/{id|upn}/contacts[/{cid}]                     default folder (Contacts.Read)
//	GET  /users/{id}/contactFolders[/{fid}[/childFolders]]   child folders of the default folder
//	GET  /users/{id}/contactFolders/{fid}/contacts            also …/childFolders/{cfid}/contacts
//	GET  /users/{id}/contacts/delta, …/contactFolders/{fid}/contacts/delta (also delta(), microsoft.graph.delta[()])
//	GET  /users/{id}/calendarView, /users/{id}/calendar/calendarView (Calendars.Read)
//	GET  /users/{id}/calendarView/delta (also delta(), under /calendar, microsoft.graph.delta[()])
//	POST /users/{id}/calendar/getSchedule                     (Calendars.Read; the {id} mailbox is the anchor)
//	POST /users/{id}/sendMail                                 (Mail.Send; JSON or base64 MIME)
//	POST|GET /subscriptions, GET|PATCH|DELETE /subscriptions/{id}, POST /subscriptions/{id}/reauthorize
//
// Every Outlook route counts against its mailbox's throttling budget
// (OutlookConcurrency, OutlookRequestsPerWindow) and answers 404
// ErrorInvalidUser / MailboxNotEnabledForRESTAPI for unknown users and users
// without a mailbox. Collections page with absolute nextLinks carrying $skip,
// as Outlook does (default page size 10, $top 1..1000, or Prefer:
// odata.maxpagesize). Where Graph's documentation is silent the sim chooses
// (the comments at each rule say more): availabilityView precedence oof > busy > tentative > workingElsewhere > free;
// all-day events float (midnight in any requested zone); contact delta tokens
// live DeltaTokenLifetime; Outlook subscriptions live at most 10,080 minutes.

// Outlook throttling limits per app and mailbox (graph.md §7.2).
const (
	// OutlookConcurrency is how many requests may run at once against one mailbox.
	OutlookConcurrency = 4
	// OutlookRequestsPerWindow is how many requests one mailbox accepts per OutlookWindow.
	OutlookRequestsPerWindow = 10000
	// OutlookWindow is the rate window of OutlookRequestsPerWindow, on the sim clock.
	OutlookWindow = 10 * time.Minute
	// outlookPageSize is Outlook's default page size for collections and delta.
	outlookPageSize = 10
	// outlookMaxTop is the largest $top Outlook collections accept.
	outlookMaxTop = 1000
)

// simExt is the state of the mailbox and subscription extensions of one Sim
// (kept in the core's per-Sim extension map).
type simExt struct {
	limiter outlookLimiter
	sentMu  sync.Mutex
	sent    []SentMessage
	// hold, when set (tests), blocks Outlook handlers of mailbox holdUser while
	// they hold their concurrency slot, so the limit can be tested deterministically.
	holdMu   sync.Mutex
	hold     chan struct{}
	holdUser string
	subs     subState
	calSync  calSyncStore
}

// ext returns the extension state of s, creating it on first use.
func (s *Sim) ext() *simExt {
	return s.extension("mailbox+subscriptions", func() any { return newSimExt() }).(*simExt)
}

func newSimExt() *simExt {
	e := &simExt{}
	e.limiter.m = map[string]*mailboxBudget{}
	e.subs.init()
	return e
}

// mailboxBudget is one mailbox's throttling state.
type mailboxBudget struct {
	inflight    int
	windowStart time.Time
	count       int
}

// outlookLimiter enforces OutlookConcurrency and OutlookRequestsPerWindow per mailbox.
type outlookLimiter struct {
	mu sync.Mutex
	m  map[string]*mailboxBudget
}

// acquire takes a slot for mailbox id at sim time now. On refusal it returns
// the message and Retry-After for Graph's 429 ApplicationThrottled.
func (l *outlookLimiter) acquire(id string, now time.Time) (release func(), msg string, retry time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.m[id]
	if b == nil {
		b = &mailboxBudget{windowStart: now}
		l.m[id] = b
	}
	if now.Sub(b.windowStart) >= OutlookWindow || now.Before(b.windowStart) {
		b.windowStart, b.count = now, 0
	}
	if b.inflight >= OutlookConcurrency {
		return nil, "Application is over its MailboxConcurrency limit.", time.Second
	}
	if b.count >= OutlookRequestsPerWindow {
		return nil, "Application is over its MailboxRequestRate limit.", b.windowStart.Add(OutlookWindow).Sub(now)
	}
	b.inflight++
	b.count++
	return func() {
		l.mu.Lock()
		b.inflight--
		l.mu.Unlock()
	}, "", 0
}

// mailboxLookupError is why an Outlook path's user cannot be served.
type mailboxLookupError struct{ code, msg string }

// lookupMailboxUser resolves an Outlook path's {id} (object id or UPN) to a
// live user with a mailbox. Caller holds the tenant lock.
func lookupMailboxUser(t *tenant, idOrUPN string) (*User, *Mailbox, *mailboxLookupError) {
	u := t.activeUser(idOrUPN)
	if u == nil {
		return nil, nil, &mailboxLookupError{"ErrorInvalidUser", fmt.Sprintf("The requested user '%s' is invalid.", idOrUPN)}
	}
	mb := t.mailbox(u.ID)
	if u.Mailbox == MailboxNone || mb == nil {
		return nil, nil, &mailboxLookupError{"MailboxNotEnabledForRESTAPI", "The mailbox is either inactive, soft-deleted, or is hosted on-premise."}
	}
	return u, mb, nil
}

// outlookRoute registers an Outlook (mailbox) route: after the role check it
// resolves {id} to a user with a mailbox (404 ErrorInvalidUser /
// MailboxNotEnabledForRESTAPI), takes one of the mailbox's concurrency slots
// and counts the request against its rate window (429 ApplicationThrottled),
// then calls h with the user's object id.
func (s *Sim) outlookRoute(pattern string, acc access, h func(w http.ResponseWriter, r *http.Request, userID string)) {
	s.graphRoute(pattern, acc, func(w http.ResponseWriter, r *http.Request) {
		var userID string
		var lerr *mailboxLookupError
		s.read(func(t *tenant) {
			if u, _, e := lookupMailboxUser(t, r.PathValue("id")); e != nil {
				lerr = e
			} else {
				userID = u.ID
			}
		})
		if lerr != nil {
			s.graphError(w, r, http.StatusNotFound, lerr.code, lerr.msg)
			return
		}
		e := s.ext()
		release, msg, retry := e.limiter.acquire(userID, s.Now())
		if release == nil {
			w.Header().Set("Retry-After", retryAfterSeconds(max(retry, time.Second)))
			s.graphError(w, r, http.StatusTooManyRequests, "ApplicationThrottled", msg)
			return
		}
		defer release()
		e.holdMu.Lock()
		hold := e.hold
		if e.holdUser != userID {
			hold = nil
		}
		e.holdMu.Unlock()
		if hold != nil {
			select {
			case <-hold:
			case <-r.Context().Done():
				return
			}
		}
		h(w, r, userID)
	})
}

// withMailbox runs f with the user's mailbox under the read lock; false when
// the user or mailbox disappeared meanwhile (the 404 is written).
func (s *Sim) withMailbox(w http.ResponseWriter, r *http.Request, userID string, f func(t *tenant, u *User, mb *Mailbox)) bool {
	var lerr *mailboxLookupError
	s.read(func(t *tenant) {
		u, mb, e := lookupMailboxUser(t, userID)
		if e != nil {
			lerr = e
			return
		}
		f(t, u, mb)
	})
	if lerr != nil {
		s.graphError(w, r, http.StatusNotFound, lerr.code, lerr.msg)
		return false
	}
	return true
}

// outlookQuery is a parsed Outlook collection query ($top, $skip, $select).
type outlookQuery struct {
	top    int
	skip   int
	sel    *selection
	raw    url.Values
	topSet bool
	// maxPage is Prefer: odata.maxpagesize when it set the page size (no $top).
	maxPage int
	count   bool // $count=true: "@odata.count" with the number of matching items
}

// parseOutlookQuery validates the query options of an Outlook collection.
// allowed lists extra non-$ parameters (e.g. startDateTime); $filter and
// $orderby are refused unless listed in allowed.
func parseOutlookQuery(r *http.Request, sc *schema, allowed ...string) (*outlookQuery, *filterError) {
	q := r.URL.Query()
	oq := &outlookQuery{top: outlookPageSize, raw: q}
	for k := range q {
		switch k {
		case "$top", "$skip", "$select", "$count":
			continue
		}
		if containsFold(allowed, k) {
			continue
		}
		if strings.HasPrefix(k, "$") {
			return nil, &filterError{"BadRequest", fmt.Sprintf("The query parameter '%s' is not supported on this resource.", k)}
		}
	}
	switch c := q.Get("$count"); c {
	case "", "false":
	case "true":
		oq.count = true
	default:
		return nil, &filterError{"ErrorInvalidUrlQuery", fmt.Sprintf("The value '%s' of the query parameter '$count' is invalid: use true or false.", c)}
	}
	if t := q.Get("$top"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 1 || n > outlookMaxTop {
			return nil, &filterError{"ErrorInvalidUrlQuery", fmt.Sprintf("The value '%s' of the query parameter '$top' is invalid: use 1..%d.", t, outlookMaxTop)}
		}
		oq.top, oq.topSet = n, true
	}
	if sk := q.Get("$skip"); sk != "" {
		n, err := strconv.Atoi(sk)
		if err != nil || n < 0 {
			return nil, &filterError{"ErrorInvalidUrlQuery", fmt.Sprintf("The value '%s' of the query parameter '$skip' is invalid: use a number >= 0.", sk)}
		}
		oq.skip = n
	}
	if n, ok := preferMaxPageSize(r); ok && !oq.topSet {
		oq.top, oq.maxPage = n, n
	}
	sel, err := parseSelect(q.Get("$select"), sc)
	if err != nil {
		return nil, &filterError{"RequestBroker--ParseUri", err.Error()}
	}
	oq.sel = sel
	return oq, nil
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// outlookPage collects the items of one page of an Outlook collection ($skip, $top).
type outlookPage struct {
	oq      *outlookQuery
	seen, n int
	items   []byte
	more    bool
}

// add renders one matching item unless it is skipped; false once the page is
// full (more items follow) and no $count needs the rest.
func (p *outlookPage) add(render func(b []byte) []byte) bool {
	p.seen++
	if p.seen <= p.oq.skip {
		return true
	}
	if p.n == p.oq.top {
		p.more = true
		return p.oq.count
	}
	if p.n > 0 {
		p.items = append(p.items, ',')
	}
	p.items = render(p.items)
	p.n++
	return true
}

// appendEntity renders a single entity: {"@odata.context":…,<obj's properties>}.
func (s *Sim) appendEntity(b []byte, context string, sel *selection, obj []byte) []byte {
	b = append(b, `{"@odata.context":`...)
	b = appendJSONString(b, s.GraphURL()+"/$metadata#"+context+sel.contextSuffix()+"/$entity")
	b = append(b, ',')
	return append(b, obj[1:]...)
}

// writeOutlookPage writes {"@odata.context","value":[items],"@odata.nextLink"?}
// for an Outlook collection paged with $skip (as Outlook's nextLinks are).
func (s *Sim) writeOutlookPage(w http.ResponseWriter, r *http.Request, context string, p *outlookPage, hdr ...string) {
	oq, items, more := p.oq, p.items, p.more
	b := make([]byte, 0, len(items)+512)
	b = append(b, `{"@odata.context":`...)
	b = appendJSONString(b, s.GraphURL()+"/$metadata#"+context+oq.sel.contextSuffix())
	if oq.count {
		b = append(b, `,"@odata.count":`...)
		b = strconv.AppendInt(b, int64(p.seen), 10)
	}
	b = append(b, `,"value":[`...)
	b = append(b, items...)
	b = append(b, ']')
	if more {
		q := url.Values{}
		for k, v := range oq.raw {
			if k != "$skip" {
				q[k] = v
			}
		}
		b = append(b, `,"@odata.nextLink":`...)
		b = appendJSONString(b, s.nextLink(r.URL.Path, q, "$skip", strconv.Itoa(oq.skip+oq.top)))
	}
	b = append(b, '}')
	for i := 0; i+1 < len(hdr); i += 2 {
		w.Header().Set(hdr[i], hdr[i+1])
	}
	if oq.maxPage > 0 {
		w.Header().Add("Preference-Applied", "odata.maxpagesize="+strconv.Itoa(oq.maxPage))
	}
	writeOData(w, http.StatusOK, b)
}

// appendOutlookItem renders an Outlook item: @odata.etag (and @odata.type
// when odataType is set) followed by the schema's properties.
func appendOutlookItem(b []byte, sc *schema, o any, sel *selection, changeKey string, odataType bool) []byte {
	b = append(b, '{')
	if odataType {
		b = append(b, `"@odata.type":"#`...)
		b = append(b, sc.typeName...)
		b = append(b, `",`...)
	}
	b = append(b, `"@odata.etag":`...)
	b = appendJSONString(b, `W/"`+changeKey+`"`)
	obj := sc.appendObject(nil, o, sel, false)
	if len(obj) > 2 {
		b = append(b, ',')
		b = append(b, obj[1:len(obj)-1]...)
	}
	return append(b, '}')
}

// --- time zones ---

// windowsZones maps common Windows time zone names (Outlook's native names)
// to IANA zones.
var windowsZones = map[string]string{
	"utc": "UTC", "coordinated universal time": "UTC", "greenwich standard time": "Atlantic/Reykjavik",
	"gmt standard time": "Europe/London", "w. europe standard time": "Europe/Berlin",
	"romance standard time": "Europe/Paris", "central europe standard time": "Europe/Budapest",
	"central european standard time": "Europe/Warsaw", "e. europe standard time": "Europe/Chisinau",
	"fle standard time": "Europe/Kiev", "gtb standard time": "Europe/Bucharest", "russian standard time": "Europe/Moscow",
	"pacific standard time": "America/Los_Angeles", "mountain standard time": "America/Denver",
	"central standard time": "America/Chicago", "eastern standard time": "America/New_York",
	"atlantic standard time": "America/Halifax", "e. south america standard time": "America/Sao_Paulo",
	"india standard time": "Asia/Kolkata", "china standard time": "Asia/Shanghai", "tokyo standard time": "Asia/Tokyo",
	"korea standard time": "Asia/Seoul", "singapore standard time": "Asia/Singapore",
	"aus eastern standard time": "Australia/Sydney", "new zealand standard time": "Pacific/Auckland",
	"arabian standard time": "Asia/Dubai", "south africa standard time": "Africa/Johannesburg",
}

// resolveZone resolves a Windows or IANA time zone name ("" = UTC).
func resolveZone(name string) (*time.Location, error) {
	n := strings.TrimSpace(name)
	if n == "" || strings.EqualFold(n, "UTC") {
		return time.UTC, nil
	}
	if iana, ok := windowsZones[strings.ToLower(n)]; ok {
		n = iana
	}
	if strings.HasPrefix(n, "/") || strings.Contains(n, "..") || strings.EqualFold(n, "local") {
		return nil, fmt.Errorf("time zone %q", name)
	}
	loc, err := time.LoadLocation(n)
	if err != nil {
		return nil, fmt.Errorf("time zone %q: %w", name, err)
	}
	return loc, nil
}

// outlookZone reads Prefer: outlook.timezone="X" (default UTC). It returns the
// zone, the name to echo in timeZone fields, and the Preference-Applied value.
func (s *Sim) outlookZone(w http.ResponseWriter, r *http.Request) (loc *time.Location, name string, applied string, ok bool) {
	for _, v := range r.Header.Values("Prefer") {
		for _, p := range strings.Split(v, ",") {
			p = strings.TrimSpace(p)
			val, found := strings.CutPrefix(p, "outlook.timezone=")
			if !found {
				continue
			}
			if len(val) < 2 || val[0] != '"' || val[len(val)-1] != '"' {
				s.graphError(w, r, http.StatusBadRequest, "TimeZoneNotSupportedException",
					fmt.Sprintf("A valid TimeZone value must be specified. The following TimeZone value is not supported: '%s'. Quote it: outlook.timezone=\"Europe/Berlin\".", val))
				return nil, "", "", false
			}
			name = val[1 : len(val)-1]
			loc, err := resolveZone(name)
			if err != nil {
				s.graphError(w, r, http.StatusBadRequest, "TimeZoneNotSupportedException",
					fmt.Sprintf("A valid TimeZone value must be specified. The following TimeZone value is not supported: '%s'.", name))
				return nil, "", "", false
			}
			return loc, name, `outlook.timezone="` + name + `"`, true
		}
	}
	return time.UTC, "UTC", "", true
}

// outlookDateTime is Graph's dateTimeTimeZone.dateTime text (7-digit fraction, no offset).
const outlookDateTime = "2006-01-02T15:04:05.0000000"

// appendDateTimeTZ appends {"dateTime":"…","timeZone":"…"}.
func appendDateTimeTZ(b []byte, t time.Time, loc *time.Location, zone string, allDay bool) []byte {
	b = append(b, `{"dateTime":"`...)
	if allDay { // all-day events float: midnight of the same date in any zone
		u := t.UTC()
		b = time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, time.UTC).AppendFormat(b, outlookDateTime)
	} else {
		b = t.In(loc).AppendFormat(b, outlookDateTime)
	}
	b = append(b, `","timeZone":`...)
	b = appendJSONString(b, zone)
	return append(b, '}')
}

// parseOutlookTime parses an ISO 8601 date-time with or without offset (none = UTC).
func parseOutlookTime(v string, loc *time.Location) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02"} {
		if layout == time.RFC3339Nano {
			if t, err := time.Parse(layout, v); err == nil {
				return t.UTC(), nil
			}
			continue
		}
		if t, err := time.ParseInLocation(layout, v, loc); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not an ISO 8601 date-time", v)
}

// --- request bodies ---

// decodeGraphBody decodes a JSON request body strictly, answering Graph's
// RequestBodyRead / UnableToDeserializePostBody errors. typeName names the
// OData type for unknown-property messages (e.g. "microsoft.graph.subscription").
func (s *Sim) decodeGraphBody(w http.ResponseWriter, r *http.Request, v any, typeName string) bool {
	ct := strings.ToLower(r.Header.Get("Content-Type"))
	if !strings.HasPrefix(ct, "application/json") {
		s.graphError(w, r, http.StatusUnsupportedMediaType, "BadRequest", fmt.Sprintf("The request body needs Content-Type: application/json (got '%s').", r.Header.Get("Content-Type")))
		return false
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		s.graphError(w, r, http.StatusBadRequest, "UnableToDeserializePostBody", "were unable to deserialize: "+err.Error())
		return false
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		s.graphError(w, r, http.StatusBadRequest, "BadRequest", "Empty Payload. JSON content expected.")
		return false
	}
	if raw, err = stripODataAnnotations(raw); err != nil { // annotations.go
		s.graphError(w, r, http.StatusBadRequest, "RequestBodyRead", err.Error())
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			s.graphError(w, r, http.StatusBadRequest, "RequestBodyRead", fmt.Sprintf("The property '%s' does not exist on type '%s'. Make sure to only use property names that are defined by the type or mark the type as open type.", name, typeName))
		case errors.As(err, &te):
			s.graphError(w, r, http.StatusBadRequest, "RequestBodyRead", fmt.Sprintf("Cannot convert a JSON %s to the type of property '%s' (%s).", te.Value, te.Field, te.Type))
		default:
			s.graphError(w, r, http.StatusBadRequest, "UnableToDeserializePostBody", "were unable to deserialize: "+err.Error())
		}
		return false
	}
	return true
}
