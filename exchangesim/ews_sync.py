"""SyncFolderItems (MS-OXWSSYNC): change listing with opaque, resumable states."""

from __future__ import annotations

from . import ids
from .ewsbase import Context, first_folder, render_item
from .itemxml import parse_shape
from .soap import M, error, response_messages, success
from .store import SchemaViolation, SimError

MAX_CHANGES = 512
INVALID_STATE_TEXT = "Synchronization state data is corrupt or otherwise invalid."


def invalid_state() -> str:
    # Exchange still sends an empty SyncState and IncludesLastItemInRange with the error
    # (MS-OXWSSYNC example); exchangelib reads both before looking at ResponseClass.
    return response_messages(
        "SyncFolderItems",
        [
            error(
                "SyncFolderItems",
                "ErrorInvalidSyncStateData",
                INVALID_STATE_TEXT,
                "<m:SyncState/><m:IncludesLastItemInRange>true</m:IncludesLastItemInRange>",
            )
        ],
    )


def sync_folder_items(ctx: Context) -> str:
    req = ctx.request
    raw_max = (req.findtext(M + "MaxChangesReturned") or "").strip()
    try:
        max_changes = int(raw_max)
    except ValueError:
        raise SchemaViolation(
            f"The value '{raw_max}' is invalid according to its datatype "
            "'MaxSyncChangesReturnedType'."
        ) from None
    if not 1 <= max_changes <= MAX_CHANGES:
        bound = "MinInclusive" if max_changes < 1 else "MaxInclusive"
        raise SchemaViolation(
            "The 'http://schemas.microsoft.com/exchange/services/2006/messages:MaxChangesReturned' "
            f"element is invalid - The value '{raw_max}' is invalid according to its datatype "
            "'http://schemas.microsoft.com/exchange/services/2006/types:MaxSyncChangesReturnedType'"
            f" - The {bound} constraint failed."
        )
    shape = parse_shape(req.find(M + "ItemShape"), for_sync=True)
    mbx = ctx.mailbox
    try:
        folder = first_folder(ctx, req.find(M + "SyncFolderId"))
    except SimError as e:
        return response_messages(
            "SyncFolderItems",
            [
                error(
                    "SyncFolderItems",
                    e.code,
                    e.text,
                    "<m:SyncState/><m:IncludesLastItemInRange>true</m:IncludesLastItemInRange>",
                )
            ],
        )
    state = (req.findtext(M + "SyncState") or "").strip()
    position = 0
    if state:
        try:
            folder_uid, position = ids.parse_sync_state(state)
        except ids.MalformedId:
            return invalid_state()
        if folder_uid != folder.uid or position > mbx.seq:
            return invalid_state()
    ignore_elem = req.find(M + "Ignore")
    ignore = {e.get("Id", "") for e in ignore_elem} if ignore_elem is not None else set()
    with ctx.store.lock:
        changes, new_position, last = ctx.store.sync_changes(
            mbx, folder, position, max_changes, ignore
        )
        parts = []
        for kind, iid in changes:
            if kind == "delete":
                parts.append(f'<t:Delete><t:ItemId Id="{iid}"/></t:Delete>')
            else:
                tag = "Create" if kind == "create" else "Update"
                parts.append(f"<t:{tag}>{render_item(mbx.items[iid], shape, mbx)}</t:{tag}>")
    new_state = ids.make_sync_state(folder.uid, new_position)
    inner = (
        f"<m:SyncState>{new_state}</m:SyncState>"
        f"<m:IncludesLastItemInRange>{'true' if last else 'false'}</m:IncludesLastItemInRange>"
        f"<m:Changes>{''.join(parts)}</m:Changes>"
    )
    return response_messages("SyncFolderItems", [success("SyncFolderItems", inner)])
