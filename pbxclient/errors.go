package pbxclient

import (
	"encoding/json"
	"net/http"
	"strings"
)

// odataError is 3CX's error body:
// {"error":{"code":"","message":"Number:\nWARNINGS.XAPI.ALREADY_IN_USE",
// "details":[{"code":"","message":"WARNINGS.XAPI.ALREADY_IN_USE","target":"Number"}]}}
type odataError struct {
	Error json.RawMessage `json:"error"`
}

type odataMainError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Target  string `json:"target"`
	Details []struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Target  string `json:"target"`
	} `json:"details"`
}

// parseError turns a refused call into *Error with its kind, the field 3CX
// named and its warning key.
func parseError(op string, status int, body []byte) *Error {
	e := &Error{Op: op, Status: status}
	var env odataError
	if json.Unmarshal(body, &env) == nil && len(env.Error) > 0 {
		var me odataMainError
		if json.Unmarshal(env.Error, &me) == nil {
			e.Message = me.Message
			e.Field = me.Target
			for _, d := range me.Details {
				if e.Field == "" && d.Target != "" {
					e.Field = d.Target
				}
				if e.Warning == "" && isWarningKey(d.Message) {
					e.Warning = d.Message
				}
			}
			// The message is "<Field>:\n<WARNING_KEY>" when details are absent.
			if field, key, ok := strings.Cut(me.Message, ":\n"); ok {
				if e.Field == "" && !strings.ContainsAny(field, " \n") {
					e.Field = field
				}
				if e.Warning == "" && isWarningKey(strings.TrimSpace(key)) {
					e.Warning = strings.TrimSpace(key)
				}
			}
			if e.Warning == "" && isWarningKey(strings.TrimSpace(me.Message)) {
				e.Warning = strings.TrimSpace(me.Message)
			}
			if e.Warning == "" && isWarningKey(me.Code) {
				e.Warning = me.Code
			}
		} else {
			// e.g. /connect/token's {"error":"unauthorized","error_description":...}
			var s string
			if json.Unmarshal(env.Error, &s) == nil {
				e.Message = s
			}
		}
	} else if len(body) > 0 {
		e.Message = snippet(body)
	}
	e.Kind = kindOf(status, e.Warning)
	return e
}

func isWarningKey(s string) bool { return strings.HasPrefix(s, "WARNINGS.") }

// kindOf maps an HTTP status and 3CX warning key to an error kind.
func kindOf(status int, warning string) error {
	w := strings.ToUpper(warning)
	switch {
	case status == http.StatusUnauthorized:
		return ErrAuth
	case status == http.StatusForbidden:
		return ErrForbidden
	case status == http.StatusNotFound:
		return ErrNotFound
	case status >= 500 || status == http.StatusTooManyRequests:
		return ErrUnavailable
	case strings.HasSuffix(w, ".ALREADY_IN_USE") || strings.HasSuffix(w, ".DUPLICATE"):
		return ErrAlreadyInUse
	case strings.HasSuffix(w, ".FORBIDDEN_CHANGE") || strings.HasSuffix(w, ".USER_ROLE_DOWNGRADE"):
		return ErrForbiddenChange
	case strings.HasSuffix(w, "LIMIT_REACHED"):
		return ErrLimitReached
	case strings.HasSuffix(w, ".NOT_FOUND"):
		return ErrNotFound
	case status == http.StatusConflict:
		return ErrAlreadyInUse
	}
	return ErrValidation
}
