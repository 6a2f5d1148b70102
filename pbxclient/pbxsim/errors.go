package pbxsim

import (
	"net/http"
)

// 3CX warning keys (values of the Pbx.Warnings enum) the simulator emits.
const (
	WarnAlreadyInUse      = "WARNINGS.XAPI.ALREADY_IN_USE"
	WarnForbiddenChange   = "WARNINGS.XAPI.FORBIDDEN_CHANGE"
	WarnNotFound          = "WARNINGS.XAPI.NOT_FOUND"
	WarnRequired          = "WARNINGS.XAPI.REQUIRED"
	WarnDuplicate         = "WARNINGS.XAPI.DUPLICATE"
	WarnInvalid           = "WARNINGS.INVALID"
	WarnInvalidPIN        = "WARNINGS.XAPI.INVALID_PIN_NUMBER"
	WarnLimitReached      = "WARNINGS.LIMIT_REACHED"
	WarnNoMoreNumbers     = "WARNINGS.NO_MORE_NUMBERS_AVAILABLE"
	WarnContactName       = "WARNINGS.CONTACTS_SPECIFY_NAME_SURNAME_COMPANY"
	WarnContactPhone      = "WARNINGS.CONTACTS_SPECIFY_PHONE_NUMBER"
	WarnGroupHasMembers   = "WARNINGS.GROUP_WITH_MEMBERS_CANNOT_BE_DELETED"
	WarnGroupCannotDelete = "WARNINGS.GROUP_CANNOT_BE_DELETED"
	WarnNonExistentExt    = "WARNINGS.XAPI.NON_EXISTENT_EXT_NUMBER"
	WarnEmptyString       = "WARNINGS.XAPI.CAN_NOT_BE_EMPTY_STRING"
)

// errorDetail is one entry of MainError.details.
type errorDetail struct {
	Code    string  `json:"code"`
	Message string  `json:"message"`
	Target  *string `json:"target"`
}

// apiError is a failed XAPI call, written as Pbx.ODataErrors.ODataError.
type apiError struct {
	status  int
	message string
	details []errorDetail
	empty   bool // write no body at all
}

// warning is 3CX's validation error for one field:
// {"error":{"code":"","message":"<Field>:\n<KEY>","details":[{"code":"","message":"<KEY>","target":"<Field>"}]}}.
func warning(status int, field, key string) *apiError {
	if field == "" {
		return &apiError{status: status, message: key, details: []errorDetail{{Message: key}}}
	}
	return &apiError{status: status, message: field + ":\n" + key, details: []errorDetail{{Message: key, Target: strPtr(field)}}}
}

func notFound() *apiError { return warning(http.StatusNotFound, "", WarnNotFound) }

// queryError is the 400 for an invalid URI (query options, keys, functions).
func queryError(detail string) *apiError {
	return &apiError{status: http.StatusBadRequest, message: "The query specified in the URI is not valid. " + detail}
}

func writeError(w http.ResponseWriter, e *apiError) {
	if e.empty {
		w.WriteHeader(e.status)
		return
	}
	var body struct {
		Error struct {
			Code    string        `json:"code"`
			Message string        `json:"message"`
			Details []errorDetail `json:"details"`
		} `json:"error"`
	}
	body.Error.Message = e.message
	body.Error.Details = nonNilDetails(e.details)
	writeJSON(w, e.status, body)
}

func nonNilDetails(d []errorDetail) []errorDetail {
	if d == nil {
		return []errorDetail{}
	}
	return d
}

// writeJSON writes an OData JSON response.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("OData-Version", "4.0")
	writeJSONAs(w, status, v, "application/json; odata.metadata=minimal; odata.streaming=true; charset=utf-8")
}

// writeJSONAs writes v as JSON with the given Content-Type.
func writeJSONAs(w http.ResponseWriter, status int, v any, contentType string) {
	data, err := appendJSON(nil, v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = w.Write(data)
}
