package m365sim

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"time"
)

// DeliveryRecord is one HTTP exchange of the sim with a notification receiver.
type DeliveryRecord struct {
	Time           time.Time     `json:"time"`           // sim clock
	Kind           string        `json:"kind"`           // validation, notification, lifecycle
	SubscriptionID string        `json:"subscriptionId"` //
	URL            string        `json:"url"`            //
	Attempt        int           `json:"attempt"`        // 1 = first try
	Status         int           `json:"status"`         // receiver's HTTP status (0: no answer)
	Err            string        `json:"error,omitempty"`
	Delivered      bool          `json:"delivered"`                // accepted by the receiver
	Dropped        bool          `json:"dropped,omitempty"`        // the last attempt failed; given up
	Resources      []string      `json:"resources,omitempty"`      // notification resources
	ChangeTypes    []string      `json:"changeTypes,omitempty"`    // notification change types
	LifecycleEvent string        `json:"lifecycleEvent,omitempty"` //
	Duration       time.Duration `json:"duration"`
}

// SubscriptionInfo is a snapshot of one subscription.
type SubscriptionInfo struct {
	ID                       string    `json:"id"`
	Resource                 string    `json:"resource"`
	ChangeType               string    `json:"changeType"`
	NotificationURL          string    `json:"notificationUrl"`
	LifecycleNotificationURL string    `json:"lifecycleNotificationUrl,omitempty"`
	ClientState              string    `json:"clientState,omitempty"`
	Expiration               time.Time `json:"expirationDateTime"`
	NeedsReauthorization     bool      `json:"needsReauthorization"`
	Pending                  int       `json:"pending"` // notifications waiting for delivery
}

// notificationItem is one change notification of a subscription.
type notificationItem struct {
	changeType ChangeType
	resource   string // Graph's spelling, e.g. Users/{id}/Events/{eid}
	odataType  string
	id         string
	seq        uint64
}

const (
	maxRecords2   = 10000 // delivery log bound
	maxBatchItems = 100   // notifications per POST
)

// TrustNotificationCA adds CA certificates (PEM) the sim trusts when it calls
// notification receivers. TLS is always verified; nothing else is trusted.
func (s *Sim) TrustNotificationCA(pemData []byte) error {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		return errors.New("trust notification CA: no certificate found in the PEM")
	}
	st := &s.ext().subs
	st.mu.Lock()
	st.trust = append(st.trust, bytes.Clone(pemData))
	old := st.client
	st.client = nil
	st.mu.Unlock()
	if old != nil {
		old.CloseIdleConnections()
	}
	return nil
}

// loopbackOnly is the dialer's Control: it refuses any non-loopback address,
// whatever a name resolved to.
func loopbackOnly(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("m365sim: bad address %q: %w", address, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("m365sim delivers only to loopback addresses, not %s", address)
	}
	return nil
}

// webhookClient returns the HTTP client for receivers (built on first use
// and after the trusted CAs change).
func (s *Sim) webhookClient() *http.Client {
	st := &s.ext().subs
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.client != nil {
		return st.client
	}
	pool := x509.NewCertPool()
	for _, p := range st.trust {
		pool.AppendCertsFromPEM(p)
	}
	d := &net.Dialer{Timeout: 5 * time.Second, Control: loopbackOnly}
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         d.DialContext,
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: 5 * time.Second,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 4,
	}
	st.client = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return st.client
}

func (s *Sim) recordDelivery(rec DeliveryRecord) {
	st := &s.ext().subs
	st.mu.Lock()
	if len(st.deliveries) >= maxRecords2 {
		st.deliveries = slices.Delete(st.deliveries, 0, maxRecords2/10)
	}
	st.deliveries = append(st.deliveries, rec)
	st.mu.Unlock()
	s.log.Debug("m365sim webhook", "kind", rec.Kind, "subscription", rec.SubscriptionID, "url", rec.URL, "attempt", rec.Attempt, "status", rec.Status, "err", rec.Err)
}

// Deliveries returns the log of validation, notification and lifecycle
// exchanges with receivers, oldest first.
func (s *Sim) Deliveries() []DeliveryRecord {
	st := &s.ext().subs
	st.mu.Lock()
	defer st.mu.Unlock()
	return slices.Clone(st.deliveries)
}

// Subscriptions returns the live subscriptions in creation order (expired ones are removed first).
func (s *Sim) Subscriptions() []SubscriptionInfo {
	s.sweep()
	st := &s.ext().subs
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]SubscriptionInfo, 0, len(st.order))
	for _, id := range st.order {
		sub := st.subs[id]
		out = append(out, SubscriptionInfo{ID: sub.id, Resource: sub.resource, ChangeType: sub.changeType, NotificationURL: sub.notificationURL,
			LifecycleNotificationURL: sub.lifecycleURL, ClientState: sub.clientState, Expiration: sub.expiration,
			NeedsReauthorization: sub.needsReauth, Pending: len(sub.queue)})
	}
	return out
}

// notifyChange is the change hook: it queues a notification for every
// subscription whose resource and change types match.
func (s *Sim) notifyChange(c Change) {
	if s.Context().Err() != nil {
		return // closed: no new background work
	}
	s.sweep()
	st := &s.ext().subs
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, id := range st.order {
		sub := st.subs[id]
		item, ok := matchChange(sub, c)
		if !ok || !slices.Contains(sub.changeTypes, item.changeType) {
			continue
		}
		sub.queue = append(sub.queue, item)
		if !sub.sending {
			sub.sending = true
			s.goBackground(func(ctx context.Context) { s.deliverLoop(ctx, sub) })
		}
	}
}

// matchChange maps a tenant change onto a subscription's notification.
func matchChange(sub *subscription, c Change) (notificationItem, bool) {
	switch sub.kind {
	case "users", "user":
		id, ok := userResourceID(c.Resource)
		if !ok || sub.kind == "user" && id != sub.userID {
			return notificationItem{}, false
		}
		ct := ChangeUpdated // users report creation, restore and soft delete as updated
		if c.Type == ChangeDeleted && !c.SoftDelete {
			ct = ChangeDeleted
		}
		return notificationItem{changeType: ct, resource: "Users/" + id, odataType: "#Microsoft.Graph.User", id: id, seq: c.Seq}, true
	}
	for _, p := range sub.prefixes {
		id, ok := strings.CutPrefix(c.Resource, p)
		if !ok || id == "" || strings.Contains(id, "/") {
			continue
		}
		if sub.kind == "events" {
			return notificationItem{changeType: c.Type, resource: "Users/" + sub.userID + "/Events/" + id, odataType: "#Microsoft.Graph.Event", id: id, seq: c.Seq}, true
		}
		return notificationItem{changeType: c.Type, resource: "Users/" + sub.userID + "/Contacts/" + id, odataType: "#Microsoft.Graph.Contact", id: id, seq: c.Seq}, true
	}
	return notificationItem{}, false
}

// deliverLoop sends a subscription's queued notifications in batches until the queue is empty.
func (s *Sim) deliverLoop(ctx context.Context, sub *subscription) {
	st := &s.ext().subs
	for {
		st.mu.Lock()
		if sub.removed || len(sub.queue) == 0 || ctx.Err() != nil {
			sub.sending, sub.queue = false, sub.queue[:0:0]
			st.mu.Unlock()
			return
		}
		n := min(len(sub.queue), maxBatchItems)
		items := slices.Clone(sub.queue[:n])
		sub.queue = sub.queue[n:]
		body := s.notificationBody(sub, items)
		target := sub.notificationURL
		st.mu.Unlock()
		rec := DeliveryRecord{Kind: "notification", SubscriptionID: sub.id, URL: target}
		for _, it := range items {
			rec.Resources = append(rec.Resources, it.resource)
			rec.ChangeTypes = append(rec.ChangeTypes, string(it.changeType))
		}
		if !s.post(ctx, rec, body) && sub.outlook() && sub.lifecycleURL != "" {
			// Graph tells Outlook subscribers that notifications were lost.
			s.sendLifecycle(ctx, sub, LifecycleMissed)
		}
	}
}

// notificationBody renders {"value":[changeNotification...]}; caller holds st.mu.
func (s *Sim) notificationBody(sub *subscription, items []notificationItem) []byte {
	b := []byte(`{"value":[`)
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = appendJSONString(b, newUUID())
		b = append(b, `,"subscriptionId":`...)
		b = appendJSONString(b, sub.id)
		b = append(b, `,"subscriptionExpirationDateTime":`...)
		b = appendJSONString(b, graphTime(sub.expiration))
		b = append(b, `,"changeType":`...)
		b = appendJSONString(b, string(it.changeType))
		b = append(b, `,"resource":`...)
		b = appendJSONString(b, it.resource)
		b = append(b, `,"resourceData":{"@odata.type":`...)
		b = appendJSONString(b, it.odataType)
		b = append(b, `,"@odata.id":`...)
		b = appendJSONString(b, it.resource)
		b = append(b, `,"id":`...)
		b = appendJSONString(b, it.id)
		if it.odataType == "#Microsoft.Graph.User" {
			b = append(b, `,"organizationId":`...)
			b = appendJSONString(b, s.tenantID)
			b = append(b, fmt.Sprintf(`,"sequenceNumber":%d`, it.seq)...)
		}
		b = append(b, `},"clientState":`...)
		b = appendNullableString(b, sub.clientState)
		b = append(b, `,"tenantId":`...)
		b = appendJSONString(b, s.tenantID)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// post delivers body to rec.URL with Graph's retry policy; it records every
// attempt and reports whether the receiver accepted it.
func (s *Sim) post(ctx context.Context, rec DeliveryRecord, body []byte) bool {
	st := &s.ext().subs
	st.mu.Lock()
	opts := st.opts
	st.mu.Unlock()
	delay := opts.RetryDelay
	for attempt := 1; ; attempt++ {
		rec.Attempt, rec.Time = attempt, s.Now()
		rec.Status, rec.Err, rec.Delivered = 0, "", false
		start := time.Now()
		status, err := s.postOnce(ctx, rec.URL, body, opts.DeliveryTimeout)
		rec.Duration, rec.Status = time.Since(start), status
		switch {
		case err != nil:
			rec.Err = err.Error()
		case status < 200 || status > 299:
			rec.Err = fmt.Sprintf("receiver answered %d", status)
		default:
			rec.Delivered = true
		}
		last := rec.Delivered || attempt > opts.MaxRetries || ctx.Err() != nil
		rec.Dropped = !rec.Delivered && last
		s.recordDelivery(rec)
		if last {
			return rec.Delivered
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		delay *= 2
	}
}

func (s *Sim) postOnce(ctx context.Context, target string, body []byte, timeout time.Duration) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	resp, err := s.webhookClient().Do(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return 0, fmt.Errorf("no answer within %s: %w", timeout, err)
		}
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // drain for connection reuse
	return resp.StatusCode, nil
}

// sendLifecycle posts one lifecycle event to the subscription's lifecycle URL.
func (s *Sim) sendLifecycle(ctx context.Context, sub *subscription, event string) bool {
	st := &s.ext().subs
	st.mu.Lock()
	b := []byte(`{"value":[{"subscriptionId":`)
	b = appendJSONString(b, sub.id)
	b = append(b, `,"subscriptionExpirationDateTime":`...)
	b = appendJSONString(b, graphTime(sub.expiration))
	b = append(b, `,"tenantId":`...)
	b = appendJSONString(b, s.tenantID)
	b = append(b, `,"clientState":`...)
	b = appendNullableString(b, sub.clientState)
	b = append(b, `,"lifecycleEvent":`...)
	b = appendJSONString(b, event)
	b = append(b, "}]}"...)
	target := sub.lifecycleURL
	st.mu.Unlock()
	return s.post(ctx, DeliveryRecord{Kind: "lifecycle", SubscriptionID: sub.id, URL: target, LifecycleEvent: event}, b)
}

// TriggerLifecycle sends a lifecycle event (LifecycleReauthorizationRequired,
// LifecycleSubscriptionRemoved or LifecycleMissed) to a subscription's
// lifecycleNotificationUrl and waits for the receiver (with retries).
// reauthorizationRequired marks the subscription as needing reauthorization;
// subscriptionRemoved deletes it first, as Graph does. subscriptionRemoved and
// missed exist only for Outlook resources (events, contacts).
func (s *Sim) TriggerLifecycle(subID, event string) error {
	s.sweep()
	st := &s.ext().subs
	st.mu.Lock()
	sub := st.subs[subID]
	var err error
	switch {
	case sub == nil:
		err = fmt.Errorf("trigger lifecycle: subscription %q: %w", subID, ErrNotFound)
	case event != LifecycleReauthorizationRequired && event != LifecycleSubscriptionRemoved && event != LifecycleMissed:
		err = fmt.Errorf("trigger lifecycle: unknown event %q (use reauthorizationRequired, subscriptionRemoved or missed)", event)
	case sub.lifecycleURL == "":
		err = fmt.Errorf("trigger lifecycle: subscription %q has no lifecycleNotificationUrl", subID)
	case event != LifecycleReauthorizationRequired && !sub.outlook():
		err = fmt.Errorf("trigger lifecycle: Graph sends %s only for Outlook resources, not %q", event, sub.resource)
	case event == LifecycleReauthorizationRequired:
		sub.needsReauth = true
	}
	st.mu.Unlock()
	if err != nil {
		return err
	}
	if event == LifecycleSubscriptionRemoved {
		s.removeSub(subID)
	}
	if !s.sendLifecycle(s.Context(), sub, event) {
		return fmt.Errorf("trigger lifecycle: the receiver at %s did not accept the %s event (see Deliveries)", sub.lifecycleURL, event)
	}
	return nil
}

// sweep expires subscriptions whose expirationDateTime passed on the sim
// clock and sends reauthorizationRequired within ReauthorizationLead of expiry.
func (s *Sim) sweep() {
	if s.Context().Err() != nil {
		return // closed: no new background work
	}
	now := s.Now()
	st := &s.ext().subs
	st.mu.Lock()
	var expired []string
	var reauth []*subscription
	for _, id := range st.order {
		sub := st.subs[id]
		switch {
		case !now.Before(sub.expiration):
			expired = append(expired, id)
		case sub.lifecycleURL != "" && !sub.reauthSent && sub.expiration.Sub(now) <= ReauthorizationLead:
			sub.reauthSent, sub.needsReauth = true, true
			reauth = append(reauth, sub)
		}
	}
	st.mu.Unlock()
	for _, id := range expired {
		s.removeSub(id)
	}
	for _, sub := range reauth {
		s.goBackground(func(ctx context.Context) { s.sendLifecycle(ctx, sub, LifecycleReauthorizationRequired) })
	}
}

// sweepLoop runs sweep every 100 ms of real time until the sim closes, so
// sim-clock jumps (Advance, SetNow) take effect without a request.
func (s *Sim) sweepLoop(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.sweep()
		}
	}
}

// Control API routes of the subscriptions side:
//
//	GET    /_sim/subscriptions                   live subscriptions
//	POST   /_sim/subscriptions/{id}/lifecycle    {"event":"reauthorizationRequired|subscriptionRemoved|missed"}
//	GET    /_sim/deliveries                      validation/notification/lifecycle exchanges
//	POST   /_sim/notificationCA                  body: CA PEM the sim trusts for receivers
func init() {
	registerExtension(func(s *Sim) {
		m := s.controlMux
		m.HandleFunc("GET /_sim/subscriptions", func(w http.ResponseWriter, r *http.Request) { ctlOK(w, s.Subscriptions()) })
		m.HandleFunc("POST /_sim/subscriptions/{id}/lifecycle", func(w http.ResponseWriter, r *http.Request) {
			var body struct {
				Event string `json:"event"`
			}
			if !ctlDecode(w, r, &body) {
				return
			}
			ctlResult(w, s.TriggerLifecycle(r.PathValue("id"), body.Event))
		})
		m.HandleFunc("GET /_sim/deliveries", func(w http.ResponseWriter, r *http.Request) { ctlOK(w, s.Deliveries()) })
		m.HandleFunc("POST /_sim/notificationCA", func(w http.ResponseWriter, r *http.Request) {
			data, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			if err != nil {
				ctlErr(w, fmt.Errorf("read CA PEM: %w", err))
				return
			}
			ctlResult(w, s.TrustNotificationCA(data))
		})
	})
}
