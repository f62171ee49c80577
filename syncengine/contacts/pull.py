"""The pull of a contact sync cycle: Exchange's change listing, page by page (SPEC §4).

Each page's changed items are read and merged (`merging`), the merges' patches written to
Exchange (`patches`), then the page's CRM side, links, entries and cursor committed in one
transaction (`commit`), so a crash resumes at the first unfinished page; items linked without
a write of their own are stamped last (`stamps`).
"""

from __future__ import annotations

from collections.abc import Iterator

from lightningsync.models import Contact, ContactLink, FolderCursor

from ..errorlog import due_refusals, waiting_refusals
from ..mapping.merge import Mode
from ..ownwrites import without_own_writes
from ..transports.protocol import Change, ChangeKind, ChangePage, ErrorKind, TransportError
from .commit import commit_page
from .entries import other_org
from .folder import folder_missing, guard
from .merging import fetch_and_merge
from .patches import write_exchange
from .stamps import stamp_leftovers, stamp_linked, stamps_settled
from .state import ContactCycle, ListingRestart
from .writes import PageWrites


class ContactPull:
    """Exchange → CRM (and the Exchange patches a merge needs), one listing page at a time."""

    def __init__(self, cycle: ContactCycle) -> None:
        self.cycle = cycle

    def pull(self) -> None:
        self.cycle.own_writes = {}
        try:
            stamp_leftovers(self.cycle)
            for _attempt in range(3):
                try:
                    for page in self._pages():
                        self._apply_page(page)
                    stamps_settled(self.cycle)
                    return
                except ListingRestart:
                    self.cycle.own_writes.clear()  # a listing from another cursor
                    continue
        finally:
            self.cycle.own_writes = None

    def _pages(self) -> Iterator[ChangePage]:
        """The listing, with its own failures (invalid cursor, folder gone) handled here."""
        cycle = self.cycle
        pages = cycle.transport.changes(cycle.folder, cycle.cursor.cursor or None, cycle.page_size)
        while True:
            try:
                page = next(pages)
            except StopIteration:
                return
            except TransportError as exc:
                if exc.kind == ErrorKind.INVALID_CURSOR:
                    cycle.start_full_listing()
                    cycle.cursor.save()
                    raise ListingRestart from exc
                if exc.kind == ErrorKind.NOT_FOUND:
                    folder_missing(cycle)
                    raise ListingRestart from exc
                raise
            cycle.report.listed += len(page.changes)
            cycle.progress("listed", len(page.changes))
            # Our own stamps, listed back: nothing to read or write for them.
            yield without_own_writes(page, cycle.own_writes)

    def retry_refused(self) -> None:
        """Linked items Exchange refused to write or read, due for another try (SPEC §9: a
        day after the refusal, or after an admin's Retry): read and merged again as if
        listed as changed. (An unlinked item is never read outside the listing, which alone
        tells that it is still in Salesforce_Sync: it is tried again when it changes.)

        The others wait. When the CRM record of one changes, the push's write finds the item
        changed since its link's change key (the Exchange change the refused write was
        merging) and leaves it to `reread`, which merges both."""
        rows = list(due_refusals(self.cycle.user, self.cycle.started).order_by()
                    .values_list("exchange_item_id", flat=True))
        # Those left untried wait another day (`sync._finish`).
        self.cycle.refusals_due = bool(rows)
        self.reread({item_id for item_id in rows if item_id})

    def reread(self, item_ids: set[str]) -> None:
        """Read these linked items and merge them as if the listing had shown them changed:
        refused items due again, and items the push found changed since their link's change
        key (a change the listing already passed, when the pull's write of it was refused)."""
        ids = sorted(item_ids)
        for start in range(0, len(ids), self.cycle.page_size):
            linked = self.cycle.active_links().filter(
                contact__isnull=False, exchange_id__in=ids[start : start + self.cycle.page_size]
            ).values_list("exchange_id", flat=True)
            changes = [Change(ChangeKind.UPDATE, item_id) for item_id in linked if item_id]
            if changes:  # the cursor stays where the listing left it
                self._apply_page(ChangePage(changes, self.cycle.cursor.cursor, more=True))

    def _apply_page(self, page: ChangePage) -> None:
        self.cycle.checkpoint("page_listed")
        if not page.changes and not (self.cycle.cursor.full_listing and not page.more):
            if page.cursor != self.cycle.cursor.cursor:  # nothing to apply: just move on
                self.cycle.ensure_claimed()
                self.cycle.cursor.cursor = page.cursor
                FolderCursor.objects.filter(pk=self.cycle.cursor.pk).update(cursor=page.cursor)
            return
        ids = [c.id for c in page.changes]
        links: dict[str, ContactLink] = {
            link.exchange_id or "": link
            for link in ContactLink.objects.filter(user=self.cycle.user, exchange_id__in=ids)
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
            self.cycle.ensure_claimed()
            waiting_refusals(self.cycle.user, self.cycle.started).filter(
                exchange_item_id__in=deleted_in_crm).update(next_try_at=self.cycle.started)
        if self.cycle.cursor.full_listing and not page.more:
            gone += self._unseen_links(ids)
        if gone:
            guard(self.cycle, gone, page)
        listed_gone = len(gone)
        works = fetch_and_merge(self.cycle, to_fetch, links, gone, writes)
        if len(gone) > listed_gone:  # listed as changed, found gone by GetItem: guard again
            guard(self.cycle, gone, page)
        write_exchange(self.cycle, works, writes)
        self.cycle.checkpoint("exchange_written")
        removed_by_us = self._removed_by_the_push(gone)
        for link in gone:
            (writes.forget if link.pk in removed_by_us else writes.detach).append(link)
        commit_page(self.cycle, page, works, writes, ids)
        self.cycle.checkpoint("page_committed")
        stamp_linked(self.cycle, writes)

    def _removed_by_the_push(self, gone: list[ContactLink]) -> set[int]:
        """Links of gone items that the push removed or removes anyway: links the push marked
        before its DeleteItem (a crash after it), and pushed contacts now outside the
        filters. Their link is dropped, not detached ("removed by the rep, never pushed
        back"), so that the contact is pushed again when it passes the filters again."""
        ours = {lk.pk for lk in gone if lk.state == ContactLink.State.REMOVING}
        if self.cycle.scope is None or self.cycle.mode == Mode.EXCHANGE_TO_CRM:
            return ours
        pushed = {lk.pk: lk.contact_id for lk in gone if lk.contact_id is not None and (
            self.cycle.mode == Mode.CRM_TO_EXCHANGE or lk.origin == ContactLink.Origin.CRM)}
        if not pushed:
            return ours
        inside = set(Contact.objects.filter(pk__in=set(pushed.values())).filter(self.cycle.scope)
                     .values_list("pk", flat=True))
        return ours | {pk for pk, contact_id in pushed.items() if contact_id not in inside}

    def _needs_fetch(self, change: Change, link: ContactLink | None) -> bool:
        if change.org_stamp and change.org_stamp != self.cycle.org_id:
            if link is None or link.contact_id is not None:
                other_org(self.cycle, change.id, change.org_stamp, link)
            return False
        if link is None:
            # Unlinked: imported (Exchange to CRM, Both) or healed/matched (CRM to Exchange).
            return True
        if link.contact_id is None or link.state == ContactLink.State.DETACHED:
            return False  # deleted in the CRM: the push removes the Exchange copy
        cursor = self.cycle.cursor
        if cursor.full_listing and link.seen_generation != cursor.listing_generation:
            # A full listing (another direction, filter or mapping; a lost cursor) reads every
            # item again: after a one-way direction the sides may differ where the
            # destination kept its own edits, and the next merge must see them.
            return True
        # Same change key and snapshot of the same fields: our own write, or nothing new.
        return not (
            link.change_key == change.change_key and set(link.snapshot) == set(self.cycle.mapping)
        )

    def _unseen_links(self, page_ids: list[str]) -> list[ContactLink]:
        """At the end of a full listing: linked items it never mentioned are gone."""
        return list(
            self.cycle.active_links()
            .filter(exchange_id__isnull=False)
            .exclude(seen_generation=self.cycle.cursor.listing_generation)
            .exclude(exchange_id__in=page_ids)
            .select_related("contact__account")
        )
