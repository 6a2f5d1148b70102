package backend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/pbx365/pbx365/sync/plan"
	"github.com/pbx365/pbx365/sync/presence"
	"github.com/pbx365/pbx365/sync/progress"
	"github.com/pbx365/pbx365/sync/scheduler"
	"github.com/pbx365/pbx365/ui/common"
)

// SocketName is the service's socket in the data dir.
const SocketName = "pbx365.sock"

// SocketPath is the socket of the service on dataDir.
func SocketPath(dataDir string) string { return filepath.Join(dataDir, SocketName) }

// ServiceStatus is what GET /v1/status answers.
type ServiceStatus struct {
	PID      int               `json:"pid"`
	Since    time.Time         `json:"since"`
	Running  bool              `json:"running"` // a run is applying now
	NextRun  time.Time         `json:"next_run"`
	NextFull time.Time         `json:"next_full"`
	Waiting  string            `json:"waiting,omitempty"` // a guard waits for the admin
	Failures int               `json:"failures"`
	Last     *scheduler.Result `json:"last,omitempty"`
	Current  *progress.Event   `json:"current,omitempty"`
}

// Server is the service's side of the socket: the Backend of the service's
// own engines, its status, its live events and "run now".
type Server struct {
	Local *Local
	Sched *scheduler.Scheduler
	Log   *slog.Logger
	// Presence is the service's running calendar engine; nil when it runs
	// none (the Presence screen then shows the stored state).
	Presence *presence.Engine

	mu     sync.Mutex
	subs   map[chan progress.Event]struct{}
	cancel context.CancelFunc // of the apply a TUI started, while it runs
}

// Publish sends an event to every live subscriber; a subscriber that does
// not keep up misses progress events, never a final one (it is dropped
// from the stream instead, and reconnects).
func (s *Server) Publish(ev progress.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.subs {
		select {
		case ch <- ev:
		default:
			if ev.Phase == progress.PhaseDone {
				delete(s.subs, ch)
				close(ch)
			}
		}
	}
}

func (s *Server) subscribe() (chan progress.Event, func()) {
	ch := make(chan progress.Event, 256)
	s.mu.Lock()
	if s.subs == nil {
		s.subs = map[chan progress.Event]struct{}{}
	}
	s.subs[ch] = struct{}{}
	s.mu.Unlock()
	return ch, func() {
		s.mu.Lock()
		if _, ok := s.subs[ch]; ok {
			delete(s.subs, ch)
			close(ch)
		}
		s.mu.Unlock()
	}
}

// Listen serves the socket at path (mode 0600) until ctx ends. A stale
// socket file from a crashed service is replaced; a live one is an error.
func (s *Server) Listen(ctx context.Context, path string) error {
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("%s: another pbx365 serve is already running on this data dir", path)
	}
	_ = os.Remove(path)
	old := umask(0o177)
	ln, err := net.Listen("unix", path)
	umask(old)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	err = srv.Serve(ln)
	os.Remove(path)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Handler is the socket's HTTP API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, s.status())
	})
	mux.HandleFunc("POST /v1/run", func(w http.ResponseWriter, r *http.Request) {
		var req scheduler.Request
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			writeErr(w, http.StatusBadRequest, err)
			return
		}
		if req.Reason == "" {
			req.Reason = "admin"
		}
		s.Sched.Trigger(req)
		w.WriteHeader(http.StatusAccepted)
	})
	mux.HandleFunc("GET /v1/events", func(w http.ResponseWriter, r *http.Request) {
		ch, stop := s.subscribe()
		defer stop()
		s.stream(w, r, ch)
	})
	mux.HandleFunc("POST /v1/apply", func(w http.ResponseWriter, r *http.Request) {
		var req applyRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			writeErr(w, http.StatusBadRequest, err)
			return
		}
		// The run belongs to the service: a client that leaves does not stop
		// it; POST /v1/cancel does (after in-flight writes settle).
		rctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
		ch, err := s.Local.Apply(rctx, req.Plan, req.AllowRemovals)
		if err != nil {
			cancel()
			writeErr(w, http.StatusConflict, err)
			return
		}
		s.mu.Lock()
		s.cancel = cancel
		s.mu.Unlock()
		relay := make(chan progress.Event)
		go func() {
			defer close(relay)
			defer func() {
				s.mu.Lock()
				s.cancel = nil
				s.mu.Unlock()
				cancel()
			}()
			for ev := range ch {
				s.Publish(ev)
				relay <- ev
			}
		}()
		s.stream(w, r, relay)
		for range relay { // the client left: the run still settles
		}
	})
	mux.HandleFunc("POST /v1/cancel", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		c := s.cancel
		s.mu.Unlock()
		if c == nil {
			writeErr(w, http.StatusConflict, errors.New("no run started from a TUI is applying"))
			return
		}
		c()
		w.WriteHeader(http.StatusAccepted)
	})
	mux.HandleFunc("POST /v1/call/{method}", s.call)
	mux.HandleFunc("POST /v1/apply-contacts", s.applyContacts)
	return mux
}

type applyRequest struct {
	Plan          plan.Plan `json:"plan"`
	AllowRemovals bool      `json:"allow_removals"`
}

func (s *Server) status() ServiceStatus {
	st := s.Sched.Status()
	return ServiceStatus{PID: os.Getpid(), Since: st.Since, Running: st.Running, NextRun: st.NextRun, NextFull: st.NextFull,
		Waiting: st.Waiting, Failures: st.Failures, Last: st.Last, Current: st.Current}
}

// stream writes events as JSON lines until ch closes or the client leaves.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, ch <-chan progress.Event) {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	enc := json.NewEncoder(w)
	if fl != nil {
		fl.Flush()
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case ev, ok := <-ch:
			if !ok {
				return
			}
			if enc.Encode(ev) != nil {
				return
			}
			if fl != nil {
				fl.Flush()
			}
		}
	}
}

// call runs one Backend method with JSON arguments.
func (s *Server) call(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var args callArgs
	if err := json.NewDecoder(r.Body).Decode(&args); err != nil {
		writeErr(w, http.StatusBadRequest, err)
		return
	}
	var res any
	var err error
	l := s.Local
	switch r.PathValue("method") {
	case "Settings":
		res, err = l.Settings(ctx)
	case "ValidateSetting":
		err = l.ValidateSetting(ctx, args.Key, args.Value)
	case "SetSetting":
		if err = l.SetSetting(ctx, args.Key, args.Value); err == nil {
			s.Sched.Reconfigure()
		}
	case "UnsetSetting":
		if err = l.UnsetSetting(ctx, args.Key); err == nil {
			s.Sched.Reconfigure()
		}
	case "SetupStatus":
		res, err = l.SetupStatus(ctx)
	case "GenerateKeyPair":
		res, err = l.GenerateKeyPair(ctx)
	case "CheckMicrosoft":
		res, err = l.CheckMicrosoft(ctx)
	case "CheckPBX":
		res, err = l.CheckPBX(ctx)
	case "Directory":
		res, err = l.Directory(ctx)
	case "Plan":
		res, err = l.Plan(ctx, args.Selection)
	case "Preview":
		res, err = l.Preview(ctx, args.Selection)
	case "Explain":
		res, err = l.Explain(ctx, args.Selection, args.ObjectID)
	case "Runs":
		res, err = l.Runs(ctx, args.RunFilter)
	case "RunItems":
		res, err = l.RunItems(ctx, args.RunID, args.ItemFilter)
	default:
		var ok bool
		if res, ok, err = s.callExtra(ctx, r.PathValue("method"), args); !ok {
			writeErr(w, http.StatusNotFound, fmt.Errorf("no method %q", r.PathValue("method")))
			return
		}
	}
	if err != nil {
		writeErr(w, http.StatusUnprocessableEntity, err)
		return
	}
	writeJSON(w, res)
}

// callArgs carries every Backend method's arguments.
type callArgs struct {
	Key        string            `json:"key,omitempty"`
	Value      string            `json:"value,omitempty"`
	Selection  common.Selection  `json:"selection"`
	ObjectID   string            `json:"object_id,omitempty"`
	RunID      uint64            `json:"run_id,omitempty"`
	RunFilter  common.RunFilter  `json:"run_filter"`
	ItemFilter common.ItemFilter `json:"item_filter"`
	PlanHash   string            `json:"plan_hash,omitempty"` // ApplyContacts
	Refresh    bool              `json:"refresh,omitempty"`   // Presence
}

type errorBody struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(errorBody{Error: err.Error()})
}
