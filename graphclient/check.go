package graphclient

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// TokenClaims are the parts of the app-only access token pbx365 reads.
type TokenClaims struct {
	Roles    []string  `json:"roles"`
	TenantID string    `json:"tid"`
	AppID    string    `json:"appid"`
	Audience string    `json:"aud"`
	Expires  time.Time `json:"-"`
}

// Token gets an app-only access token for Graph and reads its claims. The
// signature is not checked: Entra issued the token to us over TLS; it is only
// read to learn the granted application permissions (the "roles" claim).
func (c *Client) Token(ctx context.Context) (TokenClaims, error) {
	tok, err := c.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{c.scope}, EnableCAE: true})
	if err != nil {
		return TokenClaims{}, c.wrap("token", err)
	}
	claims, err := decodeClaims(tok.Token)
	if err != nil {
		return TokenClaims{}, fmt.Errorf("token: %w", err)
	}
	claims.Expires = tok.ExpiresOn
	return claims, nil
}

func decodeClaims(jwt string) (TokenClaims, error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return TokenClaims{}, errors.New("the access token is not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return TokenClaims{}, fmt.Errorf("access token payload: %w", err)
	}
	var claims TokenClaims
	if err := json.Unmarshal(payload, &claims); err != nil {
		return TokenClaims{}, fmt.Errorf("access token claims: %w", err)
	}
	return claims, nil
}

// AdminConsentURL is the page where a tenant admin grants the app's
// application permissions (setup step 3). cloud is ms.cloud ("" = global),
// loginURL an ms.login_url override ("" = the cloud's). redirectURI may be ""
// (Entra then uses the app's first registered redirect URI).
func AdminConsentURL(cloud, loginURL, tenant, clientID, redirectURI string) (string, error) {
	r, err := Config{Cloud: cloud, LoginURL: loginURL}.resolve()
	if err != nil {
		return "", err
	}
	if tenant == "" {
		return "", errors.New("ms.tenant is not set")
	}
	if clientID == "" {
		return "", errors.New("ms.client_id is not set")
	}
	q := url.Values{"client_id": {clientID}, "state": {"pbx365"}}
	if redirectURI != "" {
		q.Set("redirect_uri", redirectURI)
	}
	return r.loginURL + "/" + url.PathEscape(tenant) + "/adminconsent?" + q.Encode(), nil
}

// consentHint tells the admin how to grant p.
func consentHint(p Permission) string {
	return fmt.Sprintf("add the application permission %s (Microsoft Graph) to the app registration and grant admin consent", p)
}

// CheckPermissions reads the granted application permissions from the token's
// roles claim, then probes the read permissions live: User.Read.All lists a
// user, Directory.Read.All lists a group, Calendars.Read reads a mailbox's
// calendar view, Contacts.Read reads its contacts. Mail.Send is judged from
// the token alone (no mail is sent). The error is non-nil only when no token
// could be had (explained: wrong certificate, unknown app, unknown tenant…);
// then no permission can be judged.
func (c *Client) CheckPermissions(ctx context.Context) ([]PermissionResult, error) {
	claims, err := c.Token(ctx)
	if err != nil {
		return nil, err
	}
	res := map[Permission]*PermissionResult{}
	for _, p := range Permissions {
		r := &PermissionResult{Permission: p, State: PermGranted}
		if !slices.Contains(claims.Roles, string(p)) {
			r.State = PermMissing
			r.Detail = consentHint(p)
		}
		res[p] = r
	}
	res[PermMailSend].Detail = strings.TrimSpace(res[PermMailSend].Detail + " (judged from the token's roles; no mail is sent)")

	// User.Read.All: list users; keep a few with mail as mailbox probes.
	var mailboxes []string
	var page struct {
		Value []struct {
			ID   string `json:"id"`
			Mail string `json:"mail"`
		} `json:"value"`
	}
	err = c.getJSON(ctx, c.url("/users", url.Values{"$top": {"10"}, "$select": {"id,mail"}}), nil, &page)
	c.probeResult(res[PermUserReadAll], err)
	for _, u := range page.Value {
		if u.Mail != "" {
			mailboxes = append(mailboxes, u.ID)
		}
	}
	// Directory.Read.All: list groups.
	err = c.getJSON(ctx, c.url("/groups", url.Values{"$top": {"1"}, "$select": {"id"}}), nil, nil)
	c.probeResult(res[PermDirectoryReadAll], err)

	// Mailbox permissions on the first mailbox that has one.
	now := time.Now().UTC().Truncate(time.Minute)
	probes := []struct {
		p   Permission
		url func(id string) string
		hdr map[string]string
	}{
		{PermCalendarsRead, func(id string) string {
			return c.url("/users/"+pathEscape(id)+"/calendarView", url.Values{
				"startDateTime": {now.Format(time.RFC3339)}, "endDateTime": {now.Add(time.Hour).Format(time.RFC3339)},
				"$top": {"1"}, "$select": {"id"}})
		}, preferUTC},
		{PermContactsRead, func(id string) string {
			return c.url("/users/"+pathEscape(id)+"/contacts", url.Values{"$top": {"1"}, "$select": {"id"}})
		}, nil},
	}
	for _, pr := range probes {
		r := res[pr.p]
		if len(mailboxes) == 0 {
			if r.State == PermGranted {
				r.State = PermError
				r.Detail = "could not probe: no user with a mailbox could be listed (needs User.Read.All)"
			}
			continue
		}
		var err error
		for i, id := range mailboxes {
			err = c.getJSON(ctx, pr.url(id), pr.hdr, nil)
			if err == nil || i == 2 || !mailboxMissing(c.wrap("probe", err)) {
				break // a user without a mailbox says nothing about the permission: try the next
			}
		}
		c.probeResult(r, err)
	}
	out := make([]PermissionResult, 0, len(Permissions))
	for _, p := range Permissions {
		out = append(out, *res[p])
	}
	return out, nil
}

// mailboxMissing reports a user without a usable Exchange mailbox.
func mailboxMissing(err error) bool {
	switch ErrorCode(err) {
	case "MailboxNotEnabledForRESTAPI", "ErrorInvalidUser", "ResourceNotFound", "ErrorItemNotFound", "MailboxNotSupportedForRESTAPI":
		return true
	}
	return false
}

// probeResult folds a live probe's outcome into r.
func (c *Client) probeResult(r *PermissionResult, err error) {
	if err == nil {
		if r.State == PermMissing {
			r.Detail += " (reads work today through another permission)"
		}
		return
	}
	werr := c.wrap("probe "+string(r.Permission), err)
	code := ErrorCode(werr)
	r.Code = code
	switch {
	case StatusCode(werr) == http.StatusForbidden && r.State == PermMissing:
		// consistent: not granted, and Graph refuses
	case StatusCode(werr) == http.StatusForbidden:
		r.State = PermMissing
		r.Detail = fmt.Sprintf("the token carries %s but Graph refused (%s): re-grant admin consent; for mailboxes check Exchange application access policies", r.Permission, code)
	default:
		r.State = PermError
		r.Detail = werr.Error()
	}
}

// Check states for CheckLine.Status.
const (
	CheckOK      = "ok"
	CheckMissing = "missing"
	CheckError   = "error"
)

// CheckLine is one line of `pbx365 check`.
type CheckLine struct {
	Status string // CheckOK, CheckMissing or CheckError
	Item   string // "graph token", "permission Calendars.Read", "certificate"
	Detail string
}

// String formats the line as `pbx365 check` prints it: the status first.
func (l CheckLine) String() string {
	s := fmt.Sprintf("%-7s %s", l.Status, l.Item)
	if l.Detail != "" {
		s += ": " + l.Detail
	}
	return s
}

// CheckLines runs the Microsoft part of `pbx365 check`: the certificate's
// expiry, the token, and each of the five permissions, one line each.
func (c *Client) CheckLines(ctx context.Context) []CheckLine {
	var lines []CheckLine
	kp := c.cred.keys[0]
	cert := CheckLine{Status: CheckOK, Item: "certificate " + kp.ThumbprintSHA1(),
		Detail: "expires " + kp.NotAfter().UTC().Format("2006-01-02")}
	if w := kp.ExpiryWarningText(time.Now()); w != "" {
		cert.Detail = w
		if kp.Expired(time.Now()) {
			cert.Status = CheckError
		}
	}
	lines = append(lines, cert)
	results, err := c.CheckPermissions(ctx)
	if err != nil {
		lines = append(lines, CheckLine{Status: CheckError, Item: "graph token", Detail: err.Error()})
		for _, p := range Permissions {
			lines = append(lines, CheckLine{Status: CheckError, Item: "permission " + string(p), Detail: "not checked: no token"})
		}
		return lines
	}
	lines = append(lines, CheckLine{Status: CheckOK, Item: "graph token", Detail: fmt.Sprintf("tenant %s, app %s, %s", c.cfg.TenantID, c.cfg.ClientID, c.baseURL)})
	for _, r := range results {
		l := CheckLine{Item: "permission " + string(r.Permission), Detail: r.Detail}
		switch r.State {
		case PermGranted:
			l.Status = CheckOK
		case PermMissing:
			l.Status = CheckMissing
		default:
			l.Status = CheckError
		}
		if r.Code != "" && r.State != PermGranted && !strings.Contains(l.Detail, r.Code) {
			l.Detail += " [" + r.Code + "]"
		}
		lines = append(lines, l)
	}
	return lines
}

// CheckFailed reports whether any line is not ok (`pbx365 check` exits 1).
func CheckFailed(lines []CheckLine) bool {
	return slices.ContainsFunc(lines, func(l CheckLine) bool { return l.Status != CheckOK })
}
