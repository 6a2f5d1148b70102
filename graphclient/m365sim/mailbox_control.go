package m365sim

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Meeting describes a calendar event to add with AddMeeting. Times are
// instants (stored in UTC); an all-day meeting must start and end at midnight UTC.
type Meeting struct {
	Subject     string      `json:"subject"`
	Start       time.Time   `json:"start"`
	End         time.Time   `json:"end"`
	ShowAs      string      `json:"showAs,omitempty"`      // free, tentative, busy (default), oof, workingElsewhere
	IsAllDay    bool        `json:"isAllDay,omitempty"`    // midnight to midnight UTC
	Location    string      `json:"location,omitempty"`    // display name
	Sensitivity string      `json:"sensitivity,omitempty"` // normal (default), personal, private, confidential
	Organizer   string      `json:"organizer,omitempty"`   // address; default: the mailbox owner
	Recurrence  *Recurrence `json:"recurrence,omitempty"`  // nil: a single instance
}

// validate checks m and fills in the defaults.
func (m *Meeting) validate() error {
	if m.Start.IsZero() || m.End.IsZero() {
		return errors.New("start and end are required")
	}
	if !m.End.After(m.Start) {
		return fmt.Errorf("end %s must be after start %s", m.End.Format(time.RFC3339), m.Start.Format(time.RFC3339))
	}
	if m.ShowAs == "" {
		m.ShowAs = "busy"
	}
	if _, ok := availabilityDigit[m.ShowAs]; !ok || m.ShowAs == "unknown" {
		return fmt.Errorf("showAs %q: use free, tentative, busy, oof or workingElsewhere", m.ShowAs)
	}
	if m.Sensitivity == "" {
		m.Sensitivity = "normal"
	}
	if !slices.Contains([]string{"normal", "personal", "private", "confidential"}, m.Sensitivity) {
		return fmt.Errorf("sensitivity %q: use normal, personal, private or confidential", m.Sensitivity)
	}
	mid := func(t time.Time) bool { return t.UTC().Equal(t.UTC().Truncate(24 * time.Hour)) }
	if m.IsAllDay && (!mid(m.Start) || !mid(m.End)) {
		return errors.New("an all-day meeting must start and end at midnight UTC")
	}
	if rc := m.Recurrence; rc != nil {
		if rc.Pattern != "daily" && rc.Pattern != "weekly" {
			return fmt.Errorf("recurrence pattern %q: use daily or weekly", rc.Pattern)
		}
		if rc.Interval < 1 || rc.Count < 1 {
			return errors.New("recurrence interval and count must be at least 1")
		}
	}
	return nil
}

// AddMeeting adds a meeting to a user's calendar (user id or UPN) and returns
// its event id; subscriptions on users/{id}/events see it as "created".
func (s *Sim) AddMeeting(userID string, m Meeting) (string, error) {
	if err := m.validate(); err != nil {
		return "", fmt.Errorf("add meeting: %w", err)
	}
	e := Event{Subject: m.Subject, Start: m.Start, End: m.End, ShowAs: m.ShowAs, IsAllDay: m.IsAllDay,
		Location: m.Location, Sensitivity: m.Sensitivity, Organizer: m.Organizer, Recurrence: m.Recurrence}
	ne, err := s.AddEvent(userID, *e.clone())
	if err != nil {
		return "", fmt.Errorf("add meeting: %w", err)
	}
	return ne.ID, nil
}

// MoveMeeting moves an event (a single instance or a whole series) to start..end.
func (s *Sim) MoveMeeting(userID, eventID string, start, end time.Time) error {
	return s.UpdateEvent(userID, eventID, func(e *Event) { e.Start, e.End = start, end })
}

// CancelMeeting cancels an event: a single instance or a whole series (by its
// id), or one occurrence of a series (by the occurrence id calendarView shows).
// It stays in calendarView with isCancelled true; getSchedule ignores it.
func (s *Sim) CancelMeeting(userID, eventID string) error {
	master, _, isOcc := strings.Cut(eventID, "_")
	if !isOcc {
		return s.CancelEvent(userID, eventID)
	}
	found := false
	err := s.UpdateEvent(userID, master, func(e *Event) {
		if i := occurrenceIndex(e, eventID); i >= 0 {
			found = true
			if !slices.Contains(e.Recurrence.Cancelled, i) {
				e.Recurrence.Cancelled = append(e.Recurrence.Cancelled, i)
			}
		}
	})
	if err == nil && !found {
		err = fmt.Errorf("cancel meeting: occurrence %q: %w", eventID, ErrNotFound)
	}
	return err
}

// occurrenceIndex returns the index of occurrence id in series e (-1 when none).
func occurrenceIndex(e *Event, id string) int {
	if e.Recurrence == nil {
		return -1
	}
	for i, o := range e.Occurrences(e.Start, e.Start.AddDate(0, 0, 7*e.Recurrence.Interval*e.Recurrence.Count+1)) {
		if o.ID == id {
			return i
		}
	}
	return -1
}

// SharedMailboxes returns the users whose mailbox is a shared mailbox.
func (s *Sim) SharedMailboxes() []User {
	var out []User
	s.read(func(t *tenant) {
		for _, u := range t.users {
			if u.Mailbox == MailboxShared && !u.SoftDeleted() {
				out = append(out, u.clone())
			}
		}
	})
	return out
}

// Control API routes of the mailbox side, beside the core's event and
// contact routes (controlapi.go):
//
//	POST   /_sim/users/{id}/meetings              Meeting JSON → {"id"}
//	POST   /_sim/users/{id}/meetings/{eid}/move   {"start","end"} (RFC 3339)
//	POST   /_sim/users/{id}/meetings/{eid}/cancel cancel (an occurrence id cancels one occurrence)
//	GET    /_sim/sharedMailboxes                  users with a shared mailbox
//	GET    /_sim/sentMail                         messages accepted by sendMail
//	DELETE /_sim/sentMail                         forget them
func init() {
	registerExtension(func(s *Sim) {
		m := s.controlMux
		m.HandleFunc("POST /_sim/users/{id}/meetings", func(w http.ResponseWriter, r *http.Request) {
			var mt Meeting
			if !ctlDecode(w, r, &mt) {
				return
			}
			id, err := s.AddMeeting(r.PathValue("id"), mt)
			if err != nil {
				ctlErr(w, err)
				return
			}
			ctlOK(w, map[string]string{"id": id})
		})
		m.HandleFunc("POST /_sim/users/{id}/meetings/{eid}/move", func(w http.ResponseWriter, r *http.Request) {
			var body struct {
				Start time.Time `json:"start"`
				End   time.Time `json:"end"`
			}
			if !ctlDecode(w, r, &body) {
				return
			}
			ctlResult(w, s.MoveMeeting(r.PathValue("id"), r.PathValue("eid"), body.Start, body.End))
		})
		m.HandleFunc("POST /_sim/users/{id}/meetings/{eid}/cancel", func(w http.ResponseWriter, r *http.Request) {
			ctlResult(w, s.CancelMeeting(r.PathValue("id"), r.PathValue("eid")))
		})
		m.HandleFunc("GET /_sim/sharedMailboxes", func(w http.ResponseWriter, r *http.Request) { ctlOK(w, s.SharedMailboxes()) })
		m.HandleFunc("GET /_sim/sentMail", func(w http.ResponseWriter, r *http.Request) { ctlOK(w, s.SentMail()) })
		m.HandleFunc("DELETE /_sim/sentMail", func(w http.ResponseWriter, r *http.Request) {
			s.ResetSentMail()
			ctlOK(w, map[string]any{"reset": true})
		})
	})
}
