package pbxsim

// The entity and complex types the simulator serves, with the property names
// and wire types of 3CX V20 (20.0.10). Properties not modelled in depth are
// still declared (so a payload using them is accepted and round-trips), and
// anything undeclared is refused with 400.

var roleNames = []string{"users", "receptionists", "group_admins", "managers", "group_owners", "system_admins", "system_owners"}

var (
	transcription = enum("Nothing", "Voicemail", "Recordings", "Both", "Inherit")
	peerTypes     = []string{"None", "Extension", "Queue", "RingGroup", "IVR", "Fax", "Conference", "SpecialMenu", "Parking", "ExternalLine", "Group", "RoutePoint"}
	userTags      = []string{"MS", "Teams", "Google", "WakeUp", "FaxServer", "Principal", "WeakID", "WeakPass", "WM", "AI"}
	syncTypes     = []string{"SyncAllUsers", "SyncAllUsersExceptSelected", "SyncSelected", "SyncSelectedGroups"}
	contactTypes  = []string{"3CX", "CRM", "Google", "M365"}
)

// dnProps are the properties of Pbx.DN, the base of every numbered object.
var dnProps = map[string]prop{
	"Id":                {kind: kKey},
	"Number":            str(),
	"TranscriptionMode": transcription,
	"Groups":            nav(),
}

var clickToCallProps = map[string]prop{
	"CallUsEnableChat":  boolean(),
	"CallUsEnablePhone": boolean(),
	"CallUsEnableVideo": boolean(),
	"CallUsRequirement": enum("Both", "Name", "Email", "None"),
	"ClickToCallId":     str(),
}

var rightsSchema = newSchema("Pbx.Rights", map[string]prop{
	"AllowIVR": boolean(), "AllowParking": boolean(), "AllowToChangePresence": boolean(),
	"AllowToManageCompanyBook": boolean(), "AssignClearOperations": boolean(), "CanBargeIn": boolean(),
	"CanIntercom": boolean(), "CanSeeGroupCalls": boolean(), "CanSeeGroupMembers": boolean(),
	"CanSeeGroupRecordings": boolean(), "Invalid": boolean(), "PerformOperations": boolean(),
	"RoleName": str(), "ShowMyCalls": boolean(), "ShowMyPresence": boolean(), "ShowMyPresenceOutside": boolean(),
})

// userGroupSchema is Pbx.UserGroup, a membership of a DN in a department.
var userGroupSchema = newSchema("Pbx.UserGroup", map[string]prop{
	"CanDelete": boolean(), "GroupId": integer(), "GroupRights": complexOf(rightsSchema), "Id": integer(),
	"MemberName": str(), "Name": str(), "Number": str(), "Rights": complexOf(rightsSchema),
	"Tags": enums(userTags...), "TranscriptionMode": transcription, "Type": enum(peerTypes...),
})

var forwardingProfileSchema = newSchema("Pbx.ForwardingProfile", map[string]prop{
	"AcceptMultipleCalls": boolean(), "AvailableRoute": raw(), "AwayRoute": raw(), "BlockPushCalls": boolean(),
	"CustomMessage": str(), "CustomName": str(), "DisableRingGroupCalls": boolean(), "Id": integer(),
	"Name": str(), "NoAnswerTimeout": integer(), "OfficeHoursAutoQueueLogOut": boolean(), "RingMyMobile": boolean(),
})

var userSchema = newSchema("Pbx.User", dnProps, clickToCallProps, map[string]prop{
	"AccessPassword": str(), "AgentSettings": raw(), "AIAgent": boolean(), "AllowLanOnly": boolean(),
	"AllowOwnRecordings": boolean(), "AuthID": str(), "AuthPassword": str(), "Blfs": str(),
	"BlockTunnel": boolean(), "BreakTime": raw(), "CallScreening": boolean(), "ContactImage": str(),
	"CurrentProfileName": str(), "DatevEnabled": boolean(), "DeskphonePassword": str(), "DisplayName": str(),
	"EmailAddress": str(), "EmergencyAdditionalInfo": str(), "EmergencyLocationId": str(), "Enable2FA": boolean(),
	"Enabled": boolean(), "EnableHotdesking": boolean(), "FirstName": str(), "ForbidRecording": boolean(),
	"ForwardingExceptions": nav(), "ForwardingProfiles": nav(), "GoogleCalendarEnabled": boolean(),
	"GoogleContactsEnabled": boolean(), "GoogleSignInEnabled": boolean(), "Greetings": nav(),
	"HideInPhonebook": boolean(), "HotdeskingAssignment": str(), "Hours": raw(), "Internal": boolean(),
	"IsRegistered": boolean(), "Language": str(), "LastName": str(), "Mobile": str(),
	"MS365CalendarEnabled": boolean(), "MS365ContactsEnabled": boolean(), "MS365SignInEnabled": boolean(),
	"MS365TeamsEnabled": boolean(), "MyPhoneAllowDeleteRecordings": boolean(), "MyPhoneHideForwardings": boolean(),
	"MyPhonePush": boolean(), "MyPhoneShowRecordings": boolean(),
	"OfficeHoursProps": enums("GlobalSchedule", "AutoSwitchProfiles", "AutoQueueLogOut", "BlockOutboundCalls"),
	"OutboundCallerID": str(), "PbxDeliversAudio": boolean(), "Phones": nav(), "PinProtected": boolean(),
	"PinProtectTimeout": integer(), "PrimaryGroupId": integer(), "PromptSet": str(),
	"QueueStatus": enum("LoggedOut", "LoggedIn"), "RecordCalls": boolean(), "RecordEmailNotify": boolean(),
	"RecordExternalCallsOnly": boolean(), "Require2FA": boolean(), "SendEmailMissedCalls": boolean(),
	"SIPID": str(), "SRTPMode": enum("SRTPDisabled", "SRTPEnabled", "SRTPEnforced"), "Tags": enums(userTags...),
	"VMDisablePinAuth": boolean(),
	"VMEmailOptions":   enum("None", "Notification", "Attachment", "AttachmentAndDelete", "VmailToMembers", "EmailToExtrasOnly"),
	"VMEnabled":        boolean(), "VMPIN": str(), "VMPlayCallerID": boolean(),
	"VMPlayMsgDateTime": enum("None", "Play12Hr", "Play24Hr"), "WebMeetingApproveParticipants": boolean(),
	"WebMeetingFriendlyName": str(),
})

var groupPropsSchema = newSchema("Pbx.GroupProps", map[string]prop{
	"DectMaxCount": integer(), "DepartmentContactsMaxCount": integer(), "Fqdn": str(), "LiveChatMaxCount": integer(),
	"OutboundRulesMaxCount": integer(), "PersonalContactsMaxCount": integer(), "PromptsMaxCount": integer(),
	"ResellerId": str(), "ResellerName": str(), "SbcMaxCount": integer(), "StartupLicense": raw(),
	"StartupOwnerEmail": str(), "SubcriptionExpireDate": str(), "Subscription": str(), "SubscriptionType": str(),
	"SystemNumberFrom": str(), "SystemNumberTo": str(), "TrunkNumberFrom": str(), "TrunkNumberTo": str(),
	"TrunksMaxCount": integer(), "UserNumberFrom": str(), "UserNumberTo": str(),
})

var groupSchema = newSchema("Pbx.Group", dnProps, clickToCallProps, map[string]prop{
	"AllowCallService": boolean(), "AnswerAfter": integer(), "BreakRoute": raw(), "BreakTime": raw(),
	"CallHandlingMode": raw(), "CurrentGroupHours": str(), "CustomOperator": raw(), "CustomPrompt": str(),
	"DisableCustomPrompt": boolean(), "GloballyVisible": boolean(), "HasMembers": boolean(),
	"HolidaysRoute": raw(), "Hours": raw(), "IsDefault": boolean(), "Language": str(), "LastLoginTime": str(),
	"Members": nav(), "MusicOnHold": str(), "Name": str(), "OfficeHolidays": nav(), "OfficeRoute": raw(),
	"OutOfOfficeRoute": raw(), "OverrideExpiresAt": str(), "OverrideHolidays": boolean(), "PromptSet": str(),
	"Props": complexOf(groupPropsSchema), "Rights": nav(), "TimeZoneId": str(),
})

var contactSchema = newSchema("Pbx.Contact", map[string]prop{
	"Business": str(), "Business2": str(), "BusinessFax": str(), "CompanyName": str(),
	"ContactType": enum(contactTypes...), "Department": str(), "Email": str(), "FirstName": str(),
	"Home": str(), "Id": {kind: kKey}, "LastName": str(), "Mobile2": str(), "Other": str(), "Pager": str(),
	"PhoneNumber": str(), "Tag": str(), "Title": str(),
})

var usersSyncSchema = newSchema("Pbx.UsersSyncConfiguration", map[string]prop{
	"IsEnabled": boolean(), "SelectedUsers": strs(), "SyncType": enum(syncTypes...),
})

var adUsersSchema = newSchema("Pbx.ADUsersSyncConfiguration", map[string]prop{
	"EnableSSO": boolean(), "IsEnabled": boolean(), "IsSyncDepartments": boolean(), "IsSyncDetails": boolean(),
	"IsSyncOfficePhone": boolean(), "IsSyncPhoto": boolean(), "SelectedGroups": strs(), "SelectedUsers": strs(),
	"SetTeamsPresence": boolean(), "StartingExtensionNumber": str(), "StatusSyncConfiguration": raw(),
	"SyncEvents": boolean(), "SyncGuestUsers": boolean(), "SyncPersonalContacts": boolean(),
	"SyncType": enum(syncTypes...),
})

var m365Schema = newSchema("Pbx.Microsoft365Integration", map[string]prop{
	"AdUsers": complexOf(adUsersSchema), "ApplicationId": str(), "Id": integer(),
	"SharedMailboxesSync": complexOf(usersSyncSchema), "TenantId": str(),
})

// numberedSchema serves Queues, RingGroups, Receptionists and Parkings with
// the properties the simulator models (Id, Number, Name); their other
// properties are not served.
func numberedSchema(name string) *schema {
	return newSchema(name, dnProps, map[string]prop{"Name": str()})
}

// rawProps declares properties the simulator serves as null and stores verbatim.
func rawProps(names ...string) map[string]prop {
	m := map[string]prop{}
	for _, n := range names {
		m[n] = raw()
	}
	return m
}

var (
	faxSchema = newSchema("Pbx.Fax", dnProps, map[string]prop{
		"AuthID": str(), "AuthPassword": str(), "FaxServer": boolean(), "OutboundCallerId": str(),
	})
	trunkSchema = newSchema("Pbx.Trunk", dnProps, rawProps("AuthID", "AuthPassword", "Certificate",
		"CertificateExpirationDate", "CertificateName", "ConfigurationIssue", "DidNumbers", "Direction",
		"DisableCallTransfer", "DisableVideo", "DiversionHeader", "EmergencyGeoLocations", "EnableInboundCalls",
		"EnableOutboundCalls", "ExternalNumber", "Gateway", "InCIDFormatting", "IPRestriction", "IsOnline", "Messaging",
		"OutboundCallerID", "OutCIDFormatting", "PublicInfoGroups", "PublicIPinSIP", "PublishInfo", "ReceiveExtensions",
		"ReceiveInfo", "RemoteMyPhoneUriHost", "RemotePBXPreffix", "RoutingRules", "ScriptName", "SecondaryRegistrar",
		"SeparateAuthId", "SimultaneousCalls", "Tags", "TransportRestriction", "TrunkRegTimes", "TunnelEnabled",
		"TunnelRemoteAddr", "TunnelRemotePort", "UseSeparateAuthId"))
	callFlowSchema = newSchema("Pbx.CallFlowApp", dnProps, rawProps("CompilationLastSuccess", "CompilationResult",
		"CompilationSucceeded", "InvalidScript", "RejectedCode", "RoutingType", "ScriptCode", "Trunk"),
		map[string]prop{"Name": str(), "IsRegistered": boolean()})
	servicePrincipalSchema = newSchema("Pbx.ServicePrincipal", dnProps, map[string]prop{
		"CallControlEnabled": boolean(), "IsSystem": boolean(), "LastUsed": str(), "MyPhoneEnabled": boolean(),
		"Peers": nav(), "XAPIEnabled": boolean(),
	})
	peerSchema = newSchema("Pbx.Peer", map[string]prop{
		"Hidden": boolean(), "Id": {kind: kKey}, "MemberOf": nav(), "Name": str(), "Number": str(),
		"Tags": enums(userTags...), "Type": enum(peerTypes...),
	})
	queueSchema        = numberedSchema("Pbx.Queue")
	ringGroupSchema    = numberedSchema("Pbx.RingGroup")
	receptionistSchema = numberedSchema("Pbx.Receptionist")
	parkingSchema      = newSchema("Pbx.Parking", dnProps)
)
