package store

import (
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Alert is what the report mailer remembers about one problem, so it mails
// each problem at most once a day: when it last mailed about it, and how often
// the problem came back since without a mail.
type Alert struct {
	Key     string    `json:"key"`               // the problem: "guard/removal-threshold", "failed-writes", "error/<first line>", "summary", ...
	Sent    time.Time `json:"sent"`              // when the last mail about it was accepted
	Subject string    `json:"subject,omitempty"` // that mail's subject
	Repeats int       `json:"repeats,omitempty"` // occurrences since Sent that were not mailed
}

// maxAlertKey bounds a key (keys come from error text).
const maxAlertKey = 512

func checkAlertKey(key string) error {
	switch {
	case strings.TrimSpace(key) == "":
		return fmt.Errorf("alert key is required")
	case len(key) > maxAlertKey:
		return fmt.Errorf("alert key is %d bytes, at most %d", len(key), maxAlertKey)
	}
	return nil
}

// Alert returns the record of one problem; ok is false when it was never
// mailed (or was pruned).
func (s *Store) Alert(key string) (a Alert, ok bool, err error) {
	if err := checkAlertKey(key); err != nil {
		return Alert{}, false, fmt.Errorf("read alert: %w", err)
	}
	err = s.view(func(tx *bolt.Tx) error {
		ok, err = getJSON(tx.Bucket(bucketAlerts), []byte(key), &a)
		return err
	})
	if err != nil {
		return Alert{}, false, fmt.Errorf("read alert %q: %w", key, err)
	}
	return a, ok, nil
}

// PutAlert stores (replaces) the record of a.Key; a.Sent is required.
func (s *Store) PutAlert(a Alert) error {
	if err := checkAlertKey(a.Key); err != nil {
		return fmt.Errorf("put alert: %w", err)
	}
	if a.Sent.IsZero() {
		return fmt.Errorf("put alert %q: the time it was sent is required", a.Key)
	}
	a.Sent = a.Sent.UTC()
	return s.Update(func(tx *Tx) error {
		if err := putJSON(tx.tx.Bucket(bucketAlerts), []byte(a.Key), a); err != nil {
			return fmt.Errorf("put alert %q: %w", a.Key, err)
		}
		return nil
	})
}

// Alerts returns every record, by key.
func (s *Store) Alerts() ([]Alert, error) {
	return listJSON[Alert](s, bucketAlerts, nil)
}

// PruneAlerts forgets the records last sent before t and returns how many it
// removed (keys come from error texts, so old ones are dropped, not kept forever).
func (s *Store) PruneAlerts(before time.Time) (int, error) {
	n, err := prune(s, bucketAlerts, func(k []byte) string { return fmt.Sprintf("alert %q", k) },
		func(a Alert) bool { return a.Sent.Before(before) })
	if err != nil {
		return 0, fmt.Errorf("prune alerts: %w", err)
	}
	return n, nil
}
