package graphclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
)

// getSchedule limits (graph.md §4.3, §6, §7.2).
const (
	MaxSchedulesPerCall   = 20 // schedules in one getSchedule call
	MaxBatchRequests      = 20 // requests in one $batch
	MailboxConcurrency    = 4  // concurrent requests per mailbox
	MaxScheduleWindow     = 62 * 24 * time.Hour
	ScheduleInterval      = 15 * time.Minute // availabilityViewInterval
	scheduleParallel      = 4                // $batch calls in flight at once
	defaultThrottleWait   = 2 * time.Second  // inner 429 without Retry-After
	maxAnchorAlternatives = 5                // other anchors tried when one cannot serve
	badAnchorTTL          = 6 * time.Hour    // how long an anchor without a mailbox is skipped
)

// ViewStatus returns the availabilityView status at t (FreeBusyUnknown outside
// the window or when Graph gave no view).
func (s Schedule) ViewStatus(t time.Time) FreeBusy {
	if s.Interval <= 0 || t.Before(s.Start) {
		return FreeBusyUnknown
	}
	i := int(t.Sub(s.Start) / s.Interval)
	if i >= len(s.AvailabilityView) {
		return FreeBusyUnknown
	}
	switch s.AvailabilityView[i] {
	case '0':
		return FreeBusyFree
	case '1':
		return FreeBusyTentative
	case '2':
		return FreeBusyBusy
	case '3':
		return FreeBusyOOF
	case '4':
		return FreeBusyWorkingElsewhere
	}
	return FreeBusyUnknown
}

type scheduleInfoJSON struct {
	ScheduleID       string `json:"scheduleId"`
	AvailabilityView string `json:"availabilityView"`
	ScheduleItems    []struct {
		IsPrivate bool      `json:"isPrivate"`
		Status    string    `json:"status"`
		Subject   string    `json:"subject"`
		Start     graphTime `json:"start"`
		End       graphTime `json:"end"`
	} `json:"scheduleItems"`
	Error *struct {
		Message      string `json:"message"`
		ResponseCode string `json:"responseCode"`
	} `json:"error"`
}

// schedChunk is one getSchedule call: up to 20 addresses and the mailbox whose
// calendar endpoint carries it.
type schedChunk struct {
	addrs     []string
	anchor    int // index into anchors
	tried     int // anchors tried so far
	throttled int // inner 429s so far
}

// GetSchedule reads free/busy for any number of addresses in [start, end)
// (at most 62 days). Addresses are asked 20 per getSchedule call, calls are
// packed 20 per $batch, and each call is anchored on one of anchors (any
// mailboxes of the tenant; the addresses themselves when empty) round-robin,
// so no mailbox carries more than 4 concurrent calls. Inner 429s are retried
// after their Retry-After, at most MaxRetries times. The result has one
// Schedule per address, in order; per-address failures are in Schedule.Err.
// A missing permission (403) fails the whole call.
func (c *Client) GetSchedule(ctx context.Context, addresses []string, start, end time.Time, anchors []string) ([]Schedule, error) {
	const op = "get schedule"
	if !end.After(start) {
		return nil, fmt.Errorf("%s: end %s is not after start %s", op, end, start)
	}
	if end.Sub(start) >= MaxScheduleWindow {
		return nil, fmt.Errorf("%s: window %s is longer than Graph allows (less than 62 days)", op, end.Sub(start))
	}
	if len(addresses) == 0 {
		return nil, nil
	}
	// Ask each distinct address once.
	var uniq []string
	seen := map[string]bool{}
	for _, a := range addresses {
		k := strings.ToLower(strings.TrimSpace(a))
		if k == "" || seen[k] {
			continue
		}
		seen[k] = true
		uniq = append(uniq, strings.TrimSpace(a))
	}
	if len(anchors) == 0 {
		anchors = uniq
	}
	anchors = c.usableAnchors(anchors)
	run := &scheduleRun{c: c, start: start.UTC(), end: end.UTC(), anchors: anchors,
		results: map[string]*Schedule{}, gate: newAnchorGate(len(anchors))}
	var pending []*schedChunk
	for i := 0; i < len(uniq); i += MaxSchedulesPerCall {
		ch := &schedChunk{addrs: uniq[i:min(i+MaxSchedulesPerCall, len(uniq))], anchor: len(pending) % len(anchors)}
		pending = append(pending, ch)
	}
	// A batch never holds more calls on one anchor than the mailbox allows.
	perBatch := min(MaxBatchRequests, MailboxConcurrency*len(anchors))
	maxRetries := c.retry.GetMaxRetries()
	for round := 0; len(pending) > 0; round++ {
		retry, wait, err := run.round(ctx, pending, perBatch)
		if err != nil {
			return nil, c.wrap(op, err)
		}
		var again []*schedChunk
		for _, ch := range retry {
			if ch.throttled > maxRetries {
				run.fail(ch.addrs, fmt.Sprintf("TooManyRequests: still throttled after %d retries", maxRetries))
				continue
			}
			again = append(again, ch)
		}
		pending = again
		if len(pending) == 0 {
			break
		}
		if wait > MaxRetryAfter {
			wait = MaxRetryAfter
		}
		c.log.Debug("getSchedule throttled, waiting", "calls", len(pending), "wait", wait)
		if err := sleepCtx(ctx, wait); err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
	}
	out := make([]Schedule, len(addresses))
	for i, a := range addresses {
		if s, ok := run.results[strings.ToLower(strings.TrimSpace(a))]; ok {
			out[i] = *s
			out[i].ID = a
		} else {
			out[i] = Schedule{ID: a, Err: "no answer from Graph for this address"}
		}
	}
	return out, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

type scheduleRun struct {
	c          *Client
	start, end time.Time
	anchors    []string
	gate       *anchorGate

	mu      sync.Mutex
	results map[string]*Schedule // by lower-case address
}

func (r *scheduleRun) fail(addrs []string, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range addrs {
		r.results[strings.ToLower(a)] = &Schedule{ID: a, Err: msg}
	}
}

// round sends pending calls in batches (scheduleParallel at a time) and returns
// the throttled calls to retry with the longest Retry-After seen.
func (r *scheduleRun) round(ctx context.Context, pending []*schedChunk, perBatch int) ([]*schedChunk, time.Duration, error) {
	batches := packBatches(pending, perBatch)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		retry    []*schedChunk
		wait     time.Duration
		firstErr error
		wg       sync.WaitGroup
	)
	work := make(chan []*schedChunk)
	for w := 0; w < min(scheduleParallel, len(batches)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range work {
				again, d, err := r.batch(ctx, b)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
					cancel()
				}
				retry = append(retry, again...)
				wait = max(wait, d)
				mu.Unlock()
			}
		}()
	}
feed:
	for _, b := range batches {
		select {
		case work <- b:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return nil, 0, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	return retry, wait, nil
}

// usableAnchors orders anchors for assignment: mailboxes that served as
// anchors before come first, then untried ones; those recently seen without a
// mailbox are dropped (keeping at least one, so a wrong guess never leaves
// nothing to ask).
func (c *Client) usableAnchors(anchors []string) []string {
	now := time.Now()
	var good, unknown []string
	for _, a := range anchors {
		k := strings.ToLower(a)
		if t, ok := c.badAnchors.Load(k); ok && now.Sub(t.(time.Time)) < badAnchorTTL {
			continue
		}
		if _, ok := c.goodAnchors.Load(k); ok {
			good = append(good, a)
		} else {
			unknown = append(unknown, a)
		}
	}
	if len(good)+len(unknown) == 0 {
		return anchors
	}
	return append(good, unknown...)
}

func (c *Client) markBadAnchor(a string) {
	c.goodAnchors.Delete(strings.ToLower(a))
	c.badAnchors.Store(strings.ToLower(a), time.Now())
}

// packBatches groups calls into batches of at most perBatch, none holding more
// than MailboxConcurrency calls on one anchor.
func packBatches(pending []*schedChunk, perBatch int) [][]*schedChunk {
	var batches [][]*schedChunk
	var counts []map[int]int
	open := 0 // batches before this one are full
	for _, ch := range pending {
		placed := false
		for b := open; b < len(batches); b++ {
			if len(batches[b]) < perBatch && counts[b][ch.anchor] < MailboxConcurrency {
				batches[b] = append(batches[b], ch)
				counts[b][ch.anchor]++
				placed = true
				break
			}
		}
		if !placed {
			batches = append(batches, []*schedChunk{ch})
			counts = append(counts, map[int]int{ch.anchor: 1})
		}
		for open < len(batches) && len(batches[open]) >= perBatch {
			open++
		}
	}
	return batches
}

// batch sends one $batch of getSchedule calls and records the answers.
func (r *scheduleRun) batch(ctx context.Context, chunks []*schedChunk) ([]*schedChunk, time.Duration, error) {
	idx := make([]int, len(chunks))
	for i, ch := range chunks {
		idx[i] = ch.anchor
	}
	if err := r.gate.acquire(ctx, idx); err != nil {
		return nil, 0, err
	}
	defer r.gate.release(idx)

	c := r.c
	breq := msgraphcore.NewBatchRequest(c.adapter)
	ids := make([]string, len(chunks))
	for i, ch := range chunks {
		body := users.NewItemCalendarGetSchedulePostRequestBody()
		body.SetSchedules(ch.addrs)
		st, en := models.NewDateTimeTimeZone(), models.NewDateTimeTimeZone()
		utc := "UTC"
		s, e := r.start.Format(wireTimeLayout), r.end.Format(wireTimeLayout)
		st.SetDateTime(&s)
		st.SetTimeZone(&utc)
		en.SetDateTime(&e)
		en.SetTimeZone(&utc)
		body.SetStartTime(st)
		body.SetEndTime(en)
		iv := int32(ScheduleInterval / time.Minute)
		body.SetAvailabilityViewInterval(&iv)
		ri, err := c.sdk.Users().ByUserId(r.anchors[ch.anchor]).Calendar().GetSchedule().ToPostRequestInformation(ctx, body, nil)
		if err != nil {
			return nil, 0, fmt.Errorf("build getSchedule request: %w", err)
		}
		ri.Headers.TryAdd("Prefer", `outlook.timezone="UTC"`)
		item, err := breq.AddBatchRequestStep(*ri)
		if err != nil {
			return nil, 0, fmt.Errorf("build $batch: %w", err)
		}
		ids[i] = deref(item.GetId())
	}
	bresp, err := breq.Send(ctx, c.adapter)
	if err != nil {
		return nil, 0, err
	}
	var retry []*schedChunk
	var wait time.Duration
	for i, ch := range chunks {
		item := bresp.GetResponseById(ids[i])
		if item == nil || item.GetStatus() == nil {
			r.fail(ch.addrs, "no answer for this call in the $batch response")
			continue
		}
		status := int(*item.GetStatus())
		switch {
		case status == http.StatusOK:
			c.goodAnchors.Store(strings.ToLower(r.anchors[ch.anchor]), true)
			if err := r.record(ch, item.GetBody()); err != nil {
				r.fail(ch.addrs, err.Error())
			}
		case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout:
			ch.throttled++
			d := retryAfter(item.GetHeaders()["Retry-After"], time.Now())
			if d <= 0 {
				d = defaultThrottleWait
			}
			wait = max(wait, d)
			retry = append(retry, ch)
		default:
			// Let the SDK's batch error registry build the ODataError (pitfall 10).
			_, ierr := msgraphcore.GetBatchResponseById[users.ItemCalendarGetSchedulePostResponseable](bresp, ids[i], users.CreateItemCalendarGetSchedulePostResponseFromDiscriminatorValue)
			gerr := c.wrap("getSchedule on "+r.anchors[ch.anchor], ierr)
			var ge *Error
			if errors.As(gerr, &ge) {
				ge.StatusCode = status // the batch registry leaves it 0
			}
			if status == http.StatusForbidden || status == http.StatusUnauthorized {
				return nil, 0, gerr
			}
			if (status == http.StatusNotFound || status == http.StatusBadRequest) && ch.tried < maxAnchorAlternatives && len(r.anchors) > 1 {
				// The anchor cannot serve (no mailbox, unknown user): remember
				// it and move the call to the next one.
				c.markBadAnchor(r.anchors[ch.anchor])
				ch.tried++
				ch.anchor = (ch.anchor + 1) % len(r.anchors)
				retry = append(retry, ch)
				continue
			}
			r.fail(ch.addrs, gerr.Error())
		}
	}
	return retry, wait, nil
}

// record parses one getSchedule answer.
func (r *scheduleRun) record(ch *schedChunk, body map[string]any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("re-encode getSchedule answer: %w", err)
	}
	var resp struct {
		Value []scheduleInfoJSON `json:"value"`
	}
	if err := json.Unmarshal(raw, &resp); err != nil {
		return fmt.Errorf("decode getSchedule answer: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, si := range resp.Value {
		s := &Schedule{ID: si.ScheduleID, Start: r.start, Interval: ScheduleInterval, AvailabilityView: si.AvailabilityView}
		if si.Error != nil {
			s.Err = strings.TrimSpace(si.Error.ResponseCode + " " + si.Error.Message)
			s.AvailabilityView = ""
		}
		for _, it := range si.ScheduleItems {
			st, err1 := it.Start.utc()
			en, err2 := it.End.utc()
			if err := errors.Join(err1, err2); err != nil {
				s.Err = "bad schedule item time: " + err.Error()
				s.Items = nil
				break
			}
			s.Items = append(s.Items, ScheduleItem{Status: parseFreeBusy(it.Status), Start: st, End: en, IsPrivate: it.IsPrivate, Subject: it.Subject})
		}
		r.results[strings.ToLower(si.ScheduleID)] = s
	}
	return nil
}

// anchorGate bounds the calls in flight per anchor mailbox. A batch takes all
// its slots at once (or waits), so batches cannot deadlock each other.
type anchorGate struct {
	mu    sync.Mutex
	cond  *sync.Cond
	inUse []int
}

func newAnchorGate(n int) *anchorGate {
	g := &anchorGate{inUse: make([]int, n)}
	g.cond = sync.NewCond(&g.mu)
	return g
}

func (g *anchorGate) fits(idx []int) bool {
	need := map[int]int{}
	for _, i := range idx {
		need[i]++
	}
	for i, n := range need {
		if g.inUse[i]+n > MailboxConcurrency {
			return false
		}
	}
	return true
}

func (g *anchorGate) acquire(ctx context.Context, idx []int) error {
	stop := context.AfterFunc(ctx, func() {
		g.mu.Lock()
		g.cond.Broadcast()
		g.mu.Unlock()
	})
	defer stop()
	g.mu.Lock()
	defer g.mu.Unlock()
	for !g.fits(idx) {
		if err := ctx.Err(); err != nil {
			return err
		}
		g.cond.Wait()
	}
	for _, i := range idx {
		g.inUse[i]++
	}
	return nil
}

func (g *anchorGate) release(idx []int) {
	g.mu.Lock()
	for _, i := range idx {
		g.inUse[i]--
	}
	g.mu.Unlock()
	g.cond.Broadcast()
}
