package graphclient

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Contact folder choices (setting contacts.folders).
const (
	FoldersDefault = "default" // the mailbox's default Contacts folder
	FoldersAll     = "all"     // the default folder and every contact folder below it
)

const contactSelect = "id,parentFolderId,changeKey,displayName,givenName,surname,companyName,department,jobTitle,emailAddresses,mobilePhone,businessPhones,homePhones"

// contactPageSize is $top for Outlook contact lists.
const contactPageSize = 100

type contactJSON struct {
	ID             string `json:"id"`
	ParentFolderID string `json:"parentFolderId"`
	ChangeKey      string `json:"changeKey"`
	DisplayName    string `json:"displayName"`
	GivenName      string `json:"givenName"`
	Surname        string `json:"surname"`
	CompanyName    string `json:"companyName"`
	Department     string `json:"department"`
	JobTitle       string `json:"jobTitle"`
	EmailAddresses []struct {
		Name    string `json:"name"`
		Address string `json:"address"`
	} `json:"emailAddresses"`
	MobilePhone    string   `json:"mobilePhone"`
	BusinessPhones []string `json:"businessPhones"`
	HomePhones     []string `json:"homePhones"`
	Removed        *struct {
		Reason string `json:"reason"`
	} `json:"@removed"`
}

func (j *contactJSON) contact() Contact {
	c := Contact{
		ID: j.ID, FolderID: j.ParentFolderID, ChangeKey: j.ChangeKey,
		DisplayName: j.DisplayName, GivenName: j.GivenName, Surname: j.Surname,
		CompanyName: j.CompanyName, Department: j.Department, JobTitle: j.JobTitle,
		MobilePhone: j.MobilePhone, BusinessPhones: j.BusinessPhones, HomePhones: j.HomePhones,
	}
	for _, e := range j.EmailAddresses {
		if e.Address != "" {
			c.Emails = append(c.Emails, e.Address)
		}
	}
	return c
}

// Contacts reads a mailbox's personal contacts: the default folder only
// (FoldersDefault, also for "") or every folder (FoldersAll). A mailbox that
// does not exist or is not enabled gives an error for which IsNotFound is true.
func (c *Client) Contacts(ctx context.Context, userID, folders string) ([]Contact, error) {
	if strings.TrimSpace(userID) == "" {
		return nil, errors.New("contacts: empty user id")
	}
	op := "contacts of " + userID
	switch folders {
	case "", FoldersDefault, FoldersAll:
	default:
		return nil, fmt.Errorf("%s: contacts.folders %q is not valid: use default or all", op, folders)
	}
	user := "/users/" + pathEscape(userID)
	out, err := c.contactsIn(ctx, user+"/contacts")
	if err != nil {
		return nil, c.wrap(op, err)
	}
	if folders != FoldersAll {
		return out, nil
	}
	fs, err := c.contactFolders(ctx, user)
	if err != nil {
		return nil, c.wrap(op, err)
	}
	for _, f := range fs {
		cs, err := c.contactsIn(ctx, user+"/contactFolders/"+pathEscape(f.ID)+"/contacts")
		if err != nil {
			return nil, c.wrap(op, err)
		}
		out = append(out, cs...)
	}
	return out, nil
}

// ContactFolders lists the contact folders below a mailbox's default Contacts
// folder, children included, parents before their children. A mailbox that
// does not exist or is not enabled gives an error for which IsNotFound is true.
func (c *Client) ContactFolders(ctx context.Context, userID string) ([]ContactFolder, error) {
	if strings.TrimSpace(userID) == "" {
		return nil, errors.New("contact folders: empty user id")
	}
	fs, err := c.contactFolders(ctx, "/users/"+pathEscape(userID))
	if err != nil {
		return nil, c.wrap("contact folders of "+userID, err)
	}
	return fs, nil
}

// contactFolders walks contactFolders (the children of the default folder)
// and each folder's childFolders, breadth first.
func (c *Client) contactFolders(ctx context.Context, user string) ([]ContactFolder, error) {
	var out []ContactFolder
	queue := []string{user + "/contactFolders"}
	for len(queue) > 0 {
		list := queue[0]
		queue = queue[1:]
		start := len(out)
		_, err := pageAll(ctx, c, c.url(list, url.Values{"$select": {"id,displayName,parentFolderId"}, "$top": {fmt.Sprint(contactPageSize)}}), nil,
			func(p []struct {
				ID             string `json:"id"`
				DisplayName    string `json:"displayName"`
				ParentFolderID string `json:"parentFolderId"`
			}) error {
				for _, f := range p {
					out = append(out, ContactFolder{ID: f.ID, DisplayName: f.DisplayName, ParentFolderID: f.ParentFolderID})
				}
				return nil
			})
		if err != nil {
			return nil, err
		}
		for _, f := range out[start:] {
			queue = append(queue, user+"/contactFolders/"+pathEscape(f.ID)+"/childFolders")
		}
	}
	return out, nil
}

func (c *Client) contactsIn(ctx context.Context, path string) ([]Contact, error) {
	var out []Contact
	q := url.Values{"$select": {contactSelect}, "$top": {fmt.Sprint(contactPageSize)}}
	_, err := pageAll(ctx, c, c.url(path, q), nil, func(p []contactJSON) error {
		for i := range p {
			out = append(out, p[i].contact())
		}
		return nil
	})
	return out, err
}

// ContactsDelta runs one contact delta round for a mailbox folder (folderID ""
// is the default Contacts folder). deltaLink "" starts an initial round. An
// expired or rejected token yields an error wrapping ErrResyncRequired.
func (c *Client) ContactsDelta(ctx context.Context, userID, folderID, deltaLink string) (ContactDelta, error) {
	var out ContactDelta
	if strings.TrimSpace(userID) == "" {
		return out, errors.New("contacts delta: empty user id")
	}
	op := "contacts delta of " + userID
	path := "/users/" + pathEscape(userID) + "/contacts/delta"
	if folderID != "" {
		path = "/users/" + pathEscape(userID) + "/contactFolders/" + pathEscape(folderID) + "/contacts/delta"
	}
	first := c.url(path, url.Values{"$select": {contactSelect}})
	hdr := map[string]string{"Prefer": fmt.Sprintf("odata.maxpagesize=%d", contactPageSize)}
	link, err := deltaRound(ctx, c, op, first, deltaLink, hdr, func(p []contactJSON) error {
		for i := range p {
			if p[i].Removed != nil {
				out.Removed = append(out.Removed, p[i].ID)
				continue
			}
			out.Changed = append(out.Changed, p[i].contact())
		}
		return nil
	})
	if err != nil {
		return ContactDelta{}, err
	}
	out.DeltaLink = link
	return out, nil
}
