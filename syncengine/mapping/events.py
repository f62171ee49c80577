"""Event mapping (SPEC §3, §5): an Exchange calendar item's fields ⇄ the normalized form ⇄ a
CRM `Event`. Pure: no database, no transport.

Times are kept in UTC. An all-day event keeps its calendar dates: the transport hands its
dates in the event's own zone, End exclusive as Exchange keeps it; the CRM holds midnight
UTC of its first day and of its last day (a one-day event starts and ends on the same
midnight), so every viewer of the CRM reads the same dates.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from lightningsync.fieldmaps import EVENT_CRM_FIELDS, Kind

from ..transports.protocol import PRIVATE_SENSITIVITIES, FieldValue
from .normal import Normalized, text

# Exchange's LegacyFreeBusyStatus -> the CRM's Show Time As.
SHOW_AS = {
    "Free": "free",
    "Tentative": "tentative",
    "Busy": "busy",
    "OOF": "out_of_office",
    "WorkingElsewhere": "working_elsewhere",
}
DEFAULT_SHOW_AS = "busy"  # NoData, or none at all
TEXT_LIMITS = {"subject": 255, "location": 255}


class UnusableItem(ValueError):
    """The item lacks what a CRM event needs (a start and an end, in order)."""


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def times(start: FieldValue, end: FieldValue, all_day: bool) -> tuple[dt.datetime, dt.datetime]:
    """The CRM's start and end of an item (UTC; all-day: midnights of first and last day)."""
    if start is None or end is None:
        raise UnusableItem("The event has no start or no end time.")
    if all_day and isinstance(start, dt.date) and isinstance(end, dt.date):
        first = start if not isinstance(start, dt.datetime) else start.date()
        after = end if not isinstance(end, dt.datetime) else end.date()
        last = max(first, after - dt.timedelta(days=1))  # Exchange's end is exclusive
        return _midnight(first), _midnight(last)
    if not isinstance(start, dt.datetime) or not isinstance(end, dt.datetime):
        raise UnusableItem("The event's start or end is not a time.")
    start, end = start.astimezone(dt.UTC), end.astimezone(dt.UTC)
    if end < start:
        raise UnusableItem("The event ends before it starts.")
    return start, end


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat()


def exchange_values(fields: dict[str, FieldValue], mapping: dict[str, str]) -> Normalized:
    """The normalized CRM values of an item's fields under `mapping` (CRM → EWS field).

    Raises `UnusableItem` for an item without usable times.
    """
    all_day = bool(fields.get("IsAllDayEvent"))
    start, end = times(fields.get("Start"), fields.get("End"), all_day)
    out: Normalized = {}
    for crm, ews in mapping.items():
        kind = EVENT_CRM_FIELDS[crm].kind
        value = fields.get(ews)
        if ews == "Start":
            out[crm] = _iso(start)
        elif ews == "End":
            out[crm] = _iso(end)
        elif ews == "IsAllDayEvent":
            out[crm] = all_day
        elif kind == Kind.FREE_BUSY:
            out[crm] = SHOW_AS.get(str(value), DEFAULT_SHOW_AS)
        elif kind == Kind.SENSITIVITY:
            out[crm] = str(value) in PRIVATE_SENSITIVITIES
        elif kind == Kind.BOOL:
            out[crm] = bool(value)
        else:
            out[crm] = text(value, TEXT_LIMITS.get(crm))
    return out


def is_private(fields: dict[str, FieldValue]) -> bool:
    """Is the item private (Sensitivity Private or Confidential)?"""
    return str(fields.get("Sensitivity")) in PRIVATE_SENSITIVITIES


def event_attributes(values: Normalized) -> dict[str, Any]:
    """Model attributes for normalized values (blank text is "" in the CRM's columns)."""
    attrs: dict[str, Any] = {}
    for crm, value in values.items():
        kind = EVENT_CRM_FIELDS[crm].kind
        if kind == Kind.DATETIME:
            attrs[crm] = dt.datetime.fromisoformat(value)
        elif kind in (Kind.TEXT, Kind.LONG_TEXT):
            attrs[crm] = value or ""
        else:
            attrs[crm] = value
    return attrs


def crm_values(event: Any, mapping: dict[str, str]) -> Normalized:
    """The normalized values of a CRM event's mapped fields."""
    out: Normalized = {}
    for crm in mapping:
        kind = EVENT_CRM_FIELDS[crm].kind
        value = getattr(event, crm)
        if kind == Kind.DATETIME:
            out[crm] = _iso(value)
        elif kind in (Kind.TEXT, Kind.LONG_TEXT):
            out[crm] = text(value, TEXT_LIMITS.get(crm))
        else:
            out[crm] = value
    return out
