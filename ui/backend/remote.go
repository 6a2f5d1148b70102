package backend

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/pbx365/pbx365/sync/plan"
	"github.com/pbx365/pbx365/sync/progress"
	"github.com/pbx365/pbx365/sync/scheduler"
	"github.com/pbx365/pbx365/ui/common"
)

// Remote is the Backend of a running pbx365 serve, reached over its socket.
type Remote struct {
	path string
	hc   *http.Client
}

var (
	_ common.Backend        = (*Remote)(nil)
	_ common.PreviewBackend = (*Remote)(nil)
)

// Dial connects to the service on dataDir; an error means no service runs
// there (the caller then works on the store itself).
func Dial(ctx context.Context, dataDir string) (*Remote, error) {
	path := SocketPath(dataDir)
	r := &Remote{path: path, hc: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := r.Status(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// Close drops idle connections.
func (r *Remote) Close() { r.hc.CloseIdleConnections() }

func (r *Remote) do(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://pbx365"+path, rd)
	if err != nil {
		return nil, err
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("pbx365 serve (%s): %w", r.path, err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		var eb errorBody
		if json.NewDecoder(resp.Body).Decode(&eb) == nil && eb.Error != "" {
			return nil, errors.New(eb.Error)
		}
		return nil, fmt.Errorf("pbx365 serve: %s", resp.Status)
	}
	return resp, nil
}

func (r *Remote) call(ctx context.Context, method string, args callArgs, out any) error {
	resp, err := r.do(ctx, http.MethodPost, "/v1/call/"+method, args)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// Status is the service's status.
func (r *Remote) Status(ctx context.Context) (ServiceStatus, error) {
	var st ServiceStatus
	resp, err := r.do(ctx, http.MethodGet, "/v1/status", nil)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// RunNow asks the service for a run.
func (r *Remote) RunNow(ctx context.Context, req scheduler.Request) error {
	resp, err := r.do(ctx, http.MethodPost, "/v1/run", req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// Events streams the events of every run the service makes, until ctx ends.
func (r *Remote) Events(ctx context.Context) (<-chan progress.Event, error) {
	resp, err := r.do(ctx, http.MethodGet, "/v1/events", nil)
	if err != nil {
		return nil, err
	}
	return readEvents(resp.Body), nil
}

func readEvents(body io.ReadCloser) <-chan progress.Event {
	ch := make(chan progress.Event)
	go func() {
		defer close(ch)
		defer body.Close()
		sc := bufio.NewScanner(body)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			var ev progress.Event
			if json.Unmarshal(sc.Bytes(), &ev) == nil {
				ch <- ev
			}
		}
	}()
	return ch
}

// Settings lists the settings.
func (r *Remote) Settings(ctx context.Context) (out []common.SettingValue, err error) {
	return out, r.call(ctx, "Settings", callArgs{}, &out)
}

// ValidateSetting checks a value without saving it.
func (r *Remote) ValidateSetting(ctx context.Context, key, value string) error {
	return r.call(ctx, "ValidateSetting", callArgs{Key: key, Value: value}, nil)
}

// SetSetting saves a value in the service (which reschedules).
func (r *Remote) SetSetting(ctx context.Context, key, value string) error {
	return r.call(ctx, "SetSetting", callArgs{Key: key, Value: value}, nil)
}

// UnsetSetting removes a stored value.
func (r *Remote) UnsetSetting(ctx context.Context, key string) error {
	return r.call(ctx, "UnsetSetting", callArgs{Key: key}, nil)
}

// SetupStatus reports what the setup wizard shows.
func (r *Remote) SetupStatus(ctx context.Context) (out common.Setup, err error) {
	return out, r.call(ctx, "SetupStatus", callArgs{}, &out)
}

// GenerateKeyPair makes a new key pair in the service's data dir.
func (r *Remote) GenerateKeyPair(ctx context.Context) (out common.KeyInfo, err error) {
	return out, r.call(ctx, "GenerateKeyPair", callArgs{}, &out)
}

// CheckMicrosoft runs the Microsoft checks in the service.
func (r *Remote) CheckMicrosoft(ctx context.Context) (out []common.CheckLine, err error) {
	return out, r.call(ctx, "CheckMicrosoft", callArgs{}, &out)
}

// CheckPBX runs the PBX checks in the service.
func (r *Remote) CheckPBX(ctx context.Context) (out []common.CheckLine, err error) {
	return out, r.call(ctx, "CheckPBX", callArgs{}, &out)
}

// Directory reads the directory with the planner's states.
func (r *Remote) Directory(ctx context.Context) (out common.DirectorySnapshot, err error) {
	return out, r.call(ctx, "Directory", callArgs{}, &out)
}

// Plan computes a plan in the service.
func (r *Remote) Plan(ctx context.Context, sel common.Selection) (out plan.Plan, err error) {
	return out, r.call(ctx, "Plan", callArgs{Selection: sel}, &out)
}

// Preview plans a selection in the service, for show only.
func (r *Remote) Preview(ctx context.Context, sel common.Selection) (out plan.Plan, err error) {
	return out, r.call(ctx, "Preview", callArgs{Selection: sel}, &out)
}

// Explain explains one user under a selection.
func (r *Remote) Explain(ctx context.Context, sel common.Selection, objectID string) (out common.Explanation, err error) {
	return out, r.call(ctx, "Explain", callArgs{Selection: sel, ObjectID: objectID}, &out)
}

// Apply runs p in the service and streams its events; cancelling ctx
// cancels the run (after in-flight writes settle).
func (r *Remote) Apply(ctx context.Context, p plan.Plan, allowRemovals bool) (<-chan progress.Event, error) {
	resp, err := r.do(context.WithoutCancel(ctx), http.MethodPost, "/v1/apply", applyRequest{Plan: p, AllowRemovals: allowRemovals})
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() { // cancelling ctx cancels the run; the final event still comes
		select {
		case <-ctx.Done():
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if resp, err := r.do(cctx, http.MethodPost, "/v1/cancel", struct{}{}); err == nil {
				resp.Body.Close()
			}
		case <-done:
		}
	}()
	in := readEvents(resp.Body)
	out := make(chan progress.Event)
	go func() {
		defer close(out)
		defer close(done)
		for ev := range in {
			out <- ev
		}
	}()
	return out, nil
}

// Runs lists past runs.
func (r *Remote) Runs(ctx context.Context, f common.RunFilter) (out []common.Run, err error) {
	return out, r.call(ctx, "Runs", callArgs{RunFilter: f}, &out)
}

// RunItems lists one run's audit items.
func (r *Remote) RunItems(ctx context.Context, runID uint64, f common.ItemFilter) (out []common.RunItem, err error) {
	return out, r.call(ctx, "RunItems", callArgs{RunID: runID, ItemFilter: f}, &out)
}

// ServiceLine is the status bar's "service running since …, next run at …".
func (r *Remote) ServiceLine(ctx context.Context) (string, error) {
	st, err := r.Status(ctx)
	if err != nil {
		return "", err
	}
	line := "service running"
	if !st.Since.IsZero() {
		line += " since " + st.Since.Local().Format("2006-01-02 15:04")
	}
	switch {
	case st.Running:
		line += ", a run is applying"
	case !st.NextRun.IsZero():
		line += ", next run at " + st.NextRun.Local().Format("15:04")
	}
	if st.Waiting != "" {
		line += " · waiting for the admin: " + st.Waiting
	}
	return line, nil
}
