"""Contacts between the transport's field names (EWS names, `lightningsync.fieldmaps`) and
Microsoft Graph's `contact` JSON, plus our two stamps as single-value extended properties.

Graph keeps several EWS fields in lists (`emailAddresses`, `businessPhones`, `homePhones`):
writing one entry rewrites the list, so an update reads the lists it touches first and
changes only its entries (a rep's second phone stays). The phones Graph has no property for
(faxes, other and assistant's phone) are the MAPI properties Exchange keeps them in, reached
as extended properties by their tag.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from ..protocol import Address, ExchangeItem, FieldValue

# The private property set of our stamps: the same as over EWS, so either protocol sees them.
PROPERTY_SET_ID = "7d3f5e0a-94a8-4d0c-b1f1-5b2f8c1e6a42"
ORG_PROPERTY = f"String {{{PROPERTY_SET_ID}}} Name LightningSyncOrgId"
CRM_PROPERTY = f"String {{{PROPERTY_SET_ID}}} Name LightningSyncCrmId"

SIMPLE = {
    "GivenName": "givenName",
    "Surname": "surname",
    "CompanyName": "companyName",
    "JobTitle": "jobTitle",
    "Department": "department",
    "OfficeLocation": "officeLocation",
    "Nickname": "nickName",
    "Manager": "manager",
    "AssistantName": "assistantName",
    "MobilePhone": "mobilePhone",
    "Body": "personalNotes",
}
# field -> (Graph list property, index)
LISTED = {
    "EmailAddress1": ("emailAddresses", 0),
    "EmailAddress2": ("emailAddresses", 1),
    "EmailAddress3": ("emailAddresses", 2),
    "BusinessPhone": ("businessPhones", 0),
    "BusinessPhone2": ("businessPhones", 1),
    "HomePhone": ("homePhones", 0),
    "HomePhone2": ("homePhones", 1),
}
ADDRESSES = {
    "BusinessAddress": "businessAddress",
    "HomeAddress": "homeAddress",
    "OtherAddress": "otherAddress",
}
# MAPI property tags (PidTagBusinessFaxNumber, ...), as Graph names them.
TAGGED = {
    "BusinessFax": "String 0x3a24",
    "HomeFax": "String 0x3a25",
    "OtherTelephone": "String 0x3a1f",
    "AssistantPhone": "String 0x3a2e",
}
_ADDRESS_PARTS = (
    ("street", "street"),
    ("city", "city"),
    ("state", "state"),
    ("postal_code", "postalCode"),
    ("country", "countryOrRegion"),
)


def select_for(fields: Iterable[str]) -> list[str]:
    """The Graph properties that hold `fields` (for `$select`), always with changeKey."""
    props = {"changeKey", "lastModifiedDateTime"}
    for name in fields:
        if name in SIMPLE:
            props.add(SIMPLE[name])
        elif name in LISTED:
            props.add(LISTED[name][0])
        elif name in ADDRESSES:
            props.add(ADDRESSES[name])
        elif name == "Birthday":
            props.add("birthday")
    return sorted(props)


def extended_ids(fields: Iterable[str]) -> list[str]:
    """The extended properties to expand: our stamps and the tagged fields asked for."""
    return [ORG_PROPERTY, CRM_PROPERTY, *(TAGGED[f] for f in fields if f in TAGGED)]


def expand_for(fields: Iterable[str]) -> str:
    clauses = " or ".join(f"id eq '{pid}'" for pid in extended_ids(fields))
    return f"singleValueExtendedProperties($filter={clauses})"


def stamped_filter() -> str:
    """`$filter` of the items holding an org stamp, whoever's: stamps are never empty, and
    `ne` on a string value is what Microsoft documents for these filters."""
    return f"singleValueExtendedProperties/Any(ep: ep/id eq '{ORG_PROPERTY}' and ep/value ne '')"


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value != "" else None


def _listed(data: dict[str, Any], prop: str, index: int) -> str | None:
    values = data.get(prop) or []
    if index >= len(values):
        return None
    entry = values[index]
    return _text(entry.get("address") if isinstance(entry, dict) else entry)


def _address(value: Any) -> Address | None:
    if not isinstance(value, dict):
        return None
    parts = {ours: _text(value.get(theirs)) for ours, theirs in _ADDRESS_PARTS}
    return Address(**parts) if any(parts.values()) else None


def _birthday(value: Any) -> dt.date | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def moment(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def stamps_of(data: dict[str, Any]) -> dict[str, str]:
    """{extended property id (lower-case): value} of an expanded contact."""
    return {
        str(p.get("id", "")).lower(): str(p.get("value"))
        for p in data.get("singleValueExtendedProperties") or []
        if isinstance(p, dict) and p.get("value") is not None
    }


def read_item(data: dict[str, Any], fields: Sequence[str]) -> ExchangeItem:
    """A Graph contact (with `$expand`ed extended properties) as an ExchangeItem."""
    ext = stamps_of(data)
    values: dict[str, FieldValue] = {}
    for name in fields:
        if name in SIMPLE:
            values[name] = _text(data.get(SIMPLE[name]))
        elif name in LISTED:
            values[name] = _listed(data, *LISTED[name])
        elif name in ADDRESSES:
            values[name] = _address(data.get(ADDRESSES[name]))
        elif name == "Birthday":
            values[name] = _birthday(data.get("birthday"))
        elif name in TAGGED:
            values[name] = _text(ext.get(TAGGED[name].lower()))
    return ExchangeItem(
        id=str(data["id"]),
        change_key=str(data.get("changeKey") or ""),
        org_stamp=ext.get(ORG_PROPERTY.lower()),
        crm_stamp=ext.get(CRM_PROPERTY.lower()),
        last_modified=moment(data.get("lastModifiedDateTime")),
        fields=values,
    )


def lists_touched(fields: Iterable[str]) -> set[str]:
    return {LISTED[f][0] for f in fields if f in LISTED}


def _list_entry(prop: str, value: str) -> Any:
    return {"address": value, "name": value} if prop == "emailAddresses" else value


def _write_address(value: FieldValue) -> dict[str, Any]:
    if not isinstance(value, Address):
        return {}
    return {theirs: getattr(value, ours) for ours, theirs in _ADDRESS_PARTS
            if getattr(value, ours)}


def write_body(
    fields: dict[str, FieldValue],
    *,
    current: dict[str, Any] | None = None,
    stamps: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """The JSON of a POST (create) or PATCH (update) setting `fields` (None clears one).

    `current`: the item's present list properties, so that setting one entry keeps the others.
    `stamps`: (org ID, CRM id) to write.
    """
    body: dict[str, Any] = {}
    lists: dict[str, list[Any]] = {}
    extended: list[dict[str, str]] = []
    for name, value in fields.items():
        if name in SIMPLE:
            body[SIMPLE[name]] = value if value not in ("", None) else None
        elif name in LISTED:
            prop, index = LISTED[name]
            if prop not in lists:
                lists[prop] = list((current or {}).get(prop) or [])
            entries = lists[prop]
            while len(entries) <= index:
                entries.append(None)
            entries[index] = _list_entry(prop, str(value)) if value not in ("", None) else None
        elif name in ADDRESSES:
            body[ADDRESSES[name]] = _write_address(value)
        elif name == "Birthday":
            body["birthday"] = (
                f"{value.isoformat()}T11:59:00Z" if isinstance(value, dt.date) else None
            )
        elif name in TAGGED:
            # An extended property cannot be set to null: an empty string clears it for Outlook.
            extended.append({"id": TAGGED[name], "value": "" if value is None else str(value)})
    for prop, entries in lists.items():
        # Graph lists have no holes: a cleared first phone lets the second move up, as in Outlook.
        body[prop] = [e for e in entries if e is not None]
    if stamps is not None:
        org_id, crm_id = stamps
        extended += [{"id": ORG_PROPERTY, "value": org_id}, {"id": CRM_PROPERTY, "value": crm_id}]
    if extended:
        body["singleValueExtendedProperties"] = extended
    return body
