"""One page of the calendar's listing (SPEC §5): decide from the deciding fields, read in
full only what passes and changed, then commit the page (commit.py) and stamp what it
linked (stamps.py).
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Q

from lightningsync.models import EventLink, FolderCursor

from ..errorlog import Direction, Entry, Kind, ObjectType
from ..mapping import events as m
from ..transports.protocol import (
    EVENT_FIELDS,
    Change,
    ChangeKind,
    ChangePage,
    ErrorKind,
    ItemFailure,
)
from .commit import Work, commit_page
from .rules import Verdict
from .stamps import settle_stamps, stamp_page
from .state import EventCycle

WINDOW_SLACK = dt.timedelta(days=1)


def apply_page(cycle: EventCycle, page: ChangePage) -> None:
    cycle.checkpoint("event_page_listed")
    full_end = cycle.cursor.full_listing and not page.more
    if not page.changes and not full_end:
        if page.cursor != cycle.cursor.cursor:  # nothing to apply: just move on
            settle_stamps(cycle)
            cycle.ensure_claimed()
            cycle.cursor.cursor = page.cursor
            FolderCursor.objects.filter(pk=cycle.cursor.pk).update(cursor=page.cursor)
        return
    ids = [c.id for c in page.changes]
    verdicts = {c.id: cycle.rules.verdict(c.event) for c in page.changes
                if c.event is not None and c.kind != ChangeKind.DELETE}
    # Only what may be read, counted or removed needs its link: not the items outside the
    # set (most of a calendar), which are left alone whatever their link.
    look_up = [c.id for c in page.changes
               if verdicts.get(c.id) not in _LEFT_ALONE or c.kind == ChangeKind.DELETE
               or _foreign(cycle, c)]
    links = {
        link.exchange_id or "": link
        for link in EventLink.objects.filter(user=cycle.user, exchange_id__in=look_up)
        .select_related("event")
    } if look_up else {}
    gone: list[EventLink] = []
    to_fetch: list[Change] = []
    for change in page.changes:
        link = links.get(change.id)
        if change.kind == ChangeKind.DELETE:
            if link is not None and link.state == EventLink.State.ACTIVE:
                gone.append(link)
        elif _wanted(cycle, change, verdicts.get(change.id), link):
            to_fetch.append(change)
    if full_end:
        gone += _unseen_links(cycle, ids)
    works = _fetch(cycle, to_fetch, links, gone)
    # The previous page's stamps were in flight while this page was listed and read; their
    # change keys are committed before this page moves the cursor past where the listing
    # might show them.
    settle_stamps(cycle)
    if not (works or gone or cycle.cursor.full_listing or cycle.errors.pending):
        # Nothing to write (our own stamps, items outside the set): just move on.
        cycle.ensure_claimed()
        cycle.cursor.cursor = page.cursor
        FolderCursor.objects.filter(pk=cycle.cursor.pk).update(cursor=page.cursor)
    else:
        stamps = commit_page(cycle, page, works, gone, ids)
        cycle.checkpoint("event_page_committed")
        stamp_page(cycle, stamps)
        return
    cycle.checkpoint("event_page_committed")


# Verdicts that leave an item alone whatever its link (None: not a calendar item's).
_LEFT_ALONE = frozenset({Verdict.OUTSIDE, Verdict.UNSELECTED, None})


def _foreign(cycle: EventCycle, change: Change) -> bool:
    return bool(change.org_stamp) and change.org_stamp != cycle.org_id


def _wanted(cycle: EventCycle, change: Change, verdict: Verdict | None,
            link: EventLink | None) -> bool:
    """Should this listed create or update be read in full? (`verdict`: the rules' on its
    deciding fields, None when it has none.)"""
    if change.org_stamp and _foreign(cycle, change):
        if link is None or link.event_id is not None:
            _other_org(cycle, change.id, change.org_stamp)
        return False
    if link is not None and link.event_id is None:
        return False  # deleted in the CRM by the rep: never imported again
    if verdict is None:
        return False
    if verdict == Verdict.SERIES:
        cycle.report.skipped_series += 1
        return False
    if verdict == Verdict.PRIVATE:
        # Not synced; an event synced before it became private keeps its CRM copy as it
        # was (it stops updating).
        cycle.report.skipped_private += 1
        return False
    if verdict in (Verdict.OUTSIDE, Verdict.UNSELECTED):
        return False  # never synced, or synced before and kept as it was
    if link is None:
        return True
    return not (link.change_key == change.change_key
                and set(link.snapshot) == set(cycle.mapping))


def _fetch(cycle: EventCycle, changes: list[Change], links: dict[str, EventLink],
           gone: list[EventLink]) -> list[Work]:
    if not changes:
        return []
    got = cycle.transport.get_items(cycle.folder, [c.id for c in changes], EVENT_FIELDS)
    cycle.report.fetched += len(changes)
    works: list[Work] = []
    for change, result in zip(changes, got, strict=True):
        link = links.get(change.id)
        if isinstance(result, ItemFailure):
            if result.kind == ErrorKind.NOT_FOUND:
                if link is not None and link.state == EventLink.State.ACTIVE:
                    gone.append(link)
                continue  # deleted meanwhile: the next listing says so
            _refused(cycle, change.id, link, result.message)
            continue
        try:
            values = m.exchange_values(result.fields, cycle.mapping)
        except m.UnusableItem as exc:
            _refused(cycle, change.id, link, str(exc))
            continue
        private = m.is_private(result.fields)
        works.append(Work(result, values, private, link))
    return works


def _unseen_links(cycle: EventCycle, page_ids: list[str]) -> list[EventLink]:
    """At the end of a full listing: linked items it never mentioned are gone, unless their
    CRM copy ended before the date window (a day's slack for all-day events). A listing may
    cover only the window (Graph's calendar view): an event that left it is kept and stops
    updating (SPEC §5), as over EWS, where it is listed and left alone."""
    in_window = Q(event__isnull=True) | Q(event__end__gte=cycle.rules.window_start - WINDOW_SLACK)
    return list(
        EventLink.objects.filter(in_window, user=cycle.user, state=EventLink.State.ACTIVE,
                                 exchange_id__isnull=False)
        .exclude(seen_generation=cycle.cursor.listing_generation)
        .exclude(exchange_id__in=page_ids)
        .select_related("event")
    )


def _other_org(cycle: EventCycle, item_id: str, other: str) -> None:
    cycle.report.errors += 1
    cycle.errors.add(Entry(
        Kind.OTHER_ORG, Direction.EXCHANGE_TO_CRM,
        f"This Exchange event is synced by another org (org ID {other}); it was not imported.",
        "A mailbox must be synced by one org only: remove this user from the sync "
        "configurations of one of the two orgs, then reset the user's sync there.",
        exchange_item_id=item_id, object=ObjectType.EVENT,
    ))


def _refused(cycle: EventCycle, item_id: str, link: EventLink | None, message: str) -> None:
    cycle.report.errors += 1
    cycle.errors.add(Entry(
        Kind.ITEM_REJECTED, Direction.EXCHANGE_TO_CRM,
        f"The Exchange event could not be synced: {message}",
        "Check the event in Outlook (its start and end); it is tried again when it changes.",
        exchange_item_id=item_id,
        crm_record_id=str(link.event_id) if link is not None and link.event_id else "",
        object=ObjectType.EVENT,
    ))
