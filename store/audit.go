package store

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// DefaultPageSize is the page size of Audit and Runs when none is given.
const DefaultPageSize = 100

// Results of a run item.
const (
	ResultOK      = "ok"
	ResultFailed  = "failed"
	ResultSkipped = "skipped"
)

// RunItem is one entry of the audit log: one action of one run on one user.
type RunItem struct {
	ID       uint64          `json:"id"` // assigned by AppendRunItems, grows with time
	Time     time.Time       `json:"time"`
	Run      uint64          `json:"run"`
	ObjectID string          `json:"object_id,omitempty"`
	UPN      string          `json:"upn,omitempty"`
	Number   string          `json:"number,omitempty"`
	Action   string          `json:"action"`
	Rule     string          `json:"rule,omitempty"`
	Before   json.RawMessage `json:"before,omitempty"` // JSON of the state before
	After    json.RawMessage `json:"after,omitempty"`  // JSON of the state written
	Result   string          `json:"result"`           // ok, failed, skipped
	Error    string          `json:"error,omitempty"`
}

// AppendRunItems appends items to the audit log in one transaction. Each item
// gets its ID, and Time when zero, in place.
func (s *Store) AppendRunItems(items []RunItem) error {
	return s.Update(func(tx *Tx) error { return tx.AppendRunItems(items) })
}

// AppendRunItems appends items inside the transaction (see Store.AppendRunItems).
func (t *Tx) AppendRunItems(items []RunItem) error {
	b, runs := t.tx.Bucket(bucketRunItems), t.tx.Bucket(bucketRuns)
	now := time.Now().UTC()
	known := map[uint64]bool{}
	var idx auditIndex
	for i := range items {
		it := &items[i]
		if err := checkRunItem(it); err != nil {
			return err
		}
		if !known[it.Run] {
			if runs.Get(itob(it.Run)) == nil {
				return fmt.Errorf("append audit item: run %d: %w", it.Run, ErrNotFound)
			}
			known[it.Run] = true
		}
		id, err := b.NextSequence()
		if err != nil {
			return fmt.Errorf("append audit item: %w", err)
		}
		it.ID = id
		if it.Time.IsZero() {
			it.Time = now
		}
		if err := putJSON(b, itob(id), it); err != nil {
			return fmt.Errorf("append audit item: %w", err)
		}
		idx.add(it)
	}
	if err := idx.write(t.tx); err != nil {
		return fmt.Errorf("append audit items: index: %w", err)
	}
	return nil
}

func checkRunItem(it *RunItem) error {
	switch {
	case it.Run == 0:
		return fmt.Errorf("append audit item: run is required")
	case it.Action == "":
		return fmt.Errorf("append audit item for %s: action is required", it.ObjectID)
	case it.Result != ResultOK && it.Result != ResultFailed && it.Result != ResultSkipped:
		return fmt.Errorf("append audit item for %s: result %q is not one of ok, failed, skipped", it.ObjectID, it.Result)
	case len(it.Before) > 0 && !json.Valid(it.Before):
		return fmt.Errorf("append audit item for %s: before is not valid JSON", it.ObjectID)
	case len(it.After) > 0 && !json.Valid(it.After):
		return fmt.Errorf("append audit item for %s: after is not valid JSON", it.ObjectID)
	}
	return nil
}

// userKeys are the audit_by_user prefixes of an item: object id, UPN and
// number, lower-cased, without repeats.
func userKeys(it *RunItem) []string {
	var out []string
	for _, k := range []string{it.ObjectID, it.UPN, it.Number} {
		k = strings.ToLower(strings.TrimSpace(k))
		if k != "" && !strings.Contains(k, "\x00") && !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

func userPrefix(user string) []byte {
	return append([]byte(strings.ToLower(strings.TrimSpace(user))), 0)
}

// auditIndex collects the index keys of a batch of items, to write them in
// key order: bbolt keeps a transaction's inserts in memory per node, and
// random-order inserts into a large batch cost quadratic copying.
type auditIndex struct {
	byRun, byUser [][]byte
}

func (x *auditIndex) add(it *RunItem) {
	x.byRun = append(x.byRun, append(itob(it.Run), itob(it.ID)...))
	for _, k := range userKeys(it) {
		x.byUser = append(x.byUser, append(userPrefix(k), itob(it.ID)...))
	}
}

func (x *auditIndex) write(tx *bolt.Tx) error {
	if err := putSorted(tx.Bucket(bucketAuditByRun), x.byRun); err != nil {
		return err
	}
	return putSorted(tx.Bucket(bucketAuditByUser), x.byUser)
}

// putSorted puts keys with empty values, in key order.
func putSorted(b *bolt.Bucket, keys [][]byte) error {
	slices.SortFunc(keys, bytes.Compare)
	for _, k := range keys {
		if err := b.Put(k, nil); err != nil {
			return err
		}
	}
	return nil
}

// AuditQuery selects audit items, newest first.
type AuditQuery struct {
	Run    uint64 // only this run; 0 = every run
	User   string // object id, UPN (any case) or number; "" = everyone
	Before uint64 // page cursor: only items with ID below it (AuditPage.Next); 0 = from the newest
	Limit  int    // page size; 0 = DefaultPageSize
}

// AuditPage is one page of the audit log.
type AuditPage struct {
	Items []RunItem
	Next  uint64 // Before for the next page; 0 when this is the last page
}

// Audit returns one page of the audit log, newest first. Filters use the
// indexes, so a page costs its own size whatever the log's length.
func (s *Store) Audit(q AuditQuery) (AuditPage, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultPageSize
	}
	var page AuditPage
	err := s.view(func(tx *bolt.Tx) error {
		items := tx.Bucket(bucketRunItems)
		var derr error
		add := func(seq uint64, raw []byte) bool {
			if raw == nil {
				raw = items.Get(itob(seq))
				if raw == nil {
					derr = fmt.Errorf("audit index names item %d, which is missing: state.db is damaged", seq)
					return false
				}
			}
			if len(page.Items) == limit {
				page.Next = page.Items[limit-1].ID
				return false
			}
			var it RunItem
			if derr = decode(raw, &it); derr != nil {
				derr = fmt.Errorf("audit item %d: %w", seq, derr)
				return false
			}
			page.Items = append(page.Items, it)
			return true
		}
		switch {
		case q.User != "":
			byRun := tx.Bucket(bucketAuditByRun)
			scanDesc(tx.Bucket(bucketAuditByUser).Cursor(), userPrefix(q.User), q.Before, func(seq uint64, _ []byte) bool {
				if q.Run != 0 && byRun.Get(append(itob(q.Run), itob(seq)...)) == nil {
					return true
				}
				return add(seq, nil)
			})
		case q.Run != 0:
			scanDesc(tx.Bucket(bucketAuditByRun).Cursor(), itob(q.Run), q.Before, func(seq uint64, _ []byte) bool {
				return add(seq, nil)
			})
		default:
			scanDesc(items.Cursor(), nil, q.Before, add)
		}
		return derr
	})
	if err != nil {
		return AuditPage{}, fmt.Errorf("read audit log: %w", err)
	}
	return page, nil
}

// auditLine is one line of the JSON export.
type auditLine struct {
	Type string `json:"type"` // "audit"
	RunItem
}

// ExportAudit writes the items q selects as JSON lines, newest first, each
// {"type":"audit","id":...,"time":...,...} (pbx365 log --json). q.Limit caps
// the number of lines (0: all); each page is read in its own short
// transaction, so a long export does not hold the store.
func (s *Store) ExportAudit(ctx context.Context, w io.Writer, q AuditQuery) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	remaining := q.Limit
	page := AuditQuery{Run: q.Run, User: q.User, Before: q.Before, Limit: 1000}
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("export audit log: %w", err)
		}
		if remaining > 0 && remaining < page.Limit {
			page.Limit = remaining
		}
		p, err := s.Audit(page)
		if err != nil {
			return err
		}
		for _, it := range p.Items {
			if err := enc.Encode(auditLine{Type: "audit", RunItem: it}); err != nil {
				return fmt.Errorf("export audit log: %w", err)
			}
		}
		if q.Limit > 0 {
			remaining -= len(p.Items)
			if remaining <= 0 {
				break
			}
		}
		if p.Next == 0 {
			break
		}
		page.Before = p.Next
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("export audit log: %w", err)
	}
	return nil
}
