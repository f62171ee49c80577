"""The state one contact cycle's phases share: `ContactCycle`, handed to the pull, the push
and the steps they are made of, with the link counts they keep together.

`ContactSync` (sync.py) builds it and runs the phases: `ContactPull` (pull.py: Exchange's
change listing, page by page) and `ContactPush` (push.py: CRM changes, chunk by chunk).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from django.db import transaction
from django.db.models import Q, QuerySet

from lightningsync.models import ContactLink, FolderCursor, SyncConfiguration, User, UserSyncState

from ..errorlog import ErrorLog
from ..mapping.merge import Mode, Policy
from ..ownwrites import OwnWrites
from ..transports.protocol import FolderRef, MailboxTransport
from .writes import PageWrites

MASS_DELETE_THRESHOLD = 20
MAX_SYNCED_CONTACTS = 50_000
# CRM changes are looked for from a little before the last cycle started: a transaction
# that saved a contact before that moment may have committed after it.
WATERMARK_MARGIN = dt.timedelta(minutes=5)
PUSH_CHUNK = 200
# Salesforce_Sync's location is checked before any write to Exchange, otherwise at most this
# often: a quiet cycle stays one listing request (see `MailboxTransport.folder_is_in_place`).
FOLDER_CHECK_INTERVAL = dt.timedelta(hours=1)

Checkpoint = Callable[[str], None]
Progress = Callable[[str, int], None]


class ContactSyncPaused(Exception):
    """The mass-delete guard stopped the cycle; the user's contact sync is now paused."""


class ListingRestart(Exception):
    """The listing must start over (cursor dropped, or a new folder)."""


class FolderReplaced(Exception):
    """Salesforce_Sync was replaced by a fresh one mid-cycle: both sides start over."""


@dataclass
class ContactReport:
    listed: int = 0
    fetched: int = 0
    crm_created: int = 0
    crm_updated: int = 0
    exchange_created: int = 0
    exchange_updated: int = 0
    exchange_deleted: int = 0
    unlinked: int = 0
    conflicts: int = 0
    errors: int = 0
    skipped: str = ""
    folder_created: bool = False

    @property
    def written(self) -> int:
        return (self.crm_created + self.crm_updated + self.exchange_created
                + self.exchange_updated + self.exchange_deleted + self.unlinked)


@dataclass(eq=False)
class ContactCycle:
    """One contact cycle of one user, as its phases see it."""

    user: User
    config: SyncConfiguration
    state: UserSyncState
    org_id: str
    transport: MailboxTransport
    errors: ErrorLog
    checkpoint: Checkpoint
    ensure_claimed: Callable[[], None]  # raises when the cycle lost the user's claim
    progress: Progress
    page_size: int
    limit: int  # linked Exchange items at most
    mode: Mode
    policy: Policy
    mapping: dict[str, str]  # CRM field → EWS field
    fields: list[str]  # the EWS fields read
    scope: Q | None  # which CRM contacts go to Exchange; None: all
    started: dt.datetime  # refused items due for another try by then are tried this cycle
    report: ContactReport = field(default_factory=ContactReport)
    # Salesforce_Sync and its cursor, once `folder.open_folder` found them.
    cursor: FolderCursor = field(init=False)
    folder: FolderRef = field(init=False)
    # CRM contacts examined, and Exchange items written, per chunk: each chunk's Exchange
    # writes, then the transaction that records them.
    chunk_size: ClassVar[int] = PUSH_CHUNK
    # Linked Exchange items: None = count them (one query) when next needed. Only ever a
    # fresh COUNT, or that plus items reserved by this page's imports (never negative).
    live: int | None = None
    links_changed: bool = False  # links were created, detached or deleted this cycle
    folder_checked: bool = False  # seen where it belongs during this cycle
    # Contacts this cycle's pull linked: pk → (updated_at, account's updated_at) as written.
    pulled: dict[int, tuple[dt.datetime | None, dt.datetime | None]] = field(
        default_factory=dict)
    reserved: int = 0  # first-sight links `live` counts ahead of their page's commit
    # Refused items were due for another try this cycle (None: not looked at yet). No entry
    # becomes due during a cycle (new ones wait a day, and due means due at `started`).
    refusals_due: bool | None = None
    stale: list[str] = field(default_factory=list)  # items the push leaves to a fresh read
    # The pull's stamps on the items its pages linked, while it walks the listing: left out
    # when the listing shows them again (`ownwrites`). None between listings.
    own_writes: OwnWrites | None = None

    def transaction(self) -> transaction.Atomic:
        """Every transaction of a cycle: only while the cycle holds the user's claim (a cycle
        that lost it writes nothing more, see `cycle.claims`)."""
        self.ensure_claimed()
        return transaction.atomic()

    def start_full_listing(self) -> None:
        self.cursor.cursor = ""
        self.cursor.full_listing = True
        self.cursor.listing_generation += 1

    def active_links(self) -> QuerySet[ContactLink]:
        return ContactLink.objects.filter(user=self.user, state=ContactLink.State.ACTIVE)

    def reserve_link(self) -> None:
        """A first-sight item of the page being planned will be linked: counted ahead."""
        self.live = self.live_links() + 1
        self.reserved += 1

    def page_links_committed(self, imported_only: bool) -> None:
        """A listing page committed its links. When they were only the new links its
        first-sight items reserved (an import's pages), the count holds them already and
        stays; otherwise it is taken afresh when next needed."""
        reserved, self.reserved = self.reserved, 0
        if not imported_only or reserved == 0:
            self.links_committed()
        else:
            self.links_changed = True

    def links_committed(self) -> None:
        """Links changed in the database: count them afresh when next needed.

        (Adjusting a cached count by what was just committed counted each change twice when
        the cache was empty: the fresh count already included it.)
        """
        self.live = None
        self.reserved = 0
        self.links_changed = True

    def live_links(self) -> int:
        """Linked Exchange items now (a query the first time, then kept up to date)."""
        if self.live is None:
            self.live = self.active_links().filter(exchange_id__isnull=False).count()
        return self.live

    def room_for(self, n: int) -> bool:
        return self.live_links() + n <= self.limit

    def detach(self, links: list[ContactLink]) -> int:
        writes = PageWrites(detach=links)
        return writes.save(self.user, self.cursor.listing_generation).detached
