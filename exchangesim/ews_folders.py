"""Folder operations: GetFolder, FindFolder, CreateFolder, SyncFolderHierarchy (MS-OXWSFOLD)."""

from __future__ import annotations

from .ewsbase import Context, first_folder, folder_from_elem, folder_shape, render_folder
from .soap import M, T, error, esc, local, response_messages, success
from .store import Folder, SimError


def get_folder(ctx: Context) -> str:
    base, extra = folder_shape(ctx.request.find(M + "FolderShape"))
    messages = []
    for elem in ctx.request.find(M + "FolderIds"):
        try:
            f = folder_from_elem(ctx, elem)
            inner = render_folder(f, ctx.mailbox, base, extra)
            messages.append(success("GetFolder", f"<m:Folders>{inner}</m:Folders>"))
        except SimError as e:
            messages.append(error("GetFolder", e.code, e.text))
    return response_messages("GetFolder", messages)


def _subtree(ctx: Context, folder: Folder, deep: bool) -> list[Folder]:
    out = []
    for child in ctx.mailbox.children(folder.id):
        out.append(child)
        if deep:
            out.extend(_subtree(ctx, child, deep))
    return out


def _matches(f: Folder, restriction: object) -> bool:
    """The one restriction clients send for folders: DisplayName IsEqualTo a constant."""
    if restriction is None:
        return True
    for cond in restriction.iter(T + "IsEqualTo"):  # type: ignore[attr-defined]
        uri = cond.find(T + "FieldURI")
        const = cond.find(f"{T}FieldURIOrConstant/{T}Constant")
        if uri is not None and const is not None and uri.get("FieldURI") == "folder:DisplayName":
            return f.name.lower() == (const.get("Value") or "").lower()
    return True


def find_folder(ctx: Context) -> str:
    req = ctx.request
    deep = req.get("Traversal", "Shallow") == "Deep"
    base, extra = folder_shape(req.find(M + "FolderShape"))
    view = req.find(M + "IndexedPageFolderView")
    restriction = req.find(M + "Restriction")
    messages = []
    for elem in req.find(M + "ParentFolderIds"):
        try:
            parent = folder_from_elem(ctx, elem)
            found = [f for f in _subtree(ctx, parent, deep) if _matches(f, restriction)]
            total = len(found)
            offset, limit = 0, total
            if view is not None:
                offset = int(view.get("Offset", "0"))
                limit = int(view.get("MaxEntriesReturned", str(total)))
                if view.get("BasePoint") == "End":
                    offset = max(0, total - offset - limit)
            page = found[offset : offset + limit]
            last = offset + len(page) >= total
            folders = "".join(render_folder(f, ctx.mailbox, base, extra) for f in page)
            messages.append(
                success(
                    "FindFolder",
                    (
                        f'<m:RootFolder IndexedPagingOffset="{offset + len(page)}" '
                        f'TotalItemsInView="{total}" '
                        f'IncludesLastItemInRange="{"true" if last else "false"}">'
                        f"<t:Folders>{folders}</t:Folders></m:RootFolder>"
                    ),
                )
            )
        except SimError as e:
            messages.append(error("FindFolder", e.code, e.text))
    return response_messages("FindFolder", messages)


def create_folder(ctx: Context) -> str:
    req = ctx.request
    messages = []
    try:
        parent = first_folder(ctx, req.find(M + "ParentFolderId"))
    except SimError as e:
        return response_messages(
            "CreateFolder", [error("CreateFolder", e.code, e.text) for _ in req.find(M + "Folders")]
        )
    for felem in req.find(M + "Folders"):
        try:
            name = (felem.findtext(T + "DisplayName") or "").strip()
            if not name:
                raise SimError("ErrorInvalidFolderId", "A folder needs a display name.")
            fclass = felem.findtext(T + "FolderClass")
            if fclass is None:
                fclass = {
                    "ContactsFolder": "IPF.Contact",
                    "CalendarFolder": "IPF.Appointment",
                    "TasksFolder": "IPF.Task",
                }.get(local(felem.tag))
            f = ctx.store.create_folder(ctx.mailbox, parent.id, name, fclass)
            fid = f'<t:FolderId Id="{f.id}" ChangeKey="{f.changekey()}"/>'
            inner = f"<t:{f.element}>{fid}</t:{f.element}>"
            messages.append(success("CreateFolder", f"<m:Folders>{inner}</m:Folders>"))
        except SimError as e:
            messages.append(error("CreateFolder", e.code, e.text))
    return response_messages("CreateFolder", messages)


def sync_folder_hierarchy(ctx: Context) -> str:
    """Every folder under msgfolderroot as a Create; the state only marks "done".

    Folder hierarchies change rarely and the engine does not sync them; this exists so a
    client that asks gets a well-formed, complete answer.
    """
    req = ctx.request
    base, extra = folder_shape(req.find(M + "FolderShape"))
    sync_id = req.find(M + "SyncFolderId")
    root = (
        first_folder(ctx, sync_id) if sync_id is not None else ctx.mailbox.folder("msgfolderroot")
    )
    state = req.findtext(M + "SyncState") or ""
    changes = ""
    if not state:
        changes = "".join(
            f"<t:Create>{render_folder(f, ctx.mailbox, base, extra)}</t:Create>"
            for f in _subtree(ctx, root, True)
        )
    inner = (
        f"<m:SyncState>{esc('H' + root.id)}</m:SyncState>"
        f"<m:IncludesLastFolderInRange>true</m:IncludesLastFolderInRange>"
        f"<m:Changes>{changes}</m:Changes>"
    )
    return response_messages("SyncFolderHierarchy", [success("SyncFolderHierarchy", inner)])
