package pbxclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
)

// wireContact is Pbx.Contact. Every writable field is always sent, so a
// PATCH sets the whole entry (and clears what the source no longer has).
type wireContact struct {
	ID          int32  `json:"Id,omitempty"`
	FirstName   string `json:"FirstName"`
	LastName    string `json:"LastName"`
	CompanyName string `json:"CompanyName"`
	Title       string `json:"Title"`
	Department  string `json:"Department"`
	Email       string `json:"Email"`
	PhoneNumber string `json:"PhoneNumber"`
	Mobile2     string `json:"Mobile2"`
	Home        string `json:"Home"`
	Business    string `json:"Business"`
	Business2   string `json:"Business2"`
	Other       string `json:"Other"`
	Tag         string `json:"Tag"`
	ContactType string `json:"ContactType,omitempty"`
}

func toWireContact(c Contact) wireContact {
	w := wireContact(c)
	w.ID = 0
	return w
}

func contactID(w wireContact) string { return strconv.Itoa(int(w.ID)) }

func contacts(ws []wireContact) []Contact {
	out := make([]Contact, len(ws))
	for i, w := range ws {
		out[i] = Contact(w)
	}
	return out
}

// CompanyContacts lists the company phonebook visible to the API client
// (GET /Contacts, paged).
func (x *XAPI) CompanyContacts(ctx context.Context) ([]Contact, error) {
	ws, err := listAll(ctx, x, "list company contacts", "Contacts", nil, "Id", contactID)
	if err != nil {
		return nil, err
	}
	return contacts(ws), nil
}

// CreateCompanyContact adds a company phonebook entry (POST /Contacts → 201).
// Not retried once sent: a lost reply is ErrOutcomeUnknown.
func (x *XAPI) CreateCompanyContact(ctx context.Context, c Contact) (Contact, error) {
	return x.createContact(ctx, "create company contact", "Contacts", toWireContact(c))
}

// PersonalContacts lists the personal phonebook of extension number
// (Contacts/Pbx.GetContactsByNumber(number='…'), paged).
func (x *XAPI) PersonalContacts(ctx context.Context, number string) ([]Contact, error) {
	path := "Contacts/Pbx.GetContactsByNumber(number=" + keyLiteral(number) + ")"
	ws, err := listAll(ctx, x, "list personal contacts of "+number, path, nil, "Id", contactID)
	if err != nil {
		return nil, err
	}
	return contacts(ws), nil
}

// CreatePersonalContact adds an entry to the personal phonebook of
// extension number (Contacts/Pbx.CreateContactByNumber → 200). Not retried
// once sent: a lost reply is ErrOutcomeUnknown.
func (x *XAPI) CreatePersonalContact(ctx context.Context, number string, c Contact) (Contact, error) {
	body := map[string]any{"contact": toWireContact(c), "number": number}
	return x.createContact(ctx, "create personal contact of "+number, "Contacts/Pbx.CreateContactByNumber", body)
}

func (x *XAPI) createContact(ctx context.Context, op, path string, body any) (Contact, error) {
	rep, err := x.do(ctx, request{op: op, method: http.MethodPost, path: path, body: body, policy: retryUnsentOnly})
	if err != nil {
		return Contact{}, err
	}
	var w wireContact
	if err := decode(op, rep, &w); err != nil || w.ID == 0 {
		return Contact{}, &Error{Op: op, Status: rep.status, Kind: ErrOutcomeUnknown,
			Message: "created, but the reply has no contact Id: " + snippet(rep.body), Err: err}
	}
	return Contact(w), nil
}

// UpdateContact sets every field of entry id to c (PATCH /Contacts({Id})).
// ContactType is sent only when set.
func (x *XAPI) UpdateContact(ctx context.Context, id int32, c Contact) error {
	return x.patch(ctx, fmt.Sprintf("update contact %d", id), entity("Contacts", id), toWireContact(c))
}

// DeleteContacts deletes entries by id with Contacts/Pbx.DeleteContactsById
// (20.0.9+); on a PBX without that action (404) it deletes them one by one.
// Deleting by id is retried: a repeat leaves the same state.
func (x *XAPI) DeleteContacts(ctx context.Context, ids []int32) error {
	if len(ids) == 0 {
		return nil
	}
	op := fmt.Sprintf("delete %d contacts", len(ids))
	_, err := x.do(ctx, request{op: op, method: http.MethodPost, path: "Contacts/Pbx.DeleteContactsById",
		body: map[string]any{"ids": ids}})
	if err == nil || !isMissingRoute(err) {
		return err
	}
	x.log.Debug("xapi DeleteContactsById not on this PBX, deleting one by one", "count", len(ids))
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() { // bounded by the concurrency semaphore
			_, err := x.do(ctx, request{op: fmt.Sprintf("delete contact %d", id), method: http.MethodDelete,
				path: entity("Contacts", id), goneOK: true})
			if err != nil && !errors.Is(err, ErrNotFound) {
				errs[i] = err
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// isMissingRoute tells a 404 for an unknown route (an action this version
// lacks) from a 404 naming a missing entity (which carries a warning key).
func isMissingRoute(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound && e.Warning == ""
}
