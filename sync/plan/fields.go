package plan

import (
	"strconv"
	"strings"
	"sync"

	"github.com/nyaruka/phonenumbers"
	"github.com/pbx365/pbx365/graphclient"
	"github.com/pbx365/pbx365/pbxclient"
)

// Field names of FieldChange, in the order a change lists them.
const (
	FieldFirstName        = "FirstName"
	FieldLastName         = "LastName"
	FieldEmailAddress     = "EmailAddress"
	FieldMobile           = "Mobile"
	FieldOutboundCallerID = "OutboundCallerID"
	FieldEnabled          = "Enabled"
	FieldDepartment       = "Department"
	FieldSSO              = "MS365SignInEnabled"
	FieldPhoto            = "Photo"
)

// desired computes the owned fields of PRODUCT.md for one directory user.
// photo is the user's photo etag and hasPhoto whether it is known (Photos on
// and the engine read it).
func desired(u *graphclient.User, s *settings, photo string, hasPhoto bool) *Desired {
	d := &Desired{
		FirstName:    firstName(u),
		LastName:     lastName(u),
		EmailAddress: email(u),
		Mobile:       phoneE164(u.MobilePhone, s.PhoneRegion),
		Enabled:      true,
		Department:   s.Department,
		SetSSO:       true,
	}
	if s.CallerID {
		for _, p := range u.BusinessPhones {
			if p = strings.TrimSpace(p); p != "" {
				d.OutboundCallerID, d.SetCallerID = phoneE164(p, s.PhoneRegion), true
				break
			}
		}
	}
	// pbx365 owns the switch: with SSO off it is put back to false.
	d.MS365SignInEnabled = s.SSOEnabled && (s.SSOUsers == "all" ||
		s.ssoSelected[strings.ToLower(u.ID)] || s.ssoSelected[strings.ToLower(u.UserPrincipalName)])
	if hasPhoto {
		d.PhotoETag = photo
	}
	return d
}

// firstName: givenName, else the first word of displayName, else the local
// part of the UPN.
func firstName(u *graphclient.User) string {
	if g := strings.TrimSpace(u.GivenName); g != "" {
		return g
	}
	if w := strings.Fields(u.DisplayName); len(w) > 0 {
		return w[0]
	}
	local, _, _ := strings.Cut(strings.TrimSpace(u.UserPrincipalName), "@")
	return local
}

// lastName: surname, else the words of displayName after the first.
func lastName(u *graphclient.User) string {
	if s := strings.TrimSpace(u.Surname); s != "" {
		return s
	}
	if w := strings.Fields(u.DisplayName); len(w) > 1 {
		return strings.Join(w[1:], " ")
	}
	return ""
}

// email: mail, else UPN, as the directory spells it.
func email(u *graphclient.User) string {
	if m := strings.TrimSpace(u.Mail); m != "" {
		return m
	}
	return strings.TrimSpace(u.UserPrincipalName)
}

// phoneCache memoizes phoneE164: parsing is by far the planner's largest
// cost (the library runs several regular expressions per number), and the
// same numbers come back on every run of the service. The function is pure, so
// the cache does not change any result. It is emptied when it grows past
// phoneCacheMax entries.
var phoneCache = struct {
	sync.Mutex
	m map[string]string
}{m: map[string]string{}}

const phoneCacheMax = 1 << 18

// phoneE164 returns p in E.164 when it parses as a possible number (numbers
// without a country code read in region), else p as given (trimmed): a number
// pbx365 cannot read is still better on the PBX than nothing.
func phoneE164(p, region string) string {
	p = strings.TrimSpace(p)
	if p == "" {
		return ""
	}
	k := region + "\x00" + p
	phoneCache.Lock()
	out, ok := phoneCache.m[k]
	phoneCache.Unlock()
	if ok {
		return out
	}
	out = parsePhone(p, region)
	phoneCache.Lock()
	if len(phoneCache.m) >= phoneCacheMax {
		clear(phoneCache.m)
	}
	phoneCache.m[k] = out
	phoneCache.Unlock()
	return out
}

func parsePhone(p, region string) (out string) {
	defer func() {
		// The library is not ours: whatever it does with odd input, the planner
		// must not panic. Keep the number as given.
		if recover() != nil {
			out = p
		}
	}()
	n, err := phonenumbers.Parse(p, region)
	if err != nil || !phonenumbers.IsPossibleNumber(n) {
		return p
	}
	return phonenumbers.Format(n, phonenumbers.E164)
}

// hasDepartment reports whether the extension is in the department (any role:
// a higher role is never lowered; name compared case-insensitively).
func hasDepartment(x *pbxclient.User, dept string) bool {
	for _, g := range x.Groups {
		if strings.EqualFold(strings.TrimSpace(g.GroupName), dept) {
			return true
		}
	}
	return false
}

// diff lists the owned fields where the extension x differs from d, in field
// order. x nil means a new extension (every field from empty). linkPhoto is the
// photo etag last written.
func diff(x *pbxclient.User, d *Desired, linkPhoto string, hasPhoto bool) []FieldChange {
	var cur pbxclient.User
	inDept := false
	if x != nil {
		cur = *x
		inDept = hasDepartment(x, d.Department)
	}
	var fs []FieldChange
	str := func(name, old, new string) {
		if old != new {
			fs = append(fs, FieldChange{Field: name, Old: old, New: new})
		}
	}
	boolean := func(name string, old, new bool) {
		o := strconv.FormatBool(old)
		if x == nil {
			o = ""
		}
		str(name, o, strconv.FormatBool(new))
	}
	str(FieldFirstName, cur.FirstName, d.FirstName)
	str(FieldLastName, cur.LastName, d.LastName)
	str(FieldEmailAddress, cur.EmailAddress, d.EmailAddress)
	str(FieldMobile, cur.Mobile, d.Mobile)
	if d.SetCallerID {
		str(FieldOutboundCallerID, cur.OutboundCallerID, d.OutboundCallerID)
	}
	boolean(FieldEnabled, cur.Enabled, d.Enabled)
	if !inDept {
		str(FieldDepartment, "", d.Department)
	}
	boolean(FieldSSO, cur.MS365SignInEnabled, d.MS365SignInEnabled)
	if hasPhoto {
		str(FieldPhoto, linkPhoto, d.PhotoETag)
	}
	return fs
}

// hasField reports whether fs changes the named field.
func hasField(fs []FieldChange, name string) bool {
	for _, f := range fs {
		if f.Field == name {
			return true
		}
	}
	return false
}
