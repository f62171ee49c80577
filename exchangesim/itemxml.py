"""Items between EWS XML and the simulator's plain-dict form.

Stored values are JSON-friendly: text stays text, datetimes are UTC ISO strings ending in
"Z" (what Exchange returns whatever offset a client sent), indexed properties are dicts
keyed by their Key attribute. Rendering honours the requested shape exactly: IdOnly plus
AdditionalProperties returns those properties and nothing else.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from .recurrence import zone
from .schema import (
    ADDRESS_PARTS,
    ADDRESS_URIS,
    ADDRESSES,
    ATTENDEES,
    BODY,
    BOOL,
    BY_URI,
    COMPUTED,
    DATETIME,
    FIELDS_FOR,
    INDEXED,
    INDEXED_URIS,
    INT,
    ITEM_TYPES,
    MAILBOX,
    MEMBERS,
    NAMED_FOR,
    NOT_IN_SYNC,
    RAW,
    RECURRENCE,
    STR,
    STRLIST,
    TIMEZONE,
    ext_key,
)
from .soap import TNS, attr, esc, local, parse_bool, xml_bool
from .store import SchemaViolation, SimError

T = f"{{{TNS}}}"
MEETING_MESSAGES = ("MeetingMessage", "MeetingRequest", "MeetingResponse", "MeetingCancellation")
EXT_ATTRS = (
    "DistinguishedPropertySetId",
    "PropertySetId",
    "PropertyTag",
    "PropertyName",
    "PropertyId",
    "PropertyType",
)


# -- scalar conversions -------------------------------------------------------------------
def norm_datetime(text: str) -> str:
    """Any xs:dateTime a client sends, as the UTC form Exchange answers with."""
    s = text.strip()
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    try:
        value = dt.datetime.fromisoformat(s)
    except ValueError:
        raise SimError("ErrorInvalidValueForProperty", f"Invalid dateTime {text!r}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_dt(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


def fmt_dt(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(elem: etree._Element | None) -> str:
    return "" if elem is None or elem.text is None else elem.text


def _mailbox_from(elem: etree._Element | None) -> dict[str, str]:
    out: dict[str, str] = {}
    if elem is None:
        return out
    for child in elem:
        name = local(child.tag)
        if name in ("Name", "EmailAddress", "RoutingType", "MailboxType") and child.text:
            out[name] = child.text
    return out


def _mailbox_xml(mb: dict[str, Any]) -> str:
    parts = []
    for name in ("Name", "EmailAddress", "RoutingType", "MailboxType"):
        value = mb.get(name) or ("SMTP" if name == "RoutingType" and mb.get("EmailAddress") else "")
        if name == "MailboxType" and not value and mb.get("EmailAddress"):
            value = "Mailbox"
        if value:
            parts.append(f"<t:{name}>{esc(value)}</t:{name}>")
    return "<t:Mailbox>" + "".join(parts) + "</t:Mailbox>"


# -- recurrence ---------------------------------------------------------------------------
PATTERN_CHILDREN = {
    "RelativeYearly": ("DaysOfWeek", "DayOfWeekIndex", "Month"),
    "AbsoluteYearly": ("DayOfMonth", "Month"),
    "RelativeMonthly": ("Interval", "DaysOfWeek", "DayOfWeekIndex"),
    "AbsoluteMonthly": ("Interval", "DayOfMonth"),
    "Weekly": ("Interval", "DaysOfWeek", "FirstDayOfWeek"),
    "Daily": ("Interval",),
}
RANGE_CHILDREN = {
    "NoEnd": ("StartDate",),
    "EndDate": ("StartDate", "EndDate"),
    "Numbered": ("StartDate", "NumberOfOccurrences"),
}


def parse_recurrence(elem: etree._Element) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for child in elem:
        name = local(child.tag)
        if name.endswith("Recurrence") and name[:-10] in PATTERN_CHILDREN:
            out["Pattern"] = name[:-10]
        elif name.endswith("Recurrence") and name[:-10] in RANGE_CHILDREN:
            out["Range"] = name[:-10]
        else:
            raise SimError("ErrorInvalidRecurrence", f"Unsupported recurrence element {name}")
        for sub in child:
            value = _text(sub).strip()
            sname = local(sub.tag)
            if sname in ("StartDate", "EndDate"):
                value = value[:10]
            out[sname] = value
    if "Pattern" not in out or "Range" not in out:
        raise SimError("ErrorInvalidRecurrence", "Recurrence needs a pattern and a range.")
    return out


def range_date(day: str, tz_id: str | None) -> str:
    """A range's StartDate/EndDate as Exchange writes it: the date with its zone's offset.

    Exchange sends e.g. "2025-01-06-08:00" for a series in Pacific time ("Z" for UTC);
    clients (exchangelib) read the offset as the sign of a date rather than a date-time.
    """
    offset = dt.datetime.combine(
        dt.date.fromisoformat(day), dt.time(0), tzinfo=zone(tz_id)
    ).utcoffset() or dt.timedelta(0)
    if not offset:
        return f"{day}Z"
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"{day}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def recurrence_xml(rec: dict[str, Any], tz_id: str | None) -> str:
    pattern, range_ = rec["Pattern"], rec["Range"]
    p = "".join(f"<t:{n}>{esc(rec[n])}</t:{n}>" for n in PATTERN_CHILDREN[pattern] if n in rec)
    r = "".join(
        f"<t:{n}>{range_date(rec[n], tz_id) if n.endswith('Date') else esc(rec[n])}</t:{n}>"
        for n in RANGE_CHILDREN[range_]
        if n in rec
    )
    return (
        f"<t:Recurrence><t:{pattern}Recurrence>{p}</t:{pattern}Recurrence>"
        f"<t:{range_}Recurrence>{r}</t:{range_}Recurrence></t:Recurrence>"
    )


# -- parsing item elements ----------------------------------------------------------------
def parse_value(type_: str, elem: etree._Element) -> Any:
    if type_ == STR:
        return _text(elem)
    if type_ == BOOL:
        return parse_bool(elem.text)
    if type_ == INT:
        return int(_text(elem).strip() or 0)
    if type_ == DATETIME:
        return norm_datetime(_text(elem))
    if type_ == STRLIST:
        return [_text(s) for s in elem]
    if type_ == INDEXED:
        return {e.get("Key"): _text(e) for e in elem if e.text}
    if type_ == ADDRESSES:
        out: dict[str, dict[str, str]] = {}
        for entry in elem:
            parts = {local(p.tag): _text(p) for p in entry if p.text}
            if parts:
                out[entry.get("Key", "Business")] = parts
        return out
    if type_ == BODY:
        return _text(elem)
    if type_ == MAILBOX:
        return _mailbox_from(elem.find(T + "Mailbox"))
    if type_ == ATTENDEES:
        res = []
        for a in elem:
            entry = _mailbox_from(a.find(T + "Mailbox"))
            rt = a.find(T + "ResponseType")
            entry["ResponseType"] = _text(rt) or "Unknown"
            res.append(entry)
        return res
    if type_ == MEMBERS:
        return [_mailbox_from(m.find(T + "Mailbox")) for m in elem]
    if type_ == TIMEZONE:
        tz = {"Id": elem.get("Id", "")}
        if elem.get("Name"):
            tz["Name"] = elem.get("Name", "")
        return tz
    if type_ == RECURRENCE:
        return parse_recurrence(elem)
    if type_ == RAW:
        kept = etree.fromstring(etree.tostring(elem, with_tail=False))
        etree.cleanup_namespaces(kept)
        return etree.tostring(kept, encoding="unicode")
    raise SimError("ErrorInvalidPropertySet", f"Cannot set {local(elem.tag)}")


def ext_uri(elem: etree._Element) -> dict[str, str]:
    return {a: elem.get(a, "") for a in EXT_ATTRS if elem.get(a) is not None}


def parse_ext_value(elem: etree._Element) -> str | list[str]:
    values = elem.find(T + "Values")
    if values is not None:
        return [_text(v) for v in values]
    return _text(elem.find(T + "Value"))


def parse_item(elem: etree._Element) -> tuple[str, dict[str, Any], dict[str, dict[str, Any]]]:
    """(item type, fields, extended properties) of a t:Contact / t:CalendarItem / ... element."""
    type_ = local(elem.tag)
    if type_ == "Item":
        type_ = "Message"
    elif type_ in MEETING_MESSAGES:
        # MS-OXWSCDATA: meeting messages are made by sending calendar items, never created.
        raise SimError(
            "ErrorInvalidItemForOperationCreateItem",
            f"{type_} items cannot be created; they are sent when a meeting is saved.",
        )
    elif type_ not in ITEM_TYPES:
        raise SimError("ErrorInvalidRequest", f"exchangesim does not model {type_} items.")
    named = NAMED_FOR[type_]
    fields: dict[str, Any] = {}
    ext: dict[str, dict[str, Any]] = {}
    for child in elem:
        name = local(child.tag)
        if name == "ExtendedProperty":
            uri = ext_uri(child.find(T + "ExtendedFieldURI"))
            ext[ext_key(uri)] = {"uri": uri, "value": parse_ext_value(child)}
            continue
        spec = named.get(name)
        if spec is None:
            raise SchemaViolation(
                f"The element '{name}' in namespace '{TNS}' is not valid in {local(elem.tag)}."
            )
        if spec.type == COMPUTED:
            raise SimError("ErrorInvalidPropertySet", f"{spec.uri} is read-only.")
        fields[name] = parse_value(spec.type, child)
        if spec.type == BODY and child.get("BodyType") == "HTML":
            fields["BodyType"] = "HTML"
    return type_, fields, ext


# -- shapes --------------------------------------------------------------------------------
@dataclass
class Shape:
    base: str = "IdOnly"
    names: set[str] = field(default_factory=set)
    indexed: dict[str, set[str]] = field(default_factory=dict)  # container -> keys
    addr: dict[str, set[str]] = field(default_factory=dict)  # key -> parts
    ext: list[dict[str, str]] = field(default_factory=list)
    body_type: str = "Best"
    for_sync: bool = False  # SyncFolderItems / FindItem: no Body


def parse_shape(elem: etree._Element | None, for_sync: bool = False) -> Shape:
    shape = Shape(for_sync=for_sync)
    if elem is None:
        return shape
    shape.base = _text(elem.find(T + "BaseShape")).strip() or "IdOnly"
    bt = elem.find(T + "BodyType")
    if bt is not None:
        shape.body_type = _text(bt)
    props = elem.find(T + "AdditionalProperties")
    if props is None:
        return shape
    for p in props:
        kind = local(p.tag)
        uri = p.get("FieldURI", "")
        if kind == "FieldURI":
            spec = BY_URI.get(uri)
            if spec is not None:
                shape.names.add(spec.name)
        elif kind == "IndexedFieldURI":
            index = p.get("FieldIndex", "")
            if uri in INDEXED_URIS:
                shape.indexed.setdefault(INDEXED_URIS[uri], set()).add(index)
            elif uri in ADDRESS_URIS:
                shape.addr.setdefault(index, set()).add(ADDRESS_URIS[uri])
        elif kind == "ExtendedFieldURI":
            shape.ext.append(ext_uri(p))
    return shape


# -- rendering -----------------------------------------------------------------------------
def render_value(
    name: str,
    type_: str,
    value: Any,
    fields: dict[str, Any],
    keys: set[str] | None = None,
    addr: dict[str, set[str]] | None = None,
) -> str:
    if type_ in (STR, DATETIME):
        return f"<t:{name}>{esc(value)}</t:{name}>"
    if type_ == BOOL:
        return f"<t:{name}>{xml_bool(value)}</t:{name}>"
    if type_ == INT:
        return f"<t:{name}>{int(value)}</t:{name}>"
    if type_ == STRLIST:
        return (
            f"<t:{name}>"
            + "".join(f"<t:String>{esc(v)}</t:String>" for v in value)
            + f"</t:{name}>"
        )
    if type_ == INDEXED:
        entries = "".join(
            f'<t:Entry Key="{attr(k)}">{esc(v)}</t:Entry>'
            for k, v in value.items()
            if keys is None or k in keys
        )
        return f"<t:{name}>{entries}</t:{name}>" if entries else ""
    if type_ == ADDRESSES:
        out = []
        for key, parts in value.items():
            wanted = None if addr is None else addr.get(key)
            if addr is not None and not wanted:
                continue
            inner = "".join(
                f"<t:{p}>{esc(parts[p])}</t:{p}>"
                for p in ADDRESS_PARTS
                if p in parts and (wanted is None or p in wanted)
            )
            if inner:
                out.append(f'<t:Entry Key="{attr(key)}">{inner}</t:Entry>')
        return f"<t:{name}>{''.join(out)}</t:{name}>" if out else ""
    if type_ == BODY:
        btype = fields.get("BodyType", "Text")
        return f'<t:Body BodyType="{btype}">{esc(value)}</t:Body>'
    if type_ == MAILBOX:
        return f"<t:{name}>{_mailbox_xml(value)}</t:{name}>"
    if type_ == ATTENDEES:
        inner = "".join(
            f"<t:Attendee>{_mailbox_xml(a)}<t:ResponseType>{esc(a.get('ResponseType', 'Unknown'))}"
            "</t:ResponseType></t:Attendee>"
            for a in value
        )
        return f"<t:{name}>{inner}</t:{name}>"
    if type_ == MEMBERS:
        inner = "".join(
            f"<t:Member>{_mailbox_xml(m)}<t:Status>Normal</t:Status></t:Member>" for m in value
        )
        return f"<t:{name}>{inner}</t:{name}>"
    if type_ == TIMEZONE:
        tz_name = value.get("Name") or value.get("Id", "")
        return f'<t:{name} Id="{attr(value.get("Id", ""))}" Name="{attr(tz_name)}"/>'
    if type_ == RECURRENCE:
        return recurrence_xml(value, (fields.get("StartTimeZone") or {}).get("Id"))
    if type_ == RAW:
        return str(value)
    return ""


def ext_xml(uri: dict[str, str], value: Any) -> str:
    # Exchange returns GUIDs in the canonical lower-case form whatever case the client used.
    attrs = " ".join(
        f'{k}="{attr(v.lower() if k == "PropertySetId" else v)}"' for k, v in uri.items()
    )
    if isinstance(value, list):
        inner = (
            "<t:Values>" + "".join(f"<t:Value>{esc(v)}</t:Value>" for v in value) + "</t:Values>"
        )
    else:
        inner = f"<t:Value>{esc(value)}</t:Value>"
    return f"<t:ExtendedProperty><t:ExtendedFieldURI {attrs}/>{inner}</t:ExtendedProperty>"


_TAGS = re.compile(r"<[^>]+>")


def wanted(shape: Shape, name: str, default_shape: bool) -> bool:
    if shape.for_sync and name in NOT_IN_SYNC:
        return False
    if name in shape.names:
        return True
    if shape.base == "AllProperties":
        return True
    return shape.base == "Default" and default_shape


def render_fields(
    type_: str,
    fields: dict[str, Any],
    shape: Shape,
    computed: dict[str, str],
    ext: dict[str, dict[str, Any]],
) -> str:
    """The children of an item element (after ItemId) for this shape.

    `computed` holds already-rendered XML for read-only properties (ids, times, types).
    """
    out: list[str] = []
    for spec in FIELDS_FOR[type_]:
        name = spec.name
        if name == "ItemId":
            continue
        if spec.type == COMPUTED or (name in computed and name not in fields):
            # Writable properties with a computed stand-in when the client sent none
            # (ItemClass, a calendar item's UID).
            if name in computed and wanted(shape, name, spec.default_shape):
                out.append(computed[name])
        else:
            value = fields.get(name)
            if value not in (None, "", [], {}):
                if wanted(shape, name, spec.default_shape):
                    if (
                        spec.type == BODY
                        and shape.body_type == "Text"
                        and fields.get("BodyType") == "HTML"
                    ):
                        value = _TAGS.sub("", value)
                        out.append(f'<t:Body BodyType="Text">{esc(value)}</t:Body>')
                    else:
                        out.append(render_value(name, spec.type, value, fields))
                elif spec.type == INDEXED and name in shape.indexed:
                    out.append(
                        render_value(name, spec.type, value, fields, keys=shape.indexed[name])
                    )
                elif spec.type == ADDRESSES and shape.addr:
                    out.append(render_value(name, spec.type, value, fields, addr=shape.addr))
        if name == "HasAttachments" and shape.ext:
            # ExtendedProperty follows HasAttachments in ItemType's sequence.
            for uri in shape.ext:
                prop = ext.get(ext_key(uri))
                if prop is not None:
                    out.append(ext_xml(uri, prop["value"]))
    return "".join(out)
