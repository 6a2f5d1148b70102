// Package store is pbx365's state store: one bbolt file, DIR/state.db (mode
// 0600), holding the settings, the links from directory users to PBX
// extensions, delta tokens, runs and their audit items, the intents of
// crash-safe apply, and small state for later engines (presence, contact
// mappings). It knows nothing of Graph, the PBX or the sync engine: it has its
// own types and the engine converts.
//
// # Layout
//
// Keep this tree current whenever the layout changes (and add a migration and
// a migration test for the change). Sequence keys are 8-byte big-endian, so a
// cursor walks them in numeric order and Last() is the newest.
//
//	/ (root)
//	├── meta                                          (v1)
//	│   ├── schema_version : uint64 BE
//	│   └── created_at     : RFC 3339 time of the first open
//	├── settings          ╘ <key>        : the normalized value as text (v1)
//	├── links             ╘ <object id>  : JSON Link (v1)
//	├── links_by_number   ╘ <number>     : <object id> (v2; back-filled from links)
//	├── delta_tokens      ╘ <name>       : JSON DeltaToken, names like "users", "contacts/<mailbox>/<folder>" (v1)
//	├── runs              ╘ <seq>        : JSON Run (v1)
//	├── run_items         ╘ <seq>        : JSON RunItem, the audit log (v1)
//	├── audit_by_run      ╘ <run seq><item seq>                : empty (v3; back-filled from run_items)
//	├── audit_by_user     ╘ <user key> 0x00 <item seq>         : empty (v3; one key each for the
//	│                                                             item's object id, lower-case UPN and number)
//	├── intents           ╘ <seq>        : JSON Intent, open intents only (v1)
//	├── intents_settled   ╘ <seq>        : JSON Intent with Outcome and Settled (v1)
//	├── presence          ╘ <object id>  : JSON Presence (v1)
//	├── contact_maps      ╘ <phonebook> 0x00 <source id> : JSON ContactMap (v1)
//	├── subscriptions     ╘ <resource>   : JSON Subscription, Graph change-notification subscriptions (v4)
//	└── alerts            ╘ <problem key> : JSON Alert, when the report mailer last mailed it (v5)
//
// Every migration runs at Open, all pending ones in one read-write
// transaction together with the new schema_version, so a store is always at
// one version. A store whose version is newer than this binary's is refused.
package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Bucket names. Each is listed with the schema version that introduced it.
var (
	bucketMeta           = []byte("meta")            // v1
	bucketSettings       = []byte("settings")        // v1
	bucketLinks          = []byte("links")           // v1
	bucketDeltaTokens    = []byte("delta_tokens")    // v1
	bucketRuns           = []byte("runs")            // v1
	bucketRunItems       = []byte("run_items")       // v1
	bucketIntents        = []byte("intents")         // v1
	bucketIntentsSettled = []byte("intents_settled") // v1
	bucketPresence       = []byte("presence")        // v1
	bucketContactMaps    = []byte("contact_maps")    // v1
	bucketLinksByNumber  = []byte("links_by_number") // v2
	bucketAuditByRun     = []byte("audit_by_run")    // v3
	bucketAuditByUser    = []byte("audit_by_user")   // v3
	bucketSubscriptions  = []byte("subscriptions")   // v4
	bucketAlerts         = []byte("alerts")          // v5
)

// Meta keys.
var (
	keySchemaVersion = []byte("schema_version") // v1
	keyCreatedAt     = []byte("created_at")     // v1
)

// migration moves a store from version-1 to version.
type migration struct {
	version uint64
	name    string
	apply   func(tx *bolt.Tx) error
}

// migrations is the ordered list of schema changes. Never edit a shipped
// step: append a new one (and a test seeding the previous layout).
var migrations = []migration{
	{version: 1, name: "create the buckets", apply: migrateV1},
	{version: 2, name: "index links by number", apply: migrateV2},
	{version: 3, name: "index the audit log by run and by user", apply: migrateV3},
	{version: 4, name: "store change-notification subscriptions", apply: migrateV4},
	{version: 5, name: "remember mailed alerts", apply: migrateV5},
}

// SchemaVersion is the newest schema this binary knows.
var SchemaVersion = migrations[len(migrations)-1].version

// ErrSchemaTooNew is wrapped by Open when state.db was written by a newer
// pbx365.
var ErrSchemaTooNew = errors.New("state.db is newer than this pbx365")

func migrateV1(tx *bolt.Tx) error {
	for _, b := range bucketsOf[1] {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return fmt.Errorf("create bucket %s: %w", b, err)
		}
	}
	return tx.Bucket(bucketMeta).Put(keyCreatedAt, []byte(time.Now().UTC().Format(time.RFC3339)))
}

func migrateV2(tx *bolt.Tx) error {
	idx, err := tx.CreateBucketIfNotExists(bucketLinksByNumber)
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", bucketLinksByNumber, err)
	}
	byNumber := map[string]string{}
	err = tx.Bucket(bucketLinks).ForEach(func(k, v []byte) error {
		var l Link
		if err := decode(v, &l); err != nil {
			return fmt.Errorf("link %s: %w", k, err)
		}
		if other, dup := byNumber[l.Number]; dup {
			return fmt.Errorf("number %s is linked to both %s and %s: unlink one with an older pbx365 first", l.Number, other, k)
		}
		byNumber[l.Number] = string(k)
		return nil
	})
	if err != nil {
		return err
	}
	return putIndex(idx, byNumber)
}

func migrateV3(tx *bolt.Tx) error {
	for _, b := range bucketsOf[3] {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return fmt.Errorf("create bucket %s: %w", b, err)
		}
	}
	var idx auditIndex
	err := tx.Bucket(bucketRunItems).ForEach(func(k, v []byte) error {
		var it RunItem
		if err := decode(v, &it); err != nil {
			return fmt.Errorf("run item %d: %w", btoi(k), err)
		}
		idx.add(&it)
		return nil
	})
	if err != nil {
		return err
	}
	return idx.write(tx)
}

func migrateV4(tx *bolt.Tx) error {
	if _, err := tx.CreateBucketIfNotExists(bucketSubscriptions); err != nil {
		return fmt.Errorf("create bucket %s: %w", bucketSubscriptions, err)
	}
	return nil
}

func migrateV5(tx *bolt.Tx) error {
	if _, err := tx.CreateBucketIfNotExists(bucketAlerts); err != nil {
		return fmt.Errorf("create bucket %s: %w", bucketAlerts, err)
	}
	return nil
}

// readSchemaVersion returns 0 for a new (empty) file.
func readSchemaVersion(tx *bolt.Tx) (uint64, error) {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return 0, nil
	}
	v := meta.Get(keySchemaVersion)
	if v == nil {
		return 0, nil
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("meta/schema_version is %d bytes, want 8: state.db is damaged", len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// errNothingToMigrate rolls back the migration transaction when the store is
// already current, so opening does not pay for a commit.
var errNothingToMigrate = errors.New("nothing to migrate")

// migrate brings the store to SchemaVersion in one transaction, or refuses a
// newer one.
func migrate(db *bolt.DB, steps []migration) error {
	target := steps[len(steps)-1].version
	err := db.Update(func(tx *bolt.Tx) error {
		have, err := readSchemaVersion(tx)
		if err != nil {
			return err
		}
		if have > target {
			return fmt.Errorf("%w: state.db has schema version %d; this pbx365 knows up to %d: upgrade pbx365", ErrSchemaTooNew, have, target)
		}
		if have == target {
			return errNothingToMigrate
		}
		for _, m := range steps {
			if m.version <= have {
				continue
			}
			if err := m.apply(tx); err != nil {
				return fmt.Errorf("migrate to schema version %d (%s): %w", m.version, m.name, err)
			}
		}
		return tx.Bucket(bucketMeta).Put(keySchemaVersion, itob(target))
	})
	if errors.Is(err, errNothingToMigrate) {
		return nil
	}
	return err
}

// bucketsOf lists the buckets each schema version has (its own and older).
var bucketsOf = map[uint64][][]byte{
	1: {bucketMeta, bucketSettings, bucketLinks, bucketDeltaTokens, bucketRuns, bucketRunItems, bucketIntents,
		bucketIntentsSettled, bucketPresence, bucketContactMaps},
	2: {bucketLinksByNumber},
	3: {bucketAuditByRun, bucketAuditByUser},
	4: {bucketSubscriptions},
	5: {bucketAlerts},
}

// checkBuckets refuses a store that claims a version but lacks one of its
// buckets (a damaged or hand-edited file), instead of failing later.
func checkBuckets(db *bolt.DB, steps []migration) error {
	return db.View(func(tx *bolt.Tx) error {
		for _, m := range steps {
			for _, b := range bucketsOf[m.version] {
				if tx.Bucket(b) == nil {
					return fmt.Errorf("bucket %s is missing: state.db is damaged; restore a backup or move it aside", b)
				}
			}
		}
		return nil
	})
}

// itob encodes a sequence number as 8 bytes big-endian.
func itob(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

// btoi decodes an 8-byte big-endian sequence number.
func btoi(b []byte) uint64 {
	return binary.BigEndian.Uint64(b)
}
