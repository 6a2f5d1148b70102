package graphclient

import (
	"context"
	"net/url"
)

// UsersDeltaLatest starts a users delta round "from now" ($deltatoken=latest):
// one request, no users, and a deltaLink whose next round returns only the
// changes made after this call. A full reconcile takes it before listing the
// users, so changes made while it lists are replayed rather than lost.
func (c *Client) UsersDeltaLatest(ctx context.Context) (string, error) {
	d, err := c.UsersDelta(ctx, c.url("/users/delta", url.Values{"$select": {UserSelect}, "$deltatoken": {"latest"}}))
	if err != nil {
		return "", err
	}
	return d.DeltaLink, nil
}
