"""`MemoryTransport`: a whole mailbox in memory, for tests and the engine's own checks.

It behaves like Exchange where the engine can tell: change keys move on every update, the
change log is resumable from any earlier cursor, creates followed by updates collapse to a
create, a create followed by a delete vanishes, deletes go to Deleted Items. Tests act as a
rep (`rep_create`, `rep_update`, `rep_delete`, `rep_move_out`, `touch`) and inject faults
(`fail_on`, `reject_item`). Several transports may share one `MemoryMailbox`.
"""

from __future__ import annotations

import bisect
import copy
import datetime as dt
import itertools
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from .protocol import (
    CalendarItemType,
    Change,
    ChangeKind,
    ChangePage,
    ErrorKind,
    EventMeta,
    ExchangeItem,
    FieldValue,
    FolderKind,
    FolderRef,
    ItemFailure,
    ItemRef,
    ItemUpdate,
    NewItem,
    TransportError,
    WriteResult,
    sent_now,
)

CONTACT_FOLDER_NAME = "Salesforce_Sync"
DELETED_ITEMS = "deleteditems"
CALENDAR = "calendar"
CONTACTS_ROOT = "contacts-root"  # the default Contacts folder

_counter = itertools.count(1)
# Calendar properties kept with an item's fields but read only through `Change.event` and
# `ExchangeItem.addresses`, never as mapped fields.
_CATEGORIES = "Categories"
_ATTENDEES = "Attendees"
_ORGANIZER = "Organizer"
_TYPE = "CalendarItemType"


def event_meta(item: StoredItem) -> EventMeta:
    f: dict[str, Any] = item.fields
    return EventMeta(
        start=f.get("Start"), end=f.get("End"), is_all_day=bool(f.get("IsAllDayEvent")),
        sensitivity=str(f.get("Sensitivity") or "Normal"),
        categories=tuple(f.get(_CATEGORIES) or ()),
        item_type=str(f.get(_TYPE) or CalendarItemType.SINGLE),
    )


def _addresses(item: StoredItem) -> tuple[str, ...]:
    f: dict[str, Any] = item.fields
    organizer = f.get(_ORGANIZER)
    return tuple([organizer] if organizer else []) + tuple(f.get(_ATTENDEES) or ())


@dataclass
class StoredItem:
    id: str
    folder: str
    version: int
    org_stamp: str | None
    crm_stamp: str | None
    last_modified: dt.datetime
    fields: dict[str, FieldValue] = field(default_factory=dict)

    @property
    def change_key(self) -> str:
        return f"CK{self.version}-{self.id[-6:]}"


@dataclass
class _Fault:
    method: str
    error: TransportError
    skip: int
    times: int


class MemoryMailbox:
    """The mailbox's state, shared by every transport opened on it."""

    def __init__(self, smtp: str = "rep@example.com") -> None:
        self.smtp = smtp
        self.folders: dict[str, str] = {CALENDAR: "Calendar", DELETED_ITEMS: "Deleted Items"}
        self.parents: dict[str, str] = {}  # folder id -> parent folder id (default: Contacts)
        self.items: dict[str, StoredItem] = {}
        # The change log: (seq, item id); `history` holds, per item, (seq, folder after it).
        self.log: list[tuple[int, str]] = []
        self.history: dict[str, list[tuple[int, str]]] = {}
        self.seq = 0
        self.epoch = 1  # bumping it invalidates every cursor handed out before
        self.clock = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    def contact_folder_id(self) -> str | None:
        """Salesforce_Sync directly under Contacts (not one moved to Deleted Items)."""
        return next((fid for fid, n in self.folders.items()
                     if n == CONTACT_FOLDER_NAME and self.in_contacts(fid)), None)

    def in_contacts(self, folder_id: str) -> bool:
        return folder_id in self.folders and (
            self.parents.get(folder_id, CONTACTS_ROOT) == CONTACTS_ROOT)

    def record(self, item: StoredItem) -> None:
        """Log an event that leaves `item` in `item.folder`."""
        self.seq += 1
        self.clock += dt.timedelta(seconds=1)
        item.last_modified = self.clock
        self.log.append((self.seq, item.id))
        self.history.setdefault(item.id, []).append((self.seq, item.folder))

    def folder_at(self, item_id: str, seq: int) -> str | None:
        """Where the item was just after log entry `seq` (None: it did not exist)."""
        events = self.history.get(item_id, [])
        pos = bisect.bisect_right(events, (seq, "\uffff"))
        return events[pos - 1][1] if pos else None


class MemoryTransport:
    """A `MailboxTransport` over a `MemoryMailbox`."""

    def __init__(self, mailbox: MemoryMailbox | None = None, org_id: str = "org-1") -> None:
        self.mailbox = mailbox or MemoryMailbox()
        self.org_id = org_id
        self.calls: Counter[str] = Counter()
        self.writes: Counter[str] = Counter()  # items created / updated / deleted
        self._faults: list[_Fault] = []
        self._rejects: dict[str, tuple[ErrorKind, str]] = {}  # item id or crm stamp -> error

    # --- fault injection ------------------------------------------------------------------
    def fail_on(
        self, method: str, error: TransportError, *, skip: int = 0, times: int = 1
    ) -> None:
        """Raise `error` at the (skip+1)-th call of `method`, `times` times in a row.

        Methods: the protocol's names, plus "page" for each page a listing yields.
        """
        self._faults.append(_Fault(method, error, skip, times))

    def reject_item(self, key: str, kind: ErrorKind = ErrorKind.PERMANENT_ITEM,
                    message: str = "The item was rejected.") -> None:
        """Fail writes and reads of one item (by Exchange id, or by CRM stamp for creates)."""
        self._rejects[key] = (kind, message)

    def clear_faults(self) -> None:
        self._faults.clear()
        self._rejects.clear()

    def _enter(self, method: str) -> None:
        self.calls[method] += 1
        for fault in self._faults:
            if fault.method != method or fault.times <= 0:
                continue
            if fault.skip > 0:
                fault.skip -= 1
                continue
            fault.times -= 1
            raise fault.error

    def _rejected(self, *keys: str | None) -> ItemFailure | None:
        for key in keys:
            if key is not None and key in self._rejects:
                kind, message = self._rejects[key]
                return ItemFailure(key, kind, message)
        return None

    # --- folders --------------------------------------------------------------------------
    def find_contact_folder(self) -> FolderRef | None:
        self._enter("find_contact_folder")
        fid = self.mailbox.contact_folder_id()
        return FolderRef(FolderKind.CONTACTS, fid) if fid else None

    def ensure_contact_folder(self) -> FolderRef:
        self._enter("ensure_contact_folder")
        fid = self.mailbox.contact_folder_id()
        if fid:
            return FolderRef(FolderKind.CONTACTS, fid)
        fid = f"F{next(_counter):06d}"
        self.mailbox.folders[fid] = CONTACT_FOLDER_NAME
        return FolderRef(FolderKind.CONTACTS, fid, created=True)

    def folder_is_in_place(self, folder: FolderRef) -> bool:
        self._enter("folder_is_in_place")
        return self.mailbox.in_contacts(folder.id)

    def calendar_folder(self) -> FolderRef:
        self._enter("calendar_folder")
        return FolderRef(FolderKind.CALENDAR, CALENDAR)

    def _check_folder(self, folder: FolderRef) -> None:
        if folder.id not in self.mailbox.folders:
            raise TransportError(ErrorKind.NOT_FOUND, "The folder no longer exists.")

    # --- listing --------------------------------------------------------------------------
    def changes(
        self, folder: FolderRef, cursor: str | None, page_size: int = 512,
        *, since: dt.datetime | None = None,
    ) -> Iterator[ChangePage]:
        """`since` is not needed: the whole calendar is listed (see the protocol)."""
        self._enter("changes")
        self._check_folder(folder)
        mbx = self.mailbox
        start = self._parse_cursor(cursor)
        head = mbx.seq
        pending = self._net_changes(folder.id, start, head)
        if not pending:
            yield ChangePage([], self._cursor(head), more=False)
            return
        for offset in range(0, len(pending), page_size):
            chunk = pending[offset : offset + page_size]
            self._enter("page")
            last = offset + page_size >= len(pending)
            page_cursor = head if last else chunk[-1][0]
            yield ChangePage([c for _, c in chunk], self._cursor(page_cursor), more=not last)

    def _parse_cursor(self, cursor: str | None) -> int:
        if not cursor:
            return 0
        try:
            epoch, seq = (int(p) for p in cursor.split(":"))
        except ValueError as exc:
            raise TransportError(ErrorKind.INVALID_CURSOR, "Unreadable sync state.") from exc
        if epoch != self.mailbox.epoch or seq > self.mailbox.seq:
            raise TransportError(ErrorKind.INVALID_CURSOR, "The sync state is no longer valid.")
        return seq

    def _cursor(self, seq: int) -> str:
        return f"{self.mailbox.epoch}:{seq}"

    def _net_changes(self, folder_id: str, start: int, head: int) -> list[tuple[int, Change]]:
        """Collapse the log after `start` into one change per item, ordered by last event."""
        mbx = self.mailbox
        if start == 0:
            present = [
                (mbx.history[i.id][-1][0], i) for i in mbx.items.values() if i.folder == folder_id
            ]
            present.sort(key=lambda p: p[0])
            return [(seq, self._change(ChangeKind.CREATE, i)) for seq, i in present]
        last: dict[str, int] = {}
        for seq, item_id in mbx.log[bisect.bisect_right(mbx.log, (start, "\uffff")) :]:
            if seq > head:
                break
            last[item_id] = seq
        result: list[tuple[int, Change]] = []
        for item_id, seq in sorted(last.items(), key=lambda kv: kv[1]):
            was_here = mbx.folder_at(item_id, start) == folder_id
            is_here = mbx.folder_at(item_id, head) == folder_id
            if is_here:
                kind = ChangeKind.UPDATE if was_here else ChangeKind.CREATE
                result.append((seq, self._change(kind, mbx.items[item_id])))
            elif was_here:
                result.append((seq, Change(ChangeKind.DELETE, item_id)))
        return result

    def _change(self, kind: ChangeKind, item: StoredItem) -> Change:
        event = event_meta(item) if item.folder == CALENDAR else None
        return Change(kind, item.id, item.change_key, item.org_stamp, item.crm_stamp, event)

    def count_items(self, folder: FolderRef) -> int:
        self._enter("count_items")
        self._check_folder(folder)
        return sum(1 for i in self.mailbox.items.values() if i.folder == folder.id)

    # --- reads ----------------------------------------------------------------------------
    def get_items(
        self, folder: FolderRef, ids: Sequence[str], fields: Sequence[str]
    ) -> list[ExchangeItem | ItemFailure]:
        self._enter("get_items")
        result: list[ExchangeItem | ItemFailure] = []
        for item_id in ids:
            stored = self.mailbox.items.get(item_id)
            failure = self._rejected(item_id)
            if failure is not None and failure.kind != ErrorKind.PERMANENT_ITEM:
                result.append(failure)
            elif stored is None or stored.folder != folder.id:
                result.append(ItemFailure(item_id, ErrorKind.NOT_FOUND, "The item is gone."))
            else:
                result.append(self._export(stored, fields))
        return result

    def _export(self, stored: StoredItem, fields: Sequence[str] | None) -> ExchangeItem:
        names = stored.fields.keys() if fields is None else fields
        return ExchangeItem(
            stored.id,
            stored.change_key,
            stored.org_stamp,
            stored.crm_stamp,
            stored.last_modified,
            {n: copy.deepcopy(stored.fields.get(n)) for n in names},
            addresses=_addresses(stored) if stored.folder == CALENDAR else (),
        )

    # --- writes ---------------------------------------------------------------------------
    def create_items(self, folder: FolderRef, items: Sequence[NewItem]) -> list[WriteResult]:
        self._enter("create_items")
        self._check_folder(folder)
        results = []
        for new in items:
            failure = self._rejected(new.crm_stamp)
            if failure is not None:
                results.append(WriteResult(error=failure))
                continue
            stored = self.mailbox_add(folder.id, new.fields, self.org_id, new.crm_stamp)
            self.writes["create"] += 1
            results.append(WriteResult(stored.id, stored.change_key))
        return results

    def update_items(self, updates: Sequence[ItemUpdate]) -> list[WriteResult]:
        self._enter("update_items")
        results = []
        for update in updates:
            stored = self.mailbox.items.get(update.ref.id)
            failure = self._rejected(update.ref.id)
            if failure is not None:
                results.append(WriteResult(update.ref.id, error=failure))
            elif stored is None or stored.folder == DELETED_ITEMS:
                results.append(WriteResult(update.ref.id, error=ItemFailure(
                    update.ref.id, ErrorKind.NOT_FOUND, "The item is gone.")))
            elif stored.change_key != update.ref.change_key:
                results.append(WriteResult(update.ref.id, error=ItemFailure(
                    update.ref.id, ErrorKind.CONFLICT, "The item changed since it was read.")))
            else:
                for name, value in update.fields.items():
                    stored.fields[name] = copy.deepcopy(value)
                stored.org_stamp = self.org_id
                if update.crm_stamp is not None:
                    stored.crm_stamp = update.crm_stamp
                self._bump(stored)
                self.writes["update"] += 1
                results.append(WriteResult(stored.id, stored.change_key))
        return results

    def start_update_items(self, updates: Sequence[ItemUpdate]) -> Future[list[WriteResult]]:
        updates = list(updates)
        return sent_now(lambda: self.update_items(updates))

    def delete_items(self, refs: Sequence[ItemRef]) -> list[WriteResult]:
        self._enter("delete_items")
        results = []
        for ref in refs:
            failure = self._rejected(ref.id)
            if failure is not None:
                results.append(WriteResult(ref.id, error=failure))
                continue
            stored = self.mailbox.items.get(ref.id)
            if stored is not None and stored.folder != DELETED_ITEMS:
                self.mailbox_move(stored, DELETED_ITEMS)
                self.writes["delete"] += 1
            results.append(WriteResult(ref.id))
        return results

    def close(self) -> None:
        self.calls["close"] += 1

    # --- the mailbox as a rep sees it (no faults, no counters) ----------------------------
    def mailbox_add(self, folder_id: str, fields: dict[str, FieldValue],
                    org_stamp: str | None = None, crm_stamp: str | None = None) -> StoredItem:
        mbx = self.mailbox
        stored = StoredItem(f"AAMk{next(_counter):08d}", folder_id, 1, org_stamp, crm_stamp,
                            mbx.clock, copy.deepcopy(dict(fields)))
        mbx.items[stored.id] = stored
        mbx.record(stored)
        return stored

    def mailbox_move(self, stored: StoredItem, target: str) -> None:
        stored.folder = target
        stored.version += 1
        self.mailbox.record(stored)

    def _bump(self, stored: StoredItem) -> None:
        stored.version += 1
        self.mailbox.record(stored)

    def contact_folder(self) -> str:
        fid = self.mailbox.contact_folder_id()
        if fid is None:
            fid = self.ensure_contact_folder().id
        return fid

    def rep_create(self, fields: dict[str, FieldValue], *, org_stamp: str | None = None,
                   crm_stamp: str | None = None, folder: str | None = None) -> str:
        return self.mailbox_add(folder or self.contact_folder(), fields, org_stamp,
                                crm_stamp).id

    def rep_create_event(self, fields: dict[str, Any], *, categories: Sequence[str] = (),
                         attendees: Sequence[str] = (), organizer: str | None = None,
                         item_type: str = CalendarItemType.SINGLE,
                         org_stamp: str | None = None, crm_stamp: str | None = None) -> str:
        """A calendar item as a rep makes it: `fields` in `EVENT_FIELDS` names (Start/End
        aware datetimes, or dates with IsAllDayEvent, End exclusive)."""
        stored = {"Sensitivity": "Normal", "IsAllDayEvent": False, **fields,
                  _CATEGORIES: tuple(categories), _ATTENDEES: tuple(attendees),
                  _ORGANIZER: organizer or self.mailbox.smtp, _TYPE: str(item_type)}
        return self.mailbox_add(CALENDAR, stored, org_stamp, crm_stamp).id

    def rep_update(self, item_id: str, **fields: FieldValue) -> None:
        stored = self.mailbox.items[item_id]
        stored.fields.update(copy.deepcopy(fields))
        self._bump(stored)

    def rep_set_categories(self, item_id: str, categories: Sequence[str]) -> None:
        self.rep_update(item_id, **{_CATEGORIES: tuple(categories)})  # type: ignore[arg-type]

    def touch(self, item_id: str) -> None:
        """Open the item in Outlook: the change key moves, nothing else does."""
        self._bump(self.mailbox.items[item_id])

    def rep_delete(self, item_id: str) -> None:
        self.mailbox_move(self.mailbox.items[item_id], DELETED_ITEMS)

    def rep_move_out(self, item_id: str, folder: str = "contacts-root") -> None:
        self.mailbox.folders.setdefault(folder, "Contacts")
        self.mailbox_move(self.mailbox.items[item_id], folder)

    def rep_delete_folder(self, *, permanently: bool = False) -> None:
        """Delete Salesforce_Sync as Outlook does: the folder moves, with its id and every
        item in it, under Deleted Items (its own change listing shows nothing). With
        `permanently`, the folder is gone (its items end in Deleted Items)."""
        fid = self.mailbox.contact_folder_id()
        if fid is None:
            return
        if not permanently:
            self.mailbox.parents[fid] = DELETED_ITEMS
            return
        for stored in [i for i in self.mailbox.items.values() if i.folder == fid]:
            self.mailbox_move(stored, DELETED_ITEMS)
        del self.mailbox.folders[fid]

    def invalidate_cursors(self) -> None:
        self.mailbox.epoch += 1

    def folder_items(self, folder_id: str | None = None) -> list[StoredItem]:
        fid = folder_id or self.mailbox.contact_folder_id()
        return [i for i in self.mailbox.items.values() if i.folder == fid]

    def deleted_items(self) -> list[StoredItem]:
        return self.folder_items(DELETED_ITEMS)

    def reset_counters(self) -> None:
        self.calls.clear()
        self.writes.clear()

