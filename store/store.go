package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// FileName is the state file's name inside the data directory.
const FileName = "state.db"

// initialMmapSize reserves address space for the file up front (it does not
// grow the file), so a big batch does not remap, and copy every node it
// holds, each time the file doubles. 32-bit systems keep bbolt's default.
const initialMmapSize = (strconv.IntSize / 64) * (256 << 20)

// LockTimeout is how long Open waits for another process to release
// state.db before it gives up and names that process.
const LockTimeout = time.Second

// Store is an open state.db. Its methods are safe for concurrent use; bbolt
// allows one writer at a time and any number of readers.
type Store struct {
	db   *bolt.DB
	dir  string
	path string
}

// Open opens DIR/state.db (creating DIR, DIR/keys and the file as needed, the
// file with mode 0600), applies pending migrations in one transaction and
// records this process in DIR/state.db.owner. If another process holds the
// file, Open fails after LockTimeout with a *LockedError naming it; a store
// written by a newer pbx365 is refused (ErrSchemaTooNew).
func Open(dir string) (*Store, error) {
	return open(dir, migrations)
}

func open(dir string, steps []migration) (*Store, error) {
	if err := EnsureDir(dir); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, FileName)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: LockTimeout, InitialMmapSize: initialMmapSize})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, lockedError(path)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	fail := func(err error) (*Store, error) {
		db.Close()
		return nil, err
	}
	// bolt.Open keeps the mode of an existing file; the file holds a secret.
	if fi, err := os.Stat(path); err != nil {
		return fail(fmt.Errorf("open %s: %w", path, err))
	} else if fi.Mode().Perm() != 0o600 {
		if err := os.Chmod(path, 0o600); err != nil {
			return fail(fmt.Errorf("open %s: %w", path, err))
		}
	}
	if err := migrate(db, steps); err != nil {
		return fail(fmt.Errorf("open %s: %w", path, err))
	}
	if err := checkBuckets(db, steps); err != nil {
		return fail(fmt.Errorf("open %s: %w", path, err))
	}
	if err := writeOwner(path); err != nil {
		return fail(fmt.Errorf("open %s: %w", path, err))
	}
	return &Store{db: db, dir: dir, path: path}, nil
}

// Close releases state.db and removes the owner file.
func (s *Store) Close() error {
	err := removeOwner(s.path)
	if cerr := s.db.Close(); cerr != nil {
		return fmt.Errorf("close %s: %w", s.path, cerr)
	}
	return err
}

// Dir is the data directory.
func (s *Store) Dir() string { return s.dir }

// Path is the path of state.db.
func (s *Store) Path() string { return s.path }

// SchemaVersion is the schema version stored in the file.
func (s *Store) SchemaVersion() (uint64, error) {
	var v uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		v, err = readSchemaVersion(tx)
		return err
	})
	return v, err
}

// Backup writes a consistent copy of the store to path (mode 0600) while it
// stays open.
func (s *Store) Backup(path string) error {
	return s.db.View(func(tx *bolt.Tx) error {
		if err := tx.CopyFile(path, 0o600); err != nil {
			return fmt.Errorf("back up state.db to %s: %w", path, err)
		}
		return nil
	})
}

// Tx is a read-write transaction over the store's repositories, for writes
// that must land together (Settle: intent settled, link written, audit item
// appended). It is valid only inside the function given to Update.
type Tx struct {
	tx *bolt.Tx
}

// Update runs fn in one read-write transaction: everything fn writes is
// committed together, or nothing is when fn returns an error. Do not call
// other Store methods from inside fn (bbolt would deadlock).
func (s *Store) Update(fn func(tx *Tx) error) error {
	return s.db.Update(func(btx *bolt.Tx) error { return fn(&Tx{tx: btx}) })
}

func (s *Store) view(fn func(tx *bolt.Tx) error) error { return s.db.View(fn) }

func encode(v any) ([]byte, error) { return json.Marshal(v) }

func decode(b []byte, v any) error { return json.Unmarshal(b, v) }
