"""Our stamps on the calendar items the engine links (SPEC §8): the org ID, so that another
org refuses them, and the CRM event id, so that matching finds them again after a crash or
a Reset Sync. Written right after the page that linked them commits, a chunk at a time;
links waiting for theirs (a crash in between, a refused stamp) are stamped at the start of
the next cycle. Stamping is the only write the event sync makes in Exchange.
"""

from __future__ import annotations

from lightningsync.models import EventLink, FolderCursor

from ..linkstore import set_change_keys
from ..transports.protocol import FolderKind, ItemRef, ItemUpdate
from .state import EventCycle


def _awaiting(cycle: EventCycle) -> list[tuple[str, str, int]]:
    rows = EventLink.objects.filter(
        user=cycle.user, state=EventLink.State.ACTIVE, needs_stamp=True,
        event__isnull=False, exchange_id__isnull=False,
    ).order_by("pk").values_list("exchange_id", "change_key", "event_id")
    return [(i or "", k, e) for i, k, e in rows if e]


def stamp_linked(cycle: EventCycle) -> None:
    """Stamp every linked item that waits for its stamps (the page's, and any left over)."""
    if not cycle.cursor.stamps_pending:
        return
    todo = _awaiting(cycle)
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
    # A refused stamp (the rep edited the item meanwhile) waits: the listing shows that
    # edit, and its page stamps it again. The flag stays until none waits.
    if len(todo) == 0 or not _awaiting(cycle):
        cycle.ensure_claimed()
        cycle.cursor.stamps_pending = False
        FolderCursor.objects.filter(pk=cycle.cursor.pk).update(stamps_pending=False)
