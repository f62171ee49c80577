"""CRM contact ⇄ normalized mapped fields ⇄ Exchange fields. Pure: no queries, no requests.

Which normalizing rule (`normal`) each contact field follows, with the length of its CRM
column as the cut: values read from Exchange are cut to what the CRM holds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from lightningsync.fieldmaps import CONTACTS, MAILING_ADDRESS_PARTS, Kind
from lightningsync.models import Contact

from ..transports.protocol import Address, FieldValue
from .normal import Normalized, date, text

ADDRESS_KEYS = ("street", "city", "state", "postal_code", "country")


def _max_length(attribute: str) -> int | None:
    return getattr(Contact._meta.get_field(attribute), "max_length", None)


_MAX_LENGTH = {
    name: _max_length(name)
    for field in CONTACTS.crm_fields.values()
    for name in field.attributes
    if name != "account"
}
_MAX_LENGTH["account_name"] = 255


def _address(
    parts: dict[str, object], limits: dict[str, int | None]
) -> dict[str, str | None] | None:
    cleaned = {key: text(parts.get(key), limits.get(key)) for key in ADDRESS_KEYS}
    return cleaned if any(cleaned.values()) else None


_ADDRESS_LIMITS = {
    key: _MAX_LENGTH[attr] for key, attr in zip(ADDRESS_KEYS, MAILING_ADDRESS_PARTS, strict=True)
}


def _normalize_address(value: object) -> dict[str, str | None] | None:
    if isinstance(value, Address):
        value = {key: getattr(value, key) for key in ADDRESS_KEYS}
    return _address(value, _ADDRESS_LIMITS) if isinstance(value, dict) else None


def _normalizer(crm_field: str) -> Callable[[object], Any]:
    kind = CONTACTS.crm_fields[crm_field].kind
    if kind == Kind.DATE:
        return date
    if kind == Kind.ADDRESS:
        return _normalize_address
    limit = _MAX_LENGTH.get(crm_field)
    return lambda value: text(value, limit)


# Chosen once per field: normalizing runs for every mapped field of every item a sync reads.
_NORMALIZERS = {name: _normalizer(name) for name in CONTACTS.crm_fields}


def normalize(crm_field: str, value: object) -> Any:
    """One value in the normalized form of `crm_field`, from either side."""
    return _NORMALIZERS[crm_field](value)


def crm_values(contact: Contact, mapping: dict[str, str]) -> Normalized:
    """The mapped fields of a CRM contact (reads `contact.account`: select_related it)."""
    values: Normalized = {}
    for crm_field in mapping:
        if crm_field == "account_name":
            raw: object = contact.account.name if contact.account is not None else None
        elif crm_field == "mailing_address":
            raw = {
                key: getattr(contact, attr)
                for key, attr in zip(ADDRESS_KEYS, MAILING_ADDRESS_PARTS, strict=True)
            }
        else:
            raw = getattr(contact, crm_field)
        values[crm_field] = _NORMALIZERS[crm_field](raw)
    return values


def exchange_values(fields: dict[str, FieldValue], mapping: dict[str, str]) -> Normalized:
    """The mapped fields of an Exchange item, keyed by CRM field name."""
    return {crm: _NORMALIZERS[crm](fields.get(ews)) for crm, ews in mapping.items()}


def to_exchange(values: Normalized, mapping: dict[str, str]) -> dict[str, FieldValue]:
    """Normalized values (a whole record or a patch) as Exchange fields."""
    result: dict[str, FieldValue] = {}
    for crm_field, value in values.items():
        ews = mapping[crm_field]
        kind = CONTACTS.exchange_fields[ews].kind
        if value is None:
            result[ews] = None
        elif kind == Kind.ADDRESS:
            result[ews] = Address(**value)
        elif kind == Kind.DATE:
            result[ews] = dt.date.fromisoformat(value)
        else:
            result[ews] = value
    return result


def contact_attributes(patch: Normalized) -> dict[str, Any]:
    """The model attributes (and their values) of normalized values, all but `account_name`
    (the caller resolves it to an Account)."""
    attributes: dict[str, Any] = {}
    for crm_field, value in patch.items():
        if crm_field == "account_name":
            continue
        if crm_field == "mailing_address":
            parts = value or {}
            for key, attr in zip(ADDRESS_KEYS, MAILING_ADDRESS_PARTS, strict=True):
                attributes[attr] = parts.get(key) or ""
        elif crm_field == "birthdate":
            attributes["birthdate"] = dt.date.fromisoformat(value) if value else None
        else:
            attributes[crm_field] = value or ""
    return attributes


def apply_to_contact(contact: Contact, patch: Normalized) -> list[str]:
    """Set the patched fields on `contact` (all but `account_name`, which the caller resolves);
    returns the model attributes it changed."""
    attributes = contact_attributes(patch)
    for attr, value in attributes.items():
        setattr(contact, attr, value)
    return list(attributes)


def exchange_field_names(mapping: dict[str, str]) -> list[str]:
    return sorted(set(mapping.values()))
