"""Our stamps on the calendar items the engine links (SPEC §8): the org ID, so that another
org refuses them, and the CRM event id, so that matching finds them again after a crash or
a Reset Sync. A page's links are stamped right after its commit: the stamps are sent at
once and are in flight while the next page is listed (`start_update_items`); they are
settled (their new change keys committed) before that page is applied, and the listing
leaves them out when it shows them again (`ownwrites`). Links waiting for their stamps (a
crash before they were settled, a refused stamp) are stamped by the next cycle before its
listing. Stamping is the only write the event sync makes in Exchange.

Only the cycle's own thread touches the database: a transport's thread only talks to
Exchange. Whatever is in flight when the process dies is found again as for a crash in a
sequential write: a link still waiting, stamped again (a stamp that had landed is refused
for its old change key, and the listing, which never passed over it, shows the stamped item
again, read at its new change key).
"""

from __future__ import annotations

from lightningsync.models import EventLink, FolderCursor

from ..linkstore import commit_stamps
from ..transports.protocol import FolderKind, ItemRef, ItemUpdate, WriteResult
from .state import EventCycle, Stamp


def _awaiting(cycle: EventCycle, after: int, limit: int) -> list[tuple[int, Stamp]]:
    """(link pk, (item id, change key, event id)) of links waiting for their stamps."""
    rows = EventLink.objects.filter(
        user=cycle.user, state=EventLink.State.ACTIVE, needs_stamp=True,
        event__isnull=False, exchange_id__isnull=False, pk__gt=after,
    ).order_by("pk").values_list("pk", "exchange_id", "change_key", "event_id")[:limit]
    return [(pk, (i or "", k, e)) for pk, i, k, e in rows if e]


def stamp_page(cycle: EventCycle, todo: list[Stamp]) -> None:
    """Send the stamps of the items a page linked, right after its commit, a chunk at a
    time, without waiting for the answers (`settle_stamps` reads them)."""
    for start in range(0, len(todo), cycle.chunk_size):
        chunk = todo[start : start + cycle.chunk_size]
        cycle.ensure_claimed()
        cycle.in_flight.append((chunk, cycle.transport.start_update_items(_updates(chunk))))


def settle_stamps(cycle: EventCycle) -> None:
    """The answers of the stamps in flight, in the order sent, each chunk's new change keys
    committed before the next is read; then the listing leaves them out when it shows them
    (`EventCycle.own_writes`). A stamping call's error is raised here, as it came first."""
    while cycle.in_flight:
        chunk, answer = cycle.in_flight.pop(0)
        keys = _settle(cycle, chunk, answer.result())
        if cycle.own_writes is not None:
            cycle.own_writes.update(keys)
        cycle.stamped_after_listing = cycle.stamped_after_listing or bool(keys)


def abandon_stamps(cycle: EventCycle) -> None:
    """After a failure: what is not sent yet is not sent; wait for what is, and keep nothing
    of the answers (the next cycle finds those links waiting, as after a crash)."""
    answers = [answer for _chunk, answer in cycle.in_flight]
    cycle.in_flight.clear()
    for answer in answers:
        if not answer.cancel():
            answer.exception()  # waits; whatever it was is left to the next cycle


def stamp_leftovers(cycle: EventCycle) -> None:
    """Links still waiting for their stamps from an earlier cycle (a crash between a page's
    commit and its stamps, a refused stamp), a chunk at a time, before the listing. Their
    stamps are listed like any change (a full listing must see each item once)."""
    if not cycle.cursor.stamps_pending:
        return
    after = 0
    while todo := _awaiting(cycle, after, cycle.chunk_size):
        after = todo[-1][0]
        _stamp(cycle, [stamp for _pk, stamp in todo])


def stamps_settled(cycle: EventCycle) -> None:
    """Clear the cursor's flag once no link waits for its stamps (a query, only when the
    flag is up). A refused stamp (the rep edited the item meanwhile) waits: the listing
    shows that edit, and the stamps follow its page, or the next cycle's leftovers."""
    if not cycle.cursor.stamps_pending or _awaiting(cycle, 0, 1):
        return
    cycle.ensure_claimed()
    cycle.cursor.stamps_pending = False
    FolderCursor.objects.filter(pk=cycle.cursor.pk).update(stamps_pending=False)


def _stamp(cycle: EventCycle, todo: list[Stamp]) -> None:
    """Write our stamps, a chunk at a time, waiting for each chunk's answer."""
    for start in range(0, len(todo), cycle.chunk_size):
        chunk = todo[start : start + cycle.chunk_size]
        cycle.ensure_claimed()
        _settle(cycle, chunk, cycle.transport.update_items(_updates(chunk)))


def _updates(chunk: list[Stamp]) -> list[ItemUpdate]:
    return [ItemUpdate(ItemRef(item_id, key), {}, crm_stamp=str(event_id),
                       kind=FolderKind.CALENDAR)
            for item_id, key, event_id in chunk]


def _settle(cycle: EventCycle, chunk: list[Stamp], results: list[WriteResult]) -> dict[str, str]:
    return commit_stamps(cycle, EventLink, chunk, results,
                         ("event_stamps_written", "event_stamped"))
