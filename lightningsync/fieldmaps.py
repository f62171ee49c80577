"""The catalogue of mappable fields and the default mappings (SPEC §3).

One place for what can map to what: Setup's mapping tables, configuration import and the
sync engine's mapping all read this module. A mapping is a dict CRM field -> Exchange field;
an empty dict in a configuration means "the defaults".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """The value kind of a field; a CRM field maps only to an Exchange field of a compatible
    kind."""

    TEXT = "text"  # a single line
    LONG_TEXT = "long_text"  # notes, bodies
    EMAIL = "email"
    PHONE = "phone"
    DATE = "date"
    DATETIME = "datetime"
    BOOL = "bool"
    ADDRESS = "address"  # street, city, state, postal code, country
    FREE_BUSY = "free_busy"
    SENSITIVITY = "sensitivity"  # private <-> Private/Confidential


# What may flow into what. Anything textual may land in a longer text field; phones and
# emails are single-line text on the Exchange side too.
_COMPATIBLE: dict[Kind, frozenset[Kind]] = {
    Kind.TEXT: frozenset({Kind.TEXT, Kind.LONG_TEXT}),
    Kind.LONG_TEXT: frozenset({Kind.LONG_TEXT}),
    Kind.EMAIL: frozenset({Kind.EMAIL}),
    Kind.PHONE: frozenset({Kind.PHONE, Kind.TEXT}),
    Kind.DATE: frozenset({Kind.DATE}),
    Kind.DATETIME: frozenset({Kind.DATETIME}),
    Kind.BOOL: frozenset({Kind.BOOL}),
    Kind.ADDRESS: frozenset({Kind.ADDRESS}),
    Kind.FREE_BUSY: frozenset({Kind.FREE_BUSY}),
    Kind.SENSITIVITY: frozenset({Kind.SENSITIVITY}),
}


def compatible(crm_kind: Kind, exchange_kind: Kind) -> bool:
    return exchange_kind in _COMPATIBLE[crm_kind]


@dataclass(frozen=True)
class CrmField:
    name: str
    label: str
    kind: Kind
    # Model attributes this field reads and writes (several for a composite address).
    attributes: tuple[str, ...]


@dataclass(frozen=True)
class ExchangeField:
    name: str  # EWS name, as used in configuration files
    label: str
    kind: Kind
    graph: str | None  # Microsoft Graph property, None when Graph has no equivalent


def _crm(name: str, label: str, kind: Kind, *attributes: str) -> CrmField:
    return CrmField(name, label, kind, attributes or (name,))


MAILING_ADDRESS_PARTS = (
    "mailing_street",
    "mailing_city",
    "mailing_state",
    "mailing_postal_code",
    "mailing_country",
)

CONTACT_CRM_FIELDS: dict[str, CrmField] = {
    f.name: f
    for f in (
        _crm("first_name", "First Name", Kind.TEXT),
        _crm("last_name", "Last Name", Kind.TEXT),
        _crm("email", "Email", Kind.EMAIL),
        _crm("account_name", "Account Name", Kind.TEXT, "account"),
        _crm("title", "Title", Kind.TEXT),
        _crm("department", "Department", Kind.TEXT),
        _crm("phone", "Phone", Kind.PHONE),
        _crm("mobile_phone", "Mobile", Kind.PHONE),
        _crm("home_phone", "Home Phone", Kind.PHONE),
        _crm("fax", "Fax", Kind.PHONE),
        _crm("assistant_name", "Assistant", Kind.TEXT),
        _crm("assistant_phone", "Asst. Phone", Kind.PHONE),
        _crm("birthdate", "Birthdate", Kind.DATE),
        _crm("mailing_address", "Mailing Address", Kind.ADDRESS, *MAILING_ADDRESS_PARTS),
        _crm("description", "Description", Kind.LONG_TEXT),
    )
}

CONTACT_EXCHANGE_FIELDS: dict[str, ExchangeField] = {
    f.name: f
    for f in (
        ExchangeField("GivenName", "First name", Kind.TEXT, "givenName"),
        ExchangeField("Surname", "Last name", Kind.TEXT, "surname"),
        ExchangeField("EmailAddress1", "Email", Kind.EMAIL, "emailAddresses[0]"),
        ExchangeField("EmailAddress2", "Email 2", Kind.EMAIL, "emailAddresses[1]"),
        ExchangeField("EmailAddress3", "Email 3", Kind.EMAIL, "emailAddresses[2]"),
        ExchangeField("CompanyName", "Company", Kind.TEXT, "companyName"),
        ExchangeField("JobTitle", "Job title", Kind.TEXT, "jobTitle"),
        ExchangeField("Department", "Department", Kind.TEXT, "department"),
        ExchangeField("OfficeLocation", "Office", Kind.TEXT, "officeLocation"),
        ExchangeField("Nickname", "Nickname", Kind.TEXT, "nickName"),
        ExchangeField("Manager", "Manager's name", Kind.TEXT, "manager"),
        ExchangeField("BusinessPhone", "Business phone", Kind.PHONE, "businessPhones[0]"),
        ExchangeField("BusinessPhone2", "Business phone 2", Kind.PHONE, "businessPhones[1]"),
        ExchangeField("MobilePhone", "Mobile phone", Kind.PHONE, "mobilePhone"),
        ExchangeField("HomePhone", "Home phone", Kind.PHONE, "homePhones[0]"),
        ExchangeField("HomePhone2", "Home phone 2", Kind.PHONE, "homePhones[1]"),
        ExchangeField("BusinessFax", "Business fax", Kind.PHONE, None),
        ExchangeField("HomeFax", "Home fax", Kind.PHONE, None),
        ExchangeField("OtherTelephone", "Other phone", Kind.PHONE, None),
        ExchangeField("AssistantName", "Assistant's name", Kind.TEXT, "assistantName"),
        ExchangeField("AssistantPhone", "Assistant's phone", Kind.PHONE, None),
        ExchangeField("Birthday", "Birthday", Kind.DATE, "birthday"),
        ExchangeField("BusinessAddress", "Business address", Kind.ADDRESS, "businessAddress"),
        ExchangeField("HomeAddress", "Home address", Kind.ADDRESS, "homeAddress"),
        ExchangeField("OtherAddress", "Other address", Kind.ADDRESS, "otherAddress"),
        ExchangeField("Body", "Notes", Kind.LONG_TEXT, "personalNotes"),
    )
}

DEFAULT_CONTACT_MAPPING: dict[str, str] = {
    "first_name": "GivenName",
    "last_name": "Surname",
    "email": "EmailAddress1",
    "account_name": "CompanyName",
    "title": "JobTitle",
    "department": "Department",
    "phone": "BusinessPhone",
    "mobile_phone": "MobilePhone",
    "home_phone": "HomePhone",
    "fax": "BusinessFax",
    "assistant_name": "AssistantName",
    "birthdate": "Birthday",
    "mailing_address": "BusinessAddress",
    "description": "Body",
}
# Matching uses these, so they cannot be remapped or removed.
FIXED_CONTACT_MAPPING: dict[str, str] = {
    "first_name": "GivenName",
    "last_name": "Surname",
    "email": "EmailAddress1",
    "account_name": "CompanyName",
}

EVENT_CRM_FIELDS: dict[str, CrmField] = {
    f.name: f
    for f in (
        _crm("subject", "Subject", Kind.TEXT),
        _crm("start", "Start", Kind.DATETIME),
        _crm("end", "End", Kind.DATETIME),
        _crm("is_all_day", "All-Day Event", Kind.BOOL),
        _crm("location", "Location", Kind.TEXT),
        _crm("description", "Description", Kind.LONG_TEXT),
        _crm("show_as", "Show Time As", Kind.FREE_BUSY),
        _crm("is_private", "Private", Kind.SENSITIVITY),
    )
}

EVENT_EXCHANGE_FIELDS: dict[str, ExchangeField] = {
    f.name: f
    for f in (
        ExchangeField("Subject", "Subject", Kind.TEXT, "subject"),
        ExchangeField("Start", "Start", Kind.DATETIME, "start"),
        ExchangeField("End", "End", Kind.DATETIME, "end"),
        ExchangeField("IsAllDayEvent", "All day", Kind.BOOL, "isAllDay"),
        ExchangeField("Location", "Location", Kind.TEXT, "location"),
        ExchangeField("Body", "Body (text)", Kind.LONG_TEXT, "body"),
        ExchangeField("LegacyFreeBusyStatus", "Show as", Kind.FREE_BUSY, "showAs"),
        ExchangeField("Sensitivity", "Sensitivity", Kind.SENSITIVITY, "sensitivity"),
    )
}

DEFAULT_EVENT_MAPPING: dict[str, str] = {
    "subject": "Subject",
    "start": "Start",
    "end": "End",
    "is_all_day": "IsAllDayEvent",
    "location": "Location",
    "description": "Body",
    "show_as": "LegacyFreeBusyStatus",
    "is_private": "Sensitivity",
}
FIXED_EVENT_MAPPING: dict[str, str] = {
    "subject": "Subject",
    "start": "Start",
    "end": "End",
    "is_all_day": "IsAllDayEvent",
}


@dataclass(frozen=True)
class Catalogue:
    """Everything needed to validate or apply one object's mapping."""

    object_label: str
    crm_fields: dict[str, CrmField]
    exchange_fields: dict[str, ExchangeField]
    default: dict[str, str]
    fixed: dict[str, str]

    def effective(self, stored: dict[str, str] | None) -> dict[str, str]:
        """The mapping in force: the stored one, or the defaults when none is stored."""
        return dict(stored) if stored else dict(self.default)


CONTACTS = Catalogue(
    "contact",
    CONTACT_CRM_FIELDS,
    CONTACT_EXCHANGE_FIELDS,
    DEFAULT_CONTACT_MAPPING,
    FIXED_CONTACT_MAPPING,
)
EVENTS = Catalogue(
    "event", EVENT_CRM_FIELDS, EVENT_EXCHANGE_FIELDS, DEFAULT_EVENT_MAPPING, FIXED_EVENT_MAPPING
)
