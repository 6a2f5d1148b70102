package store

import (
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A v4 store gains the alerts bucket; what it held is untouched.
func TestMigrationV5AddsTheAlertsBucket(t *testing.T) {
	dir := t.TempDir()
	seed(t, dir, migrations[:4], func(tx *bolt.Tx) error {
		if tx.Bucket(bucketAlerts) != nil {
			t.Error("v4 layout already has alerts")
		}
		rawJSON(t, tx.Bucket(bucketLinks), []byte("oid-a"), Link{ObjectID: "oid-a", PBXUserID: 7, Number: "101"})
		return nil
	})
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, _ := s.SchemaVersion(); v != SchemaVersion {
		t.Errorf("version %d, want %d", v, SchemaVersion)
	}
	if l, ok, err := s.Link("oid-a"); err != nil || !ok || l.Number != "101" {
		t.Errorf("link after migration: %+v %v %v", l, ok, err)
	}
	if as, err := s.Alerts(); err != nil || len(as) != 0 {
		t.Errorf("alerts after migration: %v %v", as, err)
	}
	sent := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	if err := s.PutAlert(Alert{Key: "failed-writes", Sent: sent}); err != nil {
		t.Fatal(err)
	}
}

func TestAlertsRoundTripPruneAndRefusals(t *testing.T) {
	s := openTemp(t)
	if _, ok, err := s.Alert("guard/removal-threshold"); ok || err != nil {
		t.Fatalf("unknown alert: %v %v", ok, err)
	}
	berlin := time.FixedZone("CET", 3600)
	day1 := time.Date(2026, 11, 24, 9, 0, 0, 0, berlin)
	day2 := day1.AddDate(0, 0, 1)
	for _, a := range []Alert{
		{Key: "guard/removal-threshold", Sent: day1, Subject: "stopped", Repeats: 2},
		{Key: "failed-writes", Sent: day2, Subject: "3 writes failed"},
	} {
		if err := s.PutAlert(a); err != nil {
			t.Fatal(err)
		}
	}
	a, ok, err := s.Alert("guard/removal-threshold")
	if err != nil || !ok || !a.Sent.Equal(day1) || a.Sent.Location() != time.UTC || a.Subject != "stopped" || a.Repeats != 2 {
		t.Fatalf("read back %+v %v %v", a, ok, err)
	}
	// Replacing keeps one record per key.
	if err := s.PutAlert(Alert{Key: "guard/removal-threshold", Sent: day2}); err != nil {
		t.Fatal(err)
	}
	all, err := s.Alerts()
	if err != nil || len(all) != 2 || all[0].Key != "failed-writes" || !all[1].Sent.Equal(day2) || all[1].Repeats != 0 {
		t.Fatalf("alerts %+v %v", all, err)
	}
	if err := s.PutAlert(Alert{Key: "old", Sent: day1}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PruneAlerts(day2); err != nil || n != 1 {
		t.Fatalf("pruned %d %v", n, err)
	}
	if _, ok, _ := s.Alert("old"); ok {
		t.Error("pruned alert still there")
	}
	for _, c := range []struct {
		a    Alert
		want string
	}{
		{Alert{Key: " ", Sent: day1}, "key is required"},
		{Alert{Key: "x"}, "time it was sent is required"},
		{Alert{Key: strings.Repeat("k", maxAlertKey+1), Sent: day1}, "at most 512"},
	} {
		if err := s.PutAlert(c.a); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("PutAlert(%.20q): %v, want %q", c.a.Key, err, c.want)
		}
	}
}
