package pbxsim

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Profile names every user has, in 3CX's order (internal names).
var ProfileNames = []string{"Available", "Away", "Out of office", "Custom 1", "Custom 2"}

type memberRec struct {
	id      int32
	groupID int32
	role    string
}

type profileRec struct {
	id    int32
	props map[string]any // ForwardingProfile properties except Id
}

type userRec struct {
	id       int32
	props    map[string]any // Pbx.User properties except navigation properties
	groups   []memberRec
	profiles []profileRec
}

func (u *userRec) number() string { return asString(u.props["Number"]) }
func (u *userRec) email() string  { return asString(u.props["EmailAddress"]) }

type groupRec struct {
	id     int32
	props  map[string]any // Pbx.Group properties except Id and navigation properties
	rights map[string]map[string]any
}

func (g *groupRec) name() string { return asString(g.props["Name"]) }

func (g *groupRec) quota(name string) int {
	p, _ := g.props["Props"].(map[string]any)
	return int(asInt(p[name]))
}

type contactRec struct {
	id    int32
	owner string // extension number for a personal contact; "" for the company phonebook
	props map[string]any
}

// numberedRec is a numbered object other than a user.
type numberedRec struct {
	id    int32
	kind  string // Queue, RingGroup, IVR, Parking, Fax, Trunk, CallFlowApp, ServicePrincipal
	props map[string]any
}

// state is everything the PBX stores.
type state struct {
	nextDN, nextMember, nextProfile, nextContact int32
	users                                        map[int32]*userRec
	groups                                       []*groupRec
	contacts                                     contactIndex
	numbered                                     []*numberedRec
	numbers                                      map[string]string         // number -> kind of owner (Extension, Queue, ...)
	emails                                       map[string]map[int32]bool // lower-case EmailAddress -> user Ids
	userNumbers                                  map[string]int32          // extension number -> user Id
	m365                                         map[string]any
	custom1, custom2                             string
	maxUsers                                     int
}

func newState(maxUsers int) *state {
	st := &state{
		nextDN: 1, nextMember: 1, nextProfile: 1, nextContact: 1,
		users:       map[int32]*userRec{},
		contacts:    newContactIndex(),
		numbers:     map[string]string{},
		emails:      map[string]map[int32]bool{},
		userNumbers: map[string]int32{},
		maxUsers:    maxUsers,
		m365: map[string]any{
			"Id": int64(0), "ApplicationId": "", "TenantId": "",
			"AdUsers": map[string]any{
				"EnableSSO": false, "IsEnabled": false, "IsSyncDepartments": false, "IsSyncDetails": false,
				"IsSyncOfficePhone": false, "IsSyncPhoto": false, "SelectedGroups": []any{}, "SelectedUsers": []any{},
				"SetTeamsPresence": false, "StartingExtensionNumber": "", "StatusSyncConfiguration": nil,
				"SyncEvents": false, "SyncGuestUsers": false, "SyncPersonalContacts": false, "SyncType": "SyncAllUsers",
			},
			"SharedMailboxesSync": map[string]any{"IsEnabled": false, "SelectedUsers": []any{}, "SyncType": "SyncSelected"},
		},
	}
	st.addGroup("DEFAULT", true)
	return st
}

// sortedUsers returns users ordered by Id.
func (st *state) sortedUsers() []*userRec {
	out := make([]*userRec, 0, len(st.users))
	for _, u := range st.users {
		out = append(out, u)
	}
	slices.SortFunc(out, func(a, b *userRec) int { return int(a.id - b.id) })
	return out
}

func (st *state) userByNumber(n string) *userRec {
	id, ok := st.userNumbers[n]
	if !ok {
		return nil
	}
	return st.users[id]
}

// emailOwner returns a user other than except whose EmailAddress equals
// email case-insensitively.
func (st *state) emailOwner(email string, except int32) *userRec {
	if email == "" {
		return nil
	}
	var best *userRec
	for id := range st.emails[strings.ToLower(email)] {
		if id != except && (best == nil || id < best.id) {
			best = st.users[id]
		}
	}
	return best
}

// indexUser adds (on) or removes (off) a user's EmailAddress in the index.
func (st *state) indexUser(u *userRec, on bool) {
	key := strings.ToLower(u.email())
	if key == "" {
		return
	}
	set := st.emails[key]
	if on {
		if set == nil {
			set = map[int32]bool{}
			st.emails[key] = set
		}
		set[u.id] = true
		return
	}
	delete(set, u.id)
	if len(set) == 0 {
		delete(st.emails, key)
	}
}

func (st *state) defaultGroup() *groupRec {
	for _, g := range st.groups {
		if asBool(g.props["IsDefault"]) {
			return g
		}
	}
	return st.groups[0]
}

func (st *state) groupByID(id int32) *groupRec {
	for _, g := range st.groups {
		if g.id == id {
			return g
		}
	}
	return nil
}

func (st *state) groupByName(name string) *groupRec {
	for _, g := range st.groups {
		if strings.EqualFold(g.name(), name) {
			return g
		}
	}
	return nil
}

func (st *state) addGroup(name string, isDefault bool) *groupRec {
	g := &groupRec{id: st.nextDN, props: map[string]any{
		"Number": fmt.Sprintf("GRP%04d", len(st.groups)), "Name": name, "IsDefault": isDefault,
		"Language": "EN", "TimeZoneId": "51", "AllowCallService": true, "DisableCustomPrompt": false,
		"GloballyVisible": false, "HasMembers": false,
		"Props": map[string]any{
			"PersonalContactsMaxCount": int64(0), "DepartmentContactsMaxCount": int64(0),
			"UserNumberFrom": nil, "UserNumberTo": nil,
		},
	}, rights: defaultRights()}
	st.nextDN++
	st.groups = append(st.groups, g)
	return g
}

// defaultRights are the role definitions a new department gets (the flag
// values are the simulator's choice; only RoleName matters to clients).
func defaultRights() map[string]map[string]any {
	out := map[string]map[string]any{}
	for rank, role := range roleNames {
		r := map[string]any{"RoleName": role}
		for _, f := range []string{"AllowIVR", "AllowParking", "AllowToChangePresence", "AllowToManageCompanyBook",
			"AssignClearOperations", "CanBargeIn", "CanIntercom", "CanSeeGroupCalls", "CanSeeGroupMembers",
			"CanSeeGroupRecordings", "Invalid", "PerformOperations", "ShowMyCalls", "ShowMyPresence", "ShowMyPresenceOutside"} {
			r[f] = false
		}
		r["ShowMyPresence"] = true
		r["CanSeeGroupMembers"] = true
		if rank >= 1 { // receptionists and up
			for _, f := range []string{"AllowToChangePresence", "PerformOperations", "AllowParking", "ShowMyCalls"} {
				r[f] = true
			}
		}
		if rank >= 3 { // managers and up
			for _, f := range []string{"CanSeeGroupCalls", "CanSeeGroupRecordings", "CanBargeIn", "CanIntercom",
				"AllowToManageCompanyBook", "AllowIVR", "AssignClearOperations", "ShowMyPresenceOutside"} {
				r[f] = true
			}
		}
		out[role] = r
	}
	return out
}

// firstFreeNumber is the lowest free number of at least 3 digits, from 100.
func (st *state) firstFreeNumber() (string, bool) {
	for n := 100; n < 100000; n++ {
		s := strconv.Itoa(n)
		if _, taken := st.numbers[s]; !taken {
			return s, true
		}
	}
	return "", false
}

// newUserRec builds a user with 3CX's defaults for a create.
func (st *state) newUserRec(number string) *userRec {
	u := &userRec{id: st.nextDN, props: map[string]any{
		"Id": int64(st.nextDN), "Number": number, "FirstName": "", "LastName": "", "EmailAddress": "", "Mobile": "",
		"OutboundCallerID": "", "DisplayName": "", "Enabled": true, "Internal": false, "HideInPhonebook": false,
		"Language": "EN", "CurrentProfileName": "Available", "QueueStatus": "LoggedOut",
		"VMEnabled": true, "VMEmailOptions": "Notification", "VMPlayCallerID": true, "VMPlayMsgDateTime": "Play24Hr",
		"VMDisablePinAuth": false, "SendEmailMissedCalls": true, "Require2FA": false, "Enable2FA": false,
		"RecordCalls": false, "RecordExternalCallsOnly": false, "RecordEmailNotify": false, "AllowOwnRecordings": false,
		"ForbidRecording": false, "MS365SignInEnabled": false, "MS365ContactsEnabled": false,
		"MS365CalendarEnabled": false, "MS365TeamsEnabled": false, "GoogleSignInEnabled": false,
		"GoogleContactsEnabled": false, "GoogleCalendarEnabled": false, "DatevEnabled": false,
		"EnableHotdesking": false, "HotdeskingAssignment": "", "IsRegistered": false, "PinProtected": false,
		"PinProtectTimeout": int64(0), "AllowLanOnly": false, "BlockTunnel": false, "AIAgent": false,
		"CallScreening": false, "PbxDeliversAudio": false, "MyPhonePush": true, "MyPhoneHideForwardings": false,
		"MyPhoneShowRecordings": false, "MyPhoneAllowDeleteRecordings": false, "SRTPMode": "SRTPDisabled",
		"TranscriptionMode": "Inherit", "CallUsRequirement": "Both", "CallUsEnableChat": false,
		"CallUsEnablePhone": false, "CallUsEnableVideo": false, "WebMeetingApproveParticipants": false,
		"ContactImage": "", "Tags": []any{}, "OfficeHoursProps": []any{},
	}}
	st.nextDN++
	// Deterministic credentials derived from the number, so runs compare equal.
	sum := sha256.Sum256([]byte("pbxsim/" + number))
	h := hex.EncodeToString(sum[:])
	u.props["AuthID"] = h[:10]
	u.props["AuthPassword"] = h[10:20]
	u.props["AccessPassword"] = h[20:32]
	u.props["DeskphonePassword"] = h[32:40]
	pin := 0
	for _, b := range sum[20:24] {
		pin = pin*256 + int(b)
	}
	u.props["VMPIN"] = fmt.Sprintf("%04d", pin%10000)
	for _, name := range ProfileNames {
		p := map[string]any{
			"Name": name, "CustomName": nil, "CustomMessage": nil, "AcceptMultipleCalls": true, "BlockPushCalls": false,
			"DisableRingGroupCalls": false, "NoAnswerTimeout": int64(20), "OfficeHoursAutoQueueLogOut": false,
			"RingMyMobile": false, "AvailableRoute": nil, "AwayRoute": nil,
		}
		switch name {
		case "Custom 1":
			if st.custom1 != "" {
				p["CustomName"] = st.custom1
			}
		case "Custom 2":
			if st.custom2 != "" {
				p["CustomName"] = st.custom2
			}
		}
		u.profiles = append(u.profiles, profileRec{id: st.nextProfile, props: p})
		st.nextProfile++
	}
	return u
}

func displayName(first, last string) string {
	return strings.TrimSpace(strings.TrimSpace(first) + " " + strings.TrimSpace(last))
}

func memberName(u *userRec) string {
	first, last := asString(u.props["FirstName"]), asString(u.props["LastName"])
	switch {
	case first != "" && last != "":
		return last + ", " + first
	default:
		return first + last
	}
}

// primaryGroup is the user's PrimaryGroupId group, else its first membership.
func (st *state) primaryGroup(u *userRec) *groupRec {
	if id := int32(asInt(u.props["PrimaryGroupId"])); id != 0 {
		if g := st.groupByID(id); g != nil {
			return g
		}
	}
	if len(u.groups) > 0 {
		return st.groupByID(u.groups[0].groupID)
	}
	return st.defaultGroup()
}

func (st *state) groupHasMembers(id int32) bool {
	for _, u := range st.users {
		for _, m := range u.groups {
			if m.groupID == id {
				return true
			}
		}
	}
	return false
}

// --- wire forms ---

// wire renders stored props as the full property set of sc (null for
// missing), with Id set.
func wire(sc *schema, id int32, props map[string]any) map[string]any {
	out := make(map[string]any, len(sc.props))
	for _, n := range sc.names() {
		if v, ok := props[n]; ok {
			out[n] = deepCopy(v)
		} else {
			out[n] = nil
		}
	}
	if _, ok := sc.props["Id"]; ok {
		out["Id"] = int64(id)
	}
	return out
}

func (st *state) membershipWire(u *userRec, m memberRec, q *queryOpts) map[string]any {
	g := st.groupByID(m.groupID)
	row := map[string]any{
		"Id": int64(m.id), "GroupId": int64(m.groupID), "Name": g.name(), "Number": u.number(),
		"MemberName": memberName(u), "Type": "Extension", "CanDelete": true, "Tags": []any{},
		"TranscriptionMode": nil,
	}
	if q.isExpanded("Rights") {
		row["Rights"] = deepCopy(g.rights[m.role])
	}
	if q.isExpanded("GroupRights") {
		row["GroupRights"] = deepCopy(g.rights[m.role])
	}
	return project(row, q.selectsOrNil(), q)
}

func (q *queryOpts) selectsOrNil() []string {
	if q == nil {
		return nil
	}
	return q.selects
}

func (st *state) userWire(u *userRec, q *queryOpts) map[string]any {
	row := wire(userSchema, u.id, u.props)
	if sub := q.expanded("Groups"); q.isExpanded("Groups") {
		list := []any{}
		for _, m := range u.groups {
			list = append(list, st.membershipWire(u, m, sub))
		}
		row["Groups"] = list
	}
	if sub := q.expanded("ForwardingProfiles"); q.isExpanded("ForwardingProfiles") {
		list := []any{}
		for _, p := range u.profiles {
			list = append(list, project(wire(forwardingProfileSchema, p.id, p.props), sub.selectsOrNil(), sub))
		}
		row["ForwardingProfiles"] = list
	}
	for _, n := range []string{"ForwardingExceptions", "Greetings", "Phones"} {
		if q.isExpanded(n) {
			row[n] = []any{}
		}
	}
	return row
}

func (st *state) groupWire(g *groupRec, q *queryOpts) map[string]any {
	row := wire(groupSchema, g.id, g.props)
	row["HasMembers"] = st.groupHasMembers(g.id)
	if sub := q.expanded("Members"); q.isExpanded("Members") {
		row["Members"] = st.groupMembers(g, sub)
	}
	if sub := q.expanded("Rights"); q.isExpanded("Rights") {
		row["Rights"] = rightsList(g, sub)
	}
	if q.isExpanded("OfficeHolidays") {
		row["OfficeHolidays"] = []any{}
	}
	return row
}

func rightsList(g *groupRec, q *queryOpts) []any {
	list := []any{}
	for _, role := range roleNames {
		list = append(list, project(deepCopy(g.rights[role]).(map[string]any), q.selectsOrNil(), q))
	}
	return list
}

func (st *state) groupMembers(g *groupRec, q *queryOpts) []any {
	list := []any{}
	for _, u := range st.sortedUsers() {
		for _, m := range u.groups {
			if m.groupID == g.id {
				list = append(list, st.membershipWire(u, m, q))
			}
		}
	}
	return list
}
