package notify

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pbx365/pbx365/graphclient"
	"github.com/pbx365/pbx365/sync/app/apptest"
)

// A renewed certificate is served without a restart; files that do not load
// leave the previous one served.
func TestListenerCertificateIsReloadedWhenItsFilesChange(t *testing.T) {
	certFile, keyFile, pemA := listenerCert(t)
	var logs apptest.LogBuffer
	cfg, _, err := loadTLS(certFile, keyFile, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	certB, keyB, pemB := listenerCert(t)
	roots := x509.NewCertPool()
	for _, p := range [][]byte{pemA, pemB} {
		roots.AppendCertsFromPEM(p)
	}
	served := func() []byte {
		t.Helper()
		conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: conn.ConnectionState().PeerCertificates[0].Raw})
	}
	if !bytes.Equal(served(), pemA) {
		t.Fatal("not serving the configured certificate")
	}
	// The renewal lands in the same files.
	later := time.Now().Add(2 * time.Second)
	replace(t, certFile, certB, later)
	replace(t, keyFile, keyB, later)
	if !bytes.Equal(served(), pemB) {
		t.Fatal("the renewed certificate is not served")
	}
	if !strings.Contains(logs.String(), "certificate reloaded") {
		t.Errorf("no log line for the reload: %s", logs.String())
	}
	// A half-written renewal: the key file is garbage. B is still served,
	// and the error is said once, not per handshake.
	if err := os.WriteFile(keyFile, []byte("-----BEGIN EC PRIVATE KEY-----\ngarbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(keyFile, later.Add(time.Second), later.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if !bytes.Equal(served(), pemB) {
			t.Fatal("a key file that does not load replaced the served certificate")
		}
	}
	if n := strings.Count(logs.String(), "do not load"); n != 1 {
		t.Errorf("%d error lines for one bad renewal, want 1:\n%s", n, logs.String())
	}
}

// replace copies src over dst and stamps it with mod.
func replace(t *testing.T, dst, src string, mod time.Time) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(dst, mod, mod); err != nil {
		t.Fatal(err)
	}
}

// check names the certificate's expiry, and an expired one is an error.
func TestCheckNamesTheCertificateExpiry(t *testing.T) {
	port := freePort(t)
	cfg := Config{PublicURL: "https://127.0.0.1/n", Listen: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	for _, c := range []struct {
		until  time.Time
		status string
		want   string
	}{
		{time.Now().Add(90 * 24 * time.Hour), graphclient.CheckOK, "certificate valid until"},
		{time.Now().Add(5 * 24 * time.Hour), graphclient.CheckOK, "days left: renew it"},
		{time.Now().Add(-time.Hour), graphclient.CheckError, "expired on"},
	} {
		cfg.CertFile, cfg.KeyFile, _ = apptest.ListenerCert(t, c.until)
		lines := Check(t.Context(), cfg, x509.NewCertPool())
		if len(lines) < 2 || lines[1].Status != c.status || !strings.Contains(lines[1].Detail, c.want) {
			t.Errorf("certificate until %s: %+v, want %s %q", c.until.Format(time.DateOnly), lines, c.status, c.want)
		}
	}
}
