"""Item operations: GetItem, CreateItem, UpdateItem, DeleteItem, MoveItem (MS-OXWSCORE)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from lxml import etree

from . import ids, limits
from .ews_meeting import RESPONSE_OBJECTS, respond
from .ewsbase import (
    Context,
    Occurrence,
    fields_for,
    first_folder,
    item_id_xml,
    lookup,
    render_item,
)
from .itemxml import (
    ext_uri,
    fmt_dt,
    parse_dt,
    parse_ext_value,
    parse_item,
    parse_shape,
    parse_value,
)
from .schema import (
    ADDRESS_URIS,
    ATTENDEES,
    BODY,
    BY_NAME,
    BY_URI,
    COMPUTED,
    CONTACT,
    DLIST,
    EVENT,
    INDEXED_URIS,
    MEMBERS,
    STRLIST,
    ext_key,
)
from .soap import M, T, error, local, response_messages, success
from .store import (
    Change,
    Item,
    Mailbox,
    SimError,
    Store,
    apply_change,
    change_name,
    enforce_limits,
)

CONFLICT_TEXT = (
    "The send or update operation could not be performed because the change key "
    "passed in the request does not match the current change key for the item."
)
DEFAULT_FOLDER = {CONTACT: "contacts", DLIST: "contacts", EVENT: "calendar", "Message": "drafts"}


def get_item(ctx: Context) -> str:
    shape = parse_shape(ctx.request.find(M + "ItemShape"))
    messages = []
    for elem in ctx.request.find(M + "ItemIds"):
        try:
            it = lookup(ctx, elem)
            inner = render_item(it, shape, ctx.mailbox)
            messages.append(success("GetItem", f"<m:Items>{inner}</m:Items>"))
        except SimError as e:
            messages.append(error("GetItem", e.code, e.text, "<m:Items/>", e.xml))
    return response_messages("GetItem", messages)


def validate_event(fields: dict[str, Any]) -> None:
    """Start/End as Exchange settles them: defaults when missing, End not before Start."""
    if "Start" not in fields:
        now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
        fields["Start"] = fmt_dt(now + dt.timedelta(hours=1))
    if "End" not in fields:
        fields["End"] = fmt_dt(parse_dt(fields["Start"]) + dt.timedelta(minutes=30))
    if parse_dt(fields["End"]) < parse_dt(fields["Start"]):
        raise SimError(
            "ErrorCalendarEndDateIsEarlierThanStartDate", "EndDate is earlier than StartDate"
        )


def create_item(ctx: Context) -> str:
    req = ctx.request
    mbx = ctx.mailbox
    saved = req.find(M + "SavedItemFolderId")
    messages = []
    try:
        folder = first_folder(ctx, saved) if saved is not None else None
    except SimError as e:
        return response_messages(
            "CreateItem", [error("CreateItem", e.code, e.text) for _ in req.find(M + "Items")]
        )
    for elem in req.find(M + "Items"):
        try:
            if local(elem.tag) in RESPONSE_OBJECTS:
                respond(ctx, elem)
                messages.append(success("CreateItem", "<m:Items/>"))
                continue
            type_, fields, ext = parse_item(elem)
            if type_ == EVENT:
                validate_event(fields)
                if "Organizer" not in fields:
                    fields["Organizer"] = {"Name": mbx.display_name, "EmailAddress": mbx.smtp}
            target = folder or mbx.folder(DEFAULT_FOLDER[type_])
            mbx.check_quota()
            it = ctx.store.create_item(mbx, target, type_, fields, ext, limits.CREATE_CODE)
            messages.append(success("CreateItem", f"<m:Items>{item_id_xml(it)}</m:Items>"))
        except SimError as e:
            messages.append(error("CreateItem", e.code, e.text, "<m:Items/>", e.xml))
    return response_messages("CreateItem", messages)


def _one_child(container: etree._Element | None) -> etree._Element:
    if container is None or len(container) == 0:
        raise SimError("ErrorInvalidRequest", "SetItemField needs an item element.")
    return container


def parse_updates(updates: etree._Element, type_: str) -> list[Change]:
    """SetItemField / AppendToItemField / DeleteItemField -> store changes."""
    allowed = fields_for(type_)
    changes: list[Change] = []
    for upd in updates:
        op = local(upd.tag)
        path_elem = upd[0]
        path_kind = local(path_elem.tag)
        item_elem = upd[1] if len(upd) > 1 else None
        uri = path_elem.get("FieldURI", "")
        if path_kind == "ExtendedFieldURI":
            attrs = ext_uri(path_elem)
            key = ext_key(attrs)
            if op == "DeleteItemField":
                changes.append(("del", ("ext", key)))
                continue
            prop = _one_child(item_elem).find(T + "ExtendedProperty")
            if prop is None:
                raise SimError("ErrorInvalidPropertySet", "No ExtendedProperty in SetItemField.")
            changes.append(("set", ("ext", key, attrs), parse_ext_value(prop)))
            continue
        if path_kind == "IndexedFieldURI":
            index = path_elem.get("FieldIndex", "")
            if uri in INDEXED_URIS:
                name = INDEXED_URIS[uri]
                path: tuple[str, ...] = (name, index)
            elif uri in ADDRESS_URIS:
                name = "PhysicalAddresses"
                path = (name, index, ADDRESS_URIS[uri])
            else:
                raise SimError(
                    "ErrorInvalidIndexedPagingParameters", f"Unknown indexed field {uri}"
                )
            if name not in allowed:
                raise SimError("ErrorInvalidPropertySet", f"{uri} does not apply to {type_}.")
            if op == "DeleteItemField":
                changes.append(("del", path))
                continue
            container = _one_child(item_elem).find(T + name)
            entry = None if container is None else container.find(f"{T}Entry[@Key='{index}']")
            if entry is None:
                raise SimError("ErrorInvalidPropertySet", f"No {name} entry {index} to set.")
            if len(path) == 3:
                part = entry.find(T + path[2])
                value = part.text if part is not None and part.text else ""
            else:
                value = entry.text or ""
            changes.append(("del", path) if value == "" else ("set", path, value))
            continue
        spec = BY_URI.get(uri)
        if spec is None:
            raise SimError("ErrorInvalidPropertyRequest", f"Unknown property {uri}")
        if spec.type == COMPUTED:
            raise SimError("ErrorInvalidPropertySet", f"{uri} is read-only.")
        if type_ not in spec.types:
            raise SimError("ErrorInvalidPropertySet", f"{uri} does not apply to {type_}.")
        if op == "DeleteItemField":
            changes.append(("del", (spec.name,)))
            continue
        value_elem = _one_child(item_elem).find(T + spec.name)
        if value_elem is None:
            raise SimError("ErrorInvalidPropertySet", f"No {spec.name} element to set.")
        value = parse_value(spec.type, value_elem)
        if op == "AppendToItemField":
            if spec.type not in (STRLIST, ATTENDEES, MEMBERS, BODY):
                raise SimError("ErrorInvalidPropertyAppend", f"Cannot append to {uri}.")
            changes.append(("append", (spec.name,), value))
        else:
            changes.append(("set", (spec.name,), value))
        if spec.type == BODY:
            changes.append(("set", ("BodyType",), value_elem.get("BodyType", "Text")))
    return changes


def _resolve_appends(it_fields: dict[str, Any], changes: list[Change]) -> list[Change]:
    out: list[Change] = []
    for ch in changes:
        if ch[0] == "append":
            current = it_fields.get(ch[1][0])
            out.append(("set", ch[1], (current or type(ch[2])()) + ch[2]))
        else:
            out.append(ch)
    return out


def update_occurrence(store: Store, mbx: Mailbox, occ: Occurrence, changes: list[Change]) -> Item:
    """Writing an occurrence turns it into an exception of its master."""
    master = occ.master
    exc = dict(master.exceptions.get(occ.original_start, {}))
    tmp_fields = dict(occ.fields)
    tmp_ext: dict[str, dict[str, Any]] = {}
    for ch in _resolve_appends(tmp_fields, changes):
        if ch[1][0] == "ext":
            continue
        apply_change(tmp_fields, tmp_ext, ch)
        name = ch[1][0]
        exc[name] = tmp_fields.get(name)
    exc = {k: v for k, v in exc.items() if v is not None}
    enforce_limits(exc, limits.UPDATE_CODE)
    master.exceptions[occ.original_start] = exc
    store.touch(mbx, master, {"Exceptions"})
    return master


def delete_occurrence(store: Store, mbx: Mailbox, occ: Occurrence) -> None:
    """Deleting one occurrence records it on the series (and drops its exception, if any)."""
    occ.master.deleted_occurrences.append(occ.original_start)
    occ.master.exceptions.pop(occ.original_start, None)
    store.touch(mbx, occ.master, {"DeletedOccurrences"})


def update_item(ctx: Context) -> str:
    req = ctx.request
    mode = req.get("ConflictResolution", "AutoResolve")
    mbx = ctx.mailbox
    messages = []
    for change in req.find(M + "ItemChanges"):
        id_elem = change[0]
        try:
            target = lookup(ctx, id_elem)
            mbx.check_quota()
            master = target.master if isinstance(target, Occurrence) else target
            changes = parse_updates(change.find(T + "Updates"), master.type)
            ck = id_elem.get("ChangeKey")
            if not ck and mode != "AlwaysOverwrite":
                raise SimError(
                    "ErrorChangeKeyRequiredForWriteOperations",
                    "ChangeKey is required for this operation.",
                )
            client_version = checked_change_key(id_elem)
            stale = client_version is not None and client_version != master.version
            if stale and mode == "NeverOverwrite":
                raise SimError("ErrorIrresolvableConflict", CONFLICT_TEXT)
            if stale and mode == "AutoResolve":
                names = {change_name(c) for c in changes}
                if isinstance(target, Occurrence) or ctx.store.conflicting_fields(
                    master, client_version or 0, names
                ):
                    raise SimError("ErrorIrresolvableConflict", CONFLICT_TEXT)
            if isinstance(target, Occurrence):
                it = update_occurrence(ctx.store, mbx, target, changes)
                # The exception keeps the occurrence's id; its change key is the series'.
                inner = (
                    f'<m:Items><t:{it.type}><t:ItemId Id="{target.id}" '
                    f'ChangeKey="{it.changekey()}"/>'
                    f"</t:{it.type}></m:Items><m:ConflictResults><t:Count>0</t:Count></m:ConflictResults>"
                )
                messages.append(success("UpdateItem", inner))
                continue
            else:
                it = target
                changes = _resolve_appends(it.fields, changes)
                if it.type == EVENT:
                    probe = dict(it.fields)
                    for ch in changes:
                        if ch[1][0] in ("Start", "End"):
                            probe[ch[1][0]] = ch[2] if ch[0] == "set" else probe.get(ch[1][0])
                    validate_event(probe)
                ctx.store.apply_changes(mbx, it, changes, limits.UPDATE_CODE)
            inner = (
                f"<m:Items>{item_id_xml(it)}</m:Items>"
                "<m:ConflictResults><t:Count>0</t:Count></m:ConflictResults>"
            )
            messages.append(success("UpdateItem", inner))
        except SimError as e:
            messages.append(error("UpdateItem", e.code, e.text, "<m:Items/>", e.xml))
    return response_messages("UpdateItem", messages)


def checked_change_key(id_elem: etree._Element) -> int | None:
    """The item version a ChangeKey attribute names; a key that cannot be one is refused."""
    ck = id_elem.get("ChangeKey")
    if not ck:
        return None
    version = ids.change_key_version(ck)
    if version is None:
        raise SimError("ErrorInvalidChangeKey", "ChangeKey is invalid.")
    return version


def delete_item(ctx: Context) -> str:
    req = ctx.request
    mode = req.get("DeleteType", "MoveToDeletedItems")
    mbx = ctx.mailbox
    messages = []
    for elem in req.find(M + "ItemIds"):
        try:
            target = lookup(ctx, elem)
            checked_change_key(elem)
            if isinstance(target, Occurrence):
                delete_occurrence(ctx.store, mbx, target)
            elif (
                mode == "MoveToDeletedItems" and target.folder != mbx.distinguished["deleteditems"]
            ):
                ctx.store.move_item(mbx, target, mbx.folder("deleteditems"))
            elif mode == "SoftDelete" and "recoverableitemsdeletions" in mbx.distinguished:
                # Soft-deleted items go to the dumpster (Recoverable Items\Deletions).
                ctx.store.move_item(mbx, target, mbx.folder("recoverableitemsdeletions"))
            else:
                ctx.store.remove_item(mbx, target)
            messages.append(success("DeleteItem", ""))
        except SimError as e:
            messages.append(error("DeleteItem", e.code, e.text))
    return response_messages("DeleteItem", messages)


def move_item(ctx: Context) -> str:
    req = ctx.request
    mbx = ctx.mailbox
    messages = []
    try:
        target_folder = first_folder(ctx, req.find(M + "ToFolderId"))
    except SimError as e:
        return response_messages(
            "MoveItem", [error("MoveItem", e.code, e.text) for _ in req.find(M + "ItemIds")]
        )
    for elem in req.find(M + "ItemIds"):
        try:
            target = lookup(ctx, elem)
            if isinstance(target, Occurrence):
                raise SimError(
                    "ErrorCannotMoveOrCopyOccurrenceItem",
                    "An occurrence cannot be moved on its own.",
                )
            if target.folder == target_folder.id:
                it = target
            else:
                it = ctx.store.move_item(mbx, target, target_folder)
            messages.append(success("MoveItem", f"<m:Items>{item_id_xml(it)}</m:Items>"))
        except SimError as e:
            messages.append(error("MoveItem", e.code, e.text, "<m:Items/>"))
    return response_messages("MoveItem", messages)


def convert_id(ctx: Context) -> str:
    """ConvertId between EwsId forms only; exchangelib mostly sends it to learn the version."""
    req = ctx.request
    dest = req.get("DestinationFormat", "EwsId")
    messages = []
    for elem in req.find(M + "SourceIds"):
        try:
            value = elem.get("Id", "")
            ids.parse_id(value)
            if dest not in ("EwsId", "EwsLegacyId") or elem.get("Format") not in (
                "EwsId",
                "EwsLegacyId",
            ):
                raise SimError("ErrorInvalidIdNotAnItemAttachmentId", "Unsupported id format.")
            mailbox = elem.get("Mailbox", "")
            inner = (
                f'<m:AlternateId xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
                f'xsi:type="t:AlternateIdType" Format="{dest}" Id="{value}" Mailbox="{mailbox}"/>'
            )
            messages.append(success("ConvertId", inner))
        except ids.MalformedId:
            messages.append(error("ConvertId", "ErrorInvalidIdMalformed", "Id is malformed."))
        except SimError as e:
            messages.append(error("ConvertId", e.code, e.text))
    return response_messages("ConvertId", messages)


__all__ = [
    "BY_NAME",
    "convert_id",
    "create_item",
    "delete_item",
    "get_item",
    "move_item",
    "update_item",
]
