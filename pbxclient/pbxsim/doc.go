// Package pbxsim is a strict simulated 3CX V20 Configuration API ("XAPI")
// served over real HTTPS on loopback, for tests and the demo.
//
// It speaks the wire protocol of /connect/token and /xapi/v1 (Users, Groups,
// Contacts, ForwardingProfiles, Microsoft365Integration, Defs, Queues,
// RingGroups, Receptionists, Parkings, Fax, Trunks, CallFlowApps,
// ServicePrincipals, Peers and the actions and functions pbx365 uses) and
// enforces 3CX's rules: one access token per API client, Number immutable
// and unique across every numbered object (the API client's own Client ID
// included), EmailAddress unique case-insensitively, a licence limit,
// phonebook validation and quotas, profile names. Unknown properties, query
// options and types are refused the way an OData service refuses them, so a
// client that works here sends only what a real PBX accepts.
//
// Tests seed it (AddUser, AddQueue, SeedExtensions, ...), inspect it (Users,
// Snapshot, Requests) and inject faults (SetLatency, FailNext, TimeoutNext,
// LoseResponseNext, Fail5xxRate, RevokeTokens, Advance). The same controls
// are served as JSON under /_sim/ for the demo and `pbx365 sim`.
//
// # Choices where 3CX's behaviour is not documented
//
// The reference marks these as inferred; the simulator takes the strict
// reading, so a client that works here also works if the PBX is lenient:
//
//   - Issuing a token revokes the client's previous one at once; a revoked,
//     expired or missing bearer gets 401 with an empty body and
//     WWW-Authenticate: Bearer. Tokens live one hour on the simulator clock.
//   - EmailAddress is unique case-insensitively on POST and PATCH (the owner
//     may change the case of its own address); "" is not a value. Seeding
//     (AddUser) may create duplicates, as imported data can.
//   - A POST /Users without Number (or with null) takes the first free
//     number from 100 up; "" is CAN_NOT_BE_EMPTY_STRING, non-digits or a
//     length outside 2..10 is WARNINGS.INVALID. Id must be absent or 0.
//   - PATCH of Number with another value (null included) is 400
//     FORBIDDEN_CHANGE; the same value is accepted. The alternate key
//     Users(Number='…') is GET only (405 otherwise), as in the spec.
//   - PATCH Groups is the complete membership list; entries name the
//     department by GroupId (required) and the role by Rights.RoleName
//     (default: the current role there, else users). An empty list puts the
//     user back into DEFAULT as users. PrimaryGroupId must be a department
//     the user is in, and follows the first membership when its department
//     is removed. Group-side PATCH Members is a full replacement as well.
//   - CurrentProfileName accepts exactly the internal Name of one of the
//     user's profiles (Available, Away, Out of office, Custom 1, Custom 2),
//     never a CustomName; anything else is 400 WARNINGS.INVALID.
//   - Errors without a field (LIMIT_REACHED, GROUP_*_CANNOT_BE_DELETED)
//     have message = the key and details[0].target = null. A missing entity
//     is 404 with message WARNINGS.XAPI.NOT_FOUND; an unknown path is an
//     empty 404; a function called with missing or wrong arguments is 404.
//   - Unknown body properties (names are case-sensitive), wrong JSON types,
//     unknown enum members, unknown query options, $search, unknown or
//     navigation properties in $filter/$orderby/$select, a type mismatch in
//     $filter (Number eq 101) and repeated options are all 400. Action
//     parameter names are matched case-insensitively ("ids" and "Ids").
//   - No @odata.nextLink is emitted; there is no server page size.
//   - Contacts need a first name, last name or company (else
//     CONTACTS_SPECIFY_NAME_SURNAME_COMPANY, target FirstName) and any one
//     phone field (else CONTACTS_SPECIFY_PHONE_NUMBER, target PhoneNumber).
//     /Contacts lists only the company phonebook; personal contacts are
//     reached with the ByNumber functions and, by Id, with
//     GET/PATCH/DELETE /Contacts({Id}) and DeleteContactsById. An unknown
//     extension there is 400 NON_EXISTENT_EXT_NUMBER (target number).
//     Quotas: DEFAULT's DepartmentContactsMaxCount for the company
//     phonebook, the owner's primary department's PersonalContactsMaxCount
//     for a personal one; 0 means no limit. Deleting a user deletes its
//     personal contacts. ContactType defaults to 3CX.
//   - PATCH Microsoft365Integration merges AdUsers and SharedMailboxesSync
//     property by property.
//   - BatchDelete reports an unknown Id as {"ExtensionNumber":"",
//     "Error":"WARNINGS.XAPI.NOT_FOUND"}; DeleteContactsById ignores unknown
//     Ids. A Number sent to POST /Groups is ignored; Group names are unique
//     case-insensitively; DEFAULT cannot be deleted, nor a department with
//     members.
//   - DisplayName is computed from FirstName and LastName; writes to it and
//     to IsRegistered are ignored. ForwardingExceptions, Greetings and Phones
//     are served empty and may only be written empty.
//   - The API client's role (Options.ClientRole) limits access as described
//     on SetClientRole; a refused call is an empty 403.
//
// The package uses only the standard library and does not import pbxclient.
package pbxsim
