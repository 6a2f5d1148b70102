// Package graphclient is pbx365's door to Microsoft 365: key pairs, the Entra
// certificate credential, and the Microsoft Graph operations sync needs, built on
// msgraph-sdk-go. Only domain types leave this package; no SDK type leaks out.
package graphclient

import (
	"errors"
	"time"
)

// User is a directory user with the fields sync needs.
type User struct {
	ID                string   `json:"id"`
	DisplayName       string   `json:"displayName"`
	GivenName         string   `json:"givenName"`
	Surname           string   `json:"surname"`
	Mail              string   `json:"mail"`
	UserPrincipalName string   `json:"userPrincipalName"`
	UserType          string   `json:"userType"` // "Member", "Guest", or "" when the directory has none
	AccountEnabled    bool     `json:"accountEnabled"`
	BusinessPhones    []string `json:"businessPhones"`
	MobilePhone       string   `json:"mobilePhone"`
	Department        string   `json:"department"`
	JobTitle          string   `json:"jobTitle"`
}

// Removal reasons reported by users delta in "@removed".
const (
	RemovedChanged = "changed" // soft-deleted (restorable for about 30 days)
	RemovedDeleted = "deleted" // permanently deleted
)

// RemovedUser is a delta entry carrying "@removed".
type RemovedUser struct {
	ID     string `json:"id"`
	Reason string `json:"reason"` // RemovedChanged or RemovedDeleted
}

// UserDelta is the result of one users delta round (all its pages).
type UserDelta struct {
	Changed   []User
	Removed   []RemovedUser
	DeltaLink string // store it; pass it to the next round
}

// ErrResyncRequired reports an expired or rejected delta token: the caller must
// run a full reconcile and start a new delta round.
var ErrResyncRequired = errors.New("delta token expired or rejected: full resync needed")

// Group is a directory group.
type Group struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	Mail        string `json:"mail"`
	Description string `json:"description"`
}

// PhotoMeta describes a user's photo. A zero PhotoMeta (ETag "") means no photo.
type PhotoMeta struct {
	ETag        string
	ContentType string
	Width       int
	Height      int
}

// Contact is a personal Outlook contact.
type Contact struct {
	ID             string
	FolderID       string
	ChangeKey      string
	DisplayName    string
	GivenName      string
	Surname        string
	CompanyName    string
	Department     string
	JobTitle       string
	Emails         []string
	MobilePhone    string
	BusinessPhones []string
	HomePhones     []string
	OtherPhones    []string
}

// ContactFolder is an Outlook contact folder below a mailbox's default
// Contacts folder (at any depth).
type ContactFolder struct {
	ID             string
	DisplayName    string
	ParentFolderID string
}

// ContactDelta is the result of one contact delta round for one folder.
type ContactDelta struct {
	Changed   []Contact
	Removed   []string // contact ids
	DeltaLink string
}

// FreeBusy is Graph's freeBusyStatus.
type FreeBusy string

// Graph's freeBusyStatus values.
const (
	FreeBusyUnknown          FreeBusy = "unknown"
	FreeBusyFree             FreeBusy = "free"
	FreeBusyTentative        FreeBusy = "tentative"
	FreeBusyBusy             FreeBusy = "busy"
	FreeBusyOOF              FreeBusy = "oof"
	FreeBusyWorkingElsewhere FreeBusy = "workingElsewhere"
)

// ScheduleItem is one busy block from getSchedule, times in UTC.
type ScheduleItem struct {
	Status    FreeBusy
	Start     time.Time
	End       time.Time
	IsPrivate bool
	Subject   string
}

// Schedule is one mailbox's free/busy answer. Err is set (and Items empty) when
// Graph reported a per-schedule error (e.g. responseCode 5009).
type Schedule struct {
	ID    string // the address asked for
	Items []ScheduleItem
	Err   string
	// AvailabilityView is Graph's digit string, one digit per Interval from
	// Start (0 free, 1 tentative, 2 busy, 3 oof, 4 working elsewhere); see ViewStatus.
	AvailabilityView string
	Start            time.Time // UTC start of the window asked for
	Interval         time.Duration
}

// Event is a calendarView entry, times in UTC.
type Event struct {
	ID          string
	Subject     string
	ShowAs      FreeBusy
	Start       time.Time
	End         time.Time
	IsAllDay    bool
	IsCancelled bool
	Type        string // singleInstance, occurrence, exception
}

// Message is a mail to send through sendMail.
type Message struct {
	From    string // mailbox that sends (UPN or id)
	To      []string
	Subject string
	Body    string
	HTML    bool
}

// Subscription is a Graph change-notification subscription.
type Subscription struct {
	ID              string
	Resource        string
	ChangeType      string
	NotificationURL string
	LifecycleURL    string
	ClientState     string
	Expiration      time.Time
}

// Permission is one of the application permissions pbx365 asks for.
type Permission string

// The five application permissions of PRODUCT.md.
const (
	PermCalendarsRead    Permission = "Calendars.Read"
	PermContactsRead     Permission = "Contacts.Read"
	PermDirectoryReadAll Permission = "Directory.Read.All"
	PermMailSend         Permission = "Mail.Send"
	PermUserReadAll      Permission = "User.Read.All"
)

// Permissions lists the five permissions in PRODUCT.md's order.
var Permissions = []Permission{PermCalendarsRead, PermContactsRead, PermDirectoryReadAll, PermMailSend, PermUserReadAll}

// PermState is the verdict on one permission.
type PermState string

// Permission verdicts.
const (
	PermGranted PermState = "granted"
	PermMissing PermState = "missing"
	PermError   PermState = "error"
)

// PermissionResult is one line of the permission check.
type PermissionResult struct {
	Permission Permission
	State      PermState
	Code       string // Graph's or Entra's own error code when State is PermError or PermMissing
	Detail     string // what to do about it
}
