"""The merges of one listing page (SPEC §4): the changed items read from Exchange and merged
with their CRM contacts, linked ones against their snapshot, unlinked ones at first sight
(healed by their stamp, matched, or imported).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from lightningsync.models import Account, Contact, ContactLink

from ..errorlog import Direction
from ..mapping import contacts as m
from ..mapping.merge import MergeResult, Mode, merge
from ..mapping.normal import Normalized
from ..transports.protocol import (
    Change,
    ErrorKind,
    ExchangeItem,
    ItemFailure,
    TransportError,
)
from .entries import item_rejected, keep_losing_values, limit_reached
from .matching import Candidate, Matcher, resolve_accounts, stamped_id
from .state import ContactCycle
from .writes import PageWrites


@dataclass
class Work:
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
    exch: Normalized = field(default_factory=dict)  # the item's mapped values, normalized
    read_at: dt.datetime | None = None  # the CRM contact's updated_at when the page read it
    # Set when the CRM contact changed after the page read it: the link's snapshot, such that
    # the push of this cycle sends the CRM's newer values (see `commit.merge_crm_edits_since_read`).
    unsettled_snapshot: Normalized | None = None


def fetch_and_merge(cycle: ContactCycle, to_fetch: list[Change], links: dict[str, ContactLink],
                    gone: list[ContactLink], writes: PageWrites) -> list[Work]:
    if not to_fetch:
        return []
    fetched = cycle.transport.get_items(cycle.folder, [c.id for c in to_fetch], cycle.fields)
    cycle.report.fetched += len(fetched)
    cycle.progress("fetched", len(fetched))
    items: list[ExchangeItem] = []
    for change, got in zip(to_fetch, fetched, strict=True):
        if isinstance(got, ItemFailure):
            fetch_failed(cycle, change, got, links.get(change.id), gone)
        else:
            items.append(got)
    works = [merge_linked(cycle, links[i.id], i) for i in items if i.id in links]
    works += first_sight(cycle, [i for i in items if i.id not in links], writes)
    resolve_page_accounts(works)
    return works


def fetch_failed(cycle: ContactCycle, change: Change, failure: ItemFailure,
                 link: ContactLink | None, gone: list[ContactLink]) -> None:
    if failure.kind == ErrorKind.NOT_FOUND:
        if link is not None and link.state != ContactLink.State.DETACHED:
            gone.append(link)
    elif failure.kind in (ErrorKind.TRANSIENT, ErrorKind.THROTTLED):
        raise TransportError(failure.kind, failure.message, item_id=change.id)
    else:
        item_rejected(cycle, Direction.EXCHANGE_TO_CRM, change.id,
                      link.contact_id if link else None, failure.message)


def merge_linked(cycle: ContactCycle, link: ContactLink, item: ExchangeItem) -> Work:
    contact = link.contact
    assert contact is not None
    crm = m.crm_values(contact, cycle.mapping)
    exch = m.exchange_values(item.fields, cycle.mapping)
    result = merge(base(cycle, link), crm, exch, mode=cycle.mode, policy=cycle.policy,
                   crm_modified=contact.updated_at, exchange_modified=item.last_modified)
    return Work(item, link, contact, result, origin=link.origin, exch=exch,
                read_at=contact.updated_at)


def base(cycle: ContactCycle, link: ContactLink) -> Normalized:
    """The link's snapshot, of the fields mapped today (a newly mapped field has none)."""
    if set(link.snapshot) == set(cycle.mapping):
        return link.snapshot
    return {k: v for k, v in link.snapshot.items() if k in cycle.mapping}


def first_sight(cycle: ContactCycle, items: list[ExchangeItem], writes: PageWrites) -> list[Work]:
    """Unlinked items: heal by stamp, match, or import (SPEC §4 first sight).

    An item of ours whose stamped CRM contact no longer exists was deleted in the CRM
    while no link recorded it (a Reset Sync, or a crash between our create and its
    link): it is never imported again, and its copy goes to Deleted Items like any other.
    """
    if not items:
        return []
    values = {i.id: m.exchange_values(i.fields, cycle.mapping) for i in items}
    matcher = Matcher(cycle.user, cycle.scope)
    matcher.load((i.crm_stamp, values[i.id]) for i in items)
    importing = cycle.mode in (Mode.BOTH, Mode.EXCHANGE_TO_CRM)
    works: list[Work] = []
    for item in items:
        if item.org_stamp == cycle.org_id and stamped_id(item.crm_stamp) in matcher.deleted:
            writes.tombstones.append((item.id, item.change_key))
            continue
        exch = values[item.id]
        found = matcher.match(item.crm_stamp, exch, in_scope_only=not importing)
        if found is None and not importing:
            continue  # CRM to Exchange: an item of the rep's own, not ours to import
        if not cycle.room_for(1):  # a match is a new link as much as an import
            limit_reached(cycle, Direction.EXCHANGE_TO_CRM)
            continue
        contact = found.contact if found else None
        crm = m.crm_values(contact, cycle.mapping) if contact else dict.fromkeys(cycle.mapping)
        result = merge(None, crm, exch, mode=cycle.mode, policy=cycle.policy,
                       crm_modified=contact.updated_at if contact else None,
                       exchange_modified=item.last_modified)
        # A stamp says "ours", not who made it; an in-scope contact is taken as pushed
        # (it may be removed when it leaves the filters), any other as imported (kept).
        stamped = found is not None and found.contact.pk == stamped_id(item.crm_stamp)
        pushed = not importing or (stamped and found is not None and found.in_scope)
        origin = ContactLink.Origin.CRM if pushed else ContactLink.Origin.EXCHANGE
        cycle.reserve_link()
        works.append(Work(item, None, contact, result, found, origin, exch=exch,
                          read_at=contact.updated_at if contact else None))
    return works


def resolve_page_accounts(works: list[Work]) -> None:
    """Company names to Accounts, for every CRM write of the page in one query."""
    names = [w.result.crm_patch.get("account_name") for w in works
             if "account_name" in w.result.crm_patch]
    accounts = resolve_accounts(n for n in names if n)
    for work in works:
        patch = work.result.crm_patch
        if "account_name" not in patch:
            continue
        name = patch["account_name"]
        account = accounts.get(name.casefold()) if name else None
        work.result.merged["account_name"] = account.name if account else None
        work.account = account
        # Reported with the page's commit, once the contact (maybe new) has its id.
        work.unresolved = name if name and account is None else None


def record_conflicts(cycle: ContactCycle, works: list[Work]) -> bool:
    """The one place merge conflicts reach the error report (SPEC §4: the losing value
    is always kept). Each merge result is recorded once, whichever merge produced it
    (first read, or the re-read after a stale change key); call it before anything that
    may overwrite a losing value. True when entries were added."""
    added = False
    for work in works:
        if work.recorded is work.result:
            continue
        work.recorded = work.result
        added |= keep_losing_values(
            cycle, work.item.id, work.contact.pk if work.contact else None, work.result)
    return added
