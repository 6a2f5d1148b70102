package pbxsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
)

// User is a PBX extension as the simulator stores it (inspection and seeding).
type User struct {
	ID                   int32        `json:"id"`
	Number               string       `json:"number"`
	FirstName            string       `json:"first_name"`
	LastName             string       `json:"last_name"`
	DisplayName          string       `json:"display_name,omitempty"`
	EmailAddress         string       `json:"email"`
	Mobile               string       `json:"mobile,omitempty"`
	OutboundCallerID     string       `json:"outbound_caller_id,omitempty"`
	Enabled              bool         `json:"enabled"`
	MS365SignInEnabled   bool         `json:"ms365_sign_in,omitempty"`
	MS365ContactsEnabled bool         `json:"ms365_contacts,omitempty"`
	MS365CalendarEnabled bool         `json:"ms365_calendar,omitempty"`
	MS365TeamsEnabled    bool         `json:"ms365_teams,omitempty"`
	CurrentProfileName   string       `json:"current_profile,omitempty"`
	ContactImage         string       `json:"contact_image,omitempty"`
	Tags                 []string     `json:"tags,omitempty"`
	PrimaryGroupID       int32        `json:"primary_group_id,omitempty"`
	Groups               []Membership `json:"groups,omitempty"`
	Profiles             []Profile    `json:"profiles,omitempty"`
	// Other holds every other stored Pbx.User property as JSON, by name.
	Other map[string]string `json:"other,omitempty"`
}

// Membership is a user's membership of a department with a role.
type Membership struct {
	ID        int32  `json:"id"`
	GroupID   int32  `json:"group_id"`
	GroupName string `json:"group_name"`
	Role      string `json:"role"`
}

// Profile is a forwarding profile (status) of a user.
type Profile struct {
	ID         int32  `json:"id"`
	Name       string `json:"name"`
	CustomName string `json:"custom_name,omitempty"`
}

// Department is a 3CX department (Pbx.Group).
type Department struct {
	ID                         int32  `json:"id"`
	Number                     string `json:"number"`
	Name                       string `json:"name"`
	IsDefault                  bool   `json:"is_default"`
	PersonalContactsMaxCount   int    `json:"personal_contacts_max"`
	DepartmentContactsMaxCount int    `json:"department_contacts_max"`
}

// Contact is a phonebook entry; Owner is the extension number of a personal
// contact, empty for the company phonebook.
type Contact struct {
	ID          int32  `json:"id"`
	Owner       string `json:"owner,omitempty"`
	FirstName   string `json:"first_name,omitempty"`
	LastName    string `json:"last_name,omitempty"`
	CompanyName string `json:"company,omitempty"`
	Title       string `json:"title,omitempty"`
	Department  string `json:"department,omitempty"`
	Email       string `json:"email,omitempty"`
	PhoneNumber string `json:"phone,omitempty"`
	Mobile2     string `json:"mobile2,omitempty"`
	Home        string `json:"home,omitempty"`
	Business    string `json:"business,omitempty"`
	Business2   string `json:"business2,omitempty"`
	BusinessFax string `json:"business_fax,omitempty"`
	Other       string `json:"other,omitempty"`
	Pager       string `json:"pager,omitempty"`
	Tag         string `json:"tag,omitempty"`
	ContactType string `json:"contact_type,omitempty"`
}

// M365Settings is the PBX's Microsoft365Integration.
type M365Settings struct {
	TenantID                string   `json:"tenant_id"`
	ApplicationID           string   `json:"application_id"`
	UserSyncEnabled         bool     `json:"user_sync_enabled"` // AdUsers.IsEnabled
	SSOEnabled              bool     `json:"sso_enabled"`       // AdUsers.EnableSSO
	SyncType                string   `json:"sync_type"`         // AdUsers.SyncType
	SelectedUsers           []string `json:"selected_users,omitempty"`
	StartingExtensionNumber string   `json:"starting_extension_number,omitempty"`
	SharedMailboxesEnabled  bool     `json:"shared_mailboxes_enabled"`
	SharedMailboxes         []string `json:"shared_mailboxes,omitempty"`
}

// Numbered is an object other than a user that takes a number: a queue,
// ring group, IVR, parking, fax, trunk, call flow app or the API client
// (service principal).
type Numbered struct {
	ID     int32  `json:"id"`
	Kind   string `json:"kind"` // Queue, RingGroup, IVR, Parking, Fax, Trunk, CallFlowApp, ServicePrincipal
	Number string `json:"number"`
	Name   string `json:"name"`
}

func toErr(e *apiError) error {
	if e == nil {
		return nil
	}
	return fmt.Errorf("pbxsim: %s", strings.ReplaceAll(e.message, "\n", " "))
}

func rawBody(fields map[string]any) (map[string]json.RawMessage, error) {
	out := map[string]json.RawMessage{}
	for k, v := range fields {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("pbxsim: field %s: %w", k, err)
		}
		out[k] = b
	}
	return out, nil
}

// AddUser seeds a pre-existing extension with the fields of u (Enabled is
// taken literally; an empty Number takes the first free one; Groups name
// departments by GroupID or GroupName, none means DEFAULT as users; Other
// adds raw Pbx.User properties). Number must be free and valid; unlike the
// API, EmailAddress may duplicate another user's, as imported data can.
func (s *Sim) AddUser(u User) (int32, error) {
	fields := map[string]any{
		"FirstName": u.FirstName, "LastName": u.LastName, "EmailAddress": u.EmailAddress,
		"Mobile": u.Mobile, "OutboundCallerID": u.OutboundCallerID, "Enabled": u.Enabled,
		"MS365SignInEnabled": u.MS365SignInEnabled, "MS365ContactsEnabled": u.MS365ContactsEnabled,
		"MS365CalendarEnabled": u.MS365CalendarEnabled, "MS365TeamsEnabled": u.MS365TeamsEnabled,
		"ContactImage": u.ContactImage,
	}
	if u.Number != "" {
		fields["Number"] = u.Number
	}
	if u.CurrentProfileName != "" {
		fields["CurrentProfileName"] = u.CurrentProfileName
	}
	if u.Tags != nil {
		fields["Tags"] = u.Tags
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var groups []any
	for _, m := range u.Groups {
		id := m.GroupID
		if id == 0 {
			g := s.st.groupByName(m.GroupName)
			if g == nil {
				return 0, fmt.Errorf("pbxsim: add user %s: no department %q", u.Number, m.GroupName)
			}
			id = g.id
		}
		role := m.Role
		if role == "" {
			role = "users"
		}
		groups = append(groups, map[string]any{"GroupId": id, "Rights": map[string]any{"RoleName": role}})
	}
	if groups != nil {
		fields["Groups"] = groups
	}
	if u.PrimaryGroupID != 0 {
		fields["PrimaryGroupId"] = u.PrimaryGroupID
	}
	body, err := rawBody(fields)
	if err != nil {
		return 0, err
	}
	for k, v := range u.Other {
		body[k] = json.RawMessage(v)
	}
	rec, e := s.st.createUser(body, true)
	if e != nil {
		return 0, fmt.Errorf("add user %q: %w", u.Number, toErr(e))
	}
	for _, p := range u.Profiles {
		i := slices.IndexFunc(rec.profiles, func(r profileRec) bool { return r.props["Name"] == p.Name })
		if i < 0 {
			return rec.id, fmt.Errorf("pbxsim: add user %s: no profile %q (one of %s)", rec.number(), p.Name, strings.Join(ProfileNames, ", "))
		}
		if p.CustomName != "" {
			rec.profiles[i].props["CustomName"] = p.CustomName
		}
	}
	return rec.id, nil
}

// SeedExtensions adds n enabled extensions with the first free numbers. The
// first len(matchEmails) of them get those addresses in another letter case
// (upper case, or lower case when already upper), the rest
// seed<N>@pbx.example. It returns their Ids.
func (s *Sim) SeedExtensions(n int, matchEmails ...string) ([]int32, error) {
	var ids []int32
	for i := range n {
		email := fmt.Sprintf("seed%d@pbx.example", i+1)
		if i < len(matchEmails) {
			email = strings.ToUpper(matchEmails[i])
			if email == matchEmails[i] {
				email = strings.ToLower(email)
			}
		}
		id, err := s.AddUser(User{FirstName: "Seed", LastName: fmt.Sprintf("User %d", i+1), EmailAddress: email, Enabled: true})
		if err != nil {
			return ids, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// EditUser changes a user as an administrator would in the console: fields
// are Pbx.User properties (wire names) and 3CX's rules apply as for PATCH.
func (s *Sim) EditUser(id int32, fields map[string]any) error {
	body, err := rawBody(fields)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.st.users[id]
	if u == nil {
		return fmt.Errorf("pbxsim: no user with Id %d", id)
	}
	return toErr(s.st.patchUser(u, body))
}

// DeleteUser deletes a user as an administrator would.
func (s *Sim) DeleteUser(id int32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.st.users[id]
	if u == nil {
		return fmt.Errorf("pbxsim: no user with Id %d", id)
	}
	s.st.deleteUser(u)
	return nil
}

// SetUserProfile changes a user's current profile "by hand" (the user in
// their app): name must be one of the user's profile names.
func (s *Sim) SetUserProfile(userID int32, name string) error {
	return s.EditUser(userID, map[string]any{"CurrentProfileName": name})
}

// SetUserProfileCustomName renames one profile of one user (CustomName).
func (s *Sim) SetUserProfileCustomName(userID int32, profile, customName string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.st.users[userID]
	if u == nil {
		return fmt.Errorf("pbxsim: no user with Id %d", userID)
	}
	i := slices.IndexFunc(u.profiles, func(p profileRec) bool { return p.props["Name"] == profile })
	if i < 0 {
		return fmt.Errorf("pbxsim: no profile %q (one of %s)", profile, strings.Join(ProfileNames, ", "))
	}
	u.profiles[i].props["CustomName"] = nilIfEmpty(customName)
	return nil
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// SetProfileNames sets the PBX-wide names of the two custom profiles
// ("Custom 1" and "Custom 2"), shown as their CustomName for every user,
// existing and new.
func (s *Sim) SetProfileNames(custom1, custom2 string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.custom1, s.st.custom2 = custom1, custom2
	for _, u := range s.st.users {
		for _, p := range u.profiles {
			switch p.props["Name"] {
			case "Custom 1":
				p.props["CustomName"] = nilIfEmpty(custom1)
			case "Custom 2":
				p.props["CustomName"] = nilIfEmpty(custom2)
			}
		}
	}
}

// SetMaxUsers changes the licence limit (0 = unlimited).
func (s *Sim) SetMaxUsers(n int) {
	s.mu.Lock()
	s.st.maxUsers = n
	s.mu.Unlock()
}

func (s *Sim) addNumbered(kind, number, name string) (int32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !objectNumberRe.MatchString(number) {
		return 0, fmt.Errorf("pbxsim: add %s: number %q must be 2 to 10 letters or digits (e.g. 800, SP0)", kind, number)
	}
	if owner, taken := s.st.numbers[number]; taken {
		return 0, fmt.Errorf("pbxsim: add %s: number %s is already used by a %s", kind, number, owner)
	}
	return s.st.addNumbered(kind, number, name).id, nil
}

// addNumbered stores a numbered object. Name is kept for Peers even for
// kinds whose own type has no Name property.
func (st *state) addNumbered(kind, number, name string) *numberedRec {
	n := &numberedRec{id: st.nextDN, kind: kind, props: map[string]any{"Number": number, "TranscriptionMode": "Inherit", "Name": name}}
	switch kind {
	case "ServicePrincipal":
		maps.Copy(n.props, map[string]any{"XAPIEnabled": true, "CallControlEnabled": false, "MyPhoneEnabled": false, "IsSystem": false})
	case "Fax":
		n.props["FaxServer"] = false
	}
	st.nextDN++
	st.numbered = append(st.numbered, n)
	st.numbers[number] = kind
	return n
}

// AddQueue seeds a call queue, which takes its number.
func (s *Sim) AddQueue(number, name string) (int32, error) {
	return s.addNumbered("Queue", number, name)
}

// AddRingGroup seeds a ring group, which takes its number.
func (s *Sim) AddRingGroup(number, name string) (int32, error) {
	return s.addNumbered("RingGroup", number, name)
}

// AddIVR seeds a digital receptionist (Receptionists), which takes its number.
func (s *Sim) AddIVR(number, name string) (int32, error) { return s.addNumbered("IVR", number, name) }

// AddParking seeds a shared parking place, which takes its number.
func (s *Sim) AddParking(number string) (int32, error) { return s.addNumbered("Parking", number, "") }

// AddFax seeds a fax extension, which takes its number.
func (s *Sim) AddFax(number, name string) (int32, error) { return s.addNumbered("Fax", number, name) }

// AddTrunk seeds a trunk (its number is a system number such as 10000).
func (s *Sim) AddTrunk(number, name string) (int32, error) {
	return s.addNumbered("Trunk", number, name)
}

// AddCallFlowApp seeds a call flow app (route point), which takes its number.
func (s *Sim) AddCallFlowApp(number, name string) (int32, error) {
	return s.addNumbered("CallFlowApp", number, name)
}

// AddDepartment seeds a department and returns its Id.
func (s *Sim) AddDepartment(name string) (int32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if strings.TrimSpace(name) == "" {
		return 0, errors.New("pbxsim: add department: empty name")
	}
	if s.st.groupByName(name) != nil {
		return 0, fmt.Errorf("pbxsim: add department: %q exists", name)
	}
	return s.st.addGroup(name, false).id, nil
}

// SetContactQuotas sets a department's PersonalContactsMaxCount and
// DepartmentContactsMaxCount (0 = no limit).
func (s *Sim) SetContactQuotas(departmentID int32, personal, department int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.st.groupByID(departmentID)
	if g == nil {
		return fmt.Errorf("pbxsim: no department with Id %d", departmentID)
	}
	p := g.props["Props"].(map[string]any)
	p["PersonalContactsMaxCount"] = int64(personal)
	p["DepartmentContactsMaxCount"] = int64(department)
	return nil
}

// DefaultDepartmentID is the Id of DEFAULT.
func (s *Sim) DefaultDepartmentID() int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.defaultGroup().id
}

// AddContact seeds a contact: owner "" for the company phonebook, else the
// extension number whose personal phonebook gets it. Validation and quotas
// apply.
func (s *Sim) AddContact(owner string, c Contact) (int32, error) {
	body, err := rawBody(contactFields(c))
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if owner != "" && s.st.userByNumber(owner) == nil {
		return 0, fmt.Errorf("pbxsim: add contact: no extension %s", owner)
	}
	rec, e := s.st.createContact(body, owner)
	if e != nil {
		return 0, toErr(e)
	}
	return rec.id, nil
}

func contactFields(c Contact) map[string]any {
	f := map[string]any{}
	for k, v := range map[string]string{
		"FirstName": c.FirstName, "LastName": c.LastName, "CompanyName": c.CompanyName, "Title": c.Title,
		"Department": c.Department, "Email": c.Email, "PhoneNumber": c.PhoneNumber, "Mobile2": c.Mobile2,
		"Home": c.Home, "Business": c.Business, "Business2": c.Business2, "BusinessFax": c.BusinessFax,
		"Other": c.Other, "Pager": c.Pager, "Tag": c.Tag, "ContactType": c.ContactType,
	} {
		if v != "" {
			f[k] = v
		}
	}
	return f
}

// EditM365 changes Microsoft365Integration as an administrator would; fields
// are wire names, complex values merge.
func (s *Sim) EditM365(fields map[string]any) error {
	body, err := rawBody(fields)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	vals, e := m365Schema.decode(body)
	if e != nil {
		return toErr(e)
	}
	delete(vals, "Id")
	mergeInto(s.st.m365, vals)
	return nil
}

// --- inspection ---

func (st *state) exportUser(u *userRec) User {
	p := u.props
	out := User{
		ID: u.id, Number: u.number(), FirstName: asString(p["FirstName"]), LastName: asString(p["LastName"]),
		DisplayName: asString(p["DisplayName"]), EmailAddress: u.email(), Mobile: asString(p["Mobile"]),
		OutboundCallerID: asString(p["OutboundCallerID"]), Enabled: asBool(p["Enabled"]),
		MS365SignInEnabled: asBool(p["MS365SignInEnabled"]), MS365ContactsEnabled: asBool(p["MS365ContactsEnabled"]),
		MS365CalendarEnabled: asBool(p["MS365CalendarEnabled"]), MS365TeamsEnabled: asBool(p["MS365TeamsEnabled"]),
		CurrentProfileName: asString(p["CurrentProfileName"]), ContactImage: asString(p["ContactImage"]),
		PrimaryGroupID: int32(asInt(p["PrimaryGroupId"])), Other: map[string]string{},
	}
	if tags, ok := p["Tags"].([]any); ok {
		for _, t := range tags {
			out.Tags = append(out.Tags, t.(string))
		}
	}
	for _, m := range u.groups {
		out.Groups = append(out.Groups, Membership{ID: m.id, GroupID: m.groupID, GroupName: st.groupByID(m.groupID).name(), Role: m.role})
	}
	for _, pr := range u.profiles {
		out.Profiles = append(out.Profiles, Profile{ID: pr.id, Name: asString(pr.props["Name"]), CustomName: asString(pr.props["CustomName"])})
	}
	known := []string{"Id", "Number", "FirstName", "LastName", "DisplayName", "EmailAddress", "Mobile", "OutboundCallerID",
		"Enabled", "MS365SignInEnabled", "MS365ContactsEnabled", "MS365CalendarEnabled", "MS365TeamsEnabled",
		"CurrentProfileName", "ContactImage", "Tags", "PrimaryGroupId"}
	for _, k := range slices.Sorted(maps.Keys(p)) {
		if !slices.Contains(known, k) {
			b, _ := json.Marshal(p[k])
			out.Other[k] = string(b)
		}
	}
	return out
}

// Users returns every user ordered by Id.
func (s *Sim) Users() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []User
	for _, u := range s.st.sortedUsers() {
		out = append(out, s.st.exportUser(u))
	}
	return out
}

// User returns one user by Id.
func (s *Sim) User(id int32) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.st.users[id]
	if u == nil {
		return User{}, false
	}
	return s.st.exportUser(u), true
}

// UserByNumber returns one user by extension number.
func (s *Sim) UserByNumber(number string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.st.userByNumber(number)
	if u == nil {
		return User{}, false
	}
	return s.st.exportUser(u), true
}

// Departments returns every department in creation order.
func (s *Sim) Departments() []Department {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Department
	for _, g := range s.st.groups {
		out = append(out, Department{
			ID: g.id, Number: asString(g.props["Number"]), Name: g.name(), IsDefault: asBool(g.props["IsDefault"]),
			PersonalContactsMaxCount:   g.quota("PersonalContactsMaxCount"),
			DepartmentContactsMaxCount: g.quota("DepartmentContactsMaxCount"),
		})
	}
	return out
}

func exportContact(c *contactRec) Contact {
	p := c.props
	return Contact{
		ID: c.id, Owner: c.owner, FirstName: asString(p["FirstName"]), LastName: asString(p["LastName"]),
		CompanyName: asString(p["CompanyName"]), Title: asString(p["Title"]), Department: asString(p["Department"]),
		Email: asString(p["Email"]), PhoneNumber: asString(p["PhoneNumber"]), Mobile2: asString(p["Mobile2"]),
		Home: asString(p["Home"]), Business: asString(p["Business"]), Business2: asString(p["Business2"]),
		BusinessFax: asString(p["BusinessFax"]), Other: asString(p["Other"]), Pager: asString(p["Pager"]),
		Tag: asString(p["Tag"]), ContactType: asString(p["ContactType"]),
	}
}

func (s *Sim) contactsOf(owner string) []Contact {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Contact
	for _, c := range s.st.contacts.owned(owner) {
		out = append(out, exportContact(c))
	}
	return out
}

// CompanyContacts returns the company phonebook in creation order.
func (s *Sim) CompanyContacts() []Contact { return s.contactsOf("") }

// PersonalContacts returns one extension's personal phonebook.
func (s *Sim) PersonalContacts(number string) []Contact { return s.contactsOf(number) }

func (st *state) exportM365() M365Settings {
	m := st.m365
	ad, _ := m["AdUsers"].(map[string]any)
	sm, _ := m["SharedMailboxesSync"].(map[string]any)
	return M365Settings{
		TenantID: asString(m["TenantId"]), ApplicationID: asString(m["ApplicationId"]),
		UserSyncEnabled: asBool(ad["IsEnabled"]), SSOEnabled: asBool(ad["EnableSSO"]), SyncType: asString(ad["SyncType"]),
		SelectedUsers: stringList(ad["SelectedUsers"]), StartingExtensionNumber: asString(ad["StartingExtensionNumber"]),
		SharedMailboxesEnabled: asBool(sm["IsEnabled"]), SharedMailboxes: stringList(sm["SelectedUsers"]),
	}
}

func stringList(v any) []string {
	l, _ := v.([]any)
	var out []string
	for _, e := range l {
		out = append(out, asString(e))
	}
	return out
}

// M365Settings returns the Microsoft365Integration settings.
func (s *Sim) M365Settings() M365Settings {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.exportM365()
}

// NumberedObjects returns every numbered object other than users.
func (s *Sim) NumberedObjects() []Numbered {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Numbered
	for _, n := range s.st.numbered {
		out = append(out, Numbered{ID: n.id, Kind: n.kind, Number: asString(n.props["Number"]), Name: asString(n.props["Name"])})
	}
	return out
}

// SeedDemo makes a plausible small PBX for the demo: departments Sales and
// Support, queue 800, ring group 801, IVR 802, parking SP0, custom profile
// names Lunch and Business Trip, an operator on 100, and one enabled
// extension per address in matchEmails whose EmailAddress is that address in
// another letter case (so pbx365 adopts rather than duplicates them).
func (s *Sim) SeedDemo(matchEmails ...string) error {
	for _, d := range []string{"Sales", "Support"} {
		if _, err := s.AddDepartment(d); err != nil {
			return err
		}
	}
	for _, f := range []func() (int32, error){
		func() (int32, error) { return s.AddQueue("800", "Sales queue") },
		func() (int32, error) { return s.AddRingGroup("801", "Reception") },
		func() (int32, error) { return s.AddIVR("802", "Main menu") },
		func() (int32, error) { return s.AddParking("SP0") },
		func() (int32, error) {
			return s.AddUser(User{Number: "100", FirstName: "Operator", EmailAddress: "operator@pbx.example", Enabled: true,
				Groups: []Membership{{GroupName: "DEFAULT", Role: "system_owners"}}})
		},
	} {
		if _, err := f(); err != nil {
			return fmt.Errorf("seed demo: %w", err)
		}
	}
	s.SetProfileNames("Lunch", "Business Trip")
	if _, err := s.SeedExtensions(len(matchEmails), matchEmails...); err != nil {
		return fmt.Errorf("seed demo: %w", err)
	}
	return nil
}

// WriteCAFile writes the CA certificate (public, mode 0644) for clients
// such as pbx365's pbx.ca_file.
func (s *Sim) WriteCAFile(path string) error {
	if err := os.WriteFile(path, s.caPEM, 0o644); err != nil {
		return fmt.Errorf("pbxsim: write CA file: %w", err)
	}
	return nil
}
