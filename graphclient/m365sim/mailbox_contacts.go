package m365sim

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
)

// contactRow is a contact with the folder it lives in (for parentFolderId).
type contactRow struct {
	c        *Contact
	folderID string
}

func contactStr(name string, get func(*Contact) string) propDef {
	return propDef{name: name, defaultOut: true, kind: fieldString, filter: "-",
		str:        func(o any) string { return get(o.(*contactRow).c) },
		appendJSON: func(b []byte, o any) []byte { return appendNullableString(b, get(o.(*contactRow).c)) }}
}

func contactConst(name, value string) propDef {
	return propDef{name: name, defaultOut: true, kind: fieldString, filter: "-",
		appendJSON: func(b []byte, o any) []byte { return append(b, value...) }}
}

func contactStrings(name string, get func(*Contact) []string) propDef {
	return propDef{name: name, defaultOut: true, kind: fieldStrings, filter: "-",
		appendJSON: func(b []byte, o any) []byte { return appendStringArray(b, get(o.(*contactRow).c)) }}
}

// contactSchema is microsoft.graph.contact with the properties Graph returns.
var contactSchema = newSchema("microsoft.graph.contact", "contacts", []propDef{
	contactStr("id", func(c *Contact) string { return c.ID }),
	{name: "createdDateTime", defaultOut: true, kind: fieldString, filter: "-",
		appendJSON: func(b []byte, o any) []byte { return appendTime(b, o.(*contactRow).c.CreatedDateTime) }},
	{name: "lastModifiedDateTime", defaultOut: true, kind: fieldString, filter: "-",
		appendJSON: func(b []byte, o any) []byte { return appendTime(b, o.(*contactRow).c.LastModifiedDateTime) }},
	contactStr("changeKey", func(c *Contact) string { return c.ChangeKey }),
	contactConst("categories", "[]"),
	{name: "parentFolderId", defaultOut: true, kind: fieldString, filter: "-",
		appendJSON: func(b []byte, o any) []byte { return appendJSONString(b, o.(*contactRow).folderID) }},
	contactConst("birthday", "null"),
	{name: "fileAs", defaultOut: true, kind: fieldString, filter: "-",
		appendJSON: func(b []byte, o any) []byte { return appendJSONString(b, "") }},
	contactStr("displayName", func(c *Contact) string { return c.DisplayName }),
	contactStr("givenName", func(c *Contact) string { return c.GivenName }),
	contactConst("initials", "null"),
	contactConst("middleName", "null"),
	contactConst("nickName", "null"),
	contactStr("surname", func(c *Contact) string { return c.Surname }),
	contactConst("title", "null"),
	contactConst("yomiGivenName", "null"),
	contactConst("yomiSurname", "null"),
	contactConst("yomiCompanyName", "null"),
	contactConst("generation", "null"),
	contactConst("imAddresses", "[]"),
	contactStr("jobTitle", func(c *Contact) string { return c.JobTitle }),
	contactStr("companyName", func(c *Contact) string { return c.CompanyName }),
	contactStr("department", func(c *Contact) string { return c.Department }),
	contactConst("officeLocation", "null"),
	contactConst("profession", "null"),
	contactConst("businessHomePage", "null"),
	contactConst("assistantName", "null"),
	contactConst("manager", "null"),
	contactStrings("homePhones", func(c *Contact) []string { return c.HomePhones }),
	contactStr("mobilePhone", func(c *Contact) string { return c.MobilePhone }),
	contactStrings("businessPhones", func(c *Contact) []string { return c.BusinessPhones }),
	contactConst("spouseName", "null"),
	{name: "personalNotes", defaultOut: true, kind: fieldString, filter: "-",
		appendJSON: func(b []byte, o any) []byte { return appendJSONString(b, "") }},
	contactConst("children", "[]"),
	{name: "emailAddresses", defaultOut: true, kind: fieldStrings, filter: "-",
		appendJSON: func(b []byte, o any) []byte { return appendEmailAddresses(b, o.(*contactRow).c.EmailAddresses) }},
	contactConst("homeAddress", "{}"),
	contactConst("businessAddress", "{}"),
	contactConst("otherAddress", "{}"),
})

// appendEmailAddresses renders [{"name","address"}] (name defaults to the address, as Outlook shows it).
func appendEmailAddresses(b []byte, list []EmailAddress) []byte {
	b = append(b, '[')
	for i, e := range list {
		if i > 0 {
			b = append(b, ',')
		}
		name := e.Name
		if name == "" {
			name = e.Address
		}
		b = append(b, `{"name":`...)
		b = appendJSONString(b, name)
		b = append(b, `,"address":`...)
		b = appendJSONString(b, e.Address)
		b = append(b, '}')
	}
	return append(b, ']')
}

// contactFolderSchema is microsoft.graph.contactFolder.
var contactFolderSchema = newSchema("microsoft.graph.contactFolder", "contactFolders", []propDef{
	{name: "id", defaultOut: true, kind: fieldString, filter: "-",
		appendJSON: func(b []byte, o any) []byte { return appendJSONString(b, o.(*ContactFolder).ID) }},
	{name: "displayName", defaultOut: true, kind: fieldString, filter: "-",
		appendJSON: func(b []byte, o any) []byte { return appendJSONString(b, o.(*ContactFolder).DisplayName) }},
	{name: "parentFolderId", defaultOut: true, kind: fieldString, filter: "-",
		appendJSON: func(b []byte, o any) []byte { return appendNullableString(b, o.(*ContactFolder).ParentFolderID) }},
})

// accessContacts is the Contacts.Read rule (Outlook-style 403).
var accessContacts = access{roles: []string{"Contacts.Read"}, mailbox: true}

// deltaForms are the spellings of the delta function Graph and the SDK use.
var deltaForms = []string{"delta", "delta()", "microsoft.graph.delta", "microsoft.graph.delta()"}

func init() {
	registerExtension(func(s *Sim) {
		s.outlookRoute("GET /users/{id}/contacts", accessContacts, s.listContacts)
		s.outlookRoute("GET /users/{id}/contacts/{cid}", accessContacts, s.getContact)
		s.outlookRoute("GET /users/{id}/contactFolders", accessContacts, s.listContactFolders)
		s.outlookRoute("GET /users/{id}/contactFolders/{fid}", accessContacts, s.getContactFolder)
		s.outlookRoute("GET /users/{id}/contactFolders/{fid}/contacts", accessContacts, s.listContacts)
		s.outlookRoute("GET /users/{id}/contactFolders/{fid}/childFolders", accessContacts, s.listContactFolders)
		s.outlookRoute("GET /users/{id}/contactFolders/{fid}/childFolders/{cfid}/contacts", accessContacts, s.listContacts)
		for _, d := range deltaForms {
			s.outlookRoute("GET /users/{id}/contacts/"+d, accessContacts, s.contactsDelta)
			s.outlookRoute("GET /users/{id}/contactFolders/{fid}/contacts/"+d, accessContacts, s.contactsDelta)
		}
	})
}

// contactFolderResource is the change-log resource prefix of a folder's contacts:
// "users/{id}/contacts/" for the default folder, else
// "users/{id}/contactFolders/{fid}/contacts/".
func contactFolderResource(userID string, mb *Mailbox, f *ContactFolder) string {
	if f == mb.ContactFolders[0] {
		return "users/" + userID + "/contacts/"
	}
	return "users/" + userID + "/contactFolders/" + f.ID + "/contacts/"
}

// findFolder returns the folder with id (nil when unknown).
func (mb *Mailbox) findFolder(id string) *ContactFolder {
	for _, f := range mb.ContactFolders {
		if f.ID == id {
			return f
		}
	}
	return nil
}

// pathFolder resolves the folder a contacts route addresses ({fid} and
// {cfid}; none = the default folder). It writes Outlook's errors.
func (s *Sim) pathFolder(w http.ResponseWriter, r *http.Request, mb *Mailbox) *ContactFolder {
	fid, cfid := r.PathValue("fid"), r.PathValue("cfid")
	if fid == "" {
		return mb.ContactFolders[0]
	}
	if !strings.HasPrefix(fid, "AAMk") {
		// Outlook ids are long base64 strings; well-known names like "contacts" are
		// not documented for contactFolders, so the sim refuses them (graph.md §3).
		s.graphError(w, r, http.StatusBadRequest, "ErrorInvalidIdMalformed", fmt.Sprintf("Id is malformed: '%s'. Use /users/{id}/contacts for the default folder.", fid))
		return nil
	}
	f := mb.findFolder(fid)
	if f != nil && cfid != "" {
		c := mb.findFolder(cfid)
		if c == nil || c.ParentFolderID != f.ID {
			f = nil
		} else {
			f = c
		}
	}
	if f == nil {
		s.graphError(w, r, http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
	}
	return f
}

// emailFilter is the one $filter form Outlook offers on contacts.
var emailFilter = regexp.MustCompile(`^emailAddresses/any\((\w+):\s*(\w+)/address\s+eq\s+'((?:[^']|'')*)'\)$`)

// listContacts serves a folder's contacts (default folder, a folder, or a child folder).
func (s *Sim) listContacts(w http.ResponseWriter, r *http.Request, userID string) {
	oq, fe := parseOutlookQuery(r, contactSchema, "$filter")
	if fe != nil {
		s.graphError(w, r, http.StatusBadRequest, fe.code, fe.msg)
		return
	}
	var match func(*Contact) bool
	if f := oq.raw.Get("$filter"); f != "" {
		m := emailFilter.FindStringSubmatch(strings.TrimSpace(f))
		if m == nil || m[1] != m[2] {
			s.graphError(w, r, http.StatusBadRequest, "ErrorInvalidUrlQueryFilter", "The query filter contains one or more invalid nodes. Contacts support only emailAddresses/any(a:a/address eq 'x').")
			return
		}
		want := strings.ToLower(strings.ReplaceAll(m[3], "''", "'"))
		match = func(c *Contact) bool {
			return slices.ContainsFunc(c.EmailAddresses, func(e EmailAddress) bool { return strings.ToLower(e.Address) == want })
		}
	}
	page := &outlookPage{oq: oq}
	ok := false
	s.withMailbox(w, r, userID, func(t *tenant, u *User, mb *Mailbox) {
		f := s.pathFolder(w, r, mb)
		if f == nil {
			return
		}
		ok = true
		for _, c := range f.Contacts {
			if match != nil && !match(c) {
				continue
			}
			if !page.add(func(b []byte) []byte {
				return appendOutlookItem(b, contactSchema, &contactRow{c, f.ID}, oq.sel, c.ChangeKey, false)
			}) {
				break
			}
		}
	})
	if ok {
		s.writeOutlookPage(w, r, "users('"+userID+"')/contacts", page)
	}
}

// getContact serves GET /users/{id}/contacts/{cid} (any folder).
func (s *Sim) getContact(w http.ResponseWriter, r *http.Request, userID string) {
	sel, err := parseSelect(r.URL.Query().Get("$select"), contactSchema)
	if err != nil {
		s.graphError(w, r, http.StatusBadRequest, "RequestBroker--ParseUri", err.Error())
		return
	}
	var b []byte
	s.withMailbox(w, r, userID, func(t *tenant, u *User, mb *Mailbox) {
		for _, f := range mb.ContactFolders {
			for _, c := range f.Contacts {
				if c.ID == r.PathValue("cid") {
					obj := appendOutlookItem(nil, contactSchema, &contactRow{c, f.ID}, sel, c.ChangeKey, false)
					b = s.appendEntity(b, "users('"+userID+"')/contacts", sel, obj)
					return
				}
			}
		}
		b = []byte{}
	})
	switch {
	case b == nil: // 404 for the mailbox already written
	case len(b) == 0:
		s.graphError(w, r, http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
	default:
		writeOData(w, http.StatusOK, b)
	}
}

// listContactFolders serves /contactFolders (children of the default folder)
// and /contactFolders/{fid}/childFolders.
func (s *Sim) listContactFolders(w http.ResponseWriter, r *http.Request, userID string) {
	oq, fe := parseOutlookQuery(r, contactFolderSchema)
	if fe != nil {
		s.graphError(w, r, http.StatusBadRequest, fe.code, fe.msg)
		return
	}
	page := &outlookPage{oq: oq}
	ok := false
	s.withMailbox(w, r, userID, func(t *tenant, u *User, mb *Mailbox) {
		parent := s.pathFolder(w, r, mb)
		if parent == nil {
			return
		}
		ok = true
		for _, f := range mb.ContactFolders[1:] {
			if f.ParentFolderID == parent.ID && !page.add(func(b []byte) []byte { return contactFolderSchema.appendObject(b, f, oq.sel, false) }) {
				break
			}
		}
	})
	if ok {
		s.writeOutlookPage(w, r, "users('"+userID+"')/contactFolders", page)
	}
}

// getContactFolder serves GET /users/{id}/contactFolders/{fid}.
func (s *Sim) getContactFolder(w http.ResponseWriter, r *http.Request, userID string) {
	sel, err := parseSelect(r.URL.Query().Get("$select"), contactFolderSchema)
	if err != nil {
		s.graphError(w, r, http.StatusBadRequest, "RequestBroker--ParseUri", err.Error())
		return
	}
	var b []byte
	s.withMailbox(w, r, userID, func(t *tenant, u *User, mb *Mailbox) {
		if f := s.pathFolder(w, r, mb); f != nil {
			b = s.appendEntity(b, "users('"+userID+"')/contactFolders", sel, contactFolderSchema.appendObject(nil, f, sel, false))
		}
	})
	if b != nil {
		writeOData(w, http.StatusOK, b)
	}
}

// contactDeltaState is the content of a contact delta $skiptoken / $deltatoken.
type contactDeltaState struct {
	Kind   string `json:"k"` // "c"
	User   string `json:"u"`
	Folder string `json:"fo"`
	Phase  string `json:"p"` // "i" initial round, "c" changes round, "d" deltaLink
	From   uint64 `json:"f"`
	To     uint64 `json:"t"`
	After  string `json:"a,omitempty"`
	Issued int64  `json:"i"`
	Sel    string `json:"s,omitempty"`
}

// contactsDelta serves contact delta for the default folder or a folder.
func (s *Sim) contactsDelta(w http.ResponseWriter, r *http.Request, userID string) {
	q := r.URL.Query()
	for k := range q {
		if k != "$select" && k != "$deltatoken" && k != "$skiptoken" {
			s.graphError(w, r, http.StatusBadRequest, "ErrorInvalidUrlQuery", fmt.Sprintf("The query parameter '%s' is not supported with contact delta; use $select and Prefer: odata.maxpagesize.", k))
			return
		}
	}
	now := s.Now()
	pageSize := outlookPageSize
	if n, ok := preferMaxPageSize(r); ok {
		pageSize = n
	}
	var st contactDeltaState
	if tok := q.Get("$deltatoken") + q.Get("$skiptoken"); tok != "" {
		isDelta := q.Get("$deltatoken") != ""
		if q.Get("$deltatoken") != "" && q.Get("$skiptoken") != "" || !s.openToken(tok, &st) || st.Kind != "c" || st.User != userID || isDelta != (st.Phase == "d") {
			s.deltaGone(w, r, "The sync state is not recognised for this folder. Restart the sync without a delta token.")
			return
		}
		if now.Sub(time.Unix(st.Issued, 0)) > DeltaTokenLifetime {
			s.deltaGone(w, r, "The sync state has expired. Restart the sync without a delta token.")
			return
		}
	} else {
		st = contactDeltaState{Kind: "c", User: userID, Phase: "i", Issued: now.Unix(), Sel: q.Get("$select")}
	}
	sel, err := parseSelect(st.Sel, contactSchema)
	if err != nil {
		s.graphError(w, r, http.StatusBadRequest, "RequestBroker--ParseUri", err.Error())
		return
	}
	var items []byte
	more, ok := false, false
	s.withMailbox(w, r, userID, func(t *tenant, u *User, mb *Mailbox) {
		f := s.pathFolder(w, r, mb)
		if f == nil {
			return
		}
		if st.Folder == "" {
			st.Folder, st.To = f.ID, t.seq
		}
		if st.Folder != f.ID {
			s.deltaGone(w, r, "The sync state belongs to another folder. Restart the sync without a delta token.")
			return
		}
		ok = true
		if st.Phase == "d" { // a new changes round from the deltaLink's position
			st = contactDeltaState{Kind: "c", User: userID, Folder: f.ID, Phase: "c", From: st.To, To: t.seq, Issued: now.Unix(), Sel: st.Sel}
		}
		byID := map[string]*Contact{}
		for _, c := range f.Contacts {
			byID[c.ID] = c
		}
		var ids []string
		if st.Phase == "i" {
			for id := range byID {
				ids = append(ids, id)
			}
		} else {
			prefix := contactFolderResource(userID, mb, f)
			seen := map[string]bool{}
			for _, c := range t.changesSince(st.From, st.To) {
				if id, found := strings.CutPrefix(c.Resource, prefix); found && !seen[id] {
					seen[id] = true
					ids = append(ids, id)
				}
			}
		}
		slices.Sort(ids)
		n := 0
		for _, id := range ids {
			if id <= st.After {
				continue
			}
			if n == pageSize {
				more = true
				break
			}
			if n > 0 {
				items = append(items, ',')
			}
			if c := byID[id]; c != nil {
				items = appendOutlookItem(items, contactSchema, &contactRow{c, f.ID}, sel, c.ChangeKey, true)
			} else {
				items = append(items, `{"@odata.type":"#microsoft.graph.contact","id":`...)
				items = appendJSONString(items, id)
				items = append(items, `,"@removed":{"reason":"deleted"}}`...)
			}
			st.After = id
			n++
		}
	})
	if !ok {
		return
	}
	key := "$deltatoken"
	if more {
		key = "$skiptoken"
	} else {
		st = contactDeltaState{Kind: "c", User: userID, Folder: st.Folder, Phase: "d", To: st.To, Issued: st.Issued, Sel: st.Sel}
	}
	b := make([]byte, 0, len(items)+512)
	b = append(b, `{"@odata.context":`...)
	b = appendJSONString(b, s.GraphURL()+"/$metadata#Collection(contact)")
	if more {
		b = append(b, `,"@odata.nextLink":`...)
	} else {
		b = append(b, `,"@odata.deltaLink":`...)
	}
	b = appendJSONString(b, s.URL()+r.URL.Path+"?"+key+"="+s.sealToken(st))
	b = append(b, `,"value":[`...)
	b = append(b, items...)
	b = append(b, "]}"...)
	if n, ok := preferMaxPageSize(r); ok {
		w.Header().Set("Preference-Applied", fmt.Sprintf("odata.maxpagesize=%d", n))
	}
	writeOData(w, http.StatusOK, b)
}
