package notify

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// certSource serves the listener's certificate from notify.cert_file and
// notify.key_file, read again when either file changes: a renewal (certbot,
// or the admin copying new files) needs no restart of serve. Files that do
// not load (a renewal half written) leave the last good certificate served.
type certSource struct {
	certFile, keyFile string
	log               *slog.Logger

	mu     sync.Mutex
	cert   *tls.Certificate
	leaf   *x509.Certificate
	loaded [2]fileStamp // the files' stamps when cert was loaded
	failed [2]fileStamp // the stamps a reload failed for (said once)
}

// fileStamp tells whether a file changed.
type fileStamp struct {
	mod  time.Time
	size int64
}

func newCertSource(certFile, keyFile string, log *slog.Logger) (*certSource, error) {
	if log == nil {
		log = slog.Default()
	}
	c := &certSource{certFile: certFile, keyFile: keyFile, log: log}
	st, err := c.stamps()
	if err != nil {
		return nil, err
	}
	if err := c.load(st); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *certSource) stamps() ([2]fileStamp, error) {
	var out [2]fileStamp
	for i, p := range []string{c.certFile, c.keyFile} {
		fi, err := os.Stat(p)
		if err != nil {
			return out, fmt.Errorf("notify.cert_file/key_file: %w", err)
		}
		out[i] = fileStamp{mod: fi.ModTime(), size: fi.Size()}
	}
	return out, nil
}

func (c *certSource) load(st [2]fileStamp) error {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("load notify.cert_file %s and notify.key_file: %w", c.certFile, err)
	}
	if cert.Leaf == nil {
		return errors.New("load notify.cert_file: no certificate")
	}
	c.cert, c.leaf, c.loaded = &cert, cert.Leaf, st
	return nil
}

// get is tls.Config.GetCertificate: the current certificate, reloaded first
// when its files changed.
func (c *certSource) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.stamps()
	if err != nil || st == c.loaded || st == c.failed {
		return c.cert, nil
	}
	if err := c.load(st); err != nil {
		c.failed = st
		c.log.Error("notifications: the changed certificate files do not load; the previous certificate is still served", "err", err)
		return c.cert, nil
	}
	c.log.Info("notifications: certificate reloaded", "subject", c.leaf.Subject.String(), "not_after", c.leaf.NotAfter.UTC().Format(time.RFC3339))
	return c.cert, nil
}

// notAfter is when the certificate being served expires.
func (c *certSource) notAfter() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leaf.NotAfter
}
