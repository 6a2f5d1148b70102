package store

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestSubscriptionsRoundTripAndSurviveReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	in := []Subscription{
		{Resource: "users/oid-1/events", ID: "sub-2", ClientState: "cs-2", NotificationURL: "https://pbx.example.com/n", Expiration: exp, Renewed: exp.Add(-time.Hour)},
		{Resource: "users", ID: "sub-1", ClientState: "cs-1", NotificationURL: "https://pbx.example.com/n", Expiration: exp},
	}
	for _, sub := range in {
		if err := s.PutSubscription(sub); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutSubscription(Subscription{Resource: "users", ID: "sub-1"}); err == nil || !strings.Contains(err.Error(), "client state are required") {
		t.Errorf("missing client state: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	all, err := s.Subscriptions()
	if err != nil || len(all) != 2 || all[0].Resource != "users" || all[1].ID != "sub-2" {
		t.Fatalf("Subscriptions: %+v %v", all, err)
	}
	if all[0].ClientState != "cs-1" || !all[0].Expiration.Equal(exp) || !all[1].Renewed.Equal(exp.Add(-time.Hour)) {
		t.Errorf("fields lost: %+v", all)
	}
	got, ok, err := s.Subscription("users/oid-1/events")
	if err != nil || !ok || got.ClientState != "cs-2" || got.NotificationURL != "https://pbx.example.com/n" {
		t.Errorf("Subscription: %+v %v %v", got, ok, err)
	}
	if err := s.DeleteSubscription("users"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSubscription("users"); err != nil {
		t.Errorf("deleting twice: %v", err)
	}
	if _, ok, _ := s.Subscription("users"); ok {
		t.Error("deleted subscription still there")
	}
}

func TestMigrationV4AddsSubscriptionsAndKeepsV3Data(t *testing.T) {
	dir := t.TempDir()
	seed(t, dir, migrations[:3], func(tx *bolt.Tx) error {
		if tx.Bucket(bucketSubscriptions) != nil {
			t.Error("v3 layout already has subscriptions")
		}
		rawJSON(t, tx.Bucket(bucketLinks), []byte("oid-a"), Link{ObjectID: "oid-a", PBXUserID: 7, Number: "101"})
		return tx.Bucket(bucketLinksByNumber).Put([]byte("101"), []byte("oid-a"))
	})
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, _ := s.SchemaVersion(); v != SchemaVersion {
		t.Errorf("version %d, want %d (Open migrates to the newest)", v, SchemaVersion)
	}
	if l, ok, err := s.LinkByNumber("101"); err != nil || !ok || l.ObjectID != "oid-a" {
		t.Errorf("v3 link lost: %+v %v %v", l, ok, err)
	}
	if subs, err := s.Subscriptions(); err != nil || len(subs) != 0 {
		t.Errorf("subscriptions after migration: %+v %v", subs, err)
	}
	if err := s.PutSubscription(Subscription{Resource: "users", ID: "x", ClientState: "y"}); err != nil {
		t.Errorf("put after migration: %v", err)
	}
}
