package store

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// DeltaToken is a stored Graph delta link, by name: "users",
// "contacts/<mailbox>/<folder>", ...
type DeltaToken struct {
	Name  string    `json:"name"`
	Token string    `json:"token"` // the deltaLink (or token) to resume from
	Saved time.Time `json:"saved"`
}

// DeltaToken returns a stored token; ok is false when there is none.
func (s *Store) DeltaToken(name string) (t DeltaToken, ok bool, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		ok, err = getJSON(tx.Bucket(bucketDeltaTokens), []byte(name), &t)
		return err
	})
	return t, ok, err
}

// PutDeltaToken stores (replaces) a token.
func (s *Store) PutDeltaToken(name, token string) error {
	return s.Update(func(tx *Tx) error { return tx.PutDeltaToken(name, token) })
}

// PutDeltaToken stores a token inside the transaction, so a run can save its
// token together with its last items.
func (t *Tx) PutDeltaToken(name, token string) error {
	if name == "" || token == "" {
		return fmt.Errorf("put delta token %q: name and token are required", name)
	}
	return putJSON(t.tx.Bucket(bucketDeltaTokens), []byte(name), DeltaToken{Name: name, Token: token, Saved: time.Now().UTC()})
}

// DeleteDeltaToken forgets a token (a rejected or expired token: the next run
// is a full one).
func (s *Store) DeleteDeltaToken(name string) error {
	return s.Update(func(tx *Tx) error { return tx.tx.Bucket(bucketDeltaTokens).Delete([]byte(name)) })
}

// DeltaTokens returns every stored token, by name.
func (s *Store) DeltaTokens() ([]DeltaToken, error) {
	return listJSON[DeltaToken](s, bucketDeltaTokens, nil)
}

// DeltaTokensUnder returns the stored tokens whose names start with prefix
// ("contacts/<mailbox>/": one mailbox's folders), by name.
func (s *Store) DeltaTokensUnder(prefix string) ([]DeltaToken, error) {
	if prefix == "" {
		return nil, errors.New("delta tokens: empty prefix")
	}
	return listJSON[DeltaToken](s, bucketDeltaTokens, []byte(prefix))
}

// ReplaceDeltaTokens makes tokens the whole set of tokens under prefix:
// those given are stored, any other under prefix is deleted (a folder that
// is gone, or no longer read).
func (t *Tx) ReplaceDeltaTokens(prefix string, tokens map[string]string) error {
	if prefix == "" {
		return errors.New("replace delta tokens: empty prefix")
	}
	b := t.tx.Bucket(bucketDeltaTokens)
	var stale [][]byte
	c := b.Cursor()
	for k, _ := c.Seek([]byte(prefix)); k != nil && strings.HasPrefix(string(k), prefix); k, _ = c.Next() {
		if _, ok := tokens[string(k)]; !ok {
			stale = append(stale, bytes.Clone(k))
		}
	}
	if err := deleteKeys(b, stale); err != nil {
		return fmt.Errorf("delete delta tokens: %w", err)
	}
	for name, tok := range tokens {
		if !strings.HasPrefix(name, prefix) {
			return fmt.Errorf("replace delta tokens: %q is not under %q", name, prefix)
		}
		if err := t.PutDeltaToken(name, tok); err != nil {
			return err
		}
	}
	return nil
}

// Presence is the calendar engine's state for one user: what it set and what
// to restore.
type Presence struct {
	ObjectID   string    `json:"object_id"`
	Number     string    `json:"number,omitempty"`
	SetProfile string    `json:"set_profile,omitempty"` // the profile pbx365 set; "" when it set none
	Previous   string    `json:"previous,omitempty"`    // the profile before the first meeting, to restore
	Until      time.Time `json:"until,omitzero"`        // end of the last overlapping meeting
	Updated    time.Time `json:"updated"`
}

// Presence returns one user's presence state.
func (s *Store) Presence(objectID string) (p Presence, ok bool, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		ok, err = getJSON(tx.Bucket(bucketPresence), []byte(objectID), &p)
		return err
	})
	return p, ok, err
}

// PutPresence writes presence states in one transaction (Updated is set).
func (s *Store) PutPresence(states []Presence) error {
	now := time.Now().UTC()
	return s.Update(func(tx *Tx) error {
		b := tx.tx.Bucket(bucketPresence)
		for _, p := range states {
			if p.ObjectID == "" {
				return fmt.Errorf("put presence: object id is required")
			}
			p.Updated = now
			if err := putJSON(b, []byte(p.ObjectID), p); err != nil {
				return fmt.Errorf("put presence %s: %w", p.ObjectID, err)
			}
		}
		return nil
	})
}

// DeletePresence forgets users' presence states.
func (s *Store) DeletePresence(objectIDs ...string) error {
	return s.Update(func(tx *Tx) error {
		b := tx.tx.Bucket(bucketPresence)
		for _, id := range objectIDs {
			if err := b.Delete([]byte(id)); err != nil {
				return fmt.Errorf("delete presence %s: %w", id, err)
			}
		}
		return nil
	})
}

// PresenceStates returns every presence state, by object id.
func (s *Store) PresenceStates() ([]Presence, error) {
	return listJSON[Presence](s, bucketPresence, nil)
}

// ContactMap ties a source contact (Outlook contact id) to the PBX contact
// pbx365 created for it in one phonebook ("company" or "user/<number>").
type ContactMap struct {
	Phonebook    string    `json:"phonebook"`
	SourceID     string    `json:"source_id"`
	PBXContactID int32     `json:"pbx_contact_id"`
	Hash         string    `json:"hash,omitempty"` // of the source fields last written
	Updated      time.Time `json:"updated"`
}

func contactKey(phonebook, sourceID string) []byte {
	return []byte(phonebook + "\x00" + sourceID)
}

// PutContactMaps writes mappings in one transaction (Updated is set).
func (s *Store) PutContactMaps(maps []ContactMap) error {
	now := time.Now().UTC()
	return s.Update(func(tx *Tx) error {
		b := tx.tx.Bucket(bucketContactMaps)
		for _, m := range maps {
			if m.Phonebook == "" || m.SourceID == "" || strings.Contains(m.Phonebook, "\x00") {
				return fmt.Errorf("put contact mapping %q/%q: phonebook and source id are required", m.Phonebook, m.SourceID)
			}
			m.Updated = now
			if err := putJSON(b, contactKey(m.Phonebook, m.SourceID), m); err != nil {
				return fmt.Errorf("put contact mapping %s/%s: %w", m.Phonebook, m.SourceID, err)
			}
		}
		return nil
	})
}

// ContactMaps returns the mappings of one phonebook, by source id.
func (s *Store) ContactMaps(phonebook string) ([]ContactMap, error) {
	return listJSON[ContactMap](s, bucketContactMaps, []byte(phonebook+"\x00"))
}

// DeleteContactMaps removes mappings of one phonebook.
func (s *Store) DeleteContactMaps(phonebook string, sourceIDs ...string) error {
	return s.Update(func(tx *Tx) error {
		b := tx.tx.Bucket(bucketContactMaps)
		for _, id := range sourceIDs {
			if err := b.Delete(contactKey(phonebook, id)); err != nil {
				return fmt.Errorf("delete contact mapping %s/%s: %w", phonebook, id, err)
			}
		}
		return nil
	})
}

// listJSON decodes every value of a bucket whose key starts with prefix.
// prune deletes, in one transaction, the records of a bucket for which old
// is true and returns how many went; name says which record failed to decode.
func prune[T any](s *Store, bucket []byte, name func(k []byte) string, old func(T) bool) (int, error) {
	n := 0
	err := s.Update(func(tx *Tx) error {
		b := tx.tx.Bucket(bucket)
		var keys [][]byte
		err := b.ForEach(func(k, v []byte) error {
			var x T
			if err := decode(v, &x); err != nil {
				return fmt.Errorf("%s: %w", name(k), err)
			}
			if old(x) {
				keys = append(keys, bytes.Clone(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		n = len(keys)
		return deleteKeys(b, keys)
	})
	return n, err
}

// deleteKeys deletes keys gathered while iterating (bbolt forbids deleting
// under a ForEach or a moving cursor).
func deleteKeys(b *bolt.Bucket, keys [][]byte) error {
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return fmt.Errorf("delete %q: %w", k, err)
		}
	}
	return nil
}

func listJSON[T any](s *Store, bucket, prefix []byte) ([]T, error) {
	var out []T
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucket).Cursor()
		for k, v := c.Seek(prefix); k != nil && strings.HasPrefix(string(k), string(prefix)); k, v = c.Next() {
			var x T
			if err := decode(v, &x); err != nil {
				return fmt.Errorf("%s %q: %w", bucket, k, err)
			}
			out = append(out, x)
		}
		return nil
	})
	return out, err
}
