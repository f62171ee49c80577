"""Events between Graph's JSON (microsoft.graph.event) and the store's calendar items.

Times are stored in UTC with the zone they were given in (StartTimeZone/EndTimeZone);
Graph renders them in the zone of `Prefer: outlook.timezone` (UTC without one) as
`{"dateTime": "2025-01-06T09:00:00.0000000", "timeZone": "..."}`. A series master is
`type: seriesMaster` with its `recurrence`; its occurrences and exceptions carry
`seriesMasterId` and `originalStart`.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import graph_extprops
from .ewsbase import Occurrence
from .graph_errors import GraphError, invalid_value, unknown_property
from .graph_event_recurrence import recurrence_changes, recurrence_json
from .graph_ids import etag, rest_id
from .itemxml import fmt_dt, parse_dt
from .store import Change, Item, Mailbox

SHOW_AS = {
    "Free": "free",
    "Tentative": "tentative",
    "Busy": "busy",
    "OOF": "oof",
    "WorkingElsewhere": "workingElsewhere",
    "NoData": "unknown",
}
SENSITIVITY = {"Normal": "normal", "Personal": "personal", "Private": "private"}
SENSITIVITY["Confidential"] = "confidential"
IMPORTANCE = {"Low": "low", "Normal": "normal", "High": "high"}
RESPONSE = {
    "Unknown": "none",
    "Organizer": "organizer",
    "Tentative": "tentativelyAccepted",
    "Accept": "accepted",
    "Decline": "declined",
    "NoResponseReceived": "notResponded",
}
ATTENDEE_LISTS = {"required": "RequiredAttendees", "optional": "OptionalAttendees"}
ATTENDEE_LISTS["resource"] = "Resources"
NO_TIME = "0001-01-01T00:00:00Z"
READ_ONLY = {
    "id",
    "changeKey",
    "createdDateTime",
    "lastModifiedDateTime",
    "type",
    "seriesMasterId",
    "iCalUId",
    "bodyPreview",
    "isOrganizer",
    "isCancelled",
    "hasAttachments",
    "webLink",
    "originalStart",
    "originalStartTimeZone",
    "originalEndTimeZone",
    "responseStatus",
    "onlineMeeting",
    "onlineMeetingUrl",
    "organizer",
}
_TAGS = re.compile(r"<[^>]+>")


def zone(name: str) -> dt.tzinfo | None:
    """A Windows or IANA time zone name -> tzinfo; None when Exchange would not know it."""
    if name in ("UTC", "tzone://Microsoft/Utc"):
        return dt.UTC
    from exchangelib.winzone import MS_TIMEZONE_TO_IANA_MAP

    try:
        return ZoneInfo(MS_TIMEZONE_TO_IANA_MAP.get(name, name))
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _time(value: str, tz_name: str) -> dict[str, str]:
    local = parse_dt(value).astimezone(zone(tz_name) or dt.UTC)
    return {"dateTime": local.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": tz_name}


def _address(mb: dict[str, Any] | None) -> dict[str, Any]:
    mb = mb or {}
    return {
        "emailAddress": {
            "name": mb.get("Name") or mb.get("EmailAddress", ""),
            "address": mb.get("EmailAddress", ""),
        }
    }


def _location(text: str | None) -> dict[str, Any]:
    if not text:
        return {
            "displayName": "",
            "locationType": "default",
            "uniqueIdType": "unknown",
            "address": {},
            "coordinates": {},
        }
    return {
        "displayName": text,
        "locationType": "default",
        "uniqueId": text,
        "uniqueIdType": "private",
        "address": {},
        "coordinates": {},
    }


def _body(f: dict[str, Any], body_type: str) -> dict[str, str]:
    content = f.get("Body") or ""
    is_html = f.get("BodyType") == "HTML"
    if body_type == "text":
        return {"contentType": "text", "content": _TAGS.sub("", content) if is_html else content}
    if not is_html:
        escaped = html.escape(content).replace("\n", "<br>\r\n")
        content = f"<html><head></head><body>{escaped}</body></html>" if content else ""
    return {"contentType": "html", "content": content}


def event_json(
    mbx: Mailbox, master: Item, occ: Occurrence | None, tz_name: str, body_type: str = "html"
) -> dict[str, Any]:
    """Every property of an event, a series master or one of its instances."""
    f = occ.fields if occ is not None else master.fields
    item_id = rest_id(occ.id if occ is not None else master.id)
    organizer = f.get("Organizer") or {}
    is_organizer = organizer.get("EmailAddress", "").lower() == mbx.smtp.lower()
    if occ is not None:
        kind = "exception" if occ.is_exception else "occurrence"
    else:
        kind = "seriesMaster" if "Recurrence" in master.fields else "singleInstance"
    uid = f.get("UID") or master.uid.hex().upper()
    if occ is not None:
        uid = f"{uid}_{occ.original_start[:10].replace('-', '')}"
    text = _body(f, "text")["content"]
    start_tz = (f.get("StartTimeZone") or {}).get("Id") or "UTC"
    end_tz = (f.get("EndTimeZone") or {}).get("Id") or start_tz
    my_response = (
        "organizer"
        if is_organizer
        else RESPONSE.get(f.get("MyResponseType") or "NoResponseReceived", "none")
    )
    data: dict[str, Any] = {
        "@odata.etag": etag(master.changekey()),
        "id": item_id,
        "createdDateTime": master.created,
        "lastModifiedDateTime": master.modified,
        "changeKey": master.changekey(),
        "categories": list(f.get("Categories") or []),
        "transactionId": None,
        "originalStartTimeZone": start_tz,
        "originalEndTimeZone": end_tz,
        "iCalUId": uid,
        "reminderMinutesBeforeStart": int(f.get("ReminderMinutesBeforeStart", 15)),
        "isReminderOn": bool(f.get("ReminderIsSet", False)),
        "hasAttachments": False,
        "subject": f.get("Subject", ""),
        "bodyPreview": text[:255],
        "importance": IMPORTANCE.get(f.get("Importance", "Normal"), "normal"),
        "sensitivity": SENSITIVITY.get(f.get("Sensitivity", "Normal"), "normal"),
        "isAllDay": bool(f.get("IsAllDayEvent", False)),
        "isCancelled": False,
        "isOrganizer": is_organizer,
        "responseRequested": bool(f.get("IsResponseRequested", True)),
        "seriesMasterId": rest_id(master.id) if occ is not None else None,
        "showAs": SHOW_AS.get(f.get("LegacyFreeBusyStatus", "Busy"), "unknown"),
        "type": kind,
        "webLink": (
            "https://outlook.office365.com/owa/?itemid="
            f"{quote(item_id, safe='')}&exvsurl=1&path=/calendar/item"
        ),
        "onlineMeetingUrl": None,
        "isOnlineMeeting": bool(f.get("IsOnlineMeeting", False)),
        "onlineMeetingProvider": "unknown",
        "allowNewTimeProposals": bool(f.get("AllowNewTimeProposal", True)),
        "isDraft": False,
        "hideAttendees": False,
        "responseStatus": {"response": my_response, "time": NO_TIME},
        "body": _body(f, body_type),
        "start": _time(f["Start"], tz_name),
        "end": _time(f["End"], tz_name),
        "location": _location(f.get("Location")),
        "locations": [_location(f["Location"])] if f.get("Location") else [],
        "recurrence": recurrence_json(master.fields) if kind == "seriesMaster" else None,
        "attendees": [
            {
                "type": kind_name,
                "status": {
                    "response": RESPONSE.get(a.get("ResponseType", "Unknown"), "none"),
                    "time": NO_TIME,
                },
                **_address(a),
            }
            for kind_name, name in ATTENDEE_LISTS.items()
            for a in f.get(name) or []
        ],
        "organizer": _address(organizer),
        "onlineMeeting": None,
    }
    if occ is not None:
        data["originalStart"] = occ.original_start
    return data


def parse_time(prop: str, value: Any) -> tuple[str, str]:
    """A dateTimeTimeZone -> (UTC stored form, zone name)."""
    if not isinstance(value, dict) or not isinstance(value.get("dateTime"), str):
        raise invalid_value(prop, "event", "a dateTimeTimeZone with dateTime is expected.")
    tz_name = value.get("timeZone") or "UTC"
    tz = zone(tz_name)
    if tz is None:
        raise GraphError(
            400,
            "TimeZoneNotSupportedException",
            f"A valid TimeZone value must be specified. The following TimeZone value is not "
            f"supported: '{tz_name}'.",
        )
    try:
        moment = dt.datetime.fromisoformat(value["dateTime"].replace("Z", "+00:00"))
    except ValueError:
        raise invalid_value(
            prop, "event", f"'{value['dateTime']}' is not a date and time."
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return fmt_dt(moment), tz_name


def _enum(prop: str, value: Any, table: dict[str, str]) -> str:
    reverse = {v.lower(): k for k, v in table.items()}
    if not isinstance(value, str) or value.lower() not in reverse:
        raise invalid_value(prop, "event", f"'{value}' is not one of {', '.join(table.values())}.")
    return reverse[value.lower()]


def _attendees(value: Any) -> dict[str, list[dict[str, str]]]:
    if not isinstance(value, list):
        raise invalid_value("attendees", "event", "an array of attendee is expected.")
    out: dict[str, list[dict[str, str]]] = {name: [] for name in ATTENDEE_LISTS.values()}
    for a in value:
        address = (a or {}).get("emailAddress") if isinstance(a, dict) else None
        if not isinstance(address, dict) or not address.get("address"):
            raise invalid_value("attendees", "event", "each attendee needs emailAddress.address.")
        kind = a.get("type", "required")
        if kind not in ATTENDEE_LISTS:
            raise invalid_value("attendees", "event", f"'{kind}' is not an attendee type.")
        entry = {"EmailAddress": address["address"], "ResponseType": "Unknown"}
        if address.get("name"):
            entry["Name"] = address["name"]
        out[ATTENDEE_LISTS[kind]].append(entry)
    return out


def event_changes(body: dict[str, Any]) -> list[Change]:
    """A POST/PATCH body -> store changes; unknown properties answer 400 as Graph does."""
    changes: list[Change] = []
    for prop, value in body.items():
        if prop.startswith("@odata.") or prop in READ_ONLY:
            continue
        if prop == "subject":
            changes.append(("set", ("Subject",), value or ""))
        elif prop == "body":
            if not isinstance(value, dict):
                raise invalid_value(prop, "event", "an itemBody is expected.")
            content_type = str(value.get("contentType", "text")).lower()
            if content_type not in ("text", "html"):
                raise invalid_value(prop, "event", f"'{content_type}' is not text or html.")
            changes.append(("set", ("Body",), value.get("content") or ""))
            changes.append(("set", ("BodyType",), "HTML" if content_type == "html" else "Text"))
        elif prop in ("start", "end"):
            stored, tz_name = parse_time(prop, value)
            name = "Start" if prop == "start" else "End"
            changes.append(("set", (name,), stored))
            changes.append(("set", (f"{name}TimeZone",), {"Id": tz_name}))
        elif prop == "isAllDay":
            changes.append(("set", ("IsAllDayEvent",), _bool(prop, value)))
        elif prop == "location":
            text = (value or {}).get("displayName") if isinstance(value, dict) else None
            changes.append(("set", ("Location",), text) if text else ("del", ("Location",)))
        elif prop == "locations":
            continue  # follows location, as Graph keeps the two in step
        elif prop == "showAs":
            changes.append(("set", ("LegacyFreeBusyStatus",), _enum(prop, value, SHOW_AS)))
        elif prop == "sensitivity":
            changes.append(("set", ("Sensitivity",), _enum(prop, value, SENSITIVITY)))
        elif prop == "importance":
            changes.append(("set", ("Importance",), _enum(prop, value, IMPORTANCE)))
        elif prop == "categories":
            if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
                raise invalid_value(prop, "event", "an array of strings is expected.")
            changes.append(("set", ("Categories",), value) if value else ("del", ("Categories",)))
        elif prop == "attendees":
            for name, entries in _attendees(value).items():
                changes.append(("set", (name,), entries) if entries else ("del", (name,)))
        elif prop == "reminderMinutesBeforeStart":
            if not isinstance(value, int) or isinstance(value, bool):
                raise invalid_value(prop, "event", "an Int32 is expected.")
            changes.append(("set", ("ReminderMinutesBeforeStart",), value))
        elif prop == "isReminderOn":
            changes.append(("set", ("ReminderIsSet",), _bool(prop, value)))
        elif prop == "responseRequested":
            changes.append(("set", ("IsResponseRequested",), _bool(prop, value)))
        elif prop == "allowNewTimeProposals":
            changes.append(("set", ("AllowNewTimeProposal",), _bool(prop, value)))
        elif prop == "isOnlineMeeting":
            changes.append(("set", ("IsOnlineMeeting",), _bool(prop, value)))
        elif prop == "recurrence":
            changes.extend(recurrence_changes(value))
        elif prop == "singleValueExtendedProperties":
            changes.extend(graph_extprops.changes_from_json(value))
        else:
            raise unknown_property(prop, "event")
    return changes


def _bool(prop: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise invalid_value(prop, "event", "true or false is expected.")
    return value
