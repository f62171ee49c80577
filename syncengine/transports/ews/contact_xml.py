"""Contacts straight from and to EWS XML: the fields of a GetItem response's t:Contact, and
the t:Contact of a CreateItem.

exchangelib builds a Contact for every response element, and validates and walks a new one,
through all of its ~80 fields (and again every indexed entry's): measured here, most of the
client time of a 100-contact GetItem or CreateItem. These give exactly what `contacts`
(through exchangelib's objects) gives; tests/engine/test_ews_transport.py compares the two.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterable
from typing import Any

from exchangelib import Contact
from exchangelib.ewsdatetime import EWSDate
from exchangelib.fields import ExtendedPropertyField
from exchangelib.indexed_properties import PhysicalAddress
from exchangelib.util import TNS, create_element, safe_xml_value
from exchangelib.version import Version
from lxml import etree

from ..protocol import Address, FieldValue
from .contacts import (
    ADDRESS_LABELS,
    EMAIL_LABELS,
    PHONE_LABELS,
    TEXT_ATTRIBUTES,
    html_to_text,
    nonblank,
)

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
        parts[attr] = None if child is None else nonblank(child.text or None)
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
            out[name] = None if child is None else nonblank(child.text or None)
        elif name in EMAIL_LABELS:
            emails = _xml_entries(elem, "EmailAddresses") if emails is None else emails
            entry = emails.get(name)
            out[name] = None if entry is None else nonblank(entry.text or None)
        elif name in PHONE_LABELS:
            phones = _xml_entries(elem, "PhoneNumbers") if phones is None else phones
            entry = phones.get(name)
            out[name] = None if entry is None else nonblank(entry.text or None)
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
                out[name] = nonblank(html_to_text(text))
            else:
                out[name] = nonblank(text)
        else:
            raise ValueError(f"{name!r} is not a contact field the EWS transport knows")
    return out


# --- new contacts: the same element (children, order, defaults) as Contact.to_xml() --------
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
