"""Contact sync for one user (SPEC §4): Salesforce_Sync ⇄ the CRM's contacts.

A cycle has two phases. The *pull* walks Exchange's change listing page by page: each page's
CRM writes, links, error entries and the cursor after it are committed in one transaction,
so a crash resumes at the first unfinished page. The *push* walks the CRM contacts changed
since the last cycle (or all, after a configuration change or reset) in chunks and brings
Exchange up to date. Exchange writes always happen before the transaction that records
them; a crash in between is healed on resume: updates are recognised because the item then
already holds the merged values, creates because they carry the CRM id stamp (`stamps`).

`ContactSync` runs the cycle: it builds the `ContactCycle` (state.py) the phases share, opens
Salesforce_Sync (folder.py), then runs `ContactPull` (pull.py) and `ContactPush` (push.py).

Both phases run in every direction. A one-way direction carries what its source changed,
field by field; the other side's own edits stay until the source changes the same field,
and are then kept in a Conflict entry (see `mapping.merge`). The direction also decides who
may be created or removed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from django.db.models import Q
from django.utils import timezone

from lightningsync.contactfilters import filter_q
from lightningsync.models import FolderCursor, SyncConfiguration, User, UserSyncState

from ..errorlog import Direction, Entry, ErrorLog, Kind, PauseUser, postpone_refusals
from ..mapping import contacts as m
from ..mapping.merge import Mode, Policy
from ..transports.protocol import MailboxTransport
from .folder import open_folder
from .pull import ContactPull
from .push import ContactPush
from .state import (
    MAX_SYNCED_CONTACTS,
    Checkpoint,
    ContactCycle,
    ContactReport,
    ContactSyncPaused,
    FolderReplaced,
    Progress,
)


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
        self.started = timezone.now()

    def run(self) -> ContactReport:
        config = self.config
        if config.contacts_direction == "none":
            return ContactReport(skipped="Contacts are not synced (direction: Don't sync).")
        if self.state.contacts_paused_reason:
            return ContactReport(
                skipped=f"Contact sync is paused: {self.state.contacts_paused_message}")
        filters = list(config.contact_filters.order_by("position", "id").values_list(
            "field", "operator", "value"))
        mode = Mode(config.contacts_direction)
        mapping = config.effective_contact_mapping()
        cycle = ContactCycle(
            user=self.user, config=config, state=self.state, org_id=self.org_id,
            transport=self.transport, errors=self.errors, checkpoint=self.checkpoint,
            ensure_claimed=self.ensure_claimed, progress=self.progress,
            page_size=self.page_size, limit=self.limit, mode=mode,
            policy=Policy(config.conflict_policy), mapping=mapping,
            fields=m.exchange_field_names(mapping), scope=self._scope(mode, filters),
            started=self.started,
        )
        try:
            open_folder(cycle, config_fingerprint(config, filters))
            for _attempt in range(2):
                try:
                    _both_sides(cycle)
                    break
                except FolderReplaced:
                    continue  # a fresh Salesforce_Sync: list it, examine the CRM again
        except ContactSyncPaused as paused:
            cycle.report.skipped = str(paused)
            return cycle.report
        _finish(cycle)
        return cycle.report

    def _scope(self, mode: Mode, filters: list[tuple[str, str, str]]) -> Q | None:
        """Which CRM contacts go to Exchange (ownership + field filters), or None for all."""
        ownership = self.config.contacts_ownership
        if ownership == SyncConfiguration.Ownership.SELECTED and mode != Mode.EXCHANGE_TO_CRM:
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


def _both_sides(cycle: ContactCycle) -> None:
    pull = ContactPull(cycle)
    cycle.pulled = {}
    pull.pull()
    pull.retry_refused()
    cycle.stale = []
    ContactPush(cycle).push()
    if cycle.stale:
        pull.reread(set(cycle.stale))
    if cycle.report.exchange_created:
        # One more listing request, only in a cycle that created items: it lists our own
        # creates now (skipped as ours). Without it, the next cycle's listing would start
        # before them, and a create the rep then deletes would fold into nothing: the
        # link would stay active on a vanished item (counted by the mass-delete guard,
        # never unlinked until the CRM contact next changes).
        pull.pull()


def _finish(cycle: ContactCycle) -> None:
    changed = cycle.links_changed
    if changed:
        cycle.live = None  # count afresh: the guard of the next cycle relies on it
        cycle.cursor.linked_count = cycle.live_links()
    if changed or not cycle.state.contacts_initial_sync_done:
        cycle.ensure_claimed()
        FolderCursor.objects.filter(pk=cycle.cursor.pk).update(
            linked_count=cycle.cursor.linked_count
        )
    if cycle.refusals_due:
        cycle.ensure_claimed()
        postpone_refusals(cycle.user, cycle.started)
    cycle.state.contacts_initial_sync_done = True
