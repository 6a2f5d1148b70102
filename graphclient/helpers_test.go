package graphclient

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pbx365/pbx365/graphclient/m365sim"
)

var (
	pairMu    sync.Mutex
	pairCache = map[int]*KeyPair{}
)

// cachedPair is the i-th shared test key pair (RSA 3072 generation is slow,
// above all under -race; distinct i give distinct pairs).
func cachedPair(t testing.TB, i int) *KeyPair {
	t.Helper()
	pairMu.Lock()
	defer pairMu.Unlock()
	if kp, ok := pairCache[i]; ok {
		return kp
	}
	kp, err := GenerateKeyPair(0)
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	pairCache[i] = kp
	return kp
}

// testPair writes a key pair into t.TempDir() and loads it back: a fresh pair
// with the given validity, or the shared pair 0 when validity is 0.
func testPair(t testing.TB, validity time.Duration) (string, *KeyPair) {
	return testPairN(t, 0, validity)
}

// testPairN is testPair with the shared pair i.
func testPairN(t testing.TB, i int, validity time.Duration) (string, *KeyPair) {
	t.Helper()
	keyFile := filepath.Join(t.TempDir(), "keys", "pbx365.pem")
	kp := cachedPair(t, i)
	if validity != 0 {
		var err error
		if kp, err = GenerateKeyPair(validity); err != nil {
			t.Fatalf("generate: %v", err)
		}
	}
	if err := (&KeyPair{Key: kp.Key, Cert: kp.Cert}).Write(keyFile); err != nil {
		t.Fatalf("write: %v", err)
	}
	loaded, err := LoadKeyPair(keyFile)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return keyFile, loaded
}

// startSim runs an in-process simulated tenant on loopback HTTPS.
func startSim(t testing.TB, users int) *m365sim.Sim {
	t.Helper()
	s := m365sim.New(m365sim.Options{Seed: 7, Users: users})
	if err := s.Start(); err != nil {
		t.Fatalf("start sim: %v", err)
	}
	t.Cleanup(s.Close)
	s.GrantAll()
	return s
}

// simConfig is a Config pointing at s with the key at keyFile.
func simConfig(s *m365sim.Sim, keyFile string) Config {
	return Config{
		TenantID: s.TenantID(), ClientID: s.ClientID(), KeyFile: keyFile,
		GraphURL: s.GraphURL(), LoginURL: s.URL(), CAPEM: s.CACertPEM(),
		MaxRetries: 10, RetryDelay: time.Second,
		Logger: slog.New(slog.DiscardHandler),
	}
}

// newSimClient makes a key pair, uploads its certificate to s and returns a
// Client for s. mods adjust the Config.
func newSimClient(t testing.TB, s *m365sim.Sim, mods ...func(*Config)) *Client {
	t.Helper()
	keyFile, kp := testPair(t, 0)
	if err := s.RegisterCertificate(kp.CertificatePEM()); err != nil {
		t.Fatalf("register certificate: %v", err)
	}
	cfg := simConfig(s, keyFile)
	for _, m := range mods {
		m(&cfg)
	}
	c, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
