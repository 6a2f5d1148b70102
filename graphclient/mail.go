package graphclient

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"

	abstractions "github.com/microsoft/kiota-abstractions-go"
)

// SendMail sends m from the mailbox m.From (setting mail.from) through Graph's
// sendMail (permission Mail.Send). The message is not kept in Sent Items.
func (c *Client) SendMail(ctx context.Context, m Message) error {
	const op = "send mail"
	if strings.TrimSpace(m.From) == "" {
		return fmt.Errorf("%s: mail.from is not set: name the mailbox that sends reports", op)
	}
	if len(m.To) == 0 {
		return fmt.Errorf("%s: mail.to is empty: name at least one recipient", op)
	}
	type address struct {
		Name    string `json:"name,omitempty"`
		Address string `json:"address"`
	}
	type recipient struct {
		EmailAddress address `json:"emailAddress"`
	}
	var to []recipient
	for _, addr := range m.To {
		a, err := mail.ParseAddress(strings.TrimSpace(addr))
		if err != nil {
			return fmt.Errorf("%s: mail.to %q is not an e-mail address: %w", op, addr, err)
		}
		to = append(to, recipient{address{a.Name, a.Address}})
	}
	ct := "Text"
	if m.HTML {
		ct = "HTML"
	}
	// Plain JSON through the SDK pipeline (auth, retry, compression): the
	// typed models add "@odata.type" annotations that a sendMail body does not need.
	body := map[string]any{
		"message": map[string]any{
			"subject":      m.Subject,
			"body":         map[string]string{"contentType": ct, "content": m.Body},
			"toRecipients": to,
		},
		"saveToSentItems": false,
	}
	err := c.sendJSON(ctx, abstractions.POST, c.url("/users/"+pathEscape(strings.TrimSpace(m.From))+"/sendMail", nil), nil, body, nil)
	return c.wrap(op+" from "+m.From, err)
}

// errEmpty is returned for operations given an empty id.
var errEmpty = errors.New("empty id")
