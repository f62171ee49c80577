"""What the two phases of a contact sync cycle share: its state, the folder, links, errors.

`ContactSync` (contacts.py) is built from `ContactPull` (contacts_pull.py: Exchange's change
listing, page by page) and `ContactPush` (contacts_push.py: CRM changes, chunk by chunk), both
on `SyncCore`: the attributes `ContactSync.__init__` sets, and the helpers both phases use
(Salesforce_Sync's location and the mass-delete guard, link counts, error entries).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from lightningsync.models import (
    Account,
    Contact,
    ContactLink,
    FolderCursor,
    SyncConfiguration,
    User,
    UserSyncState,
)

from . import mapping as m
from .contact_writes import PageWrites
from .errorlog import Direction, Entry, ErrorLog, Kind
from .matching import Candidate
from .merge import Conflict, MergeResult, Mode, Policy
from .transport import ExchangeItem, FolderKind, FolderRef, MailboxTransport

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


@dataclass
class _Work:
    """One item's outcome within a page, before anything is written."""

    item: ExchangeItem
    link: ContactLink | None
    contact: Contact | None  # None: a CRM contact is to be created
    result: MergeResult
    candidate: Candidate | None = None
    origin: str = ContactLink.Origin.EXCHANGE
    dropped: bool = field(default=False)
    account: Account | None = None  # the resolved account, when account_name is patched
    unresolved: str | None = None  # a company name that resolved to no account
    recorded: MergeResult | None = None  # the result whose conflicts are in the error log
    exch: m.Normalized = field(default_factory=dict)  # the item's mapped values, normalized
    read_at: dt.datetime | None = None  # the CRM contact's updated_at when the page read it
    # Set when the CRM contact changed after the page read it: the link's snapshot, such that
    # the push of this cycle sends the CRM's newer values (see `_merge_crm_edits_since_read`).
    unsettled_snapshot: m.Normalized | None = None


class _ListingRestart(Exception):
    """The listing must start over (cursor dropped, or a new folder)."""


class _FolderReplaced(Exception):
    """Salesforce_Sync was replaced by a fresh one mid-cycle: both sides start over."""


class SyncCore:
    """State and shared helpers of one cycle; `ContactSync.__init__` sets the attributes."""

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
    # CRM contacts examined, and Exchange items written, per chunk: each chunk's Exchange
    # writes, then the transaction that records them.
    chunk_size: int = PUSH_CHUNK
    limit: int
    mode: Mode | None
    policy: Policy
    mapping: dict[str, str]
    fields: list[str]
    report: ContactReport
    cursor: FolderCursor
    folder: FolderRef
    scope: Q | None
    _live: int | None
    _links_changed: bool
    # Contacts this cycle's pull linked: pk → (updated_at, account's updated_at) as written.
    _pulled: dict[int, tuple[dt.datetime | None, dt.datetime | None]]
    _folder_checked: bool
    started: dt.datetime  # refused items due for another try by then are tried this cycle
    _refusals_due: bool  # some were
    _stale: list[str]  # items the push leaves to a fresh read and merge (`_reread`)

    def _start_full_listing(self) -> None:
        self.cursor.cursor = ""
        self.cursor.full_listing = True
        self.cursor.listing_generation += 1

    def _check_folder(self) -> bool:
        """Salesforce_Sync still directly under Contacts? Else the guard, or a fresh folder.

        Outlook deletes a folder by moving it (same id, items inside) under Deleted Items;
        its own listing then shows no change at all, so only asking tells. True when the
        folder was replaced by a fresh one.
        """
        self._folder_checked = True
        if self.transport.folder_is_in_place(self.folder):
            self.ensure_claimed()
            self.cursor.folder_checked_at = timezone.now()
            FolderCursor.objects.filter(pk=self.cursor.pk).update(
                folder_checked_at=self.cursor.folder_checked_at
            )
            return False
        self._folder_missing()
        return True

    def _transaction(self) -> transaction.Atomic:
        """Every transaction of a cycle: only while the cycle holds the user's claim (a cycle
        that lost it writes nothing more, see `claims`)."""
        self.ensure_claimed()
        return transaction.atomic()

    def _before_exchange_write(self) -> None:
        """Every write to Exchange: only under the user's claim, and never into a
        Salesforce_Sync the rep deleted (checked once per cycle)."""
        self.ensure_claimed()
        if not self._folder_checked and self._check_folder():
            raise _FolderReplaced

    def _folder_missing(self) -> None:
        """Salesforce_Sync vanished: the guard, or a fresh folder and a clean slate."""
        live = self._live_links()
        if max(live, self.cursor.linked_count) >= MASS_DELETE_THRESHOLD:
            self._pause_mass_delete(live, "missing")
        folder = self.transport.ensure_contact_folder()
        self.report.folder_created = folder.created
        links = list(self._active_links().filter(exchange_id__isnull=False))
        with self._transaction():
            self.report.unlinked += self._detach(links)
            self.cursor.folder_id = folder.id
            self.cursor.cursor = ""
            self.cursor.full_listing = False
            self.cursor.folder_checked_at = timezone.now()
            self.cursor.save()
        self.folder = FolderRef(FolderKind.CONTACTS, folder.id)
        self._folder_checked = True
        self._links_committed()

    def _pause_mass_delete(self, linked: int, how: str) -> None:
        message = (
            f"Salesforce_Sync was found {how} although it held {linked} synced contacts. "
            "Nothing was changed in the CRM and contact sync is paused for this user."
        )
        now = timezone.now()
        with self._transaction():
            UserSyncState.objects.filter(pk=self.state.pk).update(
                contacts_paused_reason=UserSyncState.PauseReason.MASS_DELETE,
                contacts_paused_message=message, contacts_paused_at=now,
            )
            # Filed as the deletes it stopped: Exchange to CRM.
            self.errors.add(Entry(
                Kind.MASS_DELETE, Direction.EXCHANGE_TO_CRM, message,
                "Ask the user whether the contacts were removed on purpose, then reset the "
                "user's sync (Lightning Sync Status → Reset Sync): that resumes contact sync "
                "and puts back every contact the configuration syncs to this user, so narrow "
                "the configuration's filters first if they should stay out.",
                detail="mass-delete",
            ))
            self.errors.flush()
        self.state.contacts_paused_reason = UserSyncState.PauseReason.MASS_DELETE
        self.state.contacts_paused_message = message
        raise ContactSyncPaused(message)

    def _item_rejected(self, direction: Direction, item_id: str | None, contact_id: int | None,
                       message: str) -> None:
        """Exchange refused to read (Exchange to CRM) or write (CRM to Exchange) an item."""
        self.errors.add(Entry(
            Kind.ITEM_REJECTED, direction, message,
            "Once the cause is fixed (see the message), choose Retry in the error report. "
            "Until then the item waits: it is tried again when it changes in the CRM or in "
            "Exchange, and once a day.",
            exchange_item_id=item_id or "", contact_id=contact_id,
        ))

    def _room_for(self, n: int) -> bool:
        return self._live_links() + n <= self.limit

    def _limit_reached(self, direction: Direction) -> None:
        """No room for a new link: an import or match (Exchange to CRM) or a push."""
        self.errors.add(Entry(
            Kind.LIMIT, direction,
            f"This user already syncs {self._live_links()} contacts, the most allowed "
            f"({self.limit}); new contacts are not added.",
            "Narrow the configuration's contact filters, or remove contacts from the "
            "user's Salesforce_Sync folder.",
            detail="contact-limit",
        ))

    def _keep_losing_values(self, item_id: str | None, contact_id: int | None,
                            result: MergeResult) -> bool:
        for conflict in result.conflicts:
            self._conflict_entry(item_id, contact_id, conflict)
        return bool(result.conflicts)

    def _conflict_entry(self, item_id: str | None, contact_id: int | None,
                        conflict: Conflict) -> None:
        self.report.conflicts += 1
        label = m.CONTACTS.crm_fields[conflict.field].label
        loser = "Exchange" if conflict.winner == "crm" else "CRM"
        # Filed as the way the winning value travelled: it overwrote the losing side.
        direction = (Direction.CRM_TO_EXCHANGE if conflict.winner == "crm"
                     else Direction.EXCHANGE_TO_CRM)
        self.errors.add(Entry(
            Kind.CONFLICT, direction,
            f"{label} changed on both sides. Kept {conflict.winner.upper()}'s value "
            f"{_show(conflict.crm_value if conflict.winner == 'crm' else conflict.exchange_value)}"
            f"; {loser}'s value was {_show(conflict.losing_value)}.",
            "If the other value was right, enter it again on either side.",
            exchange_item_id=item_id or "", contact_id=contact_id,
            detail=f"{conflict.field}\x1f{json.dumps(conflict.losing_value, sort_keys=True)}",
        ))

    def _active_links(self) -> QuerySet[ContactLink]:
        return ContactLink.objects.filter(user=self.user, state=ContactLink.State.ACTIVE)

    def _links_committed(self) -> None:
        """Links changed in the database: count them afresh when next needed.

        (Adjusting a cached count by what was just committed counted each change twice when
        the cache was empty: the fresh count already included it.)
        """
        self._live = None
        self._links_changed = True

    def _live_links(self) -> int:
        """Linked Exchange items now (a query the first time, then kept up to date)."""
        if self._live is None:
            self._live = self._active_links().filter(exchange_id__isnull=False).count()
        return self._live

    def _detach(self, links: list[ContactLink]) -> int:
        writes = PageWrites(detach=links)
        return writes.save(self.user, self.cursor.listing_generation).detached


def _with_change_key(item: ExchangeItem, change_key: str,
                     stamps: tuple[str, str] | None = None) -> ExchangeItem:
    """The item after our write: its new change key, and the (org, CRM id) stamps it carried."""
    org, crm = stamps if stamps else (item.org_stamp, item.crm_stamp)
    return ExchangeItem(item.id, change_key, org, crm, item.last_modified, item.fields)


def _show(value: object) -> str:
    if value is None:
        return "(empty)"
    if isinstance(value, dict):
        return "“" + ", ".join(str(v) for v in value.values() if v) + "”"
    return f"“{value}”"

