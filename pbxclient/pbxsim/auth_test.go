package pbxsim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestTokenFormAndBody(t *testing.T) {
	c := newTC(t, Options{ClientID: "900", Secret: "s3cret"})
	status, body := c.tokenRequest(url.Values{"client_id": {"900"}, "client_secret": {"s3cret"}, "grant_type": {"client_credentials"}})
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	var tok map[string]any
	if err := json.Unmarshal(body, &tok); err != nil {
		t.Fatal(err)
	}
	if tok["token_type"] != "Bearer" || tok["expires_in"] != float64(3600) || tok["refresh_token"] != nil {
		t.Errorf("token body %s", body)
	}
	if _, ok := tok["refresh_token"]; !ok {
		t.Error("refresh_token key missing (3CX sends null)")
	}
	parts := strings.Split(tok["access_token"].(string), ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %v", tok["access_token"])
	}
	hdr, _ := base64.RawURLEncoding.DecodeString(parts[0])
	if !strings.Contains(string(hdr), `"alg":"ES256"`) {
		t.Errorf("header %s", hdr)
	}
	noSecretLogged(t, c.sim)
	if rs := c.sim.Requests(); len(rs) == 0 || !strings.Contains(rs[len(rs)-1].Body, "client_secret=%5Bredacted%5D") || !strings.Contains(rs[len(rs)-1].Body, "client_id=900") {
		t.Errorf("token request logged as %+v", rs)
	}
}

// noSecretLogged fails when the request log (served by the control API)
// holds the API key.
func noSecretLogged(t *testing.T, s *Sim) {
	t.Helper()
	for _, r := range s.Requests() {
		if strings.Contains(r.Body, s.Secret()) || strings.Contains(r.Query, s.Secret()) {
			t.Fatalf("the request log holds the secret: %+v", r)
		}
	}
}

func TestTokenMultipartAndLegacyExpiry(t *testing.T) {
	s := newSim(t, Options{LegacyExpiresIn: true})
	hc := httpClient(t, s, false)
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range map[string]string{"client_id": s.ClientID(), "client_secret": s.Secret(), "grant_type": "client_credentials"} {
		if err := mw.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	mw.Close()
	resp, err := hc.Post(s.URL()+"/connect/token", mw.FormDataContentType(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != 200 {
		t.Fatalf("multipart token: %d %v", resp.StatusCode, err)
	}
	if tok["expires_in"] != float64(60) {
		t.Errorf("legacy expires_in %v", tok["expires_in"])
	}
	noSecretLogged(t, s)
	// Lifetime is one hour either way.
	c := &tc{t: t, sim: s, http: hc, token: tok["access_token"].(string)}
	s.Advance(59 * time.Minute)
	c.expect(200, "GET", "/Defs?$select=Id", nil)
	s.Advance(2 * time.Minute)
	c.expect(401, "GET", "/Defs?$select=Id", nil)
}

func TestTokenErrors(t *testing.T) {
	c := newTC(t, Options{ClientID: "900", Secret: "right"})
	status, body := c.tokenRequest(url.Values{"client_id": {"900"}, "client_secret": {"wrong"}, "grant_type": {"client_credentials"}})
	if status != 401 || string(body) != `{"error":"unauthorized","error_description":"The request requires valid user authentication."}` {
		t.Errorf("bad secret: %d %s", status, body)
	}
	status, _ = c.tokenRequest(url.Values{"client_id": {"901"}, "client_secret": {"right"}, "grant_type": {"client_credentials"}})
	if status != 401 {
		t.Errorf("bad client: %d", status)
	}
	status, body = c.tokenRequest(url.Values{"client_id": {"900"}, "client_secret": {"right"}, "grant_type": {"password"}})
	if status != 400 || !strings.Contains(string(body), "unsupported_grant_type") {
		t.Errorf("bad grant: %d %s", status, body)
	}
	resp, err := c.http.Post(c.sim.URL()+"/connect/token", "application/json", strings.NewReader(`{"client_id":"900"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("JSON token request: %d", resp.StatusCode)
	}
	resp, err = c.http.Get(c.sim.URL() + "/connect/token")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Errorf("GET token: %d", resp.StatusCode)
	}
}

func TestNewTokenRevokesOld(t *testing.T) {
	c := newTC(t, Options{})
	old := c.token
	c.expect(200, "GET", "/Users", nil)
	c.login()
	if c.token == old {
		t.Fatal("same token issued twice")
	}
	c.expect(200, "GET", "/Users", nil)
	c.token = old
	resp, body := c.do("GET", "/Users", nil)
	if resp.StatusCode != 401 || len(body) != 0 || resp.Header.Get("WWW-Authenticate") != "Bearer" {
		t.Errorf("old token: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if resp.Header.Get("X-3CX-Version") == "" {
		t.Error("401 without X-3CX-Version")
	}
}

func TestUnauthenticatedPaths(t *testing.T) {
	c := newTC(t, Options{})
	good := c.token
	for _, tok := range []string{"", "garbage", good + "x"} {
		c.token = tok
		c.expect(401, "GET", "/Users", nil)
		c.expect(401, "POST", "/Users", map[string]any{"Number": "101"})
	}
	if len(c.sim.Users()) != 0 {
		t.Error("unauthenticated write happened")
	}
	c.token = good
	c.sim.RevokeTokens()
	c.expect(401, "GET", "/Defs?$select=Id", nil)
	c.login()
	c.expect(200, "GET", "/Defs?$select=Id", nil)
	// Basic auth is not a bearer token.
	req, _ := http.NewRequest("GET", c.sim.URL()+"/xapi/v1/Users", nil)
	req.SetBasicAuth(c.sim.ClientID(), c.sim.Secret())
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("basic auth: %d", resp.StatusCode)
	}
}

func TestClientRoles(t *testing.T) {
	c := newTC(t, Options{ClientRole: "system_admins"})
	c.expect(200, "GET", "/Microsoft365Integration", nil)
	c.expect(403, "PATCH", "/Microsoft365Integration", map[string]any{"TenantId": "t"})
	c.expect(201, "POST", "/Users", map[string]any{"Number": "101"})
	if err := c.sim.SetClientRole("managers"); err != nil {
		t.Fatal(err)
	}
	c.expect(200, "GET", "/Users", nil)
	c.expect(403, "POST", "/Users", map[string]any{"Number": "102"})
	if err := c.sim.SetClientRole("users"); err != nil {
		t.Fatal(err)
	}
	c.expect(403, "GET", "/Users", nil)
	c.expect(200, "GET", "/Defs?$select=Id", nil)
	if err := c.sim.SetClientRole("emperor"); err == nil {
		t.Error("unknown role accepted")
	}
}
