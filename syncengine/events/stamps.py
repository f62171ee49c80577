"""Our stamps on the calendar items the engine links (SPEC §8): the org ID, so that another
org refuses them, and the CRM event id, so that matching finds them again after a crash or
a Reset Sync. Written once the listing is through (full chunks, several requests in
flight), a chunk at a time; links waiting for theirs (a crash in between, a refused stamp)
are stamped by the next cycle. Stamping is the only write the event sync makes in Exchange.
"""

from __future__ import annotations

from lightningsync.models import EventLink, FolderCursor

from ..linkstore import set_change_keys
from ..transports.protocol import FolderKind, ItemRef, ItemUpdate
from .state import EventCycle


def _awaiting(cycle: EventCycle, after: int, limit: int) -> list[tuple[int, str, str, int]]:
    """(link pk, item id, change key, event id) of links waiting for their stamps."""
    rows = EventLink.objects.filter(
        user=cycle.user, state=EventLink.State.ACTIVE, needs_stamp=True,
        event__isnull=False, exchange_id__isnull=False, pk__gt=after,
    ).order_by("pk").values_list("pk", "exchange_id", "change_key", "event_id")[:limit]
    return [(pk, i or "", k, e) for pk, i, k, e in rows if e]


def stamp_linked(cycle: EventCycle) -> None:
    """Stamp every linked item that waits for its stamps, a chunk at a time (each chunk's
    new change keys committed before the next), then settle the cursor's flag."""
    if not cycle.cursor.stamps_pending:
        return
    after, refused = 0, False
    while todo := _awaiting(cycle, after, cycle.chunk_size):
        after = todo[-1][0]
        cycle.ensure_claimed()
        results = cycle.transport.update_items([
            ItemUpdate(ItemRef(item_id, key), {}, crm_stamp=str(event_id),
                       kind=FolderKind.CALENDAR)
            for _pk, item_id, key, event_id in todo
        ])
        cycle.checkpoint("event_stamps_written")
        keys = {item_id: r.change_key for (_pk, item_id, _, _), r in
                zip(todo, results, strict=True) if r.ok and r.change_key}
        refused = refused or len(keys) < len(todo)
        with cycle.transaction():
            set_change_keys(EventLink, cycle.user.pk, keys)
        cycle.stamped += len(keys)
        cycle.checkpoint("event_stamped")
    # A refused stamp (the rep edited the item meanwhile) waits: the listing shows that
    # edit, and the stamps follow its page. The flag stays while any waits.
    if not refused:
        cycle.ensure_claimed()
        cycle.cursor.stamps_pending = False
        FolderCursor.objects.filter(pk=cycle.cursor.pk).update(stamps_pending=False)
