package graphclient

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/groups"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
)

var groupSelect = []string{"id", "displayName", "mail", "description"}

// ListGroups returns every group of the directory.
func (c *Client) ListGroups(ctx context.Context) ([]Group, error) {
	gs, err := c.groups(ctx, "")
	return gs, c.wrap("list groups", err)
}

// SearchGroups returns the groups whose display name starts with prefix
// (case-insensitive, as Graph's startswith is). An empty prefix lists all groups.
func (c *Client) SearchGroups(ctx context.Context, prefix string) ([]Group, error) {
	filter := ""
	if prefix != "" {
		filter = fmt.Sprintf("startswith(displayName,'%s')", strings.ReplaceAll(prefix, "'", "''"))
	}
	gs, err := c.groups(ctx, filter)
	return gs, c.wrap(fmt.Sprintf("search groups %q", prefix), err)
}

// groups pages through /groups with the SDK's typed request builder and page
// iterator (group lists are small; the typed path is cheap enough here).
func (c *Client) groups(ctx context.Context, filter string) ([]Group, error) {
	top := int32(MaxPageSize)
	qp := &groups.GroupsRequestBuilderGetQueryParameters{Top: &top, Select: groupSelect}
	if filter != "" {
		qp.Filter = &filter
	}
	resp, err := c.sdk.Groups().Get(ctx, &groups.GroupsRequestBuilderGetRequestConfiguration{QueryParameters: qp})
	if err != nil {
		return nil, err
	}
	it, err := msgraphcore.NewPageIterator[models.Groupable](resp, c.adapter, models.CreateGroupCollectionResponseFromDiscriminatorValue)
	if err != nil {
		return nil, err
	}
	var out []Group
	err = it.Iterate(ctx, func(g models.Groupable) bool {
		out = append(out, Group{
			ID:          deref(g.GetId()),
			DisplayName: deref(g.GetDisplayName()),
			Mail:        deref(g.GetMail()),
			Description: deref(g.GetDescription()),
		})
		return true
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// TransitiveUserMembers returns every user that is a member of the group,
// directly or through nested groups. The cast to microsoft.graph.user is an
// advanced query: it carries ConsistencyLevel: eventual and $count=true, and
// the header is re-sent on every page.
func (c *Client) TransitiveUserMembers(ctx context.Context, groupID string) ([]User, error) {
	if strings.TrimSpace(groupID) == "" {
		return nil, errors.New("transitive members: empty group id")
	}
	q := url.Values{"$select": {UserSelect}, "$top": {fmt.Sprint(MaxPageSize)}, "$count": {"true"}}
	u := c.url("/groups/"+pathEscape(groupID)+"/transitiveMembers/microsoft.graph.user", q)
	var out []User
	_, err := pageAll(ctx, c, u, map[string]string{"ConsistencyLevel": "eventual"}, func(p []User) error {
		out = append(out, p...)
		return nil
	})
	return out, c.wrap("transitive members of group "+groupID, err)
}
