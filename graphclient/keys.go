package graphclient

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // SHA-1 is what Entra and the Azure portal show as the certificate thumbprint.
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// KeyBits is the RSA modulus size of generated keys.
const KeyBits = 3072

// DefaultKeyValidity is how long a generated certificate is valid.
const DefaultKeyValidity = 2 * 365 * 24 * time.Hour

// ExpiryWarning is how long before expiry a certificate counts as expiring soon.
const ExpiryWarning = 30 * 24 * time.Hour

// PublicKeyFileName is the name of the certificate-only file the admin uploads to
// the app registration; it lives next to the key file.
const PublicKeyFileName = "public_key.pem"

// KeyPair is a private key with its self-signed certificate.
type KeyPair struct {
	Key  *rsa.PrivateKey
	Cert *x509.Certificate
	Path string // the file it was loaded from or written to ("" if neither)
}

// KeyInfo describes a key pair on disk, for printing (never contains the key itself).
type KeyInfo struct {
	KeyFile          string    // private key + certificate, mode 0600
	PublicFile       string    // certificate only, for upload
	ThumbprintSHA1   string    // upper-case hex, as the Azure portal shows it
	ThumbprintSHA256 string    // upper-case hex
	NotBefore        time.Time // certificate start
	NotAfter         time.Time // certificate expiry
	RotatedFrom      string    // when an older pair was kept: where it now lives
}

// GenerateKeyPair makes a new RSA 3072 key and a self-signed certificate valid
// for validity (DefaultKeyValidity when zero or negative).
func GenerateKeyPair(validity time.Duration) (*KeyPair, error) {
	if validity <= 0 {
		validity = DefaultKeyValidity
	}
	key, err := rsa.GenerateKey(rand.Reader, KeyBits)
	if err != nil {
		return nil, fmt.Errorf("generate RSA key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("certificate serial: %w", err)
	}
	now := time.Now().UTC()
	host, _ := os.Hostname()
	cn := "pbx365"
	if host != "" {
		cn = "pbx365 " + host
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-5 * time.Minute),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse new certificate: %w", err)
	}
	return &KeyPair{Key: key, Cert: cert}, nil
}

// ThumbprintSHA1 is the certificate's SHA-1 thumbprint in upper-case hex, the
// form the Azure portal lists under "Certificates & secrets".
func (k *KeyPair) ThumbprintSHA1() string {
	sum := sha1.Sum(k.Cert.Raw) //nolint:gosec // thumbprint, not a signature
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// ThumbprintSHA256 is the certificate's SHA-256 thumbprint in upper-case hex.
func (k *KeyPair) ThumbprintSHA256() string {
	sum := sha256.Sum256(k.Cert.Raw)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// NotAfter is the certificate's expiry.
func (k *KeyPair) NotAfter() time.Time { return k.Cert.NotAfter }

// Expired reports whether the certificate has expired at now.
func (k *KeyPair) Expired(now time.Time) bool { return !now.Before(k.Cert.NotAfter) }

// ExpiresSoon reports whether the certificate expires within ExpiryWarning of
// now (an already expired certificate counts too).
func (k *KeyPair) ExpiresSoon(now time.Time) bool {
	return now.Add(ExpiryWarning).After(k.Cert.NotAfter)
}

// ExpiryWarningText returns a warning for the admin when the certificate has
// expired or expires within 30 days, and "" otherwise.
func (k *KeyPair) ExpiryWarningText(now time.Time) string {
	switch {
	case k.Expired(now):
		return fmt.Sprintf("certificate %s expired on %s: run `pbx365 keygen --force` and upload the new %s",
			k.ThumbprintSHA1(), k.Cert.NotAfter.UTC().Format("2006-01-02"), PublicKeyFileName)
	case k.ExpiresSoon(now):
		days := int(k.Cert.NotAfter.Sub(now).Hours() / 24)
		return fmt.Sprintf("certificate %s expires in %d days (%s): run `pbx365 keygen --force` and upload the new %s",
			k.ThumbprintSHA1(), days, k.Cert.NotAfter.UTC().Format("2006-01-02"), PublicKeyFileName)
	}
	return ""
}

// CertificatePEM is the certificate alone in PEM form (the content of public_key.pem).
func (k *KeyPair) CertificatePEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.Cert.Raw})
}

// privatePEM is the PKCS#8 private key followed by the certificate.
func (k *KeyPair) privatePEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.Key)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	return append(out, k.CertificatePEM()...), nil
}

// Info describes the pair as stored at keyFile.
func (k *KeyPair) Info(keyFile string) KeyInfo {
	return KeyInfo{
		KeyFile:          keyFile,
		PublicFile:       PublicKeyPath(keyFile),
		ThumbprintSHA1:   k.ThumbprintSHA1(),
		ThumbprintSHA256: k.ThumbprintSHA256(),
		NotBefore:        k.Cert.NotBefore,
		NotAfter:         k.Cert.NotAfter,
	}
}

// PublicKeyPath is where the upload certificate for keyFile lives: public_key.pem
// in the same directory.
func PublicKeyPath(keyFile string) string {
	return filepath.Join(filepath.Dir(keyFile), PublicKeyFileName)
}

// Write stores the pair: keyFile (private key + certificate, mode 0600) and
// public_key.pem beside it (certificate only, mode 0644). The directory is
// created with mode 0700 when missing. Files are replaced atomically.
func (k *KeyPair) Write(keyFile string) error {
	if keyFile == "" {
		return errors.New("write key pair: ms.key_file is empty")
	}
	if err := os.MkdirAll(filepath.Dir(keyFile), 0o700); err != nil {
		return fmt.Errorf("write key pair: %w", err)
	}
	priv, err := k.privatePEM()
	if err != nil {
		return fmt.Errorf("write key pair: %w", err)
	}
	if err := writeFileAtomic(keyFile, priv, 0o600); err != nil {
		return fmt.Errorf("write key pair: %w", err)
	}
	if err := writeFileAtomic(PublicKeyPath(keyFile), k.CertificatePEM(), 0o644); err != nil {
		return fmt.Errorf("write public key: %w", err)
	}
	k.Path = keyFile
	return nil
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	defer os.Remove(name) // no-op after the rename
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(name, path)
}

// LoadKeyPair reads a PEM file holding a private key ("PRIVATE KEY" PKCS#8,
// or "RSA PRIVATE KEY" PKCS#1) and its certificate, and checks they belong together.
func LoadKeyPair(keyFile string) (*KeyPair, error) {
	if keyFile == "" {
		return nil, errors.New("ms.key_file is not set: run `pbx365 keygen` or set ms.key_file")
	}
	data, err := os.ReadFile(keyFile)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("ms.key_file %s does not exist: run `pbx365 keygen` or fix ms.key_file", keyFile)
		}
		return nil, fmt.Errorf("ms.key_file: %w", err)
	}
	kp, err := parseKeyPairPEM(data)
	if err != nil {
		return nil, fmt.Errorf("ms.key_file %s: %w", keyFile, err)
	}
	kp.Path = keyFile
	return kp, nil
}

func parseKeyPairPEM(data []byte) (*KeyPair, error) {
	var key crypto.PrivateKey
	var cert *x509.Certificate
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		switch block.Type {
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse private key: %w", err)
			}
			key = k
		case "RSA PRIVATE KEY":
			k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse RSA private key: %w", err)
			}
			key = k
		case "CERTIFICATE":
			if cert != nil {
				continue // the leaf comes first
			}
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse certificate: %w", err)
			}
			cert = c
		}
	}
	if key == nil {
		return nil, errors.New("no private key found (want a PEM \"PRIVATE KEY\" block)")
	}
	if cert == nil {
		return nil, errors.New("no certificate found (want a PEM \"CERTIFICATE\" block)")
	}
	rsaKey, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("private key is %T, want RSA", key)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok || !pub.Equal(rsaKey.Public()) {
		return nil, errors.New("the certificate does not belong to the private key")
	}
	return &KeyPair{Key: rsaKey, Cert: cert}, nil
}

// rotatedPath is where a replaced pair is kept: "<base>.<SHA1>.pem" next to keyFile.
func rotatedPath(keyFile, thumb string) string {
	ext := filepath.Ext(keyFile)
	return strings.TrimSuffix(keyFile, ext) + "." + thumb + ext
}

// LoadKeyRing loads the current pair at keyFile followed by the older pairs kept
// by rotation ("<base>.<SHA1>.pem" beside it) that have not expired, newest
// first. Entra accepts any certificate still uploaded, so the client falls back
// to an older pair while the new certificate is not uploaded yet.
func LoadKeyRing(keyFile string, now time.Time) ([]*KeyPair, error) {
	current, err := LoadKeyPair(keyFile)
	if err != nil {
		return nil, err
	}
	ring := []*KeyPair{current}
	ext := filepath.Ext(keyFile)
	matches, _ := filepath.Glob(strings.TrimSuffix(keyFile, ext) + ".*" + ext)
	var old []*KeyPair
	for _, m := range matches {
		if m == keyFile {
			continue
		}
		kp, err := LoadKeyPair(m)
		if err != nil || kp.Expired(now) || kp.ThumbprintSHA1() == current.ThumbprintSHA1() {
			continue // not a rotated pair of ours, or no longer usable
		}
		if rotatedPath(keyFile, kp.ThumbprintSHA1()) != m {
			continue
		}
		old = append(old, kp)
	}
	sort.Slice(old, func(i, j int) bool { return old[i].Cert.NotBefore.After(old[j].Cert.NotBefore) })
	return append(ring, old...), nil
}

// Keygen makes a new key pair at keyFile (and public_key.pem beside it) for
// `pbx365 keygen`. If keyFile already exists, it refuses unless force is set;
// with force the old pair is kept as "<base>.<SHA1>.pem" so it keeps working
// until its certificate is removed from the app registration (and the file
// deleted). validity 0 means DefaultKeyValidity.
func Keygen(keyFile string, validity time.Duration, force bool) (KeyInfo, error) {
	if keyFile == "" {
		return KeyInfo{}, errors.New("keygen: ms.key_file is empty")
	}
	if validity < 0 {
		return KeyInfo{}, fmt.Errorf("keygen: validity %s is negative", validity)
	}
	var rotated string
	if _, err := os.Stat(keyFile); err == nil {
		if !force {
			return KeyInfo{}, fmt.Errorf("keygen: %s already exists: use --force to rotate (the old pair is kept until you remove it)", keyFile)
		}
		old, err := LoadKeyPair(keyFile)
		if err != nil {
			return KeyInfo{}, fmt.Errorf("keygen: cannot read the existing pair to keep it: %w", err)
		}
		rotated = rotatedPath(keyFile, old.ThumbprintSHA1())
		if err := os.Rename(keyFile, rotated); err != nil {
			return KeyInfo{}, fmt.Errorf("keygen: keep old pair: %w", err)
		}
		// The old upload file is superseded by the new one; keep a copy named after its thumbprint.
		pub := PublicKeyPath(keyFile)
		if _, err := os.Stat(pub); err == nil {
			_ = os.Rename(pub, rotatedPath(pub, old.ThumbprintSHA1()))
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return KeyInfo{}, fmt.Errorf("keygen: %w", err)
	}
	kp, err := GenerateKeyPair(validity)
	if err != nil {
		return KeyInfo{}, fmt.Errorf("keygen: %w", err)
	}
	if err := kp.Write(keyFile); err != nil {
		return KeyInfo{}, fmt.Errorf("keygen: %w", err)
	}
	info := kp.Info(keyFile)
	info.RotatedFrom = rotated
	return info, nil
}
