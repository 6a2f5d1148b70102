package pbxsim

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// tc is a test client talking to a started simulator over HTTPS.
type tc struct {
	t     *testing.T
	sim   *Sim
	http  *http.Client
	token string
}

func newSim(t testing.TB, opts Options) *Sim {
	t.Helper()
	s := New(opts)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func httpClient(t testing.TB, s *Sim, h2 bool) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.CACertPEM()) {
		t.Fatal("CA PEM not parsed")
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: h2}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

// newTC starts a simulator and logs in.
func newTC(t *testing.T, opts Options) *tc {
	t.Helper()
	s := newSim(t, opts)
	c := &tc{t: t, sim: s, http: httpClient(t, s, false)}
	c.login()
	return c
}

func (c *tc) login() {
	c.t.Helper()
	status, body := c.tokenRequest(url.Values{"client_id": {c.sim.ClientID()}, "client_secret": {c.sim.Secret()}, "grant_type": {"client_credentials"}})
	if status != 200 {
		c.t.Fatalf("token: %d %s", status, body)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tok); err != nil {
		c.t.Fatal(err)
	}
	c.token = tok.AccessToken
}

func (c *tc) tokenRequest(form url.Values) (int, []byte) {
	c.t.Helper()
	resp, err := c.http.PostForm(c.sim.URL()+"/connect/token", form)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// do sends a request to /xapi/v1 + path; body may be nil, a string (sent
// verbatim) or any value (JSON-encoded).
func (c *tc) do(method, path string, body any) (*http.Response, []byte) {
	c.t.Helper()
	resp, b, err := c.try(context.Background(), method, path, body)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp, b
}

func (c *tc) try(ctx context.Context, method, path string, body any) (*http.Response, []byte, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return nil, nil, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.sim.URL()+"/xapi/v1"+strings.ReplaceAll(path, " ", "%20"), rd)
	if err != nil {
		return nil, nil, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// expect checks the status and decodes the JSON body (if any) into a map.
func (c *tc) expect(status int, method, path string, body any) map[string]any {
	c.t.Helper()
	resp, b := c.do(method, path, body)
	if resp.StatusCode != status {
		c.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, resp.StatusCode, status, b)
	}
	if len(b) == 0 {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		c.t.Fatalf("%s %s: body not JSON: %v: %s", method, path, err, b)
	}
	return m
}

// values returns the "value" array of a collection response.
func values(t *testing.T, m map[string]any) []map[string]any {
	t.Helper()
	list, ok := m["value"].([]any)
	if !ok {
		t.Fatalf("no value array in %v", m)
	}
	var out []map[string]any
	for _, e := range list {
		out = append(out, e.(map[string]any))
	}
	return out
}

// field collects one property of every row.
func field(rows []map[string]any, name string) []any {
	var out []any
	for _, r := range rows {
		out = append(out, r[name])
	}
	return out
}

// expectWarning checks a 3CX validation error body exactly.
func (c *tc) expectWarning(method, path string, body any, field, key string) {
	c.t.Helper()
	resp, b := c.do(method, path, body)
	if resp.StatusCode != 400 {
		c.t.Fatalf("%s %s: status %d, want 400; body %s", method, path, resp.StatusCode, b)
	}
	var want string
	if field == "" {
		want = `{"error":{"code":"","message":"` + key + `","details":[{"code":"","message":"` + key + `","target":null}]}}`
	} else {
		want = `{"error":{"code":"","message":"` + field + `:\n` + key + `","details":[{"code":"","message":"` + key + `","target":"` + field + `"}]}}`
	}
	if string(b) != want {
		c.t.Fatalf("%s %s: body\n %s\nwant\n %s", method, path, b, want)
	}
}

func q(s string) string { return url.PathEscape(s) }

// doRaw sends body verbatim with the given Content-Type.
func (c *tc) doRaw(method, path, body, contentType string) (*http.Response, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.sim.URL()+"/xapi/v1"+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}
