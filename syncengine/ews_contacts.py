"""Contacts between exchangelib objects and the transport's field dicts (EWS names).

Pure conversions, no requests. Field names are `lightningsync.fieldmaps` EWS names; indexed
entries (emails, phones, addresses) are addressed per label so that writing one label never
touches another (exchangelib's own UpdateItem would delete every label it isn't given).
"""

from __future__ import annotations

import copy
import datetime as dt
import html
import re
from collections.abc import Iterable
from typing import Any

from exchangelib import Contact
from exchangelib.ewsdatetime import EWSDate
from exchangelib.fields import ExtendedPropertyField
from exchangelib.indexed_properties import EmailAddress, PhoneNumber, PhysicalAddress
from exchangelib.properties import Body, HTMLBody
from exchangelib.util import TNS, create_element, safe_xml_value
from exchangelib.version import Version
from lxml import etree

from .transport import Address, FieldValue

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


def _text(value: Any) -> str | None:
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
            out[name] = _text(getattr(item, TEXT_ATTRIBUTES[name], None))
        elif name in EMAIL_LABELS:
            out[name] = _text(emails.get(name))
        elif name in PHONE_LABELS:
            out[name] = _text(phones.get(name))
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
                out[name] = _text(html_to_text(body) if isinstance(body, HTMLBody) else str(body))
    return out


# --- straight from the XML -------------------------------------------------------------------
# exchangelib builds a Contact for every GetItem response element by walking all of its ~80
# fields (and again every indexed entry's); we need a dozen. These read the requested fields
# from the response's t:Contact element and must give exactly what `read_fields` gives for the
# exchangelib object (tests/engine/test_ews_transport.py compares the two).
_T = f"{{{TNS}}}"
_XML_TEXT = {name: _T + name for name in TEXT_ATTRIBUTES}
_XML_ADDRESS_PARTS = (
    ("street", _T + "Street"),
    ("city", _T + "City"),
    ("state", _T + "State"),
    ("postal_code", _T + "PostalCode"),
    ("country", _T + "CountryOrRegion"),
)


def _xml_entries(elem: Any, container: str) -> dict[str, Any]:
    """Indexed entries by Key (the last one wins, as with exchangelib's lists)."""
    found = elem.find(_T + container)
    if found is None:
        return {}
    return {entry.get("Key"): entry for entry in found.iterfind(_T + "Entry")}


def _xml_address(entry: Any) -> Address | None:
    if entry is None:
        return None
    parts = {}
    for attr, tag in _XML_ADDRESS_PARTS:
        child = entry.find(tag)
        parts[attr] = None if child is None else _text(child.text or None)
    address = Address(**parts)
    return address if any(parts.values()) else None


def xml_date(value: str | None) -> dt.date | None:
    """A DateTime-backed date (Birthday) as exchangelib reads it: the date as written,
    without converting an offset to UTC first."""
    if not value:
        return None
    try:
        if "T" not in value:
            return dt.date.fromisoformat(value[:10])
        return dt.datetime.fromisoformat(value).date()
    except ValueError:
        return None


def xml_datetime_utc(value: str | None) -> dt.datetime | None:
    """An EWS DateTime (LastModifiedTime) as an aware UTC datetime; naive values are UTC."""
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def read_fields_xml(elem: Any, names: Iterable[str]) -> dict[str, FieldValue]:
    """`read_fields` for a GetItem response's t:Contact element; absent values are None."""
    emails: dict[str, Any] | None = None
    phones: dict[str, Any] | None = None
    addresses: dict[str, Any] | None = None
    out: dict[str, FieldValue] = {}
    for name in names:
        if name in TEXT_ATTRIBUTES:
            child = elem.find(_XML_TEXT[name])
            out[name] = None if child is None else _text(child.text or None)
        elif name in EMAIL_LABELS:
            emails = _xml_entries(elem, "EmailAddresses") if emails is None else emails
            entry = emails.get(name)
            out[name] = None if entry is None else _text(entry.text or None)
        elif name in PHONE_LABELS:
            phones = _xml_entries(elem, "PhoneNumbers") if phones is None else phones
            entry = phones.get(name)
            out[name] = None if entry is None else _text(entry.text or None)
        elif name in ADDRESS_LABELS:
            if addresses is None:
                addresses = _xml_entries(elem, "PhysicalAddresses")
            out[name] = _xml_address(addresses.get(ADDRESS_LABELS[name]))
        elif name == "Birthday":
            out[name] = xml_date(elem.findtext(_T + "Birthday"))
        elif name == "Body":
            body = elem.find(_T + "Body")
            text = None if body is None else body.text or None
            if text is None:
                out[name] = None
            elif body.get("BodyType") == "HTML":
                out[name] = _text(html_to_text(text))
            else:
                out[name] = _text(text)
        else:
            raise ValueError(f"{name!r} is not a contact field the EWS transport knows")
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
        street=_text(entry.street),
        city=_text(entry.city),
        state=_text(entry.state),
        postal_code=_text(entry.zipcode),
        country=_text(entry.country),
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


# --- new contacts straight to XML -------------------------------------------------------------
# exchangelib's Contact.to_xml() validates and walks all ~80 fields of the item and of every
# indexed entry: measured here, most of the client time of a 100-contact CreateItem. This
# writes the same element (same children, same order, same defaults) from the field dict;
# tests/engine/test_ews_transport.py compares the two.
_ADDRESS_PARTS = tuple(
    (f.name, _T + f.field_uri) for f in PhysicalAddress.FIELDS if not f.is_attribute
)
_ADDRESS_ATTR = {
    "street": "street",
    "city": "city",
    "state": "state",
    "country": "country",
    "zipcode": "postal_code",
}
_INDEXED = {"email_addresses", "phone_numbers", "physical_addresses"}
_plans: dict[Any, list[tuple[str, Any]]] = {}


def _create_plan(version: Version) -> list[tuple[str, Any]]:
    """Contact fields in the order Exchange wants them: (name, element of its default)."""
    key = (version.build, version.api_version)
    plan = _plans.get(key)
    if plan is None:
        plan = []
        for f in Contact.supported_fields(version=version):
            if f.is_read_only or f.is_attribute:
                continue
            default = f.default
            proto = None
            if default is not None and not (f.is_list and not default):
                proto = f.to_xml(default, version=version)
            plan.append((f.name, proto))
        _plans[key] = plan
    return plan


def _new_contact_values(fields: dict[str, FieldValue]) -> dict[str, Any]:
    """exchangelib field name -> value, as `apply_fields` + `new_contact_entries_only` set them."""
    values: dict[str, Any] = {}
    emails: list[tuple[str, str]] = []
    phones: list[tuple[str, str]] = []
    addresses: list[tuple[str, Address]] = []
    for name, value in fields.items():
        if name in TEXT_ATTRIBUTES:
            if value:
                values[TEXT_ATTRIBUTES[name]] = str(value)
        elif name in EMAIL_LABELS:
            if value:
                emails.append((name, str(value)))
        elif name in PHONE_LABELS:
            if value:
                phones.append((name, str(value)))
        elif name in ADDRESS_LABELS:
            a = value if isinstance(value, Address) else Address()
            if any((a.street, a.city, a.state, a.postal_code, a.country)):
                addresses.append((ADDRESS_LABELS[name], a))
        elif name == "Birthday":
            if isinstance(value, dt.date):
                values["birthday"] = EWSDate(value.year, value.month, value.day)
        elif name == "Body":
            if value:
                values["body"] = str(value)
        else:
            raise ValueError(f"{name!r} is not a contact field the EWS transport knows")
    if emails:
        values["email_addresses"] = emails
    if phones:
        values["phone_numbers"] = phones
    if addresses:
        values["physical_addresses"] = addresses
    return values


_uris: dict[str, Any] = {}


def _extended_uri(name: str) -> Any:
    uri = _uris.get(name)
    if uri is None:
        field = Contact.get_field_by_fieldname(name)
        assert isinstance(field, ExtendedPropertyField)
        uri = _uris[name] = field.field_uri_xml()
    return uri


def _entries(parent: Any, tag: str, entries: list[tuple[str, str]]) -> None:
    container = etree.SubElement(parent, _T + tag)
    for key, text in entries:
        entry = etree.SubElement(container, _T + "Entry", Key=key)
        entry.text = safe_xml_value(text)


def new_contact_elem(
    fields: dict[str, FieldValue], display: str, stamps: dict[str, str], version: Version
) -> Any:
    """The t:Contact element of a CreateItem for these fields, display name and stamps
    (exchangelib extended-property field name -> value)."""
    values = _new_contact_values(fields)
    values["display_name"] = display
    elem = create_element("t:Contact")
    for name, proto in _create_plan(version):
        if name in stamps:
            prop = etree.SubElement(elem, _T + "ExtendedProperty")
            prop.append(copy.copy(_extended_uri(name)))
            etree.SubElement(prop, _T + "Value").text = safe_xml_value(stamps[name])
            continue
        value = values.get(name)
        if value is None:
            if proto is not None:
                elem.append(copy.copy(proto))
            continue
        if name == "body":
            etree.SubElement(elem, _T + "Body", BodyType="Text").text = safe_xml_value(value)
        elif name == "email_addresses":
            _entries(elem, "EmailAddresses", value)
        elif name == "phone_numbers":
            _entries(elem, "PhoneNumbers", value)
        elif name == "physical_addresses":
            container = etree.SubElement(elem, _T + "PhysicalAddresses")
            for key, address in value:
                entry = etree.SubElement(container, _T + "Entry", Key=key)
                for part, tag in _ADDRESS_PARTS:
                    text = getattr(address, _ADDRESS_ATTR[part])
                    if text is not None:
                        etree.SubElement(entry, tag).text = safe_xml_value(str(text))
        elif name == "birthday":
            elem.append(Contact.get_field_by_fieldname(name).to_xml(value, version=version))
        elif name in _INDEXED:  # pragma: no cover - all three handled above
            raise AssertionError(name)
        else:
            field = Contact.get_field_by_fieldname(name)
            etree.SubElement(elem, _T + field.field_uri.split(":")[-1]).text = safe_xml_value(value)
    return elem
