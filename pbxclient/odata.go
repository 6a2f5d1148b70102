package pbxclient

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// quote is an OData string literal: 'O”Brien'.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// keyLiteral is an OData string literal for use inside a path segment, e.g.
// Users(Number='100'): quoted, then percent-encoded where a path needs it.
func keyLiteral(s string) string {
	return strings.ReplaceAll(url.PathEscape(quote(s)), "%27", "'")
}

// entity is the path of one entity by integer key: Users(12).
func entity(set string, id int32) string { return set + "(" + strconv.FormatInt(int64(id), 10) + ")" }

// query builds an OData query string. Values are percent-encoded (spaces as
// %20, never '+'); the $ of system options is kept.
type query []string

func (q query) add(key, value string) query {
	if value == "" {
		return q
	}
	return append(q, key+"="+strings.ReplaceAll(url.QueryEscape(value), "+", "%20"))
}

func (q query) String() string { return strings.Join(q, "&") }

// collection is an OData collection reply.
type collection[T any] struct {
	Count *int `json:"@odata.count"`
	Value []T  `json:"value"`
}

// listAll reads every page of a collection with $top/$skip, ordered by
// orderBy for a stable order. base holds the other options ($select,
// $filter, $expand). The first page asks for $count: the list ends when
// that many items arrived or a page is empty, so a server that caps $top
// below the page size asked for is still read to the end; without a count a
// short page ends it. id returns an item's key, used to notice a server
// that ignores $skip.
func listAll[T any](ctx context.Context, x *XAPI, op, path string, base query, orderBy string, id func(T) string) ([]T, error) {
	var all []T
	seen := map[string]bool{}
	top := x.pageSize
	total := -1
	for skip := 0; ; {
		q := append(query{}, base...).add("$orderby", orderBy).
			add("$top", strconv.Itoa(top)).add("$skip", strconv.Itoa(skip))
		if skip == 0 {
			q = q.add("$count", "true")
		}
		var page collection[T]
		if err := x.get(ctx, op, path, q.String(), &page); err != nil {
			return nil, err
		}
		if skip == 0 && page.Count != nil {
			total = *page.Count
		}
		for _, it := range page.Value {
			k := id(it)
			if seen[k] {
				return nil, &Error{Op: op, Kind: ErrUnavailable,
					Message: fmt.Sprintf("the PBX repeated item %s at $skip=%d: paging is not honoured", k, skip)}
			}
			seen[k] = true
		}
		all = append(all, page.Value...)
		skip += len(page.Value)
		switch {
		case len(page.Value) == 0:
			return all, nil
		case total >= 0 && len(all) >= total:
			return all, nil
		case total < 0 && len(page.Value) < top:
			return all, nil
		}
	}
}

// rawObject is a JSON object kept as raw values, to send back what was read.
type rawObject map[string]json.RawMessage
