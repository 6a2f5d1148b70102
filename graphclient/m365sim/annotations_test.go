package m365sim

import (
	"strings"
	"testing"

	jsonserialization "github.com/microsoft/kiota-serialization-json-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
)

// sdkSendMailBody serializes a sendMail body with the msgraph SDK's typed
// models, exactly as the SDK's Users().ByUserId(id).SendMail().Post sends it:
// every object carries "@odata.type".
func sdkSendMailBody(t *testing.T, to string) []byte {
	t.Helper()
	addr := models.NewEmailAddress()
	addr.SetAddress(&to)
	rcpt := models.NewRecipient()
	rcpt.SetEmailAddress(addr)
	body := models.NewItemBody()
	ct := models.TEXT_BODYTYPE
	content := "3 writes failed"
	body.SetContentType(&ct)
	body.SetContent(&content)
	msg := models.NewMessage()
	subject := "pbx365 alert"
	msg.SetSubject(&subject)
	msg.SetBody(body)
	msg.SetToRecipients([]models.Recipientable{rcpt})
	req := users.NewItemSendMailPostRequestBody()
	req.SetMessage(msg)
	save := false
	req.SetSaveToSentItems(&save)
	w := jsonserialization.NewJsonSerializationWriter()
	if err := w.WriteObjectValue("", req); err != nil {
		t.Fatal(err)
	}
	raw, err := w.GetSerializedContent()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"@odata.type":"#microsoft.graph.message"`) {
		t.Fatalf("the SDK body has no @odata.type annotation, the test proves nothing: %s", raw)
	}
	return raw
}

// The SDK's typed sendMail body (with @odata.type on every object) is
// accepted, as real Graph accepts it; unknown properties are still refused,
// and a bad @odata.type is refused as Graph refuses it.
func TestSendMailAcceptsODataAnnotations(t *testing.T) {
	e := newMbEnv(t)
	raw := sdkSendMailBody(t, "admin@example.com")
	st, _, m := e.post(t, "POST", "/users/"+e.full.ID+"/sendMail", e.tok, raw, nil)
	if st != 202 {
		t.Fatalf("SDK-typed sendMail: %d %v (body %s)", st, m, raw)
	}
	sent := e.s.SentMail()
	if len(sent) != 1 || sent[0].Subject != "pbx365 alert" || sent[0].Body != "3 writes failed" || sent[0].ContentType != "text" ||
		strings.Join(sent[0].To, ",") != "admin@example.com" || sent[0].SaveToSentItems {
		t.Fatalf("recorded %+v", sent)
	}

	// Property annotations and other @odata.* instance annotations are metadata too.
	ok := mailBodyJSON("ops@example.com")
	msg := ok["message"].(map[string]any)
	msg["toRecipients@odata.type"] = "#Collection(microsoft.graph.recipient)"
	msg["@odata.context"] = "https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.message"
	if st, _, m := e.post(t, "POST", "/users/"+e.full.ID+"/sendMail", e.tok, ok, nil); st != 202 {
		t.Fatalf("property annotation: %d %v", st, m)
	}

	for _, c := range []struct {
		name, body, inMsg string
	}{
		{"unknown property beside an annotation", `{"message":{"@odata.type":"#microsoft.graph.message","subjekt":"x"}}`, "'subjekt' does not exist"},
		{"type that is no type", `{"message":{"@odata.type":"#foo.bar","subject":"x"}}`, "'#foo.bar' could not be resolved"},
		{"type not a string", `{"message":{"@odata.type":42,"subject":"x"}}`, "must be a string"},
		{"annotation hides no type error", `{"message":{"@odata.type":"#microsoft.graph.message","subject":42}}`, "Cannot convert"},
	} {
		st, _, m := e.post(t, "POST", "/users/"+e.full.ID+"/sendMail", e.tok, c.body, nil)
		wantError(t, c.name, st, m, 400, "RequestBodyRead")
		if !strings.Contains(errMessage(m), c.inMsg) {
			t.Errorf("%s: message %q, want it to contain %q", c.name, errMessage(m), c.inMsg)
		}
	}
	if n := len(e.s.SentMail()); n != 2 {
		t.Fatalf("refused messages were recorded: %d", n)
	}
}

// Bodies without annotations, and annotation text inside string values, pass
// through byte for byte.
func TestStripODataAnnotationsLeavesOtherBodiesAlone(t *testing.T) {
	for _, in := range []string{`{"a":1}`, `{"subject":"mail @odata.type here"}`, `{not json @odata.}`} {
		out, err := stripODataAnnotations([]byte(in))
		if err != nil || string(out) != in {
			t.Errorf("%s -> %s, %v", in, out, err)
		}
	}
	out, err := stripODataAnnotations([]byte(`{"n":12345678901234567890,"x":[{"@odata.type":"#microsoft.graph.recipient","k":1.50}]}`))
	if err != nil || string(out) != `{"n":12345678901234567890,"x":[{"k":1.50}]}` {
		t.Errorf("stripped %s, %v", out, err)
	}
}
