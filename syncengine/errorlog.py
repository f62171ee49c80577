"""Writing the error report: entries are buffered, folded by fingerprint and flushed in bulk.

The engine reports an error as it meets it; the rows are written with the page they belong
to (same transaction), so a crash neither loses nor double-counts them. A repeat of an
unresolved entry bumps its count; a repeat of a resolved one reopens it.

Resolution is automatic (SPEC §9, "resolved when the item later syncs"): an item or contact
that syncs in a page resolves its open item-level entries; an "Unresolved account" entry is
resolved only when both sides agree on the company again (the name now resolves, or was
cleared), since an item may sync while its company still names no account.

An item Exchange refused waits for a fix (SPEC §9): it is tried again when it changes on
either side, and otherwise at `next_try_at`: a day after its last refusal, or at the next
cycle once an admin chose Retry. `due_refusals` is that rule for the planners.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.utils import timezone

from lightningsync.models import LightningSyncError, User

Kind = LightningSyncError.Kind
Direction = LightningSyncError.Direction
ObjectType = LightningSyncError.Object

# Entries about one item that a later successful sync of that item makes obsolete.
ITEM_KINDS_RESOLVED_BY_SYNC = (
    Kind.ITEM_REJECTED,
    Kind.OTHER_ORG,
    Kind.INTERNAL,
    Kind.FILTER,
)
# A refused item is tried again this long after its last refusal (unless it changes first).
RETRY_AFTER = dt.timedelta(days=1)
# Entries about the connection that a completed cycle makes obsolete.
CYCLE_KINDS_RESOLVED_BY_SUCCESS = (
    Kind.CONNECTION,
    Kind.AUTHENTICATION,
    Kind.IMPERSONATION,
    Kind.THROTTLED,
)


@dataclass(frozen=True)
class Entry:
    kind: str
    direction: str
    message: str
    suggestion: str = ""
    exchange_item_id: str = ""
    contact_id: int | None = None
    crm_record_id: str = ""
    # What makes two entries "the same error" beyond kind, item and record.
    detail: str = ""
    object: str = ObjectType.CONTACT

    def fingerprint(self) -> str:
        key = "\x1f".join(
            (self.object, self.kind, self.direction, self.exchange_item_id,
             self.crm_record_id or str(self.contact_id or ""), self.detail)
        )
        return hashlib.sha256(key.encode()).hexdigest()


class PauseUser(Exception):
    """A planner found the configuration unusable as it stands (SPEC §9: a configuration
    error): the runner pauses the user and files `entry`; saving the configuration resumes."""

    def __init__(self, entry: Entry) -> None:
        super().__init__(entry.message)
        self.entry = entry


class ErrorLog:
    """Buffers entries and resolutions for one user; `flush()` writes them."""

    def __init__(self, user: User) -> None:
        self.user = user
        self.pending: dict[str, Entry] = {}
        self.repeats: dict[str, int] = {}
        self.synced_items: set[str] = set()
        self.synced_contacts: set[int] = set()
        self.settled_items: set[str] = set()
        self.settled_contacts: set[int] = set()
        self.written = 0
        # Does the user have unresolved entries a sync may resolve? Asked once, when first
        # needed: a clean mailbox then costs no resolving query per page.
        self._open: bool | None = None

    def add(self, entry: Entry) -> None:
        fp = entry.fingerprint()
        self.repeats[fp] = self.repeats.get(fp, 0) + 1
        self.pending[fp] = entry

    def item_synced(self, exchange_id: str | None, contact_id: int | None) -> None:
        if exchange_id:
            self.synced_items.add(exchange_id)
        if contact_id:
            self.synced_contacts.add(contact_id)

    def account_settled(self, exchange_id: str | None, contact_id: int | None) -> None:
        """Both sides of this item agree on its company: its account is no longer unresolved."""
        if exchange_id:
            self.settled_items.add(exchange_id)
        if contact_id:
            self.settled_contacts.add(contact_id)

    def flush(self, *, may_have_open: bool = True) -> None:
        """Write pending entries and resolutions. Call inside the page's transaction."""
        now = timezone.now()
        if self.pending:
            self._write(now)
        if may_have_open and (self.synced_items or self.synced_contacts) and self._has_open():
            self._resolve(now, self.synced_items, self.synced_contacts,
                          ITEM_KINDS_RESOLVED_BY_SYNC)
        if may_have_open and (self.settled_items or self.settled_contacts) and self._has_open():
            self._resolve(now, self.settled_items, self.settled_contacts,
                          (Kind.UNRESOLVED_ACCOUNT,))
        self.pending.clear()
        self.repeats.clear()
        self.synced_items.clear()
        self.synced_contacts.clear()
        self.settled_items.clear()
        self.settled_contacts.clear()

    def _has_open(self) -> bool:
        if self._open is None:
            self._open = LightningSyncError.objects.filter(
                user=self.user, resolved=False,
                kind__in=(*ITEM_KINDS_RESOLVED_BY_SYNC, Kind.UNRESOLVED_ACCOUNT),
            ).exists()
        return self._open

    def _write(self, now: dt.datetime) -> None:
        existing = {
            e.fingerprint: e
            for e in LightningSyncError.objects.filter(
                user=self.user, fingerprint__in=list(self.pending)
            )
        }
        new, changed = [], []
        for fp, entry in self.pending.items():
            row = existing.get(fp)
            if row is None:
                new.append(LightningSyncError(
                    user=self.user, object=entry.object, direction=entry.direction,
                    kind=entry.kind, exchange_item_id=entry.exchange_item_id,
                    contact_id=entry.contact_id,
                    crm_record_id=entry.crm_record_id or str(entry.contact_id or ""),
                    message=entry.message, suggestion=entry.suggestion,
                    first_occurred_at=now, last_occurred_at=now, count=self.repeats[fp],
                    fingerprint=fp, next_try_at=_next_try(entry, now),
                ))
            else:
                row.count += self.repeats[fp]
                row.last_occurred_at = now
                row.message = entry.message
                row.suggestion = entry.suggestion
                row.resolved = False
                row.resolved_at = None
                row.next_try_at = _next_try(entry, now)
                changed.append(row)
        LightningSyncError.objects.bulk_create(new)
        LightningSyncError.objects.bulk_update(
            changed, ["count", "last_occurred_at", "message", "suggestion", "resolved",
                      "resolved_at", "next_try_at"]
        )
        self.written += len(new) + len(changed)
        self._open = True  # what was just written may be resolved later in the cycle
        # An item that failed in this page is not "synced" in it.
        for entry in self.pending.values():
            self.synced_items.discard(entry.exchange_item_id)
            if entry.contact_id:
                self.synced_contacts.discard(entry.contact_id)
            if entry.kind == Kind.UNRESOLVED_ACCOUNT:
                self.settled_items.discard(entry.exchange_item_id)
                if entry.contact_id:
                    self.settled_contacts.discard(entry.contact_id)

    def _resolve(self, now: dt.datetime, items: set[str], contacts: set[int],
                 kinds: tuple[str, ...]) -> None:
        which = Q(exchange_item_id__in=list(items)) | Q(contact_id__in=list(contacts))
        LightningSyncError.objects.filter(
            which, user=self.user, resolved=False, kind__in=kinds
        ).update(resolved=True, resolved_at=now)


def _next_try(entry: Entry, now: dt.datetime) -> dt.datetime | None:
    return now + RETRY_AFTER if entry.kind == Kind.ITEM_REJECTED else None


def open_refusals(user: User) -> QuerySet[LightningSyncError]:
    """The user's items Exchange refused that have not synced since."""
    return LightningSyncError.objects.filter(user=user, kind=Kind.ITEM_REJECTED, resolved=False)


def due_refusals(user: User, now: dt.datetime) -> QuerySet[LightningSyncError]:
    """The user's refused items to try again now (a day has passed, or an admin's Retry)."""
    return open_refusals(user).filter(next_try_at__lte=now)


def waiting_refusals(user: User, now: dt.datetime) -> QuerySet[LightningSyncError]:
    """The user's refused items that wait for a fix: not tried again unless they change."""
    return open_refusals(user).filter(next_try_at__gt=now)


def postpone_refusals(user: User, tried_at: dt.datetime) -> int:
    """After a cycle tried the due ones: those still refused (or not tried) wait another day."""
    return due_refusals(user, tried_at).update(next_try_at=tried_at + RETRY_AFTER)


def resolve_cycle_errors(user: User) -> int:
    """A cycle completed: connection-level entries of the user are resolved, and so is a
    configuration the cycle could not use (a filter entry about no item or record)."""
    cycle_level = Q(kind__in=CYCLE_KINDS_RESOLVED_BY_SUCCESS) | Q(
        kind=Kind.FILTER, exchange_item_id="", contact__isnull=True, crm_record_id="")
    return LightningSyncError.objects.filter(cycle_level, user=user, resolved=False).update(
        resolved=True, resolved_at=timezone.now())


def record_now(user: User, entry: Entry) -> None:
    """Write one entry immediately (outside any page), folding it like any other."""
    log = ErrorLog(user)
    log.add(entry)
    log.flush(may_have_open=False)
