"""Events between Microsoft Graph's `event` JSON and the transport's calendar values: the
deciding fields of a listing (`EventMeta`) and the mapped fields (`EVENT_FIELDS`), with the
organiser's and attendees' addresses and our stamps.

The transport asks for times in UTC (`Prefer: outlook.timezone="UTC"`) and bodies as text
(`Prefer: outlook.body-content-type="text"`). An all-day event's times are midnights in its
own zone (`originalStartTimeZone`, a Windows or IANA name), so its dates are read in that
zone (UTC when the event names none or one we do not know). Pure conversions, no requests.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from exchangelib.winzone import MS_TIMEZONE_TO_IANA_MAP

from ..protocol import CalendarItemType, EventMeta, ExchangeItem, FieldValue
from . import contact_json as cj

PREFER = 'outlook.timezone="UTC", outlook.body-content-type="text"'
TYPES = {
    "singleInstance": CalendarItemType.SINGLE,
    "occurrence": CalendarItemType.OCCURRENCE,
    "exception": CalendarItemType.EXCEPTION,
    "seriesMaster": CalendarItemType.RECURRING_MASTER,
}
SHOW_AS = {
    "free": "Free", "tentative": "Tentative", "busy": "Busy", "oof": "OOF",
    "workingElsewhere": "WorkingElsewhere", "unknown": "NoData",
}
SENSITIVITY = {"normal": "Normal", "personal": "Personal", "private": "Private",
               "confidential": "Confidential"}
# EWS field -> the Graph property holding it.
PROPERTIES = {
    "Subject": "subject", "Start": "start", "End": "end", "IsAllDayEvent": "isAllDay",
    "Location": "location", "Body": "body", "LegacyFreeBusyStatus": "showAs",
    "Sensitivity": "sensitivity",
}
# What every read selects besides the fields asked for.
_ALWAYS = ("changeKey", "lastModifiedDateTime", "type", "isAllDay", "start", "end",
           "originalStartTimeZone", "originalEndTimeZone", "organizer", "attendees")


def select_for(fields: Iterable[str]) -> list[str]:
    props = set(_ALWAYS)
    for name in fields:
        if name not in PROPERTIES:
            raise ValueError(f"{name!r} is not an event field the Graph transport knows")
        props.add(PROPERTIES[name])
    return sorted(props)


def stamps_expand() -> str:
    return cj.expand_for(())


def _zone(name: Any) -> dt.tzinfo:
    if not isinstance(name, str) or not name or name in ("UTC", "tzone://Microsoft/Utc"):
        return dt.UTC
    try:
        return ZoneInfo(MS_TIMEZONE_TO_IANA_MAP.get(name, name))
    except (ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def _moment(value: Any) -> dt.datetime | None:
    """A dateTimeTimeZone as an aware UTC datetime (None when unreadable)."""
    if not isinstance(value, dict) or not isinstance(value.get("dateTime"), str):
        return None
    text = value["dateTime"].replace("Z", "")
    if "." in text:  # Graph writes seven fractional digits; Python reads up to six
        head, _, fraction = text.partition(".")
        text = f"{head}.{fraction[:6]}"
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_zone(value.get("timeZone")))
    return moment.astimezone(dt.UTC)


def _times(data: dict[str, Any]) -> tuple[dt.datetime | dt.date | None,
                                          dt.datetime | dt.date | None, bool]:
    start, end = _moment(data.get("start")), _moment(data.get("end"))
    if not data.get("isAllDay"):
        return start, end, False
    start_zone = _zone(data.get("originalStartTimeZone"))
    end_zone = _zone(data.get("originalEndTimeZone") or data.get("originalStartTimeZone"))
    return (None if start is None else start.astimezone(start_zone).date(),
            None if end is None else end.astimezone(end_zone).date(), True)


def item_type(data: dict[str, Any]) -> str:
    return TYPES.get(str(data.get("type") or "singleInstance"), CalendarItemType.SINGLE)


def read_meta(data: dict[str, Any]) -> EventMeta:
    """The deciding fields of an event of a calendar view."""
    start, end, all_day = _times(data)
    categories = tuple(c for c in data.get("categories") or () if isinstance(c, str) and c)
    return EventMeta(
        start=start, end=end, is_all_day=all_day,
        sensitivity=SENSITIVITY.get(str(data.get("sensitivity") or "normal"), "Normal"),
        categories=categories, item_type=item_type(data),
    )


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return value if value.strip() else None


def read_fields(data: dict[str, Any], names: Iterable[str]) -> dict[str, FieldValue]:
    start, end, all_day = _times(data)
    out: dict[str, FieldValue] = {}
    for name in names:
        if name == "Start":
            out[name] = start
        elif name == "End":
            out[name] = end
        elif name == "IsAllDayEvent":
            out[name] = all_day
        elif name == "Subject":
            out[name] = _text(data.get("subject"))
        elif name == "Location":
            location = data.get("location")
            out[name] = _text(location.get("displayName")) if isinstance(location, dict) else None
        elif name == "Body":
            body = data.get("body")
            out[name] = _text(body.get("content")) if isinstance(body, dict) else None
        elif name == "LegacyFreeBusyStatus":
            out[name] = SHOW_AS.get(str(data.get("showAs") or ""))
        elif name == "Sensitivity":
            out[name] = SENSITIVITY.get(str(data.get("sensitivity") or "normal"), "Normal")
        else:
            raise ValueError(f"{name!r} is not an event field the Graph transport knows")
    return out


def _address(entry: Any) -> str | None:
    email = entry.get("emailAddress") if isinstance(entry, dict) else None
    return _text(email.get("address")) if isinstance(email, dict) else None


def addresses(data: dict[str, Any]) -> tuple[str, ...]:
    """The organiser's and attendees' email addresses, in that order."""
    found = [_address(data.get("organizer"))]
    found += [_address(a) for a in data.get("attendees") or ()]
    return tuple(a for a in found if a)


def read_event(data: dict[str, Any], names: Sequence[str],
               stamps: tuple[str | None, str | None] | None = None) -> ExchangeItem:
    """An event (with its stamps `$expand`ed, or `stamps` learnt otherwise) as an item."""
    if stamps is None:
        ext = cj.stamps_of(data)
        stamps = (ext.get(cj.ORG_PROPERTY.lower()), ext.get(cj.CRM_PROPERTY.lower()))
    return ExchangeItem(
        id=str(data["id"]), change_key=str(data.get("changeKey") or ""),
        org_stamp=stamps[0], crm_stamp=stamps[1],
        last_modified=cj.moment(data.get("lastModifiedDateTime")),
        fields=read_fields(data, names), addresses=addresses(data),
    )


def stamp_body(org_id: str, crm_id: str) -> dict[str, Any]:
    """The PATCH body writing our two stamps on an event (and nothing else)."""
    return {"singleValueExtendedProperties": [
        {"id": cj.ORG_PROPERTY, "value": org_id}, {"id": cj.CRM_PROPERTY, "value": crm_id}]}
