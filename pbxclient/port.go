// Package pbxclient is pbx365's door to the phone system: Port, the interface
// sync needs in domain terms, and XAPI, its implementation for the 3CX V20
// Configuration API (/connect/token and /xapi/v1).
//
// XAPI in short:
//   - One access token per API client and process (3CX revokes the previous
//     token on every sign-in): fetched by one caller while the others wait,
//     renewed at 80% of its lifetime, fetched again after a 401 (once per
//     token generation, however many requests saw the 401). When another
//     process with the same API client keeps revoking it, fetches back off
//     with jitter and a warning names the fix.
//   - Retries with exponential backoff and jitter, bounded by Config.Retries:
//     GET, PATCH (absolute values), DELETE of one entity (a 404 after a
//     repeat means done) and the contact bulk delete after 5xx, 429,
//     timeouts and transport errors. Creates (POST) are repeated only when
//     the request provably never left; once sent, a lost reply, a timeout or
//     a gateway timeout is ErrOutcomeUnknown so the caller looks first.
//     Certificate failures are never retried.
//   - Failures are *Error values whose Kind (ErrAlreadyInUse, ErrNotFound,
//     ...) matches with errors.Is; Field and Warning carry 3CX's details.
//   - At most Config.Concurrency requests in flight; every call takes a
//     context; debug logs through slog never hold the API key or a token.
package pbxclient

import (
	"context"
	"errors"
	"fmt"
)

// User is a PBX extension (3CX Pbx.User) with the fields pbx365 reads or owns.
type User struct {
	ID                 int32
	Number             string
	FirstName          string
	LastName           string
	EmailAddress       string
	Mobile             string
	OutboundCallerID   string
	Enabled            bool
	MS365SignInEnabled bool
	CurrentProfileName string
	ContactImage       string
	Tags               []string
	Groups             []Membership // department memberships with roles
}

// Membership is a user's membership of a department with a role
// (3CX Pbx.UserGroup with Rights.RoleName).
type Membership struct {
	GroupID   int32
	GroupName string
	Role      string // users, managers, group_admins, group_owners, receptionists, system_admins, system_owners
}

// Role names of 3CX, lowest to highest.
var Roles = []string{"users", "receptionists", "group_admins", "managers", "group_owners", "system_admins", "system_owners"}

// NewUser is what CreateUser sends. Number is required: pbx365 picks numbers itself.
type NewUser struct {
	Number             string
	FirstName          string
	LastName           string
	EmailAddress       string
	Mobile             string
	OutboundCallerID   string
	Enabled            bool
	MS365SignInEnabled bool
	Groups             []Membership
}

// UserPatch changes only the non-nil fields. Groups, when non-nil, is the
// complete desired membership list (3CX replaces the list).
type UserPatch struct {
	FirstName          *string
	LastName           *string
	EmailAddress       *string
	Mobile             *string
	OutboundCallerID   *string
	Enabled            *bool
	MS365SignInEnabled *bool
	CurrentProfileName *string
	ContactImage       *string
	Groups             []Membership
}

// Department is a 3CX department (Pbx.Group).
type Department struct {
	ID        int32
	Name      string
	Number    string
	IsDefault bool
	// Quotas from Props; 0 means no limit known.
	PersonalContactsMaxCount   int
	DepartmentContactsMaxCount int
}

// NumberInUse is a number taken by any PBX object.
type NumberInUse struct {
	Number string
	Kind   string // user, queue, ringgroup, ivr, parking, trunk, fax, ...
	Name   string
}

// Profile is a forwarding profile (status) of a user.
type Profile struct {
	ID         int32
	Name       string // internal name: Available, Away, Out of office, Custom 1, Custom 2
	CustomName string // what the admin renamed it to, if anything
}

// Contact is a phonebook entry (3CX Pbx.Contact).
type Contact struct {
	ID          int32
	FirstName   string
	LastName    string
	CompanyName string
	Title       string
	Department  string
	Email       string
	PhoneNumber string // the primary (mobile) number
	Mobile2     string
	Home        string
	Business    string
	Business2   string
	Other       string
	Tag         string
	ContactType string // 3CX, CRM, Google, M365
}

// M365Settings is the PBX's Microsoft 365 integration (Microsoft365Integration).
type M365Settings struct {
	TenantID        string
	ApplicationID   string
	SSOEnabled      bool // AdUsers.EnableSSO
	UserSyncEnabled bool // AdUsers.IsEnabled: 3CX's own user sync, which fights ours
}

// Capabilities says what this PBX allows beyond the basics.
type Capabilities struct {
	PhotoUpload bool // XAPI has no upload route; ContactImage only
}

// Port is everything sync needs from the phone system.
type Port interface {
	Version(ctx context.Context) (string, error)
	Capabilities(ctx context.Context) (Capabilities, error)

	ListUsers(ctx context.Context) ([]User, error)
	GetUser(ctx context.Context, id int32) (User, error)
	// FindUsers returns users whose Number equals number or whose EmailAddress
	// equals email (case-insensitive); either may be empty.
	FindUsers(ctx context.Context, number, email string) ([]User, error)
	CreateUser(ctx context.Context, u NewUser) (User, error)
	UpdateUser(ctx context.Context, id int32, p UserPatch) error
	DeleteUser(ctx context.Context, id int32) error

	NumbersInUse(ctx context.Context) ([]NumberInUse, error)

	Departments(ctx context.Context) ([]Department, error)
	EnsureDepartment(ctx context.Context, name string) (Department, error)

	UserProfiles(ctx context.Context, userID int32) ([]Profile, error)
	SetProfile(ctx context.Context, userID int32, name string) error

	M365Settings(ctx context.Context) (M365Settings, error)
	SetM365Settings(ctx context.Context, s M365Settings) error

	CompanyContacts(ctx context.Context) ([]Contact, error)
	CreateCompanyContact(ctx context.Context, c Contact) (Contact, error)
	PersonalContacts(ctx context.Context, number string) ([]Contact, error)
	CreatePersonalContact(ctx context.Context, number string, c Contact) (Contact, error)
	UpdateContact(ctx context.Context, id int32, c Contact) error
	DeleteContacts(ctx context.Context, ids []int32) error
}

// Error kinds. An *Error matches its kind with errors.Is.
var (
	ErrNotFound        = errors.New("not found")
	ErrAlreadyInUse    = errors.New("already in use")
	ErrForbiddenChange = errors.New("forbidden change")
	ErrForbidden       = errors.New("forbidden: the API client's role lacks rights")
	ErrAuth            = errors.New("authentication failed")
	ErrLimitReached    = errors.New("licence limit reached")
	ErrValidation      = errors.New("validation failed")
	// ErrOutcomeUnknown: a write whose reply was lost. It may or may not have
	// happened; look before trying again.
	ErrOutcomeUnknown = errors.New("outcome unknown")
	// ErrUnavailable: the PBX could not be reached, timed out or answered
	// with a server error (5xx) after the retries; try again later.
	ErrUnavailable = errors.New("PBX unavailable")
)

// Error is a failed XAPI call.
type Error struct {
	Op      string // e.g. "create user 105"
	Status  int    // HTTP status, 0 when none arrived
	Kind    error  // one of the Err* kinds
	Field   string // the field 3CX named (details[].target), e.g. "EmailAddress"
	Warning string // 3CX's warning key, e.g. WARNINGS.XAPI.ALREADY_IN_USE
	Message string // the raw message
	Err     error  // underlying transport error, if any
}

// Error reads "op: kind (Field): WARNING_KEY [HTTP status]: cause".
func (e *Error) Error() string {
	s := e.Op + ": " + e.Kind.Error()
	if e.Field != "" {
		s += " (" + e.Field + ")"
	}
	if e.Warning != "" {
		s += ": " + e.Warning
	} else if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Status != 0 {
		s += fmt.Sprintf(" [HTTP %d]", e.Status)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is matches the error kind.
func (e *Error) Is(target error) bool { return target == e.Kind }

// Unwrap returns the underlying transport error.
func (e *Error) Unwrap() error { return e.Err }
