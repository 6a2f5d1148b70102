package graphclient

import (
	"crypto/sha1" //nolint:gosec // thumbprint check
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestKeygenWritesPairWithModesAndThumbprints(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "keys", "pbx365.pem")
	info, err := Keygen(keyFile, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	pst, err := os.Stat(info.PublicFile)
	if err != nil {
		t.Fatal(err)
	}
	if pst.Mode().Perm() != 0o644 || filepath.Base(info.PublicFile) != "public_key.pem" || filepath.Dir(info.PublicFile) != filepath.Dir(keyFile) {
		t.Errorf("public file %s mode %v", info.PublicFile, pst.Mode().Perm())
	}
	dst, _ := os.Stat(filepath.Dir(keyFile))
	if dst.Mode().Perm() != 0o700 {
		t.Errorf("key dir mode %v, want 0700", dst.Mode().Perm())
	}

	// The key file holds a PKCS#8 PRIVATE KEY then the CERTIFICATE; public_key.pem only the certificate.
	raw, _ := os.ReadFile(keyFile)
	b1, rest := pem.Decode(raw)
	b2, _ := pem.Decode(rest)
	if b1 == nil || b1.Type != "PRIVATE KEY" || b2 == nil || b2.Type != "CERTIFICATE" {
		t.Fatalf("key file blocks: %v %v", b1, b2)
	}
	pub, _ := os.ReadFile(info.PublicFile)
	if strings.Contains(string(pub), "PRIVATE") {
		t.Fatal("public_key.pem contains the private key")
	}
	pb, _ := pem.Decode(pub)
	cert, err := x509.ParseCertificate(pb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	s1 := sha1.Sum(cert.Raw) //nolint:gosec
	s256 := sha256.Sum256(cert.Raw)
	if info.ThumbprintSHA1 != strings.ToUpper(hex.EncodeToString(s1[:])) || len(info.ThumbprintSHA1) != 40 {
		t.Errorf("SHA-1 thumbprint %s", info.ThumbprintSHA1)
	}
	if info.ThumbprintSHA256 != strings.ToUpper(hex.EncodeToString(s256[:])) {
		t.Errorf("SHA-256 thumbprint %s", info.ThumbprintSHA256)
	}
	kp, err := LoadKeyPair(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if kp.Key.N.BitLen() != KeyBits {
		t.Errorf("key bits %d", kp.Key.N.BitLen())
	}
	if d := time.Until(kp.NotAfter()); d < DefaultKeyValidity-time.Hour || d > DefaultKeyValidity+time.Hour {
		t.Errorf("validity %s, want about 2 years", d)
	}
	if !info.NotAfter.Equal(kp.NotAfter()) || kp.ExpiresSoon(time.Now()) || kp.ExpiryWarningText(time.Now()) != "" {
		t.Error("fresh certificate reported as expiring")
	}
}

func TestKeygenRefusesOverwriteAndRotatesWithForce(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "pbx365.pem")
	first, err := Keygen(keyFile, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Keygen(keyFile, 0, false); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("second keygen without force: %v", err)
	}
	second, err := Keygen(keyFile, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	if second.ThumbprintSHA1 == first.ThumbprintSHA1 {
		t.Fatal("rotation kept the same key")
	}
	wantOld := filepath.Join(filepath.Dir(keyFile), "pbx365."+first.ThumbprintSHA1+".pem")
	if second.RotatedFrom != wantOld {
		t.Fatalf("RotatedFrom %q, want %q", second.RotatedFrom, wantOld)
	}
	old, err := LoadKeyPair(wantOld)
	if err != nil || old.ThumbprintSHA1() != first.ThumbprintSHA1 {
		t.Fatalf("old pair not kept: %v", err)
	}
	ring, err := LoadKeyRing(keyFile, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(ring) != 2 || ring[0].ThumbprintSHA1() != second.ThumbprintSHA1 || ring[1].ThumbprintSHA1() != first.ThumbprintSHA1 {
		t.Fatalf("ring order wrong: %d pairs", len(ring))
	}
	// Removing the old file ends its use.
	os.Remove(wantOld)
	ring, _ = LoadKeyRing(keyFile, time.Now())
	if len(ring) != 1 {
		t.Fatalf("ring after removal has %d pairs", len(ring))
	}
}

func TestExpiryWarning(t *testing.T) {
	_, kp := testPair(t, 10*24*time.Hour)
	now := time.Now()
	if !kp.ExpiresSoon(now) || kp.Expired(now) {
		t.Fatal("10-day certificate not flagged as expiring soon")
	}
	if w := kp.ExpiryWarningText(now); !strings.Contains(w, "expires in 9 days") && !strings.Contains(w, "expires in 10 days") {
		t.Fatalf("warning %q", w)
	}
	later := now.Add(11 * 24 * time.Hour)
	if !kp.Expired(later) || !strings.Contains(kp.ExpiryWarningText(later), "expired") {
		t.Fatal("expired certificate not reported")
	}
	if kp.ExpiresSoon(now.Add(-30 * 24 * time.Hour)) {
		t.Fatal("flagged 40 days ahead")
	}
	// An expired rotated pair is not offered as a fallback.
	keyFile := kp.Path
	if _, err := Keygen(keyFile, 0, true); err != nil {
		t.Fatal(err)
	}
	ring, _ := LoadKeyRing(keyFile, later)
	if len(ring) != 1 {
		t.Fatalf("expired old pair still in ring (%d)", len(ring))
	}
}

func TestLoadKeyPairErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadKeyPair(""); err == nil || !strings.Contains(err.Error(), "ms.key_file") {
		t.Errorf("empty: %v", err)
	}
	if _, err := LoadKeyPair(filepath.Join(dir, "nope.pem")); err == nil || !strings.Contains(err.Error(), "pbx365 keygen") {
		t.Errorf("missing: %v", err)
	}
	_, a := testPairN(t, 0, 0)
	_, b := testPairN(t, 1, 0)
	// Key of one pair with the certificate of another.
	mixed := filepath.Join(dir, "mixed.pem")
	der, _ := x509.MarshalPKCS8PrivateKey(a.Key)
	data := append(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), b.CertificatePEM()...)
	os.WriteFile(mixed, data, 0o600)
	if _, err := LoadKeyPair(mixed); err == nil || !strings.Contains(err.Error(), "does not belong") {
		t.Errorf("mismatch: %v", err)
	}
	certOnly := filepath.Join(dir, "cert.pem")
	os.WriteFile(certOnly, a.CertificatePEM(), 0o600)
	if _, err := LoadKeyPair(certOnly); err == nil || !strings.Contains(err.Error(), "no private key") {
		t.Errorf("cert only: %v", err)
	}
	// PKCS#1 "RSA PRIVATE KEY" is accepted too.
	pk1 := filepath.Join(dir, "pkcs1.pem")
	data = append(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(a.Key)}), a.CertificatePEM()...)
	os.WriteFile(pk1, data, 0o600)
	if kp, err := LoadKeyPair(pk1); err != nil || kp.ThumbprintSHA1() != a.ThumbprintSHA1() {
		t.Errorf("pkcs1: %v", err)
	}
}
