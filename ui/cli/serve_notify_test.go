package cli

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pbx365/pbx365/graphclient/m365sim"
	"github.com/pbx365/pbx365/sync/app/apptest"
)

// notifyCert writes a self-signed certificate for 127.0.0.1 and its key.
func notifyCert(t *testing.T) (certFile, keyFile string, certPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "pbx365 serve notify test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "notify.crt"), filepath.Join(dir, "notify.key")
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, certPEM
}

// With notify.public_url set, a tenant change reaches the PBX through a
// change notification long before the (hour-long) polling interval.
func TestServeFollowsTheTenantThroughChangeNotifications(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	certFile, keyFile, certPEM := notifyCert(t)
	data, sims := simDataDir(t, 40, map[string]string{
		"schedule.delta_interval": "1h",
		"notify.public_url":       fmt.Sprintf("https://127.0.0.1:%d/graph/notify", port),
		"notify.listen":           fmt.Sprintf("127.0.0.1:%d", port),
		"notify.cert_file":        certFile,
		"notify.key_file":         keyFile,
	})
	sims.M365.TrustNotificationCA(certPEM)
	ctx, cancel := context.WithCancel(context.Background())
	var errs apptest.LogBuffer
	done := make(chan int, 1)
	go func() { done <- Serve(ctx, data, IO{Out: &bytes.Buffer{}, Err: &errs}) }()
	defer func() {
		cancel()
		<-done
	}()
	var u m365sim.User
	for _, x := range sims.M365.Users() {
		if x.UserType == "Member" && x.AccountEnabled && x.Mail != "" {
			u = x
			break
		}
	}
	waitFor(t, 30*time.Second, "the first sync", func() bool { return pbxHasFirstName(sims, u.Mail, firstOf(u)) })
	waitFor(t, 30*time.Second, "the users subscription", func() bool {
		for _, s := range sims.M365.Subscriptions() {
			if s.Resource == "users" {
				return true
			}
		}
		return false
	})
	start := time.Now()
	if err := sims.M365.UpdateUser(u.ID, func(x *m365sim.User) { x.GivenName = "Notified" }); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the rename to reach the PBX by notification", func() bool { return pbxHasFirstName(sims, u.Mail, "Notified") })
	t.Logf("tenant change reached the PBX through a change notification in %s (polling interval 1h)", time.Since(start).Round(time.Millisecond))
}
