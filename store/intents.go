package store

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Intent is a PBX write about to happen. apply stores it before the write and
// settles it after; the next run settles intents left open by a crash (by
// looking the extension up by number and email) before planning.
type Intent struct {
	ID        uint64          `json:"id"`
	Run       uint64          `json:"run"`
	ChangeKey string          `json:"change_key"` // identifies the planned change, e.g. "create/<object id>"
	Action    string          `json:"action"`
	ObjectID  string          `json:"object_id,omitempty"`
	Number    string          `json:"number,omitempty"`
	Email     string          `json:"email,omitempty"`
	Payload   json.RawMessage `json:"payload,omitempty"` // what is written
	Created   time.Time       `json:"created"`
	Settled   time.Time       `json:"settled,omitzero"`
	Outcome   string          `json:"outcome,omitempty"` // set when settled
}

// Outcomes of a settled intent.
const (
	OutcomeDone       = "done"        // the write happened (or was found done on the PBX)
	OutcomeFailed     = "failed"      // the PBX refused the write
	OutcomeNotWritten = "not-written" // a crash left it open and the PBX shows it never happened
)

// PutIntent stores an open intent before its PBX write and returns its ID.
func (s *Store) PutIntent(in Intent) (uint64, error) {
	var id uint64
	err := s.Update(func(tx *Tx) error {
		var err error
		id, err = tx.PutIntent(in)
		return err
	})
	return id, err
}

// PutIntent stores an open intent inside the transaction.
func (t *Tx) PutIntent(in Intent) (uint64, error) {
	if in.Run == 0 || in.ChangeKey == "" || in.Action == "" {
		return 0, fmt.Errorf("put intent %q: run, change key and action are required", in.ChangeKey)
	}
	if len(in.Payload) > 0 && !json.Valid(in.Payload) {
		return 0, fmt.Errorf("put intent %q: payload is not valid JSON", in.ChangeKey)
	}
	if t.tx.Bucket(bucketRuns).Get(itob(in.Run)) == nil {
		return 0, fmt.Errorf("put intent %q: run %d: %w", in.ChangeKey, in.Run, ErrNotFound)
	}
	b := t.tx.Bucket(bucketIntents)
	id, err := b.NextSequence()
	if err != nil {
		return 0, fmt.Errorf("put intent %q: %w", in.ChangeKey, err)
	}
	in.ID, in.Settled, in.Outcome = id, time.Time{}, ""
	if in.Created.IsZero() {
		in.Created = time.Now().UTC()
	}
	if err := putJSON(b, itob(id), in); err != nil {
		return 0, fmt.Errorf("put intent %q: %w", in.ChangeKey, err)
	}
	return id, nil
}

// ListOpenIntents returns the intents not yet settled, oldest first.
func (s *Store) ListOpenIntents() ([]Intent, error) {
	return listJSON[Intent](s, bucketIntents, nil)
}

// SettledIntent returns a settled intent (for recovery reports and tests).
func (s *Store) SettledIntent(id uint64) (in Intent, ok bool, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		ok, err = getJSON(tx.Bucket(bucketIntentsSettled), itob(id), &in)
		return err
	})
	return in, ok, err
}

// SettleIntent settles an open intent on its own.
func (s *Store) SettleIntent(id uint64, outcome string) error {
	return s.Update(func(tx *Tx) error { return tx.SettleIntent(id, outcome) })
}

// Settle settles an intent and writes its consequences in ONE transaction: the
// link (nil: none) and the audit item (nil: none). A crash leaves either all
// three written or none, never a link without a settled intent or the
// reverse. The outcome is the item's result mapped to an intent outcome
// (ok → done, failed → failed, skipped → not-written), or done without an
// item.
func (s *Store) Settle(intentID uint64, link *Link, item *RunItem) error {
	outcome := OutcomeDone
	if item != nil {
		switch item.Result {
		case ResultFailed:
			outcome = OutcomeFailed
		case ResultSkipped:
			outcome = OutcomeNotWritten
		}
	}
	return s.Update(func(tx *Tx) error {
		if err := tx.SettleIntent(intentID, outcome); err != nil {
			return err
		}
		if link != nil {
			if err := tx.PutLinks([]Link{*link}); err != nil {
				return fmt.Errorf("settle intent %d: %w", intentID, err)
			}
		}
		if item != nil {
			items := []RunItem{*item}
			if err := tx.AppendRunItems(items); err != nil {
				return fmt.Errorf("settle intent %d: %w", intentID, err)
			}
			*item = items[0]
		}
		return nil
	})
}

// SettleIntent moves an open intent to the settled ones with its outcome,
// inside the transaction. Settling an intent that is not open is an error.
func (t *Tx) SettleIntent(id uint64, outcome string) error {
	switch outcome {
	case OutcomeDone, OutcomeFailed, OutcomeNotWritten:
	default:
		return fmt.Errorf("settle intent %d: outcome %q is not one of done, failed, not-written", id, outcome)
	}
	open := t.tx.Bucket(bucketIntents)
	var in Intent
	ok, err := getJSON(open, itob(id), &in)
	if err != nil {
		return fmt.Errorf("settle intent %d: %w", id, err)
	}
	if !ok {
		return fmt.Errorf("settle intent %d: %w: it is not open", id, ErrNotFound)
	}
	in.Settled, in.Outcome = time.Now().UTC(), outcome
	if err := putJSON(t.tx.Bucket(bucketIntentsSettled), itob(id), in); err != nil {
		return fmt.Errorf("settle intent %d: %w", id, err)
	}
	if err := open.Delete(itob(id)); err != nil {
		return fmt.Errorf("settle intent %d: %w", id, err)
	}
	return nil
}

// PruneSettledIntents deletes settled intents settled before cutoff (the
// audit log keeps the history) and returns how many went.
func (s *Store) PruneSettledIntents(cutoff time.Time) (int, error) {
	n, err := prune(s, bucketIntentsSettled, func(k []byte) string { return fmt.Sprintf("settled intent %d", btoi(k)) },
		func(in Intent) bool { return in.Settled.Before(cutoff) })
	if err != nil {
		return 0, fmt.Errorf("prune settled intents: %w", err)
	}
	return n, nil
}
