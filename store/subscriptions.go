package store

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Subscription is a Graph change-notification subscription pbx365 made, by
// resource ("users", "users/{id}/events", "users/{id}/contacts"). ClientState
// is the secret Graph echoes in every notification of it; keeping it here lets
// a restarted service go on accepting the subscription's notifications.
type Subscription struct {
	Resource        string    `json:"resource"`
	ID              string    `json:"id"`
	ClientState     string    `json:"client_state"`
	NotificationURL string    `json:"notification_url"`
	Expiration      time.Time `json:"expiration"`
	Renewed         time.Time `json:"renewed"` // when it was created or last renewed
}

// Subscription returns the subscription for a resource; ok is false when there is none.
func (s *Store) Subscription(resource string) (sub Subscription, ok bool, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		ok, err = getJSON(tx.Bucket(bucketSubscriptions), []byte(resource), &sub)
		return err
	})
	return sub, ok, err
}

// PutSubscription stores (replaces) the subscription of sub.Resource.
func (s *Store) PutSubscription(sub Subscription) error {
	if sub.Resource == "" || sub.ID == "" || sub.ClientState == "" {
		return fmt.Errorf("put subscription %q: resource, id and client state are required", sub.Resource)
	}
	return s.Update(func(tx *Tx) error {
		if err := putJSON(tx.tx.Bucket(bucketSubscriptions), []byte(sub.Resource), sub); err != nil {
			return fmt.Errorf("put subscription %s: %w", sub.Resource, err)
		}
		return nil
	})
}

// DeleteSubscription forgets the subscription of a resource (none is no error).
func (s *Store) DeleteSubscription(resource string) error {
	return s.Update(func(tx *Tx) error {
		if err := tx.tx.Bucket(bucketSubscriptions).Delete([]byte(resource)); err != nil {
			return fmt.Errorf("delete subscription %s: %w", resource, err)
		}
		return nil
	})
}

// Subscriptions returns every stored subscription, by resource.
func (s *Store) Subscriptions() ([]Subscription, error) {
	return listJSON[Subscription](s, bucketSubscriptions, nil)
}
