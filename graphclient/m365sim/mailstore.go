package m365sim

import "slices"

// Deep copies of the mailbox model. The Outlook routes and the meeting and
// contact control methods live in mailbox_*.go.

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
