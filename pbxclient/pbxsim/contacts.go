package pbxsim

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
)

// phoneFields are the Pbx.Contact fields that hold a phone number.
var phoneFields = []string{"PhoneNumber", "Mobile2", "Home", "Business", "Business2", "BusinessFax", "Other", "Pager"}

func (s *Sim) serveContacts(c *reqCtx, segs []segment) *apiError {
	st := s.st
	m := c.r.Method
	switch {
	case len(segs) == 1 && !segs[0].hasArgs:
		return c.serveCollection(entitySet{name: "Contacts", sc: contactSchema, rows: st.contactRows(""),
			create: func(body map[string]json.RawMessage) (map[string]any, *apiError) {
				ct, e := st.createContact(body, "")
				if e != nil {
					return nil, e
				}
				return wire(contactSchema, ct.id, ct.props), nil
			}})
	case len(segs) == 1:
		id, e := parseIDKey(segs[0].args)
		if e != nil {
			return e
		}
		ct := st.contacts.get(id)
		if ct == nil {
			return notFound()
		}
		return c.serveEntity(entityOps{set: "Contacts", sc: contactSchema,
			row:   func(*queryOpts) map[string]any { return wire(contactSchema, ct.id, ct.props) },
			patch: func(body map[string]json.RawMessage) *apiError { return st.patchContact(ct, body) },
			del: func() *apiError {
				st.contacts.remove(ct.id)
				return nil
			}})
	case len(segs) == 2 && !segs[0].hasArgs:
		switch segs[1].name {
		case "Pbx.DeleteContactsById":
			ids, e := c.actionIDs(segs[1])
			if e != nil {
				return e
			}
			st.contacts.remove(ids...)
			c.w.WriteHeader(http.StatusNoContent)
			return nil
		case "Pbx.GetContactsByNumber":
			if !segs[1].hasArgs {
				return notFound()
			}
			args, e := parseFuncArgs(segs[1].args, "number")
			if e != nil {
				return e
			}
			if m != http.MethodGet {
				return methodNotAllowed(c.w, "GET")
			}
			if st.userByNumber(args["number"]) == nil {
				return warning(http.StatusBadRequest, "number", WarnNonExistentExt)
			}
			return c.serveCollection(entitySet{name: "Collection(Pbx.Contact)", sc: contactSchema, rows: st.contactRows(args["number"])})
		case "Pbx.CreateContactByNumber":
			if segs[1].hasArgs {
				return notFound()
			}
			if m != http.MethodPost {
				return methodNotAllowed(c.w, "POST")
			}
			p, e := actionParams(c, "contact", "number")
			if e != nil {
				return e
			}
			var number string
			if p["number"] == nil || json.Unmarshal(p["number"], &number) != nil || number == "" {
				return warning(http.StatusBadRequest, "number", WarnRequired)
			}
			if st.userByNumber(number) == nil {
				return warning(http.StatusBadRequest, "number", WarnNonExistentExt)
			}
			if p["contact"] == nil {
				return warning(http.StatusBadRequest, "contact", WarnRequired)
			}
			obj, e := decodeObject(p["contact"])
			if e != nil {
				return e
			}
			ct, e := st.createContact(obj, number)
			if e != nil {
				return e
			}
			c.entity(http.StatusOK, "Contacts/$entity", nil, wire(contactSchema, ct.id, ct.props))
			return nil
		}
	}
	return &apiError{status: http.StatusNotFound, empty: true}
}

// contactRows lists the contacts of one owner ("" = company phonebook).
// Only the rows of the page are rendered.
func (st *state) contactRows(owner string) func(*queryOpts) []row {
	return func(*queryOpts) []row {
		owned := st.contacts.owned(owner)
		rows := make([]row, 0, len(owned))
		for _, ct := range owned {
			rows = append(rows, row{view: ct.props, render: func() map[string]any { return wire(contactSchema, ct.id, ct.props) }})
		}
		return rows
	}
}

// patchContact applies a partial update; the result must still be valid.
func (st *state) patchContact(ct *contactRec, body map[string]json.RawMessage) *apiError {
	vals, e := contactSchema.decode(body)
	if e != nil {
		return e
	}
	if id, ok := vals["Id"]; ok && int32(asInt(id)) != ct.id {
		return warning(http.StatusBadRequest, "Id", WarnForbiddenChange)
	}
	delete(vals, "Id")
	props := deepCopy(ct.props).(map[string]any)
	mergeInto(props, vals)
	if e := validateContact(props); e != nil {
		return e
	}
	ct.props = props
	return nil
}

// validateContact applies 3CX's phonebook rules: a first name, last name or
// company, and at least one phone number.
func validateContact(p map[string]any) *apiError {
	if strings.TrimSpace(asString(p["FirstName"])) == "" && strings.TrimSpace(asString(p["LastName"])) == "" &&
		strings.TrimSpace(asString(p["CompanyName"])) == "" {
		return warning(http.StatusBadRequest, "FirstName", WarnContactName)
	}
	if !slices.ContainsFunc(phoneFields, func(f string) bool { return strings.TrimSpace(asString(p[f])) != "" }) {
		return warning(http.StatusBadRequest, "PhoneNumber", WarnContactPhone)
	}
	return nil
}

// createContact adds a company contact (owner "") or a personal contact of
// the extension owner, within the department's quota: the default
// department's DepartmentContactsMaxCount for the company phonebook, the
// owner's primary department's PersonalContactsMaxCount for a personal one
// (0 means no limit).
func (st *state) createContact(body map[string]json.RawMessage, owner string) (*contactRec, *apiError) {
	vals, e := contactSchema.decode(body)
	if e != nil {
		return nil, e
	}
	if id, ok := vals["Id"]; ok && asInt(id) != 0 {
		return nil, warning(http.StatusBadRequest, "Id", WarnInvalid)
	}
	delete(vals, "Id")
	if v, ok := vals["ContactType"]; !ok || v == nil {
		vals["ContactType"] = "3CX"
	}
	if e := validateContact(vals); e != nil {
		return nil, e
	}
	limit := st.defaultGroup().quota("DepartmentContactsMaxCount")
	if owner != "" {
		limit = st.primaryGroup(st.userByNumber(owner)).quota("PersonalContactsMaxCount")
	}
	if limit > 0 {
		if len(st.contacts.owned(owner)) >= limit {
			return nil, warning(http.StatusBadRequest, "", WarnLimitReached)
		}
	}
	vals["Id"] = int64(st.nextContact) // kept in props for $filter and $orderby
	ct := &contactRec{id: st.nextContact, owner: owner, props: vals}
	st.nextContact++
	st.contacts.add(ct)
	return ct, nil
}
