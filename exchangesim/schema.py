"""The EWS item properties the simulator stores, in the order of the EWS schema.

One table says, for every element of ItemType, MessageType, ContactItemType,
DistributionListType and CalendarItemType (types.xsd, Exchange 2016): its FieldURI, its
value type and which item types carry it. Parsing (requests), rendering (responses) and
shapes (which properties a response holds) all read this table, so a property is added in
one place. Exchange stores every valid property a client sends and returns it, so a
writable property the simulator gives no meaning to is still stored: as its own XML when
its value is structured (RAW), or as text, number or date when it is simple. An element
that is in none of these types fails schema validation, as it does in Exchange.
"""

from __future__ import annotations

from dataclasses import dataclass

CONTACT = "Contact"
DLIST = "DistributionList"
EVENT = "CalendarItem"
MESSAGE = "Message"
ITEM_TYPES = (CONTACT, DLIST, EVENT, MESSAGE)
ALL = frozenset(ITEM_TYPES)

ITEM_CLASS = {
    CONTACT: "IPM.Contact",
    DLIST: "IPM.DistList",
    EVENT: "IPM.Appointment",
    MESSAGE: "IPM.Note",
}

# Value types
STR = "str"
BOOL = "bool"
INT = "int"
DATETIME = "datetime"
STRLIST = "strlist"
INDEXED = "indexed"  # EmailAddresses, PhoneNumbers, ImAddresses: {key: text}
ADDRESSES = "addresses"  # PhysicalAddresses: {key: {Street: .., City: ..}}
BODY = "body"
MAILBOX = "mailbox"  # Organizer: {"Name", "EmailAddress", "RoutingType"}
ATTENDEES = "attendees"  # [{"Name", "EmailAddress", "ResponseType"}]
MEMBERS = "members"  # distribution list members: [{"Name", "EmailAddress"}]
TIMEZONE = "timezone"  # {"Id": ms zone id, "Name": ..}
RECURRENCE = "recurrence"
RAW = "raw"  # structured value kept as the element's XML and returned as sent
COMPUTED = "computed"  # rendered from item state (or absent); read-only for clients


@dataclass(frozen=True)
class Field:
    name: str  # element local name
    uri: str  # FieldURI
    type: str
    types: frozenset[str]
    default_shape: bool = False  # part of BaseShape=Default

    @property
    def writable(self) -> bool:
        return self.type != COMPUTED


def _f(
    name: str,
    uri: str,
    type_: str,
    types: frozenset[str] | tuple[str, ...] = ALL,
    default: bool = False,
) -> Field:
    return Field(name, uri, type_, frozenset(types), default)


C, D, E, MSG = (CONTACT,), (DLIST,), (EVENT,), (MESSAGE,)
CD = (CONTACT, DLIST)

FIELDS: tuple[Field, ...] = (
    _f("MimeContent", "item:MimeContent", RAW),
    _f("ItemId", "item:ItemId", COMPUTED, default=True),
    _f("ParentFolderId", "item:ParentFolderId", COMPUTED),
    _f("ItemClass", "item:ItemClass", STR),
    _f("Subject", "item:Subject", STR, default=True),
    _f("Sensitivity", "item:Sensitivity", STR),
    _f("Body", "item:Body", BODY),
    _f("Attachments", "item:Attachments", RAW),
    _f("DateTimeReceived", "item:DateTimeReceived", COMPUTED),
    _f("Size", "item:Size", COMPUTED),
    _f("Categories", "item:Categories", STRLIST),
    _f("Importance", "item:Importance", STR),
    _f("InReplyTo", "item:InReplyTo", STR),
    _f("IsSubmitted", "item:IsSubmitted", COMPUTED),
    _f("IsDraft", "item:IsDraft", COMPUTED),
    _f("IsFromMe", "item:IsFromMe", COMPUTED),
    _f("IsResend", "item:IsResend", COMPUTED),
    _f("IsUnmodified", "item:IsUnmodified", COMPUTED),
    _f("InternetMessageHeaders", "item:InternetMessageHeaders", COMPUTED),
    _f("DateTimeSent", "item:DateTimeSent", COMPUTED),
    _f("DateTimeCreated", "item:DateTimeCreated", COMPUTED),
    _f("ResponseObjects", "item:ResponseObjects", COMPUTED),
    _f("ReminderDueBy", "item:ReminderDueBy", DATETIME),
    _f("ReminderIsSet", "item:ReminderIsSet", BOOL),
    _f("ReminderNextTime", "item:ReminderNextTime", COMPUTED),
    _f("ReminderMinutesBeforeStart", "item:ReminderMinutesBeforeStart", INT),
    _f("DisplayCc", "item:DisplayCc", COMPUTED),
    _f("DisplayTo", "item:DisplayTo", COMPUTED),
    _f("DisplayBcc", "item:DisplayBcc", COMPUTED),
    _f("HasAttachments", "item:HasAttachments", COMPUTED, default=True),
    _f("Culture", "item:Culture", STR),
    _f("EffectiveRights", "item:EffectiveRights", COMPUTED),
    _f("LastModifiedName", "item:LastModifiedName", COMPUTED),
    _f("LastModifiedTime", "item:LastModifiedTime", COMPUTED),
    _f("IsAssociated", "item:IsAssociated", COMPUTED),
    _f("WebClientReadFormQueryString", "item:WebClientReadFormQueryString", COMPUTED),
    _f("WebClientEditFormQueryString", "item:WebClientEditFormQueryString", COMPUTED),
    _f("ConversationId", "item:ConversationId", COMPUTED),
    _f("UniqueBody", "item:UniqueBody", COMPUTED),
    _f("Flag", "item:Flag", RAW),
    _f("StoreEntryId", "item:StoreEntryId", COMPUTED),
    _f("InstanceKey", "item:InstanceKey", COMPUTED),
    _f("NormalizedBody", "item:NormalizedBody", COMPUTED),
    _f("EntityExtractionResult", "item:EntityExtractionResult", COMPUTED),
    _f("PolicyTag", "item:PolicyTag", RAW),
    _f("ArchiveTag", "item:ArchiveTag", RAW),
    _f("RetentionDate", "item:RetentionDate", COMPUTED),
    _f("Preview", "item:Preview", COMPUTED),
    _f("TextBody", "item:TextBody", COMPUTED),
    _f("IconIndex", "item:IconIndex", COMPUTED),
    # MessageType
    _f("Sender", "message:Sender", MAILBOX, MSG),
    _f("ToRecipients", "message:ToRecipients", RAW, MSG),
    _f("CcRecipients", "message:CcRecipients", RAW, MSG),
    _f("BccRecipients", "message:BccRecipients", RAW, MSG),
    _f("IsReadReceiptRequested", "message:IsReadReceiptRequested", BOOL, MSG),
    _f("IsDeliveryReceiptRequested", "message:IsDeliveryReceiptRequested", BOOL, MSG),
    _f("ConversationIndex", "message:ConversationIndex", COMPUTED, MSG),
    _f("ConversationTopic", "message:ConversationTopic", COMPUTED, MSG),
    _f("From", "message:From", MAILBOX, MSG),
    _f("InternetMessageId", "message:InternetMessageId", STR, MSG),
    _f("IsRead", "message:IsRead", BOOL, MSG),
    _f("IsResponseRequested", "message:IsResponseRequested", BOOL, MSG),
    _f("References", "message:References", STR, MSG),
    _f("ReplyTo", "message:ReplyTo", RAW, MSG),
    _f("ReceivedBy", "message:ReceivedBy", COMPUTED, MSG),
    _f("ReceivedRepresenting", "message:ReceivedRepresenting", COMPUTED, MSG),
    # Contact (ContactItemType) and DistributionList
    _f("FileAs", "contacts:FileAs", STR, CD, default=True),
    _f("FileAsMapping", "contacts:FileAsMapping", STR, C),
    _f("DisplayName", "contacts:DisplayName", STR, CD, default=True),
    _f("GivenName", "contacts:GivenName", STR, C, default=True),
    _f("Initials", "contacts:Initials", STR, C),
    _f("MiddleName", "contacts:MiddleName", STR, C),
    _f("Nickname", "contacts:Nickname", STR, C),
    _f("CompleteName", "contacts:CompleteName", COMPUTED, C),
    _f("CompanyName", "contacts:CompanyName", STR, C, default=True),
    _f("EmailAddresses", "contacts:EmailAddress", INDEXED, C, default=True),
    _f("PhysicalAddresses", "contacts:PhysicalAddress", ADDRESSES, C, default=True),
    _f("PhoneNumbers", "contacts:PhoneNumber", INDEXED, C, default=True),
    _f("AssistantName", "contacts:AssistantName", STR, C, default=True),
    _f("Birthday", "contacts:Birthday", DATETIME, C),
    _f("BusinessHomePage", "contacts:BusinessHomePage", STR, C),
    _f("Children", "contacts:Children", STRLIST, C),
    _f("Companies", "contacts:Companies", STRLIST, C),
    _f("ContactSource", "contacts:ContactSource", COMPUTED, CD),
    _f("Department", "contacts:Department", STR, C, default=True),
    _f("Generation", "contacts:Generation", STR, C),
    _f("ImAddresses", "contacts:ImAddress", INDEXED, C),
    _f("JobTitle", "contacts:JobTitle", STR, C, default=True),
    _f("Manager", "contacts:Manager", STR, C),
    _f("Mileage", "contacts:Mileage", STR, C),
    _f("OfficeLocation", "contacts:OfficeLocation", STR, C),
    _f("PostalAddressIndex", "contacts:PostalAddressIndex", STR, C),
    _f("Profession", "contacts:Profession", STR, C),
    _f("SpouseName", "contacts:SpouseName", STR, C),
    _f("Surname", "contacts:Surname", STR, C, default=True),
    _f("WeddingAnniversary", "contacts:WeddingAnniversary", DATETIME, C),
    _f("HasPicture", "contacts:HasPicture", COMPUTED, C),
    _f("PhoneticFullName", "contacts:PhoneticFullName", COMPUTED, C),
    _f("PhoneticFirstName", "contacts:PhoneticFirstName", COMPUTED, C),
    _f("PhoneticLastName", "contacts:PhoneticLastName", COMPUTED, C),
    _f("Alias", "contacts:Alias", COMPUTED, C),
    _f("Notes", "contacts:Notes", COMPUTED, C),
    _f("Photo", "contacts:Photo", COMPUTED, C),
    _f("UserSMIMECertificate", "contacts:UserSMIMECertificate", COMPUTED, C),
    _f("MSExchangeCertificate", "contacts:MSExchangeCertificate", COMPUTED, C),
    _f("DirectoryId", "contacts:DirectoryId", COMPUTED, C),
    _f("ManagerMailbox", "contacts:ManagerMailbox", COMPUTED, C),
    _f("DirectReports", "contacts:DirectReports", COMPUTED, C),
    _f("Members", "distributionlist:Members", MEMBERS, D),
    # CalendarItemType
    # Settable and updatable, as the EWS Managed API declares ICalUid (CanSet, CanUpdate)
    # and exchangelib's live tests update it; without one, the item's own id stands in.
    _f("UID", "calendar:UID", STR, E),
    _f("RecurrenceId", "calendar:RecurrenceId", COMPUTED, E),
    _f("DateTimeStamp", "calendar:DateTimeStamp", COMPUTED, E),
    _f("Start", "calendar:Start", DATETIME, E, default=True),
    _f("End", "calendar:End", DATETIME, E, default=True),
    _f("OriginalStart", "calendar:OriginalStart", COMPUTED, E),
    _f("IsAllDayEvent", "calendar:IsAllDayEvent", BOOL, E),
    _f("LegacyFreeBusyStatus", "calendar:LegacyFreeBusyStatus", STR, E, default=True),
    _f("Location", "calendar:Location", STR, E, default=True),
    _f("When", "calendar:When", STR, E),
    _f("IsMeeting", "calendar:IsMeeting", COMPUTED, E),
    _f("IsCancelled", "calendar:IsCancelled", COMPUTED, E),
    _f("IsRecurring", "calendar:IsRecurring", COMPUTED, E),
    _f("MeetingRequestWasSent", "calendar:MeetingRequestWasSent", COMPUTED, E),
    _f("IsResponseRequested", "calendar:IsResponseRequested", BOOL, E),
    _f("CalendarItemType", "calendar:CalendarItemType", COMPUTED, E, default=True),
    _f("MyResponseType", "calendar:MyResponseType", COMPUTED, E),
    _f("Organizer", "calendar:Organizer", MAILBOX, E, default=True),
    _f("RequiredAttendees", "calendar:RequiredAttendees", ATTENDEES, E),
    _f("OptionalAttendees", "calendar:OptionalAttendees", ATTENDEES, E),
    _f("Resources", "calendar:Resources", ATTENDEES, E),
    _f("ConflictingMeetingCount", "calendar:ConflictingMeetingCount", COMPUTED, E),
    _f("AdjacentMeetingCount", "calendar:AdjacentMeetingCount", COMPUTED, E),
    _f("ConflictingMeetings", "calendar:ConflictingMeetings", COMPUTED, E),
    _f("AdjacentMeetings", "calendar:AdjacentMeetings", COMPUTED, E),
    _f("Duration", "calendar:Duration", COMPUTED, E),
    _f("TimeZone", "calendar:TimeZone", COMPUTED, E),
    _f("AppointmentReplyTime", "calendar:AppointmentReplyTime", COMPUTED, E),
    _f("AppointmentSequenceNumber", "calendar:AppointmentSequenceNumber", COMPUTED, E),
    _f("AppointmentState", "calendar:AppointmentState", COMPUTED, E),
    _f("Recurrence", "calendar:Recurrence", RECURRENCE, E),
    _f("FirstOccurrence", "calendar:FirstOccurrence", COMPUTED, E),
    _f("LastOccurrence", "calendar:LastOccurrence", COMPUTED, E),
    _f("ModifiedOccurrences", "calendar:ModifiedOccurrences", COMPUTED, E),
    _f("DeletedOccurrences", "calendar:DeletedOccurrences", COMPUTED, E),
    _f("MeetingTimeZone", "calendar:MeetingTimeZone", RAW, E),
    _f("StartTimeZone", "calendar:StartTimeZone", TIMEZONE, E),
    _f("EndTimeZone", "calendar:EndTimeZone", TIMEZONE, E),
    _f("ConferenceType", "calendar:ConferenceType", INT, E),
    _f("AllowNewTimeProposal", "calendar:AllowNewTimeProposal", BOOL, E),
    _f("IsOnlineMeeting", "calendar:IsOnlineMeeting", BOOL, E),
    _f("MeetingWorkspaceUrl", "calendar:MeetingWorkspaceUrl", STR, E),
    _f("NetShowUrl", "calendar:NetShowUrl", STR, E),
    _f("EnhancedLocation", "calendar:EnhancedLocation", RAW, E),
    _f("StartWallClock", "calendar:StartWallClock", COMPUTED, E),
    _f("EndWallClock", "calendar:EndWallClock", COMPUTED, E),
    _f("StartTimeZoneId", "calendar:StartTimeZoneId", COMPUTED, E),
    _f("EndTimeZoneId", "calendar:EndTimeZoneId", COMPUTED, E),
    _f("IntendedFreeBusyStatus", "calendar:IntendedFreeBusyStatus", COMPUTED, E),
    _f("JoinOnlineMeetingUrl", "calendar:JoinOnlineMeetingUrl", COMPUTED, E),
    _f("OnlineMeetingSettings", "calendar:OnlineMeetingSettings", COMPUTED, E),
    _f("IsOrganizer", "calendar:IsOrganizer", COMPUTED, E),
)

BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}
BY_URI: dict[str, Field] = {f.uri: f for f in FIELDS}
ORDER: dict[str, int] = {f.name: i for i, f in enumerate(FIELDS)}
FIELDS_FOR: dict[str, tuple[Field, ...]] = {
    t: tuple(f for f in FIELDS if t in f.types) for t in ITEM_TYPES
}
# Element name -> property, per item type: MessageType and CalendarItemType both have an
# IsResponseRequested, with different FieldURIs.
NAMED_FOR: dict[str, dict[str, Field]] = {
    t: {f.name: f for f in fields} for t, fields in FIELDS_FOR.items()
}

# Properties Exchange never returns from SyncFolderItems or FindItem (MS-OXWSSYNC 3.1.4.2,
# MS-OXWSSRCH): streamed/large properties.
NOT_IN_SYNC = frozenset({"Body", "MimeContent", "Attachments", "UniqueBody", "TextBody"})

# Indexed field URI -> container element, for IndexedFieldURI in shapes and updates.
INDEXED_URIS = {
    "contacts:EmailAddress": "EmailAddresses",
    "contacts:PhoneNumber": "PhoneNumbers",
    "contacts:ImAddress": "ImAddresses",
}
ADDRESS_PARTS = ("Street", "City", "State", "CountryOrRegion", "PostalCode")
ADDRESS_URIS = {f"contacts:PhysicalAddress:{p}": p for p in ADDRESS_PARTS}

PHONE_KEYS = (
    "AssistantPhone",
    "BusinessFax",
    "BusinessPhone",
    "BusinessPhone2",
    "Callback",
    "CarPhone",
    "CompanyMainPhone",
    "HomeFax",
    "HomePhone",
    "HomePhone2",
    "Isdn",
    "MobilePhone",
    "OtherFax",
    "OtherTelephone",
    "Pager",
    "PrimaryPhone",
    "RadioPhone",
    "Telex",
    "TtyTddPhone",
)
INDEX_KEYS = {
    "EmailAddresses": ("EmailAddress1", "EmailAddress2", "EmailAddress3"),
    "PhoneNumbers": PHONE_KEYS,
    "ImAddresses": ("ImAddress1", "ImAddress2", "ImAddress3"),
    "PhysicalAddresses": ("Business", "Home", "Other"),
}

DISTINGUISHED_SETS = {
    "Address": "00062004-0000-0000-c000-000000000046",
    "AirSync": "71035549-0739-4dcb-9163-00f0580dbbdf",
    "Appointment": "00062002-0000-0000-c000-000000000046",
    "CalendarAssistant": "11000e07-b51b-40d6-af21-caa85edab1d0",
    "Common": "00062008-0000-0000-c000-000000000046",
    "InternetHeaders": "00020386-0000-0000-c000-000000000046",
    "Log": "0006200a-0000-0000-c000-000000000046",
    "Mapi": "00020328-0000-0000-c000-000000000046",
    "Meeting": "6ed8da90-450b-101b-98da-00aa003f1305",
    "Messaging": "41f28f13-83f4-4114-a584-eedb5a6b0bff",
    "Note": "0006200e-0000-0000-c000-000000000046",
    "PostRss": "00062041-0000-0000-c000-000000000046",
    "PublicStrings": "00020329-0000-0000-c000-000000000046",
    "Remote": "00062014-0000-0000-c000-000000000046",
    "Report": "00062013-0000-0000-c000-000000000046",
    "Sharing": "00062040-0000-0000-c000-000000000046",
    "Task": "00062003-0000-0000-c000-000000000046",
    "UnifiedMessaging": "4442858e-a9e3-4e80-b900-317a210cc15b",
}


def ext_key(attrs: dict[str, str]) -> str:
    """The identity of an extended property, independent of how a client spells it.

    Exchange compares property-set GUIDs case-insensitively and treats a distinguished set
    name and its GUID as the same set; tags are numbers whatever their hex spelling.
    """
    tag = attrs.get("PropertyTag")
    if tag:
        return f"tag:{int(tag, 16) if tag.lower().startswith('0x') else int(tag)}"
    pset = attrs.get("DistinguishedPropertySetId")
    guid = DISTINGUISHED_SETS.get(pset, "") if pset else (attrs.get("PropertySetId") or "").lower()
    if "PropertyName" in attrs:
        return f"{guid}:name:{attrs['PropertyName']}"
    pid = attrs.get("PropertyId", "0")
    return f"{guid}:id:{int(pid, 16) if pid.lower().startswith('0x') else int(pid)}"
