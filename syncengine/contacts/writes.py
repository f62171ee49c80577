"""The CRM side of one page, written in bulk: new and changed contacts, links, detachments.

Collected while a page is planned, saved by `PageWrites.save()` inside the page's
transaction with a constant number of queries whatever the page size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from lightningsync.models import Contact, ContactLink, User

LINK_FIELDS = ["contact", "state", "exchange_id", "change_key", "snapshot", "snapshot_hash",
               "origin", "seen_generation", "needs_stamp", "updated_at"]


@dataclass
class PendingLink:
    link: ContactLink | None  # the existing link, if any
    contact: Contact  # may still lack a pk: saved first
    exchange_id: str
    change_key: str
    snapshot: dict[str, Any]
    snapshot_hash: str
    origin: str
    reuse_link_id: int | None = None  # a detached link of this contact to take over
    settled: bool = True  # the CRM contact holds the snapshot (False: the push has work)
    needs_stamp: bool = False  # the item lacks our stamps: written right after the page


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    detached: int = 0


@dataclass
class PageWrites:
    new_contacts: list[Contact] = field(default_factory=list)
    changed_contacts: dict[int, tuple[Contact, set[str]]] = field(default_factory=dict)
    links: list[PendingLink] = field(default_factory=list)
    detach: list[ContactLink] = field(default_factory=list)
    forget: list[ContactLink] = field(default_factory=list)  # gone, and never to be detached
    # (item id, change key) of our items whose CRM contact was deleted: linked to no contact,
    # which is how a pending CRM delete is recorded (the push then removes the copy).
    tombstones: list[tuple[str, str]] = field(default_factory=list)

    def save(self, user: User, generation: int) -> Counts:
        counts = Counts()
        if self.new_contacts:
            Contact.objects.bulk_create(self.new_contacts)
            counts.created = len(self.new_contacts)
        if self.changed_contacts:
            fields = sorted(set().union(*(f for _, f in self.changed_contacts.values())))
            Contact.objects.bulk_update([c for c, _ in self.changed_contacts.values()], fields)
            counts.updated = len(self.changed_contacts)
        self._save_links(user, generation)
        counts.detached = self._detach()
        if self.forget:
            ContactLink.objects.filter(pk__in=[lk.pk for lk in self.forget]).delete()
            counts.detached += len(self.forget)
        return counts

    def _save_links(self, user: User, generation: int) -> None:
        now = timezone.now()
        create: list[ContactLink] = []
        update: list[ContactLink] = []
        for p in self.links:
            if p.link is None:  # built in one go: the bulk of an import's links
                link = ContactLink(
                    pk=p.reuse_link_id, user_id=user.pk, contact_id=p.contact.pk,
                    state=ContactLink.State.ACTIVE, exchange_id=p.exchange_id,
                    change_key=p.change_key, snapshot=p.snapshot, snapshot_hash=p.snapshot_hash,
                    seen_generation=generation, origin=p.origin, needs_stamp=p.needs_stamp,
                )
            else:
                link = p.link
                link.contact = p.contact
                link.state = ContactLink.State.ACTIVE
                link.exchange_id = p.exchange_id
                link.change_key = p.change_key
                link.snapshot = p.snapshot
                link.snapshot_hash = p.snapshot_hash
                link.seen_generation = generation
                link.needs_stamp = p.needs_stamp
            if link.pk:
                # bulk_update writes fields as they are (no auto_now): a detached link taken
                # over by a new ContactLink object has none yet.
                link.updated_at = now
                update.append(link)
            else:
                create.append(link)
        create += [
            ContactLink(user_id=user.pk, contact=None, state=ContactLink.State.ACTIVE,
                        exchange_id=item_id, change_key=change_key, snapshot={},
                        origin=ContactLink.Origin.CRM, seen_generation=generation)
            for item_id, change_key in self.tombstones
        ]
        if update:
            ContactLink.objects.bulk_update(update, LINK_FIELDS)
        if create:
            ContactLink.objects.bulk_create(create)

    def _detach(self) -> int:
        """Deleted or moved out of Salesforce_Sync: keep the CRM contact, never push it back."""
        if not self.detach:
            return 0
        orphans = [lk.pk for lk in self.detach if lk.contact_id is None]
        keep = [lk.pk for lk in self.detach if lk.contact_id is not None]
        if orphans:
            ContactLink.objects.filter(pk__in=orphans).delete()
        if keep:
            ContactLink.objects.filter(pk__in=keep).update(
                state=ContactLink.State.DETACHED, exchange_id=None, change_key=""
            )
        return len(self.detach)
