package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// seed opens dir at the schema version of steps' last step, then writes
// raw records in that version's layout with fn.
func seed(t *testing.T, dir string, steps []migration, fn func(tx *bolt.Tx) error) {
	t.Helper()
	s, err := open(dir, steps)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.Update(fn); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func rawJSON(t *testing.T, b *bolt.Bucket, key []byte, v any) {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Put(key, raw); err != nil {
		t.Fatal(err)
	}
}

func bucketNames(t *testing.T, s *Store) []string {
	var names []string
	s.db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			names = append(names, string(name))
			return nil
		})
	})
	return names
}

func TestFreshStoreHasEveryBucketAndTheNewestVersion(t *testing.T) {
	s := openTemp(t)
	got := strings.Join(bucketNames(t, s), " ")
	want := "alerts audit_by_run audit_by_user contact_maps delta_tokens intents intents_settled links links_by_number meta presence run_items runs settings subscriptions"
	if got != want {
		t.Errorf("buckets %q, want %q", got, want)
	}
	if v, _ := s.SchemaVersion(); v != 5 || SchemaVersion != 5 {
		t.Errorf("version %d / %d, want 5", v, SchemaVersion)
	}
	s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketMeta).Get(keyCreatedAt) == nil {
			t.Error("meta/created_at missing")
		}
		return nil
	})
}

func TestMigrationV2IndexesExistingLinksByNumber(t *testing.T) {
	dir := t.TempDir()
	seed(t, dir, migrations[:1], func(tx *bolt.Tx) error {
		if tx.Bucket(bucketLinksByNumber) != nil {
			t.Error("v1 layout already has links_by_number")
		}
		b := tx.Bucket(bucketLinks)
		rawJSON(t, b, []byte("oid-a"), Link{ObjectID: "oid-a", PBXUserID: 7, Number: "101"})
		rawJSON(t, b, []byte("oid-b"), Link{ObjectID: "oid-b", PBXUserID: 8, Number: "102"})
		return nil
	})
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for num, oid := range map[string]string{"101": "oid-a", "102": "oid-b"} {
		l, ok, err := s.LinkByNumber(num)
		if err != nil || !ok || l.ObjectID != oid {
			t.Errorf("LinkByNumber(%s) = %+v, %v, %v; want %s", num, l, ok, err, oid)
		}
	}
	// The index now guards the number.
	if err := s.PutLinks([]Link{{ObjectID: "oid-c", PBXUserID: 9, Number: "101"}}); !errors.Is(err, ErrLinkConflict) {
		t.Errorf("number reuse after migration: %v", err)
	}
}

func TestMigrationV2RefusesANumberLinkedTwiceAndChangesNothing(t *testing.T) {
	dir := t.TempDir()
	seed(t, dir, migrations[:1], func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLinks)
		rawJSON(t, b, []byte("oid-a"), Link{ObjectID: "oid-a", Number: "101"})
		rawJSON(t, b, []byte("oid-b"), Link{ObjectID: "oid-b", Number: "101"})
		return nil
	})
	_, err := Open(dir)
	if err == nil || !strings.Contains(err.Error(), "number 101 is linked to both oid-a and oid-b") || !strings.Contains(err.Error(), "schema version 2") {
		t.Fatalf("err %v", err)
	}
	// One transaction: still version 1, no partial bucket.
	s, err := open(dir, migrations[:1])
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, _ := s.SchemaVersion(); v != 1 {
		t.Errorf("version after a failed migration: %d", v)
	}
	for _, n := range bucketNames(t, s) {
		if n == string(bucketLinksByNumber) {
			t.Error("links_by_number left behind by the failed migration")
		}
	}
}

func TestMigrationV3IndexesTheExistingAuditLog(t *testing.T) {
	dir := t.TempDir()
	seed(t, dir, migrations[:2], func(tx *bolt.Tx) error {
		if tx.Bucket(bucketAuditByUser) != nil {
			t.Error("v2 layout already has audit_by_user")
		}
		rawJSON(t, tx.Bucket(bucketRuns), itob(1), Run{ID: 1, Kind: "users", Status: RunOK})
		rawJSON(t, tx.Bucket(bucketRuns), itob(2), Run{ID: 2, Kind: "users", Status: RunOK})
		items := tx.Bucket(bucketRunItems)
		for i := uint64(1); i <= 6; i++ {
			id, _ := items.NextSequence()
			rawJSON(t, items, itob(id), RunItem{ID: id, Run: 1 + i%2, ObjectID: fmt.Sprintf("oid-%d", i%3), UPN: fmt.Sprintf("U%d@Example.com", i%3), Number: fmt.Sprintf("10%d", i%3), Action: "update", Result: ResultOK})
		}
		return nil
	})
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ids := func(q AuditQuery) string {
		p, err := s.Audit(q)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, it := range p.Items {
			out = append(out, fmt.Sprint(it.ID))
		}
		return strings.Join(out, ",")
	}
	if got := ids(AuditQuery{Run: 2}); got != "5,3,1" {
		t.Errorf("run 2: %s", got)
	}
	if got := ids(AuditQuery{User: "u1@example.com"}); got != "4,1" {
		t.Errorf("by upn: %s", got)
	}
	if got := ids(AuditQuery{User: "102"}); got != "5,2" {
		t.Errorf("by number: %s", got)
	}
	// New items continue the old sequence.
	items := []RunItem{{Run: 1, ObjectID: "oid-1", Action: "update", Result: ResultOK}}
	if err := s.AppendRunItems(items); err != nil || items[0].ID != 7 {
		t.Errorf("append after migration: id %d, %v", items[0].ID, err)
	}
}

func TestNewerSchemaIsRefused(t *testing.T) {
	dir := t.TempDir()
	seed(t, dir, migrations, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keySchemaVersion, itob(SchemaVersion+4))
	})
	_, err := Open(dir)
	want := fmt.Sprintf("state.db has schema version %d; this pbx365 knows up to %d: upgrade pbx365", SchemaVersion+4, SchemaVersion)
	if !errors.Is(err, ErrSchemaTooNew) || err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("err %v, want %q", err, want)
	}
	// The refused open released the file.
	if _, err := open(dir, append(append([]migration(nil), migrations...), migration{version: SchemaVersion + 4, name: "future", apply: func(*bolt.Tx) error { return nil }})); err != nil {
		t.Errorf("open after refusal: %v", err)
	}
}

func TestAllPendingMigrationsRunInOneTransaction(t *testing.T) {
	dir := t.TempDir()
	seed(t, dir, migrations[:1], func(tx *bolt.Tx) error {
		rawJSON(t, tx.Bucket(bucketLinks), []byte("oid-a"), Link{ObjectID: "oid-a", Number: "101"})
		return nil
	})
	failing := append(append([]migration(nil), migrations...), migration{version: SchemaVersion + 1, name: "breaks", apply: func(*bolt.Tx) error { return errors.New("boom") }})
	_, err := open(dir, failing)
	if err == nil || !strings.Contains(err.Error(), "boom") || !strings.Contains(err.Error(), "breaks") {
		t.Fatalf("err %v", err)
	}
	s, err := open(dir, migrations[:1])
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, _ := s.SchemaVersion(); v != 1 {
		t.Errorf("version %d after a failed later step, want 1 (v2 and v3 rolled back too)", v)
	}
	if strings.Contains(strings.Join(bucketNames(t, s), " "), "links_by_number") {
		t.Error("v2's bucket survived a rollback")
	}
}

func TestDamagedVersionIsReported(t *testing.T) {
	dir := t.TempDir()
	seed(t, dir, migrations, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keySchemaVersion, []byte("3"))
	})
	if _, err := Open(filepath.Clean(dir)); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("err %v", err)
	}
}

func TestMissingBucketIsReported(t *testing.T) {
	dir := t.TempDir()
	seed(t, dir, migrations, func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketAuditByUser) })
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "bucket audit_by_user is missing: state.db is damaged") {
		t.Errorf("err %v", err)
	}
}
