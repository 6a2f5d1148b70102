package m365sim

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestOpenIDConfiguration(t *testing.T) {
	s := startSim(t, Options{Seed: 1})
	c := httpClient(t, s)
	for _, tenant := range []string{s.TenantID(), Domain} {
		resp, err := c.Get(s.URL() + "/" + tenant + "/v2.0/.well-known/openid-configuration")
		if err != nil {
			t.Fatal(err)
		}
		if resp.ProtoMajor != 2 {
			t.Errorf("served over %s, want HTTP/2", resp.Proto)
		}
		var doc map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if doc["issuer"] != s.URL()+"/"+s.TenantID()+"/v2.0" {
			t.Errorf("issuer %v: its host must be the authority host", doc["issuer"])
		}
		if doc["token_endpoint"] != s.URL()+"/"+tenant+"/oauth2/v2.0/token" || doc["authorization_endpoint"] == nil {
			t.Errorf("endpoints: %v %v", doc["token_endpoint"], doc["authorization_endpoint"])
		}
	}
	st, m := graphJSON(t, c, s.URL()+"/no-such-tenant/v2.0/.well-known/openid-configuration", "", nil)
	if st != 400 || aadsts(m) != 90002 {
		t.Errorf("unknown tenant: %d %v", st, m)
	}
}

func TestTokenAcceptsEveryAssertionVariant(t *testing.T) {
	s := startSim(t, Options{Seed: 1})
	c := httpClient(t, s)
	for _, alg := range []string{"PS256", "RS256"} {
		for _, thumb := range []string{"x5t", "x5t#S256"} {
			for _, urlB64 := range []bool{false, true} {
				for _, tenant := range []string{s.TenantID(), Domain} {
					aud := s.URL() + "/" + tenant + "/oauth2/v2.0/token"
					a := makeAssertion(t, s, assertionOpts{alg: alg, thumb: thumb, urlB64: urlB64, aud: aud})
					st, m := postToken(t, c, s, tenant, tokenForm(s, a))
					if st != 200 {
						t.Fatalf("%s %s url=%v tenant=%s: %d %v", alg, thumb, urlB64, tenant, st, m)
					}
					if m["token_type"] != "Bearer" || m["expires_in"] != float64(3599) || m["access_token"] == "" {
						t.Fatalf("token answer %v", m)
					}
				}
			}
		}
	}
}

func TestTokenRefusals(t *testing.T) {
	s := startSim(t, Options{Seed: 1})
	c := httpClient(t, s)
	_, other := testKeys(t)
	wrongKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	used := makeAssertion(t, s, assertionOpts{jti: "replayed-jti"})
	if st, m := postToken(t, c, s, s.TenantID(), tokenForm(s, used)); st != 200 {
		t.Fatalf("first use: %d %v", st, m)
	}
	cases := []struct {
		name   string
		tenant string
		form   func() map[string][]string
		status int
		code   int
		text   string
	}{
		{"unknown certificate", "", func() map[string][]string {
			return tokenForm(s, makeAssertion(t, s, assertionOpts{key: other}))
		}, 401, 700027, "The key was not found"},
		{"bad signature", "", func() map[string][]string {
			return tokenForm(s, makeAssertion(t, s, assertionOpts{signWith: wrongKey}))
		}, 401, 700027, "Key was found, but use of the key to verify the signature failed"},
		{"unknown client", "", func() map[string][]string {
			f := tokenForm(s, makeAssertion(t, s, assertionOpts{}))
			f.Set("client_id", "00000000-1111-2222-3333-444444444444")
			return f
		}, 400, 700016, "was not found in the directory"},
		{"unknown tenant", "not-a-tenant.example", func() map[string][]string {
			return tokenForm(s, makeAssertion(t, s, assertionOpts{}))
		}, 400, 90002, "not-a-tenant.example"},
		{"missing assertion", "", func() map[string][]string {
			f := tokenForm(s, "")
			f.Del("client_assertion")
			return f
		}, 401, 7000218, "client_assertion"},
		{"expired assertion", "", func() map[string][]string {
			return tokenForm(s, makeAssertion(t, s, assertionOpts{exp: s.Now().Add(-time.Hour), nbf: s.Now().Add(-2 * time.Hour)}))
		}, 401, 500133, "valid time range"},
		{"not yet valid assertion", "", func() map[string][]string {
			return tokenForm(s, makeAssertion(t, s, assertionOpts{nbf: s.Now().Add(time.Hour), exp: s.Now().Add(2 * time.Hour)}))
		}, 401, 500133, "valid time range"},
		{"wrong audience", "", func() map[string][]string {
			return tokenForm(s, makeAssertion(t, s, assertionOpts{aud: "https://login.microsoftonline.com/x/oauth2/v2.0/token"}))
		}, 401, 50013, "audience"},
		{"iss is not the client", "", func() map[string][]string {
			return tokenForm(s, makeAssertion(t, s, assertionOpts{iss: "someone-else"}))
		}, 401, 700021, "client_id"},
		{"sub is not the client", "", func() map[string][]string {
			return tokenForm(s, makeAssertion(t, s, assertionOpts{sub: "someone-else"}))
		}, 401, 700021, "client_id"},
		{"no exp", "", func() map[string][]string {
			return tokenForm(s, makeAssertion(t, s, assertionOpts{noExp: true}))
		}, 400, 50027, "exp"},
		{"replayed jti", "", func() map[string][]string { return tokenForm(s, used) }, 401, 50013, "replayed-jti"},
		{"scope without .default", "", func() map[string][]string {
			f := tokenForm(s, makeAssertion(t, s, assertionOpts{}))
			f.Set("scope", "https://graph.microsoft.com/User.Read.All")
			return f
		}, 400, 1002012, "/.default"},
		{"other resource", "", func() map[string][]string {
			f := tokenForm(s, makeAssertion(t, s, assertionOpts{}))
			f.Set("scope", "https://management.azure.com/.default")
			return f
		}, 400, 500011, "management.azure.com"},
		{"missing scope", "", func() map[string][]string {
			f := tokenForm(s, makeAssertion(t, s, assertionOpts{}))
			f.Del("scope")
			return f
		}, 400, 900144, "'scope'"},
		{"wrong grant", "", func() map[string][]string {
			f := tokenForm(s, makeAssertion(t, s, assertionOpts{}))
			f.Set("grant_type", "password")
			return f
		}, 400, 70003, "password"},
		{"client secret", "", func() map[string][]string {
			f := tokenForm(s, "")
			f.Del("client_assertion")
			f.Set("client_secret", "hunter2")
			return f
		}, 401, 7000215, "secret"},
		{"malformed assertion", "", func() map[string][]string { return tokenForm(s, "abc.def") }, 400, 50027, "malformed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tenant := tc.tenant
			if tenant == "" {
				tenant = s.TenantID()
			}
			st, m := postToken(t, c, s, tenant, tc.form())
			if st != tc.status || aadsts(m) != tc.code {
				t.Fatalf("got %d AADSTS%d, want %d AADSTS%d: %v", st, aadsts(m), tc.status, tc.code, m)
			}
			desc, _ := m["error_description"].(string)
			if !strings.HasPrefix(desc, "AADSTS") || !strings.Contains(desc, tc.text) || m["error"] == "" || m["correlation_id"] == "" {
				t.Fatalf("error_description %q should contain %q: %v", desc, tc.text, m)
			}
		})
	}
	// The unknown-certificate message names the thumbprint the client used.
	a := makeAssertion(t, s, assertionOpts{key: other, thumb: "x5t"})
	_, m := postToken(t, c, s, s.TenantID(), tokenForm(s, a))
	if desc := m["error_description"].(string); !strings.Contains(desc, strings.ToUpper(hexSHA1(other.cert.Raw))) {
		t.Errorf("message lacks the thumbprint: %s", desc)
	}
}

func TestTokenCarriesOnlyConsentedRoles(t *testing.T) {
	s := startSim(t, Options{Seed: 1})
	c := httpClient(t, s)
	s.Revoke(DefaultRoles...)
	claims := decodeJWTClaims(t, token(t, c, s))
	if _, ok := claims["roles"]; ok {
		t.Fatalf("no consent must give no roles claim: %v", claims)
	}
	if claims["aud"] != "https://graph.microsoft.com" || claims["tid"] != s.TenantID() || claims["appid"] != s.ClientID() {
		t.Fatalf("claims %v", claims)
	}
	s.Grant("User.Read.All", "Mail.Send")
	claims = decodeJWTClaims(t, token(t, c, s))
	var roles []string
	for _, r := range claims["roles"].([]any) {
		roles = append(roles, r.(string))
	}
	if !slices.Equal(roles, []string{"Mail.Send", "User.Read.All"}) {
		t.Fatalf("roles %v", roles)
	}
}

func TestGraphRefusesBadTokens(t *testing.T) {
	s := startSim(t, Options{Seed: 1})
	c := httpClient(t, s)
	tok := token(t, c, s)
	for name, bad := range map[string]string{
		"none": "", "garbage": "abc", "tampered": tok[:len(tok)-4] + "AAAA",
	} {
		st, m := graphJSON(t, c, s.GraphURL()+"/users", bad, nil)
		if st != 401 || errCode(t, m) != "InvalidAuthenticationToken" {
			t.Errorf("%s: %d %v", name, st, m)
		}
	}
	if st, _ := graphJSON(t, c, s.GraphURL()+"/users?$top=1", tok, nil); st != 200 {
		t.Fatalf("valid token refused: %d", st)
	}
	s.Advance(time.Hour)
	st, m := graphJSON(t, c, s.GraphURL()+"/users?$top=1", tok, nil)
	if st != 401 || !strings.Contains(m["error"].(map[string]any)["message"].(string), "expired") {
		t.Fatalf("expired token: %d %v", st, m)
	}
	tok = token(t, c, s)
	s.ExpireAccessTokens()
	st, hdr, _ := graphDo(t, c, "GET", s.GraphURL()+"/users?$top=1", tok, nil, nil)
	if st != 401 || strings.Contains(hdr.Get("WWW-Authenticate"), "claims=") {
		t.Fatalf("revoked non-CAE token: %d %q", st, hdr.Get("WWW-Authenticate"))
	}
	// A CAE-capable token (claims xms_cc CP1) gets a claims challenge the SDK answers with a new token.
	f := tokenForm(s, makeAssertion(t, s, assertionOpts{}))
	f.Set("claims", `{"access_token":{"xms_cc":{"values":["CP1"]}}}`)
	_, m = postToken(t, c, s, s.TenantID(), f)
	cae := m["access_token"].(string)
	s.ExpireAccessTokens()
	st, hdr, _ = graphDo(t, c, "GET", s.GraphURL()+"/users?$top=1", cae, nil, nil)
	if st != http.StatusUnauthorized || !strings.Contains(hdr.Get("WWW-Authenticate"), `error="insufficient_claims", claims="`) {
		t.Fatalf("CAE challenge: %d %q", st, hdr.Get("WWW-Authenticate"))
	}
}

func TestForbiddenShapes(t *testing.T) {
	s := startSim(t, Options{Seed: 1})
	c := httpClient(t, s)
	s.Revoke(DefaultRoles...)
	tok := token(t, c, s)
	uid := s.Users()[0].ID
	for path, want := range map[string]string{
		"/users":                          "Authorization_RequestDenied",
		"/users/" + uid:                   "Authorization_RequestDenied",
		"/users/delta()":                  "Authorization_RequestDenied",
		"/groups":                         "Authorization_RequestDenied",
		"/users/" + uid + "/photo/$value": "ErrorAccessDenied",
	} {
		st, m := graphJSON(t, c, s.GraphURL()+path, tok, nil)
		if st != 403 || errCode(t, m) != want {
			t.Errorf("%s: %d %v, want 403 %s", path, st, m, want)
		}
		msg := m["error"].(map[string]any)["message"]
		if want == "Authorization_RequestDenied" && msg != "Insufficient privileges to complete the operation." ||
			want == "ErrorAccessDenied" && msg != "Access is denied. Check credentials and try again." {
			t.Errorf("%s: message %q", path, msg)
		}
	}
	// User.Read.All opens users but not groups; Directory.Read.All opens both.
	s.Grant("User.Read.All")
	tok = token(t, c, s)
	if st, _ := graphJSON(t, c, s.GraphURL()+"/users", tok, nil); st != 200 {
		t.Errorf("users with User.Read.All: %d", st)
	}
	if st, _ := graphJSON(t, c, s.GraphURL()+"/groups", tok, nil); st != 403 {
		t.Errorf("groups with User.Read.All: %d", st)
	}
	s.Revoke("User.Read.All")
	s.Grant("Directory.Read.All")
	tok = token(t, c, s)
	for _, p := range []string{"/users", "/groups"} {
		if st, _ := graphJSON(t, c, s.GraphURL()+p, tok, nil); st != 200 {
			t.Errorf("%s with Directory.Read.All: %d", p, st)
		}
	}
}

func TestCertificateRotationAndExpiry(t *testing.T) {
	s := startSim(t, Options{Seed: 2})
	c := httpClient(t, s)
	oldKey, newKey := testKeys(t)
	// Rotation: the new certificate is uploaded while the old one still works.
	if err := s.RegisterCertificate(newKey.certPEM); err != nil {
		t.Fatal(err)
	}
	for _, k := range []*testKey{oldKey, newKey} {
		if st, m := postToken(t, c, s, s.TenantID(), tokenForm(s, makeAssertion(t, s, assertionOpts{key: k}))); st != 200 {
			t.Fatalf("key %s: %d %v", k.cert.Subject.CommonName, st, m)
		}
	}
	if err := s.RegisterCertificate([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")); err == nil {
		t.Fatal("PEM without a certificate accepted")
	}
	// Past the certificate's NotAfter the key is refused as expired.
	s.Advance(3 * 365 * 24 * time.Hour)
	st, m := postToken(t, c, s, s.TenantID(), tokenForm(s, makeAssertion(t, s, assertionOpts{key: newKey})))
	if st != 401 || aadsts(m) != 700027 || !strings.Contains(m["error_description"].(string), "expired") {
		t.Fatalf("expired certificate: %d %v", st, m)
	}
}
