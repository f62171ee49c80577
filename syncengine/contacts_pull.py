"""The pull of a contact sync cycle: Exchange's change listing, page by page (SPEC §4).

Each page's CRM writes, links, error entries and the cursor after it are committed in one
transaction, so a crash resumes at the first unfinished page. Exchange writes of a page (the
merge's patches) happen before that transaction; see `contacts` for how a crash is healed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from django.db import connection
from django.db.models import Field, QuerySet
from django.utils import timezone

from lightningsync.models import Contact, ContactLink, FolderCursor

from . import mapping as m
from .contact_writes import PageWrites, PendingLink
from .contacts_base import (
    MASS_DELETE_THRESHOLD,
    SyncCore,
    _ListingRestart,
    _with_change_key,
    _Work,
)
from .errorlog import Direction, Entry, Kind, due_refusals, waiting_refusals
from .matching import Matcher, resolve_accounts, stamped_id
from .merge import Mode, merge
from .transport import (
    Change,
    ChangeKind,
    ChangePage,
    ErrorKind,
    ExchangeItem,
    ItemFailure,
    ItemRef,
    ItemUpdate,
    TransportError,
)


class ContactPull(SyncCore):
    """Exchange → CRM (and the Exchange patches a merge needs), one listing page at a time."""

    def _pull(self) -> None:
        self._stamp_leftovers()
        for _attempt in range(3):
            try:
                for page in self._pages():
                    self._apply_page(page)
                return
            except _ListingRestart:
                continue

    def _pages(self) -> Iterator[ChangePage]:
        """The listing, with its own failures (invalid cursor, folder gone) handled here."""
        pages = self.transport.changes(self.folder, self.cursor.cursor or None, self.page_size)
        while True:
            try:
                page = next(pages)
            except StopIteration:
                return
            except TransportError as exc:
                if exc.kind == ErrorKind.INVALID_CURSOR:
                    self._start_full_listing()
                    self.cursor.save()
                    raise _ListingRestart from exc
                if exc.kind == ErrorKind.NOT_FOUND:
                    self._folder_missing()
                    raise _ListingRestart from exc
                raise
            self.report.listed += len(page.changes)
            self.progress("listed", len(page.changes))
            yield page

    def _retry_refused(self) -> None:
        """Linked items Exchange refused to write or read, due for another try (SPEC §9: a
        day after the refusal, or after an admin's Retry): read and merged again as if
        listed as changed. (An unlinked item is never read outside the listing, which alone
        tells that it is still in Salesforce_Sync: it is tried again when it changes.)

        The others wait. When the CRM record of one changes, the push's write finds the item
        changed since its link's change key (the Exchange change the refused write was
        merging) and leaves it to `_reread`, which merges both."""
        rows = list(due_refusals(self.user, self.started).order_by()
                    .values_list("exchange_item_id", flat=True))
        self._refusals_due = bool(rows)  # those left untried wait another day (`_finish`)
        self._reread({item_id for item_id in rows if item_id})

    def _reread(self, item_ids: set[str]) -> None:
        """Read these linked items and merge them as if the listing had shown them changed:
        refused items due again, and items the push found changed since their link's change
        key (a change the listing already passed, when the pull's write of it was refused)."""
        ids = sorted(item_ids)
        for start in range(0, len(ids), self.page_size):
            linked = self._active_links().filter(
                contact__isnull=False, exchange_id__in=ids[start : start + self.page_size]
            ).values_list("exchange_id", flat=True)
            changes = [Change(ChangeKind.UPDATE, item_id) for item_id in linked if item_id]
            if changes:  # the cursor stays where the listing left it
                self._apply_page(ChangePage(changes, self.cursor.cursor, more=True))

    def _apply_page(self, page: ChangePage) -> None:
        self.checkpoint("page_listed")
        if not page.changes and not (self.cursor.full_listing and not page.more):
            if page.cursor != self.cursor.cursor:  # nothing to apply: just move on
                self.ensure_claimed()
                self.cursor.cursor = page.cursor
                FolderCursor.objects.filter(pk=self.cursor.pk).update(cursor=page.cursor)
            return
        ids = [c.id for c in page.changes]
        links: dict[str, ContactLink] = {
            link.exchange_id or "": link
            for link in ContactLink.objects.filter(user=self.user, exchange_id__in=ids)
            .select_related("contact__account")
        } if ids else {}
        writes = PageWrites()
        to_fetch: list[Change] = []
        gone: list[ContactLink] = []
        deleted_in_crm: list[str] = []
        for change in page.changes:
            link = links.get(change.id)
            if change.kind == ChangeKind.DELETE:
                if link is not None and link.state != ContactLink.State.DETACHED:
                    gone.append(link)
            elif link is not None and link.contact_id is None:
                deleted_in_crm.append(change.id)
            elif self._needs_fetch(change, link):
                to_fetch.append(change)
        if deleted_in_crm:  # changed in Exchange: a refused removal of the copy is due again
            self.ensure_claimed()
            waiting_refusals(self.user, self.started).filter(
                exchange_item_id__in=deleted_in_crm).update(next_try_at=self.started)
        if self.cursor.full_listing and not page.more:
            gone += self._unseen_links(ids)
        if gone:
            self._guard(gone, page)
        listed_gone = len(gone)
        works = self._fetch_and_merge(to_fetch, links, gone, writes)
        if len(gone) > listed_gone:  # listed as changed, found gone by GetItem: guard again
            self._guard(gone, page)
        self._write_exchange(works, writes)
        self.checkpoint("exchange_written")
        removed_by_us = self._removed_by_the_push(gone)
        for link in gone:
            (writes.forget if link.pk in removed_by_us else writes.detach).append(link)
        self._commit_page(page, works, writes, ids)
        self.checkpoint("page_committed")
        self._stamp_linked(writes)

    def _removed_by_the_push(self, gone: list[ContactLink]) -> set[int]:
        """Links of gone items that the push removed or removes anyway: links the push marked
        before its DeleteItem (a crash after it), and pushed contacts now outside the
        filters. Their link is dropped, not detached ("removed by the rep, never pushed
        back"), so that the contact is pushed again when it passes the filters again."""
        ours = {lk.pk for lk in gone if lk.state == ContactLink.State.REMOVING}
        if self.scope is None or self.mode == Mode.EXCHANGE_TO_CRM:
            return ours
        pushed = {lk.pk: lk.contact_id for lk in gone if lk.contact_id is not None and (
            self.mode == Mode.CRM_TO_EXCHANGE or lk.origin == ContactLink.Origin.CRM)}
        if not pushed:
            return ours
        inside = set(Contact.objects.filter(pk__in=set(pushed.values())).filter(self.scope)
                     .values_list("pk", flat=True))
        return ours | {pk for pk, contact_id in pushed.items() if contact_id not in inside}

    def _needs_fetch(self, change: Change, link: ContactLink | None) -> bool:
        if change.org_stamp and change.org_stamp != self.org_id:
            if link is None or link.contact_id is not None:
                self._other_org(change.id, change.org_stamp, link)
            return False
        if link is None:
            # Unlinked: imported (Exchange to CRM, Both) or healed/matched (CRM to Exchange).
            return True
        if link.contact_id is None or link.state == ContactLink.State.DETACHED:
            return False  # deleted in the CRM: the push removes the Exchange copy
        if self.cursor.full_listing and link.seen_generation != self.cursor.listing_generation:
            # A full listing (another direction, filter or mapping; a lost cursor) reads every
            # item again: after a one-way direction the sides may differ where the
            # destination kept its own edits, and the next merge must see them.
            return True
        # Same change key and snapshot of the same fields: our own write, or nothing new.
        return not (
            link.change_key == change.change_key and set(link.snapshot) == set(self.mapping)
        )

    def _other_org(self, item_id: str, other: str, link: ContactLink | None) -> None:
        self.errors.add(Entry(
            Kind.OTHER_ORG, Direction.EXCHANGE_TO_CRM,
            f"This Exchange contact is synced by another org (org ID {other}); "
            "it was not imported.",
            "A mailbox must be synced by one org only: remove this user from the sync "
            "configurations of one of the two orgs, then reset the user's sync there.",
            exchange_item_id=item_id, contact_id=link.contact_id if link else None,
        ))

    def _unseen_links(self, page_ids: list[str]) -> list[ContactLink]:
        """At the end of a full listing: linked items it never mentioned are gone."""
        return list(
            self._active_links()
            .filter(exchange_id__isnull=False)
            .exclude(seen_generation=self.cursor.listing_generation)
            .exclude(exchange_id__in=page_ids)
            .select_related("contact__account")
        )

    def _guard(self, gone: list[ContactLink], page: ChangePage) -> None:
        """Refuse to propagate an emptied Salesforce_Sync (vdirsyncer's StorageEmpty)."""
        if self.cursor.linked_count < MASS_DELETE_THRESHOLD and (
            self._live_links() < MASS_DELETE_THRESHOLD
        ):
            return
        if len(gone) < self._live_links() and not page.more:
            return
        if self.transport.count_items(self.folder) == 0:
            self._pause_mass_delete(self._live_links(), "empty")

    def _fetch_and_merge(self, to_fetch: list[Change], links: dict[str, ContactLink],
                         gone: list[ContactLink], writes: PageWrites) -> list[_Work]:
        if not to_fetch:
            return []
        fetched = self.transport.get_items(self.folder, [c.id for c in to_fetch], self.fields)
        self.report.fetched += len(fetched)
        self.progress("fetched", len(fetched))
        items: list[ExchangeItem] = []
        for change, got in zip(to_fetch, fetched, strict=True):
            if isinstance(got, ItemFailure):
                self._fetch_failed(change, got, links.get(change.id), gone)
            else:
                items.append(got)
        works = [self._merge_linked(links[i.id], i) for i in items if i.id in links]
        works += self._first_sight([i for i in items if i.id not in links], writes)
        self._resolve_accounts(works)
        return works

    def _fetch_failed(self, change: Change, failure: ItemFailure, link: ContactLink | None,
                      gone: list[ContactLink]) -> None:
        if failure.kind == ErrorKind.NOT_FOUND:
            if link is not None and link.state != ContactLink.State.DETACHED:
                gone.append(link)
        elif failure.kind in (ErrorKind.TRANSIENT, ErrorKind.THROTTLED):
            raise TransportError(failure.kind, failure.message, item_id=change.id)
        else:
            self._item_rejected(Direction.EXCHANGE_TO_CRM, change.id,
                                link.contact_id if link else None, failure.message)

    def _merge_linked(self, link: ContactLink, item: ExchangeItem) -> _Work:
        contact = link.contact
        assert contact is not None
        crm = m.crm_values(contact, self.mapping)
        exch = m.exchange_values(item.fields, self.mapping)
        result = merge(self._base(link), crm, exch, mode=self.mode or Mode.BOTH, policy=self.policy,
                       crm_modified=contact.updated_at, exchange_modified=item.last_modified)
        return _Work(item, link, contact, result, origin=link.origin, exch=exch,
                     read_at=contact.updated_at)

    def _base(self, link: ContactLink) -> m.Normalized:
        """The link's snapshot, of the fields mapped today (a newly mapped field has none)."""
        if set(link.snapshot) == set(self.mapping):
            return link.snapshot
        return {k: v for k, v in link.snapshot.items() if k in self.mapping}

    def _first_sight(self, items: list[ExchangeItem], writes: PageWrites) -> list[_Work]:
        """Unlinked items: heal by stamp, match, or import (SPEC §4 first sight).

        An item of ours whose stamped CRM contact no longer exists was deleted in the CRM
        while no link recorded it (a Reset Sync, or a crash between our create and its
        link): it is never imported again, and its copy goes to Deleted Items like any other.
        """
        if not items:
            return []
        values = {i.id: m.exchange_values(i.fields, self.mapping) for i in items}
        matcher = Matcher(self.user, self.scope)
        matcher.load((i.crm_stamp, values[i.id]) for i in items)
        importing = self.mode in (Mode.BOTH, Mode.EXCHANGE_TO_CRM)
        works: list[_Work] = []
        for item in items:
            if item.org_stamp == self.org_id and stamped_id(item.crm_stamp) in matcher.deleted:
                writes.tombstones.append((item.id, item.change_key))
                continue
            exch = values[item.id]
            found = matcher.match(item.crm_stamp, exch, in_scope_only=not importing)
            if found is None and not importing:
                continue  # CRM to Exchange: an item of the rep's own, not ours to import
            if not self._room_for(1):  # a match is a new link as much as an import
                self._limit_reached(Direction.EXCHANGE_TO_CRM)
                continue
            contact = found.contact if found else None
            crm = m.crm_values(contact, self.mapping) if contact else dict.fromkeys(self.mapping)
            result = merge(None, crm, exch, mode=self.mode or Mode.BOTH, policy=self.policy,
                           crm_modified=contact.updated_at if contact else None,
                           exchange_modified=item.last_modified)
            # A stamp says "ours", not who made it; an in-scope contact is taken as pushed
            # (it may be removed when it leaves the filters), any other as imported (kept).
            stamped = found is not None and found.contact.pk == stamped_id(item.crm_stamp)
            pushed = not importing or (stamped and found is not None and found.in_scope)
            origin = ContactLink.Origin.CRM if pushed else ContactLink.Origin.EXCHANGE
            self._live = self._live_links() + 1
            works.append(_Work(item, None, contact, result, found, origin, exch=exch,
                               read_at=contact.updated_at if contact else None))
        return works

    def _resolve_accounts(self, works: list[_Work]) -> None:
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

    def _account_outcome(self, work: _Work) -> None:
        """Report an unresolved company name, or settle earlier reports about this item.

        Called inside the page's transaction after the contacts are saved, so the entry
        names the CRM contact even when it was created by this page.
        """
        contact_id = work.contact.pk if work.contact else None
        if work.unresolved:
            self.errors.add(Entry(
                Kind.UNRESOLVED_ACCOUNT, Direction.EXCHANGE_TO_CRM,
                f"No account is named “{work.unresolved}”; the contact was saved without an "
                "account.",
                "Create the account (or correct the company name in Outlook); the contact "
                "is linked to it at its next change.",
                exchange_item_id=work.item.id, contact_id=contact_id,
                detail=work.unresolved.casefold(),
            ))
            return
        if "account_name" not in self.mapping:
            return
        # Both sides now agree on the company (a resolved account, or none at all).
        exch = work.result.exchange_patch.get("account_name", work.exch.get("account_name"))
        if m.same("account_name", exch, work.result.merged.get("account_name")):
            self.errors.account_settled(work.item.id, contact_id)

    def _write_exchange(self, works: list[_Work], writes: PageWrites) -> None:
        """Exchange first (patches, with the stamps they carry); retry stale ones once."""
        for attempt in range(2):
            pending = [(w, u) for w in works if not w.dropped and (u := self._exchange_update(w))]
            if not pending:
                return
            self._before_exchange_write()
            if self._record_conflicts([w for w, _ in pending]):
                with self._transaction():
                    self.errors.flush()  # keep losing values even if we crash below
            results = self.transport.update_items([u for _, u in pending])
            stale: list[_Work] = []
            for (work, update), result in zip(pending, results, strict=True):
                if result.ok:
                    stamps = (self.org_id, update.crm_stamp) if update.crm_stamp else None
                    work.item = _with_change_key(work.item, result.change_key or "", stamps)
                    self.report.exchange_updated += bool(work.result.exchange_patch)
                elif result.error and result.error.kind == ErrorKind.CONFLICT and attempt == 0:
                    stale.append(work)
                elif result.error and result.error.kind == ErrorKind.NOT_FOUND:
                    self._gone_meanwhile(work, writes)  # deleted by the rep since we read it
                else:
                    work.dropped = True
                    if result.error and result.error.kind != ErrorKind.CONFLICT:
                        self._item_rejected(
                            Direction.CRM_TO_EXCHANGE, work.item.id,
                            work.contact.pk if work.contact else None, result.error.message)
            if not stale:
                return
            self._refetch(stale, writes)

    def _gone_meanwhile(self, work: _Work, writes: PageWrites) -> None:
        """The item vanished between our read and our write: unlinked like any delete."""
        work.dropped = True
        if work.link is not None and work.link.state != ContactLink.State.DETACHED:
            writes.detach.append(work.link)

    def _exchange_update(self, work: _Work) -> ItemUpdate | None:
        """The write a merge needs, if any; it carries the stamps when the item lacks them
        (an item linked without a change is stamped after the page: `_stamp_linked`)."""
        patch = work.result.exchange_patch
        if not patch:
            return None
        pk = work.contact.pk if work.contact is not None else None
        stamp = str(pk) if pk and self._unstamped(work.item, pk) else None
        return ItemUpdate(work.item.ref, m.to_exchange(patch, self.mapping), crm_stamp=stamp)

    def _unstamped(self, item: ExchangeItem, contact_pk: int | None) -> bool:
        """Does the item lack our stamps for this CRM contact (None: not saved yet)?"""
        return (contact_pk is None or item.org_stamp != self.org_id
                or item.crm_stamp != str(contact_pk))

    def _refetch(self, stale: list[_Work], writes: PageWrites) -> None:
        """The rep edited these while we merged: read them again and merge again."""
        got = self.transport.get_items(self.folder, [w.item.id for w in stale], self.fields)
        for work, item in zip(stale, got, strict=True):
            if isinstance(item, ItemFailure):
                if item.kind == ErrorKind.NOT_FOUND:
                    self._gone_meanwhile(work, writes)
                else:
                    work.dropped = True
                continue
            if work.link is not None:
                fresh = self._merge_linked(work.link, item)
            else:
                crm = (m.crm_values(work.contact, self.mapping) if work.contact
                       else dict.fromkeys(self.mapping))
                exch = m.exchange_values(item.fields, self.mapping)
                fresh = _Work(item, None, work.contact, merge(
                    None, crm, exch, mode=self.mode or Mode.BOTH, policy=self.policy,
                    crm_modified=work.contact.updated_at if work.contact else None,
                    exchange_modified=item.last_modified),
                    work.candidate, work.origin, exch=exch)
            work.item, work.result, work.exch = fresh.item, fresh.result, fresh.exch
        self._resolve_accounts(stale)

    def _record_conflicts(self, works: list[_Work]) -> bool:
        """The one place merge conflicts reach the error report (SPEC §4: the losing value
        is always kept). Each merge result is recorded once, whichever merge produced it
        (first read, or the re-read after a stale change key); call it before anything that
        may overwrite a losing value. True when entries were added."""
        added = False
        for work in works:
            if work.recorded is work.result:
                continue
            work.recorded = work.result
            added |= self._keep_losing_values(
                work.item.id, work.contact.pk if work.contact else None, work.result)
        return added

    def _commit_page(self, page: ChangePage, works: list[_Work], writes: PageWrites,
                     ids: list[str]) -> None:
        kept = [w for w in works if not w.dropped]
        with self._transaction():
            self._merge_crm_edits_since_read(kept)
            kept = [w for w in kept if not w.dropped]
            now = timezone.now()
            for work in kept:
                self._plan_crm_write(work, writes, now)
            self._record_conflicts(kept)  # those no Exchange write recorded (the CRM loses)
            counts = writes.save(self.user, self.cursor.listing_generation)
            for work in kept:
                self._account_outcome(work)
            if self.cursor.full_listing:
                # Links the page saved carry the generation already: mark the others.
                written = {p.exchange_id for p in writes.links}
                unwritten = [i for i in ids if i not in written]
                if unwritten:
                    ContactLink.objects.filter(user=self.user, exchange_id__in=unwritten).update(
                        seen_generation=self.cursor.listing_generation
                    )
            self.cursor.cursor = page.cursor
            if self.cursor.full_listing and not page.more:
                self.cursor.full_listing = False
            if any(p.needs_stamp for p in writes.links):
                self.cursor.stamps_pending = True  # cleared once stamped (`_stamp_linked`)
            self.cursor.save()
            self.errors.flush()
        for pending in writes.links:
            if not pending.settled:
                continue
            contact = pending.contact
            account = contact.account
            self._pulled[contact.pk] = (contact.updated_at,
                                        account.updated_at if account is not None else None)
        self.report.crm_created += counts.created
        self.report.crm_updated += counts.updated
        self.report.unlinked += counts.detached
        if writes.links or writes.tombstones or counts.detached:
            self._links_committed()
        self.progress("written", counts.created + counts.updated + counts.detached)

    def _merge_crm_edits_since_read(self, works: list[_Work]) -> None:
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
            crm_read = m.crm_values(work.contact, self.mapping)
            work.contact, work.read_at = contact, contact.updated_at
            if self.mode == Mode.CRM_TO_EXCHANGE:
                work.unsettled_snapshot = crm_read
                continue
            holds = {**work.exch, **work.result.exchange_patch}
            # Both ways, the common ancestor of the CRM's edit and of what this page did is
            # the CRM values the page read: what the page took from Exchange then counts as
            # Exchange's change. One-way, the page wrote nothing in Exchange: the link's base.
            base = (crm_read if self.mode == Mode.BOTH else
                    None if work.link is None else self._base(work.link))
            work.unsettled_snapshot = holds
            work.result = merge(base, m.crm_values(contact, self.mapping), holds,
                                mode=self.mode or Mode.BOTH, policy=self.policy,
                                crm_modified=contact.updated_at,
                                exchange_modified=work.item.last_modified)
        if moved:
            self._resolve_accounts(moved)

    def _plan_crm_write(self, work: _Work, writes: PageWrites, now: dt.datetime) -> None:
        result = work.result
        contact = work.contact
        if contact is None:
            contact = Contact(owner=self.user, account=work.account, created_at=now,
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
            snapshot_hash=m.content_hash(snapshot), origin=work.origin,
            reuse_link_id=work.candidate.detached_link_id if work.candidate else None,
            settled=work.unsettled_snapshot is None,
            needs_stamp=self._unstamped(work.item, contact.pk),
        )
        writes.links.append(pending)
        self.errors.item_synced(work.item.id, contact.pk)

    def _stamp_linked(self, writes: PageWrites) -> None:
        """Stamp the items this page linked that do not carry our stamps yet (SPEC §8: every
        item the engine creates or links carries the org ID; the CRM id lets matching find
        it again after a crash or a Reset Sync whatever the rep later changes)."""
        self._stamp([(p.exchange_id, p.change_key, p.contact.pk)
                     for p in writes.links if p.needs_stamp and p.contact.pk])

    def _stamp_leftovers(self) -> None:
        """Links still waiting for their stamps from an earlier cycle (a crash anywhere between
        a page's commit and the end of its stamping, or a refused stamp): stamped first."""
        if not self.cursor.stamps_pending:
            return
        pending = self._awaiting_stamps().values_list("exchange_id", "change_key", "contact_id")
        self._stamp([(i or "", k, c) for i, k, c in pending if c])

    def _awaiting_stamps(self) -> QuerySet[ContactLink]:
        """Linked items that do not carry our stamps yet: the links' flags are the truth,
        `FolderCursor.stamps_pending` only spares a quiet cycle the query."""
        return self._active_links().filter(needs_stamp=True, contact__isnull=False,
                                           exchange_id__isnull=False)

    def _stamp(self, todo: list[tuple[str, str, int]]) -> None:
        """Write our stamps on (item id, change key, CRM id), a chunk at a time: each chunk's
        new change keys, and that its links are stamped, in one transaction. A refused stamp
        (the rep edited the item meanwhile, or it is gone) leaves its link waiting: the
        listing shows that change, and the stamps go with the page or write it leads to, or
        the next cycle stamps it."""
        for start in range(0, len(todo), self.chunk_size):
            chunk = todo[start : start + self.chunk_size]
            self._before_exchange_write()
            results = self.transport.update_items([
                ItemUpdate(ItemRef(item_id, key), {}, crm_stamp=str(contact_id))
                for item_id, key, contact_id in chunk
            ])
            self.checkpoint("stamps_written")
            keys = {item_id: r.change_key for (item_id, _, _), r in
                    zip(chunk, results, strict=True) if r.ok and r.change_key}
            with self._transaction():
                _set_change_keys(self.user.pk, keys)
            self.checkpoint("stamped")
        self._stamps_settled()

    def _stamps_settled(self) -> None:
        """Clear `stamps_pending` once no link waits for its stamps (never on the word of a
        chunk: a crash in a later chunk would leave its links unstamped for good)."""
        if self.cursor.stamps_pending and not self._awaiting_stamps().exists():
            self.ensure_claimed()
            self.cursor.stamps_pending = False
            FolderCursor.objects.filter(pk=self.cursor.pk).update(stamps_pending=False)

def _set_change_keys(user_id: int, keys: dict[str, str]) -> None:
    """New change keys of the user's links, by item id, now stamped, in one executemany.

    (A bulk_update builds a CASE expression per row in Python: measured here, 0.15 s per
    page of 512 on SQLite, more than the stamping requests themselves.)
    """
    meta = ContactLink._meta
    quote = connection.ops.quote_name
    table = quote(meta.db_table)

    def col(name: str) -> str:
        field = meta.get_field(name)
        assert isinstance(field, Field) and field.column
        return quote(field.column)

    sql = (f"UPDATE {table} SET {col('change_key')} = %s, {col('needs_stamp')} = %s "
           f"WHERE {col('user')} = %s AND {col('exchange_id')} = %s")
    with connection.cursor() as cursor:
        cursor.executemany(sql, [(key, False, user_id, item_id) for item_id, key in keys.items()])
