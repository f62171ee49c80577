"""Calendar items read straight from EWS XML: the deciding fields of a listing entry
(`EventMeta`) and the mapped fields of a GetItem (`EVENT_FIELDS`), with the organiser's and
attendees' addresses.

Times come as UTC (`2026-03-08T08:00:00Z`); an all-day event's times are midnights in its
own zone (StartTimeZone, a Windows zone id), so its dates are read in that zone (UTC when
the item names none or one we do not know). Pure conversions, no requests.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from exchangelib import CalendarItem
from exchangelib.fields import FieldPath
from exchangelib.util import TNS
from exchangelib.winzone import MS_TIMEZONE_TO_IANA_MAP

from ..protocol import CalendarItemType, EventMeta, FieldValue
from .contact_xml import xml_datetime_utc
from .contacts import html_to_text, nonblank
from .stamps import CRM_FIELD, ORG_FIELD

_T = f"{{{TNS}}}"
CALENDAR_ITEM_TAG = _T + "CalendarItem"

# EWS names -> exchangelib CalendarItem field names, for the GetItem's additional fields.
_ATTRIBUTES = {
    "Subject": "subject",
    "Start": "start",
    "End": "end",
    "IsAllDayEvent": "is_all_day",
    "Location": "location",
    "Body": "body",
    "LegacyFreeBusyStatus": "legacy_free_busy_status",
    "Sensitivity": "sensitivity",
}
# What a listing asks for besides ids: what decides whether an item syncs (SPEC §5).
_DECIDING = ("start", "end", "is_all_day", "sensitivity", "categories", "type",
             "_start_timezone", ORG_FIELD, CRM_FIELD)
_READ_ALSO = ("is_all_day", "_start_timezone", "last_modified_time", "organizer",
              "required_attendees", "optional_attendees", ORG_FIELD, CRM_FIELD)


def _paths(names: Iterable[str]) -> set[FieldPath]:
    return {FieldPath(field=CalendarItem.get_field_by_fieldname(n)) for n in names}


def listing_paths() -> set[FieldPath]:
    """The deciding fields and our stamps, as additional properties of a calendar listing."""
    return _paths(_DECIDING)


def event_paths(names: Iterable[str]) -> set[FieldPath]:
    """The exchangelib fields holding these EWS fields (and what reading them needs)."""
    wanted = set(_READ_ALSO)
    for name in names:
        if name not in _ATTRIBUTES:
            raise ValueError(f"{name!r} is not an event field the EWS transport knows")
        wanted.add(_ATTRIBUTES[name])
    return _paths(wanted)


def _zone(elem: Any) -> dt.tzinfo:
    tz = elem.find(_T + "StartTimeZone")
    ms_id = None if tz is None else tz.get("Id")
    if not ms_id:
        return dt.UTC
    try:
        return ZoneInfo(MS_TIMEZONE_TO_IANA_MAP.get(ms_id, ms_id))
    except (ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def _times(elem: Any) -> tuple[dt.datetime | dt.date | None, dt.datetime | dt.date | None, bool]:
    start = xml_datetime_utc(elem.findtext(_T + "Start"))
    end = xml_datetime_utc(elem.findtext(_T + "End"))
    all_day = (elem.findtext(_T + "IsAllDayEvent") or "").strip().lower() == "true"
    if not all_day:
        return start, end, False
    zone = _zone(elem)
    return (None if start is None else start.astimezone(zone).date(),
            None if end is None else end.astimezone(zone).date(), True)


def read_meta(elem: Any) -> EventMeta:
    """The deciding fields of a t:CalendarItem element of a listing."""
    start, end, all_day = _times(elem)
    cats = elem.find(_T + "Categories")
    categories = () if cats is None else tuple(
        s.text for s in cats.iterfind(_T + "String") if s.text)
    return EventMeta(
        start=start, end=end, is_all_day=all_day,
        sensitivity=elem.findtext(_T + "Sensitivity") or "Normal",
        categories=categories,
        item_type=elem.findtext(_T + "CalendarItemType") or CalendarItemType.SINGLE,
    )


def read_event_fields(elem: Any, names: Iterable[str]) -> dict[str, FieldValue]:
    """The requested EWS fields of a GetItem response's t:CalendarItem element."""
    start, end, all_day = _times(elem)
    out: dict[str, FieldValue] = {}
    for name in names:
        if name == "Start":
            out[name] = start
        elif name == "End":
            out[name] = end
        elif name == "IsAllDayEvent":
            out[name] = all_day
        elif name == "Body":
            body = elem.find(_T + "Body")
            text = None if body is None else body.text or None
            if text is not None and body.get("BodyType") == "HTML":
                text = html_to_text(text)
            out[name] = nonblank(text)
        elif name in _ATTRIBUTES:
            out[name] = nonblank(elem.findtext(_T + name))
        else:
            raise ValueError(f"{name!r} is not an event field the EWS transport knows")
    return out


def read_addresses(elem: Any) -> tuple[str, ...]:
    """The organiser's and attendees' email addresses, in that order."""
    found: list[str] = []
    organizer = elem.find(_T + "Organizer")
    if organizer is not None:
        found += [a.text for a in organizer.iter(_T + "EmailAddress") if a.text]
    for container in ("RequiredAttendees", "OptionalAttendees"):
        attendees = elem.find(_T + container)
        if attendees is not None:
            found += [a.text for a in attendees.iter(_T + "EmailAddress") if a.text]
    return tuple(found)
