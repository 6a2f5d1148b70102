package notify

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"time"

	"github.com/pbx365/pbx365/graphclient"
)

// HandshakeTimeout is how long Graph waits for the validation handshake.
const HandshakeTimeout = 10 * time.Second

// Check is the notifications part of `pbx365 check`: whether
// notify.public_url is set, whether the listener settings are usable, and
// whether the endpoint answers Graph's validation handshake at the public URL
// (a real POST ?validationToken=…, its echo compared). roots are extra
// trusted CAs for the public URL (nil: the system's, as Graph would).
func Check(ctx context.Context, cfg Config, roots *x509.CertPool) []graphclient.CheckLine {
	const (
		itemURL    = "notifications notify.public_url"
		itemListen = "notifications listener"
		itemShake  = "notifications handshake"
	)
	if cfg.PublicURL == "" {
		return []graphclient.CheckLine{{Status: graphclient.CheckMissing, Item: itemURL,
			Detail: "not set: change notifications are off, polling only (pbx365 config set notify.public_url https://<public-host>/<path>)"}}
	}
	u, err := parsePublicURL(cfg.PublicURL)
	if err != nil {
		return []graphclient.CheckLine{{Status: graphclient.CheckError, Item: itemURL, Detail: err.Error()}}
	}
	lines := []graphclient.CheckLine{{Status: graphclient.CheckOK, Item: itemURL, Detail: cfg.PublicURL}}
	_, cert, err := loadTLS(cfg.CertFile, cfg.KeyFile, slog.New(slog.DiscardHandler))
	switch {
	case cfg.Listen == "":
		lines = append(lines, graphclient.CheckLine{Status: graphclient.CheckMissing, Item: itemListen,
			Detail: "notify.listen is not set (pbx365 config set notify.listen <host:port>)"})
	case err != nil:
		lines = append(lines, graphclient.CheckLine{Status: graphclient.CheckError, Item: itemListen, Detail: err.Error()})
	case cert != nil && !time.Now().Before(cert.notAfter()):
		lines = append(lines, graphclient.CheckLine{Status: graphclient.CheckError, Item: itemListen,
			Detail: fmt.Sprintf("notify.cert_file expired on %s: renew it (serve picks up the new files without a restart)", cert.notAfter().UTC().Format(time.DateOnly))})
	case cert != nil:
		detail := fmt.Sprintf("https on %s, certificate valid until %s", cfg.Listen, cert.notAfter().UTC().Format(time.DateOnly))
		if left := time.Until(cert.notAfter()); left < 14*24*time.Hour {
			detail += fmt.Sprintf(" (%d days left: renew it; serve picks up the new files without a restart)", int(left.Hours()/24))
		}
		lines = append(lines, graphclient.CheckLine{Status: graphclient.CheckOK, Item: itemListen, Detail: detail})
	default:
		lines = append(lines, graphclient.CheckLine{Status: graphclient.CheckOK, Item: itemListen, Detail: "plain http on " + cfg.Listen + " (behind a TLS reverse proxy)"})
	}
	d, err := Handshake(ctx, u.String(), roots)
	if err != nil {
		lines = append(lines, graphclient.CheckLine{Status: graphclient.CheckError, Item: itemShake,
			Detail: err.Error() + " (is pbx365 serve running and " + u.Host + " reachable?)"})
	} else {
		lines = append(lines, graphclient.CheckLine{Status: graphclient.CheckOK, Item: itemShake,
			Detail: fmt.Sprintf("answered in %d ms", d.Milliseconds())})
	}
	return lines
}

// Handshake does Graph's validation handshake with the endpoint at
// publicURL: a POST ?validationToken=… that must be answered 200, text/plain,
// with the token, within HandshakeTimeout. It returns how long the answer took.
func Handshake(ctx context.Context, publicURL string, roots *x509.CertPool) (time.Duration, error) {
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	token := "Validation: Testing client application reachability for subscription Request-Id: pbx365-check-" + hex.EncodeToString(nonce[:]) + " & <>"
	u, err := url.Parse(publicURL)
	if err != nil {
		return 0, fmt.Errorf("notify.public_url: %w", err)
	}
	q := u.Query()
	q.Set("validationToken", token)
	u.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(ctx, HandshakeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), http.NoBody)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	tr := &http.Transport{Proxy: http.ProxyFromEnvironment, TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("validation handshake with %s: %w", publicURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	took := time.Since(start)
	if err != nil {
		return took, fmt.Errorf("validation handshake with %s: read the answer: %w", publicURL, err)
	}
	if resp.StatusCode != http.StatusOK {
		return took, fmt.Errorf("validation handshake with %s: answered %s, want 200", publicURL, resp.Status)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/plain" {
		return took, fmt.Errorf("validation handshake with %s: Content-Type %q, want text/plain", publicURL, resp.Header.Get("Content-Type"))
	}
	if string(body) != token {
		return took, fmt.Errorf("validation handshake with %s: the answer does not echo the validation token", publicURL)
	}
	if took > HandshakeTimeout {
		return took, fmt.Errorf("validation handshake with %s: answered after %s; Graph waits %s", publicURL, took, HandshakeTimeout)
	}
	return took, nil
}
