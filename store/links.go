package store

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Link ties a directory user (Entra object id) to a PBX extension. The number
// of a link never changes: PutLinks refuses to renumber a link or to give a
// linked number to another user; only Unlink (an admin action) frees them.
type Link struct {
	ObjectID  string    `json:"object_id"`
	PBXUserID int32     `json:"pbx_user_id"` // may change when a deleted extension is recreated
	Number    string    `json:"number"`
	LeftAt    time.Time `json:"left_at,omitzero"` // when the user left scope; zero while in scope
	Disabled  bool      `json:"disabled,omitempty"`
	PhotoETag string    `json:"photo_etag,omitempty"`
	LinkedAt  time.Time `json:"linked_at,omitzero"` // set on first write, kept afterwards
}

// ErrLinkConflict is wrapped by PutLinks when a write would renumber a link or
// link one number to two users.
var ErrLinkConflict = errors.New("link conflict")

// ErrNotFound is wrapped when a named record does not exist.
var ErrNotFound = errors.New("not found")

// Link returns the link of a directory user; ok is false when there is none.
func (s *Store) Link(objectID string) (l Link, ok bool, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		ok, err = getJSON(tx.Bucket(bucketLinks), []byte(objectID), &l)
		return err
	})
	return l, ok, err
}

// LinkByNumber returns the link holding an extension number.
func (s *Store) LinkByNumber(number string) (l Link, ok bool, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		oid := tx.Bucket(bucketLinksByNumber).Get([]byte(number))
		if oid == nil {
			return nil
		}
		ok, err = getJSON(tx.Bucket(bucketLinks), oid, &l)
		if err == nil && !ok {
			return fmt.Errorf("number %s: index names %s, which has no link: state.db is damaged", number, oid)
		}
		return err
	})
	return l, ok, err
}

// Links returns every link, ordered by object id.
func (s *Store) Links() ([]Link, error) {
	return listJSON[Link](s, bucketLinks, nil)
}

// PutLinks writes links in one transaction: all or none.
func (s *Store) PutLinks(links []Link) error {
	return s.Update(func(tx *Tx) error { return tx.PutLinks(links) })
}

// Unlink removes a user's link and frees its number: an explicit admin action.
func (s *Store) Unlink(objectID string) error {
	return s.Update(func(tx *Tx) error { return tx.Unlink(objectID) })
}

// PutLinks writes links (new or updated) inside the transaction. A link keeps
// its number and LinkedAt; a number belongs to one user.
func (t *Tx) PutLinks(links []Link) error {
	b, idx := t.tx.Bucket(bucketLinks), t.tx.Bucket(bucketLinksByNumber)
	// Keys are written in order: bbolt keeps a transaction's inserts in memory
	// per node, and random-order inserts into a big batch copy quadratically.
	// Ties keep batch order, so of two writes of one link the later wins.
	order := make([]int, len(links))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		return cmp.Or(strings.Compare(links[a].ObjectID, links[b].ObjectID), cmp.Compare(a, b))
	})
	now := time.Now().UTC()
	newNumbers := map[string]string{} // number → object id, linked by this batch
	for _, i := range order {
		l := links[i]
		if l.ObjectID == "" || l.Number == "" {
			return fmt.Errorf("put link %q → %q: object id and number are both required", l.ObjectID, l.Number)
		}
		var old Link
		had, err := getJSON(b, []byte(l.ObjectID), &old)
		if err != nil {
			return fmt.Errorf("put link %s: %w", l.ObjectID, err)
		}
		if had {
			if old.Number != l.Number {
				return fmt.Errorf("%w: %s is linked to number %s and cannot be renumbered to %s (unlink it first)", ErrLinkConflict, l.ObjectID, old.Number, l.Number)
			}
			l.LinkedAt = old.LinkedAt
		} else {
			other, taken := newNumbers[l.Number]
			if !taken {
				other = string(idx.Get([]byte(l.Number)))
				taken = other != ""
			}
			if taken && other != l.ObjectID {
				return fmt.Errorf("%w: number %s is already linked to %s, not %s", ErrLinkConflict, l.Number, other, l.ObjectID)
			}
			newNumbers[l.Number] = l.ObjectID
		}
		if l.LinkedAt.IsZero() {
			l.LinkedAt = now
		}
		if err := putJSON(b, []byte(l.ObjectID), l); err != nil {
			return fmt.Errorf("put link %s: %w", l.ObjectID, err)
		}
	}
	if err := putIndex(idx, newNumbers); err != nil {
		return fmt.Errorf("index links by number: %w", err)
	}
	return nil
}

// putIndex writes number → object id entries in number order.
func putIndex(idx *bolt.Bucket, byNumber map[string]string) error {
	for _, num := range slices.Sorted(maps.Keys(byNumber)) {
		if err := idx.Put([]byte(num), []byte(byNumber[num])); err != nil {
			return err
		}
	}
	return nil
}

// Unlink removes a link and its number index entry inside the transaction.
func (t *Tx) Unlink(objectID string) error {
	b := t.tx.Bucket(bucketLinks)
	var l Link
	ok, err := getJSON(b, []byte(objectID), &l)
	if err != nil {
		return fmt.Errorf("unlink %s: %w", objectID, err)
	}
	if !ok {
		return fmt.Errorf("unlink %s: %w: the user has no link", objectID, ErrNotFound)
	}
	if err := b.Delete([]byte(objectID)); err != nil {
		return fmt.Errorf("unlink %s: %w", objectID, err)
	}
	if err := t.tx.Bucket(bucketLinksByNumber).Delete([]byte(l.Number)); err != nil {
		return fmt.Errorf("unlink %s: %w", objectID, err)
	}
	return nil
}

// getJSON decodes key's value into v; ok is false when the key is missing.
func getJSON(b *bolt.Bucket, key []byte, v any) (bool, error) {
	raw := b.Get(key)
	if raw == nil {
		return false, nil
	}
	if err := decode(raw, v); err != nil {
		return true, err
	}
	return true, nil
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	raw, err := encode(v)
	if err != nil {
		return err
	}
	return b.Put(key, raw)
}
