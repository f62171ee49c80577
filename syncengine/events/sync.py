"""Event sync for one user (SPEC §5): the default Calendar → the CRM's events, one way.

The calendar's change listing is walked page by page with only the fields that decide
(rules.py); the items that pass and changed are read in full and each page's CRM writes,
links, entries and cursor are committed in one transaction (page.py, commit.py), so a crash
resumes at the first unfinished page; each page's links are stamped right after it, the
stamps in flight while the next page is listed and read (stamps.py). A configuration change
that widens the set re-lists the calendar; matching prevents duplicates. Runs in the same
cycle as contacts, after them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

from lightningsync.models import (
    FolderCursor,
    LightningSyncSetup,
    SyncConfiguration,
    User,
    UserSyncState,
)

from ..errorlog import ErrorLog
from ..ownwrites import without_own_writes
from ..transports.protocol import (
    ChangePage,
    ErrorKind,
    FolderKind,
    FolderRef,
    MailboxTransport,
    TransportError,
)
from .page import apply_page
from .relate import own_domains
from .rules import EventRules, rules_fingerprint
from .stamps import abandon_stamps, settle_stamps, stamp_leftovers, stamps_settled
from .state import Checkpoint, EventCycle, EventReport, Progress


class _Restart(Exception):
    """The listing starts over (the cursor was refused, or the calendar moved)."""


class EventSync:
    """One event sync cycle of one user. Build it, call `run()` once."""

    def __init__(
        self, *, user: User, config: SyncConfiguration, setup: LightningSyncSetup,
        state: UserSyncState, transport: MailboxTransport, now: dt.datetime,
        errors: ErrorLog | None = None, checkpoint: Checkpoint | None = None,
        progress: Progress | None = None, page_size: int = 512,
        ensure_claimed: Callable[[], None] | None = None,
    ) -> None:
        self.user, self.config, self.setup, self.state = user, config, setup, state
        self.cycle = EventCycle(
            user=user, config=config, state=state, org_id=str(setup.org_id),
            transport=transport, errors=errors or ErrorLog(user),
            checkpoint=checkpoint or (lambda step: None),
            ensure_claimed=ensure_claimed or (lambda: None),
            progress=progress or (lambda what, n: None), page_size=page_size,
            rules=EventRules.of(config, setup, now),
            mapping=config.effective_event_mapping(),
            own_domains=own_domains(setup, user), now=now,
        )

    def run(self) -> EventReport:
        cycle = self.cycle
        if self.config.events_direction != SyncConfiguration.EventsDirection.EXCHANGE_TO_CRM:
            cycle.report.skipped = "Events are not synced (direction: Don't sync)."
            return cycle.report
        _open_calendar(cycle, rules_fingerprint(self.config, self.setup))
        stamp_leftovers(cycle)  # what a crash or a refusal left waiting
        cycle.own_writes = {}
        try:
            _listing(cycle)
            if cycle.stamped_after_listing:
                # The last page's stamps came after the listing's last request: one more
                # request passes over them, so that the next cycle without changes lists
                # nothing (the earlier pages' stamps were passed over on the way).
                _listing(cycle)
        finally:
            cycle.own_writes = None
        stamps_settled(cycle)
        self.state.events_initial_sync_done = True
        return cycle.report


def _listing(cycle: EventCycle) -> None:
    try:
        _walk(cycle)
    except TransportError:
        # The stamps in flight were sent before the call that failed: settled as they would
        # have been had they been waited for (their own failure, the earlier one, wins).
        try:
            settle_stamps(cycle)
        finally:
            abandon_stamps(cycle)
        raise
    except BaseException:
        abandon_stamps(cycle)
        raise


def _walk(cycle: EventCycle) -> None:
    for _attempt in range(3):
        try:
            for page in _pages(cycle):
                # Our own stamps, listed back: nothing to read or write for them. (The
                # previous page's, still in flight, are settled within the page, before it
                # moves the cursor; one listed back before that is read again, harmlessly.)
                apply_page(cycle, without_own_writes(page, cycle.own_writes))
            settle_stamps(cycle)
            return
        except _Restart:
            settle_stamps(cycle)
            if cycle.own_writes is not None:
                cycle.own_writes.clear()  # a listing from another cursor
            continue


def _open_calendar(cycle: EventCycle, fingerprint: str) -> None:
    cursor = FolderCursor.objects.filter(user=cycle.user, kind=FolderKind.CALENDAR).first()
    if cursor is None:
        folder = cycle.transport.calendar_folder()
        cycle.ensure_claimed()
        cursor = FolderCursor.objects.create(user=cycle.user, kind=FolderKind.CALENDAR,
                                             folder_id=folder.id)
    cycle.cursor = cursor
    cycle.folder = FolderRef(FolderKind.CALENDAR, cursor.folder_id)
    if fingerprint != cycle.state.events_config_fingerprint:
        # Another window, scope, private setting or mapping: list the calendar again; links
        # and matching keep what was synced from being imported twice.
        with cycle.transaction():
            if cursor.cursor:
                cycle.start_full_listing()
                cursor.save()
            cycle.state.events_config_fingerprint = fingerprint
            UserSyncState.objects.filter(pk=cycle.state.pk).update(
                events_config_fingerprint=fingerprint)


def _pages(cycle: EventCycle) -> Iterator[ChangePage]:
    pages = cycle.transport.changes(cycle.folder, cycle.cursor.cursor or None, cycle.page_size,
                                    since=cycle.rules.window_start)
    while True:
        try:
            page = next(pages)
        except StopIteration:
            return
        except TransportError as exc:
            if exc.kind == ErrorKind.INVALID_CURSOR:
                with cycle.transaction():
                    cycle.start_full_listing()
                    cycle.cursor.save()
                raise _Restart from exc
            if exc.kind == ErrorKind.NOT_FOUND:
                folder = cycle.transport.calendar_folder()
                with cycle.transaction():
                    cycle.cursor.folder_id = folder.id
                    cycle.start_full_listing()
                    cycle.cursor.save()
                cycle.folder = FolderRef(FolderKind.CALENDAR, folder.id)
                raise _Restart from exc
            raise
        cycle.report.listed += len(page.changes)
        cycle.progress("listed", len(page.changes))
        cycle.stamped_after_listing = False
        yield page
