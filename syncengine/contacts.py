"""Contact sync for one user (SPEC §4): Salesforce_Sync ⇄ the CRM's contacts.

A cycle has two phases. The *pull* walks Exchange's change listing page by page: each page's
CRM writes, links, error entries and the cursor after it are committed in one transaction,
so a crash resumes at the first unfinished page. The *push* walks the CRM contacts changed
since the last cycle (or all, after a configuration change or reset) in chunks and brings
Exchange up to date. Exchange writes always happen before the transaction that records
them; a crash in between is healed on resume: updates are recognised because the item then
already holds the merged values, creates because they carry the CRM id stamp.

Every item the engine creates or links carries two stamps (SPEC §8): the org ID, so that a
second org refuses it, and the CRM id, so that matching finds it again after a crash or a
Reset Sync whatever the rep changes, and so that an item whose CRM contact was deleted is
recognised as such and never imported again. Creates and updates carry them; an item linked
without a write of its own is stamped right after its page commits.

The class is assembled from `ContactPull` (contacts_pull.py) and `ContactPush`
(contacts_push.py), both on `SyncCore` (contacts_base.py: the cycle's state, Salesforce_Sync's
location and the mass-delete guard, link counts, error entries); this module runs the cycle.

Both phases run in every direction. A one-way direction carries what its source changed,
field by field; the other side's own edits stay until the source changes the same field,
and are then kept in a Conflict entry (see `merge`). The direction also decides who may be
created or removed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from django.db.models import Q
from django.utils import timezone

from lightningsync.contactfilters import filter_q
from lightningsync.models import FolderCursor, SyncConfiguration, User, UserSyncState

from . import mapping as m
from .contacts_base import (
    FOLDER_CHECK_INTERVAL,
    MASS_DELETE_THRESHOLD,
    MAX_SYNCED_CONTACTS,
    PUSH_CHUNK,
    WATERMARK_MARGIN,
    Checkpoint,
    ContactReport,
    ContactSyncPaused,
    Progress,
    _FolderReplaced,
)
from .contacts_pull import ContactPull
from .contacts_push import ContactPush
from .errorlog import Direction, Entry, ErrorLog, Kind, PauseUser, postpone_refusals
from .merge import Mode, Policy
from .transport import FolderKind, FolderRef, MailboxTransport

__all__ = [
    "FOLDER_CHECK_INTERVAL", "MASS_DELETE_THRESHOLD", "MAX_SYNCED_CONTACTS", "PUSH_CHUNK",
    "WATERMARK_MARGIN", "Checkpoint", "ContactReport", "ContactSync", "ContactSyncPaused",
    "Progress", "config_fingerprint",
]


def config_fingerprint(config: SyncConfiguration, filters: list[tuple[str, str, str]]) -> str:
    """What the contact sync depends on; when it changes, both sides are examined again."""
    blob = json.dumps(
        [config.contacts_direction, config.contacts_ownership, config.conflict_policy,
         sorted(config.effective_contact_mapping().items()), filters],
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


class ContactSync(ContactPull, ContactPush):
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
        ensure_claimed: Callable[[], None] | None = None,
    ) -> None:
        self.user = user
        self.config = config
        self.state = state
        self.org_id = org_id
        self.transport = transport
        self.errors = errors or ErrorLog(user)
        self.checkpoint = checkpoint or (lambda step: None)
        self.ensure_claimed = ensure_claimed or (lambda: None)
        self.progress = progress or (lambda what, n: None)
        self.page_size = page_size
        self.limit = MAX_SYNCED_CONTACTS if limit is None else limit
        self.mode = Mode(config.contacts_direction) if config.contacts_direction != "none" else None
        self.policy = Policy(config.conflict_policy)
        self.mapping = config.effective_contact_mapping()
        self.fields = m.exchange_field_names(self.mapping)
        self.report = ContactReport()
        self.cursor: FolderCursor
        self.folder: FolderRef
        self.scope: Q | None = None
        # Linked Exchange items: None = count them (one query) when next needed. Only ever
        # a fresh COUNT, or that plus items reserved by this page's imports (never negative).
        self._live: int | None = None
        self._links_changed = False  # links were created, detached or deleted this cycle
        self._folder_checked = False  # seen where it belongs during this cycle
        self._pulled = {}
        self.started = timezone.now()
        self._refusals_due = False
        self._stale = []

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
        try:
            self._open_folder(config_fingerprint(self.config, filters))
            for _attempt in range(2):
                try:
                    self._both_sides()
                    break
                except _FolderReplaced:
                    continue  # a fresh Salesforce_Sync: list it, examine the CRM again
        except ContactSyncPaused as paused:
            self.report.skipped = str(paused)
            return self.report
        self._finish()
        return self.report

    def _both_sides(self) -> None:
        self._pulled = {}
        self._pull()
        self._retry_refused()
        self._stale = []
        self._push()
        if self._stale:
            self._reread(set(self._stale))
        if self.report.exchange_created:
            # One more listing request, only in a cycle that created items: it lists our own
            # creates now (skipped as ours). Without it, the next cycle's listing would start
            # before them, and a create the rep then deletes would fold into nothing: the
            # link would stay active on a vanished item (counted by the mass-delete guard,
            # never unlinked until the CRM contact next changes).
            self._pull()

    def _scope(self, filters: list[tuple[str, str, str]]) -> Q | None:
        """Which CRM contacts go to Exchange (ownership + field filters), or None for all."""
        ownership = self.config.contacts_ownership
        if ownership == SyncConfiguration.Ownership.SELECTED and self.mode != Mode.EXCHANGE_TO_CRM:
            # Refused by the pages and imports (SPEC §3); met here only in older data.
            raise PauseUser(Entry(
                Kind.FILTER, Direction.CRM_TO_EXCHANGE,
                f"The configuration “{self.config.name}” selects contacts without the user's "
                "records, so no contact could be pushed; contact sync is paused.",
                "Edit the configuration's contact filters: choose “Selected contacts: the "
                "user's records” or “All contacts”. Saving the configuration resumes the sync.",
                detail="ownership-selected",
            ))
        q = Q(owner=self.user) if ownership != SyncConfiguration.Ownership.ALL else Q()
        q &= filter_q(filters)
        return q if q else None

    def _open_folder(self, fingerprint: str) -> None:
        cursor = FolderCursor.objects.filter(user=self.user, kind=FolderKind.CONTACTS).first()
        if cursor is None:
            folder = self.transport.ensure_contact_folder()
            self.report.folder_created = folder.created
            cursor = FolderCursor.objects.create(
                user=self.user, kind=FolderKind.CONTACTS, folder_id=folder.id,
                folder_checked_at=timezone.now(),
            )
            self._folder_checked = True
        self.cursor = cursor
        self.folder = FolderRef(FolderKind.CONTACTS, cursor.folder_id)
        if fingerprint != self.state.contacts_config_fingerprint:
            # Another direction, filter or mapping: list every item again and examine every
            # CRM contact, matching what is already linked.
            with self._transaction():
                self._start_full_listing()
                self.cursor.save()
                self.state.contacts_config_fingerprint = fingerprint
                self.state.contacts_crm_watermark = None
                UserSyncState.objects.filter(pk=self.state.pk).update(
                    contacts_config_fingerprint=fingerprint, contacts_crm_watermark=None
                )
        checked = self.cursor.folder_checked_at
        if not self._folder_checked and (
            checked is None or timezone.now() - checked >= FOLDER_CHECK_INTERVAL
        ):
            self._check_folder()

    def _finish(self) -> None:
        changed = self._links_changed
        if changed:
            self._live = None  # count afresh: the guard of the next cycle relies on it
            self.cursor.linked_count = self._live_links()
        if changed or not self.state.contacts_initial_sync_done:
            self.ensure_claimed()
            FolderCursor.objects.filter(pk=self.cursor.pk).update(
                linked_count=self.cursor.linked_count
            )
        if self._refusals_due:
            self.ensure_claimed()
            postpone_refusals(self.user, self.started)
        self.state.contacts_initial_sync_done = True
