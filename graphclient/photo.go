package graphclient

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
)

// PhotoMeta reads the metadata of a user's photo (its etag changes when the
// photo changes). A user without a photo gives a zero PhotoMeta and no error.
func (c *Client) PhotoMeta(ctx context.Context, userID string) (PhotoMeta, error) {
	if strings.TrimSpace(userID) == "" {
		return PhotoMeta{}, errors.New("photo: empty user id")
	}
	p, err := c.sdk.Users().ByUserId(userID).Photo().Get(ctx, nil)
	if err != nil {
		err = c.wrap("photo of "+userID, err)
		if IsNotFound(err) {
			return PhotoMeta{}, nil
		}
		return PhotoMeta{}, err
	}
	m := PhotoMeta{Width: int(deref(p.GetWidth())), Height: int(deref(p.GetHeight()))}
	ad := p.GetAdditionalData()
	if s, ok := ad["@odata.mediaEtag"].(*string); ok && s != nil {
		m.ETag = *s
	}
	if s, ok := ad["@odata.mediaContentType"].(*string); ok && s != nil {
		m.ContentType = *s
	}
	if m.ETag == "" {
		// Graph sends @odata.mediaEtag; without it, a hash of the bytes still
		// changes exactly when the photo does.
		b, err := c.Photo(ctx, userID)
		if err != nil {
			return PhotoMeta{}, err
		}
		if b == nil {
			return PhotoMeta{}, nil
		}
		sum := sha256.Sum256(b)
		m.ETag = "sha256:" + hex.EncodeToString(sum[:])
	}
	return m, nil
}

// Photo downloads a user's photo (the largest size Graph keeps). A user without
// a photo gives nil bytes and no error.
func (c *Client) Photo(ctx context.Context, userID string) ([]byte, error) {
	if strings.TrimSpace(userID) == "" {
		return nil, errors.New("photo: empty user id")
	}
	b, err := c.sdk.Users().ByUserId(userID).Photo().Content().Get(ctx, nil)
	if err != nil {
		err = c.wrap("photo of "+userID, err)
		if IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	return b, nil
}
