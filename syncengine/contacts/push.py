"""The push of a contact sync cycle: CRM contacts changed since the last cycle (SPEC §4).

Examined in chunks (all of them after a configuration change or a reset): creates, updates
and removals of Salesforce_Sync copies, each chunk's Exchange writes first, then the
transaction that records them.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import QuerySet, Subquery
from django.utils import timezone

from lightningsync.models import Contact, ContactLink

from ..errorlog import Direction, waiting_refusals
from ..mapping import contacts as m
from ..mapping.merge import MergeResult, Mode, merge
from ..mapping.normal import Normalized, content_hash
from ..transports.protocol import (
    ErrorKind,
    ItemFailure,
    ItemRef,
    ItemUpdate,
    NewItem,
    TransportError,
)
from .entries import item_rejected, keep_losing_values, limit_reached
from .examined import examined_keys
from .folder import before_exchange_write
from .matching import resolve_accounts, scope_annotation
from .state import WATERMARK_MARGIN, ContactCycle


class ContactPush:
    """CRM → Exchange (and the CRM side of their merge), one chunk of contacts at a time."""

    def __init__(self, cycle: ContactCycle) -> None:
        self.cycle = cycle

    def push(self) -> None:
        started = timezone.now()
        if self.cycle.mode in (Mode.BOTH, Mode.CRM_TO_EXCHANGE):
            self._remove_deleted_in_crm()
        for chunk in self._changed_contacts():
            self._push_chunk(chunk)
        # Saved by the runner with the cycle's outcome (no query of its own).
        self.cycle.state.contacts_crm_watermark = started - WATERMARK_MARGIN

    def _remove_deleted_in_crm(self) -> None:
        """A deleted CRM contact's copy goes to Deleted Items (recoverable), unless Exchange
        refused its removal and it waits for another try."""
        orphans = ContactLink.objects.filter(
            user=self.cycle.user, contact__isnull=True, exchange_id__isnull=False,
        ).exclude(state=ContactLink.State.DETACHED)
        # Most cycles find none: the refusals they wait on are looked at only when some are
        # found (one short query per cycle instead of one with a subquery).
        if not orphans.exists():
            return
        links = list(orphans.exclude(exchange_id__in=Subquery(
            waiting_refusals(self.cycle.user, self.cycle.started).values("exchange_item_id"))))
        for start in range(0, len(links), self.cycle.chunk_size):
            self._delete_copies(links[start : start + self.cycle.chunk_size])

    def _changed_contacts(self) -> Iterator[list[Contact]]:
        """CRM contacts to examine, in chunks: changed since the watermark, linked or in scope
        (`examined`), without those this cycle's pull has just linked and left unchanged.

        Those have their link's snapshot as CRM values (the pull wrote both), so examining
        them would find nothing to do; after an import that is every contact the push would
        read. Their keys are read first, then only the others in full."""
        pulled = self.cycle.pulled
        keys = examined_keys(self.cycle)
        if not pulled:
            for page in _batched(keys, self.cycle.chunk_size):
                yield self._read(page)
            return
        todo: list[int] = []
        for page in _batched(keys, self.cycle.chunk_size * 10):
            rows = self._in_scope(page).values_list(  # type: ignore[misc]  # annotated
                "pk", "updated_at", "account__updated_at", "in_scope")
            for pk, updated_at, account_updated_at, in_scope in rows:
                if pulled.get(pk) == (updated_at, account_updated_at) and (
                    in_scope or self.cycle.mode == Mode.EXCHANGE_TO_CRM
                ):
                    continue  # in scope (or never removed): nothing to push or remove
                todo.append(pk)
            while len(todo) >= self.cycle.chunk_size:
                yield self._read(todo[: self.cycle.chunk_size])
                todo = todo[self.cycle.chunk_size :]
        if todo:
            yield self._read(todo)

    def _in_scope(self, pks: list[int]) -> QuerySet[Contact]:
        """These contacts, each with `in_scope`: does it pass the configuration's filters?"""
        return Contact.objects.filter(pk__in=pks).annotate(
            in_scope=scope_annotation(self.cycle.scope)).order_by("pk")

    def _read(self, pks: list[int]) -> list[Contact]:
        return list(self._in_scope(pks).select_related("account"))

    def _push_chunk(self, contacts: list[Contact]) -> None:
        links = {
            link.contact_id: link
            for link in ContactLink.objects.filter(
                user=self.cycle.user, contact_id__in=[c.pk for c in contacts]
            )
        }
        creates: list[Contact] = []
        changed: list[tuple[ContactLink, Contact]] = []
        removals: list[ContactLink] = []
        for contact in contacts:
            link = links.get(contact.pk)
            if link is None:
                if contact.in_scope and self.cycle.mode != Mode.EXCHANGE_TO_CRM:  # type: ignore[attr-defined]
                    creates.append(contact)
            elif link.state == ContactLink.State.DETACHED or not link.exchange_id:
                continue  # removed from Salesforce_Sync by the rep: never pushed back
            elif self._leaves_scope(contact, link):
                removals.append(link)
            else:
                if link.state == ContactLink.State.REMOVING:
                    # A removal cut short (crash) and the contact is back in the filters: the
                    # copy is still there, linked again.
                    link.state = ContactLink.State.ACTIVE
                    self.cycle.ensure_claimed()
                    ContactLink.objects.filter(pk=link.pk).update(state=link.state)
                if content_hash(m.crm_values(contact, self.cycle.mapping)) != link.snapshot_hash:
                    changed.append((link, contact))
        self._push_creates(creates)
        self._push_updates(self._crm_side_merges(changed))
        self._push_removals(removals)

    def _leaves_scope(self, contact: Contact, link: ContactLink) -> bool:
        if self.cycle.mode == Mode.EXCHANGE_TO_CRM or contact.in_scope:  # type: ignore[attr-defined]
            return False
        return self.cycle.mode == Mode.CRM_TO_EXCHANGE or link.origin == ContactLink.Origin.CRM

    def _crm_side_merges(self, changed: list[tuple[ContactLink, Contact]]
                         ) -> list[tuple[ContactLink, Contact, MergeResult]]:
        """Merge CRM contacts changed since their snapshot with what Exchange holds.

        Both ways and Exchange to CRM, Exchange holds the snapshot (any Exchange change was
        merged by the pull above). CRM to Exchange, Exchange may hold edits of the rep's own
        that stay until the CRM changes the same field: the items are read, so that such an
        edit is overwritten only where the CRM changed, and kept in a Conflict entry."""
        held = self._exchange_values([lk for lk, _ in changed]) \
            if self.cycle.mode == Mode.CRM_TO_EXCHANGE else {}
        merges = []
        for link, contact in changed:
            if self.cycle.mode == Mode.CRM_TO_EXCHANGE:
                if link.pk not in held:
                    continue  # unreadable now: reported, or gone (the listing tells)
                exch = held[link.pk]
            else:
                exch = {k: link.snapshot.get(k) for k in self.cycle.mapping}
            result = merge(link.snapshot, m.crm_values(contact, self.cycle.mapping), exch,
                           mode=self.cycle.mode, policy=self.cycle.policy)
            if result.crm_patch or result.exchange_patch or result.merged != link.snapshot:
                merges.append((link, contact, result))
        return merges

    def _exchange_values(self, links: list[ContactLink]) -> dict[int, Normalized]:
        """The mapped values the links' items hold now, by link; each link takes its item's
        change key, so that the update that follows is not refused as stale."""
        if not links:
            return {}
        ids = [lk.exchange_id or "" for lk in links]
        got = self.cycle.transport.get_items(self.cycle.folder, ids, self.cycle.fields)
        self.cycle.report.fetched += len(links)
        values: dict[int, Normalized] = {}
        for link, item in zip(links, got, strict=True):
            if isinstance(item, ItemFailure):
                if item.kind in (ErrorKind.TRANSIENT, ErrorKind.THROTTLED):
                    raise TransportError(item.kind, item.message, item_id=item.id)
                if item.kind != ErrorKind.NOT_FOUND:
                    item_rejected(self.cycle, Direction.EXCHANGE_TO_CRM, link.exchange_id,
                                  link.contact_id, item.message)
                continue
            link.change_key = item.change_key
            values[link.pk] = m.exchange_values(item.fields, self.cycle.mapping)
        return values

    def _push_creates(self, contacts: list[Contact]) -> None:
        if not contacts:
            return
        room = max(0, self.cycle.limit - self.cycle.live_links())
        if len(contacts) > room:
            limit_reached(self.cycle, Direction.CRM_TO_EXCHANGE)
            contacts = contacts[:room]
        if not contacts:
            return
        values = [m.crm_values(c, self.cycle.mapping) for c in contacts]
        before_exchange_write(self.cycle)
        results = self.cycle.transport.create_items(self.cycle.folder, [
            NewItem(str(c.pk), m.to_exchange(v, self.cycle.mapping))
            for c, v in zip(contacts, values, strict=True)
        ])
        self.cycle.checkpoint("exchange_written")
        new_links = []
        for contact, v, result in zip(contacts, values, results, strict=True):
            if not result.ok or not result.id:
                error = result.error
                item_rejected(self.cycle, Direction.CRM_TO_EXCHANGE, None, contact.pk,
                              error.message if error else "Exchange did not create the contact.",
                              too_long=error.too_long if error else None)
                continue
            new_links.append(ContactLink(
                user=self.cycle.user, contact=contact, exchange_id=result.id,
                change_key=result.change_key or "", snapshot=v, snapshot_hash=content_hash(v),
                origin=ContactLink.Origin.CRM, seen_generation=self.cycle.cursor.listing_generation,
            ))
            self.cycle.errors.item_synced(result.id, contact.pk)
        with self.cycle.transaction():
            ContactLink.objects.bulk_create(new_links)
            self.cycle.errors.flush()
        self.cycle.report.exchange_created += len(new_links)
        if new_links:
            self.cycle.links_committed()
        self.cycle.progress("written", len(new_links))
        self.cycle.checkpoint("push_committed")

    def _push_updates(self, updates: list[tuple[ContactLink, Contact, MergeResult]]) -> None:
        if not updates:
            return
        writing = [(lk, c, r) for lk, c, r in updates if r.exchange_patch]
        if writing:
            before_exchange_write(self.cycle)
        # Losing values (CRM to Exchange: the rep's own edits the CRM now overwrites) are
        # kept before anything is written.
        if any([keep_losing_values(self.cycle, lk.exchange_id, c.pk, r) for lk, c, r in updates]):
            with self.cycle.transaction():
                self.cycle.errors.flush()
        results = self.cycle.transport.update_items([
            # The stamps ride along (the link does not know whether the item has them yet:
            # an imported item gets them with our first update of it).
            ItemUpdate(ItemRef(lk.exchange_id or "", lk.change_key),
                       m.to_exchange(r.exchange_patch, self.cycle.mapping), crm_stamp=str(c.pk))
            for lk, c, r in writing
        ]) if writing else []
        self.cycle.checkpoint("exchange_written")
        new_keys: dict[int, str | None] = {}
        gone: list[ContactLink] = []
        for (link, contact, _r), result in zip(writing, results, strict=True):
            if result.ok:
                new_keys[link.pk] = result.change_key or link.change_key
            elif result.error and result.error.kind == ErrorKind.NOT_FOUND:
                gone.append(link)  # deleted by the rep without the listing telling us
            elif result.error and result.error.kind == ErrorKind.CONFLICT:
                self.cycle.stale.append(link.exchange_id or "")  # read and merged after the push
            elif result.error:
                item_rejected(self.cycle, Direction.CRM_TO_EXCHANGE, link.exchange_id, contact.pk,
                              result.error.message, too_long=result.error.too_long)
        changed_links: list[ContactLink] = []
        changed_contacts: list[Contact] = []
        changed_fields: set[str] = {"updated_at"}
        now = timezone.now()
        accounts = resolve_accounts(
            r.crm_patch["account_name"] for _, _, r in updates if r.crm_patch.get("account_name")
        )
        for link, contact, r in updates:
            if r.exchange_patch and link.pk not in new_keys:
                continue  # stale: Exchange changed since the link's change key (`cycle.stale`)
            if r.exchange_patch and new_keys.get(link.pk) is None:
                continue
            if r.exchange_patch:
                link.change_key = new_keys[link.pk] or link.change_key
                link.needs_stamp = False  # the update carried the stamps
            if r.crm_patch:
                changed_fields.update(m.apply_to_contact(contact, r.crm_patch))
                if "account_name" in r.crm_patch:
                    name = r.crm_patch["account_name"]
                    contact.account = accounts.get(name.casefold()) if name else None
                    r.merged["account_name"] = contact.account.name if contact.account else None
                    changed_fields.add("account")
                contact.updated_at = now
                changed_contacts.append(contact)
            link.snapshot = r.merged
            link.snapshot_hash = content_hash(r.merged)
            changed_links.append(link)
            self.cycle.errors.item_synced(link.exchange_id, contact.pk)
            if "account_name" in r.exchange_patch:  # Exchange now shows the CRM's account
                self.cycle.errors.account_settled(link.exchange_id, contact.pk)
        with self.cycle.transaction():
            ContactLink.objects.bulk_update(changed_links, ["change_key", "snapshot",
                                                            "snapshot_hash", "needs_stamp",
                                                            "updated_at"])
            if changed_contacts:
                Contact.objects.bulk_update(changed_contacts, sorted(changed_fields))
            self.cycle.report.unlinked += self.cycle.detach(gone)
            if gone:
                self.cycle.links_committed()
            self.cycle.errors.flush()
        self.cycle.report.exchange_updated += len([1 for lk, c, r in writing if lk.pk in new_keys])
        self.cycle.report.crm_updated += len(changed_contacts)
        self.cycle.progress("written", len(changed_links))
        self.cycle.checkpoint("push_committed")

    def _push_removals(self, links: list[ContactLink]) -> None:
        """Pushed contacts that left the filters leave Salesforce_Sync."""
        if links:
            self._delete_copies(links)

    def _delete_copies(self, links: list[ContactLink]) -> None:
        """Move these links' items to Deleted Items and drop the links; refusals are
        reported and wait for their next try (`errorlog.due_refusals`)."""
        before_exchange_write(self.cycle)
        # Marked first: a crash after the DeleteItem leaves the listing to report our own
        # delete, which must not read as the rep's (see ContactPull._removed_by_the_push).
        ContactLink.objects.filter(pk__in=[lk.pk for lk in links]).update(
            state=ContactLink.State.REMOVING)
        results = self.cycle.transport.delete_items(
            [ItemRef(lk.exchange_id or "", lk.change_key) for lk in links]
        )
        self.cycle.checkpoint("exchange_written")
        done = []
        for link, result in zip(links, results, strict=True):
            if result.ok:
                done.append(link.pk)
                self.cycle.errors.item_synced(link.exchange_id, link.contact_id)
            else:
                item_rejected(self.cycle, Direction.CRM_TO_EXCHANGE, link.exchange_id,
                              link.contact_id, result.error.message
                              if result.error else "Exchange did not delete the item.")
        with self.cycle.transaction():
            ContactLink.objects.filter(pk__in=done).delete()
            self.cycle.errors.flush()
        self.cycle.report.exchange_deleted += len(done)
        if done:
            self.cycle.links_committed()
        self.cycle.checkpoint("push_committed")


def _batched(keys: Iterator[int], size: int) -> Iterator[list[int]]:
    batch: list[int] = []
    for key in keys:
        batch.append(key)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
