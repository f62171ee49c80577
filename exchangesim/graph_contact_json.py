"""Contacts between Graph's JSON (microsoft.graph.contact) and the store's EWS properties.

One mapping, both ways. Graph properties with an EWS element map onto it (givenName ->
GivenName, businessPhones -> PhoneNumbers BusinessPhone/BusinessPhone2, businessAddress ->
PhysicalAddresses Business, personalNotes -> Body, ...). The few without one are the MAPI
properties Exchange keeps them in, stored as extended properties so EWS sees them too:
title (PidTagDisplayNamePrefix), yomi names (PidLidYomi*), the e-mail display names
(PidLidEmail1..3DisplayName).
"""

from __future__ import annotations

import re
from typing import Any

from . import graph_extprops
from .graph_errors import bad_request, invalid_value, unknown_property
from .graph_ids import etag, rest_id
from .itemxml import norm_datetime
from .schema import ext_key
from .store import Change, Item, Mailbox, SimError


def _address_prop(pid: int) -> dict[str, str]:
    return {
        "DistinguishedPropertySetId": "Address",
        "PropertyId": str(pid),
        "PropertyType": "String",
    }


SIMPLE = {
    "givenName": "GivenName",
    "surname": "Surname",
    "middleName": "MiddleName",
    "nickName": "Nickname",
    "initials": "Initials",
    "displayName": "DisplayName",
    "fileAs": "FileAs",
    "companyName": "CompanyName",
    "jobTitle": "JobTitle",
    "department": "Department",
    "officeLocation": "OfficeLocation",
    "profession": "Profession",
    "businessHomePage": "BusinessHomePage",
    "assistantName": "AssistantName",
    "manager": "Manager",
    "spouseName": "SpouseName",
    "generation": "Generation",
}
LISTS = {"categories": "Categories", "children": "Children"}
EXT_STRINGS = {
    "title": {"PropertyTag": "0x3a45", "PropertyType": "String"},
    "yomiGivenName": _address_prop(0x802C),
    "yomiSurname": _address_prop(0x802D),
    "yomiCompanyName": _address_prop(0x802E),
}
EMAIL_KEYS = ("EmailAddress1", "EmailAddress2", "EmailAddress3")
EMAIL_NAMES = (_address_prop(0x8080), _address_prop(0x8090), _address_prop(0x80A0))
PHONE_LISTS = {
    "businessPhones": ("BusinessPhone", "BusinessPhone2"),
    "homePhones": ("HomePhone", "HomePhone2"),
}
IM_KEYS = ("ImAddress1", "ImAddress2", "ImAddress3")
ADDRESSES = {"homeAddress": "Home", "businessAddress": "Business", "otherAddress": "Other"}
ADDRESS_PARTS = {
    "street": "Street",
    "city": "City",
    "state": "State",
    "countryOrRegion": "CountryOrRegion",
    "postalCode": "PostalCode",
}
READ_ONLY = {"id", "changeKey", "createdDateTime", "lastModifiedDateTime", "parentFolderId"}
# Graph's property order for a contact.
ORDER = (
    "id",
    "createdDateTime",
    "lastModifiedDateTime",
    "changeKey",
    "categories",
    "parentFolderId",
    "birthday",
    "fileAs",
    "displayName",
    "givenName",
    "initials",
    "middleName",
    "nickName",
    "surname",
    "title",
    "yomiGivenName",
    "yomiSurname",
    "yomiCompanyName",
    "generation",
    "imAddresses",
    "jobTitle",
    "companyName",
    "department",
    "officeLocation",
    "profession",
    "businessHomePage",
    "assistantName",
    "manager",
    "homePhones",
    "mobilePhone",
    "businessPhones",
    "spouseName",
    "personalNotes",
    "children",
    "emailAddresses",
    "homeAddress",
    "businessAddress",
    "otherAddress",
)
PROPERTIES = frozenset(ORDER)
_TAGS = re.compile(r"<[^>]+>")


def _ext_value(it: Item, uri: dict[str, str]) -> str | None:
    prop = it.ext.get(ext_key(uri))
    return None if prop is None else str(prop["value"])


def contact_json(it: Item, mbx: Mailbox) -> dict[str, Any]:
    """Every property of a contact, in Graph's order, unset ones null or empty."""
    f = it.fields
    emails = f.get("EmailAddresses") or {}
    phones = f.get("PhoneNumbers") or {}
    ims = f.get("ImAddresses") or {}
    places = f.get("PhysicalAddresses") or {}
    body = f.get("Body") or ""
    values: dict[str, Any] = {
        "id": rest_id(it.id),
        "createdDateTime": it.created,
        "lastModifiedDateTime": it.modified,
        "changeKey": it.changekey(),
        "categories": list(f.get("Categories") or []),
        "parentFolderId": rest_id(it.folder),
        "birthday": f.get("Birthday"),
        "personalNotes": _TAGS.sub("", body) if f.get("BodyType") == "HTML" else body,
        "children": list(f.get("Children") or []),
        "imAddresses": [ims[k] for k in IM_KEYS if ims.get(k)],
        "mobilePhone": phones.get("MobilePhone"),
        "emailAddresses": [
            {"name": _ext_value(it, EMAIL_NAMES[i]) or emails[k], "address": emails[k]}
            for i, k in enumerate(EMAIL_KEYS)
            if emails.get(k)
        ],
    }
    for prop, name in SIMPLE.items():
        values[prop] = f.get(name)
    for prop, uri in EXT_STRINGS.items():
        values[prop] = _ext_value(it, uri)
    for prop, keys in PHONE_LISTS.items():
        values[prop] = [phones[k] for k in keys if phones.get(k)]
    for prop, key in ADDRESSES.items():
        parts = places.get(key) or {}
        values[prop] = {g: parts[e] for g, e in ADDRESS_PARTS.items() if parts.get(e)}
    return {"@odata.etag": etag(it.changekey()), **{k: values[k] for k in ORDER}}


def _string(prop: str, value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise invalid_value(prop, "contact", "a string or null is expected.")
    return value or None


def _strings(prop: str, value: Any, most: int) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid_value(prop, "contact", "an array of strings is expected.")
    if len(value) > most:
        raise bad_request(
            f"{prop} holds at most {most} values in Exchange; {len(value)} were sent.",
            "ErrorInvalidArgument",
        )
    return [v for v in value if v]


def _set_or_del(path: tuple[str, ...], value: str | None) -> Change:
    return ("set", path, value) if value else ("del", path)


def contact_changes(body: dict[str, Any]) -> list[Change]:
    """A POST/PATCH body -> store changes; unknown properties answer 400 as Graph does."""
    changes: list[Change] = []
    for prop, value in body.items():
        if prop.startswith("@odata.") or prop in READ_ONLY:
            continue
        if prop in SIMPLE:
            changes.append(_set_or_del((SIMPLE[prop],), _string(prop, value)))
        elif prop in LISTS:
            items = _strings(prop, value, 1000)
            changes.append(("set", (LISTS[prop],), items) if items else ("del", (LISTS[prop],)))
        elif prop in EXT_STRINGS:
            uri = EXT_STRINGS[prop]
            text = _string(prop, value)
            key = ext_key(uri)
            changes.append(("set", ("ext", key, uri), text) if text else ("del", ("ext", key)))
        elif prop == "birthday":
            changes.append(_set_or_del(("Birthday",), _timestamp(prop, value)))
        elif prop == "personalNotes":
            text = _string(prop, value)
            changes.append(_set_or_del(("Body",), text))
            changes.append(("set", ("BodyType",), "Text"))
        elif prop == "mobilePhone":
            changes.append(_set_or_del(("PhoneNumbers", "MobilePhone"), _string(prop, value)))
        elif prop in PHONE_LISTS:
            keys = PHONE_LISTS[prop]
            phones = _strings(prop, value, len(keys))
            for i, key in enumerate(keys):
                changes.append(
                    _set_or_del(("PhoneNumbers", key), phones[i] if i < len(phones) else None)
                )
        elif prop == "imAddresses":
            ims = _strings(prop, value, len(IM_KEYS))
            for i, key in enumerate(IM_KEYS):
                changes.append(_set_or_del(("ImAddresses", key), ims[i] if i < len(ims) else None))
        elif prop == "emailAddresses":
            changes.extend(_email_changes(value))
        elif prop in ADDRESSES:
            changes.extend(_address_changes(prop, ADDRESSES[prop], value))
        elif prop == "singleValueExtendedProperties":
            changes.extend(graph_extprops.changes_from_json(value))
        else:
            raise unknown_property(prop, "contact")
    return changes


def _timestamp(prop: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) < 11:
        raise invalid_value(prop, "contact", f"'{value}' is not an Edm.DateTimeOffset.")
    try:
        return norm_datetime(value)
    except SimError:
        raise invalid_value(prop, "contact", f"'{value}' is not an Edm.DateTimeOffset.") from None


def _email_changes(value: Any) -> list[Change]:
    entries = value or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise invalid_value("emailAddresses", "contact", "an array of emailAddress is expected.")
    if len(entries) > len(EMAIL_KEYS):
        raise bad_request(
            f"A contact holds at most 3 e-mail addresses; {len(entries)} were sent.",
            "ErrorInvalidArgument",
        )
    changes: list[Change] = []
    for i, key in enumerate(EMAIL_KEYS):
        entry = entries[i] if i < len(entries) else {}
        for name in entry:
            if name not in ("name", "address", "@odata.type"):
                raise unknown_property(name, "emailAddress")
        address = _string("address", entry.get("address"))
        name_text = _string("name", entry.get("name")) if address else None
        changes.append(_set_or_del(("EmailAddresses", key), address))
        uri = EMAIL_NAMES[i]
        changes.append(
            ("set", ("ext", ext_key(uri), uri), name_text)
            if name_text
            else ("del", ("ext", ext_key(uri)))
        )
    return changes


def _address_changes(prop: str, key: str, value: Any) -> list[Change]:
    parts = value or {}
    if not isinstance(parts, dict):
        raise invalid_value(prop, "contact", "a physicalAddress object is expected.")
    for name in parts:
        if name not in ADDRESS_PARTS and name != "@odata.type":
            raise unknown_property(name, "physicalAddress")
    return [
        _set_or_del(("PhysicalAddresses", key, part), _string(name, parts.get(name)))
        for name, part in ADDRESS_PARTS.items()
    ]
