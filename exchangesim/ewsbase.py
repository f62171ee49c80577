"""What every EWS operation shares: the request context, id resolution and item rendering."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from lxml import etree

from . import ids, recurrence
from .itemxml import Shape, fmt_dt, parse_dt, render_fields, wanted
from .schema import BY_NAME, CONTACT, DLIST, EVENT, FIELDS_FOR, ITEM_CLASS
from .soap import TNS, attr, esc, local, xml_bool
from .store import Folder, Item, Mailbox, SimError, Store

T = f"{{{TNS}}}"


@dataclass
class Context:
    store: Store
    mbx: Mailbox | None
    user: str
    request: etree._Element  # the operation element, e.g. m:GetItem

    @property
    def mailbox(self) -> Mailbox:
        if self.mbx is None:
            raise SimError("ErrorNonExistentMailbox", "No mailbox is associated with this request.")
        return self.mbx


def folder_from_elem(ctx: Context, elem: etree._Element) -> Folder:
    """A t:FolderId or t:DistinguishedFolderId element -> folder of the request's mailbox."""
    mbx = ctx.mailbox
    kind = local(elem.tag)
    if kind == "DistinguishedFolderId":
        box = elem.find(T + "Mailbox")
        if box is not None:
            addr = (box.findtext(T + "EmailAddress") or "").strip().lower()
            if addr and addr != mbx.smtp.lower():
                if addr not in ctx.store.mailboxes:
                    raise SimError(
                        "ErrorNonExistentMailbox",
                        "The SMTP address has no mailbox associated with it.",
                    )
                raise SimError(
                    "ErrorAccessDenied", "Access is denied. Check credentials and try again."
                )
        name = elem.get("Id", "")
        if name not in mbx.distinguished:
            raise SimError(
                "ErrorFolderNotFound", "The specified folder could not be found in the store."
            )
        return mbx.folder(name)  # a refused folder (`refuse_folder`) raises here
    fid = elem.get("Id", "")
    try:
        fkind, mbx_uid, _uid, _extra = ids.parse_id(fid)
    except ids.MalformedId:
        raise SimError("ErrorInvalidIdMalformed", "Id is malformed.") from None
    if fkind != ids.KIND_FOLDER or mbx_uid != mbx.uid or fid not in mbx.folders:
        raise SimError(
            "ErrorFolderNotFound", "The specified folder could not be found in the store."
        )
    return mbx.folder(fid)


def first_folder(ctx: Context, container: etree._Element | None) -> Folder:
    if container is None or len(container) == 0:
        raise SimError("ErrorInvalidRequest", "A folder id is required.")
    return folder_from_elem(ctx, container[0])


# -- occurrences --------------------------------------------------------------------------
@dataclass
class Occurrence:
    master: Item
    original_start: str  # UTC ISO
    fields: dict[str, Any]
    is_exception: bool

    @property
    def id(self) -> str:
        epoch = int(parse_dt(self.original_start).timestamp())
        return ids.occurrence_id(_mbx_uid(self.master), self.master.uid, epoch)


def _mbx_uid(it: Item) -> bytes:
    return ids.parse_id(it.id)[1]


def occurrence_fields(master: Item, original_start: str) -> tuple[dict[str, Any], bool]:
    start = parse_dt(master.fields["Start"])
    end = parse_dt(master.fields["End"])
    occ_start = parse_dt(original_start)
    fields = {k: v for k, v in master.fields.items() if k != "Recurrence"}
    fields["Start"] = original_start
    fields["End"] = fmt_dt(occ_start + (end - start))
    exc = master.exceptions.get(original_start)
    if exc:
        fields.update(exc)
    return fields, bool(exc)


def expand(master: Item, window_start: dt.datetime, window_end: dt.datetime) -> list[Occurrence]:
    """Occurrences and exceptions of a master overlapping [window_start, window_end)."""
    out = []
    for occ in recurrence.occurrence_starts(master.fields, window_end + dt.timedelta(days=1)):
        key = fmt_dt(occ)
        if key in master.deleted_occurrences:
            continue
        fields, is_exc = occurrence_fields(master, key)
        s, e = parse_dt(fields["Start"]), parse_dt(fields["End"])
        if s < window_end and (e > window_start or (s == e and s >= window_start)):
            out.append(Occurrence(master, key, fields, is_exc))
    return out


def resolve_occurrence(ctx: Context, occ_id: str) -> Occurrence:
    return occurrence_in(ctx.mailbox, occ_id)


def occurrence_in(mbx: Mailbox, occ_id: str) -> Occurrence:
    """An occurrence id of this mailbox -> the occurrence (or exception) it names."""
    _kind, mbx_uid, uid, extra = ids.parse_id(occ_id)
    master_id = ids.make_id(ids.KIND_ITEM, mbx_uid, uid)
    if mbx_uid != mbx.uid or master_id not in mbx.items:
        raise SimError("ErrorItemNotFound", "The specified object was not found in the store.")
    master = mbx.items[master_id]
    original = fmt_dt(dt.datetime.fromtimestamp(ids.occurrence_start(extra), dt.UTC))
    if "Recurrence" not in master.fields or original in master.deleted_occurrences:
        raise SimError("ErrorItemNotFound", "The specified object was not found in the store.")
    fields, is_exc = occurrence_fields(master, original)
    return Occurrence(master, original, fields, is_exc)


def lookup(ctx: Context, elem: etree._Element) -> Item | Occurrence:
    """t:ItemId / t:OccurrenceItemId / t:RecurringMasterItemId -> item or occurrence."""
    kind = local(elem.tag)
    mbx = ctx.mailbox
    if kind == "OccurrenceItemId":
        master = ctx.store.item(mbx, elem.get("RecurringMasterId", ""))
        index = int(elem.get("InstanceIndex", "0"))
        if "Recurrence" not in master.fields or index < 1:
            raise SimError("ErrorInvalidOperation", "The item is not a recurring master.")
        starts = recurrence.occurrence_starts(master.fields, dt.datetime(9999, 1, 1, tzinfo=dt.UTC))
        if index > len(starts):
            raise SimError(
                "ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange",
                "The occurrence index is out of the recurrence range.",
            )
        original = fmt_dt(starts[index - 1])
        if original in master.deleted_occurrences:
            raise SimError(
                "ErrorCalendarOccurrenceIsDeletedFromRecurrence",
                "The occurrence was deleted from the recurrence.",
            )
        fields, is_exc = occurrence_fields(master, original)
        return Occurrence(master, original, fields, is_exc)
    item_id = (
        elem.get("Id", "") if kind != "RecurringMasterItemId" else elem.get("OccurrenceId", "")
    )
    try:
        id_kind = ids.parse_id(item_id)[0]
    except ids.MalformedId:
        raise SimError("ErrorInvalidIdMalformed", "Id is malformed.") from None
    if id_kind == ids.KIND_OCCURRENCE:
        occ = resolve_occurrence(ctx, item_id)
        return occ.master if kind == "RecurringMasterItemId" else occ
    return ctx.store.item(mbx, item_id)


# -- rendering ----------------------------------------------------------------------------
def _computed(it: Item, shape: Shape, mbx: Mailbox, occ: Occurrence | None) -> dict[str, str]:
    out: dict[str, str] = {}
    f = occ.fields if occ else it.fields

    def want(name: str) -> bool:
        spec = BY_NAME[name]
        return it.type in spec.types and wanted(shape, name, spec.default_shape)

    if want("ParentFolderId"):
        folder = mbx.folders[it.folder]
        out["ParentFolderId"] = (
            f'<t:ParentFolderId Id="{folder.id}" ChangeKey="{folder.changekey()}"/>'
        )
    if want("ItemClass"):
        out["ItemClass"] = f"<t:ItemClass>{ITEM_CLASS[it.type]}</t:ItemClass>"
    if want("DateTimeReceived"):
        out["DateTimeReceived"] = f"<t:DateTimeReceived>{it.created}</t:DateTimeReceived>"
    if want("Size"):
        out["Size"] = f"<t:Size>{200 + len(repr(f))}</t:Size>"
    if want("DateTimeCreated"):
        out["DateTimeCreated"] = f"<t:DateTimeCreated>{it.created}</t:DateTimeCreated>"
    if want("HasAttachments"):
        out["HasAttachments"] = "<t:HasAttachments>false</t:HasAttachments>"
    if want("LastModifiedName"):
        out["LastModifiedName"] = (
            f"<t:LastModifiedName>{esc(mbx.display_name)}</t:LastModifiedName>"
        )
    if want("LastModifiedTime"):
        out["LastModifiedTime"] = f"<t:LastModifiedTime>{it.modified}</t:LastModifiedTime>"
    if want("IsAssociated"):
        out["IsAssociated"] = "<t:IsAssociated>false</t:IsAssociated>"
    if it.type in (CONTACT, DLIST) and want("ContactSource"):
        out["ContactSource"] = "<t:ContactSource>Store</t:ContactSource>"
    if it.type == EVENT:
        is_master = "Recurrence" in it.fields
        if occ is not None:
            cal_type = "Exception" if occ.is_exception else "Occurrence"
        else:
            cal_type = "RecurringMaster" if is_master else "Single"
        if want("UID"):  # when the client gave none
            out["UID"] = f"<t:UID>{it.uid.hex().upper()}</t:UID>"
        if occ is not None and want("RecurrenceId"):
            out["RecurrenceId"] = f"<t:RecurrenceId>{occ.original_start}</t:RecurrenceId>"
        if occ is not None and want("OriginalStart"):
            out["OriginalStart"] = f"<t:OriginalStart>{occ.original_start}</t:OriginalStart>"
        if want("IsMeeting"):
            meeting = bool(f.get("RequiredAttendees") or f.get("OptionalAttendees"))
            out["IsMeeting"] = f"<t:IsMeeting>{xml_bool(meeting)}</t:IsMeeting>"
        if want("IsCancelled"):
            out["IsCancelled"] = "<t:IsCancelled>false</t:IsCancelled>"
        if want("IsRecurring"):
            out["IsRecurring"] = f"<t:IsRecurring>{xml_bool(occ is not None)}</t:IsRecurring>"
        if want("CalendarItemType"):
            out["CalendarItemType"] = f"<t:CalendarItemType>{cal_type}</t:CalendarItemType>"
        if want("MyResponseType"):
            me = (f.get("Organizer") or {}).get("EmailAddress", "").lower() == mbx.smtp.lower()
            answer = f.get("MyResponseType") or ("Organizer" if me else "NoResponseReceived")
            out["MyResponseType"] = f"<t:MyResponseType>{answer}</t:MyResponseType>"
        if want("Duration") and "Start" in f and "End" in f:
            secs = int((parse_dt(f["End"]) - parse_dt(f["Start"])).total_seconds())
            out["Duration"] = f"<t:Duration>PT{secs // 3600}H{secs % 3600 // 60}M</t:Duration>"
        if is_master and occ is None:
            _master_extras(it, mbx, out, want)
    return out


def _master_extras(it: Item, mbx: Mailbox, out: dict[str, str], want: Any) -> None:
    if not (
        want("FirstOccurrence")
        or want("LastOccurrence")
        or want("ModifiedOccurrences")
        or want("DeletedOccurrences")
    ):
        return
    starts = recurrence.occurrence_starts(it.fields, dt.datetime(2200, 1, 1, tzinfo=dt.UTC))
    live = [s for s in starts if fmt_dt(s) not in it.deleted_occurrences]

    def occ_xml(tag: str, original: str) -> str:
        fields, _ = occurrence_fields(it, original)
        epoch = int(parse_dt(original).timestamp())
        oid = ids.occurrence_id(mbx.uid, it.uid, epoch)
        return (
            f'<t:{tag}><t:ItemId Id="{oid}" ChangeKey="{it.changekey()}"/>'
            f"<t:Start>{fields['Start']}</t:Start><t:End>{fields['End']}</t:End>"
            f"<t:OriginalStart>{original}</t:OriginalStart></t:{tag}>"
        )

    if live and want("FirstOccurrence"):
        out["FirstOccurrence"] = occ_xml("FirstOccurrence", fmt_dt(live[0]))
    if live and want("LastOccurrence") and len(starts) < recurrence.MAX_OCCURRENCES:
        out["LastOccurrence"] = occ_xml("LastOccurrence", fmt_dt(live[-1]))
    if it.exceptions and want("ModifiedOccurrences"):
        out["ModifiedOccurrences"] = (
            "<t:ModifiedOccurrences>"
            + "".join(occ_xml("Occurrence", k) for k in sorted(it.exceptions))
            + "</t:ModifiedOccurrences>"
        )
    if it.deleted_occurrences and want("DeletedOccurrences"):
        out["DeletedOccurrences"] = (
            "<t:DeletedOccurrences>"
            + "".join(
                f"<t:DeletedOccurrence><t:Start>{k}</t:Start></t:DeletedOccurrence>"
                for k in sorted(it.deleted_occurrences)
            )
            + "</t:DeletedOccurrences>"
        )


def render_item(it: Item | Occurrence, shape: Shape, mbx: Mailbox) -> str:
    if isinstance(it, Occurrence):
        master, occ = it.master, it
        item_id, fields = it.id, it.fields
    else:
        master, occ = it, None
        item_id, fields = it.id, it.fields
    computed = _computed(master, shape, mbx, occ)
    body = render_fields(master.type, fields, shape, computed, master.ext)
    tag = master.type
    return f'<t:{tag}><t:ItemId Id="{item_id}" ChangeKey="{master.changekey()}"/>{body}</t:{tag}>'


def item_id_xml(it: Item) -> str:
    return f'<t:{it.type}><t:ItemId Id="{it.id}" ChangeKey="{it.changekey()}"/></t:{it.type}>'


# -- folders ------------------------------------------------------------------------------
FOLDER_URIS = {
    "folder:FolderId",
    "folder:ParentFolderId",
    "folder:FolderClass",
    "folder:DisplayName",
    "folder:TotalCount",
    "folder:ChildFolderCount",
    "folder:UnreadCount",
    "folder:DistinguishedFolderId",
}


def folder_shape(elem: etree._Element | None) -> tuple[str, set[str]]:
    if elem is None:
        return "AllProperties", set()
    base = (elem.findtext(T + "BaseShape") or "IdOnly").strip()
    extra = set()
    props = elem.find(T + "AdditionalProperties")
    if props is not None:
        extra = {p.get("FieldURI", "") for p in props if local(p.tag) == "FieldURI"}
    return base, extra


def render_folder(f: Folder, mbx: Mailbox, base: str, extra: set[str]) -> str:
    def want(uri: str) -> bool:
        if uri in extra or base == "AllProperties":
            return True
        return base == "Default" and uri in (
            "folder:DisplayName",
            "folder:TotalCount",
            "folder:ChildFolderCount",
            "folder:UnreadCount",
        )

    parts = [f'<t:FolderId Id="{f.id}" ChangeKey="{f.changekey()}"/>']
    if f.parent and want("folder:ParentFolderId"):
        parent = mbx.folders[f.parent]
        parts.append(f'<t:ParentFolderId Id="{parent.id}" ChangeKey="{parent.changekey()}"/>')
    if f.folder_class and want("folder:FolderClass"):
        parts.append(f"<t:FolderClass>{esc(f.folder_class)}</t:FolderClass>")
    if want("folder:DisplayName"):
        parts.append(f"<t:DisplayName>{esc(f.name)}</t:DisplayName>")
    if want("folder:TotalCount"):
        parts.append(f"<t:TotalCount>{len(f.items)}</t:TotalCount>")
    if want("folder:ChildFolderCount"):
        parts.append(f"<t:ChildFolderCount>{len(mbx.children(f.id))}</t:ChildFolderCount>")
    if f.distinguished and want("folder:DistinguishedFolderId"):
        parts.append(f"<t:DistinguishedFolderId>{attr(f.distinguished)}</t:DistinguishedFolderId>")
    if f.element == "Folder" and want("folder:UnreadCount"):
        parts.append("<t:UnreadCount>0</t:UnreadCount>")
    return f"<t:{f.element}>{''.join(parts)}</t:{f.element}>"


def fields_for(type_: str) -> set[str]:
    return {f.name for f in FIELDS_FOR[type_]}
