package graphclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// UserSelect is the $select of every user read: the fields of User.
const UserSelect = "id,displayName,givenName,surname,mail,userPrincipalName,userType,accountEnabled,businessPhones,mobilePhone,department,jobTitle"

// MaxPageSize is Graph's largest $top for directory collections.
const MaxPageSize = 999

// ListUsers reads every user of the directory, page by page ($top 999), and
// calls fn with each page. fn may keep the slice. An error from fn stops paging
// and is returned.
func (c *Client) ListUsers(ctx context.Context, fn func([]User) error) error {
	q := url.Values{"$top": {fmt.Sprint(MaxPageSize)}, "$select": {UserSelect}}
	_, err := pageAll(ctx, c, c.url("/users", q), nil, fn)
	return c.wrap("list users", err)
}

// GetUser reads one user by object id or userPrincipalName. A user that does
// not exist is an error for which IsNotFound is true.
func (c *Client) GetUser(ctx context.Context, idOrUPN string) (User, error) {
	var u User
	if strings.TrimSpace(idOrUPN) == "" {
		return u, errors.New("get user: empty id")
	}
	q := url.Values{"$select": {UserSelect}}
	err := c.getJSON(ctx, c.url("/users/"+pathEscape(idOrUPN), q), nil, &u)
	return u, c.wrap("get user "+idOrUPN, err)
}

// FindUserByMail finds users whose mail or userPrincipalName equals address
// (case-insensitive on Graph's side).
func (c *Client) FindUserByMail(ctx context.Context, address string) ([]User, error) {
	a := strings.ReplaceAll(address, "'", "''")
	q := url.Values{
		"$filter": {fmt.Sprintf("mail eq '%s' or userPrincipalName eq '%s'", a, a)},
		"$select": {UserSelect},
	}
	var out []User
	_, err := pageAll(ctx, c, c.url("/users", q), nil, func(p []User) error {
		out = append(out, p...)
		return nil
	})
	return out, c.wrap("find user "+address, err)
}

// deltaUser is one entry of a users delta page.
type deltaUser struct {
	User
	Removed *struct {
		Reason string `json:"reason"`
	} `json:"@removed"`
}

// UsersDelta runs one users delta round. deltaLink "" starts an initial round
// (every user, then a deltaLink); a stored deltaLink returns the changes since
// it was issued. Users carrying "@removed" are reported in Removed with their
// reason (RemovedChanged: soft-deleted; RemovedDeleted: gone). An expired or
// rejected token yields an error wrapping ErrResyncRequired: run a full
// reconcile and start again with "".
func (c *Client) UsersDelta(ctx context.Context, deltaLink string) (UserDelta, error) {
	var out UserDelta
	first := c.url("/users/delta", url.Values{"$select": {UserSelect}})
	link, err := deltaRound(ctx, c, "users delta", first, deltaLink, nil, func(p []deltaUser) error {
		for i := range p {
			if p[i].Removed != nil {
				reason := p[i].Removed.Reason
				if reason != RemovedDeleted {
					reason = RemovedChanged
				}
				out.Removed = append(out.Removed, RemovedUser{ID: p[i].ID, Reason: reason})
				continue
			}
			out.Changed = append(out.Changed, p[i].User)
		}
		return nil
	})
	if err != nil {
		return UserDelta{}, err
	}
	out.DeltaLink = link
	return out, nil
}

// deltaRound pages one delta round: from deltaLink when set (a stored link,
// used verbatim), else from first. It returns the new deltaLink. A rejected or
// expired token, or a stored link to another host, is wrapped in
// ErrResyncRequired.
func deltaRound[T any](ctx context.Context, c *Client, op, first, deltaLink string, hdr map[string]string, fn func([]T) error) (string, error) {
	if deltaLink != "" {
		if err := c.checkSameHost(deltaLink); err != nil {
			return "", fmt.Errorf("%s: %w: %v", op, ErrResyncRequired, err)
		}
		first = deltaLink
	}
	link, err := pageAll(ctx, c, first, hdr, fn)
	if err != nil {
		werr := c.wrap(op, err)
		if deltaLink != "" && isResyncError(werr) {
			return "", fmt.Errorf("%s: %w: %w", op, ErrResyncRequired, werr)
		}
		return "", werr
	}
	if link == "" {
		return "", fmt.Errorf("%s: the last page carried no @odata.deltaLink", op)
	}
	return link, nil
}

// isResyncError recognises Graph's answers to an expired or unknown delta token.
func isResyncError(err error) bool {
	var ge *Error
	if !errors.As(err, &ge) {
		return false
	}
	if ge.StatusCode == http.StatusGone {
		return true
	}
	code := strings.ToLower(ge.Code)
	if strings.Contains(code, "syncstate") || strings.Contains(code, "resync") || strings.Contains(code, "deltatoken") {
		return true
	}
	msg := strings.ToLower(ge.Message)
	return ge.StatusCode == http.StatusBadRequest && (strings.Contains(msg, "delta token") || strings.Contains(msg, "deltatoken") || strings.Contains(msg, "skiptoken"))
}
