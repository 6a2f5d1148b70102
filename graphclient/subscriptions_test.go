package graphclient

import (
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbx365/pbx365/graphclient/m365sim"
)

func TestValidationHandlerEchoesDecodedToken(t *testing.T) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	h := ValidationHandler(next)
	tok := "Validation: Testing client application reachability for subscription Request-Id: 1b9c&x=<y>"
	req := httptest.NewRequest(http.MethodPost, "/notify?validationToken="+url.QueryEscape(tok), strings.NewReader(""))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") || rec.Body.String() != tok {
		t.Fatalf("got %d %q %q", rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/notify", strings.NewReader("{}")))
	if rec.Code != http.StatusTeapot {
		t.Fatalf("non-validation request not passed on: %d", rec.Code)
	}
}

func TestNotificationHandlerChecksClientState(t *testing.T) {
	var got []Notification
	h := NotificationHandler("s3cret", func(ns []Notification) { got = append(got, ns...) })
	post := func(body string) int {
		req := httptest.NewRequest(http.MethodPost, "/notify", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	if code := post(`{"value":[{"subscriptionId":"a","clientState":"s3cret","changeType":"updated","resource":"Users/1"},{"subscriptionId":"a","clientState":"wrong","changeType":"updated","resource":"Users/2"}]}`); code != 403 || len(got) != 0 {
		t.Fatalf("wrong clientState: %d, %d passed on", code, len(got))
	}
	if code := post(`{"value":[{"subscriptionId":"a","clientState":"s3cret","changeType":"updated","resource":"Users/1","resourceData":{"id":"1"}}]}`); code != 202 || len(got) != 1 || got[0].ResourceData.ID != "1" {
		t.Fatalf("good notification: %d %+v", code, got)
	}
	if code := post(`not json`); code != 400 {
		t.Fatalf("bad body: %d", code)
	}
}

// receiver is an HTTPS notification endpoint the sim trusts.
func receiver(t *testing.T, s *m365sim.Sim, clientState string) (string, func() []Notification) {
	t.Helper()
	var mu sync.Mutex
	var got []Notification
	srv := httptest.NewUnstartedServer(NotificationHandler(clientState, func(ns []Notification) {
		mu.Lock()
		got = append(got, ns...)
		mu.Unlock()
	}))
	srv.StartTLS()
	t.Cleanup(srv.Close)
	if err := s.TrustNotificationCA(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})); err != nil {
		t.Fatal(err)
	}
	return srv.URL + "/notify", func() []Notification {
		mu.Lock()
		defer mu.Unlock()
		return append([]Notification(nil), got...)
	}
}

func TestSubscriptionsLifecycle(t *testing.T) {
	s := startSim(t, 50)
	c := newSimClient(t, s)
	ctx := testCtx(t)
	notifyURL, received := receiver(t, s, "state-123")
	exp := s.Now().Add(48 * time.Hour).Truncate(time.Second)
	sub, err := c.CreateSubscription(ctx, Subscription{Resource: "users", ChangeType: "updated,deleted", NotificationURL: notifyURL, ClientState: "state-123", Expiration: exp})
	if err != nil {
		t.Fatal(err)
	}
	if sub.ID == "" || sub.Resource != "users" || !sub.Expiration.Equal(exp) || sub.ClientState != "state-123" {
		t.Fatalf("created %+v", sub)
	}
	// The handshake went to our endpoint and was answered.
	validated := false
	for _, d := range s.Deliveries() {
		if d.Kind == "validation" && d.Delivered {
			validated = true
		}
	}
	if !validated {
		t.Fatalf("no validation delivery: %+v", s.Deliveries())
	}
	list, err := c.ListSubscriptions(ctx)
	if err != nil || len(list) != 1 || list[0].ID != sub.ID {
		t.Fatalf("list: %+v %v", list, err)
	}
	// A change reaches the receiver with our clientState.
	uid := liveUsersSorted(s)[0]
	if err := s.UpdateUser(uid, func(u *m365sim.User) { u.Department = "Field" }); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(received()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	ns := received()
	if len(ns) == 0 || ns[0].SubscriptionID != sub.ID || !strings.Contains(strings.ToLower(ns[0].Resource), strings.ToLower(uid)) {
		t.Fatalf("notifications %+v", ns)
	}
	renewed, err := c.RenewSubscription(ctx, sub.ID, exp.Add(24*time.Hour))
	if err != nil || !renewed.Expiration.Equal(exp.Add(24*time.Hour)) {
		t.Fatalf("renew: %+v %v", renewed, err)
	}
	if err := c.DeleteSubscription(ctx, sub.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteSubscription(ctx, sub.ID); err != nil {
		t.Fatalf("deleting twice: %v", err)
	}
	if list, _ := c.ListSubscriptions(ctx); len(list) != 0 {
		t.Fatalf("still listed: %+v", list)
	}
	// Bad input is refused before Graph is asked.
	if _, err := c.CreateSubscription(ctx, Subscription{Resource: "users", NotificationURL: "http://example.com/x", Expiration: exp}); err == nil || !strings.Contains(err.Error(), "https") {
		t.Fatalf("http URL: %v", err)
	}
	// An endpoint that does not answer the handshake makes creation fail with Graph's error.
	bad := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "nope") }))
	bad.StartTLS()
	defer bad.Close()
	s.TrustNotificationCA(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: bad.Certificate().Raw}))
	_, err = c.CreateSubscription(ctx, Subscription{Resource: "users", NotificationURL: bad.URL + "/n", Expiration: exp})
	if StatusCode(err) != 400 {
		t.Fatalf("failed handshake: %v", err)
	}
}

func liveUsersSorted(s *m365sim.Sim) []string {
	var ids []string
	for _, u := range s.Users() {
		if !u.SoftDeleted() {
			ids = append(ids, u.ID)
		}
	}
	return ids
}
