package graphclient

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
)

// The "hybrid" path (msgraph-sdk-local.md): requests go through the SDK's
// adapter (auth, retry, compression, telemetry), but the JSON body comes back as
// bytes and is decoded with encoding/json, about 10x cheaper than kiota's model
// parsing for big collections.

var rawErrorMappings = abstractions.ErrorMappings{"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue}

// url builds an absolute Graph URL from a path relative to the version root
// ("/users") and query parameters. Parameter names may start with "$".
func (c *Client) url(path string, q url.Values) string {
	s := c.baseURL + path
	if len(q) > 0 {
		s += "?" + q.Encode()
	}
	return s
}

// newRequest makes a RequestInformation for an absolute URL (including Graph's
// own nextLink/deltaLink URLs, used verbatim).
func newRequest(method abstractions.HttpMethod, rawURL string, headers map[string]string) (*abstractions.RequestInformation, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("bad URL %q: %w", rawURL, err)
	}
	ri := abstractions.NewRequestInformation()
	ri.Method = method
	ri.SetUri(*u)
	ri.Headers.TryAdd("Accept", "application/json")
	for k, v := range headers {
		ri.Headers.TryAdd(k, v)
	}
	return ri, nil
}

// send runs ri through the SDK pipeline and returns the raw body (nil for 202/204).
func (c *Client) send(ctx context.Context, ri *abstractions.RequestInformation) ([]byte, error) {
	res, err := c.adapter.SendPrimitive(ctx, ri, "[]byte", rawErrorMappings)
	if err != nil {
		return nil, err
	}
	if res == nil {
		return nil, nil
	}
	return res.([]byte), nil
}

// getJSON GETs rawURL and decodes the body into out.
func (c *Client) getJSON(ctx context.Context, rawURL string, headers map[string]string, out any) error {
	ri, err := newRequest(abstractions.GET, rawURL, headers)
	if err != nil {
		return err
	}
	body, err := c.send(ctx, ri)
	if err != nil {
		return err
	}
	if out == nil || body == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("decode %s: %w", redactRaw(rawURL), err)
	}
	return nil
}

// sendJSON sends in as a JSON body with method and decodes the answer into out
// (when out is non-nil and the answer has a body).
func (c *Client) sendJSON(ctx context.Context, method abstractions.HttpMethod, rawURL string, headers map[string]string, in, out any) error {
	ri, err := newRequest(method, rawURL, headers)
	if err != nil {
		return err
	}
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		ri.SetStreamContentAndContentType(b, "application/json")
	}
	body, err := c.send(ctx, ri)
	if err != nil {
		return err
	}
	if out != nil && len(body) > 0 {
		if err := json.Unmarshal(body, out); err != nil {
			return fmt.Errorf("decode %s: %w", redactRaw(rawURL), err)
		}
	}
	return nil
}

// page is one page of an OData collection.
type page[T any] struct {
	Value     []T    `json:"value"`
	NextLink  string `json:"@odata.nextLink"`
	DeltaLink string `json:"@odata.deltaLink"`
}

// pageAll follows @odata.nextLink from firstURL until the last page, calling fn
// with each page's items (fn may keep the slice). headers are re-sent on every page (Graph does not carry them in
// nextLinks). It returns the final @odata.deltaLink, if any.
func pageAll[T any](ctx context.Context, c *Client, firstURL string, headers map[string]string, fn func([]T) error) (string, error) {
	next := firstURL
	var p page[T]
	for pages := 0; next != ""; pages++ {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		if err := c.checkSameHost(next); err != nil {
			return "", err
		}
		p = page[T]{}
		if err := c.getJSON(ctx, next, headers, &p); err != nil {
			return "", err
		}
		if err := fn(p.Value); err != nil {
			return "", err
		}
		next = p.NextLink
		if pages > 1_000_000 {
			return "", fmt.Errorf("paging did not end after %d pages", pages)
		}
	}
	return p.DeltaLink, nil
}

// checkSameHost refuses to follow a link off the configured Graph host (the
// token must not be sent elsewhere; the SDK would just omit it).
func (c *Client) checkSameHost(link string) error {
	u, err := url.Parse(link)
	if err != nil {
		return fmt.Errorf("bad link from Graph %q: %w", redactRaw(link), err)
	}
	base, _ := url.Parse(c.baseURL)
	if !strings.EqualFold(u.Host, base.Host) || u.Scheme != base.Scheme {
		return fmt.Errorf("Graph returned a link to another host (%s), expected %s", u.Host, base.Host)
	}
	return nil
}

func redactRaw(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(bad URL)"
	}
	return redactURL(u)
}

// pathEscape escapes one path segment (an id, UPN or address).
func pathEscape(s string) string { return url.PathEscape(s) }
