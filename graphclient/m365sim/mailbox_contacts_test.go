package m365sim

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestContactsListShapeAndPaging(t *testing.T) {
	e := newMbEnv(t)
	mb := e.s.Mailbox(e.full.ID)
	def := mb.ContactFolders[0]
	// By object id and by UPN: the default folder's contacts with Graph's shape.
	for _, who := range []string{e.full.ID, e.full.UserPrincipalName} {
		st, _, m := e.get(t, "/users/"+who+"/contacts", e.tok, nil)
		if st != 200 {
			t.Fatalf("contacts of %s: %d %v", who, st, m)
		}
		items := values(t, m)
		if len(items) != min(len(def.Contacts), 10) {
			t.Fatalf("contacts of %s: %d items, want %d", who, len(items), len(def.Contacts))
		}
		c := items[0]
		for _, p := range []string{"@odata.etag", "id", "changeKey", "parentFolderId", "displayName", "emailAddresses", "businessPhones", "homePhones", "mobilePhone", "createdDateTime"} {
			if _, ok := c[p]; !ok {
				t.Errorf("contact lacks %s: %v", p, c)
			}
		}
		if c["id"] != def.Contacts[0].ID || c["parentFolderId"] != def.ID || !strings.HasPrefix(c["@odata.etag"].(string), `W/"`) {
			t.Errorf("first contact: %v", c)
		}
		if !strings.Contains(m["@odata.context"].(string), "/$metadata#users('"+e.full.ID+"')/contacts") {
			t.Errorf("context %v", m["@odata.context"])
		}
	}
	// Outlook's default page size is 10; nextLinks are absolute and use $skip.
	for i := range 23 {
		if _, err := e.s.AddContact(e.fresh.ID, "", Contact{DisplayName: fmt.Sprintf("Paged %02d", i), EmailAddresses: []EmailAddress{{Address: fmt.Sprintf("paged%02d@example.com", i)}}}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	pages := 0
	for u := e.graphURL + "/users/" + e.fresh.ID + "/contacts?$select=displayName"; u != ""; pages++ {
		st, _, m := e.get(t, u, e.tok, nil)
		if st != 200 {
			t.Fatalf("page %s: %d %v", u, st, m)
		}
		for _, c := range values(t, m) {
			names = append(names, c["displayName"].(string))
			if _, ok := c["mobilePhone"]; ok {
				t.Fatalf("$select leaked mobilePhone: %v", c)
			}
			if c["id"] == nil || c["@odata.etag"] == nil {
				t.Fatalf("$select must keep id and @odata.etag: %v", c)
			}
		}
		u, _ = m["@odata.nextLink"].(string)
		if u != "" && (!strings.HasPrefix(u, e.s.URL()+"/v1.0/") || !strings.Contains(u, "$skip=") || !strings.Contains(u, "$select=displayName")) {
			t.Fatalf("nextLink %s", u)
		}
	}
	if len(names) != 23 || pages != 3 || names[0] != "Paged 00" || names[22] != "Paged 22" {
		t.Fatalf("paged %d names in %d pages: %v", len(names), pages, names)
	}
	st, _, m := e.get(t, "/users/"+e.fresh.ID+"/contacts?$top=20", e.tok, nil)
	if st != 200 || len(values(t, m)) != 20 || m["@odata.nextLink"] == nil {
		t.Fatalf("$top=20: %d %v", st, m)
	}
	st, h, m := e.get(t, "/users/"+e.fresh.ID+"/contacts", e.tok, map[string]string{"Prefer": "odata.maxpagesize=7"})
	if st != 200 || len(values(t, m)) != 7 || h.Get("Preference-Applied") != "odata.maxpagesize=7" || !strings.Contains(m["@odata.nextLink"].(string), "$skip=7") {
		t.Fatalf("Prefer odata.maxpagesize: %d %q %v", st, h.Get("Preference-Applied"), m)
	}
	st, _, m = e.get(t, "/users/"+e.fresh.ID+"/contacts?$count=true&$top=5&$skip=5", e.tok, nil)
	if st != 200 || m["@odata.count"] != float64(23) || len(values(t, m)) != 5 || values(t, m)[0]["displayName"] != "Paged 05" {
		t.Fatalf("$count=true: %d %v", st, m)
	}
	// The one $filter form Outlook offers on contacts.
	f := url.QueryEscape("emailAddresses/any(a:a/address eq 'PAGED07@example.com')")
	st, _, m = e.get(t, "/users/"+e.fresh.ID+"/contacts?$filter="+f, e.tok, nil)
	if st != 200 || len(values(t, m)) != 1 || values(t, m)[0]["displayName"] != "Paged 07" {
		t.Fatalf("email filter: %d %v", st, m)
	}
	// Refusals with Graph's codes.
	for _, c := range []struct{ q, code string }{
		{"$select=nickname,bogus", "RequestBroker--ParseUri"},
		{"$top=0", "ErrorInvalidUrlQuery"},
		{"$top=1001", "ErrorInvalidUrlQuery"},
		{"$skip=-1", "ErrorInvalidUrlQuery"},
		{"$filter=" + url.QueryEscape("displayName eq 'x'"), "ErrorInvalidUrlQueryFilter"},
		{"$search=x", "BadRequest"},
		{"$count=yes", "ErrorInvalidUrlQuery"},
	} {
		st, _, m := e.get(t, "/users/"+e.fresh.ID+"/contacts?"+c.q, e.tok, nil)
		wantError(t, c.q, st, m, 400, c.code)
	}
	// A single contact.
	st, _, m = e.get(t, "/users/"+e.full.ID+"/contacts/"+def.Contacts[1].ID+"?$select=displayName", e.tok, nil)
	if st != 200 || m["id"] != def.Contacts[1].ID || m["displayName"] != nullable(def.Contacts[1].DisplayName) {
		t.Fatalf("single contact: %d %v", st, m)
	}
	st, _, m = e.get(t, "/users/"+e.full.ID+"/contacts/AAMkC-nope", e.tok, nil)
	wantError(t, "unknown contact", st, m, 404, "ErrorItemNotFound")
}

// nullable is how a string property shows in decoded JSON (nil for "").
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func TestContactFolders(t *testing.T) {
	e := newMbEnv(t)
	mb := e.s.Mailbox(e.full.ID)
	def, sub := mb.ContactFolders[0], mb.ContactFolders[1]
	st, _, m := e.get(t, "/users/"+e.full.ID+"/contactFolders", e.tok, nil)
	if st != 200 || len(values(t, m)) != 1 {
		t.Fatalf("contactFolders (children of the default folder only): %d %v", st, m)
	}
	f := values(t, m)[0]
	if f["id"] != sub.ID || f["displayName"] != "Suppliers" || f["parentFolderId"] != def.ID {
		t.Fatalf("folder %v", f)
	}
	st, _, m = e.get(t, "/users/"+e.full.ID+"/contactFolders/"+sub.ID+"/contacts", e.tok, nil)
	if st != 200 || len(values(t, m)) != len(sub.Contacts) || values(t, m)[0]["parentFolderId"] != sub.ID {
		t.Fatalf("folder contacts: %d %v", st, m)
	}
	st, _, m = e.get(t, "/users/"+e.full.ID+"/contactFolders/"+def.ID+"/childFolders", e.tok, nil)
	if st != 200 || len(values(t, m)) != 1 || values(t, m)[0]["id"] != sub.ID {
		t.Fatalf("childFolders of the default folder: %d %v", st, m)
	}
	st, _, m = e.get(t, "/users/"+e.full.ID+"/contactFolders/"+def.ID+"/childFolders/"+sub.ID+"/contacts", e.tok, nil)
	if st != 200 || len(values(t, m)) != len(sub.Contacts) {
		t.Fatalf("child folder contacts: %d %v", st, m)
	}
	st, _, m = e.get(t, "/users/"+e.full.ID+"/contactFolders/"+sub.ID, e.tok, nil)
	if st != 200 || m["displayName"] != "Suppliers" || !strings.HasSuffix(m["@odata.context"].(string), "/$entity") {
		t.Fatalf("one folder: %d %v", st, m)
	}
	// A folder added through the control API shows up.
	id, err := e.s.AddContactFolder(e.full.ID, "Partners")
	if err != nil {
		t.Fatal(err)
	}
	st, _, m = e.get(t, "/users/"+e.full.ID+"/contactFolders", e.tok, nil)
	if st != 200 || len(values(t, m)) != 2 || values(t, m)[1]["id"] != id {
		t.Fatalf("after adding a folder: %v", m)
	}
	st, _, m = e.get(t, "/users/"+e.full.ID+"/contactFolders/AAMkF-unknown/contacts", e.tok, nil)
	wantError(t, "unknown folder", st, m, 404, "ErrorItemNotFound")
	st, _, m = e.get(t, "/users/"+e.full.ID+"/contactFolders/contacts/contacts", e.tok, nil)
	wantError(t, "well-known name", st, m, 400, "ErrorInvalidIdMalformed")
}

func TestContactsErrors(t *testing.T) {
	e := newMbEnv(t)
	st, _, m := e.get(t, "/users/nobody@"+Domain+"/contacts", e.tok, nil)
	wantError(t, "unknown user", st, m, 404, "ErrorInvalidUser")
	st, _, m = e.get(t, "/users/"+e.noMbx.ID+"/contacts", e.tok, nil)
	wantError(t, "no mailbox", st, m, 404, "MailboxNotEnabledForRESTAPI")
	st, _, m = e.get(t, "/users/"+e.noMbx.ID+"/contacts/delta()", e.tok, nil)
	wantError(t, "no mailbox delta", st, m, 404, "MailboxNotEnabledForRESTAPI")
	// Shared mailboxes are read like users.
	st, _, m = e.get(t, "/users/"+e.shared.UserPrincipalName+"/contacts?$top=50", e.tok, nil)
	if st != 200 || len(values(t, m)) == 0 {
		t.Fatalf("shared mailbox contacts: %d %v", st, m)
	}
	tok := e.tokenWithout(t, "Contacts.Read")
	for _, p := range []string{"/contacts", "/contactFolders", "/contacts/delta()"} {
		st, _, m = e.get(t, "/users/"+e.full.ID+p, tok, nil)
		wantError(t, "without Contacts.Read "+p, st, m, 403, "ErrorAccessDenied")
	}
	// Soft-deleted users are unknown to Outlook.
	if err := e.s.SoftDeleteUser(e.fresh.ID); err != nil {
		t.Fatal(err)
	}
	st, _, m = e.get(t, "/users/"+e.fresh.ID+"/contacts", e.tok, nil)
	wantError(t, "soft-deleted user", st, m, 404, "ErrorInvalidUser")
}

// contactDeltaRound follows a contact delta round to its deltaLink.
func contactDeltaRound(t *testing.T, e *mbEnv, first string, pageSize int) (items []map[string]any, deltaLink string, pages int) {
	t.Helper()
	hdr := map[string]string{}
	if pageSize > 0 {
		hdr["Prefer"] = fmt.Sprintf("odata.maxpagesize=%d", pageSize)
	}
	for u := first; ; pages++ {
		st, h, m := e.get(t, u, e.tok, hdr)
		if st != 200 {
			t.Fatalf("GET %s: %d %v", u, st, m)
		}
		if pageSize > 0 && h.Get("Preference-Applied") != fmt.Sprintf("odata.maxpagesize=%d", pageSize) {
			t.Fatalf("Preference-Applied %q", h.Get("Preference-Applied"))
		}
		items = append(items, values(t, m)...)
		next, _ := m["@odata.nextLink"].(string)
		dl, _ := m["@odata.deltaLink"].(string)
		if (next == "") == (dl == "") {
			t.Fatalf("a page needs exactly one of nextLink/deltaLink: %v", m)
		}
		if dl != "" {
			if !strings.Contains(dl, "$deltatoken=") || !strings.HasPrefix(dl, e.s.URL()+"/v1.0/") {
				t.Fatalf("deltaLink %s", dl)
			}
			return items, dl, pages + 1
		}
		if !strings.Contains(next, "$skiptoken=") {
			t.Fatalf("nextLink %s", next)
		}
		u = next
	}
}

func TestContactDeltaRounds(t *testing.T) {
	e := newMbEnv(t)
	var ids []string
	for i := range 5 {
		c, err := e.s.AddContact(e.fresh.ID, "", Contact{GivenName: "Delta", Surname: fmt.Sprint(i), DisplayName: fmt.Sprintf("Delta %d", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	folderID := e.s.Mailbox(e.fresh.ID).ContactFolders[0].ID
	base := "/users/" + e.fresh.ID + "/contactFolders/" + folderID + "/contacts/delta"
	items, link, pages := contactDeltaRound(t, e, e.graphURL+base+"?$select=displayName,givenName", 2)
	if len(items) != 5 || pages != 3 {
		t.Fatalf("initial round: %d items in %d pages", len(items), pages)
	}
	for _, it := range items {
		if it["@odata.type"] != "#microsoft.graph.contact" || it["givenName"] != "Delta" || it["surname"] != nil {
			t.Fatalf("initial item %v", it)
		}
	}
	// Quiet round.
	items, link, _ = contactDeltaRound(t, e, link, 0)
	if len(items) != 0 {
		t.Fatalf("quiet round: %v", items)
	}
	// Changes: update, delete, add; a contact in another folder stays out.
	if err := e.s.UpdateContact(e.fresh.ID, ids[1], func(c *Contact) { c.DisplayName = "Delta Renamed" }); err != nil {
		t.Fatal(err)
	}
	if err := e.s.DeleteContact(e.fresh.ID, ids[2]); err != nil {
		t.Fatal(err)
	}
	added, err := e.s.AddContact(e.fresh.ID, "", Contact{DisplayName: "Delta New"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := e.s.AddContactFolder(e.fresh.ID, "Elsewhere")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.AddContact(e.fresh.ID, other, Contact{DisplayName: "Other Folder"}); err != nil {
		t.Fatal(err)
	}
	items, link2, _ := contactDeltaRound(t, e, link, 0)
	got := map[string]map[string]any{}
	for _, it := range items {
		got[it["id"].(string)] = it
	}
	if len(got) != 3 || got[ids[1]]["displayName"] != "Delta Renamed" || got[added.ID]["displayName"] != "Delta New" {
		t.Fatalf("changes round: %v", items)
	}
	if r, _ := got[ids[2]]["@removed"].(map[string]any); r["reason"] != "deleted" || got[ids[2]]["@odata.type"] != "#microsoft.graph.contact" {
		t.Fatalf("removed entry: %v", got[ids[2]])
	}
	// The other folder has its own delta; the default folder also answers on /contacts/delta().
	items, _, _ = contactDeltaRound(t, e, e.graphURL+"/users/"+e.fresh.ID+"/contactFolders/"+other+"/contacts/delta()", 0)
	if len(items) != 1 || items[0]["displayName"] != "Other Folder" {
		t.Fatalf("other folder: %v", items)
	}
	for _, form := range []string{"/contacts/delta", "/contacts/delta()", "/contacts/microsoft.graph.delta()"} {
		items, _, _ = contactDeltaRound(t, e, e.graphURL+"/users/"+e.fresh.UserPrincipalName+form, 0)
		if len(items) != 5 { // 0, 1 (renamed), 3, 4, new
			t.Fatalf("%s: %d items", form, len(items))
		}
	}
	// Tokens: garbage, another folder's, a deltatoken passed as skiptoken, expired → 410.
	st, h, m := e.get(t, base+"?$deltatoken=bm9wZQ", e.tok, nil)
	wantError(t, "garbage token", st, m, 410, "syncStateNotFound")
	if h.Get("Location") == "" {
		t.Error("410 without Location")
	}
	u, _ := url.Parse(link2)
	tok := u.Query().Get("$deltatoken")
	st, _, m = e.get(t, "/users/"+e.fresh.ID+"/contactFolders/"+other+"/contacts/delta?$deltatoken="+tok, e.tok, nil)
	wantError(t, "other folder's token", st, m, 410, "syncStateNotFound")
	st, _, m = e.get(t, base+"?$skiptoken="+tok, e.tok, nil)
	wantError(t, "deltatoken as skiptoken", st, m, 410, "syncStateNotFound")
	st, _, m = e.get(t, "/users/"+e.full.ID+"/contacts/delta?$deltatoken="+tok, e.tok, nil)
	wantError(t, "another user's token", st, m, 410, "syncStateNotFound")
	st, _, m = e.get(t, base+"?$top=5", e.tok, nil)
	wantError(t, "$top on delta", st, m, 400, "ErrorInvalidUrlQuery")
	e.s.Advance(DeltaTokenLifetime + time.Minute)
	tok2 := token(t, e.c, e.s)
	st, _, m = e.get(t, link2, tok2, nil)
	wantError(t, "expired token", st, m, 410, "syncStateNotFound")
}

func TestContactsInBatch(t *testing.T) {
	e := newMbEnv(t)
	st, br, raw := postBatch(t, e.c, e.s, e.tok, []map[string]any{
		{"id": "1", "method": "GET", "url": "/users/" + e.full.ID + "/contacts?%24select=displayName"},
		{"id": "2", "method": "GET", "url": "/users/" + e.noMbx.ID + "/contacts"},
		{"id": "3", "method": "GET", "url": "/users/" + e.full.ID + "/contacts/delta()"},
	}, true)
	if st != 200 {
		t.Fatalf("batch: %d %s", st, raw)
	}
	if got := batchStatuses(br); got["1"] != 200 || got["2"] != 404 || got["3"] != 200 {
		t.Fatalf("batch statuses %v: %s", got, raw)
	}
}

// batchStatuses maps batch response ids to their statuses.
func batchStatuses(br batchResp) map[string]int {
	out := map[string]int{}
	for _, r := range br.Responses {
		out[r.ID] = r.Status
	}
	return out
}
