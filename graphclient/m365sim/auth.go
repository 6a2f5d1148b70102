package m365sim

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Application permissions (app roles) the sim knows. Grant takes these names.
var knownRoles = []string{
	"Calendars.Read", "Calendars.ReadBasic.All", "Contacts.Read", "Directory.Read.All", "Group.Read.All",
	"GroupMember.Read.All", "Mail.Send", "MailboxSettings.Read", "User.Read.All",
}

// DefaultRoles are the five permissions pbx365 asks for (GrantAll grants them).
var DefaultRoles = []string{"Calendars.Read", "Contacts.Read", "Directory.Read.All", "Mail.Send", "User.Read.All"}

// graphAudiences are the resources whose /.default scope gets a Graph token.
var graphAudiences = []string{
	"https://graph.microsoft.com", "https://graph.microsoft.us", "https://dod-graph.microsoft.us",
	"https://microsoftgraph.chinacloudapi.cn", "00000003-0000-0000-c000-000000000000",
}

// assertionSkew is the clock skew allowed on client assertion exp/nbf.
const assertionSkew = 5 * time.Minute

// accessTokenLifetime is expires_in of issued tokens.
const accessTokenLifetime = 3599 * time.Second

type registeredCert struct {
	cert   *x509.Certificate
	sha1   [20]byte
	sha256 [32]byte
}

type authState struct {
	mu        sync.Mutex
	certs     []registeredCert
	consented map[string]bool
	jti       map[string]time.Time // used assertion ids → their exp
	issued    map[string]int       // access token uti → epoch at issue
	epoch     int                  // bumped by ExpireAccessTokens
	verified  map[string]*accessClaims
}

func (a *authState) init() {
	a.consented = map[string]bool{}
	a.jti = map[string]time.Time{}
	a.issued = map[string]int{}
	a.verified = map[string]*accessClaims{}
}

// RegisterCertificate uploads a public certificate (PEM, one or more
// CERTIFICATE blocks) to the app registration's keyCredentials.
func (s *Sim) RegisterCertificate(certPEM []byte) error {
	var added int
	rest := certPEM
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return fmt.Errorf("register certificate: parse: %w", err)
		}
		if _, ok := c.PublicKey.(*rsa.PublicKey); !ok {
			return fmt.Errorf("register certificate: key is %T, Entra needs an RSA key", c.PublicKey)
		}
		s.auth.mu.Lock()
		s.auth.certs = append(s.auth.certs, registeredCert{cert: c, sha1: sha1.Sum(c.Raw), sha256: sha256.Sum256(c.Raw)})
		s.auth.mu.Unlock()
		added++
	}
	if added == 0 {
		return errors.New("register certificate: no CERTIFICATE block in the PEM")
	}
	return nil
}

// RemoveCertificates deletes every registered certificate.
func (s *Sim) RemoveCertificates() {
	s.auth.mu.Lock()
	s.auth.certs = nil
	s.auth.mu.Unlock()
}

// Grant gives admin consent to application permissions (e.g. "User.Read.All").
// Tokens issued afterwards carry them in "roles"; unknown names panic.
func (s *Sim) Grant(perms ...string) {
	s.auth.mu.Lock()
	defer s.auth.mu.Unlock()
	for _, p := range perms {
		mustKnowRole(p)
		s.auth.consented[p] = true
	}
}

// Revoke withdraws consent; tokens issued afterwards lack the roles.
func (s *Sim) Revoke(perms ...string) {
	s.auth.mu.Lock()
	defer s.auth.mu.Unlock()
	for _, p := range perms {
		mustKnowRole(p)
		delete(s.auth.consented, p)
	}
}

// GrantAll consents to DefaultRoles.
func (s *Sim) GrantAll() { s.Grant(DefaultRoles...) }

// Consented lists the consented permissions, sorted.
func (s *Sim) Consented() []string {
	s.auth.mu.Lock()
	defer s.auth.mu.Unlock()
	var out []string
	for p := range s.auth.consented {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

func mustKnowRole(p string) {
	if !slices.Contains(knownRoles, p) {
		panic(fmt.Sprintf("m365sim: unknown permission %q (known: %s)", p, strings.Join(knownRoles, ", ")))
	}
}

// ExpireAccessTokens makes every access token issued so far invalid.
func (s *Sim) ExpireAccessTokens() {
	s.auth.mu.Lock()
	s.auth.epoch++
	clear(s.auth.verified)
	s.auth.mu.Unlock()
}

// --- login endpoints ---

// serveLogin handles the Entra endpoints: /{tenant}/v2.0/.well-known/openid-configuration,
// /{tenant}/oauth2/v2.0/token, /{tenant}/discovery/v2.0/keys, /common/discovery/instance.
func (s *Sim) serveLogin(w http.ResponseWriter, r *http.Request) {
	rec := s.reqs.start(s, r, false)
	sw := &statusWriter{ResponseWriter: w}
	defer func() { rec.finish(sw.status()) }()
	s.applyLatency(r)
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if len(parts) < 2 {
		s.entraError(sw, http.StatusNotFound, "invalid_request", 90002, "Tenant '' not found.")
		return
	}
	tenant, rest := parts[0], "/"+strings.Join(parts[1:], "/")
	if f := s.faults.nextLogin(r.Method, r.URL.Path); f != nil {
		if f.hasRetry {
			sw.Header().Set("Retry-After", retryAfterSeconds(f.retryAfter))
		}
		if f.status == http.StatusTooManyRequests {
			s.entraError(sw, f.status, "temporarily_unavailable", 50196, "The server is throttling this client. Retry after the time given in Retry-After.")
		} else {
			s.entraError(sw, f.status, "temporarily_unavailable", 90033, "A transient error has occurred. Please try again.")
		}
		return
	}
	switch rest {
	case "/discovery/instance":
		s.serveInstanceDiscovery(sw, r, tenant)
	case "/v2.0/.well-known/openid-configuration":
		s.serveOpenIDConfig(sw, r, tenant)
	case "/discovery/v2.0/keys":
		s.serveJWKS(sw, r)
	case "/oauth2/v2.0/token":
		if r.Method != http.MethodPost {
			s.entraError(sw, http.StatusMethodNotAllowed, "invalid_request", 900561, "The endpoint only accepts POST requests. Received a "+r.Method+" request.")
			return
		}
		s.serveToken(sw, r, tenant)
	default:
		s.entraError(sw, http.StatusNotFound, "invalid_request", 900561, "The endpoint "+r.URL.Path+" does not exist in this simulator.")
	}
}

// knownTenant reports whether name addresses this tenant (id or verified domain).
func (s *Sim) knownTenant(name string) bool {
	return strings.EqualFold(name, s.tenantID) || strings.EqualFold(name, Domain)
}

func (s *Sim) serveInstanceDiscovery(w http.ResponseWriter, r *http.Request, tenant string) {
	host := strings.TrimPrefix(s.URL(), "https://")
	writeRawJSON(w, http.StatusOK, mustJSON(map[string]any{
		"tenant_discovery_endpoint": s.URL() + "/" + tenant + "/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata":                  []any{map[string]any{"preferred_network": host, "preferred_cache": host, "aliases": []string{host}}},
	}))
}

func (s *Sim) serveOpenIDConfig(w http.ResponseWriter, r *http.Request, tenant string) {
	tid := s.tenantID
	switch {
	case s.knownTenant(tenant):
	case tenant == "common" || tenant == "organizations":
		tid = "{tenantid}"
	default:
		s.entraError(w, http.StatusBadRequest, "invalid_tenant", 90002, fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.", tenant))
		return
	}
	base := s.URL()
	w.Header().Set("Cache-Control", "max-age=86400, private")
	writeRawJSON(w, http.StatusOK, mustJSON(map[string]any{
		"token_endpoint":                        base + "/" + tenant + "/oauth2/v2.0/token",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"jwks_uri":                              base + "/" + tenant + "/discovery/v2.0/keys",
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"issuer":                                base + "/" + tid + "/v2.0",
		"request_uri_parameter_supported":       false,
		"userinfo_endpoint":                     base + "/oidc/userinfo",
		"authorization_endpoint":                base + "/" + tenant + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint":         base + "/" + tenant + "/oauth2/v2.0/devicecode",
		"http_logout_supported":                 true,
		"frontchannel_logout_supported":         true,
		"end_session_endpoint":                  base + "/" + tenant + "/oauth2/v2.0/logout",
		"claims_supported":                      []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"},
		"tenant_region_scope":                   "EU",
		"cloud_instance_name":                   strings.TrimPrefix(base, "https://"),
		"cloud_graph_host_name":                 "graph.windows.net",
		"msgraph_host":                          strings.TrimPrefix(base, "https://"),
		"rbac_url":                              "https://pas.windows.net",
	}))
}

func (s *Sim) serveJWKS(w http.ResponseWriter, r *http.Request) {
	pub := &s.signKey.PublicKey
	writeRawJSON(w, http.StatusOK, mustJSON(map[string]any{"keys": []any{map[string]any{
		"kty": "RSA", "use": "sig", "kid": s.keyID(),
		"n": b64url(pub.N.Bytes()), "e": b64url(bigEndian(pub.E)),
	}}}))
}

func bigEndian(e int) []byte {
	var b []byte
	for e > 0 {
		b = append([]byte{byte(e)}, b...)
		e >>= 8
	}
	return b
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// keyID is the kid of the sim's token signing key.
func (s *Sim) keyID() string {
	der, _ := x509.MarshalPKIXPublicKey(&s.signKey.PublicKey) // an RSA public key always marshals
	h := sha256.Sum256(der)
	return b64url(h[:12])
}

// entraError writes Entra's token-endpoint error JSON.
func (s *Sim) entraError(w http.ResponseWriter, status int, code string, aadsts int, msg string) {
	now := s.Now()
	trace, corr := newUUID(), newUUID()
	desc := fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s", aadsts, msg, trace, corr, now.Format("2006-01-02 15:04:05Z"))
	writeRawJSON(w, status, mustJSON(map[string]any{
		"error": code, "error_description": desc, "error_codes": []int{aadsts},
		"timestamp": now.Format("2006-01-02 15:04:05Z"), "trace_id": trace, "correlation_id": corr,
		"error_uri": s.URL() + "/error?code=" + fmt.Sprint(aadsts),
	}))
}

// serveToken is the client-credentials token endpoint.
func (s *Sim) serveToken(w http.ResponseWriter, r *http.Request, tenant string) {
	if !s.knownTenant(tenant) {
		s.entraError(w, http.StatusBadRequest, "invalid_request", 90002, fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.", tenant))
		return
	}
	ct := r.Header.Get("Content-Type")
	if !strings.HasPrefix(strings.ToLower(ct), "application/x-www-form-urlencoded") {
		s.entraError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		s.entraError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body could not be parsed: "+err.Error())
		return
	}
	f := r.PostForm
	missing := func(p string) {
		s.entraError(w, http.StatusBadRequest, "invalid_request", 900144, fmt.Sprintf("The request body must contain the following parameter: '%s'.", p))
	}
	if f.Get("grant_type") == "" {
		missing("grant_type")
		return
	}
	if f.Get("grant_type") != "client_credentials" {
		s.entraError(w, http.StatusBadRequest, "unsupported_grant_type", 70003, fmt.Sprintf("The app requested an unsupported grant type '%s'.", f.Get("grant_type")))
		return
	}
	clientID := f.Get("client_id")
	if clientID == "" {
		missing("client_id")
		return
	}
	if !strings.EqualFold(clientID, s.clientID) {
		s.entraError(w, http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", clientID, Domain))
		return
	}
	if f.Get("scope") == "" {
		missing("scope")
		return
	}
	resource := ""
	for _, sc := range strings.Fields(f.Get("scope")) {
		switch sc {
		case "openid", "profile", "offline_access", "email":
			continue
		}
		res, ok := strings.CutSuffix(sc, "/.default")
		if !ok {
			s.entraError(w, http.StatusBadRequest, "invalid_scope", 1002012, fmt.Sprintf("The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", sc))
			return
		}
		if resource != "" && resource != res {
			s.entraError(w, http.StatusBadRequest, "invalid_scope", 70011, "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. Scopes for more than one resource were requested.")
			return
		}
		resource = res
	}
	if resource == "" {
		s.entraError(w, http.StatusBadRequest, "invalid_scope", 1002012, "The provided value for scope "+f.Get("scope")+" is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).")
		return
	}
	if !slices.Contains(graphAudiences, resource) {
		s.entraError(w, http.StatusBadRequest, "invalid_resource", 500011, fmt.Sprintf("The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.", resource, Domain))
		return
	}
	if f.Get("client_secret") != "" {
		s.entraError(w, http.StatusUnauthorized, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '"+s.clientID+"'.")
		return
	}
	assertion := f.Get("client_assertion")
	if assertion == "" {
		s.entraError(w, http.StatusUnauthorized, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return
	}
	if at := f.Get("client_assertion_type"); at != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
		s.entraError(w, http.StatusBadRequest, "invalid_request", 900144, fmt.Sprintf("The request body must contain the following parameter: 'client_assertion_type' with the value 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer' (got '%s').", at))
		return
	}
	if c := f.Get("claims"); c != "" && !json.Valid([]byte(c)) {
		s.entraError(w, http.StatusBadRequest, "invalid_request", 90014, "The 'claims' parameter is not valid JSON.")
		return
	}
	if e := s.verifyAssertion(assertion, tenant); e != nil {
		s.entraError(w, e.status, e.code, e.aadsts, e.msg)
		return
	}
	tok := s.issueAccessToken(resource, strings.Contains(f.Get("claims"), "CP1"))
	w.Header().Set("Cache-Control", "no-store, no-cache")
	writeRawJSON(w, http.StatusOK, mustJSON(map[string]any{
		"token_type": "Bearer", "expires_in": int(accessTokenLifetime.Seconds()), "ext_expires_in": int(accessTokenLifetime.Seconds()),
		"access_token": tok,
	}))
}

type entraErr struct {
	status int
	code   string
	aadsts int
	msg    string
}

// verifyAssertion checks a client assertion JWT; tenant is the path tenant.
func (s *Sim) verifyAssertion(jwt, tenant string) *entraErr {
	malformed := &entraErr{http.StatusBadRequest, "invalid_request", 50027, "JWT token is invalid or malformed."}
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return malformed
	}
	var hdr struct {
		Alg    string `json:"alg"`
		X5t    string `json:"x5t"`
		X5tS   string `json:"x5t#S256"`
		Typ    string `json:"typ"`
		Crit   []any  `json:"crit"`
		KidRaw any    `json:"kid"`
	}
	var claims struct {
		Aud any    `json:"aud"`
		Iss string `json:"iss"`
		Sub string `json:"sub"`
		Jti string `json:"jti"`
		Exp *int64 `json:"exp"`
		Nbf *int64 `json:"nbf"`
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	cb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &hdr) != nil || json.Unmarshal(cb, &claims) != nil {
		return malformed
	}
	if hdr.Alg != "RS256" && hdr.Alg != "PS256" {
		return &entraErr{http.StatusBadRequest, "invalid_request", 50027, fmt.Sprintf("JWT token is invalid or malformed: unsupported signing algorithm '%s' (use PS256 or RS256).", hdr.Alg)}
	}
	var thumb []byte
	var use256 bool
	switch {
	case hdr.X5tS != "":
		thumb, use256 = decodeB64Any(hdr.X5tS), true
		if len(thumb) != 32 {
			return &entraErr{http.StatusBadRequest, "invalid_request", 50027, "JWT token is invalid or malformed: the x5t#S256 header is not a base64 SHA-256 thumbprint."}
		}
	case hdr.X5t != "":
		thumb = decodeB64Any(hdr.X5t)
		if len(thumb) != 20 {
			return &entraErr{http.StatusBadRequest, "invalid_request", 50027, "JWT token is invalid or malformed: the x5t header is not a base64 SHA-1 thumbprint."}
		}
	default:
		return &entraErr{http.StatusUnauthorized, "invalid_client", 700027, "Client assertion failed signature validation: the JWT header has no x5t or x5t#S256 thumbprint."}
	}
	thumbHex := strings.ToUpper(hex.EncodeToString(thumb))
	s.auth.mu.Lock()
	var found *registeredCert
	for i := range s.auth.certs {
		c := &s.auth.certs[i]
		if use256 && string(c.sha256[:]) == string(thumb) || !use256 && string(c.sha1[:]) == string(thumb) {
			found = c
			break
		}
	}
	s.auth.mu.Unlock()
	if found == nil {
		return &entraErr{http.StatusUnauthorized, "invalid_client", 700027, fmt.Sprintf("Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of key used by client: '%s', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '%s'. Review the documentation at https://docs.microsoft.com/en-us/graph/deployments if you are not using the global cloud.]", thumbHex, s.clientID)}
	}
	now := s.Now()
	pub := found.cert.PublicKey.(*rsa.PublicKey)
	h := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	var verr error
	if hdr.Alg == "PS256" {
		verr = rsa.VerifyPSS(pub, crypto.SHA256, h[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
	} else {
		verr = rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig)
	}
	if verr != nil {
		return &entraErr{http.StatusUnauthorized, "invalid_client", 700027, fmt.Sprintf("Client assertion contains an invalid signature. [Reason - Key was found, but use of the key to verify the signature failed., Thumbprint of key used by client: '%s', Found key 'Start=%s, End=%s']", thumbHex, found.cert.NotBefore.UTC().Format("01/02/2006 15:04:05"), found.cert.NotAfter.UTC().Format("01/02/2006 15:04:05"))}
	}
	if now.After(found.cert.NotAfter) || now.Before(found.cert.NotBefore.Add(-assertionSkew)) {
		return &entraErr{http.StatusUnauthorized, "invalid_client", 700027, fmt.Sprintf("Client assertion contains an invalid signature. [Reason - The key used is expired., Thumbprint of key used by client: '%s', Found key 'Start=%s, End=%s']", thumbHex, found.cert.NotBefore.UTC().Format("01/02/2006 15:04:05"), found.cert.NotAfter.UTC().Format("01/02/2006 15:04:05"))}
	}
	if !strings.EqualFold(claims.Iss, s.clientID) || !strings.EqualFold(claims.Sub, s.clientID) {
		return &entraErr{http.StatusUnauthorized, "invalid_client", 700021, fmt.Sprintf("Client assertion application identifier doesn't match 'client_id' parameter (iss '%s', sub '%s', client_id '%s'). Review the documentation at https://docs.microsoft.com/en-us/azure/active-directory/develop/active-directory-certificate-credentials .", claims.Iss, claims.Sub, s.clientID)}
	}
	aud, _ := claims.Aud.(string)
	if arr, ok := claims.Aud.([]any); ok && len(arr) == 1 {
		aud, _ = arr[0].(string)
	}
	valid := []string{
		s.URL() + "/" + tenant + "/oauth2/v2.0/token", s.URL() + "/" + s.tenantID + "/oauth2/v2.0/token",
		s.URL() + "/" + Domain + "/oauth2/v2.0/token",
	}
	if !slices.ContainsFunc(valid, func(v string) bool { return strings.EqualFold(v, aud) }) {
		return &entraErr{http.StatusUnauthorized, "invalid_client", 50013, fmt.Sprintf("Assertion failed signature validation: the audience claim '%s' does not match the token endpoint '%s'.", aud, valid[0])}
	}
	if claims.Exp == nil {
		return &entraErr{http.StatusBadRequest, "invalid_request", 50027, "JWT token is invalid or malformed: the client assertion has no 'exp' claim."}
	}
	exp := time.Unix(*claims.Exp, 0)
	if now.After(exp.Add(assertionSkew)) {
		return &entraErr{http.StatusUnauthorized, "invalid_client", 500133, fmt.Sprintf("Assertion is not within its valid time range. Ensure that the access token is not expired before using it for user assertion, or request a new token. Current time: %s, expiry time of assertion %s.", now.Format(time.RFC3339), exp.UTC().Format(time.RFC3339))}
	}
	if claims.Nbf != nil {
		if nbf := time.Unix(*claims.Nbf, 0); now.Before(nbf.Add(-assertionSkew)) {
			return &entraErr{http.StatusUnauthorized, "invalid_client", 500133, fmt.Sprintf("Assertion is not within its valid time range. Current time: %s, assertion valid from %s.", now.Format(time.RFC3339), nbf.UTC().Format(time.RFC3339))}
		}
	}
	if claims.Jti == "" {
		return &entraErr{http.StatusBadRequest, "invalid_request", 50027, "JWT token is invalid or malformed: the client assertion has no 'jti' claim."}
	}
	s.auth.mu.Lock()
	defer s.auth.mu.Unlock()
	for id, e := range s.auth.jti {
		if now.After(e.Add(assertionSkew)) {
			delete(s.auth.jti, id)
		}
	}
	if _, used := s.auth.jti[claims.Jti]; used {
		return &entraErr{http.StatusUnauthorized, "invalid_client", 50013, fmt.Sprintf("Assertion failed validation: the client assertion with jti '%s' has already been used (replay).", claims.Jti)}
	}
	s.auth.jti[claims.Jti] = exp
	return nil
}

// decodeB64Any decodes standard or URL base64, padded or not; nil on failure.
func decodeB64Any(s string) []byte {
	s = strings.TrimRight(s, "=")
	s = strings.NewReplacer("+", "-", "/", "_").Replace(s)
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil
	}
	return b
}

// accessClaims are the claims of an issued access token the Graph side checks.
type accessClaims struct {
	Aud   string   `json:"aud"`
	Iss   string   `json:"iss"`
	Iat   int64    `json:"iat"`
	Nbf   int64    `json:"nbf"`
	Exp   int64    `json:"exp"`
	AppID string   `json:"appid"`
	Tid   string   `json:"tid"`
	Uti   string   `json:"uti"`
	Roles []string `json:"roles,omitempty"`
	XmsCC []string `json:"xms_cc,omitempty"`
}

// issueAccessToken signs an app-only access token for resource carrying the
// consented roles (no roles claim when nothing is consented).
func (s *Sim) issueAccessToken(resource string, cae bool) string {
	now := s.Now()
	uti := b64url(randomBytes(16))
	s.auth.mu.Lock()
	var roles []string
	for p := range s.auth.consented {
		roles = append(roles, p)
	}
	s.auth.issued[uti] = s.auth.epoch
	s.auth.mu.Unlock()
	sort.Strings(roles)
	aud := resource
	if aud == "00000003-0000-0000-c000-000000000000" {
		aud = "https://graph.microsoft.com"
	}
	claims := map[string]any{
		"aud": aud, "iss": "https://sts.windows.net/" + s.tenantID + "/", "iat": now.Unix(), "nbf": now.Unix(),
		"exp": now.Add(accessTokenLifetime).Unix(), "aio": b64url(randomBytes(24)), "app_displayname": "pbx365",
		"appid": s.clientID, "appidacr": "2", "idp": "https://sts.windows.net/" + s.tenantID + "/", "idtyp": "app",
		"oid": spObjectID, "sub": spObjectID, "tid": s.tenantID, "uti": uti, "ver": "1.0",
	}
	if len(roles) > 0 {
		claims["roles"] = roles
	}
	if cae {
		claims["xms_cc"] = []string{"CP1"}
	}
	hdr := b64url(mustJSON(map[string]any{"typ": "JWT", "alg": "RS256", "kid": s.keyID()}))
	body := b64url(mustJSON(claims))
	h := sha256.Sum256([]byte(hdr + "." + body))
	sig, err := rsa.SignPKCS1v15(nil, s.signKey, crypto.SHA256, h[:])
	if err != nil {
		panic(fmt.Sprintf("m365sim: sign access token: %v", err))
	}
	return hdr + "." + body + "." + b64url(sig)
}

// spObjectID is the object id of the app's service principal in the tenant.
const spObjectID = "0c7e2d51-8a3f-4b96-a1d4-5e9f3b8c2a71"

// tokenProblem is why a bearer token was refused.
type tokenProblem struct {
	msg string
	cae bool // the token is CAE-capable: answer with a claims challenge
}

// checkAccessToken validates a Graph bearer token against the sim clock.
func (s *Sim) checkAccessToken(authz string) (*accessClaims, *tokenProblem) {
	tok, ok := strings.CutPrefix(authz, "Bearer ")
	if !ok || tok == "" {
		return nil, &tokenProblem{msg: "Access token is empty."}
	}
	s.auth.mu.Lock()
	c := s.auth.verified[tok]
	s.auth.mu.Unlock()
	if c == nil {
		parts := strings.Split(tok, ".")
		if len(parts) != 3 {
			return nil, &tokenProblem{msg: "IDX14100: JWT is not well formed, there are no dots (.)."}
		}
		sig, err := base64.RawURLEncoding.DecodeString(parts[2])
		h := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		if err != nil || rsa.VerifyPKCS1v15(&s.signKey.PublicKey, crypto.SHA256, h[:], sig) != nil {
			return nil, &tokenProblem{msg: "Access token validation failure. Invalid signature."}
		}
		cb, err := base64.RawURLEncoding.DecodeString(parts[1])
		c = &accessClaims{}
		if err != nil || json.Unmarshal(cb, c) != nil {
			return nil, &tokenProblem{msg: "IDX14100: JWT is not well formed."}
		}
		if !slices.Contains(graphAudiences, c.Aud) {
			return nil, &tokenProblem{msg: "Access token validation failure. Invalid audience."}
		}
		if c.Tid != s.tenantID {
			return nil, &tokenProblem{msg: "Access token validation failure. Invalid tenant."}
		}
		s.auth.mu.Lock()
		if len(s.auth.verified) > 10000 {
			clear(s.auth.verified)
		}
		s.auth.verified[tok] = c
		s.auth.mu.Unlock()
	}
	cae := slices.Contains(c.XmsCC, "CP1")
	now := s.Now().Unix()
	s.auth.mu.Lock()
	epoch, known := s.auth.issued[c.Uti]
	revoked := !known || epoch != s.auth.epoch
	s.auth.mu.Unlock()
	if revoked || now >= c.Exp {
		return nil, &tokenProblem{msg: "Lifetime validation failed, the token is expired.", cae: cae}
	}
	if now < c.Nbf-int64(assertionSkew.Seconds()) {
		return nil, &tokenProblem{msg: "Lifetime validation failed, the token is not yet valid."}
	}
	return c, nil
}

// writeAuthChallenge answers 401 for a refused token; CAE-capable clients get
// a claims challenge so that their SDK fetches a fresh token and retries.
func (s *Sim) writeAuthChallenge(w http.ResponseWriter, r *http.Request, p *tokenProblem) {
	if p.cae {
		claims := base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf(`{"access_token":{"nbf":{"essential":true, "value":"%d"}}}`, s.Now().Unix())))
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="", authorization_uri="%s/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000", error="insufficient_claims", claims="%s"`, s.URL(), claims))
	} else {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="", authorization_uri="%s/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`, s.URL()))
	}
	s.graphError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", p.msg)
}
