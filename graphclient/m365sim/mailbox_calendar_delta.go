package m365sim

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// calendarView delta (graph.md §4.2). Like Exchange, the sim keeps the sync
// state on the server: each round stores a snapshot of the window's instances
// (id → signature) and the next round reports the difference: new or changed
// instances in full, instances that left the window (deleted, moved away) as
// "@removed". Tokens name a stored state; unknown or expired ones get 410.
// Times are always UTC (whether Graph honours Prefer: outlook.timezone in
// delta is undocumented); $select is refused, as Graph documents.

// maxCalendarSyncStates bounds the stored sync states per Sim (oldest dropped).
const maxCalendarSyncStates = 2000

// calSyncState is one stored round of a calendarView delta.
type calSyncState struct {
	user     string
	from, to time.Time
	issued   time.Time         // sim clock
	snapshot map[string]string // instance id → signature, as of the round's start
	items    [][]byte          // the round's rendered items, in order
}

// calSyncStore holds the sync states of one Sim.
type calSyncStore struct {
	mu     sync.Mutex
	states map[string]*calSyncState
	order  []string
}

// calToken is the content of a calendarView delta $skiptoken / $deltatoken.
type calToken struct {
	Kind  string `json:"k"` // "e"
	State string `json:"s"`
	Pos   int    `json:"p,omitempty"` // next item (skiptoken)
	Delta bool   `json:"d,omitempty"` // a deltaLink: start a new round
}

func (st *calSyncStore) put(id string, cs *calSyncState) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.states == nil {
		st.states = map[string]*calSyncState{}
	}
	st.states[id] = cs
	st.order = append(st.order, id)
	if len(st.order) > maxCalendarSyncStates {
		delete(st.states, st.order[0])
		st.order = st.order[1:]
	}
}

func (st *calSyncStore) get(id string) *calSyncState {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.states[id]
}

func init() {
	registerExtension(func(s *Sim) {
		for _, d := range deltaForms {
			s.outlookRoute("GET /users/{id}/calendarView/"+d, accessCalendars, s.calendarViewDelta)
			s.outlookRoute("GET /users/{id}/calendar/calendarView/"+d, accessCalendars, s.calendarViewDelta)
		}
	})
}

// occurrenceSignature changes whenever an instance's rendering would.
func occurrenceSignature(o Occurrence) string {
	return fmt.Sprintf("%s|%d|%d|%t", o.Event.ChangeKey, o.Start.Unix(), o.End.Unix(), o.IsCancelled)
}

// calendarViewDelta serves GET /users/{id}/calendarView/delta.
func (s *Sim) calendarViewDelta(w http.ResponseWriter, r *http.Request, userID string) {
	q := r.URL.Query()
	for k := range q {
		switch k {
		case "startDateTime", "endDateTime", "$deltatoken", "$skiptoken":
		default:
			s.graphError(w, r, http.StatusBadRequest, "ErrorInvalidUrlQuery", fmt.Sprintf("The query parameter '%s' is not supported with calendarView delta; use startDateTime, endDateTime and Prefer: odata.maxpagesize.", k))
			return
		}
	}
	store := &s.ext().calSync
	pageSize := outlookPageSize
	if n, ok := preferMaxPageSize(r); ok {
		pageSize = n
	}
	var stateID string
	var cs *calSyncState
	pos := 0
	if raw := q.Get("$deltatoken") + q.Get("$skiptoken"); raw != "" {
		var tok calToken
		isDelta := q.Get("$deltatoken") != ""
		if q.Get("$deltatoken") != "" && q.Get("$skiptoken") != "" || !s.openToken(raw, &tok) || tok.Kind != "e" || tok.Delta != isDelta {
			s.deltaGone(w, r, "The sync state is not recognised. Restart the sync with startDateTime and endDateTime.")
			return
		}
		prev := store.get(tok.State)
		if prev == nil || prev.user != userID {
			s.deltaGone(w, r, "The sync state is not recognised for this calendar. Restart the sync with startDateTime and endDateTime.")
			return
		}
		if s.Now().Sub(prev.issued) > DeltaTokenLifetime {
			s.deltaGone(w, r, "The sync state has expired. Restart the sync with startDateTime and endDateTime.")
			return
		}
		if isDelta {
			var ok bool
			if stateID, cs, ok = s.newCalRound(w, r, userID, prev.from, prev.to, prev.snapshot); !ok {
				return
			}
		} else {
			stateID, cs, pos = tok.State, prev, tok.Pos
		}
	} else {
		window, ok := s.calendarWindow(w, r, q)
		if !ok {
			return
		}
		if stateID, cs, ok = s.newCalRound(w, r, userID, window[0], window[1], nil); !ok {
			return
		}
	}
	end := min(pos+pageSize, len(cs.items))
	b := []byte(`{"@odata.context":`)
	b = appendJSONString(b, s.GraphURL()+"/$metadata#Collection(event)")
	if end < len(cs.items) {
		b = append(b, `,"@odata.nextLink":`...)
		b = appendJSONString(b, s.URL()+r.URL.Path+"?$skiptoken="+s.sealToken(calToken{Kind: "e", State: stateID, Pos: end}))
	} else {
		b = append(b, `,"@odata.deltaLink":`...)
		b = appendJSONString(b, s.URL()+r.URL.Path+"?$deltatoken="+s.sealToken(calToken{Kind: "e", State: stateID, Delta: true}))
	}
	b = append(b, `,"value":[`...)
	for i, it := range cs.items[pos:end] {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, it...)
	}
	b = append(b, "]}"...)
	if n, ok := preferMaxPageSize(r); ok {
		w.Header().Set("Preference-Applied", fmt.Sprintf("odata.maxpagesize=%d", n))
	}
	writeOData(w, http.StatusOK, b)
}

// newCalRound snapshots the window and stores a round holding the
// differences to prev (nil: an initial round with every instance).
func (s *Sim) newCalRound(w http.ResponseWriter, r *http.Request, userID string, from, to time.Time, prev map[string]string) (string, *calSyncState, bool) {
	cs := &calSyncState{user: userID, from: from, to: to, issued: s.Now(), snapshot: map[string]string{}}
	found := s.withMailbox(w, r, userID, func(t *tenant, u *User, mb *Mailbox) {
		occs := occurrencesIn(mb, from, to)
		slices.SortFunc(occs, func(a, b Occurrence) int { return strings.Compare(a.ID, b.ID) })
		for _, o := range occs {
			sig := occurrenceSignature(o)
			cs.snapshot[o.ID] = sig
			if prev != nil && prev[o.ID] == sig {
				continue
			}
			cs.items = append(cs.items, appendOutlookItem(nil, eventSchema, &eventRow{o, time.UTC, "UTC", u}, nil, o.Event.ChangeKey, true))
		}
	})
	if !found {
		return "", nil, false
	}
	var gone []string
	for id := range prev {
		if _, ok := cs.snapshot[id]; !ok {
			gone = append(gone, id)
		}
	}
	slices.Sort(gone)
	for _, id := range gone {
		it := appendJSONString([]byte(`{"@odata.type":"#microsoft.graph.event","id":`), id)
		cs.items = append(cs.items, append(it, `,"@removed":{"reason":"deleted"}}`...))
	}
	id := newUUID()
	s.ext().calSync.put(id, cs)
	return id, cs, true
}
