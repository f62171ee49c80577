"""The state one event cycle's steps share (`EventCycle`) and what it reports (`EventReport`).

`EventSync` (sync.py) builds the cycle and walks the calendar's listing page by page
(page.py), each page committed in one transaction (commit.py), then stamps what it linked
(stamps.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import ClassVar

from django.db import transaction

from lightningsync.models import FolderCursor, SyncConfiguration, User, UserSyncState

from ..errorlog import ErrorLog
from ..ownwrites import OwnWrites
from ..transports.protocol import FolderRef, MailboxTransport, WriteResult
from .rules import EventRules

STAMP_CHUNK = 1000  # items per stamping call (the transport sends them in chunks)

Stamp = tuple[str, str, int]  # (item id, change key, CRM event id) of an item to stamp
Checkpoint = Callable[[str], None]
Progress = Callable[[str, int], None]


@dataclass
class EventReport:
    """What an event cycle did, read by the cycle's report and its activity record.

    `deleted`: CRM events removed because their item was deleted in Exchange (auto-remove);
    `unlinked`: kept in the CRM, no longer synced (deleted in Exchange, auto-remove off);
    `linked`: existing CRM events matched to an item at first sight (subject, start, end).
    `conflicts` is always 0 (events sync one way; Exchange wins) but kept for the shape the
    activity record reads for every object.
    """

    listed: int = 0
    fetched: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0
    linked: int = 0
    unlinked: int = 0
    related: int = 0
    skipped_series: int = 0
    skipped_private: int = 0
    conflicts: int = 0
    errors: int = 0
    skipped: str = ""

    @property
    def written(self) -> int:
        return self.created + self.updated + self.deleted + self.linked + self.unlinked


@dataclass(eq=False)
class EventCycle:
    user: User
    config: SyncConfiguration
    state: UserSyncState
    org_id: str
    transport: MailboxTransport
    errors: ErrorLog
    checkpoint: Checkpoint
    ensure_claimed: Callable[[], None]
    progress: Progress
    page_size: int
    rules: EventRules
    mapping: dict[str, str]  # CRM field → EWS field
    own_domains: frozenset[str]  # the org's email domains (never auto-related)
    now: dt.datetime
    report: EventReport = field(default_factory=EventReport)
    # The stamps written while the listing is walked: left out when it shows them again
    # (`ownwrites`). None outside a listing.
    own_writes: OwnWrites | None = None
    # Stamps were written after the listing's last request: one more request passes over
    # them, so that the next cycle without changes lists nothing.
    stamped_after_listing: bool = False
    # Stamping chunks sent and not yet settled, in the order sent (stamps.py).
    in_flight: list[tuple[list[Stamp], Future[list[WriteResult]]]] = field(
        default_factory=list)
    cursor: FolderCursor = field(init=False)
    folder: FolderRef = field(init=False)
    chunk_size: ClassVar[int] = STAMP_CHUNK

    def transaction(self) -> transaction.Atomic:
        """Only while the cycle holds the user's claim (see `cycle.claims`)."""
        self.ensure_claimed()
        return transaction.atomic()

    def start_full_listing(self) -> None:
        self.cursor.cursor = ""
        self.cursor.full_listing = True
        self.cursor.listing_generation += 1
