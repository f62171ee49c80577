"""`EwsTransport`: a user's mailbox over EWS through exchangelib, with impersonation.

Ids-only change listing page by page with the org and CRM stamps, then GetItem of just the
mapped fields in chunks, and per-item results for every write. We call exchangelib's service
classes (`services`) directly rather than its QuerySet/Folder API: the high-level API walks
the folder tree, hides the sync state until the very end, deletes indexed labels it isn't
given on update, and aborts a whole chunk on one stale change key. The connection itself is
`client`'s; failures are classified by `errors`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from exchangelib import Account, Contact
from exchangelib import errors as ews_errors
from exchangelib.fields import FieldPath
from exchangelib.folders import Calendar, Contacts, Folder
from exchangelib.folders.roots import Root
from exchangelib.items import ID_ONLY, MOVE_TO_DELETED_ITEMS
from exchangelib.properties import DistinguishedFolderId, Mailbox
from exchangelib.restriction import Q, Restriction
from exchangelib.services import SyncFolderItems

from .. import connect
from ..connect import ConnectionSettings
from ..protocol import (
    Change,
    ChangeKind,
    ChangePage,
    ErrorKind,
    ExchangeItem,
    FolderKind,
    FolderRef,
    ItemFailure,
    ItemRef,
    ItemUpdate,
    NewItem,
    WriteResult,
)
from . import services
from .calendar_xml import event_paths, listing_paths
from .client import account_for
from .contact_xml import new_contact_elem
from .contacts import apply_fields, display_name
from .errors import EXTERNAL_ERRORS, folder_refusal, item_failure, to_transport_error
from .results import in_order, refused, written
from .stamps import CRM_FIELD, ORG_FIELD, stamp_paths

_C = TypeVar("_C")
_R = TypeVar("_R")
CONTACT_FOLDER_NAME = "Salesforce_Sync"
GET_CHUNK = 100
WRITE_CHUNK = 100



class EwsTransport:
    """One user's mailbox over EWS. Per user and per cycle; not shared across threads."""

    def __init__(self, account: Account, org_id: str, *, read_concurrency: int) -> None:
        self.account = account
        self.org_id = org_id
        self.read_concurrency = read_concurrency
        self._root = Root(account=account)
        self._contacts_parent: Folder | None = None
        # Writes sent while the caller goes on (`start_update_items`): one thread, which
        # only talks to Exchange, started by the first such write, stopped by `close`.
        self._writer: ThreadPoolExecutor | None = None

    @classmethod
    def open(cls, settings: ConnectionSettings) -> EwsTransport:
        """The transport of `settings.mailbox` (no request is sent yet)."""
        try:
            account = account_for(settings)
        except EXTERNAL_ERRORS as exc:
            raise to_transport_error(exc) from exc
        return cls(account, settings.org_id, read_concurrency=settings.read_concurrency)

    # -- helpers ------------------------------------------------------------------------
    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run one service call; whole-call failures become TransportError."""
        try:
            return fn(*args, **kwargs)
        except EXTERNAL_ERRORS as exc:
            raise to_transport_error(exc) from exc

    def _folder(self, folder_id: str) -> Folder:
        return Folder(root=self._root, id=folder_id)

    def _distinguished(self, cls: type[Folder]) -> Folder:
        folder = cls(
            _distinguished_id=DistinguishedFolderId(
                id=cls.DISTINGUISHED_FOLDER_ID,
                mailbox=Mailbox(email_address=self.account.primary_smtp_address),
            ),
            root=self._root,
        )
        found = self._call(
            lambda: list(
                services.GetFolder(account=self.account).call(
                    folders=[folder], additional_fields=(), shape=ID_ONLY
                )
            )
        )
        result = found[0]
        if isinstance(result, Exception):
            kind = FolderKind.CALENDAR if cls is Calendar else FolderKind.CONTACTS
            raise (folder_refusal(result, kind) or to_transport_error(result)) from result
        return result

    def _in_flight(self, fn: Callable[[_C], _R], chunks: Sequence[_C]) -> list[_R]:
        """`fn` of every chunk, in order, with up to `read_concurrency` requests in flight."""
        workers = min(len(chunks), max(1, self.read_concurrency))
        if workers <= 1:
            return [fn(chunk) for chunk in chunks]
        with ThreadPoolExecutor(workers, thread_name_prefix="ews") as pool:
            return list(pool.map(fn, chunks))

    # -- folders ------------------------------------------------------------------------
    def find_contact_folder(self) -> FolderRef | None:
        parent = self._contacts_parent or self._distinguished(Contacts)
        self._contacts_parent = parent

        def find() -> list[Any]:
            return list(
                services.FindFolder(account=self.account).call(
                    folders=[parent],
                    additional_fields={FieldPath(field=Folder.get_field_by_fieldname("name"))},
                    restriction=Restriction(
                        Q(name=CONTACT_FOLDER_NAME),
                        folders=[parent],
                        applies_to=Restriction.FOLDERS,
                    ),
                    shape=ID_ONLY,
                    depth="Shallow",
                    max_items=10,
                    offset=0,
                )
            )

        for folder in self._call(find):
            if isinstance(folder, Exception):
                raise to_transport_error(folder)
            if folder.name == CONTACT_FOLDER_NAME:
                return FolderRef(FolderKind.CONTACTS, folder.id)
        return None

    def ensure_contact_folder(self) -> FolderRef:
        existing = self.find_contact_folder()
        if existing is not None:
            return existing
        assert self._contacts_parent is not None
        new = Folder(root=self._root, name=CONTACT_FOLDER_NAME, folder_class="IPF.Contact")
        created = self._call(
            lambda: list(
                services.CreateFolder(account=self.account).call(
                    parent_folder=self._contacts_parent, folders=[new]
                )
            )
        )
        result = created[0]
        if isinstance(result, ews_errors.ErrorFolderExists):
            # Another writer created it between our look and our create.
            found = self.find_contact_folder()
            if found is not None:
                return found
        if isinstance(result, Exception):
            raise to_transport_error(result)
        return FolderRef(FolderKind.CONTACTS, result.id, created=True)

    def folder_is_in_place(self, folder: FolderRef) -> bool:
        """Is Salesforce_Sync still directly under the default Contacts folder?

        Cost: ONE GetFolder request naming both folders (Salesforce_Sync by id with its
        ParentFolderId, the Contacts folder by its distinguished id); the two ids are
        compared. A Salesforce_Sync that is gone counts as not in place.
        """
        target = self._folder(folder.id)
        contacts = Contacts(
            _distinguished_id=DistinguishedFolderId(
                id=Contacts.DISTINGUISHED_FOLDER_ID,
                mailbox=Mailbox(email_address=self.account.primary_smtp_address),
            ),
            root=self._root,
        )
        parent_path = FieldPath(field=Folder.get_field_by_fieldname("parent_folder_id"))
        mine, parent = self._call(
            lambda: list(
                services.GetFolder(account=self.account).call(
                    folders=[target, contacts], additional_fields={parent_path}, shape=ID_ONLY
                )
            )
        )
        if isinstance(parent, Exception):
            raise to_transport_error(parent)
        self._contacts_parent = self._contacts_parent or parent
        if isinstance(mine, ews_errors.ErrorFolderNotFound | ews_errors.ErrorItemNotFound):
            return False
        if isinstance(mine, Exception):
            raise to_transport_error(mine)
        return mine.parent_folder_id is not None and mine.parent_folder_id.id == parent.id

    def calendar_folder(self) -> FolderRef:
        return FolderRef(FolderKind.CALENDAR, self._distinguished(Calendar).id)

    def count_items(self, folder: FolderRef) -> int:
        target = self._folder(folder.id)
        found = self._call(
            lambda: list(
                services.GetFolder(account=self.account).call(
                    folders=[target],
                    additional_fields={
                        FieldPath(field=Folder.get_field_by_fieldname("total_count"))
                    },
                    shape=ID_ONLY,
                )
            )
        )
        result = found[0]
        if isinstance(result, Exception):
            raise to_transport_error(result)
        return int(result.total_count or 0)

    # -- listing ------------------------------------------------------------------------
    def changes(
        self, folder: FolderRef, cursor: str | None, page_size: int = 512,
        *, since: dt.datetime | None = None,
    ) -> Iterator[ChangePage]:
        """`since` is not needed: the whole calendar is listed (see the protocol)."""
        target = self._folder(folder.id)
        state = cursor
        calendar = folder.kind is FolderKind.CALENDAR
        paths = listing_paths() if calendar else stamp_paths()
        while True:
            svc = services.SyncFolderItemIds(account=self.account)

            def page(svc: SyncFolderItems = svc, state: str | None = state) -> list[Any]:
                return list(
                    svc.call(
                        folder=target,
                        shape=ID_ONLY,
                        additional_fields=paths,
                        sync_state=state,
                        ignore=None,
                        max_changes_returned=page_size,
                        sync_scope="NormalItems",
                    )
                )

            try:
                entries = page()
            except EXTERNAL_ERRORS as exc:
                # The Calendar is found by its distinguished name again when its id is gone;
                # a refusal of access to it is about that folder, not the mailbox.
                refused = (folder_refusal(exc, folder.kind)
                           if calendar and isinstance(exc, ews_errors.ErrorAccessDenied)
                           else None)
                raise (refused or to_transport_error(exc)) from exc
            changes: list[Change] = []
            for change_type, item in entries:
                if item is None:
                    continue  # ReadFlagChange: nothing we sync
                if change_type == SyncFolderItems.DELETE:
                    changes.append(Change(ChangeKind.DELETE, item.id))
                elif change_type in (SyncFolderItems.CREATE, SyncFolderItems.UPDATE):
                    if folder.kind is FolderKind.CONTACTS and not item.is_contact:
                        continue  # distribution lists and anything else are not synced
                    if calendar and item.event is None:
                        continue  # not a calendar item (a meeting message, a note...)
                    kind = (
                        ChangeKind.CREATE
                        if change_type == SyncFolderItems.CREATE
                        else ChangeKind.UPDATE
                    )
                    changes.append(Change(kind, item.id, item.changekey, item.org, item.crm,
                                          item.event))
            more = not svc.includes_last_item_in_range
            yield ChangePage(changes, svc.sync_state, more)
            if not more:
                return
            state = svc.sync_state

    # -- reads --------------------------------------------------------------------------
    def get_items(
        self, folder: FolderRef, ids: Sequence[str], fields: Sequence[str]
    ) -> list[ExchangeItem | ItemFailure]:
        calendar = folder.kind is FolderKind.CALENDAR
        paths = event_paths(fields) if calendar else services.contact_paths(fields)
        reader = services.GetEvents if calendar else services.GetContacts
        what = "calendar item" if calendar else "contact"
        chunks = [ids[start : start + GET_CHUNK] for start in range(0, len(ids), GET_CHUNK)]

        def fetch(chunk: Sequence[str]) -> list[Any]:
            svc = reader(account=self.account, chunk_size=GET_CHUNK)
            svc.names = fields
            return self._call(lambda: list(svc.call(
                items=[(i, None) for i in chunk], additional_fields=paths, shape=ID_ONLY)))

        # Two requests in flight: one chunk is parsed here while Exchange prepares the next
        # (measured on the import benchmark: the client otherwise idles for the server's time
        # of every request). Results keep the order of `ids`; the first failure is raised.
        fetched = self._in_flight(fetch, chunks)
        out: list[ExchangeItem | ItemFailure] = []
        for chunk, results in zip(chunks, fetched, strict=True):
            for item_id, result in zip(chunk, results, strict=True):
                if isinstance(result, Exception):
                    out.append(item_failure(item_id, result))
                elif not isinstance(result, ExchangeItem):
                    out.append(
                        ItemFailure(item_id, ErrorKind.PERMANENT_ITEM, f"Not a {what}.")
                    )
                else:
                    out.append(result)
        return out

    # -- writes -------------------------------------------------------------------------
    def create_items(self, folder: FolderRef, items: Sequence[NewItem]) -> list[WriteResult]:
        target = self._folder(folder.id)
        left_out = [refused(None, new.fields) for new in items]
        sending = [new for new, r in zip(items, left_out, strict=True) if r is None]
        sent: list[WriteResult] = []
        for start in range(0, len(sending), WRITE_CHUNK):
            chunk = sending[start : start + WRITE_CHUNK]
            version = self.account.version
            contacts = [
                new_contact_elem(
                    dict(new.fields),
                    display_name(new.fields),
                    {ORG_FIELD: self.org_id, CRM_FIELD: new.crm_stamp},
                    version,
                )
                for new in chunk
            ]
            results = self._call(
                lambda contacts=contacts: list(
                    services.CreateContacts(account=self.account, chunk_size=WRITE_CHUNK).call(
                        items=contacts,
                        folder=target,
                        message_disposition="SaveOnly",
                        send_meeting_invitations="SendToNone",
                    )
                )
            )
            sent += [written(None, result) for result in results]
        return in_order(left_out, sent)

    def update_items(self, updates: Sequence[ItemUpdate]) -> list[WriteResult]:
        left_out = [refused(u.ref.id, u.fields) for u in updates]
        sending = [u for u, r in zip(updates, left_out, strict=True) if r is None]
        chunks = [sending[start : start + WRITE_CHUNK]
                  for start in range(0, len(sending), WRITE_CHUNK)]

        def send(chunk: list[ItemUpdate]) -> list[WriteResult]:
            # Stamp-only updates (items linked without a change of their own) go as XML.
            stamps_only = all(not u.fields and u.crm_stamp is not None for u in chunk)
            if any(u.kind is FolderKind.CALENDAR for u in chunk) and not stamps_only:
                raise ValueError("Calendar items are only ever stamped (events sync one way).")
            service: type[services.StampItems] | type[services.UpdateContacts] = (
                services.UpdateContacts if not stamps_only
                else services.StampEvents if chunk[0].kind is FolderKind.CALENDAR
                else services.StampItems)
            items = [self._stamp_target(u) if stamps_only else self._update_target(u)
                     for u in chunk]
            results = self._call(
                lambda: list(
                    service(account=self.account, chunk_size=WRITE_CHUNK).call(
                        items=items,
                        conflict_resolution="NeverOverwrite",
                        message_disposition="SaveOnly",
                        send_meeting_invitations_or_cancellations="SendToNone",
                        suppress_read_receipts=True,
                    )
                )
            )
            return [written(u.ref.id, r) for u, r in zip(chunk, results, strict=True)]

        # The chunks touch distinct items: as for reads, two requests in flight.
        sent = [r for results in self._in_flight(send, chunks) for r in results]
        return in_order(left_out, sent)

    def start_update_items(self, updates: Sequence[ItemUpdate]) -> Future[list[WriteResult]]:
        """`update_items` from the writer thread, in the order they were started (the
        session pool is shared with the caller's own requests, as `_in_flight` shares it)."""
        if self._writer is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="ews-writes")
        return self._writer.submit(self.update_items, list(updates))

    def _update_target(self, update: ItemUpdate) -> tuple[Contact, list[str]]:
        contact = Contact(account=self.account, id=update.ref.id, changekey=update.ref.change_key)
        names = apply_fields(contact, dict(update.fields))
        if "GivenName" in update.fields and "Surname" in update.fields:
            # Both names known: keep Outlook's DisplayName in step with them.
            contact.display_name = display_name(update.fields)
            names.append("display_name")
        if update.crm_stamp is not None:
            setattr(contact, ORG_FIELD, self.org_id)
            setattr(contact, CRM_FIELD, update.crm_stamp)
            names += [ORG_FIELD, CRM_FIELD]
        return contact, names

    def _stamp_target(self, update: ItemUpdate) -> tuple[tuple[str, str, str, str], list[str]]:
        return (update.ref.id, update.ref.change_key, self.org_id, update.crm_stamp or ""), [
            "stamps"]

    def delete_items(self, refs: Sequence[ItemRef]) -> list[WriteResult]:
        out: list[WriteResult] = []
        for start in range(0, len(refs), WRITE_CHUNK):
            chunk = refs[start : start + WRITE_CHUNK]
            results = self._call(
                lambda chunk=chunk: list(
                    services.DeleteItem(account=self.account, chunk_size=WRITE_CHUNK).call(
                        items=[(r.id, None) for r in chunk],
                        delete_type=MOVE_TO_DELETED_ITEMS,
                        send_meeting_cancellations="SendToNone",
                        affected_task_occurrences="AllOccurrences",
                        suppress_read_receipts=True,
                    )
                )
            )
            for ref, result in zip(chunk, results, strict=True):
                if isinstance(result, ews_errors.ErrorItemNotFound):
                    out.append(WriteResult(id=ref.id))  # already gone: what we wanted
                elif isinstance(result, Exception):
                    out.append(WriteResult(id=ref.id, error=item_failure(ref.id, result)))
                else:
                    out.append(WriteResult(id=ref.id))
        return out

    def close(self) -> None:
        """Connections are pooled per Configuration and shared; only the writer thread is
        the user's (a write still in flight is waited for: the cycle has ended)."""
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None


connect.register(connect.SERVICE_ACCOUNT, EwsTransport.open)
