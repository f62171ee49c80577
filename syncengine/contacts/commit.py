"""The CRM side of one listing page, in one transaction (SPEC §4): new and changed contacts,
links and their snapshots, error entries and the cursor after the page, so that a crash
resumes at the first unfinished page. A contact saved in the CRM since the page read it is
merged again first: the page never overwrites such an edit.
"""

from __future__ import annotations

import datetime as dt

from django.db import connection
from django.utils import timezone

from lightningsync.models import Contact, ContactLink

from ..errorlog import Direction, Entry, Kind
from ..mapping import contacts as m
from ..mapping.merge import Mode, merge
from ..mapping.normal import content_hash, same
from ..transports.protocol import ChangePage
from .merging import Work, base, record_conflicts, resolve_page_accounts
from .stamps import unstamped
from .state import ContactCycle
from .writes import PageWrites, PendingLink


def commit_page(cycle: ContactCycle, page: ChangePage, works: list[Work], writes: PageWrites,
                ids: list[str]) -> None:
    kept = [w for w in works if not w.dropped]
    with cycle.transaction():
        merge_crm_edits_since_read(cycle, kept)
        kept = [w for w in kept if not w.dropped]
        now = timezone.now()
        for work in kept:
            plan_crm_write(cycle, work, writes, now)
        record_conflicts(cycle, kept)  # those no Exchange write recorded (the CRM loses)
        counts = writes.save(cycle.user, cycle.cursor.listing_generation)
        for work in kept:
            account_outcome(cycle, work)
        if cycle.cursor.full_listing:
            # Links the page saved carry the generation already: mark the others.
            written = {p.exchange_id for p in writes.links}
            unwritten = [i for i in ids if i not in written]
            if unwritten:
                ContactLink.objects.filter(user=cycle.user, exchange_id__in=unwritten).update(
                    seen_generation=cycle.cursor.listing_generation
                )
        cycle.cursor.cursor = page.cursor
        if cycle.cursor.full_listing and not page.more:
            cycle.cursor.full_listing = False
        if any(p.needs_stamp for p in writes.links):
            cycle.cursor.stamps_pending = True  # cleared once stamped (`stamps.stamp_linked`)
        cycle.cursor.save()
        cycle.errors.flush()
    for pending in writes.links:
        if not pending.settled:
            continue
        contact = pending.contact
        account = contact.account
        cycle.pulled[contact.pk] = (contact.updated_at,
                                    account.updated_at if account is not None else None)
    cycle.report.crm_created += counts.created
    cycle.report.crm_updated += counts.updated
    cycle.report.unlinked += counts.detached
    if writes.links or writes.tombstones or counts.detached:
        imported_only = (not (writes.tombstones or writes.detach or writes.forget)
                         and len(writes.links) == cycle.reserved
                         and all(p.link is None and p.reuse_link_id is None
                                 for p in writes.links))
        cycle.page_links_committed(imported_only)
    cycle.progress("written", counts.created + counts.updated + counts.detached)


def merge_crm_edits_since_read(cycle: ContactCycle, works: list[Work]) -> None:
    """Inside the page's transaction: merge again the contacts saved in the CRM since
    the page read them, so that the page's CRM writes never overwrite such an edit.

    Both ways: Exchange already holds what the page wrote there; the fresh CRM values
    are merged against it (a field both changed is a conflict, its losing value kept),
    the CRM gets what Exchange alone changed, and the link's snapshot becomes what
    Exchange holds, so that the push of this cycle sends the CRM's newer values.
    Exchange to CRM: the page's merge again, with the fresh CRM values. CRM to Exchange:
    the page writes nothing in the CRM; the snapshot stays the CRM values the page synced
    from, and the push sends the newer ones.
    """
    read = {w.contact.pk: w for w in works
            if w.contact is not None and w.contact.pk and w.read_at is not None}
    if not read:
        return
    rows = Contact.objects.filter(pk__in=list(read)).select_related("account")
    if connection.features.has_select_for_update:
        rows = rows.select_for_update(of=("self",))
    now = {c.pk: c for c in rows}
    for pk, work in read.items():
        if pk not in now:  # deleted in the CRM meanwhile: the push removes its copy
            work.dropped = True
    fresh = {pk: c for pk, c in now.items() if c.updated_at != read[pk].read_at}
    moved = [read[pk] for pk in fresh]
    for work in moved:
        assert work.contact is not None
        contact = fresh[work.contact.pk]
        crm_read = m.crm_values(work.contact, cycle.mapping)
        work.contact, work.read_at = contact, contact.updated_at
        if cycle.mode == Mode.CRM_TO_EXCHANGE:
            work.unsettled_snapshot = crm_read
            continue
        holds = {**work.exch, **work.result.exchange_patch}
        # Both ways, the common ancestor of the CRM's edit and of what this page did is
        # the CRM values the page read: what the page took from Exchange then counts as
        # Exchange's change. One-way, the page wrote nothing in Exchange: the link's base.
        ancestor = (crm_read if cycle.mode == Mode.BOTH else
                    None if work.link is None else base(cycle, work.link))
        work.unsettled_snapshot = holds
        work.result = merge(ancestor, m.crm_values(contact, cycle.mapping), holds,
                            mode=cycle.mode, policy=cycle.policy,
                            crm_modified=contact.updated_at,
                            exchange_modified=work.item.last_modified)
    if moved:
        resolve_page_accounts(moved)


def plan_crm_write(cycle: ContactCycle, work: Work, writes: PageWrites, now: dt.datetime) -> None:
    result = work.result
    contact = work.contact
    if contact is None:
        contact = Contact(owner=cycle.user, account=work.account, created_at=now,
                          updated_at=now, **m.contact_attributes(result.merged))
        writes.new_contacts.append(contact)
        work.contact = contact  # saved (and given its id) by the page's commit
    elif result.crm_patch:
        changed = m.apply_to_contact(contact, result.crm_patch)
        if "account_name" in result.crm_patch:
            contact.account = work.account
            changed.append("account")
        contact.updated_at = now
        writes.changed_contacts[contact.pk] = (contact, {*changed, "updated_at"})
    snapshot = result.merged if work.unsettled_snapshot is None else work.unsettled_snapshot
    pending = PendingLink(
        link=work.link, contact=contact, exchange_id=work.item.id,
        change_key=work.item.change_key, snapshot=snapshot,
        snapshot_hash=content_hash(snapshot), origin=work.origin,
        reuse_link_id=work.candidate.detached_link_id if work.candidate else None,
        settled=work.unsettled_snapshot is None,
        needs_stamp=unstamped(cycle, work.item, contact.pk),
    )
    writes.links.append(pending)
    cycle.errors.item_synced(work.item.id, contact.pk)


def account_outcome(cycle: ContactCycle, work: Work) -> None:
    """Report an unresolved company name, or settle earlier reports about this item.

    Called inside the page's transaction after the contacts are saved, so the entry
    names the CRM contact even when it was created by this page.
    """
    contact_id = work.contact.pk if work.contact else None
    if work.unresolved:
        cycle.errors.add(Entry(
            Kind.UNRESOLVED_ACCOUNT, Direction.EXCHANGE_TO_CRM,
            f"No account is named “{work.unresolved}”; the contact was saved without an "
            "account.",
            "Create the account (or correct the company name in Outlook); the contact "
            "is linked to it at its next change.",
            exchange_item_id=work.item.id, contact_id=contact_id,
            detail=work.unresolved.casefold(),
        ))
        return
    if "account_name" not in cycle.mapping:
        return
    # Both sides now agree on the company (a resolved account, or none at all).
    exch = work.result.exchange_patch.get("account_name", work.exch.get("account_name"))
    if same("account_name", exch, work.result.merged.get("account_name")):
        cycle.errors.account_settled(work.item.id, contact_id)
