package graphclient

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
)

// MaxClientStateLen is Graph's limit on clientState.
const MaxClientStateLen = 128

// CreateSubscription asks Graph to post change notifications for s.Resource
// (e.g. "users", "users/{id}/events") to s.NotificationURL (https) until
// s.Expiration. Graph validates the URL first (see ValidationHandler), so the
// endpoint must be serving before this is called. The created subscription is
// returned with its ID and the expiration Graph granted.
func (c *Client) CreateSubscription(ctx context.Context, s Subscription) (Subscription, error) {
	const op = "create subscription"
	if err := validateSubscription(s); err != nil {
		return Subscription{}, fmt.Errorf("%s: %w", op, err)
	}
	m := models.NewSubscription()
	m.SetResource(&s.Resource)
	ct := s.ChangeType
	if ct == "" {
		ct = "updated,deleted"
	}
	m.SetChangeType(&ct)
	m.SetNotificationUrl(&s.NotificationURL)
	if s.LifecycleURL != "" {
		m.SetLifecycleNotificationUrl(&s.LifecycleURL)
	}
	if s.ClientState != "" {
		m.SetClientState(&s.ClientState)
	}
	exp := s.Expiration.UTC()
	m.SetExpirationDateTime(&exp)
	got, err := c.sdk.Subscriptions().Post(ctx, m, nil)
	if err != nil {
		return Subscription{}, c.wrap(op+" for "+s.Resource, err)
	}
	return fromSDKSubscription(got), nil
}

func validateSubscription(s Subscription) error {
	if strings.TrimSpace(s.Resource) == "" {
		return fmt.Errorf("resource is empty")
	}
	for name, raw := range map[string]string{"notify.public_url": s.NotificationURL, "lifecycle URL": s.LifecycleURL} {
		if raw == "" && name != "notify.public_url" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("%s %q must be an https:// URL", name, raw)
		}
	}
	if len(s.ClientState) > MaxClientStateLen {
		return fmt.Errorf("clientState is %d characters; Graph allows %d", len(s.ClientState), MaxClientStateLen)
	}
	if s.Expiration.IsZero() {
		return fmt.Errorf("expiration is not set")
	}
	return nil
}

func fromSDKSubscription(m models.Subscriptionable) Subscription {
	s := Subscription{
		ID:              deref(m.GetId()),
		Resource:        deref(m.GetResource()),
		ChangeType:      deref(m.GetChangeType()),
		NotificationURL: deref(m.GetNotificationUrl()),
		LifecycleURL:    deref(m.GetLifecycleNotificationUrl()),
		ClientState:     deref(m.GetClientState()),
	}
	if t := m.GetExpirationDateTime(); t != nil {
		s.Expiration = t.UTC()
	}
	return s
}

// RenewSubscription moves a subscription's expiration to until and returns the
// expiration Graph granted.
func (c *Client) RenewSubscription(ctx context.Context, id string, until time.Time) (Subscription, error) {
	if strings.TrimSpace(id) == "" {
		return Subscription{}, fmt.Errorf("renew subscription: %w", errEmpty)
	}
	m := models.NewSubscription()
	exp := until.UTC()
	m.SetExpirationDateTime(&exp)
	got, err := c.sdk.Subscriptions().BySubscriptionId(id).Patch(ctx, m, nil)
	if err != nil {
		return Subscription{}, c.wrap("renew subscription "+id, err)
	}
	return fromSDKSubscription(got), nil
}

// DeleteSubscription removes a subscription. One that no longer exists is not an error.
func (c *Client) DeleteSubscription(ctx context.Context, id string) error {
	if strings.TrimSpace(id) == "" {
		return fmt.Errorf("delete subscription: %w", errEmpty)
	}
	err := c.wrap("delete subscription "+id, c.sdk.Subscriptions().BySubscriptionId(id).Delete(ctx, nil))
	if IsNotFound(err) {
		return nil
	}
	return err
}

// ListSubscriptions returns the app's active subscriptions.
func (c *Client) ListSubscriptions(ctx context.Context) ([]Subscription, error) {
	const op = "list subscriptions"
	resp, err := c.sdk.Subscriptions().Get(ctx, nil)
	if err != nil {
		return nil, c.wrap(op, err)
	}
	it, err := msgraphcore.NewPageIterator[models.Subscriptionable](resp, c.adapter, models.CreateSubscriptionCollectionResponseFromDiscriminatorValue)
	if err != nil {
		return nil, c.wrap(op, err)
	}
	var out []Subscription
	err = it.Iterate(ctx, func(m models.Subscriptionable) bool {
		out = append(out, fromSDKSubscription(m))
		return true
	})
	if err != nil {
		return nil, c.wrap(op, err)
	}
	return out, nil
}

// ValidationHandler answers Graph's validation handshake in front of next: a
// POST carrying ?validationToken=… gets 200 text/plain with the decoded token,
// at once (Graph waits at most 10 s). Every other request goes to next.
func ValidationHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := r.URL.Query()["validationToken"]
		if !ok || r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<16))
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		if len(tok) > 0 {
			_, _ = io.WriteString(w, tok[0])
		}
	})
}

// Notification is one change notification delivered by Graph.
type Notification struct {
	SubscriptionID string    `json:"subscriptionId"`
	Expiration     time.Time `json:"subscriptionExpirationDateTime"`
	ChangeType     string    `json:"changeType"`
	Resource       string    `json:"resource"`
	ClientState    string    `json:"clientState"`
	TenantID       string    `json:"tenantId"`
	LifecycleEvent string    `json:"lifecycleEvent"` // for lifecycle notifications
	ResourceData   struct {
		ID        string `json:"id"`
		ODataID   string `json:"@odata.id"`
		ODataType string `json:"@odata.type"`
	} `json:"resourceData"`
}

// ClientStateMatches compares clientState in constant time.
func ClientStateMatches(got, want string) bool {
	return len(got) == len(want) && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// isJSON reports whether a Content-Type is JSON.
func isJSON(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// NotificationHandler receives change and lifecycle notifications (behind
// ValidationHandler, which it includes). Every notification must carry
// clientState; if any does not, the request gets 403 and nothing is passed on.
// Otherwise fn gets the batch and the request is answered 202 at once (Graph
// wants an answer within 3 s), so fn should be quick or hand off.
func NotificationHandler(clientState string, fn func([]Notification)) http.Handler {
	return ValidationHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if !isJSON(r.Header.Get("Content-Type")) {
			http.Error(w, "want application/json", http.StatusUnsupportedMediaType)
			return
		}
		var env struct {
			Value []Notification `json:"value"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 4<<20)).Decode(&env); err != nil {
			http.Error(w, "bad notification body", http.StatusBadRequest)
			return
		}
		for _, n := range env.Value {
			if !ClientStateMatches(n.ClientState, clientState) {
				http.Error(w, "clientState does not match", http.StatusForbidden)
				return
			}
		}
		w.WriteHeader(http.StatusAccepted)
		if len(env.Value) > 0 {
			fn(env.Value)
		}
	}))
}
