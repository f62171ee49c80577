"""Our stamps on the items a page linked (SPEC §8): every item the engine creates or links
carries the org ID, so that a second org refuses it, and the CRM id, so that matching finds
it again after a crash or a Reset Sync whatever the rep changes. Creates and updates carry
them; an item linked without a write of its own is stamped right after its page commits.
"""

from __future__ import annotations

from django.db.models import QuerySet

from lightningsync.models import ContactLink, FolderCursor

from ..linkstore import commit_stamps
from ..transports.protocol import ExchangeItem, ItemRef, ItemUpdate
from .folder import before_exchange_write
from .state import ContactCycle
from .writes import PageWrites


def unstamped(cycle: ContactCycle, item: ExchangeItem, contact_pk: int | None) -> bool:
    """Does the item lack our stamps for this CRM contact (None: not saved yet)?"""
    return (contact_pk is None or item.org_stamp != cycle.org_id
            or item.crm_stamp != str(contact_pk))


def stamp_linked(cycle: ContactCycle, writes: PageWrites) -> None:
    """Stamp the items this page linked that do not carry our stamps yet (SPEC §8: every
    item the engine creates or links carries the org ID; the CRM id lets matching find
    it again after a crash or a Reset Sync whatever the rep later changes)."""
    keys = _stamp(cycle, [(p.exchange_id, p.change_key, p.contact.pk)
                          for p in writes.links if p.needs_stamp and p.contact.pk],
                  settle=False)  # once the listing is done (`stamps_settled`)
    if cycle.own_writes is not None:
        # Their links carry this listing's generation already (a full listing marks
        # nothing more for them): the listing need not show them again.
        cycle.own_writes.update(keys)


def stamp_leftovers(cycle: ContactCycle) -> None:
    """Links still waiting for their stamps from an earlier cycle (a crash anywhere between
    a page's commit and the end of its stamping, or a refused stamp): stamped first."""
    if not cycle.cursor.stamps_pending:
        return
    pending = _awaiting_stamps(cycle).values_list("exchange_id", "change_key", "contact_id")
    _stamp(cycle, [(i or "", k, c) for i, k, c in pending if c])


def _awaiting_stamps(cycle: ContactCycle) -> QuerySet[ContactLink]:
    """Linked items that do not carry our stamps yet: the links' flags are the truth,
    `FolderCursor.stamps_pending` only spares a quiet cycle the query."""
    return cycle.active_links().filter(needs_stamp=True, contact__isnull=False,
                                       exchange_id__isnull=False)


def _stamp(cycle: ContactCycle, todo: list[tuple[str, str, int]], *,
           settle: bool = True) -> dict[str, str]:
    """Write our stamps on (item id, change key, CRM id), a chunk at a time: each chunk's
    new change keys, and that its links are stamped, in one transaction. A refused stamp
    (the rep edited the item meanwhile, or it is gone) leaves its link waiting: the
    listing shows that change, and the stamps go with the page or write it leads to, or
    the next cycle stamps it. Returns the new change keys of the stamped items."""
    stamped: dict[str, str] = {}
    for start in range(0, len(todo), cycle.chunk_size):
        chunk = todo[start : start + cycle.chunk_size]
        before_exchange_write(cycle)
        results = cycle.transport.update_items([
            ItemUpdate(ItemRef(item_id, key), {}, crm_stamp=str(contact_id))
            for item_id, key, contact_id in chunk
        ])
        stamped.update(commit_stamps(cycle, ContactLink, chunk, results,
                                     ("stamps_written", "stamped")))
    if settle:
        stamps_settled(cycle)
    return stamped


def stamps_settled(cycle: ContactCycle) -> None:
    """Clear `stamps_pending` once no link waits for its stamps (never on the word of a
    chunk: a crash in a later chunk would leave its links unstamped for good). A query of
    the user's links: after the leftovers, and once a listing is done, not after each
    page."""
    if cycle.cursor.stamps_pending and not _awaiting_stamps(cycle).exists():
        cycle.ensure_claimed()
        cycle.cursor.stamps_pending = False
        FolderCursor.objects.filter(pk=cycle.cursor.pk).update(stamps_pending=False)
