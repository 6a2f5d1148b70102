package m365sim

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// ErrNotFound reports an unknown user, group, contact or event id.
var ErrNotFound = errors.New("not found")

// userResource is the change-log resource of a user.
func userResource(id string) string { return "users/" + id }

// AddUser adds a user (ID generated when empty; UPN required and unique) and
// returns the stored copy.
func (s *Sim) AddUser(u User) (User, error) {
	if u.UserPrincipalName == "" {
		return User{}, errors.New("add user: UserPrincipalName is required")
	}
	var out User
	err := s.write(func(t *tenant, rec changeRecorder) error {
		if t.byUPN[strings.ToLower(u.UserPrincipalName)] != nil {
			return fmt.Errorf("add user: userPrincipalName %q is already used", u.UserPrincipalName)
		}
		if u.ID == "" {
			u.ID = newUUID()
		}
		if t.byID[u.ID] != nil {
			return fmt.Errorf("add user: id %q is already used", u.ID)
		}
		if u.CreatedDateTime.IsZero() {
			u.CreatedDateTime = s.Now()
		}
		u.DeletedDateTime = time.Time{}
		nu := u.clone()
		t.insertUser(&nu)
		if nu.Mailbox != MailboxNone {
			t.setMailbox(nu.ID, &Mailbox{Kind: nu.Mailbox, ContactFolders: []*ContactFolder{{ID: "AAMkF-" + nu.ID + "-contacts", DisplayName: "Contacts"}}})
		}
		out = nu.clone()
		rec(Change{Resource: userResource(nu.ID), Type: ChangeCreated})
		return nil
	})
	return out, err
}

// UpdateUser changes a user (live or soft-deleted) with f. The id cannot change.
func (s *Sim) UpdateUser(id string, f func(*User)) error {
	return s.write(func(t *tenant, rec changeRecorder) error {
		u := t.lookupUser(id)
		if u == nil {
			return fmt.Errorf("update user %q: %w", id, ErrNotFound)
		}
		c := u.clone()
		f(&c)
		if c.ID != u.ID {
			return fmt.Errorf("update user %q: the id cannot change", id)
		}
		if !strings.EqualFold(c.UserPrincipalName, u.UserPrincipalName) {
			if c.UserPrincipalName == "" || t.byUPN[strings.ToLower(c.UserPrincipalName)] != nil {
				return fmt.Errorf("update user %q: userPrincipalName %q is empty or already used", id, c.UserPrincipalName)
			}
			delete(t.byUPN, strings.ToLower(u.UserPrincipalName))
			t.byUPN[strings.ToLower(c.UserPrincipalName)] = u
		}
		if c.Mailbox != MailboxNone && t.mailboxes[id] == nil {
			t.setMailbox(id, &Mailbox{Kind: c.Mailbox, ContactFolders: []*ContactFolder{{ID: "AAMkF-" + id + "-contacts", DisplayName: "Contacts"}}})
		}
		*u = c
		rec(Change{Resource: userResource(id), Type: ChangeUpdated})
		return nil
	})
}

// DisableUser sets accountEnabled false.
func (s *Sim) DisableUser(id string) error {
	return s.UpdateUser(id, func(u *User) { u.AccountEnabled = false })
}

// EnableUser sets accountEnabled true.
func (s *Sim) EnableUser(id string) error {
	return s.UpdateUser(id, func(u *User) { u.AccountEnabled = true })
}

// SoftDeleteUser moves a user to the recycle bin: gone from /users, delta
// reports "@removed": {"reason": "changed"}.
func (s *Sim) SoftDeleteUser(id string) error {
	return s.write(func(t *tenant, rec changeRecorder) error {
		u := t.activeUser(id)
		if u == nil {
			return fmt.Errorf("soft-delete user %q: %w", id, ErrNotFound)
		}
		u.DeletedDateTime = s.Now()
		rec(Change{Resource: userResource(u.ID), Type: ChangeDeleted, SoftDelete: true})
		return nil
	})
}

// RestoreUser brings a soft-deleted user back.
func (s *Sim) RestoreUser(id string) error {
	return s.write(func(t *tenant, rec changeRecorder) error {
		u := t.lookupUser(id)
		if u == nil || !u.SoftDeleted() {
			return fmt.Errorf("restore user %q: %w (not in the recycle bin)", id, ErrNotFound)
		}
		u.DeletedDateTime = time.Time{}
		rec(Change{Resource: userResource(u.ID), Type: ChangeCreated})
		return nil
	})
}

// HardDeleteUser removes a user for good: delta reports "@removed": {"reason": "deleted"}.
func (s *Sim) HardDeleteUser(id string) error {
	return s.write(func(t *tenant, rec changeRecorder) error {
		u := t.lookupUser(id)
		if u == nil {
			return fmt.Errorf("delete user %q: %w", id, ErrNotFound)
		}
		t.removeUser(u)
		rec(Change{Resource: userResource(u.ID), Type: ChangeDeleted})
		return nil
	})
}

// SetPhoto gives a user a JPEG (or PNG) photo. Photos never show in users
// delta, as in Graph; the change hook sees "users/{id}/photo".
func (s *Sim) SetPhoto(id string, data []byte) error {
	if len(data) == 0 {
		return errors.New("set photo: empty image")
	}
	ct := http.DetectContentType(data)
	if ct != "image/jpeg" && ct != "image/png" {
		return fmt.Errorf("set photo: the data is %s, not a JPEG or PNG image", ct)
	}
	sum := sha256.Sum256(data)
	return s.write(func(t *tenant, rec changeRecorder) error {
		u := t.activeUser(id)
		if u == nil {
			return fmt.Errorf("set photo for %q: %w", id, ErrNotFound)
		}
		p := &Photo{ContentType: ct, Width: 240, Height: 240, ETag: fmt.Sprintf("\"%X\"", sum[:4]), data: slices.Clone(data)}
		t.photos[u.ID] = p
		rec(Change{Resource: userResource(u.ID) + "/photo", Type: ChangeUpdated})
		return nil
	})
}

// RemovePhoto deletes a user's photo.
func (s *Sim) RemovePhoto(id string) error {
	return s.write(func(t *tenant, rec changeRecorder) error {
		u := t.activeUser(id)
		if u == nil || t.photos[u.ID] == nil {
			return fmt.Errorf("remove photo of %q: %w", id, ErrNotFound)
		}
		delete(t.photos, u.ID)
		rec(Change{Resource: userResource(u.ID) + "/photo", Type: ChangeDeleted})
		return nil
	})
}

// PhotoETag returns the user's photo etag ("" when none).
func (s *Sim) PhotoETag(id string) string {
	var e string
	s.read(func(t *tenant) {
		if u := t.lookupUser(id); u != nil && t.photos[u.ID] != nil {
			e = t.photos[u.ID].ETag
		}
	})
	return e
}

// AddGroupMember adds a user or group to a group.
func (s *Sim) AddGroupMember(groupID, memberID string) error {
	return s.write(func(t *tenant, rec changeRecorder) error {
		g := t.groupByID[groupID]
		if g == nil {
			return fmt.Errorf("add member to group %q: %w", groupID, ErrNotFound)
		}
		if t.byID[memberID] == nil && t.groupByID[memberID] == nil {
			return fmt.Errorf("add member %q: %w", memberID, ErrNotFound)
		}
		if memberID == groupID {
			return errors.New("add member: a group cannot contain itself")
		}
		if !slices.Contains(g.Members, memberID) {
			g.Members = append(g.Members, memberID)
			rec(Change{Resource: "groups/" + groupID, Type: ChangeUpdated})
		}
		return nil
	})
}

// RemoveGroupMember removes a direct member from a group.
func (s *Sim) RemoveGroupMember(groupID, memberID string) error {
	return s.write(func(t *tenant, rec changeRecorder) error {
		g := t.groupByID[groupID]
		if g == nil || !slices.Contains(g.Members, memberID) {
			return fmt.Errorf("remove member %q from group %q: %w", memberID, groupID, ErrNotFound)
		}
		g.Members = slices.DeleteFunc(g.Members, func(m string) bool { return m == memberID })
		rec(Change{Resource: "groups/" + groupID, Type: ChangeUpdated})
		return nil
	})
}

// AddGroup creates a group and returns the stored copy.
func (s *Sim) AddGroup(g Group) (Group, error) {
	if g.DisplayName == "" {
		return Group{}, errors.New("add group: DisplayName is required")
	}
	var out Group
	err := s.write(func(t *tenant, rec changeRecorder) error {
		if g.ID == "" {
			g.ID = newUUID()
		}
		if t.groupByID[g.ID] != nil || t.byID[g.ID] != nil {
			return fmt.Errorf("add group: id %q is already used", g.ID)
		}
		for _, m := range g.Members {
			if t.byID[m] == nil && t.groupByID[m] == nil {
				return fmt.Errorf("add group: member %q: %w", m, ErrNotFound)
			}
		}
		if g.CreatedDateTime.IsZero() {
			g.CreatedDateTime = s.Now()
		}
		ng := g.clone()
		t.insertGroup(&ng)
		out = ng.clone()
		rec(Change{Resource: "groups/" + ng.ID, Type: ChangeCreated})
		return nil
	})
	return out, err
}

// Users returns a snapshot of every user (soft-deleted ones included, see
// User.SoftDeleted), sorted by id.
func (s *Sim) Users() []User {
	var out []User
	s.read(func(t *tenant) {
		out = make([]User, len(t.users))
		for i, u := range t.users {
			out[i] = u.clone()
		}
	})
	return out
}

// User returns a copy of one user by id or UPN.
func (s *Sim) User(idOrUPN string) (User, bool) {
	var out User
	ok := false
	s.read(func(t *tenant) {
		if u := t.lookupUser(idOrUPN); u != nil {
			out, ok = u.clone(), true
		}
	})
	return out, ok
}

// Groups returns a snapshot of every group, sorted by id.
func (s *Sim) Groups() []Group {
	var out []Group
	s.read(func(t *tenant) {
		for _, g := range t.groups {
			out = append(out, g.clone())
		}
	})
	return out
}

// GroupByName returns the first group with the display name.
func (s *Sim) GroupByName(name string) (Group, bool) {
	var out Group
	ok := false
	s.read(func(t *tenant) {
		for _, g := range t.groups {
			if g.DisplayName == name {
				out, ok = g.clone(), true
				return
			}
		}
	})
	return out, ok
}

// TransitiveUserIDs lists the ids of the users in a group, nested groups flattened.
func (s *Sim) TransitiveUserIDs(groupID string) []string {
	var out []string
	s.read(func(t *tenant) {
		if g := t.groupByID[groupID]; g != nil {
			for _, u := range t.flatten(g).users {
				out = append(out, u.ID)
			}
		}
	})
	return out
}
