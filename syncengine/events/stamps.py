"""Our stamps on the calendar items the engine links (SPEC §8): the org ID, so that another
org refuses them, and the CRM event id, so that matching finds them again after a crash or
a Reset Sync. A page's links are stamped right after its commit (chunks, several requests
in flight), and the listing leaves those stamps out when it shows them again
(`ownwrites`); links waiting for theirs (a crash in between, a refused stamp) are stamped
by the next cycle before its listing. Stamping is the only write the event sync makes in
Exchange.
"""

from __future__ import annotations

from lightningsync.models import EventLink, FolderCursor

from ..linkstore import set_change_keys
from ..transports.protocol import FolderKind, ItemRef, ItemUpdate
from .commit import Stamp
from .state import EventCycle


def _awaiting(cycle: EventCycle, after: int, limit: int) -> list[tuple[int, Stamp]]:
    """(link pk, (item id, change key, event id)) of links waiting for their stamps."""
    rows = EventLink.objects.filter(
        user=cycle.user, state=EventLink.State.ACTIVE, needs_stamp=True,
        event__isnull=False, exchange_id__isnull=False, pk__gt=after,
    ).order_by("pk").values_list("pk", "exchange_id", "change_key", "event_id")[:limit]
    return [(pk, (i or "", k, e)) for pk, i, k, e in rows if e]


def stamp_page(cycle: EventCycle, todo: list[Stamp]) -> None:
    """Stamp the items a page linked, right after its commit; the listing, further on,
    shows each stamp again, and leaves it out (`EventCycle.own_writes`)."""
    keys = _stamp(cycle, todo)
    if cycle.own_writes is not None:
        cycle.own_writes.update(keys)
    cycle.stamped_after_listing = cycle.stamped_after_listing or bool(keys)


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


def _stamp(cycle: EventCycle, todo: list[Stamp]) -> dict[str, str]:
    """Write our stamps, a chunk at a time, each chunk's new change keys committed before
    the next. Returns {item id: new change key} of the items stamped."""
    stamped: dict[str, str] = {}
    for start in range(0, len(todo), cycle.chunk_size):
        chunk = todo[start : start + cycle.chunk_size]
        cycle.ensure_claimed()
        results = cycle.transport.update_items([
            ItemUpdate(ItemRef(item_id, key), {}, crm_stamp=str(event_id),
                       kind=FolderKind.CALENDAR)
            for item_id, key, event_id in chunk
        ])
        cycle.checkpoint("event_stamps_written")
        keys = {item_id: r.change_key for (item_id, _, _), r in
                zip(chunk, results, strict=True) if r.ok and r.change_key}
        with cycle.transaction():
            set_change_keys(EventLink, cycle.user.pk, keys)
        cycle.checkpoint("event_stamped")
        stamped.update(keys)
    return stamped
