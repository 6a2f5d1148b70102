package notify

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/pbx365/pbx365/graphclient"
)

// serve listens on notify.listen (retrying with backoff while the address
// cannot be bound), closes ready once listening, and serves until ctx ends.
func (m *Manager) serve(ctx context.Context, ready chan<- struct{}) {
	var ln net.Listener
	for fails := 1; ; fails++ {
		var err error
		var lc net.ListenConfig
		if ln, err = lc.Listen(ctx, "tcp", m.cfg.Listen); err == nil {
			break
		}
		d := m.backoff(fails)
		m.log.Error("notifications: listen on notify.listen failed; polling goes on", "listen", m.cfg.Listen, "err", err, "retry_in", d)
		if !sleep(ctx, d) {
			return
		}
	}
	if m.tlsCfg != nil {
		ln = tls.NewListener(ln, m.tlsCfg.Clone())
	}
	m.mu.Lock()
	m.addr = ln.Addr()
	m.mu.Unlock()
	scheme := "http"
	if m.tlsCfg != nil {
		scheme = "https"
	}
	m.log.Info("notifications: listening", "addr", ln.Addr().String(), "scheme", scheme, "path", m.path, "public_url", m.public)
	srv := &http.Server{
		Handler:           m.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(m.log.Handler(), slog.LevelDebug), // TLS handshake noise from scanners
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	close(ready)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		m.log.Error("notifications: listener stopped", "err", err)
	}
	<-done
}

// Handler is the notification endpoint: it serves the path of
// notify.public_url (404 elsewhere), answers the validation handshake, and
// takes change and lifecycle notifications.
func (m *Manager) Handler() http.Handler {
	inner := graphclient.ValidationHandler(http.HandlerFunc(m.receive))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.EscapedPath() != m.path {
			http.NotFound(w, r)
			return
		}
		if r.Method == http.MethodPost && r.URL.Query().Has("validationToken") {
			m.stats.Handshakes.Add(1)
		}
		inner.ServeHTTP(w, r)
	})
}

// isJSON reports whether a Content-Type is JSON.
func isJSON(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// receive takes one POST of notifications. Every notification of a known
// subscription must carry that subscription's clientState, or the whole
// request is refused (403) and nothing is acted on; notifications of unknown
// subscriptions are acknowledged and ignored. The answer (202) comes before
// any work: the work is queued.
func (m *Manager) receive(w http.ResponseWriter, r *http.Request) {
	refuse := func(code int, msg string) {
		m.stats.Rejected.Add(1)
		http.Error(w, msg, code)
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		refuse(http.StatusMethodNotAllowed, "only POST is accepted")
		return
	}
	if !isJSON(r.Header.Get("Content-Type")) {
		refuse(http.StatusUnsupportedMediaType, "want Content-Type application/json")
		return
	}
	if r.ContentLength > m.cfg.MaxBody {
		refuse(http.StatusRequestEntityTooLarge, "notification body too large")
		return
	}
	var env struct {
		Value []graphclient.Notification `json:"value"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, m.cfg.MaxBody))
	if err := dec.Decode(&env); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			refuse(http.StatusRequestEntityTooLarge, "notification body too large")
			return
		}
		refuse(http.StatusBadRequest, "bad notification body")
		return
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		refuse(http.StatusBadRequest, "bad notification body: more than one JSON value")
		return
	}
	work, ignored, ok := m.match(env.Value)
	if !ok {
		refuse(http.StatusForbidden, "clientState does not match")
		return
	}
	w.WriteHeader(http.StatusAccepted)
	m.stats.Ignored.Add(int64(ignored))
	m.accept(work)
}

// matched is one notification of a known subscription.
type matched struct {
	resource string
	subID    string
	event    string // lifecycle event; "" for a change notification
}

// match pairs notifications with known subscriptions and checks each
// clientState in constant time; ok is false if any does not match.
func (m *Manager) match(ns []graphclient.Notification) (work []matched, ignored int, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, n := range ns {
		sub := m.byID[n.SubscriptionID]
		if sub == nil {
			ignored++
			continue
		}
		if !graphclient.ClientStateMatches(n.ClientState, sub.ClientState) {
			m.log.Warn("notifications: wrong clientState; request refused", "subscription", n.SubscriptionID)
			return nil, 0, false
		}
		work = append(work, matched{resource: sub.Resource, subID: sub.ID, event: n.LifecycleEvent})
	}
	return work, ignored, true
}

// accept queues the work of matched notifications: lifecycle events for the
// manager, changes for the dispatcher.
func (m *Manager) accept(work []matched) {
	lifecycle := false
	for _, w := range work {
		if w.event == "" {
			m.stats.Accepted.Add(1)
			m.d.add(actionFor(w.resource))
			continue
		}
		m.stats.Lifecycle.Add(1)
		m.mu.Lock()
		if m.events[w.subID] != lifecycleRemoved { // a removal outranks the rest
			m.events[w.subID] = w.event
		}
		m.mu.Unlock()
		lifecycle = true
	}
	if lifecycle {
		m.wake()
	}
}
