"""Contact sync for one user (SPEC §4): Salesforce_Sync ⇄ the CRM's contacts.

A cycle has two phases. The *pull* walks Exchange's change listing page by page: each page's
CRM writes, links, error entries and the cursor after it are committed in one transaction,
so a crash resumes at the first unfinished page. The *push* walks the CRM contacts changed
since the last cycle (or all, after a configuration change or reset) in chunks and brings
Exchange up to date. Exchange writes always happen before the transaction that records
them; a crash in between is healed on resume: updates are recognised because the item then
already holds the merged values, creates because they carry the CRM id stamp.

Both phases run in every direction: a one-way direction mirrors its source onto the other
side (see `merge`); the direction only decides who wins and who may be created or removed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from lightningsync.contactfilters import filter_q
from lightningsync.models import (
    Account,
    Contact,
    ContactLink,
    FolderCursor,
    SyncConfiguration,
    User,
    UserSyncState,
)

from . import mapping as m
from .contact_writes import PageWrites, PendingLink
from .errorlog import Direction, Entry, ErrorLog, Kind
from .matching import Candidate, Matcher, resolve_accounts, scope_annotation
from .merge import MergeResult, Mode, Policy, merge
from .transport import (
    Change,
    ChangeKind,
    ChangePage,
    ErrorKind,
    ExchangeItem,
    FolderKind,
    FolderRef,
    ItemFailure,
    ItemRef,
    ItemUpdate,
    MailboxTransport,
    NewItem,
    TransportError,
)

MASS_DELETE_THRESHOLD = 20
MAX_SYNCED_CONTACTS = 50_000
# CRM changes are looked for from a little before the last cycle started: a transaction
# that saved a contact before that moment may have committed after it.
WATERMARK_MARGIN = dt.timedelta(minutes=5)
PUSH_CHUNK = 200

Checkpoint = Callable[[str], None]
Progress = Callable[[str, int], None]


class ContactSyncPaused(Exception):
    """The mass-delete guard stopped the cycle; the user's contact sync is now paused."""


@dataclass
class ContactReport:
    listed: int = 0
    fetched: int = 0
    crm_created: int = 0
    crm_updated: int = 0
    exchange_created: int = 0
    exchange_updated: int = 0
    exchange_deleted: int = 0
    unlinked: int = 0
    conflicts: int = 0
    errors: int = 0
    skipped: str = ""
    folder_created: bool = False

    @property
    def written(self) -> int:
        return (self.crm_created + self.crm_updated + self.exchange_created
                + self.exchange_updated + self.exchange_deleted + self.unlinked)


@dataclass
class _Work:
    """One item's outcome within a page, before anything is written."""

    item: ExchangeItem
    link: ContactLink | None
    contact: Contact | None  # None: a CRM contact is to be created
    result: MergeResult
    candidate: Candidate | None = None
    origin: str = ContactLink.Origin.EXCHANGE
    dropped: bool = field(default=False)
    account: Account | None = None  # the resolved account, when account_name is patched


def config_fingerprint(config: SyncConfiguration, filters: list[tuple[str, str, str]]) -> str:
    """What the contact sync depends on; when it changes, both sides are examined again."""
    blob = json.dumps(
        [config.contacts_direction, config.contacts_ownership, config.conflict_policy,
         sorted(config.effective_contact_mapping().items()), filters],
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


class ContactSync:
    """One contact sync cycle of one user. Build it, call `run()` once."""

    def __init__(
        self,
        *,
        user: User,
        config: SyncConfiguration,
        state: UserSyncState,
        org_id: str,
        transport: MailboxTransport,
        errors: ErrorLog | None = None,
        checkpoint: Checkpoint | None = None,
        progress: Progress | None = None,
        page_size: int = 512,
        limit: int | None = None,
    ) -> None:
        self.user = user
        self.config = config
        self.state = state
        self.org_id = org_id
        self.transport = transport
        self.errors = errors or ErrorLog(user)
        self.checkpoint = checkpoint or (lambda step: None)
        self.progress = progress or (lambda what, n: None)
        self.page_size = page_size
        self.limit = MAX_SYNCED_CONTACTS if limit is None else limit
        self.mode = Mode(config.contacts_direction) if config.contacts_direction != "none" else None
        self.policy = Policy(config.conflict_policy)
        self.mapping = config.effective_contact_mapping()
        self.fields = m.exchange_field_names(self.mapping)
        self.direction = Direction(config.contacts_direction) if self.mode else Direction.BOTH
        self.report = ContactReport()
        self.cursor: FolderCursor
        self.folder: FolderRef
        self.scope: Q | None = None
        self._live: int | None = None

    # --- the cycle ------------------------------------------------------------------------
    def run(self) -> ContactReport:
        if self.mode is None:
            self.report.skipped = "Contacts are not synced (direction: Don't sync)."
            return self.report
        if self.state.contacts_paused_reason:
            self.report.skipped = f"Contact sync is paused: {self.state.contacts_paused_message}"
            return self.report
        filters = list(
            self.config.contact_filters.order_by("position", "id").values_list(
                "field", "operator", "value"
            )
        )
        self.scope = self._scope(filters)
        self._open_folder(config_fingerprint(self.config, filters))
        try:
            self._pull()
            self._push()
            if self.report.exchange_created:
                # List our own creates now (they are skipped as ours): a listing that starts
                # before them would fold "created, then deleted by the rep" into nothing.
                self._pull()
        except ContactSyncPaused as paused:
            self.report.skipped = str(paused)
            return self.report
        self._finish()
        return self.report

    def _scope(self, filters: list[tuple[str, str, str]]) -> Q | None:
        """Which CRM contacts go to Exchange (ownership + field filters), or None for all."""
        ownership = self.config.contacts_ownership
        if ownership == SyncConfiguration.Ownership.SELECTED:
            raise TransportError(
                ErrorKind.CONFIGURATION,
                "The configuration selects contacts without the user's records: "
                "nothing could sync. Choose “User's records” or “All contacts”.",
            )
        q = Q(owner=self.user) if ownership == SyncConfiguration.Ownership.USERS_RECORDS else Q()
        q &= filter_q(filters)
        return q if q else None

    def _open_folder(self, fingerprint: str) -> None:
        cursor = FolderCursor.objects.filter(user=self.user, kind=FolderKind.CONTACTS).first()
        if cursor is None:
            folder = self.transport.ensure_contact_folder()
            self.report.folder_created = folder.created
            cursor = FolderCursor.objects.create(
                user=self.user, kind=FolderKind.CONTACTS, folder_id=folder.id
            )
        self.cursor = cursor
        self.folder = FolderRef(FolderKind.CONTACTS, cursor.folder_id)
        if fingerprint != self.state.contacts_config_fingerprint:
            # Another direction, filter or mapping: list every item again and examine every
            # CRM contact, matching what is already linked.
            with transaction.atomic():
                self._start_full_listing()
                self.cursor.save()
                self.state.contacts_config_fingerprint = fingerprint
                self.state.contacts_crm_watermark = None
                UserSyncState.objects.filter(pk=self.state.pk).update(
                    contacts_config_fingerprint=fingerprint, contacts_crm_watermark=None
                )

    def _start_full_listing(self) -> None:
        self.cursor.cursor = ""
        self.cursor.full_listing = True
        self.cursor.listing_generation += 1

    def _finish(self) -> None:
        changed = self.report.written or self._live is not None
        if changed:
            self._live = None  # count afresh: the guard of the next cycle relies on it
            self.cursor.linked_count = self._live_links()
        if changed or not self.state.contacts_initial_sync_done:
            FolderCursor.objects.filter(pk=self.cursor.pk).update(
                linked_count=self.cursor.linked_count
            )
        self.state.contacts_initial_sync_done = True

    # --- pull: Exchange's change listing -----------------------------------------------------
    def _pull(self) -> None:
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
            yield page

    def _folder_missing(self) -> None:
        """Salesforce_Sync vanished: the guard, or a fresh folder and a clean slate."""
        live = self._live_links()
        if max(live, self.cursor.linked_count) >= MASS_DELETE_THRESHOLD:
            self._pause_mass_delete(live, "missing")
        folder = self.transport.ensure_contact_folder()
        self.report.folder_created = folder.created
        links = list(self._active_links().filter(exchange_id__isnull=False))
        with transaction.atomic():
            self._detach(links)
            self.cursor.folder_id = folder.id
            self.cursor.cursor = ""
            self.cursor.full_listing = False
            self.cursor.save()
        self.folder = FolderRef(FolderKind.CONTACTS, folder.id)

    def _apply_page(self, page: ChangePage) -> None:
        self.checkpoint("page_listed")
        if not page.changes and not (self.cursor.full_listing and not page.more):
            if page.cursor != self.cursor.cursor:  # nothing to apply: just move on
                self.cursor.cursor = page.cursor
                FolderCursor.objects.filter(pk=self.cursor.pk).update(cursor=page.cursor)
            return
        self.report.listed += len(page.changes)
        self.progress("listed", len(page.changes))
        ids = [c.id for c in page.changes]
        links: dict[str, ContactLink] = {
            link.exchange_id or "": link
            for link in ContactLink.objects.filter(user=self.user, exchange_id__in=ids)
            .select_related("contact__account")
        } if ids else {}
        writes = PageWrites()
        to_fetch: list[Change] = []
        gone: list[ContactLink] = []
        for change in page.changes:
            link = links.get(change.id)
            if change.kind == ChangeKind.DELETE:
                if link is not None and link.state == ContactLink.State.ACTIVE:
                    gone.append(link)
            elif self._needs_fetch(change, link):
                to_fetch.append(change)
        if self.cursor.full_listing and not page.more:
            gone += self._unseen_links(ids)
        if gone:
            self._guard(gone, page)
        works = self._fetch_and_merge(to_fetch, links, gone)
        self._write_exchange(works, writes)
        self.checkpoint("exchange_written")
        for link in gone:
            writes.detach.append(link)
        self._commit_page(page, works, writes, ids)
        self.checkpoint("page_committed")
        self._stamp_new(writes)

    def _needs_fetch(self, change: Change, link: ContactLink | None) -> bool:
        if change.org_stamp and change.org_stamp != self.org_id:
            if link is None or link.contact_id is not None:
                self._other_org(change.id, change.org_stamp, link)
            return False
        if link is None:
            # Unlinked: imported (Exchange to CRM, Both) or healed/matched (CRM to Exchange).
            return True
        if link.contact_id is None or link.state != ContactLink.State.ACTIVE:
            return False  # deleted in the CRM: the push removes the Exchange copy
        # Same change key and snapshot of the same fields: our own write, or nothing new.
        return not (
            link.change_key == change.change_key and set(link.snapshot) == set(self.mapping)
        )

    def _other_org(self, item_id: str, other: str, link: ContactLink | None) -> None:
        self.errors.add(Entry(
            Kind.OTHER_ORG, self.direction,
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

    def _pause_mass_delete(self, linked: int, how: str) -> None:
        message = (
            f"Salesforce_Sync was found {how} although it held {linked} synced contacts. "
            "Nothing was changed in the CRM and contact sync is paused for this user."
        )
        now = timezone.now()
        with transaction.atomic():
            UserSyncState.objects.filter(pk=self.state.pk).update(
                contacts_paused_reason=UserSyncState.PauseReason.MASS_DELETE,
                contacts_paused_message=message, contacts_paused_at=now,
            )
            self.errors.add(Entry(
                Kind.LIMIT, self.direction, message,
                "If the contacts were removed on purpose, reset the user's sync (Lightning "
                "Sync Status → Reset Sync); otherwise restore them from Deleted Items first.",
                detail="mass-delete",
            ))
            self.errors.flush()
        self.state.contacts_paused_reason = UserSyncState.PauseReason.MASS_DELETE
        self.state.contacts_paused_message = message
        raise ContactSyncPaused(message)

    def _fetch_and_merge(self, to_fetch: list[Change], links: dict[str, ContactLink],
                         gone: list[ContactLink]) -> list[_Work]:
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
        works += self._first_sight([i for i in items if i.id not in links])
        self._resolve_accounts(works)
        return works

    def _fetch_failed(self, change: Change, failure: ItemFailure, link: ContactLink | None,
                      gone: list[ContactLink]) -> None:
        if failure.kind == ErrorKind.NOT_FOUND:
            if link is not None and link.state == ContactLink.State.ACTIVE:
                gone.append(link)
        elif failure.kind in (ErrorKind.TRANSIENT, ErrorKind.THROTTLED):
            raise TransportError(failure.kind, failure.message, item_id=change.id)
        else:
            self._item_rejected(change.id, link.contact_id if link else None, failure.message)

    def _item_rejected(self, item_id: str | None, contact_id: int | None, message: str) -> None:
        self.errors.add(Entry(
            Kind.ITEM_REJECTED, self.direction, message,
            "Correct the record on either side; it syncs again at its next change.",
            exchange_item_id=item_id or "", contact_id=contact_id,
        ))

    def _merge_linked(self, link: ContactLink, item: ExchangeItem) -> _Work:
        contact = link.contact
        assert contact is not None
        crm = m.crm_values(contact, self.mapping)
        exch = m.exchange_values(item.fields, self.mapping)
        base = link.snapshot if set(link.snapshot) == set(self.mapping) else {
            k: v for k, v in link.snapshot.items() if k in self.mapping
        }
        result = merge(base, crm, exch, mode=self.mode or Mode.BOTH, policy=self.policy,
                       crm_modified=contact.updated_at, exchange_modified=item.last_modified)
        return _Work(item, link, contact, result, origin=link.origin)

    def _first_sight(self, items: list[ExchangeItem]) -> list[_Work]:
        """Unlinked items: heal by stamp, match, or import (SPEC §4 first sight)."""
        if not items:
            return []
        values = {i.id: m.exchange_values(i.fields, self.mapping) for i in items}
        matcher = Matcher(self.user, self.scope)
        matcher.load((i.crm_stamp, values[i.id]) for i in items)
        importing = self.mode in (Mode.BOTH, Mode.EXCHANGE_TO_CRM)
        works: list[_Work] = []
        for item in items:
            exch = values[item.id]
            found = matcher.match(item.crm_stamp, exch, in_scope_only=not importing)
            if found is None and not importing:
                continue  # CRM to Exchange: an item of the rep's own, not ours to import
            if found is None and not self._room_for(1):
                self._limit_reached(item.id)
                continue
            contact = found.contact if found else None
            crm = m.crm_values(contact, self.mapping) if contact else dict.fromkeys(self.mapping)
            result = merge(None, crm, exch, mode=self.mode or Mode.BOTH, policy=self.policy,
                           crm_modified=contact.updated_at if contact else None,
                           exchange_modified=item.last_modified)
            # A stamp says "ours", not who made it; an in-scope contact is taken as pushed
            # (it may be removed when it leaves the filters), any other as imported (kept).
            stamped = found is not None and found.contact.pk == _int(item.crm_stamp)
            pushed = not importing or (stamped and found is not None and found.in_scope)
            origin = ContactLink.Origin.CRM if pushed else ContactLink.Origin.EXCHANGE
            if found is None:
                self._live = self._live_links() + 1
            works.append(_Work(item, None, contact, result, found, origin))
        return works

    def _room_for(self, n: int) -> bool:
        return self._live_links() + n <= self.limit

    def _limit_reached(self, item_id: str | None) -> None:
        self.errors.add(Entry(
            Kind.LIMIT, self.direction,
            f"This user already syncs {self._live_links()} contacts, the most allowed "
            f"({self.limit}); new contacts are not added.",
            "Narrow the configuration's contact filters, or remove contacts from the "
            "user's Salesforce_Sync folder.",
            detail="contact-limit",
        ))

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
            if name and account is None:
                self.errors.add(Entry(
                    Kind.UNRESOLVED_ACCOUNT, self.direction,
                    f"No account is named “{name}”; the contact was saved without an account.",
                    "Create the account (or correct the company name in Outlook); the contact "
                    "is linked to it at its next change.",
                    exchange_item_id=work.item.id,
                    contact_id=work.contact.pk if work.contact else None, detail=name.casefold(),
                ))

    # --- writing a page --------------------------------------------------------------------
    def _write_exchange(self, works: list[_Work], writes: PageWrites) -> None:
        """Exchange first (patches, stamps of existing CRM contacts); retry stale ones once."""
        for work in works:
            for conflict in work.result.conflicts:
                self._conflict_entry(work, conflict)
        if any(w.result.conflicts for w in works):
            with transaction.atomic():
                self.errors.flush()  # keep losing values even if we crash below
        for attempt in range(2):
            pending = [(w, u) for w in works if not w.dropped and (u := self._exchange_update(w))]
            if not pending:
                return
            results = self.transport.update_items([u for _, u in pending])
            stale: list[_Work] = []
            for (work, _), result in zip(pending, results, strict=True):
                if result.ok:
                    work.item = _with_change_key(work.item, result.change_key or "")
                    self.report.exchange_updated += bool(work.result.exchange_patch)
                elif result.error and result.error.kind == ErrorKind.CONFLICT and attempt == 0:
                    stale.append(work)
                else:
                    work.dropped = True
                    if result.error and result.error.kind != ErrorKind.CONFLICT:
                        self._item_rejected(work.item.id, work.contact.pk if work.contact
                                            else None, result.error.message)
            if not stale:
                return
            self._refetch(stale)

    def _exchange_update(self, work: _Work) -> ItemUpdate | None:
        patch = work.result.exchange_patch
        stamp = str(work.contact.pk) if work.contact is not None else None
        needs_stamp = stamp is not None and (
            work.item.crm_stamp != stamp or work.item.org_stamp != self.org_id)
        if not patch and not needs_stamp:
            return None
        return ItemUpdate(work.item.ref, m.to_exchange(patch, self.mapping),
                          crm_stamp=stamp if needs_stamp else None)

    def _refetch(self, stale: list[_Work]) -> None:
        """The rep edited these while we merged: read them again and merge again."""
        got = self.transport.get_items(self.folder, [w.item.id for w in stale], self.fields)
        for work, item in zip(stale, got, strict=True):
            if isinstance(item, ItemFailure):
                work.dropped = True
                continue
            if work.link is not None:
                fresh = self._merge_linked(work.link, item)
            else:
                crm = (m.crm_values(work.contact, self.mapping) if work.contact
                       else dict.fromkeys(self.mapping))
                fresh = _Work(item, None, work.contact, merge(
                    None, crm, m.exchange_values(item.fields, self.mapping),
                    mode=self.mode or Mode.BOTH, policy=self.policy), work.candidate,
                    work.origin)
            work.item, work.result = fresh.item, fresh.result
        self._resolve_accounts(stale)

    def _conflict_entry(self, work: _Work, conflict: object) -> None:
        from .merge import Conflict

        assert isinstance(conflict, Conflict)
        self.report.conflicts += 1
        label = m.CONTACTS.crm_fields[conflict.field].label
        loser = "Exchange" if conflict.winner == "crm" else "CRM"
        self.errors.add(Entry(
            Kind.CONFLICT, self.direction,
            f"{label} changed on both sides. Kept {conflict.winner.upper()}'s value "
            f"{_show(conflict.crm_value if conflict.winner == 'crm' else conflict.exchange_value)}"
            f"; {loser}'s value was {_show(conflict.losing_value)}.",
            "If the other value was right, enter it again on either side.",
            exchange_item_id=work.item.id,
            contact_id=work.contact.pk if work.contact else None,
            detail=f"{conflict.field}\x1f{json.dumps(conflict.losing_value, sort_keys=True)}",
        ))

    def _commit_page(self, page: ChangePage, works: list[_Work], writes: PageWrites,
                     ids: list[str]) -> None:
        now = timezone.now()
        for work in works:
            if work.dropped:
                continue
            self._plan_crm_write(work, writes, now)
        with transaction.atomic():
            counts = writes.save(self.user, self.cursor.listing_generation)
            if self.cursor.full_listing and ids:
                ContactLink.objects.filter(user=self.user, exchange_id__in=ids).update(
                    seen_generation=self.cursor.listing_generation
                )
            self.cursor.cursor = page.cursor
            if self.cursor.full_listing and not page.more:
                self.cursor.full_listing = False
            self.cursor.save()
            self.errors.flush()
        self.report.crm_created += counts.created
        self.report.crm_updated += counts.updated
        self.report.unlinked += counts.detached
        if counts.detached:
            self._live = self._live_links() - counts.detached
        self.progress("written", counts.created + counts.updated + counts.detached)

    def _plan_crm_write(self, work: _Work, writes: PageWrites, now: dt.datetime) -> None:
        result = work.result
        contact = work.contact
        if contact is None:
            contact = Contact(owner=self.user, created_at=now)
            m.apply_to_contact(contact, result.merged)
            contact.account = work.account
            contact.updated_at = now
            writes.new_contacts.append(contact)
        elif result.crm_patch:
            changed = m.apply_to_contact(contact, result.crm_patch)
            if "account_name" in result.crm_patch:
                contact.account = work.account
                changed.append("account")
            contact.updated_at = now
            writes.changed_contacts[contact.pk] = (contact, {*changed, "updated_at"})
        snapshot = result.merged
        pending = PendingLink(
            link=work.link, contact=contact, exchange_id=work.item.id,
            change_key=work.item.change_key, snapshot=snapshot,
            snapshot_hash=m.content_hash(snapshot), origin=work.origin,
            pushed_by_filter=work.origin == ContactLink.Origin.CRM,
            reuse_link_id=work.candidate.detached_link_id if work.candidate else None,
            needs_stamp=work.contact is None,
        )
        writes.links.append(pending)
        self.errors.item_synced(work.item.id, contact.pk)

    def _stamp_new(self, writes: PageWrites) -> None:
        """New CRM contacts got their id at commit; stamp it on their Exchange items now."""
        todo = [p for p in writes.links if p.needs_stamp and p.contact.pk]
        if not todo:
            return
        results = self.transport.update_items([
            ItemUpdate(ItemRef(p.exchange_id, p.change_key), {}, crm_stamp=str(p.contact.pk))
            for p in todo
        ])
        updated = []
        for pending, result in zip(todo, results, strict=True):
            if result.ok and result.change_key:
                updated.append((pending.exchange_id, result.change_key))
        with transaction.atomic():
            for exchange_id, change_key in updated:
                ContactLink.objects.filter(user=self.user, exchange_id=exchange_id).update(
                    change_key=change_key
                )
        self.checkpoint("stamped")

    # --- push: CRM changes -------------------------------------------------------------------
    def _push(self) -> None:
        started = timezone.now()
        if self.mode in (Mode.BOTH, Mode.CRM_TO_EXCHANGE):
            self._remove_deleted_in_crm()
        for chunk in self._changed_contacts():
            self._push_chunk(chunk)
        # Saved by the runner with the cycle's outcome (no query of its own).
        self.state.contacts_crm_watermark = started - WATERMARK_MARGIN

    def _remove_deleted_in_crm(self) -> None:
        """A deleted CRM contact's copy goes to Deleted Items (recoverable)."""
        links = list(ContactLink.objects.filter(
            user=self.user, contact__isnull=True, exchange_id__isnull=False,
            state=ContactLink.State.ACTIVE,
        ))
        for start in range(0, len(links), PUSH_CHUNK):
            chunk = links[start : start + PUSH_CHUNK]
            results = self.transport.delete_items(
                [ItemRef(link.exchange_id or "", link.change_key) for link in chunk]
            )
            done = [link.pk for link, r in zip(chunk, results, strict=True) if r.ok]
            for link, r in zip(chunk, results, strict=True):
                if not r.ok and r.error:
                    self._item_rejected(link.exchange_id, None, r.error.message)
            self.checkpoint("exchange_written")
            with transaction.atomic():
                ContactLink.objects.filter(pk__in=done).delete()
                self.errors.flush()
            self.report.exchange_deleted += len(done)
            self._live = self._live_links() - len(done) if done else self._live
            self.checkpoint("push_committed")

    def _changed_contacts(self) -> Iterator[list[Contact]]:
        """CRM contacts to examine, in chunks: changed since the watermark, linked or in scope."""
        linked = ContactLink.objects.filter(user=self.user, contact=OuterRef("pk"))
        qs = Contact.objects.all()
        watermark = self.state.contacts_crm_watermark
        if watermark is not None:
            qs = qs.filter(Q(updated_at__gte=watermark) | Q(account__updated_at__gte=watermark))
        if self.mode == Mode.EXCHANGE_TO_CRM:
            qs = qs.filter(Exists(linked))
        elif self.scope is not None:
            qs = qs.filter(Q(Exists(linked)) | self.scope)
        qs = qs.annotate(in_scope=scope_annotation(self.scope))
        chunk: list[Contact] = []
        for contact in qs.select_related("account").order_by("pk").iterator(PUSH_CHUNK):
            chunk.append(contact)
            if len(chunk) == PUSH_CHUNK:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def _push_chunk(self, contacts: list[Contact]) -> None:
        links = {
            link.contact_id: link
            for link in ContactLink.objects.filter(
                user=self.user, contact_id__in=[c.pk for c in contacts]
            )
        }
        creates: list[Contact] = []
        updates: list[tuple[ContactLink, Contact, MergeResult]] = []
        removals: list[ContactLink] = []
        for contact in contacts:
            link = links.get(contact.pk)
            if link is None:
                if contact.in_scope and self.mode != Mode.EXCHANGE_TO_CRM:  # type: ignore[attr-defined]
                    creates.append(contact)
            elif link.state != ContactLink.State.ACTIVE or not link.exchange_id:
                continue  # removed from Salesforce_Sync by the rep: never pushed back
            elif self._leaves_scope(contact, link):
                removals.append(link)
            else:
                result = self._crm_side_merge(contact, link)
                if result is not None:
                    updates.append((link, contact, result))
        self._push_creates(creates)
        self._push_updates(updates)
        self._push_removals(removals)

    def _leaves_scope(self, contact: Contact, link: ContactLink) -> bool:
        if self.mode == Mode.EXCHANGE_TO_CRM or contact.in_scope:  # type: ignore[attr-defined]
            return False
        return self.mode == Mode.CRM_TO_EXCHANGE or link.origin == ContactLink.Origin.CRM

    def _crm_side_merge(self, contact: Contact, link: ContactLink) -> MergeResult | None:
        crm = m.crm_values(contact, self.mapping)
        if m.content_hash(crm) == link.snapshot_hash:
            return None
        # Exchange holds the snapshot: any Exchange change was applied by the pull above.
        exch = {k: link.snapshot.get(k) for k in self.mapping}
        return merge(link.snapshot, crm, exch, mode=self.mode or Mode.BOTH, policy=self.policy)

    def _push_creates(self, contacts: list[Contact]) -> None:
        if not contacts:
            return
        room = max(0, self.limit - self._live_links())
        if len(contacts) > room:
            self._limit_reached(None)
            contacts = contacts[:room]
        if not contacts:
            return
        values = [m.crm_values(c, self.mapping) for c in contacts]
        results = self.transport.create_items(self.folder, [
            NewItem(str(c.pk), m.to_exchange(v, self.mapping))
            for c, v in zip(contacts, values, strict=True)
        ])
        self.checkpoint("exchange_written")
        new_links = []
        for contact, v, result in zip(contacts, values, results, strict=True):
            if not result.ok or not result.id:
                self._item_rejected(None, contact.pk, result.error.message if result.error
                                    else "Exchange did not create the contact.")
                continue
            new_links.append(ContactLink(
                user=self.user, contact=contact, exchange_id=result.id,
                change_key=result.change_key or "", snapshot=v, snapshot_hash=m.content_hash(v),
                origin=ContactLink.Origin.CRM, pushed_by_filter=True,
                seen_generation=self.cursor.listing_generation,
            ))
            self.errors.item_synced(result.id, contact.pk)
        with transaction.atomic():
            ContactLink.objects.bulk_create(new_links)
            self.errors.flush()
        self.report.exchange_created += len(new_links)
        self._live = self._live_links() + len(new_links)
        self.progress("written", len(new_links))
        self.checkpoint("push_committed")

    def _push_updates(self, updates: list[tuple[ContactLink, Contact, MergeResult]]) -> None:
        if not updates:
            return
        writing = [(lk, c, r) for lk, c, r in updates if r.exchange_patch]
        results = self.transport.update_items([
            ItemUpdate(ItemRef(lk.exchange_id or "", lk.change_key),
                       m.to_exchange(r.exchange_patch, self.mapping))
            for lk, c, r in writing
        ]) if writing else []
        self.checkpoint("exchange_written")
        new_keys: dict[int, str | None] = {}
        gone: list[ContactLink] = []
        for (link, contact, _r), result in zip(writing, results, strict=True):
            if result.ok:
                new_keys[link.pk] = result.change_key or link.change_key
            elif result.error and result.error.kind == ErrorKind.NOT_FOUND:
                gone.append(link)  # deleted by the rep without the listing telling us
            elif result.error and result.error.kind != ErrorKind.CONFLICT:
                self._item_rejected(link.exchange_id, contact.pk, result.error.message)
        changed_links: list[ContactLink] = []
        changed_contacts: list[Contact] = []
        changed_fields: set[str] = {"updated_at"}
        now = timezone.now()
        accounts = resolve_accounts(
            r.crm_patch["account_name"] for _, _, r in updates if r.crm_patch.get("account_name")
        )
        for link, contact, r in updates:
            if r.exchange_patch and link.pk not in new_keys:
                continue  # stale: Exchange changed meanwhile; the next pull merges it
            if r.exchange_patch and new_keys.get(link.pk) is None:
                continue
            if r.exchange_patch:
                link.change_key = new_keys[link.pk] or link.change_key
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
            link.snapshot_hash = m.content_hash(r.merged)
            changed_links.append(link)
            self.errors.item_synced(link.exchange_id, contact.pk)
        with transaction.atomic():
            ContactLink.objects.bulk_update(changed_links, ["change_key", "snapshot",
                                                            "snapshot_hash", "updated_at"])
            if changed_contacts:
                Contact.objects.bulk_update(changed_contacts, sorted(changed_fields))
            self.report.unlinked += self._detach(gone)
            self.errors.flush()
        self.report.exchange_updated += len([1 for lk, c, r in writing if lk.pk in new_keys])
        self.report.crm_updated += len(changed_contacts)
        self.progress("written", len(changed_links))
        self.checkpoint("push_committed")

    def _push_removals(self, links: list[ContactLink]) -> None:
        """Pushed contacts that left the filters leave Salesforce_Sync."""
        if not links:
            return
        results = self.transport.delete_items(
            [ItemRef(lk.exchange_id or "", lk.change_key) for lk in links]
        )
        self.checkpoint("exchange_written")
        done = [lk.pk for lk, r in zip(links, results, strict=True) if r.ok]
        with transaction.atomic():
            ContactLink.objects.filter(pk__in=done).delete()
        self.report.exchange_deleted += len(done)
        self._live = self._live_links() - len(done)
        self.checkpoint("push_committed")

    # --- helpers -----------------------------------------------------------------------------
    def _active_links(self) -> QuerySet[ContactLink]:
        return ContactLink.objects.filter(user=self.user, state=ContactLink.State.ACTIVE)

    def _live_links(self) -> int:
        """Linked Exchange items now (a query the first time, then kept up to date)."""
        if self._live is None:
            self._live = self._active_links().filter(exchange_id__isnull=False).count()
        return self._live

    def _detach(self, links: list[ContactLink]) -> int:
        writes = PageWrites(detach=links)
        return writes.save(self.user, self.cursor.listing_generation).detached


class _ListingRestart(Exception):
    """The listing must start over (cursor dropped, or a new folder)."""


def _with_change_key(item: ExchangeItem, change_key: str) -> ExchangeItem:
    return ExchangeItem(item.id, change_key, item.org_stamp, item.crm_stamp,
                        item.last_modified, item.fields)


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None


def _show(value: object) -> str:
    if value is None:
        return "(empty)"
    if isinstance(value, dict):
        return "“" + ", ".join(str(v) for v in value.values() if v) + "”"
    return f"“{value}”"
