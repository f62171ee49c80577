"""The Exchange side of one listing page: the merges' patches written to Exchange, with the
stamps they carry, before the page's transaction records them; an item the rep edited
meanwhile is read and merged again, once.
"""

from __future__ import annotations

from lightningsync.models import ContactLink

from ..errorlog import Direction
from ..mapping import contacts as m
from ..mapping.merge import merge
from ..transports.protocol import ErrorKind, ExchangeItem, ItemFailure, ItemUpdate
from .entries import item_rejected
from .folder import before_exchange_write
from .merging import Work, merge_linked, record_conflicts, resolve_page_accounts
from .stamps import unstamped
from .state import ContactCycle
from .writes import PageWrites


def write_exchange(cycle: ContactCycle, works: list[Work], writes: PageWrites) -> None:
    """Exchange first (patches, with the stamps they carry); retry stale ones once."""
    for attempt in range(2):
        pending = [(w, u) for w in works if not w.dropped and (u := exchange_update(cycle, w))]
        if not pending:
            return
        before_exchange_write(cycle)
        if record_conflicts(cycle, [w for w, _ in pending]):
            with cycle.transaction():
                cycle.errors.flush()  # keep losing values even if we crash below
        results = cycle.transport.update_items([u for _, u in pending])
        stale: list[Work] = []
        for (work, update), result in zip(pending, results, strict=True):
            if result.ok:
                stamps = (cycle.org_id, update.crm_stamp) if update.crm_stamp else None
                work.item = _with_change_key(work.item, result.change_key or "", stamps)
                cycle.report.exchange_updated += bool(work.result.exchange_patch)
            elif result.error and result.error.kind == ErrorKind.CONFLICT and attempt == 0:
                stale.append(work)
            elif result.error and result.error.kind == ErrorKind.NOT_FOUND:
                gone_meanwhile(work, writes)  # deleted by the rep since we read it
            else:
                work.dropped = True
                if result.error and result.error.kind != ErrorKind.CONFLICT:
                    item_rejected(
                        cycle, Direction.CRM_TO_EXCHANGE, work.item.id,
                        work.contact.pk if work.contact else None, result.error.message,
                        too_long=result.error.too_long)
        if not stale:
            return
        refetch(cycle, stale, writes)


def gone_meanwhile(work: Work, writes: PageWrites) -> None:
    """The item vanished between our read and our write: unlinked like any delete."""
    work.dropped = True
    if work.link is not None and work.link.state != ContactLink.State.DETACHED:
        writes.detach.append(work.link)


def exchange_update(cycle: ContactCycle, work: Work) -> ItemUpdate | None:
    """The write a merge needs, if any; it carries the stamps when the item lacks them
    (an item linked without a change is stamped after the page: `stamps.stamp_linked`)."""
    patch = work.result.exchange_patch
    if not patch:
        return None
    pk = work.contact.pk if work.contact is not None else None
    stamp = str(pk) if pk and unstamped(cycle, work.item, pk) else None
    return ItemUpdate(work.item.ref, m.to_exchange(patch, cycle.mapping), crm_stamp=stamp)


def refetch(cycle: ContactCycle, stale: list[Work], writes: PageWrites) -> None:
    """The rep edited these while we merged: read them again and merge again."""
    got = cycle.transport.get_items(cycle.folder, [w.item.id for w in stale], cycle.fields)
    for work, item in zip(stale, got, strict=True):
        if isinstance(item, ItemFailure):
            if item.kind == ErrorKind.NOT_FOUND:
                gone_meanwhile(work, writes)
            else:
                work.dropped = True
            continue
        if work.link is not None:
            fresh = merge_linked(cycle, work.link, item)
        else:
            crm = (m.crm_values(work.contact, cycle.mapping) if work.contact
                   else dict.fromkeys(cycle.mapping))
            exch = m.exchange_values(item.fields, cycle.mapping)
            fresh = Work(item, None, work.contact, merge(
                None, crm, exch, mode=cycle.mode, policy=cycle.policy,
                crm_modified=work.contact.updated_at if work.contact else None,
                exchange_modified=item.last_modified),
                         work.candidate, work.origin, exch=exch)
        work.item, work.result, work.exch = fresh.item, fresh.result, fresh.exch
    resolve_page_accounts(stale)


def _with_change_key(item: ExchangeItem, change_key: str,
                     stamps: tuple[str, str] | None = None) -> ExchangeItem:
    """The item after our write: its new change key, and the (org, CRM id) stamps it carried."""
    org, crm = stamps if stamps else (item.org_stamp, item.crm_stamp)
    return ExchangeItem(item.id, change_key, org, crm, item.last_modified, item.fields)
