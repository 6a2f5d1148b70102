package m365sim

import (
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/mail"
	"strings"
	"time"
)

// SentMessage is one message accepted by sendMail.
type SentMessage struct {
	Time            time.Time `json:"time"`        // sim clock
	From            string    `json:"from"`        // the sending mailbox's mail (or UPN)
	FromID          string    `json:"fromId"`      // its object id
	To              []string  `json:"to"`          // toRecipients addresses
	Cc              []string  `json:"cc"`          // ccRecipients addresses
	Bcc             []string  `json:"bcc"`         // bccRecipients addresses
	Subject         string    `json:"subject"`     // may be empty, as Graph allows
	Body            string    `json:"body"`        // body.content
	ContentType     string    `json:"contentType"` // "text" or "html"
	SaveToSentItems bool      `json:"saveToSentItems"`
	MIME            bool      `json:"mime"` // sent as a base64 MIME message (Content-Type: text/plain)
}

// accessMailSend is the Mail.Send rule (Outlook-style 403).
var accessMailSend = access{roles: []string{"Mail.Send"}, mailbox: true}

func init() {
	registerExtension(func(s *Sim) {
		s.outlookRoute("POST /users/{id}/sendMail", accessMailSend, s.sendMail)
		s.outlookRoute("POST /users/{id}/microsoft.graph.sendMail", accessMailSend, s.sendMail)
	})
}

type mailRecipient struct {
	EmailAddress *struct {
		Name    string `json:"name"`
		Address string `json:"address"`
	} `json:"emailAddress"`
}

type mailBody struct {
	ContentType string `json:"contentType"`
	Content     string `json:"content"`
}

// mailMessage is the part of microsoft.graph.message the sim accepts.
type mailMessage struct {
	Subject                *string         `json:"subject"`
	Body                   *mailBody       `json:"body"`
	ToRecipients           []mailRecipient `json:"toRecipients"`
	CcRecipients           []mailRecipient `json:"ccRecipients"`
	BccRecipients          []mailRecipient `json:"bccRecipients"`
	ReplyTo                []mailRecipient `json:"replyTo"`
	From                   *mailRecipient  `json:"from"`
	Importance             string          `json:"importance"`
	InternetMessageHeaders []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"internetMessageHeaders"`
	Attachments []map[string]any `json:"attachments"`
}

// sendMail serves POST /users/{id}/sendMail (JSON message or base64 MIME).
func (s *Sim) sendMail(w http.ResponseWriter, r *http.Request, userID string) {
	var sm SentMessage
	if strings.HasPrefix(strings.ToLower(r.Header.Get("Content-Type")), "text/plain") {
		if !s.parseMIMEMail(w, r, &sm) {
			return
		}
	} else if !s.parseJSONMail(w, r, &sm) {
		return
	}
	if len(sm.To)+len(sm.Cc)+len(sm.Bcc) == 0 {
		s.graphError(w, r, http.StatusBadRequest, "ErrorInvalidRecipients", "At least one recipient is not valid., A message can't be sent because it contains no recipients.")
		return
	}
	for _, a := range append(append(append([]string(nil), sm.To...), sm.Cc...), sm.Bcc...) {
		if p, err := mail.ParseAddress(a); err != nil || p.Address != a || !strings.Contains(a, "@") {
			s.graphError(w, r, http.StatusBadRequest, "ErrorInvalidRecipients", fmt.Sprintf("At least one recipient is not valid., Recipient '%s' is not resolved. All recipients must be resolved before a message can be submitted.", a))
			return
		}
	}
	ok := s.withMailbox(w, r, userID, func(t *tenant, u *User, mb *Mailbox) {
		sm.From, sm.FromID = orDefault(u.Mail, u.UserPrincipalName), u.ID
	})
	if !ok {
		return
	}
	sm.Time = s.Now()
	e := s.ext()
	e.sentMu.Lock()
	e.sent = append(e.sent, sm)
	e.sentMu.Unlock()
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
}

func recipientAddresses(list []mailRecipient) ([]string, bool) {
	out := make([]string, 0, len(list))
	for _, rc := range list {
		if rc.EmailAddress == nil {
			return nil, false
		}
		out = append(out, strings.TrimSpace(rc.EmailAddress.Address))
	}
	return out, true
}

func (s *Sim) parseJSONMail(w http.ResponseWriter, r *http.Request, sm *SentMessage) bool {
	var req struct {
		Message         *mailMessage `json:"message"`
		SaveToSentItems *bool        `json:"saveToSentItems"`
	}
	if !s.decodeGraphBody(w, r, &req, "microsoft.graph.message") {
		return false
	}
	m := req.Message
	if m == nil {
		s.graphError(w, r, http.StatusBadRequest, "ErrorInvalidParameter", "The value of the parameter 'Message' is empty.")
		return false
	}
	sm.SaveToSentItems = req.SaveToSentItems == nil || *req.SaveToSentItems
	if m.Subject != nil {
		sm.Subject = *m.Subject
	}
	sm.ContentType = "text"
	if m.Body != nil {
		switch strings.ToLower(m.Body.ContentType) {
		case "", "text":
		case "html":
			sm.ContentType = "html"
		default:
			s.graphError(w, r, http.StatusBadRequest, "RequestBodyRead", fmt.Sprintf("Cannot convert the literal '%s' to the expected type 'microsoft.graph.bodyType'.", m.Body.ContentType))
			return false
		}
		sm.Body = m.Body.Content
	}
	switch strings.ToLower(m.Importance) {
	case "", "low", "normal", "high":
	default:
		s.graphError(w, r, http.StatusBadRequest, "RequestBodyRead", fmt.Sprintf("Cannot convert the literal '%s' to the expected type 'microsoft.graph.importance'.", m.Importance))
		return false
	}
	var ok1, ok2, ok3 bool
	sm.To, ok1 = recipientAddresses(m.ToRecipients)
	sm.Cc, ok2 = recipientAddresses(m.CcRecipients)
	sm.Bcc, ok3 = recipientAddresses(m.BccRecipients)
	if !ok1 || !ok2 || !ok3 {
		s.graphError(w, r, http.StatusBadRequest, "ErrorInvalidRecipients", "At least one recipient is not valid., A recipient has no emailAddress.")
		return false
	}
	return true
}

// parseMIMEMail reads the MIME variant: a base64-encoded RFC 5322 message.
func (s *Sim) parseMIMEMail(w http.ResponseWriter, r *http.Request, sm *SentMessage) bool {
	raw, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		s.graphError(w, r, http.StatusBadRequest, "UnableToDeserializePostBody", "were unable to deserialize: "+err.Error())
		return false
	}
	dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil {
		s.graphError(w, r, http.StatusBadRequest, "ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content.")
		return false
	}
	msg, err := mail.ReadMessage(strings.NewReader(string(dec)))
	if err != nil {
		s.graphError(w, r, http.StatusBadRequest, "ErrorMimeContentConversionFailed", "The MIME content could not be converted: "+err.Error())
		return false
	}
	body, err := io.ReadAll(msg.Body)
	if err != nil {
		s.graphError(w, r, http.StatusBadRequest, "ErrorMimeContentConversionFailed", "The MIME body could not be read: "+err.Error())
		return false
	}
	list := func(h string) ([]string, bool) {
		if msg.Header.Get(h) == "" {
			return nil, true
		}
		as, err := msg.Header.AddressList(h)
		if err != nil {
			s.graphError(w, r, http.StatusBadRequest, "ErrorInvalidRecipients", fmt.Sprintf("At least one recipient is not valid., The %s header cannot be parsed: %v.", h, err))
			return nil, false
		}
		out := make([]string, len(as))
		for i, a := range as {
			out[i] = a.Address
		}
		return out, true
	}
	var ok bool
	if sm.To, ok = list("To"); !ok {
		return false
	}
	if sm.Cc, ok = list("Cc"); !ok {
		return false
	}
	if sm.Bcc, ok = list("Bcc"); !ok {
		return false
	}
	dm := new(mime.WordDecoder)
	sm.Subject = msg.Header.Get("Subject")
	if d, err := dm.DecodeHeader(sm.Subject); err == nil {
		sm.Subject = d
	}
	sm.Body, sm.MIME, sm.SaveToSentItems = string(body), true, true
	sm.ContentType = "text"
	if mt, _, err := mime.ParseMediaType(msg.Header.Get("Content-Type")); err == nil && mt == "text/html" {
		sm.ContentType = "html"
	}
	return true
}

// SentMail returns the messages accepted by sendMail, oldest first.
func (s *Sim) SentMail() []SentMessage {
	e := s.ext()
	e.sentMu.Lock()
	defer e.sentMu.Unlock()
	out := make([]SentMessage, len(e.sent))
	copy(out, e.sent)
	return out
}

// ResetSentMail forgets the recorded messages.
func (s *Sim) ResetSentMail() {
	e := s.ext()
	e.sentMu.Lock()
	e.sent = nil
	e.sentMu.Unlock()
}
