package m365sim

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// testKey is one RSA key pair with a self-signed certificate, as pbx365 keygen makes.
type testKey struct {
	key     *rsa.PrivateKey
	cert    *x509.Certificate
	certPEM []byte
}

var (
	keyOnce sync.Once
	keys    [2]*testKey
)

// testKeys returns two key pairs shared by the tests (RSA generation is slow).
func testKeys(t testing.TB) (*testKey, *testKey) {
	t.Helper()
	keyOnce.Do(func() {
		for i := range keys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			tmpl := &x509.Certificate{
				SerialNumber: big.NewInt(int64(i + 1)), Subject: pkix.Name{CommonName: fmt.Sprintf("pbx365 test %d", i)},
				NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(2, 0, 0),
			}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
			if err != nil {
				panic(err)
			}
			c, _ := x509.ParseCertificate(der)
			keys[i] = &testKey{key: k, cert: c, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
		}
	})
	return keys[0], keys[1]
}

// startSim starts a sim with the first test key registered and everything consented.
func startSim(t testing.TB, opts Options) *Sim {
	t.Helper()
	if opts.Users == 0 {
		opts.Users = 50
	}
	s := New(opts)
	if err := s.Start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(s.Close)
	k, _ := testKeys(t)
	if err := s.RegisterCertificate(k.certPEM); err != nil {
		t.Fatalf("register: %v", err)
	}
	s.GrantAll()
	return s
}

// httpClient trusts the sim's CA (TLS verified, HTTP/2).
func httpClient(t testing.TB, s *Sim) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.CACertPEM()) {
		t.Fatal("bad CA PEM")
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// assertionOpts varies a client assertion.
type assertionOpts struct {
	alg      string // PS256 (default) or RS256
	thumb    string // "x5t#S256" (default) or "x5t"
	urlB64   bool   // base64url thumbprint instead of standard base64
	aud      string // default: the token endpoint
	iss, sub string // default: client id
	exp, nbf time.Time
	noExp    bool
	jti      string
	key      *testKey
	signWith *rsa.PrivateKey // sign with another key than the certificate's
}

func makeAssertion(t testing.TB, s *Sim, o assertionOpts) string {
	t.Helper()
	if o.key == nil {
		o.key, _ = testKeys(t)
	}
	if o.alg == "" {
		o.alg = "PS256"
	}
	if o.thumb == "" {
		o.thumb = "x5t#S256"
	}
	var th []byte
	if o.thumb == "x5t" {
		h := sha1.Sum(o.key.cert.Raw)
		th = h[:]
	} else {
		h := sha256.Sum256(o.key.cert.Raw)
		th = h[:]
	}
	enc := base64.StdEncoding.EncodeToString(th)
	if o.urlB64 {
		enc = base64.RawURLEncoding.EncodeToString(th)
	}
	now := s.Now()
	if o.aud == "" {
		o.aud = s.URL() + "/" + s.TenantID() + "/oauth2/v2.0/token"
	}
	if o.iss == "" {
		o.iss = s.ClientID()
	}
	if o.sub == "" {
		o.sub = s.ClientID()
	}
	if o.exp.IsZero() {
		o.exp = now.Add(10 * time.Minute)
	}
	if o.nbf.IsZero() {
		o.nbf = now
	}
	if o.jti == "" {
		o.jti = newUUID()
	}
	hdr, _ := json.Marshal(map[string]string{"alg": o.alg, "typ": "JWT", o.thumb: enc})
	claims := map[string]any{"aud": o.aud, "iss": o.iss, "sub": o.sub, "jti": o.jti, "nbf": o.nbf.Unix()}
	if !o.noExp {
		claims["exp"] = o.exp.Unix()
	}
	cl, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(hdr) + "." + base64.RawURLEncoding.EncodeToString(cl)
	h := sha256.Sum256([]byte(input))
	signer := o.key.key
	if o.signWith != nil {
		signer = o.signWith
	}
	var sig []byte
	var err error
	if o.alg == "PS256" {
		sig, err = rsa.SignPSS(rand.Reader, signer, crypto.SHA256, h[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	} else {
		sig, err = rsa.SignPKCS1v15(rand.Reader, signer, crypto.SHA256, h[:])
	}
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// tokenForm is the form MSAL sends.
func tokenForm(s *Sim, assertion string) url.Values {
	return url.Values{
		"grant_type":            {"client_credentials"},
		"client_id":             {s.ClientID()},
		"scope":                 {"https://graph.microsoft.com/.default openid offline_access profile"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {assertion},
		"client_info":           {"1"},
	}
}

// postToken posts a token request and decodes the JSON answer.
func postToken(t testing.TB, c *http.Client, s *Sim, tenant string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := c.PostForm(s.URL()+"/"+tenant+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("token answer is not JSON: %v", err)
	}
	return resp.StatusCode, m
}

// token gets an access token with a valid assertion.
func token(t testing.TB, c *http.Client, s *Sim) string {
	t.Helper()
	st, m := postToken(t, c, s, s.TenantID(), tokenForm(s, makeAssertion(t, s, assertionOpts{})))
	if st != 200 {
		t.Fatalf("token: %d %v", st, m)
	}
	return m["access_token"].(string)
}

// graphDo sends a Graph request and returns status, headers and body.
func graphDo(t testing.TB, c *http.Client, method, u, tok string, body []byte, hdr map[string]string) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// graphJSON is graphDo for GET with a JSON answer.
func graphJSON(t testing.TB, c *http.Client, u, tok string, hdr map[string]string) (int, map[string]any) {
	t.Helper()
	st, _, b := graphDo(t, c, "GET", u, tok, nil, hdr)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("GET %s: not JSON (%d): %s", u, st, b)
	}
	return st, m
}

// errCode extracts error.code from a Graph error body and checks the shape.
func errCode(t testing.TB, m map[string]any) string {
	t.Helper()
	e, ok := m["error"].(map[string]any)
	if !ok {
		t.Fatalf("no error object: %v", m)
	}
	inner, ok := e["innerError"].(map[string]any)
	if !ok || inner["request-id"] == "" || inner["date"] == "" || inner["client-request-id"] == nil {
		t.Fatalf("error without innerError date/request-id/client-request-id: %v", m)
	}
	if msg, _ := e["message"].(string); msg == "" {
		t.Fatalf("error without message: %v", m)
	}
	return e["code"].(string)
}

// aadsts extracts the first AADSTS error code of an Entra error.
func aadsts(m map[string]any) int {
	codes, _ := m["error_codes"].([]any)
	if len(codes) == 0 {
		return 0
	}
	return int(codes[0].(float64))
}

// decodeJWTClaims reads a JWT's claims without verifying it.
func decodeJWTClaims(t testing.TB, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func hexSHA1(b []byte) string {
	h := sha1.Sum(b)
	return fmt.Sprintf("%x", h[:])
}
