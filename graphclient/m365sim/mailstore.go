package m365sim

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Mailbox data control: contacts and events of the tenant model. The Outlook
// routes that serve them live in mailbox_*.go.

func (c *Contact) clone() *Contact {
	x := *c
	x.EmailAddresses = slices.Clone(c.EmailAddresses)
	x.BusinessPhones = slices.Clone(c.BusinessPhones)
	x.HomePhones = slices.Clone(c.HomePhones)
	return &x
}

func (e *Event) clone() *Event {
	x := *e
	if e.Recurrence != nil {
		r := *e.Recurrence
		r.Cancelled = slices.Clone(e.Recurrence.Cancelled)
		x.Recurrence = &r
	}
	return &x
}

func (m *Mailbox) clone() *Mailbox {
	x := &Mailbox{Kind: m.Kind}
	for _, f := range m.ContactFolders {
		nf := &ContactFolder{ID: f.ID, DisplayName: f.DisplayName, ParentFolderID: f.ParentFolderID}
		for _, c := range f.Contacts {
			nf.Contacts = append(nf.Contacts, c.clone())
		}
		x.ContactFolders = append(x.ContactFolders, nf)
	}
	for _, e := range m.Events {
		x.Events = append(x.Events, e.clone())
	}
	return x
}

// Mailbox returns a deep copy of a user's mailbox (by id or UPN), or nil
// when the user has none.
func (s *Sim) Mailbox(idOrUPN string) *Mailbox {
	var out *Mailbox
	s.read(func(t *tenant) {
		if u := t.lookupUser(idOrUPN); u != nil {
			if mb := t.mailbox(u.ID); mb != nil {
				out = mb.clone()
			}
		}
	})
	return out
}

// contactResource is the change resource of a contact in folder f.
func contactResource(userID string, mb *Mailbox, f *ContactFolder, contactID string) string {
	if f == mb.ContactFolders[0] {
		return "users/" + userID + "/contacts/" + contactID
	}
	return "users/" + userID + "/contactFolders/" + f.ID + "/contacts/" + contactID
}

// eventResource is the change resource of an event.
func eventResource(userID, eventID string) string { return "users/" + userID + "/events/" + eventID }

// mailboxFor resolves a user's mailbox under the write lock.
func mailboxFor(t *tenant, idOrUPN string) (*User, *Mailbox, error) {
	u := t.activeUser(idOrUPN)
	if u == nil {
		return nil, nil, fmt.Errorf("user %q: %w", idOrUPN, ErrNotFound)
	}
	mb := t.mailbox(u.ID)
	if mb == nil {
		return nil, nil, fmt.Errorf("user %q has no mailbox", idOrUPN)
	}
	return u, mb, nil
}

// findContact locates a contact in any folder.
func findContact(mb *Mailbox, id string) (*ContactFolder, int) {
	for _, f := range mb.ContactFolders {
		for i, c := range f.Contacts {
			if c.ID == id {
				return f, i
			}
		}
	}
	return nil, -1
}

// findEvent locates an event.
func findEvent(mb *Mailbox, id string) int {
	return slices.IndexFunc(mb.Events, func(e *Event) bool { return e.ID == id })
}

// newChangeKeyNow makes a fresh change key.
func newChangeKeyNow() string { return fmt.Sprintf("EQAAABYAAAD%X", randomBytes(6)) }

// AddContactFolder adds a child folder of the default Contacts folder and returns its id.
func (s *Sim) AddContactFolder(userID, name string) (string, error) {
	return s.AddChildContactFolder(userID, "", name)
}

// AddChildContactFolder adds a folder below parentID ("" = the default
// Contacts folder) and returns its id.
func (s *Sim) AddChildContactFolder(userID, parentID, name string) (string, error) {
	if name == "" {
		return "", errors.New("add contact folder: name is required")
	}
	var id string
	err := s.write(func(t *tenant, rec changeRecorder) error {
		u, mb, err := mailboxFor(t, userID)
		if err != nil {
			return fmt.Errorf("add contact folder: %w", err)
		}
		parent := mb.ContactFolders[0].ID
		if parentID != "" {
			if mb.findFolder(parentID) == nil {
				return fmt.Errorf("add contact folder: parent %q: %w", parentID, ErrNotFound)
			}
			parent = parentID
		}
		id = "AAMkF-" + newUUID()
		mb.ContactFolders = append(mb.ContactFolders, &ContactFolder{ID: id, DisplayName: name, ParentFolderID: parent})
		rec(Change{Resource: "users/" + u.ID + "/contactFolders/" + id, Type: ChangeCreated})
		return nil
	})
	return id, err
}

// DeleteContactFolder removes a folder below the default one, with its
// contacts and its child folders (the default folder cannot be removed).
func (s *Sim) DeleteContactFolder(userID, folderID string) error {
	return s.write(func(t *tenant, rec changeRecorder) error {
		u, mb, err := mailboxFor(t, userID)
		if err != nil {
			return fmt.Errorf("delete contact folder: %w", err)
		}
		if folderID == mb.ContactFolders[0].ID {
			return errors.New("delete contact folder: the default Contacts folder cannot be deleted")
		}
		gone := map[string]bool{folderID: true}
		for grew := true; grew; {
			grew = false
			for _, f := range mb.ContactFolders {
				if !gone[f.ID] && gone[f.ParentFolderID] {
					gone[f.ID], grew = true, true
				}
			}
		}
		n := len(mb.ContactFolders)
		mb.ContactFolders = slices.DeleteFunc(mb.ContactFolders, func(f *ContactFolder) bool { return gone[f.ID] })
		if len(mb.ContactFolders) == n {
			return fmt.Errorf("delete contact folder %q: %w", folderID, ErrNotFound)
		}
		for id := range gone {
			rec(Change{Resource: "users/" + u.ID + "/contactFolders/" + id, Type: ChangeDeleted})
		}
		return nil
	})
}

// AddContact adds a contact to a folder ("" = the default Contacts folder).
func (s *Sim) AddContact(userID, folderID string, c Contact) (Contact, error) {
	var out Contact
	err := s.write(func(t *tenant, rec changeRecorder) error {
		u, mb, err := mailboxFor(t, userID)
		if err != nil {
			return fmt.Errorf("add contact: %w", err)
		}
		f := mb.ContactFolders[0]
		if folderID != "" {
			i := slices.IndexFunc(mb.ContactFolders, func(x *ContactFolder) bool { return x.ID == folderID })
			if i < 0 {
				return fmt.Errorf("add contact: folder %q: %w", folderID, ErrNotFound)
			}
			f = mb.ContactFolders[i]
		}
		now := s.Now()
		if c.ID == "" {
			c.ID = "AAMkC-" + newUUID()
		}
		if x, _ := findContact(mb, c.ID); x != nil {
			return fmt.Errorf("add contact: id %q is already used", c.ID)
		}
		c.ChangeKey, c.CreatedDateTime, c.LastModifiedDateTime = newChangeKeyNow(), now, now
		nc := c.clone()
		f.Contacts = append(f.Contacts, nc)
		out = *nc.clone()
		rec(Change{Resource: contactResource(u.ID, mb, f, nc.ID), Type: ChangeCreated})
		return nil
	})
	return out, err
}

// UpdateContact changes a contact with f (id and timestamps are kept; the change key is renewed).
func (s *Sim) UpdateContact(userID, contactID string, f func(*Contact)) error {
	return s.write(func(t *tenant, rec changeRecorder) error {
		u, mb, err := mailboxFor(t, userID)
		if err != nil {
			return fmt.Errorf("update contact: %w", err)
		}
		folder, i := findContact(mb, contactID)
		if folder == nil {
			return fmt.Errorf("update contact %q: %w", contactID, ErrNotFound)
		}
		c := folder.Contacts[i].clone()
		f(c)
		c.ID, c.CreatedDateTime = contactID, folder.Contacts[i].CreatedDateTime
		c.ChangeKey, c.LastModifiedDateTime = newChangeKeyNow(), s.Now()
		folder.Contacts[i] = c
		rec(Change{Resource: contactResource(u.ID, mb, folder, contactID), Type: ChangeUpdated})
		return nil
	})
}

// DeleteContact removes a contact.
func (s *Sim) DeleteContact(userID, contactID string) error {
	return s.write(func(t *tenant, rec changeRecorder) error {
		u, mb, err := mailboxFor(t, userID)
		if err != nil {
			return fmt.Errorf("delete contact: %w", err)
		}
		folder, i := findContact(mb, contactID)
		if folder == nil {
			return fmt.Errorf("delete contact %q: %w", contactID, ErrNotFound)
		}
		folder.Contacts = slices.Delete(folder.Contacts, i, i+1)
		rec(Change{Resource: contactResource(u.ID, mb, folder, contactID), Type: ChangeDeleted})
		return nil
	})
}

// AddEvent adds an event (a meeting) to a user's calendar. ShowAs defaults
// to busy, Sensitivity to normal; End must be after Start.
func (s *Sim) AddEvent(userID string, e Event) (Event, error) {
	if !e.End.After(e.Start) {
		return Event{}, fmt.Errorf("add event: end %s is not after start %s", e.End, e.Start)
	}
	if err := checkShowAs(e.ShowAs); err != nil {
		return Event{}, fmt.Errorf("add event: %w", err)
	}
	var out Event
	err := s.write(func(t *tenant, rec changeRecorder) error {
		u, mb, err := mailboxFor(t, userID)
		if err != nil {
			return fmt.Errorf("add event: %w", err)
		}
		now := s.Now()
		if e.ID == "" {
			e.ID = "AAMkE-" + newUUID()
		}
		if findEvent(mb, e.ID) >= 0 {
			return fmt.Errorf("add event: id %q is already used", e.ID)
		}
		if e.ICalUID == "" {
			e.ICalUID = newUUID()
		}
		if e.ShowAs == "" {
			e.ShowAs = "busy"
		}
		if e.Sensitivity == "" {
			e.Sensitivity = "normal"
		}
		e.Start, e.End = e.Start.UTC(), e.End.UTC()
		e.ChangeKey, e.CreatedDateTime, e.LastModifiedDateTime = newChangeKeyNow(), now, now
		ne := e.clone()
		mb.Events = append(mb.Events, ne)
		out = *ne.clone()
		rec(Change{Resource: eventResource(u.ID, ne.ID), Type: ChangeCreated})
		return nil
	})
	return out, err
}

func checkShowAs(v string) error {
	switch v {
	case "", "free", "tentative", "busy", "oof", "workingElsewhere", "unknown":
		return nil
	}
	return fmt.Errorf("showAs %q: use free, tentative, busy, oof, workingElsewhere or unknown", v)
}

// UpdateEvent changes an event with f (e.g. move it by changing Start/End).
func (s *Sim) UpdateEvent(userID, eventID string, f func(*Event)) error {
	return s.write(func(t *tenant, rec changeRecorder) error {
		u, mb, err := mailboxFor(t, userID)
		if err != nil {
			return fmt.Errorf("update event: %w", err)
		}
		i := findEvent(mb, eventID)
		if i < 0 {
			return fmt.Errorf("update event %q: %w", eventID, ErrNotFound)
		}
		e := mb.Events[i].clone()
		f(e)
		if !e.End.After(e.Start) {
			return fmt.Errorf("update event %q: end %s is not after start %s", eventID, e.End, e.Start)
		}
		if err := checkShowAs(e.ShowAs); err != nil {
			return fmt.Errorf("update event %q: %w", eventID, err)
		}
		e.ID, e.CreatedDateTime = eventID, mb.Events[i].CreatedDateTime
		e.Start, e.End = e.Start.UTC(), e.End.UTC()
		e.ChangeKey, e.LastModifiedDateTime = newChangeKeyNow(), s.Now()
		mb.Events[i] = e
		rec(Change{Resource: eventResource(u.ID, eventID), Type: ChangeUpdated})
		return nil
	})
}

// MoveEvent shifts an event to start at start, keeping its duration.
func (s *Sim) MoveEvent(userID, eventID string, start time.Time) error {
	return s.UpdateEvent(userID, eventID, func(e *Event) {
		d := e.End.Sub(e.Start)
		e.Start, e.End = start, start.Add(d)
	})
}

// CancelEvent marks an event cancelled (it stays in calendarView with isCancelled).
func (s *Sim) CancelEvent(userID, eventID string) error {
	return s.UpdateEvent(userID, eventID, func(e *Event) { e.IsCancelled = true })
}

// DeleteEvent removes an event.
func (s *Sim) DeleteEvent(userID, eventID string) error {
	return s.write(func(t *tenant, rec changeRecorder) error {
		u, mb, err := mailboxFor(t, userID)
		if err != nil {
			return fmt.Errorf("delete event: %w", err)
		}
		i := findEvent(mb, eventID)
		if i < 0 {
			return fmt.Errorf("delete event %q: %w", eventID, ErrNotFound)
		}
		mb.Events = slices.Delete(mb.Events, i, i+1)
		rec(Change{Resource: eventResource(u.ID, eventID), Type: ChangeDeleted})
		return nil
	})
}
