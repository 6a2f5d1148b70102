package m365sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Maximum subscription lifetimes (graph.md §5.2). For Outlook resources the
// sim follows the current documentation (10,080 minutes, under 7 days), not
// the older 4,230 minutes.
const (
	MaxDirectorySubscriptionLifetime = 41760 * time.Minute
	MaxOutlookSubscriptionLifetime   = 10080 * time.Minute
	// MaxClientStateLength is the longest clientState Graph accepts.
	MaxClientStateLength = 128
	// ReauthorizationLead is how long before its expiry a subscription with a
	// lifecycleNotificationUrl gets a reauthorizationRequired event (sim clock).
	ReauthorizationLead = time.Hour
)

// Lifecycle events (graph.md §5.5).
const (
	LifecycleReauthorizationRequired = "reauthorizationRequired"
	LifecycleSubscriptionRemoved     = "subscriptionRemoved"
	LifecycleMissed                  = "missed"
)

// WebhookOptions tunes how the sim talks to notification receivers. The
// defaults are Graph's: validation answered within 10 s, deliveries within 3 s,
// failed deliveries retried with exponential backoff (1 s, 2 s, 4 s, 8 s, 16 s:
// Graph retries for up to 4 hours; the sim stops after MaxRetries, drops the
// notifications and sends a "missed" lifecycle event for Outlook resources).
type WebhookOptions struct {
	ValidationTimeout time.Duration
	DeliveryTimeout   time.Duration
	RetryDelay        time.Duration // first retry delay; doubles each time
	MaxRetries        int
}

// DefaultWebhookOptions are Graph's timings.
var DefaultWebhookOptions = WebhookOptions{ValidationTimeout: 10 * time.Second, DeliveryTimeout: 3 * time.Second, RetryDelay: time.Second, MaxRetries: 5}

// subscription is one change-notification subscription.
type subscription struct {
	id, resource, changeType string
	changeTypes              []ChangeType
	notificationURL          string
	lifecycleURL             string
	clientState              string
	tlsVersion               string
	expiration               time.Time
	kind                     string   // users, user, events, contacts
	prefixes                 []string // change-log resource prefixes (Outlook kinds)
	userID                   string   // the addressed user (all kinds but users)
	reauthSent, needsReauth  bool
	queue                    []notificationItem
	sending                  bool
	removed                  bool
}

func (sub *subscription) outlook() bool { return sub.kind == "events" || sub.kind == "contacts" }

// subState is the subscriptions side of simExt.
type subState struct {
	mu         sync.Mutex
	subs       map[string]*subscription
	order      []string
	deliveries []DeliveryRecord
	trust      [][]byte
	client     *http.Client
	opts       WebhookOptions
	sweeping   bool
}

func (st *subState) init() {
	st.subs = map[string]*subscription{}
	st.opts = DefaultWebhookOptions
}

// SetWebhookOptions changes the receiver timings (zero fields keep their value).
func (s *Sim) SetWebhookOptions(o WebhookOptions) {
	st := &s.ext().subs
	st.mu.Lock()
	defer st.mu.Unlock()
	if o.ValidationTimeout > 0 {
		st.opts.ValidationTimeout = o.ValidationTimeout
	}
	if o.DeliveryTimeout > 0 {
		st.opts.DeliveryTimeout = o.DeliveryTimeout
	}
	if o.RetryDelay > 0 {
		st.opts.RetryDelay = o.RetryDelay
	}
	if o.MaxRetries > 0 {
		st.opts.MaxRetries = o.MaxRetries
	}
}

func init() {
	registerExtension(func(s *Sim) {
		s.graphRoute("POST /subscriptions", accessAny, s.createSubscription)
		s.graphRoute("GET /subscriptions", accessAny, s.listSubscriptions)
		s.graphRoute("GET /subscriptions/{sid}", accessAny, s.getSubscription)
		s.graphRoute("PATCH /subscriptions/{sid}", accessAny, s.renewSubscription)
		s.graphRoute("DELETE /subscriptions/{sid}", accessAny, s.deleteSubscription)
		s.graphRoute("POST /subscriptions/{sid}/reauthorize", accessAny, s.reauthorizeSubscription)
		s.graphRoute("POST /subscriptions/{sid}/microsoft.graph.reauthorize", accessAny, s.reauthorizeSubscription)
		s.OnChange(s.notifyChange)
	})
}

// subscriptionBody is POST /subscriptions' body.
type subscriptionBody struct {
	ChangeType                *string `json:"changeType"`
	NotificationURL           *string `json:"notificationUrl"`
	Resource                  *string `json:"resource"`
	ExpirationDateTime        *string `json:"expirationDateTime"`
	ClientState               *string `json:"clientState"`
	LifecycleNotificationURL  *string `json:"lifecycleNotificationUrl"`
	LatestSupportedTLSVersion *string `json:"latestSupportedTlsVersion"`
	IncludeResourceData       *bool   `json:"includeResourceData"`
	EncryptionCertificate     *string `json:"encryptionCertificate"`
	EncryptionCertificateID   *string `json:"encryptionCertificateId"`
	NotificationQueryOptions  *string `json:"notificationQueryOptions"`
	NotificationURLAppID      *string `json:"notificationUrlAppId"`
	ODataType                 *string `json:"@odata.type"`
}

// subError is a refusal with Graph's status and code.
type subError struct {
	status    int
	code, msg string
}

func invalidSub(format string, args ...any) *subError {
	return &subError{http.StatusBadRequest, "InvalidRequest", fmt.Sprintf(format, args...)}
}

// checkLoopbackHTTPS checks a receiver URL: https, and a loopback host (the
// sim never sends traffic anywhere else).
func checkLoopbackHTTPS(field, raw string) *subError {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return invalidSub("The %s '%s' is not a valid absolute URL.", field, raw)
	}
	if !strings.EqualFold(u.Scheme, "https") {
		return invalidSub("The %s must use https: '%s'.", field, raw)
	}
	h := u.Hostname()
	if ip := net.ParseIP(h); (ip == nil || !ip.IsLoopback()) && !strings.EqualFold(h, "localhost") {
		return invalidSub("The %s host '%s' is not a loopback address: m365sim delivers only to 127.0.0.0/8, ::1 or localhost.", field, h)
	}
	return nil
}

// resolveSubResource parses a subscription resource and checks the tenant.
func (s *Sim) resolveSubResource(sub *subscription) *subError {
	res := strings.TrimPrefix(sub.resource, "/")
	if strings.Contains(res, "?") {
		return invalidSub("Query options on the resource ('%s') are not supported by the simulator.", sub.resource)
	}
	seg := strings.Split(res, "/")
	is := func(i int, name string) bool { return len(seg) > i && strings.EqualFold(seg[i], name) }
	switch {
	case len(seg) == 1 && is(0, "users"):
		sub.kind = "users"
	case len(seg) == 2 && is(0, "users"):
		sub.kind = "user"
	case len(seg) == 3 && is(0, "users") && is(2, "events"):
		sub.kind = "events"
	case len(seg) == 3 && is(0, "users") && is(2, "contacts"):
		sub.kind = "contacts"
	case len(seg) == 5 && is(0, "users") && is(2, "contactFolders") && is(4, "contacts"):
		sub.kind = "contacts"
	default:
		return invalidSub("The resource '%s' is not supported: use users, users/{id}, users/{id}/events, users/{id}/contacts or users/{id}/contactFolders/{id}/contacts.", sub.resource)
	}
	if sub.kind == "users" {
		return nil
	}
	notFound := &subError{http.StatusNotFound, "ExtensionError", "Operation: Create; Exception: [Status Code: NotFound; Reason: Not Found]"}
	var out *subError
	s.read(func(t *tenant) {
		if sub.kind == "user" {
			u := t.activeUser(seg[1])
			if u == nil {
				out = &subError{http.StatusNotFound, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", seg[1])}
				return
			}
			sub.userID = u.ID
			sub.prefixes = []string{userResource(u.ID)}
			return
		}
		u, mb, err := mailboxFor(t, seg[1])
		if err != nil {
			out = notFound
			return
		}
		sub.userID = u.ID
		switch {
		case sub.kind == "events":
			sub.prefixes = []string{"users/" + u.ID + "/events/"}
		case len(seg) == 3:
			sub.prefixes = []string{contactFolderResource(u.ID, mb, mb.ContactFolders[0])}
		default:
			f := mb.findFolder(seg[3])
			if f == nil {
				out = notFound
				return
			}
			sub.prefixes = []string{contactFolderResource(u.ID, mb, f)}
		}
	})
	return out
}

// subRoles are the application permissions that allow a subscription kind.
func subRoles(kind string) []string {
	switch kind {
	case "events":
		return []string{"Calendars.Read"}
	case "contacts":
		return []string{"Contacts.Read"}
	default:
		return []string{"User.Read.All", "Directory.Read.All"}
	}
}

// checkSubRoles refuses a caller without a role for the subscription's resource.
func checkSubRoles(r *http.Request, op string, sub *subscription) *subError {
	ri := requestInfoFrom(r)
	if ri.claims != nil && slices.ContainsFunc(subRoles(sub.kind), func(role string) bool { return slices.Contains(ri.claims.Roles, role) }) {
		return nil
	}
	reason := "Insufficient privileges to complete the operation."
	if sub.outlook() {
		reason = "Access is denied. Check credentials and try again."
	}
	return &subError{http.StatusForbidden, "ExtensionError", fmt.Sprintf("Operation: %s; Exception: [Status Code: Forbidden; Reason: %s Application permission needed: %s]", op, reason, strings.Join(subRoles(sub.kind), " or "))}
}

// checkExpiration validates a requested expiry against the kind's maximum lifetime.
func (s *Sim) checkExpiration(raw *string, sub *subscription) (time.Time, *subError) {
	if raw == nil || *raw == "" {
		return time.Time{}, invalidSub("expirationDateTime is required (UTC, e.g. 2026-01-02T15:04:05Z).")
	}
	exp, err := time.Parse(time.RFC3339Nano, *raw)
	if err != nil {
		return time.Time{}, invalidSub("expirationDateTime '%s' is not a valid date-time (use RFC 3339 in UTC, e.g. 2026-01-02T15:04:05Z).", *raw)
	}
	now := s.Now()
	maxLife := MaxDirectorySubscriptionLifetime
	if sub.outlook() {
		maxLife = MaxOutlookSubscriptionLifetime
	}
	if !exp.After(now) {
		return time.Time{}, invalidSub("Subscription expiration can only be in the future: '%s' is not after the current time %s.", *raw, now.Format(time.RFC3339))
	}
	if exp.Sub(now) > maxLife {
		return time.Time{}, invalidSub("Subscription expiration can only be %d minutes in the future.", int(maxLife.Minutes()))
	}
	return exp.UTC(), nil
}

func (s *Sim) writeSubError(w http.ResponseWriter, r *http.Request, e *subError) {
	s.graphError(w, r, e.status, e.code, e.msg)
}

// createSubscription serves POST /subscriptions.
func (s *Sim) createSubscription(w http.ResponseWriter, r *http.Request) {
	var body subscriptionBody
	if !s.decodeGraphBody(w, r, &body, "microsoft.graph.subscription") {
		return
	}
	sub, serr := s.newSubscription(r, &body)
	if serr != nil {
		s.writeSubError(w, r, serr)
		return
	}
	urls := []string{sub.notificationURL}
	if sub.lifecycleURL != "" && sub.lifecycleURL != sub.notificationURL {
		urls = append(urls, sub.lifecycleURL)
	}
	for _, u := range urls {
		if serr := s.validateEndpoint(r.Context(), sub.id, u); serr != nil {
			s.writeSubError(w, r, serr)
			return
		}
	}
	st := &s.ext().subs
	st.mu.Lock()
	st.subs[sub.id] = sub
	st.order = append(st.order, sub.id)
	startSweeper := !st.sweeping
	st.sweeping = true
	b := s.appendSubscription(nil, sub, true)
	st.mu.Unlock()
	if startSweeper {
		s.goBackground(s.sweepLoop)
	}
	writeOData(w, http.StatusCreated, b)
}

// newSubscription validates a creation body.
func (s *Sim) newSubscription(r *http.Request, body *subscriptionBody) (*subscription, *subError) {
	sub := &subscription{id: newUUID(), tlsVersion: "v1_2"}
	if body.ChangeType == nil || strings.TrimSpace(*body.ChangeType) == "" {
		return nil, invalidSub("changeType is required: a comma-separated list of created, updated, deleted.")
	}
	sub.changeType = *body.ChangeType
	for _, p := range strings.Split(sub.changeType, ",") {
		ct := ChangeType(strings.TrimSpace(p))
		if ct != ChangeCreated && ct != ChangeUpdated && ct != ChangeDeleted {
			return nil, invalidSub("Invalid 'changeType' attribute: '%s'.", p)
		}
		sub.changeTypes = append(sub.changeTypes, ct)
	}
	if body.NotificationURL == nil || *body.NotificationURL == "" {
		return nil, invalidSub("notificationUrl is required.")
	}
	if e := checkLoopbackHTTPS("notificationUrl", *body.NotificationURL); e != nil {
		return nil, e
	}
	sub.notificationURL = *body.NotificationURL
	if body.Resource == nil || *body.Resource == "" {
		return nil, invalidSub("resource is required, e.g. users or users/{id}/events.")
	}
	sub.resource = *body.Resource
	if e := s.resolveSubResource(sub); e != nil {
		return nil, e
	}
	if (sub.kind == "users" || sub.kind == "user") && slices.Contains(sub.changeTypes, ChangeCreated) {
		return nil, invalidSub("The changeType 'created' is not supported for the resource '%s': use updated,deleted (creations are notified as updated).", sub.resource)
	}
	if e := checkSubRoles(r, "Create", sub); e != nil {
		return nil, e
	}
	exp, e := s.checkExpiration(body.ExpirationDateTime, sub)
	if e != nil {
		return nil, e
	}
	sub.expiration = exp
	if body.ClientState != nil {
		if n := len([]rune(*body.ClientState)); n > MaxClientStateLength {
			return nil, invalidSub("clientState is %d characters long; the maximum is %d.", n, MaxClientStateLength)
		}
		sub.clientState = *body.ClientState
	}
	if body.LifecycleNotificationURL != nil && *body.LifecycleNotificationURL != "" {
		if e := checkLoopbackHTTPS("lifecycleNotificationUrl", *body.LifecycleNotificationURL); e != nil {
			return nil, e
		}
		sub.lifecycleURL = *body.LifecycleNotificationURL
	}
	if body.IncludeResourceData != nil && *body.IncludeResourceData || body.EncryptionCertificate != nil && *body.EncryptionCertificate != "" {
		return nil, invalidSub("Rich notifications (includeResourceData, encryptionCertificate) are not supported by the simulator.")
	}
	if body.NotificationQueryOptions != nil && *body.NotificationQueryOptions != "" {
		return nil, invalidSub("notificationQueryOptions is not supported for the resource '%s'.", sub.resource)
	}
	if v := body.LatestSupportedTLSVersion; v != nil && *v != "" {
		if !slices.Contains([]string{"v1_0", "v1_1", "v1_2", "v1_3"}, *v) {
			return nil, invalidSub("latestSupportedTlsVersion '%s' is invalid: use v1_0, v1_1, v1_2 or v1_3.", *v)
		}
		sub.tlsVersion = *v
	}
	return sub, nil
}

// graphTime renders Graph's 7-digit UTC timestamp.
func graphTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.0000000Z") }

// appendSubscription renders a subscription; caller holds st.mu.
func (s *Sim) appendSubscription(b []byte, sub *subscription, context bool) []byte {
	b = append(b, '{')
	if context {
		b = append(b, `"@odata.context":`...)
		b = appendJSONString(b, s.GraphURL()+"/$metadata#subscriptions/$entity")
		b = append(b, ',')
	}
	b = append(b, `"id":`...)
	b = appendJSONString(b, sub.id)
	b = append(b, `,"resource":`...)
	b = appendJSONString(b, sub.resource)
	b = append(b, `,"applicationId":`...)
	b = appendJSONString(b, s.clientID)
	b = append(b, `,"changeType":`...)
	b = appendJSONString(b, sub.changeType)
	b = append(b, `,"clientState":`...)
	b = appendNullableString(b, sub.clientState)
	b = append(b, `,"notificationUrl":`...)
	b = appendJSONString(b, sub.notificationURL)
	b = append(b, `,"notificationQueryOptions":null,"notificationContentType":null,"lifecycleNotificationUrl":`...)
	b = appendNullableString(b, sub.lifecycleURL)
	b = append(b, `,"expirationDateTime":`...)
	b = appendJSONString(b, graphTime(sub.expiration))
	b = append(b, `,"creatorId":`...)
	b = appendJSONString(b, spObjectID)
	b = append(b, `,"includeResourceData":null,"latestSupportedTlsVersion":`...)
	b = appendJSONString(b, sub.tlsVersion)
	b = append(b, `,"encryptionCertificate":null,"encryptionCertificateId":null,"notificationUrlAppId":null}`...)
	return b
}

// lookupSub finds a live subscription after expiring overdue ones; it writes
// the 404 when there is none. The caller must not hold st.mu.
func (s *Sim) lookupSub(w http.ResponseWriter, r *http.Request) *subscription {
	s.sweep()
	st := &s.ext().subs
	st.mu.Lock()
	sub := st.subs[r.PathValue("sid")]
	st.mu.Unlock()
	if sub == nil {
		s.graphError(w, r, http.StatusNotFound, "ResourceNotFound", fmt.Sprintf("The object was not found: subscription '%s' does not exist or has expired.", r.PathValue("sid")))
	}
	return sub
}

func (s *Sim) listSubscriptions(w http.ResponseWriter, r *http.Request) {
	s.sweep()
	st := &s.ext().subs
	b := []byte(`{"@odata.context":`)
	b = appendJSONString(b, s.GraphURL()+"/$metadata#subscriptions")
	b = append(b, `,"value":[`...)
	st.mu.Lock()
	for i, id := range st.order {
		if i > 0 {
			b = append(b, ',')
		}
		b = s.appendSubscription(b, st.subs[id], false)
	}
	st.mu.Unlock()
	b = append(b, "]}"...)
	writeOData(w, http.StatusOK, b)
}

func (s *Sim) getSubscription(w http.ResponseWriter, r *http.Request) {
	sub := s.lookupSub(w, r)
	if sub == nil {
		return
	}
	st := &s.ext().subs
	st.mu.Lock()
	b := s.appendSubscription(nil, sub, true)
	st.mu.Unlock()
	writeOData(w, http.StatusOK, b)
}

// renewSubscription serves PATCH /subscriptions/{id} (expirationDateTime only).
func (s *Sim) renewSubscription(w http.ResponseWriter, r *http.Request) {
	var body subscriptionBody
	if !s.decodeGraphBody(w, r, &body, "microsoft.graph.subscription") {
		return
	}
	sub := s.lookupSub(w, r)
	if sub == nil {
		return
	}
	if body.LifecycleNotificationURL != nil {
		s.writeSubError(w, r, invalidSub("lifecycleNotificationUrl can only be set when the subscription is created."))
		return
	}
	if body.ChangeType != nil || body.Resource != nil || body.NotificationURL != nil || body.ClientState != nil || body.IncludeResourceData != nil {
		s.writeSubError(w, r, invalidSub("Only expirationDateTime can be updated; delete and recreate the subscription to change anything else."))
		return
	}
	if e := checkSubRoles(r, "Update", sub); e != nil {
		s.writeSubError(w, r, e)
		return
	}
	exp, e := s.checkExpiration(body.ExpirationDateTime, sub)
	if e != nil {
		s.writeSubError(w, r, e)
		return
	}
	st := &s.ext().subs
	st.mu.Lock()
	sub.expiration, sub.reauthSent, sub.needsReauth = exp, false, false
	b := s.appendSubscription(nil, sub, true)
	st.mu.Unlock()
	writeOData(w, http.StatusOK, b)
}

func (s *Sim) deleteSubscription(w http.ResponseWriter, r *http.Request) {
	sub := s.lookupSub(w, r)
	if sub == nil {
		return
	}
	s.removeSub(sub.id)
	w.WriteHeader(http.StatusNoContent)
}

// reauthorizeSubscription serves POST /subscriptions/{id}/reauthorize.
func (s *Sim) reauthorizeSubscription(w http.ResponseWriter, r *http.Request) {
	sub := s.lookupSub(w, r)
	if sub == nil {
		return
	}
	if e := checkSubRoles(r, "Reauthorize", sub); e != nil {
		s.writeSubError(w, r, e)
		return
	}
	st := &s.ext().subs
	st.mu.Lock()
	sub.needsReauth = false
	st.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// removeSub deletes a subscription (its pending notifications are dropped).
func (s *Sim) removeSub(id string) {
	st := &s.ext().subs
	st.mu.Lock()
	defer st.mu.Unlock()
	if sub := st.subs[id]; sub != nil {
		sub.removed, sub.queue = true, nil
		delete(st.subs, id)
		st.order = slices.DeleteFunc(st.order, func(x string) bool { return x == id })
	}
}

// validateEndpoint runs the validation handshake with a receiver URL.
func (s *Sim) validateEndpoint(ctx context.Context, subID, target string) *subError {
	st := &s.ext().subs
	st.mu.Lock()
	timeout := st.opts.ValidationTimeout
	st.mu.Unlock()
	token := "Validation: Testing client application reachability for subscription Request-Id: " + newUUID()
	u := target
	if strings.Contains(u, "?") {
		u += "&"
	} else {
		u += "?"
	}
	u += "validationToken=" + url.QueryEscape(token)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	rec := DeliveryRecord{Time: s.Now(), Kind: "validation", SubscriptionID: subID, URL: target, Attempt: 1}
	fail := func(e *subError, detail string) *subError {
		rec.Err = detail
		s.recordDelivery(rec)
		return e
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, http.NoBody)
	if err != nil {
		return fail(invalidSub("The notification URL '%s' is invalid: %v.", target, err), err.Error())
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	start := time.Now()
	resp, err := s.webhookClient().Do(req)
	rec.Duration = time.Since(start)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fail(invalidSub("Subscription validation request timed out."), err.Error())
		}
		return fail(&subError{http.StatusBadRequest, "ValidationError", fmt.Sprintf("Subscription validation request failed. HTTP request to '%s' failed: %v", target, err)}, err.Error())
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	rec.Status = resp.StatusCode
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fail(invalidSub("Subscription validation request timed out."), err.Error())
		}
		return fail(&subError{http.StatusBadRequest, "ValidationError", "Subscription validation request failed. Reading the response failed: " + err.Error()}, err.Error())
	}
	if resp.StatusCode != http.StatusOK {
		return fail(&subError{http.StatusBadRequest, "ValidationError", fmt.Sprintf("Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request (got %d).", resp.StatusCode)}, resp.Status)
	}
	if ct := strings.ToLower(resp.Header.Get("Content-Type")); !strings.HasPrefix(ct, "text/plain") {
		return fail(&subError{http.StatusBadRequest, "ValidationError", fmt.Sprintf("Subscription validation request failed. Response must have Content-Type text/plain (got '%s').", ct)}, "content type "+ct)
	}
	if string(got) != token {
		return fail(&subError{http.StatusBadRequest, "ValidationError", "Subscription validation request failed. Response must exactly match validationToken query parameter."}, "token mismatch")
	}
	rec.Delivered = true
	s.recordDelivery(rec)
	return nil
}
