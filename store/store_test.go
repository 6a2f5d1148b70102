package store

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// openTemp opens a store in a fresh temporary data directory.
func openTemp(t testing.TB) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "data"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestOpenCreatesDirsAndFileWithPrivateModes(t *testing.T) {
	old := setUmask(0o022)
	defer setUmask(old)
	dir := filepath.Join(t.TempDir(), "nested", "data")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for path, want := range map[string]os.FileMode{dir: 0o700, KeysDir(dir): 0o700, filepath.Join(dir, FileName): 0o600, filepath.Join(dir, FileName+".owner"): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %o, want %o", path, got, want)
		}
	}
	if s.Path() != filepath.Join(dir, FileName) || s.Dir() != dir {
		t.Errorf("Path %q Dir %q", s.Path(), s.Dir())
	}
	v, err := s.SchemaVersion()
	if err != nil || v != SchemaVersion {
		t.Errorf("schema version %d, %v; want %d", v, err, SchemaVersion)
	}
}

func TestOpenTightensLooseFileAndKeysDir(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	path := filepath.Join(dir, FileName)
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(KeysDir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("state.db mode %o after reopen, want 600", fi.Mode().Perm())
	}
	if fi, _ := os.Stat(KeysDir(dir)); fi.Mode().Perm() != 0o700 {
		t.Errorf("keys mode %o after reopen, want 700", fi.Mode().Perm())
	}
}

func TestEnsureDirRefusesEmptyAndFiles(t *testing.T) {
	if err := EnsureDir(""); err == nil || !strings.Contains(err.Error(), "--data-dir") {
		t.Errorf("empty dir: %v", err)
	}
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := EnsureDir(f); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("file as dir: %v", err)
	}
}

func TestDefaultDir(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	home := func() (string, error) { return "/home/ann", nil }
	noHome := func() (string, error) { return "", errors.New("$HOME is not defined") }
	tests := []struct {
		name string
		euid int
		env  map[string]string
		home func() (string, error)
		want string
		err  string
	}{
		{"root", 0, map[string]string{"XDG_STATE_HOME": "/x"}, home, "/var/lib/pbx365", ""},
		{"xdg", 1000, map[string]string{"XDG_STATE_HOME": "/srv/state"}, home, "/srv/state/pbx365", ""},
		{"relative xdg ignored", 1000, map[string]string{"XDG_STATE_HOME": "rel"}, home, "/home/ann/.local/state/pbx365", ""},
		{"home", 1000, nil, home, "/home/ann/.local/state/pbx365", ""},
		{"no home", 1000, nil, noHome, "", "PBX365_DATA_DIR"},
	}
	for _, tc := range tests {
		got, err := defaultDir(tc.euid, env(tc.env), tc.home)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	// The real one agrees with the effective uid.
	d, err := DefaultDir()
	if err != nil {
		t.Fatal(err)
	}
	if (os.Geteuid() == 0) != (d == SystemDir) {
		t.Errorf("DefaultDir %q for euid %d", d, os.Geteuid())
	}
}

const helperEnv = "PBX365_STORE_TEST_HOLD"

// TestHelperHoldStore is not a test: run as a child process (helperEnv set
// to a data dir), it opens the store, says "ready" and holds it until stdin
// closes.
func TestHelperHoldStore(t *testing.T) {
	dir := os.Getenv(helperEnv)
	if dir == "" {
		return
	}
	s, err := Open(dir)
	if err != nil {
		os.Stdout.WriteString("error " + err.Error() + "\n")
		os.Exit(3)
	}
	os.Stdout.WriteString("ready\n")
	io.Copy(io.Discard, os.Stdin)
	s.Close()
	os.Exit(0)
}

// startHolder runs the helper process holding dir's store.
func startHolder(t *testing.T, dir string) (cmd *exec.Cmd, release func()) {
	t.Helper()
	cmd = exec.Command(os.Args[0], "-test.run=^TestHelperHoldStore$")
	cmd.Env = append(os.Environ(), helperEnv+"="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper: %q, %v", line, err)
	}
	return cmd, func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("helper exit: %v", err)
		}
	}
}

func TestOpenWhileAnotherProcessHoldsItNamesTheHolder(t *testing.T) {
	dir := t.TempDir()
	cmd, release := startHolder(t, dir)
	start := time.Now()
	s, err := Open(dir)
	elapsed := time.Since(start)
	if err == nil {
		s.Close()
		release()
		t.Fatal("Open succeeded while another process holds the store")
	}
	var le *LockedError
	if !errors.As(err, &le) || le.Owner == nil || le.Stale {
		release()
		t.Fatalf("err %v (%#v), want a LockedError with a live owner", err, le)
	}
	msg := err.Error()
	for _, want := range []string{"pid " + itoa(cmd.Process.Pid), "store.test", "TestHelperHoldStore", "in use by another process"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if elapsed < LockTimeout/2 || elapsed > LockTimeout+2*time.Second {
		t.Errorf("Open gave up after %v, want about %v", elapsed, LockTimeout)
	}
	release()
	// Released: it opens, and the owner file now names this process.
	s, err = Open(dir)
	if err != nil {
		t.Fatalf("Open after release: %v", err)
	}
	defer s.Close()
	if o := readOwner(s.Path()); o == nil || o.PID != os.Getpid() {
		t.Errorf("owner after reopen: %+v", o)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestStaleOwnerFileIsReplaced(t *testing.T) {
	dir := t.TempDir()
	if err := EnsureDir(dir); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, FileName)
	// A pid far above pid_max: no such process.
	stale := Owner{PID: 1 << 30, Command: "pbx365 serve", Started: time.Now().Add(-time.Hour)}
	b, _ := json.Marshal(stale)
	if err := os.WriteFile(ownerPath(path), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if le := lockedError(path); !le.Stale || !strings.Contains(le.Error(), "no longer running") {
		t.Errorf("stale owner: %v (stale %v)", le, le.Stale)
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatalf("Open with a stale owner file: %v", err)
	}
	if o := readOwner(path); o == nil || o.PID != os.Getpid() {
		t.Errorf("owner not replaced: %+v", o)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(ownerPath(path)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("owner file left after Close: %v", err)
	}
	// No owner file at all: the message says so.
	if le := lockedError(path); le.Owner != nil || !strings.Contains(le.Error(), "no owner recorded") {
		t.Errorf("missing owner: %v", le)
	}
}

func TestOwnerCommandRedactsSecrets(t *testing.T) {
	got := redactArgs([]string{"/usr/bin/pbx365", "--data-dir", "/d", "config", "set", "pbx.secret", "s3cr3t"})
	if strings.Contains(got, "s3cr3t") || got != "pbx365 --data-dir /d config set pbx.secret <redacted>" {
		t.Errorf("redactArgs: %q", got)
	}
	if got := redactArgs([]string{"x", "--api-secret=abc"}); strings.Contains(got, "abc") {
		t.Errorf("flag secret kept: %q", got)
	}
}

func TestBackupCopiesAConsistentFile(t *testing.T) {
	s := openTemp(t)
	if err := s.PutLinks([]Link{{ObjectID: "a", PBXUserID: 1, Number: "100"}}); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "backup")
	if err := s.Backup(filepath.Join(dst, FileName)); err == nil {
		t.Error("backup into a missing directory succeeded")
	}
	if err := os.Mkdir(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := s.Backup(filepath.Join(dst, FileName)); err != nil {
		t.Fatal(err)
	}
	b, err := Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if l, ok, err := b.Link("a"); err != nil || !ok || l.Number != "100" {
		t.Errorf("backup link: %+v %v %v", l, ok, err)
	}
}
