"""The mailbox seen by the sync algorithm: the `MailboxTransport` protocol and its value types.

Every backend (EWS through exchangelib, Microsoft Graph, the in-memory mailbox of the tests)
implements this protocol and passes the shared suite of `transports.contract`. Nothing above
this module knows EWS or Graph: field names are the EWS names of `lightningsync.fieldmaps` (the
Graph transport translates its properties to them), values are plain Python values
(`str`, `datetime.date`, `datetime.datetime`, `bool`, `Address`, or None for "empty").

Errors are classified once, here: a transport raises `TransportError` with an `ErrorKind`
for whole-call failures, and reports per-item failures inside its results. The runner
decides what to retry; a transport never retries on its own beyond one HTTP request.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, TypeVar, runtime_checkable

EVENT_FIELDS = (
    "Subject", "Start", "End", "IsAllDayEvent", "Location", "Body", "LegacyFreeBusyStatus",
    "Sensitivity",
)
PRIVATE_SENSITIVITIES = frozenset({"Private", "Confidential"})
_T = TypeVar("_T")


class FolderKind(StrEnum):
    CONTACTS = "contacts"  # Salesforce_Sync under the default Contacts folder
    CALENDAR = "calendar"  # the default Calendar


@dataclass(frozen=True)
class FolderRef:
    kind: FolderKind
    id: str
    created: bool = False  # True when ensure_contact_folder() had to create it


@dataclass(frozen=True)
class Address:
    """A postal address (EWS PhysicalAddress, Graph physicalAddress)."""

    street: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None


FieldValue = str | dt.date | dt.datetime | bool | Address | None


@dataclass(frozen=True)
class ItemRef:
    """An item at a version: writes carry the change key they were based on."""

    id: str
    change_key: str


@dataclass(frozen=True)
class ExchangeItem:
    id: str
    change_key: str
    org_stamp: str | None  # the org ID extended property, None when unstamped
    crm_stamp: str | None  # the CRM record id extended property, None when unstamped
    last_modified: dt.datetime | None  # LastModifiedTime / lastModifiedDateTime (aware)
    fields: dict[str, FieldValue] = field(default_factory=dict)
    # Calendar items: the organiser's and attendees' email addresses (auto-relate only).
    addresses: tuple[str, ...] = ()

    @property
    def ref(self) -> ItemRef:
        return ItemRef(self.id, self.change_key)


class CalendarItemType(StrEnum):
    """EWS CalendarItemType (Graph `type`): only single events are synced (SPEC §5)."""

    SINGLE = "Single"
    OCCURRENCE = "Occurrence"
    EXCEPTION = "Exception"
    RECURRING_MASTER = "RecurringMaster"


@dataclass(frozen=True)
class EventMeta:
    """What a calendar listing tells about an item, enough to decide whether to read it
    (SPEC §5, last rule): its times, type, sensitivity and categories.

    `start`/`end` are aware UTC datetimes; for an all-day event they are dates in the
    event's own time zone, `end` exclusive as Exchange keeps it (a one-day event on the 8th
    ends on the 9th). None when the item has none (a malformed item).
    """

    start: dt.datetime | dt.date | None
    end: dt.datetime | dt.date | None
    is_all_day: bool = False
    sensitivity: str = "Normal"  # Normal, Personal, Private, Confidential
    categories: tuple[str, ...] = ()
    item_type: str = CalendarItemType.SINGLE


class ChangeKind(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"  # deleted, or moved out of the folder


@dataclass(frozen=True)
class Change:
    """One entry of a change listing: ids and stamps only, never bodies."""

    kind: ChangeKind
    id: str
    change_key: str | None = None  # None for deletes
    org_stamp: str | None = None
    crm_stamp: str | None = None
    event: EventMeta | None = None  # calendar listings: the deciding fields


@dataclass(frozen=True)
class ChangePage:
    changes: list[Change]
    cursor: str  # resume here after this page has been applied
    more: bool  # False on the last page of this listing


class ErrorKind(StrEnum):
    TRANSIENT = "transient"  # network, 5xx, timeouts: retry later
    PERMANENT_ITEM = "permanent_item"  # this item is refused; waits for a fix
    AUTHENTICATION = "authentication"  # credentials refused
    CONFIGURATION = "configuration"  # no impersonation right, mailbox not found, bad URL
    INVALID_CURSOR = "invalid_cursor"  # sync state / delta link no longer valid
    THROTTLED = "throttled"  # server busy: obey back_off_seconds
    OTHER_ORG = "other_org"  # stamped by another org
    CONFLICT = "conflict"  # per item: the change key is stale (edited since read)
    NOT_FOUND = "not_found"  # the item, or the folder, no longer exists


class TransportError(Exception):
    """A whole call failed. `kind` says what the runner should do about it."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        back_off_seconds: float | None = None,
        item_id: str | None = None,
        folder: FolderKind | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.back_off_seconds = back_off_seconds
        self.item_id = item_id
        # Set when Exchange refused this folder of a mailbox that itself answered (its
        # permissions deny the caller, or the distinguished folder cannot be opened).
        self.folder = folder

    def __repr__(self) -> str:
        return f"TransportError({self.kind.value!r}, {self.message!r})"


@dataclass(frozen=True)
class ItemFailure:
    """One item of a batch failed; the others went through."""

    id: str | None
    kind: ErrorKind
    message: str
    # The field whose value is longer than Exchange takes, when that is why (the item waits
    # until that value is shortened where it comes from).
    too_long: str | None = None


@dataclass(frozen=True)
class WriteResult:
    """The outcome of one item of a batch write, in the order of the request."""

    id: str | None = None
    change_key: str | None = None
    error: ItemFailure | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class NewItem:
    """An item to create; the transport stamps the org ID and `crm_stamp` on it."""

    crm_stamp: str
    fields: dict[str, FieldValue]


@dataclass(frozen=True)
class ItemUpdate:
    """Set these fields (None clears one) if the item is still at `ref.change_key`.

    `crm_stamp`, when given, is (re)written together with the org ID: linking an item stamps it.
    """

    ref: ItemRef
    fields: dict[str, FieldValue]
    crm_stamp: str | None = None
    # The folder the item is in (calendar items are stamped as calendar items).
    kind: FolderKind = FolderKind.CONTACTS


def sent_now(call: Callable[[], _T]) -> Future[_T]:
    """`call` made at once, its answer (or its error) as a finished future: the simple way
    to provide a `start_...` call of the protocol."""
    future: Future[_T] = Future()
    try:
        future.set_result(call())
    except Exception as exc:  # handed over: raised by `.result()`, as from a thread
        future.set_exception(exc)
    return future


@runtime_checkable
class MailboxTransport(Protocol):
    """One user's mailbox. Instances are per user and per cycle; not shared across threads."""

    def find_contact_folder(self) -> FolderRef | None:
        """Salesforce_Sync directly under the default Contacts folder, or None."""
        ...

    def ensure_contact_folder(self) -> FolderRef:
        """Salesforce_Sync, created when missing (`created` tells)."""
        ...

    def folder_is_in_place(self, folder: FolderRef) -> bool:
        """Is this Salesforce_Sync still directly under the default Contacts folder?

        False when it was moved (Outlook deletes a folder by moving it, id and items, under
        Deleted Items; its own change listing shows nothing) or is gone. Cost: one request
        (EWS: one GetFolder of the folder's ParentFolderId and of the Contacts folder's id).
        The engine asks before it writes to Exchange and at most hourly otherwise.
        """
        ...

    def calendar_folder(self) -> FolderRef:
        """The default Calendar."""
        ...

    def changes(
        self, folder: FolderRef, cursor: str | None, page_size: int = 512,
        *, since: dt.datetime | None = None,
    ) -> Iterator[ChangePage]:
        """Changes since `cursor` (None: every item, as creates), page by page.

        In the calendar, creates and updates carry `Change.event`: the fields that decide
        whether the item syncs, so that only those are read in full (`get_items`).
        `since` (calendar only): the earliest end the engine syncs (its date window); None:
        the whole calendar. A transport may list more (EWS and memory list the whole
        calendar); one that lists a window (Graph's calendar view) lists from a day
        before `since` at least, reports an item that left its window as an update with its deciding
        fields (only one gone from the calendar is a delete), and refuses a cursor made
        for a window that no longer covers `since` (INVALID_CURSOR: list again in full).

        Raises TransportError(INVALID_CURSOR) for a cursor the server no longer accepts and
        TransportError(NOT_FOUND) when the folder is gone. An id may appear as an update
        although the engine never saw it (resuming mid-listing); deletes of unknown ids may
        appear too.
        """
        ...

    def count_items(self, folder: FolderRef) -> int:
        """How many items the folder holds now (the mass-delete guard asks before deleting)."""
        ...

    def get_items(
        self, folder: FolderRef, ids: Sequence[str], fields: Sequence[str]
    ) -> list[ExchangeItem | ItemFailure]:
        """The items with only `fields` filled, in the order of `ids`; chunks internally.

        Calendar fields (`EVENT_FIELDS`): Start/End as aware UTC datetimes, or for an
        all-day event dates in its own zone, End exclusive; IsAllDayEvent a bool; Body as
        text; LegacyFreeBusyStatus and Sensitivity as EWS names. `addresses` holds the
        organiser's and attendees' email addresses.

        A vanished item is an ItemFailure(NOT_FOUND); other per-item errors are classified.
        """
        ...

    def create_items(self, folder: FolderRef, items: Sequence[NewItem]) -> list[WriteResult]:
        ...

    def update_items(self, updates: Sequence[ItemUpdate]) -> list[WriteResult]:
        """Returns the new change keys; a stale change key is a per-item CONFLICT."""
        ...

    def start_update_items(self, updates: Sequence[ItemUpdate]) -> Future[list[WriteResult]]:
        """`update_items`, sent while the caller goes on with other calls (its next listing
        request, its reads): `.result()` is that call's answer, or raises its error.

        The caller asks for every result before it writes anything else and before the
        cycle ends; writes started this way are sent one after the other, in order. A
        transport that cannot send while another call is in progress sends at once and
        returns the answer done (`sent_now`). EWS sends from a thread of its own.
        """
        ...

    def delete_items(self, refs: Sequence[ItemRef]) -> list[WriteResult]:
        """Moves the items to Deleted Items (recoverable). A missing item counts as deleted."""
        ...

    def close(self) -> None:
        ...
