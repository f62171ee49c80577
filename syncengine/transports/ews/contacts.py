"""Contact fields between exchangelib `Contact` objects and the transport's field dicts.

Pure conversions, no requests. Field names are `lightningsync.fieldmaps` EWS names; indexed
entries (emails, phones, addresses) are addressed per label so that writing one label never
touches another (exchangelib's own UpdateItem would delete every label it isn't given).
`contact_xml` reads and writes the same fields straight from and to the XML, for speed.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterable
from typing import Any

from exchangelib import Contact
from exchangelib.ewsdatetime import EWSDate
from exchangelib.indexed_properties import EmailAddress, PhoneNumber, PhysicalAddress
from exchangelib.properties import Body, HTMLBody

from ..protocol import Address, FieldValue

TEXT_ATTRIBUTES = {
    "GivenName": "given_name",
    "Surname": "surname",
    "CompanyName": "company_name",
    "JobTitle": "job_title",
    "Department": "department",
    "OfficeLocation": "office",
    "Nickname": "nickname",
    "Manager": "manager",
    "AssistantName": "assistant_name",
}
EMAIL_LABELS = frozenset({"EmailAddress1", "EmailAddress2", "EmailAddress3"})
PHONE_LABELS = frozenset(
    {
        "BusinessPhone",
        "BusinessPhone2",
        "MobilePhone",
        "HomePhone",
        "HomePhone2",
        "BusinessFax",
        "HomeFax",
        "OtherTelephone",
        "AssistantPhone",
    }
)
ADDRESS_LABELS = {"BusinessAddress": "Business", "HomeAddress": "Home", "OtherAddress": "Other"}
# The text fields exchangelib refuses past a length of its own (the name parts, 255
# characters), by their exchangelib field: it raises before sending, for the whole request.
_LIMITED = {
    name: field
    for name, attr in TEXT_ATTRIBUTES.items()
    if getattr(field := Contact.get_field_by_fieldname(attr), "max_length", None)
}


def too_long_to_send(fields: dict[str, FieldValue]) -> tuple[str, str] | None:
    """(field, why) for the first value exchangelib would refuse to send for its length."""
    for name, field in _LIMITED.items():
        value, limit = fields.get(name), field.max_length
        if isinstance(value, str) and len(value) > limit:
            return name, (f"{name} is {len(value)} characters long; Exchange takes at most "
                          f"{limit}, so the contact was not sent")
    return None


def exchangelib_fields(names: Iterable[str]) -> set[str]:
    """The exchangelib field names to request for these EWS field names."""
    wanted: set[str] = {"last_modified_time"}
    for name in names:
        if name in TEXT_ATTRIBUTES:
            wanted.add(TEXT_ATTRIBUTES[name])
        elif name in EMAIL_LABELS:
            wanted.add("email_addresses")
        elif name in PHONE_LABELS:
            wanted.add("phone_numbers")
        elif name in ADDRESS_LABELS:
            wanted.add("physical_addresses")
        elif name == "Birthday":
            wanted.add("birthday")
        elif name == "Body":
            wanted.add("body")
        else:
            raise ValueError(f"{name!r} is not a contact field the EWS transport knows")
    return wanted


_TAG = re.compile(r"<[^>]+>")
_BREAK = re.compile(r"<\s*(br|/p|/div|/li)\b[^>]*>", re.IGNORECASE)
_STYLE = re.compile(r"<(style|script|head)\b.*?</\1>", re.IGNORECASE | re.DOTALL)


def html_to_text(value: str) -> str:
    """Outlook may store notes as HTML; the CRM keeps plain text."""
    value = _STYLE.sub("", value)
    value = _BREAK.sub("\n", value)
    text = html.unescape(_TAG.sub("", value))
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    return "\n".join(lines).strip()


def nonblank(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if text.strip() else None


def read_fields(item: Contact, names: Iterable[str]) -> dict[str, FieldValue]:
    """The requested EWS fields of an exchangelib Contact; absent values are None."""
    emails = {e.label: e.email for e in (item.email_addresses or [])}
    phones = {p.label: p.phone_number for p in (item.phone_numbers or [])}
    addresses = {a.label: a for a in (item.physical_addresses or [])}
    out: dict[str, FieldValue] = {}
    for name in names:
        if name in TEXT_ATTRIBUTES:
            out[name] = nonblank(getattr(item, TEXT_ATTRIBUTES[name], None))
        elif name in EMAIL_LABELS:
            out[name] = nonblank(emails.get(name))
        elif name in PHONE_LABELS:
            out[name] = nonblank(phones.get(name))
        elif name in ADDRESS_LABELS:
            entry = addresses.get(ADDRESS_LABELS[name])
            out[name] = _address(entry)
        elif name == "Birthday":
            out[name] = _date(item.birthday)
        elif name == "Body":
            body = item.body
            if body is None:
                out[name] = None
            else:
                text = html_to_text(body) if isinstance(body, HTMLBody) else str(body)
                out[name] = nonblank(text)
    return out



def _date(value: Any) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    return dt.date(value.year, value.month, value.day)


def _address(entry: PhysicalAddress | None) -> Address | None:
    if entry is None:
        return None
    address = Address(
        street=nonblank(entry.street),
        city=nonblank(entry.city),
        state=nonblank(entry.state),
        postal_code=nonblank(entry.zipcode),
        country=nonblank(entry.country),
    )
    return address if any(vars(address).values()) else None


def display_name(fields: dict[str, FieldValue]) -> str:
    """Outlook shows DisplayName; EWS requires it on create and does not derive it."""
    parts = [fields.get("GivenName"), fields.get("Surname")]
    name = " ".join(str(p) for p in parts if p)
    return name or str(fields.get("CompanyName") or fields.get("EmailAddress1") or "(no name)")


def apply_fields(item: Contact, fields: dict[str, FieldValue]) -> list[str]:
    """Set `fields` on `item`; returns the exchangelib field names to send.

    Indexed entries are set per label; a None value becomes an entry with empty subfields,
    which the label-aware update turns into DeleteItemField for that label only.
    """
    touched: list[str] = []
    emails: list[EmailAddress] = []
    phones: list[PhoneNumber] = []
    addresses: list[PhysicalAddress] = []
    for name, value in fields.items():
        if name in TEXT_ATTRIBUTES:
            setattr(item, TEXT_ATTRIBUTES[name], value if value else None)
            touched.append(TEXT_ATTRIBUTES[name])
        elif name in EMAIL_LABELS:
            emails.append(EmailAddress(label=name, email=value or None))
        elif name in PHONE_LABELS:
            phones.append(PhoneNumber(label=name, phone_number=value or None))
        elif name in ADDRESS_LABELS:
            a = value if isinstance(value, Address) else Address()
            addresses.append(
                PhysicalAddress(
                    label=ADDRESS_LABELS[name],
                    street=a.street,
                    city=a.city,
                    state=a.state,
                    zipcode=a.postal_code,
                    country=a.country,
                )
            )
        elif name == "Birthday":
            item.birthday = EWSDate.from_date(value) if isinstance(value, dt.date) else None
            touched.append("birthday")
        elif name == "Body":
            item.body = Body(str(value)) if value else None
            touched.append("body")
        else:
            raise ValueError(f"{name!r} is not a contact field the EWS transport knows")
    if emails:
        item.email_addresses = emails
        touched.append("email_addresses")
    if phones:
        item.phone_numbers = phones
        touched.append("phone_numbers")
    if addresses:
        item.physical_addresses = addresses
        touched.append("physical_addresses")
    return touched


def new_contact_entries_only(item: Contact) -> None:
    """On create, drop indexed entries that are empty: there is nothing to delete yet."""
    item.email_addresses = [e for e in (item.email_addresses or []) if e.email] or None
    item.phone_numbers = [p for p in (item.phone_numbers or []) if p.phone_number] or None
    item.physical_addresses = [
        a
        for a in (item.physical_addresses or [])
        if any((a.street, a.city, a.state, a.zipcode, a.country))
    ] or None
