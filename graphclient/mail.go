package graphclient

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
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
	msg := models.NewMessage()
	subject := m.Subject
	msg.SetSubject(&subject)
	body := models.NewItemBody()
	ct := models.TEXT_BODYTYPE
	if m.HTML {
		ct = models.HTML_BODYTYPE
	}
	body.SetContentType(&ct)
	content := m.Body
	body.SetContent(&content)
	msg.SetBody(body)
	var to []models.Recipientable
	for _, addr := range m.To {
		a, err := mail.ParseAddress(strings.TrimSpace(addr))
		if err != nil {
			return fmt.Errorf("%s: mail.to %q is not an e-mail address: %w", op, addr, err)
		}
		ea := models.NewEmailAddress()
		ea.SetAddress(&a.Address)
		if a.Name != "" {
			ea.SetName(&a.Name)
		}
		r := models.NewRecipient()
		r.SetEmailAddress(ea)
		to = append(to, r)
	}
	msg.SetToRecipients(to)
	req := users.NewItemSendMailPostRequestBody()
	req.SetMessage(msg)
	save := false
	req.SetSaveToSentItems(&save)
	err := c.sdk.Users().ByUserId(strings.TrimSpace(m.From)).SendMail().Post(ctx, req, nil)
	return c.wrap(op+" from "+m.From, err)
}

// errEmpty is returned for operations given an empty id.
var errEmpty = errors.New("empty id")
