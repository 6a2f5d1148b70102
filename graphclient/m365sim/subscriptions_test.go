package m365sim

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// receiver is a notification endpoint over HTTPS with its own CA.
type receiver struct {
	srv   *httptest.Server
	url   string
	caPEM []byte

	mu          sync.Mutex
	modes       map[string]string // path → validation mode: echo (default), wrong, 500, html, slow
	failNotify  int               // answer the next n notification posts with 503
	slowNotify  time.Duration     // delay notification answers
	validations []string          // decoded validation tokens
	validCT     []string          // their Content-Types
	notes       chan map[string]any
	lifecycle   chan map[string]any
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	caPEM, cert, err := makeServerCert("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	rv := &receiver{caPEM: caPEM, modes: map[string]string{}, notes: make(chan map[string]any, 100), lifecycle: make(chan map[string]any, 100)}
	rv.srv = httptest.NewUnstartedServer(http.HandlerFunc(rv.serve))
	rv.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	rv.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	rv.srv.StartTLS()
	t.Cleanup(rv.srv.Close)
	rv.url = rv.srv.URL
	return rv
}

func (rv *receiver) serve(w http.ResponseWriter, r *http.Request) {
	if tok := r.URL.Query().Get("validationToken"); r.URL.Query().Has("validationToken") {
		rv.mu.Lock()
		rv.validations = append(rv.validations, tok)
		rv.validCT = append(rv.validCT, r.Header.Get("Content-Type"))
		mode := rv.modes[r.URL.Path]
		rv.mu.Unlock()
		switch mode {
		case "wrong":
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "not the token")
		case "500":
			http.Error(w, "boom", 500)
		case "html":
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, tok)
		case "slow":
			// Longer than the sim's validation timeout, whatever happens to
			// the request's context: returning early would send a 200 the
			// sim could read before its deadline (seen once under load).
			time.Sleep(1500 * time.Millisecond)
		default:
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			io.WriteString(w, tok)
		}
		return
	}
	var body struct {
		Value []map[string]any `json:"value"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	rv.mu.Lock()
	fail := rv.failNotify > 0 && r.URL.Path == "/notify"
	if fail {
		rv.failNotify--
	}
	slow := rv.slowNotify
	rv.mu.Unlock()
	if slow > 0 {
		time.Sleep(slow)
	}
	if fail {
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	for _, it := range body.Value {
		if _, ok := it["lifecycleEvent"]; ok {
			rv.lifecycle <- it
		} else {
			rv.notes <- it
		}
	}
	w.WriteHeader(http.StatusAccepted)
}

func (rv *receiver) set(f func(rv *receiver)) {
	rv.mu.Lock()
	f(rv)
	rv.mu.Unlock()
}

// next waits for one item on ch.
func next(t *testing.T, ch chan map[string]any, what string) map[string]any {
	t.Helper()
	select {
	case it := <-ch:
		return it
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s arrived", what)
		return nil
	}
}

// none checks that nothing arrives on ch for a while.
func none(t *testing.T, ch chan map[string]any, what string) {
	t.Helper()
	select {
	case it := <-ch:
		t.Fatalf("unexpected %s: %v", what, it)
	case <-time.After(300 * time.Millisecond):
	}
}

// subEnv is a mailbox env with a trusted receiver and fast webhook timings.
func newSubEnv(t *testing.T) (*mbEnv, *receiver) {
	t.Helper()
	e := newMbEnv(t)
	rv := newReceiver(t)
	if err := e.s.TrustNotificationCA(rv.caPEM); err != nil {
		t.Fatal(err)
	}
	e.s.SetWebhookOptions(WebhookOptions{RetryDelay: 20 * time.Millisecond, MaxRetries: 2, DeliveryTimeout: time.Second})
	return e, rv
}

func subBody(rv *receiver, resource, changeType string, life time.Duration) map[string]any {
	return map[string]any{
		"changeType": changeType, "notificationUrl": rv.url + "/notify", "resource": resource,
		"expirationDateTime": mbNow.Add(life).Format(time.RFC3339Nano), "clientState": "s3cret-state",
		"lifecycleNotificationUrl": rv.url + "/lifecycle",
	}
}

func (e *mbEnv) subscribe(t *testing.T, body map[string]any) string {
	t.Helper()
	st, _, m := e.post(t, "POST", "/subscriptions", e.tok, body, nil)
	if st != 201 {
		t.Fatalf("subscribe %v: %d %v", body["resource"], st, m)
	}
	return m["id"].(string)
}

func TestSubscriptionCreateAndHandshake(t *testing.T) {
	e, rv := newSubEnv(t)
	st, _, m := e.post(t, "POST", "/subscriptions", e.tok, subBody(rv, "users", "updated,deleted", 24*time.Hour), nil)
	if st != 201 {
		t.Fatalf("create: %d %v", st, m)
	}
	id := m["id"].(string)
	want := map[string]any{"resource": "users", "changeType": "updated,deleted", "clientState": "s3cret-state", "notificationUrl": rv.url + "/notify",
		"lifecycleNotificationUrl": rv.url + "/lifecycle", "applicationId": e.s.ClientID(), "latestSupportedTlsVersion": "v1_2",
		"expirationDateTime": mbNow.Add(24*time.Hour).Format("2006-01-02T15:04:05") + ".0000000Z", "includeResourceData": nil}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	if !strings.HasSuffix(m["@odata.context"].(string), "$metadata#subscriptions/$entity") || m["creatorId"] == "" {
		t.Errorf("context/creator: %v", m)
	}
	// Both URLs were validated with a URL-decoded token in a text/plain POST.
	rv.mu.Lock()
	if len(rv.validations) != 2 || !strings.HasPrefix(rv.validations[0], "Validation: Testing client application reachability for subscription Request-Id: ") ||
		!strings.HasPrefix(rv.validCT[0], "text/plain") {
		t.Fatalf("validations %q %q", rv.validations, rv.validCT)
	}
	rv.mu.Unlock()
	st, _, m = e.get(t, "/subscriptions", e.tok, nil)
	if st != 200 || len(values(t, m)) != 1 || values(t, m)[0]["id"] != id {
		t.Fatalf("list: %d %v", st, m)
	}
	if st, _, m = e.get(t, "/subscriptions/"+id, e.tok, nil); st != 200 || m["id"] != id {
		t.Fatalf("get: %d %v", st, m)
	}
	// Outlook resources: events (10,080 minutes is the maximum), contacts, a folder's contacts.
	folder := e.s.Mailbox(e.full.ID).ContactFolders[1].ID
	for _, res := range []string{"users/" + e.full.ID + "/events", "users/" + e.full.UserPrincipalName + "/contacts", "/users/" + e.full.ID + "/contactFolders/" + folder + "/contacts"} {
		e.subscribe(t, subBody(rv, res, "created,updated,deleted", 10079*time.Minute))
	}
	e.subscribe(t, subBody(rv, "users/"+e.fresh.ID, "updated,deleted", 41760*time.Minute))
	if n := len(e.s.Subscriptions()); n != 5 {
		t.Fatalf("%d subscriptions", n)
	}
	// Handshake failures create nothing.
	e.s.SetWebhookOptions(WebhookOptions{ValidationTimeout: 300 * time.Millisecond})
	for _, c := range []struct{ mode, path, code, msg string }{
		{"wrong", "/notify", "ValidationError", "Response must exactly match validationToken query parameter."},
		{"500", "/notify", "ValidationError", "must respond with 200 OK"},
		{"html", "/notify", "ValidationError", "text/plain"},
		{"slow", "/notify", "InvalidRequest", "Subscription validation request timed out."},
		{"wrong", "/lifecycle", "ValidationError", "exactly match"},
	} {
		rv.set(func(rv *receiver) { rv.modes = map[string]string{c.path: c.mode} })
		st, _, m := e.post(t, "POST", "/subscriptions", e.tok, subBody(rv, "users", "updated", time.Hour), nil)
		wantError(t, c.mode+" "+c.path, st, m, 400, c.code)
		if !strings.Contains(errMessage(m), c.msg) {
			t.Errorf("%s: message %q", c.mode, errMessage(m))
		}
	}
	rv.set(func(rv *receiver) { rv.modes = map[string]string{} })
	// A receiver whose CA the sim does not trust: TLS is verified.
	other := newReceiver(t)
	st, _, m = e.post(t, "POST", "/subscriptions", e.tok, subBody(other, "users", "updated", time.Hour), nil)
	wantError(t, "untrusted receiver", st, m, 400, "ValidationError")
	if !strings.Contains(errMessage(m), "certificate") {
		t.Errorf("untrusted: %q", errMessage(m))
	}
	if n := len(e.s.Subscriptions()); n != 5 {
		t.Fatalf("failed handshakes created subscriptions: %d", n)
	}
	var failed, ok int
	for _, d := range e.s.Deliveries() {
		if d.Kind == "validation" {
			if d.Delivered {
				ok++
			} else {
				failed++
			}
		}
	}
	if ok != 11 || failed != 6 {
		t.Fatalf("validation log: %d ok, %d failed", ok, failed)
	}
}

func TestSubscriptionRules(t *testing.T) {
	e, rv := newSubEnv(t)
	long := strings.Repeat("x", 129)
	cases := []struct {
		name   string
		edit   func(b map[string]any)
		status int
		code   string
		msg    string
	}{
		{"http", func(b map[string]any) { b["notificationUrl"] = strings.Replace(rv.url, "https", "http", 1) + "/notify" }, 400, "InvalidRequest", "https"},
		{"public host", func(b map[string]any) { b["notificationUrl"] = "https://example.com/notify" }, 400, "InvalidRequest", "loopback"},
		{"private address", func(b map[string]any) { b["notificationUrl"] = "https://10.1.2.3/notify" }, 400, "InvalidRequest", "loopback"},
		{"public lifecycle host", func(b map[string]any) { b["lifecycleNotificationUrl"] = "https://example.org/life" }, 400, "InvalidRequest", "loopback"},
		{"no notificationUrl", func(b map[string]any) { delete(b, "notificationUrl") }, 400, "InvalidRequest", "notificationUrl"},
		{"bad changeType", func(b map[string]any) { b["changeType"] = "updated,modified" }, 400, "InvalidRequest", "Invalid 'changeType' attribute: 'modified'."},
		{"no changeType", func(b map[string]any) { delete(b, "changeType") }, 400, "InvalidRequest", "changeType"},
		{"users created", func(b map[string]any) { b["changeType"] = "created,updated" }, 400, "InvalidRequest", "created"},
		{"groups", func(b map[string]any) { b["resource"] = "groups" }, 400, "InvalidRequest", "not supported"},
		{"no expiry", func(b map[string]any) { delete(b, "expirationDateTime") }, 400, "InvalidRequest", "expirationDateTime"},
		{"past expiry", func(b map[string]any) { b["expirationDateTime"] = mbNow.Add(-time.Minute).Format(time.RFC3339) }, 400, "InvalidRequest", "future"},
		{"users too long", func(b map[string]any) {
			b["expirationDateTime"] = mbNow.Add(41761 * time.Minute).Format(time.RFC3339)
		}, 400, "InvalidRequest", "41760 minutes"},
		{"events too long", func(b map[string]any) {
			b["resource"] = "users/" + e.full.ID + "/events"
			b["changeType"] = "created"
			b["expirationDateTime"] = mbNow.Add(10081 * time.Minute).Format(time.RFC3339)
		}, 400, "InvalidRequest", "10080 minutes"},
		{"clientState too long", func(b map[string]any) { b["clientState"] = long }, 400, "InvalidRequest", "128"},
		{"rich notifications", func(b map[string]any) { b["includeResourceData"] = true }, 400, "InvalidRequest", "includeResourceData"},
		{"tls version", func(b map[string]any) { b["latestSupportedTlsVersion"] = "v2_0" }, 400, "InvalidRequest", "v1_2"},
		{"unknown property", func(b map[string]any) { b["notifyUrl"] = "x" }, 400, "RequestBodyRead", "notifyUrl"},
		{"unknown user", func(b map[string]any) { b["resource"] = "users/ghost@" + Domain + "/events" }, 404, "ExtensionError", "NotFound"},
		{"no mailbox", func(b map[string]any) { b["resource"] = "users/" + e.noMbx.ID + "/contacts" }, 404, "ExtensionError", "NotFound"},
		{"unknown folder", func(b map[string]any) { b["resource"] = "users/" + e.full.ID + "/contactFolders/AAMkF-x/contacts" }, 404, "ExtensionError", "NotFound"},
		{"unknown single user", func(b map[string]any) { b["resource"] = "users/ghost@" + Domain }, 404, "Request_ResourceNotFound", "ghost"},
	}
	for _, c := range cases {
		b := subBody(rv, "users", "updated,deleted", time.Hour)
		c.edit(b)
		st, _, m := e.post(t, "POST", "/subscriptions", e.tok, b, nil)
		wantError(t, c.name, st, m, c.status, c.code)
		if !strings.Contains(errMessage(m), c.msg) {
			t.Errorf("%s: message %q lacks %q", c.name, errMessage(m), c.msg)
		}
	}
	// Permissions per resource.
	tok := e.tokenWithout(t, "Calendars.Read")
	st, _, m := e.post(t, "POST", "/subscriptions", tok, subBody(rv, "users/"+e.full.ID+"/events", "created", time.Hour), nil)
	wantError(t, "events without Calendars.Read", st, m, 403, "ExtensionError")
	tok = e.tokenWithout(t, "Contacts.Read")
	st, _, m = e.post(t, "POST", "/subscriptions", tok, subBody(rv, "users/"+e.full.ID+"/contacts", "created", time.Hour), nil)
	wantError(t, "contacts without Contacts.Read", st, m, 403, "ExtensionError")
	tok = e.tokenWithout(t, "User.Read.All", "Directory.Read.All")
	st, _, m = e.post(t, "POST", "/subscriptions", tok, subBody(rv, "users", "updated", time.Hour), nil)
	wantError(t, "users without User.Read.All", st, m, 403, "ExtensionError")
	// Nothing reached the receiver for refused bodies, and nothing was created.
	rv.mu.Lock()
	n := len(rv.validations)
	rv.mu.Unlock()
	if n != 0 || len(e.s.Subscriptions()) != 0 {
		t.Fatalf("refused requests reached the receiver (%d validations) or created subscriptions", n)
	}
}

func TestSubscriptionDelivery(t *testing.T) {
	e, rv := newSubEnv(t)
	usersSub := e.subscribe(t, subBody(rv, "users", "updated,deleted", 24*time.Hour))
	victim := e.s.Users()[3]
	if err := e.s.UpdateUser(victim.ID, func(u *User) { u.JobTitle = "Changed" }); err != nil {
		t.Fatal(err)
	}
	it := next(t, rv.notes, "users notification")
	rd, _ := it["resourceData"].(map[string]any)
	if it["subscriptionId"] != usersSub || it["changeType"] != "updated" || it["resource"] != "Users/"+victim.ID || it["clientState"] != "s3cret-state" ||
		it["tenantId"] != e.s.TenantID() || it["subscriptionExpirationDateTime"] != mbNow.Add(24*time.Hour).Format("2006-01-02T15:04:05")+".0000000Z" ||
		rd["@odata.type"] != "#Microsoft.Graph.User" || rd["@odata.id"] != "Users/"+victim.ID || rd["id"] != victim.ID || rd["organizationId"] != e.s.TenantID() {
		t.Fatalf("notification %v", it)
	}
	added, err := e.s.AddUser(User{UserPrincipalName: "hired@" + Domain, DisplayName: "Hired", UserType: "Member", AccountEnabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if it := next(t, rv.notes, "creation"); it["changeType"] != "updated" || it["resource"] != "Users/"+added.ID {
		t.Fatalf("creation is notified as updated: %v", it)
	}
	if err := e.s.HardDeleteUser(added.ID); err != nil {
		t.Fatal(err)
	}
	if it := next(t, rv.notes, "deletion"); it["changeType"] != "deleted" {
		t.Fatalf("hard delete: %v", it)
	}
	if err := e.s.SetPhoto(victim.ID, genPhoto(9)); err != nil {
		t.Fatal(err)
	}
	none(t, rv.notes, "notification for a photo change")
	if st, _, _ := e.post(t, "DELETE", "/subscriptions/"+usersSub, e.tok, "", nil); st != 204 {
		t.Fatalf("delete: %d", st)
	}
	if err := e.s.UpdateUser(victim.ID, func(u *User) { u.JobTitle = "Again" }); err != nil {
		t.Fatal(err)
	}
	none(t, rv.notes, "notification of a deleted subscription")

	// Events of one mailbox.
	evSub := e.subscribe(t, subBody(rv, "users/"+e.fresh.UserPrincipalName+"/events", "created,updated,deleted", 2*24*time.Hour))
	day := mbDay()
	id, err := e.s.AddMeeting(e.fresh.ID, Meeting{Subject: "Notify me", Start: day.Add(15 * time.Hour), End: day.Add(16 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	it = next(t, rv.notes, "event creation")
	rd, _ = it["resourceData"].(map[string]any)
	if it["subscriptionId"] != evSub || it["changeType"] != "created" || it["resource"] != "Users/"+e.fresh.ID+"/Events/"+id || rd["@odata.type"] != "#Microsoft.Graph.Event" || rd["id"] != id {
		t.Fatalf("event notification %v", it)
	}
	if err := e.s.CancelMeeting(e.fresh.ID, id); err != nil {
		t.Fatal(err)
	}
	if it := next(t, rv.notes, "cancellation"); it["changeType"] != "updated" {
		t.Fatalf("cancel: %v", it)
	}
	if _, err := e.s.AddMeeting(e.full.ID, Meeting{Subject: "Other mailbox", Start: day, End: day.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	none(t, rv.notes, "notification for another mailbox")

	// Contacts: the default folder with only "created"; a child folder apart.
	e.subscribe(t, subBody(rv, "users/"+e.fresh.ID+"/contacts", "created", 24*time.Hour))
	c, err := e.s.AddContact(e.fresh.ID, "", Contact{DisplayName: "Watched"})
	if err != nil {
		t.Fatal(err)
	}
	if it := next(t, rv.notes, "contact creation"); it["resource"] != "Users/"+e.fresh.ID+"/Contacts/"+c.ID || it["resourceData"].(map[string]any)["@odata.type"] != "#Microsoft.Graph.Contact" {
		t.Fatalf("contact notification %v", it)
	}
	if err := e.s.UpdateContact(e.fresh.ID, c.ID, func(c *Contact) { c.MobilePhone = "+1 555 0100" }); err != nil {
		t.Fatal(err)
	}
	none(t, rv.notes, "update on a created-only subscription")
	folder, err := e.s.AddContactFolder(e.fresh.ID, "Vendors")
	if err != nil {
		t.Fatal(err)
	}
	fSub := e.subscribe(t, subBody(rv, "users/"+e.fresh.ID+"/contactFolders/"+folder+"/contacts", "created,deleted", 24*time.Hour))
	fc, err := e.s.AddContact(e.fresh.ID, folder, Contact{DisplayName: "In folder"})
	if err != nil {
		t.Fatal(err)
	}
	if it := next(t, rv.notes, "folder contact"); it["subscriptionId"] != fSub || it["resource"] != "Users/"+e.fresh.ID+"/Contacts/"+fc.ID {
		t.Fatalf("folder notification %v", it)
	}
	none(t, rv.notes, "the default-folder subscription seeing a child folder's contact")
	delivered := 0
	for _, d := range e.s.Deliveries() {
		if d.Kind == "notification" && d.Delivered && d.Attempt == 1 {
			delivered++
		}
	}
	if delivered != 7 {
		t.Fatalf("%d notification deliveries logged, want 7 (3 users, 2 events, 2 contacts)", delivered)
	}
}

func TestSubscriptionRetriesAndMissed(t *testing.T) {
	e, rv := newSubEnv(t)
	e.subscribe(t, subBody(rv, "users/"+e.fresh.ID+"/events", "created", 24*time.Hour))
	rv.set(func(rv *receiver) { rv.failNotify = 2 })
	day := mbDay()
	if _, err := e.s.AddMeeting(e.fresh.ID, Meeting{Subject: "Retry", Start: day, End: day.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	next(t, rv.notes, "notification after two failures")
	ds := waitDeliveries(t, e.s, func(d DeliveryRecord) bool { return d.Kind == "notification" && d.Delivered })
	var attempts []string
	for _, d := range ds {
		if d.Kind == "notification" {
			attempts = append(attempts, map[bool]string{true: "ok", false: "fail"}[d.Delivered])
			if !d.Delivered && d.Status != 503 {
				t.Fatalf("failed attempt %+v", d)
			}
		}
	}
	if strings.Join(attempts, ",") != "fail,fail,ok" {
		t.Fatalf("attempts %v", attempts)
	}
	// Always failing: after MaxRetries the notification is dropped and "missed" goes to the lifecycle URL.
	rv.set(func(rv *receiver) { rv.failNotify = 100 })
	if _, err := e.s.AddMeeting(e.fresh.ID, Meeting{Subject: "Lost", Start: day, End: day.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if it := next(t, rv.lifecycle, "missed"); it["lifecycleEvent"] != LifecycleMissed || it["clientState"] != "s3cret-state" {
		t.Fatalf("missed event %v", it)
	}
	dropped := 0
	for _, d := range waitDeliveries(t, e.s, func(d DeliveryRecord) bool { return d.LifecycleEvent == LifecycleMissed && d.Delivered }) {
		if d.Dropped {
			dropped++
		}
	}
	if dropped != 1 {
		t.Fatalf("%d dropped deliveries", dropped)
	}
	// A receiver slower than the delivery timeout counts as a failure.
	rv.set(func(rv *receiver) { rv.failNotify, rv.slowNotify = 0, 1500*time.Millisecond })
	e.s.SetWebhookOptions(WebhookOptions{DeliveryTimeout: 200 * time.Millisecond, MaxRetries: 1})
	if _, err := e.s.AddMeeting(e.fresh.ID, Meeting{Subject: "Slow", Start: day, End: day.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ds := e.s.Deliveries()
		last := ds[len(ds)-1]
		if last.Kind == "notification" && strings.Contains(last.Err, "no answer within 200ms") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no timeout recorded: %+v", last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSubscriptionRenewDeleteExpire(t *testing.T) {
	e, rv := newSubEnv(t)
	id := e.subscribe(t, subBody(rv, "users/"+e.fresh.ID+"/events", "created", 24*time.Hour))
	newExp := mbNow.Add(5 * 24 * time.Hour)
	st, _, m := e.post(t, "PATCH", "/subscriptions/"+id, e.tok, map[string]any{"expirationDateTime": newExp.Format(time.RFC3339)}, nil)
	if st != 200 || m["expirationDateTime"] != newExp.Format("2006-01-02T15:04:05")+".0000000Z" {
		t.Fatalf("renew: %d %v", st, m)
	}
	for _, c := range []struct {
		name string
		body map[string]any
		msg  string
	}{
		{"too long", map[string]any{"expirationDateTime": mbNow.Add(8 * 24 * time.Hour).Format(time.RFC3339)}, "10080 minutes"},
		{"lifecycle url", map[string]any{"lifecycleNotificationUrl": rv.url + "/x"}, "only be set when the subscription is created"},
		{"resource", map[string]any{"resource": "users"}, "Only expirationDateTime"},
	} {
		st, _, m := e.post(t, "PATCH", "/subscriptions/"+id, e.tok, c.body, nil)
		wantError(t, c.name, st, m, 400, "InvalidRequest")
		if !strings.Contains(errMessage(m), c.msg) {
			t.Errorf("%s: %q", c.name, errMessage(m))
		}
	}
	st, _, m = e.post(t, "PATCH", "/subscriptions/"+newUUID(), e.tok, map[string]any{"expirationDateTime": newExp.Format(time.RFC3339)}, nil)
	wantError(t, "renew unknown", st, m, 404, "ResourceNotFound")
	if st, _, _ := e.post(t, "POST", "/subscriptions/"+id+"/reauthorize", e.tok, "", nil); st != 204 {
		t.Fatalf("reauthorize: %d", st)
	}
	tok := e.tokenWithout(t, "Calendars.Read")
	st, _, m = e.post(t, "POST", "/subscriptions/"+id+"/reauthorize", tok, "", nil)
	wantError(t, "reauthorize without the role", st, m, 403, "ExtensionError")
	if st, _, _ := e.post(t, "DELETE", "/subscriptions/"+id, e.tok, "", nil); st != 204 {
		t.Fatalf("delete: %d", st)
	}
	st, _, m = e.get(t, "/subscriptions/"+id, e.tok, nil)
	wantError(t, "get deleted", st, m, 404, "ResourceNotFound")
	st, _, m = e.post(t, "DELETE", "/subscriptions/"+id, e.tok, "", nil)
	wantError(t, "delete twice", st, m, 404, "ResourceNotFound")

	// Expiry on the sim clock: gone, and no more deliveries.
	id = e.subscribe(t, subBody(rv, "users/"+e.fresh.ID+"/events", "created", 2*time.Hour))
	e.s.Advance(2*time.Hour + time.Second)
	tok = token(t, e.c, e.s)
	st, _, m = e.get(t, "/subscriptions/"+id, tok, nil)
	wantError(t, "expired", st, m, 404, "ResourceNotFound")
	if len(e.s.Subscriptions()) != 0 {
		t.Fatal("expired subscription still listed")
	}
	if _, err := e.s.AddMeeting(e.fresh.ID, Meeting{Subject: "After expiry", Start: mbNow, End: mbNow.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	none(t, rv.notes, "notification of an expired subscription")
}

func TestSubscriptionReauthorizationBeforeExpiry(t *testing.T) {
	e, rv := newSubEnv(t)
	id := e.subscribe(t, subBody(rv, "users", "updated", 3*time.Hour))
	none(t, rv.lifecycle, "early lifecycle event")
	e.s.Advance(2*time.Hour + time.Minute) // less than ReauthorizationLead left
	it := next(t, rv.lifecycle, "reauthorizationRequired")
	if it["lifecycleEvent"] != LifecycleReauthorizationRequired || it["subscriptionId"] != id || it["tenantId"] != e.s.TenantID() || it["clientState"] != "s3cret-state" {
		t.Fatalf("lifecycle %v", it)
	}
	if subs := e.s.Subscriptions(); len(subs) != 1 || !subs[0].NeedsReauthorization {
		t.Fatalf("subscriptions %+v", subs)
	}
	none(t, rv.lifecycle, "a second reauthorizationRequired for the same expiry")
	tok := token(t, e.c, e.s)
	if st, _, _ := e.post(t, "POST", "/subscriptions/"+id+"/reauthorize", tok, "", nil); st != 204 {
		t.Fatalf("reauthorize: %d", st)
	}
	if subs := e.s.Subscriptions(); subs[0].NeedsReauthorization {
		t.Fatal("reauthorize did not clear the flag")
	}
	// Renewing resets the warning for the new expiry.
	st, _, m := e.post(t, "PATCH", "/subscriptions/"+id, tok, map[string]any{"expirationDateTime": e.s.Now().Add(2 * time.Hour).Format(time.RFC3339)}, nil)
	if st != 200 {
		t.Fatalf("renew: %d %v", st, m)
	}
	e.s.Advance(90 * time.Minute)
	if it := next(t, rv.lifecycle, "reauthorizationRequired after renewal"); it["lifecycleEvent"] != LifecycleReauthorizationRequired {
		t.Fatalf("lifecycle %v", it)
	}
}

func TestTriggerLifecycle(t *testing.T) {
	e, rv := newSubEnv(t)
	evSub := e.subscribe(t, subBody(rv, "users/"+e.full.ID+"/events", "created", 24*time.Hour))
	usersSub := e.subscribe(t, subBody(rv, "users", "updated", 24*time.Hour))
	plain := subBody(rv, "users", "updated", 24*time.Hour)
	delete(plain, "lifecycleNotificationUrl")
	plainSub := e.subscribe(t, plain)
	if err := e.s.TriggerLifecycle(evSub, LifecycleMissed); err != nil {
		t.Fatal(err)
	}
	if it := next(t, rv.lifecycle, "missed"); it["lifecycleEvent"] != "missed" || it["subscriptionId"] != evSub {
		t.Fatalf("missed %v", it)
	}
	if err := e.s.TriggerLifecycle(usersSub, LifecycleReauthorizationRequired); err != nil {
		t.Fatal(err)
	}
	next(t, rv.lifecycle, "reauthorizationRequired")
	for _, c := range []struct{ id, event, msg string }{
		{usersSub, LifecycleSubscriptionRemoved, "only for Outlook resources"},
		{usersSub, LifecycleMissed, "only for Outlook resources"},
		{plainSub, LifecycleReauthorizationRequired, "no lifecycleNotificationUrl"},
		{evSub, "exploded", "unknown event"},
		{"nope", LifecycleMissed, "not found"},
	} {
		if err := e.s.TriggerLifecycle(c.id, c.event); err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s %s: %v", c.id, c.event, err)
		}
	}
	// Through the control API: subscriptionRemoved deletes the subscription.
	key := e.s.ControlKey()
	if st := ctl(t, e.c, e.s, key, "POST", "/_sim/subscriptions/"+evSub+"/lifecycle", map[string]string{"event": "subscriptionRemoved"}, nil); st != 200 {
		t.Fatalf("control lifecycle: %d", st)
	}
	if it := next(t, rv.lifecycle, "subscriptionRemoved"); it["lifecycleEvent"] != "subscriptionRemoved" {
		t.Fatalf("removed %v", it)
	}
	var subs []SubscriptionInfo
	if st := ctl(t, e.c, e.s, key, "GET", "/_sim/subscriptions", nil, &subs); st != 200 || len(subs) != 2 || !subs[0].NeedsReauthorization {
		t.Fatalf("control subscriptions: %d %+v", st, subs)
	}
	var ds []DeliveryRecord
	if st := ctl(t, e.c, e.s, key, "GET", "/_sim/deliveries", nil, &ds); st != 200 || len(ds) == 0 || ds[len(ds)-1].LifecycleEvent != "subscriptionRemoved" {
		t.Fatalf("control deliveries: %d %v", st, ds)
	}
	// A lifecycle receiver that refuses makes TriggerLifecycle fail.
	rv.srv.Close()
	if err := e.s.TriggerLifecycle(usersSub, LifecycleReauthorizationRequired); err == nil || !strings.Contains(err.Error(), "did not accept") {
		t.Fatalf("closed receiver: %v", err)
	}
}

func TestWebhookLoopbackOnlyAndTrust(t *testing.T) {
	for addr, ok := range map[string]bool{"127.0.0.1:443": true, "[::1]:8443": true, "127.9.9.9:1": true, "10.0.0.1:443": false, "192.0.2.7:443": false, "[2001:db8::1]:443": false} {
		if err := loopbackOnly("tcp", addr, nil); (err == nil) != ok {
			t.Errorf("loopbackOnly(%s) = %v", addr, err)
		}
	}
	e, rv := newSubEnv(t)
	// The dialer refuses before connecting, whatever the URL says.
	_, err := e.s.webhookClient().Get("https://192.0.2.7/notify")
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("non-loopback dial: %v", err)
	}
	// localhost is a loopback name.
	b := subBody(rv, "users", "updated", time.Hour)
	b["notificationUrl"] = strings.Replace(rv.url, "127.0.0.1", "localhost", 1) + "/notify"
	e.subscribe(t, b)
	if err := e.s.TrustNotificationCA([]byte("not a pem")); err == nil {
		t.Fatal("garbage CA accepted")
	}
	// The control API adds a CA too.
	other := newReceiver(t)
	if st := ctl(t, e.c, e.s, e.s.ControlKey(), "POST", "/_sim/notificationCA", string(other.caPEM), nil); st != 200 {
		t.Fatalf("control notificationCA: %d", st)
	}
	e.subscribe(t, subBody(other, "users", "updated", time.Hour))
}

// waitDeliveries waits until a logged delivery satisfies done and returns the log.
func waitDeliveries(t *testing.T, s *Sim, done func(DeliveryRecord) bool) []DeliveryRecord {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ds := s.Deliveries()
		for _, d := range ds {
			if done(d) {
				return ds
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery log never matched: %+v", ds)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNotificationsAreBatched(t *testing.T) {
	e, rv := newSubEnv(t)
	e.subscribe(t, subBody(rv, "users", "updated", time.Hour))
	rv.set(func(rv *receiver) { rv.slowNotify = 300 * time.Millisecond })
	users := e.s.Users()
	for _, u := range users[:10] {
		if err := e.s.UpdateUser(u.ID, func(u *User) { u.Department = "Batched" }); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for range 10 {
		seen[next(t, rv.notes, "batched notification")["resource"].(string)] = true
	}
	if len(seen) != 10 {
		t.Fatalf("resources %v", seen)
	}
	var posts, items int
	for deadline := time.Now().Add(10 * time.Second); items < 10 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		posts, items = 0, 0
		for _, d := range e.s.Deliveries() {
			if d.Kind == "notification" && d.Delivered {
				posts++
				items += len(d.Resources)
			}
		}
	}
	// Changes made while a delivery is under way queue behind it and go out together.
	if items != 10 || posts > 2 {
		t.Fatalf("%d items in %d posts; want 10 in at most 2", items, posts)
	}
}
