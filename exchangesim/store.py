"""The simulated mailboxes: folders, items, change logs, accounts and scopes.

Everything a request touches lives here, behind one re-entrant lock. EWS handlers and the
control API both mutate through the same methods, so an edit made "as a rep" and one made
through EWS are indistinguishable to a syncing client (same change keys, same change log).
"""

from __future__ import annotations

import bisect
import copy
import datetime as dt
import threading
from dataclasses import dataclass, field
from typing import Any

from . import ids, limits
from .apps import Directory
from .schema import BY_NAME, CONTACT, DLIST, EVENT, MESSAGE

# (distinguished id, display name, parent distinguished id, folder class, element name)
DISTINGUISHED_FOLDERS: tuple[tuple[str, str, str | None, str | None, str], ...] = (
    ("root", "", None, None, "Folder"),
    ("msgfolderroot", "Top of Information Store", "root", "IPF.Note", "Folder"),
    ("inbox", "Inbox", "msgfolderroot", "IPF.Note", "Folder"),
    ("drafts", "Drafts", "msgfolderroot", "IPF.Note", "Folder"),
    ("sentitems", "Sent Items", "msgfolderroot", "IPF.Note", "Folder"),
    ("deleteditems", "Deleted Items", "msgfolderroot", "IPF.Note", "Folder"),
    ("contacts", "Contacts", "msgfolderroot", "IPF.Contact", "ContactsFolder"),
    ("calendar", "Calendar", "msgfolderroot", "IPF.Appointment", "CalendarFolder"),
    ("tasks", "Tasks", "msgfolderroot", "IPF.Task", "TasksFolder"),
    ("recoverableitemsroot", "Recoverable Items", "root", None, "Folder"),
    ("recoverableitemsdeletions", "Deletions", "recoverableitemsroot", None, "Folder"),
)
ELEMENT_FOR_CLASS = {
    "IPF.Contact": "ContactsFolder",
    "IPF.Appointment": "CalendarFolder",
    "IPF.Task": "TasksFolder",
}
_KIND_TAG = {
    CONTACT: b"\x0f\x00\x00\x00",
    DLIST: b"\x12\x00\x00\x00",
    EVENT: b"\x09\x00\x00\x00",
    MESSAGE: b"\x0a\x00\x00\x00",
    "Folder": b"\x01\x00\x00\x00",
}


class SimError(Exception):
    """An EWS ResponseCode to report for one request element (ResponseClass="Error").

    `xml` is the MessageXml content, e.g. the FieldURI of a property that failed.
    """

    def __init__(self, code: str, text: str = "", xml: str = "") -> None:
        super().__init__(code, text)
        self.code = code
        self.text = text or code
        self.xml = xml


# How Exchange refuses a distinguished folder of a mailbox that opened: its EWS ResponseCode
# (GetFolder, FindFolder, ...) and Graph's status and code for the same folder.
FOLDER_REFUSALS = {
    "not_found": ("ErrorFolderNotFound", "The specified folder could not be found in the store.",
                  404, "ErrorItemNotFound", "The specified object was not found in the store."),
    "access_denied": ("ErrorAccessDenied", "Access is denied. Check credentials and try again.",
                      403, "ErrorAccessDenied", "Access is denied. Check credentials and try "
                      "again."),
}


class FolderRefused(SimError):
    """A distinguished folder the control API made unreachable (`refuse_folder`)."""

    def __init__(self, refusal: str) -> None:
        code, text, status, graph_code, graph_text = FOLDER_REFUSALS[refusal]
        super().__init__(code, text)
        self.refusal = refusal
        self.graph_status = status
        self.graph_code = graph_code
        self.graph_text = graph_text


class SchemaViolation(Exception):
    """A request the EWS schema rejects; Exchange answers with an ErrorSchemaValidation fault."""

    def __init__(self, violation: str) -> None:
        super().__init__(violation)
        self.violation = violation


def utcnow() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Folder:
    uid: bytes
    id: str
    name: str
    parent: str | None
    folder_class: str | None
    distinguished: str | None = None
    version: int = 1
    items: dict[str, None] = field(default_factory=dict)  # ordered set of item ids
    log: list[tuple[int, str, bool]] = field(default_factory=list)  # (seq, item id, present)
    history: dict[str, list[tuple[int, bool]]] = field(default_factory=dict)

    @property
    def element(self) -> str:
        return ELEMENT_FOR_CLASS.get(self.folder_class or "", "Folder")

    def changekey(self) -> str:
        return ids.change_key(_KIND_TAG["Folder"], self.uid, self.version)

    def record(self, seq: int, item_id: str, present: bool) -> None:
        self.log.append((seq, item_id, present))
        self.history.setdefault(item_id, []).append((seq, present))
        if present:
            self.items[item_id] = None
        else:
            self.items.pop(item_id, None)

    def present_at(self, item_id: str, position: int) -> bool:
        hist = self.history.get(item_id)
        if not hist:
            return False
        i = bisect.bisect_right(hist, position, key=lambda e: e[0])
        return i > 0 and hist[i - 1][1]


@dataclass
class Item:
    uid: bytes
    id: str
    type: str
    folder: str
    version: int
    created: str
    modified: str
    fields: dict[str, Any] = field(default_factory=dict)
    ext: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> {"uri":{..},"value":..}
    field_versions: dict[str, int] = field(default_factory=dict)
    exceptions: dict[str, dict[str, Any]] = field(default_factory=dict)  # original start -> fields
    deleted_occurrences: list[str] = field(default_factory=list)

    def changekey(self) -> str:
        return ids.change_key(_KIND_TAG[self.type], self.uid, self.version)


@dataclass
class Mailbox:
    smtp: str
    uid: bytes
    display_name: str = ""
    folders: dict[str, Folder] = field(default_factory=dict)
    distinguished: dict[str, str] = field(default_factory=dict)
    items: dict[str, Item] = field(default_factory=dict)
    seq: int = 0  # change-log position (sync states point into it)
    clock: int = 0  # version counter for change keys
    # The most items the mailbox may hold (None: no limit); at it, creates and updates answer
    # ErrorQuotaExceeded, as a full mailbox does, over EWS and over Graph (`check_quota`).
    quota: int | None = None
    # Distinguished folders Exchange refuses (name -> a FOLDER_REFUSALS key), as when the
    # folder is gone or its permissions deny the caller: every request naming it fails.
    refused: dict[str, str] = field(default_factory=dict)

    def check_quota(self) -> None:
        """A mailbox at its quota refuses to store more (creates and updates; deletes work)."""
        if self.quota is not None and len(self.items) >= self.quota:
            raise SimError("ErrorQuotaExceeded", "The mailbox quota has been exceeded.")

    def tick(self) -> int:
        self.clock += 1
        return self.clock

    def folder(self, ref: str) -> Folder:
        """A folder by id or distinguished name (the latter as in DistinguishedFolderId)."""
        fid = self.distinguished.get(ref, ref)
        for name, refusal in self.refused.items():
            if self.distinguished.get(name) == fid:
                raise FolderRefused(refusal)
        try:
            return self.folders[fid]
        except KeyError:
            raise SimError(
                "ErrorFolderNotFound", "The specified folder could not be found in the store."
            ) from None

    def children(self, folder_id: str) -> list[Folder]:
        return [f for f in self.folders.values() if f.parent == folder_id]


Change = (
    tuple  # ("set", path, value) | ("del", path); path = (name,), (name, key), (name, key, part)
)


class Store:
    """All mailboxes plus the accounts allowed to reach them."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.mailboxes: dict[str, Mailbox] = {}
        self.by_uid: dict[bytes, Mailbox] = {}
        self.accounts: dict[str, str] = {}
        self.scopes: dict[str, set[str]] = {}  # user -> allowed smtp addresses (absent = all)
        self.directory = Directory()  # tenants and app registrations (Microsoft Graph)
        self.dirty = False

    # -- accounts and mailboxes -------------------------------------------------------
    def add_account(self, user: str, password: str) -> None:
        with self.lock:
            self.accounts[user.lower()] = password
            self.dirty = True

    def set_scope(self, user: str, smtps: list[str] | None) -> None:
        with self.lock:
            if smtps is None:
                self.scopes.pop(user.lower(), None)
            else:
                self.scopes[user.lower()] = {s.lower() for s in smtps}
            self.dirty = True

    def check_password(self, user: str, password: str) -> bool:
        with self.lock:
            return self.accounts.get(user.lower()) == password

    def may_impersonate(self, user: str, smtp: str) -> bool:
        with self.lock:
            scope = self.scopes.get(user.lower())
            return scope is None or smtp.lower() in scope

    def add_mailbox(self, smtp: str, display_name: str = "") -> Mailbox:
        with self.lock:
            key = smtp.lower()
            if key in self.mailboxes:
                return self.mailboxes[key]
            mbx = Mailbox(
                smtp=smtp, uid=ids.new_uid(), display_name=display_name or smtp.split("@")[0]
            )
            for dist, name, parent, fclass, _elem in DISTINGUISHED_FOLDERS:
                parent_id = mbx.distinguished[parent] if parent else None
                f = self._new_folder(mbx, name, parent_id, fclass)
                f.distinguished = dist
                mbx.distinguished[dist] = f.id
            self.mailboxes[key] = mbx
            self.by_uid[mbx.uid] = mbx
            self.dirty = True
            return mbx

    def mailbox(self, smtp: str) -> Mailbox:
        with self.lock:
            try:
                return self.mailboxes[smtp.lower()]
            except KeyError:
                raise SimError("ErrorNonExistentMailbox", f"No mailbox for {smtp}") from None

    def _new_folder(
        self, mbx: Mailbox, name: str, parent: str | None, fclass: str | None
    ) -> Folder:
        uid = ids.new_uid()
        f = Folder(
            uid=uid,
            id=ids.make_id(ids.KIND_FOLDER, mbx.uid, uid),
            name=name,
            parent=parent,
            folder_class=fclass,
        )
        mbx.folders[f.id] = f
        return f

    def create_folder(
        self, mbx: Mailbox, parent_ref: str, name: str, folder_class: str | None = None
    ) -> Folder:
        with self.lock:
            parent = mbx.folder(parent_ref)
            if any(c.name.lower() == name.lower() for c in mbx.children(parent.id)):
                raise SimError(
                    "ErrorFolderExists", "A folder with the specified name already exists."
                )
            f = self._new_folder(mbx, name, parent.id, folder_class or parent.folder_class)
            parent.version += 1
            self.dirty = True
            return f

    def find_folder_by_path(self, mbx: Mailbox, path: str) -> Folder:
        """'contacts/Salesforce_Sync' style lookup, for the control API."""
        with self.lock:
            parts = [p for p in path.split("/") if p]
            folder = mbx.folder(parts[0])
            for part in parts[1:]:
                match = [c for c in mbx.children(folder.id) if c.name.lower() == part.lower()]
                if not match:
                    raise SimError("ErrorFolderNotFound", f"No folder {path!r}")
                folder = match[0]
            return folder

    # -- items --------------------------------------------------------------------------
    def item(self, mbx: Mailbox, item_id: str) -> Item:
        try:
            kind, mbx_uid, _uid, _extra = ids.parse_id(item_id)
        except ids.MalformedId:
            raise SimError("ErrorInvalidIdMalformed", "Id is malformed.") from None
        if kind != ids.KIND_ITEM or mbx_uid != mbx.uid or item_id not in mbx.items:
            raise SimError("ErrorItemNotFound", "The specified object was not found in the store.")
        return mbx.items[item_id]

    def create_item(
        self,
        mbx: Mailbox,
        folder: Folder,
        type_: str,
        fields: dict[str, Any],
        ext: dict[str, dict[str, Any]] | None = None,
        refusal_code: str | None = None,
    ) -> Item:
        """`refusal_code`: hold the item to EWS's length rules (see limits), refusing with it."""
        with self.lock:
            settled = settle(type_, copy.deepcopy(fields), refusal_code)
            uid = ids.new_uid()
            now = utcnow()
            version = mbx.tick()
            it = Item(
                uid=uid,
                id=ids.make_id(ids.KIND_ITEM, mbx.uid, uid),
                type=type_,
                folder=folder.id,
                version=version,
                created=now,
                modified=now,
                fields=settled,
                ext=copy.deepcopy(ext or {}),
            )
            it.field_versions = {k: version for k in it.fields}
            mbx.items[it.id] = it
            mbx.seq += 1
            folder.record(mbx.seq, it.id, True)
            self.dirty = True
            return it

    def touch(self, mbx: Mailbox, it: Item, changed: set[str]) -> None:
        """Give the item a new change key and log the update, as every write does."""
        it.version = mbx.tick()
        it.modified = utcnow()
        for name in changed:
            it.field_versions[name] = it.version
        mbx.seq += 1
        mbx.folders[it.folder].record(mbx.seq, it.id, True)
        self.dirty = True

    def apply_changes(
        self, mbx: Mailbox, it: Item, changes: list[Change], refusal_code: str | None = None
    ) -> set[str]:
        """Apply all changes or none: a refused value leaves the item as it was."""
        with self.lock:
            fields, ext = copy.deepcopy(it.fields), copy.deepcopy(it.ext)
            touched: set[str] = set()
            for change in changes:
                apply_change(fields, ext, change)
                touched.add(change_name(change))
            it.fields, it.ext = settle(it.type, fields, refusal_code, touched), ext
            self.touch(mbx, it, touched)
            return touched

    def conflicting_fields(self, it: Item, client_version: int, names: set[str]) -> set[str]:
        """Fields the client wants to write that someone else changed after its version."""
        return {n for n in names if it.field_versions.get(n, 0) > client_version}

    def remove_item(self, mbx: Mailbox, it: Item) -> None:
        with self.lock:
            mbx.items.pop(it.id, None)
            mbx.seq += 1
            mbx.folders[it.folder].record(mbx.seq, it.id, False)
            self.dirty = True

    def move_item(self, mbx: Mailbox, it: Item, target: Folder) -> Item:
        """Move = a delete in the source and a create (new id, as Exchange gives) in the target."""
        with self.lock:
            self.remove_item(mbx, it)
            uid = ids.new_uid()
            it.uid = uid
            it.id = ids.make_id(ids.KIND_ITEM, mbx.uid, uid)
            it.folder = target.id
            it.version = mbx.tick()
            it.modified = utcnow()
            mbx.items[it.id] = it
            mbx.seq += 1
            target.record(mbx.seq, it.id, True)
            return it

    def delete_folder_contents(self, mbx: Mailbox, folder: Folder) -> None:
        with self.lock:
            for iid in list(folder.items):
                self.remove_item(mbx, mbx.items[iid])

    # -- sync ---------------------------------------------------------------------------
    def sync_changes(
        self, mbx: Mailbox, folder: Folder, position: int, max_changes: int, ignore: set[str]
    ) -> tuple[list[tuple[str, str]], int, bool]:
        """Net changes after `position`, oldest first, at most max_changes of them.

        A state names a point of the folder's change log and means "the client has the folder
        as it was at that point". Changes are collapsed per item by comparing its presence
        then and now (create+delete -> nothing, create+update -> create, update+delete ->
        delete). When a page is cut short, the new position stops just before the first change
        not reported, so every later state is again a consistent point of the log and any
        earlier state can be replayed.
        """
        with self.lock:
            log = folder.log
            start = bisect.bisect_right(log, position, key=lambda e: e[0])
            seen: set[str] = set()
            out: list[tuple[str, str]] = []
            new_position = mbx.seq
            for seq, iid, _present in log[start:]:
                if iid in seen:
                    continue
                seen.add(iid)
                before = folder.present_at(iid, position)
                now = iid in folder.items
                if before == now and not now:
                    continue
                kind = "update" if before and now else ("create" if now else "delete")
                if iid in ignore:
                    continue
                if len(out) >= max_changes:
                    new_position = seq - 1
                    break
                out.append((kind, iid))
            return out, new_position, new_position == mbx.seq

    # -- persistence --------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        with self.lock:
            self.dirty = False
            return {
                "version": 1,
                "accounts": dict(self.accounts),
                "scopes": {u: sorted(s) for u, s in self.scopes.items()},
                "directory": self.directory.to_json(),
                "mailboxes": [_mailbox_to_json(m) for m in self.mailboxes.values()],
            }

    def load_json(self, data: dict[str, Any]) -> None:
        with self.lock:
            self.accounts = dict(data.get("accounts", {}))
            self.scopes = {u: set(s) for u, s in data.get("scopes", {}).items()}
            self.directory.load_json(data.get("directory", {}))
            self.mailboxes.clear()
            self.by_uid.clear()
            for m in data.get("mailboxes", []):
                mbx = _mailbox_from_json(m)
                self.mailboxes[mbx.smtp.lower()] = mbx
                self.by_uid[mbx.uid] = mbx
            self.dirty = False


def change_name(change: Change) -> str:
    path = change[1]
    return "ext:" + path[1] if path[0] == "ext" else path[0]


def apply_change(fields: dict[str, Any], ext: dict[str, dict[str, Any]], change: Change) -> None:
    op, path = change[0], change[1]
    if path[0] == "ext":
        if op == "set":
            ext[path[1]] = {"uri": path[2], "value": change[2]}
        else:
            ext.pop(path[1], None)
        return
    name = path[0]
    if len(path) == 1:
        if op == "set":
            fields[name] = change[2]
        else:
            fields.pop(name, None)
        return
    container = fields.setdefault(name, {})
    if len(path) == 2:
        if op == "set":
            container[path[1]] = change[2]
        else:
            container.pop(path[1], None)
    else:
        entry = container.setdefault(path[1], {})
        if op == "set":
            entry[path[2]] = change[2]
        else:
            entry.pop(path[2], None)
        if not entry:
            container.pop(path[1], None)
    if not container:
        fields.pop(name, None)


def settle(
    type_: str,
    fields: dict[str, Any],
    refusal_code: str | None,
    written: set[str] | None = None,
) -> dict[str, Any]:
    """An item's fields as Exchange saves them: defaults filled, lengths enforced for EWS.

    `refusal_code` is what a refused length answers (CreateItem and UpdateItem differ);
    None for edits made as a rep in Outlook, which writes through MAPI and is not held to
    EWS's rules, so the mailbox can hold names longer than EWS would take. An update is
    held to them for the properties it writes (`written`), not for what the item held.
    """
    fill_defaults(type_, fields)
    if refusal_code is not None:
        enforce_limits(fields, refusal_code, written)
    return fields


def enforce_limits(
    fields: dict[str, Any], refusal_code: str, written: set[str] | None = None
) -> None:
    """Cut or refuse over-long values (all of them, or those of the `written` properties)."""
    if written is not None:
        checked = {k: v for k, v in fields.items() if k in written}
        enforce_limits(checked, refusal_code)
        fields.update(checked)
        return
    limits.truncate(fields)
    bad = limits.too_long(fields)
    if bad:
        raise SimError(
            refusal_code,
            f"{', '.join(bad)} is longer than Exchange stores; the item was not saved.",
            limits.field_uris(bad),
        )


def fill_defaults(type_: str, f: dict[str, Any]) -> None:
    """Properties Exchange computes when a client leaves them out.

    ItemClass and a calendar item's UID, when not sent, are rendered from the item's type
    and id instead of being stored (see ewsbase), so the stored form stays what was sent.
    """
    if type_ == CONTACT:
        given, surname = f.get("GivenName", ""), f.get("Surname", "")
        if not f.get("DisplayName"):
            name = " ".join(p for p in (given, surname) if p) or f.get("CompanyName", "")
            if name:
                f["DisplayName"] = name
        if not f.get("FileAs"):
            fa = ", ".join(p for p in (surname, given) if p) or f.get("DisplayName", "")
            if fa:
                f["FileAs"] = fa
        f["Subject"] = f.get("DisplayName", "")
    elif type_ == DLIST:
        if f.get("DisplayName"):
            f["FileAs"] = f["DisplayName"]
            f["Subject"] = f["DisplayName"]
    elif type_ == EVENT:
        f.setdefault("LegacyFreeBusyStatus", "Busy")
        f.setdefault("IsAllDayEvent", False)
    f.setdefault("Sensitivity", "Normal")
    f.setdefault("Importance", "Normal")
    for name in list(f):
        if name in BY_NAME and f[name] in (None, "", [], {}) and name != "Subject":
            del f[name]


def _mailbox_to_json(m: Mailbox) -> dict[str, Any]:
    return {
        "smtp": m.smtp,
        "uid": m.uid.hex(),
        "display_name": m.display_name,
        "seq": m.seq,
        "clock": m.clock,
        "quota": m.quota,
        "refused": m.refused,
        "distinguished": m.distinguished,
        "folders": [
            {
                "uid": f.uid.hex(),
                "id": f.id,
                "name": f.name,
                "parent": f.parent,
                "folder_class": f.folder_class,
                "distinguished": f.distinguished,
                "version": f.version,
                "items": list(f.items),
                "log": f.log,
            }
            for f in m.folders.values()
        ],
        "items": [
            {
                "uid": i.uid.hex(),
                "id": i.id,
                "type": i.type,
                "folder": i.folder,
                "version": i.version,
                "created": i.created,
                "modified": i.modified,
                "fields": i.fields,
                "ext": i.ext,
                "field_versions": i.field_versions,
                "exceptions": i.exceptions,
                "deleted_occurrences": i.deleted_occurrences,
            }
            for i in m.items.values()
        ],
    }


def _mailbox_from_json(d: dict[str, Any]) -> Mailbox:
    m = Mailbox(
        smtp=d["smtp"],
        uid=bytes.fromhex(d["uid"]),
        display_name=d["display_name"],
        seq=d["seq"],
        clock=d["clock"],
        quota=d.get("quota"),
        refused=dict(d.get("refused") or {}),
        distinguished=dict(d["distinguished"]),
    )
    for fd in d["folders"]:
        f = Folder(
            uid=bytes.fromhex(fd["uid"]),
            id=fd["id"],
            name=fd["name"],
            parent=fd["parent"],
            folder_class=fd["folder_class"],
            distinguished=fd["distinguished"],
            version=fd["version"],
        )
        for seq, iid, present in fd["log"]:
            f.log.append((seq, iid, present))
            f.history.setdefault(iid, []).append((seq, present))
        f.items = dict.fromkeys(fd["items"])
        m.folders[f.id] = f
    for idata in d["items"]:
        it = Item(
            uid=bytes.fromhex(idata["uid"]),
            id=idata["id"],
            type=idata["type"],
            folder=idata["folder"],
            version=idata["version"],
            created=idata["created"],
            modified=idata["modified"],
            fields=idata["fields"],
            ext=idata["ext"],
            field_versions=idata["field_versions"],
            exceptions=idata["exceptions"],
            deleted_occurrences=idata["deleted_occurrences"],
        )
        m.items[it.id] = it
    return m
