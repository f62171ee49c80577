"""Salesforce_Sync as a contact cycle keeps it safe (SPEC §4): where it is before anything is
written into it, a fresh one when the rep deleted it, and never emptied by accident (the
mass-delete guard, vdirsyncer's StorageEmpty).
"""

from __future__ import annotations

from django.utils import timezone

from lightningsync.models import ContactLink, FolderCursor, UserSyncState

from ..errorlog import Direction, Entry, Kind
from ..transports.protocol import ChangePage, FolderKind, FolderRef
from .state import (
    FOLDER_CHECK_INTERVAL,
    MASS_DELETE_THRESHOLD,
    ContactCycle,
    ContactSyncPaused,
    FolderReplaced,
)


def open_folder(cycle: ContactCycle, fingerprint: str) -> None:
    """Find (or create) Salesforce_Sync and its cursor; a new `fingerprint` of what the sync
    depends on starts a full listing."""
    cursor = FolderCursor.objects.filter(user=cycle.user, kind=FolderKind.CONTACTS).first()
    if cursor is None:
        folder = cycle.transport.ensure_contact_folder()
        cycle.report.folder_created = folder.created
        cursor = FolderCursor.objects.create(
            user=cycle.user, kind=FolderKind.CONTACTS, folder_id=folder.id,
            folder_checked_at=timezone.now(),
        )
        cycle.folder_checked = True
    cycle.cursor = cursor
    cycle.folder = FolderRef(FolderKind.CONTACTS, cursor.folder_id)
    if fingerprint != cycle.state.contacts_config_fingerprint:
        # Another direction, filter or mapping: list every item again and examine every
        # CRM contact, matching what is already linked.
        with cycle.transaction():
            cycle.start_full_listing()
            cycle.cursor.save()
            cycle.state.contacts_config_fingerprint = fingerprint
            cycle.state.contacts_crm_watermark = None
            UserSyncState.objects.filter(pk=cycle.state.pk).update(
                contacts_config_fingerprint=fingerprint, contacts_crm_watermark=None
            )
    checked = cycle.cursor.folder_checked_at
    if not cycle.folder_checked and (
        checked is None or timezone.now() - checked >= FOLDER_CHECK_INTERVAL
    ):
        check_folder(cycle)


def check_folder(cycle: ContactCycle) -> bool:
    """Salesforce_Sync still directly under Contacts? Else the guard, or a fresh folder.

    Outlook deletes a folder by moving it (same id, items inside) under Deleted Items;
    its own listing then shows no change at all, so only asking tells. True when the
    folder was replaced by a fresh one.
    """
    cycle.folder_checked = True
    if cycle.transport.folder_is_in_place(cycle.folder):
        cycle.ensure_claimed()
        cycle.cursor.folder_checked_at = timezone.now()
        FolderCursor.objects.filter(pk=cycle.cursor.pk).update(
            folder_checked_at=cycle.cursor.folder_checked_at
        )
        return False
    folder_missing(cycle)
    return True


def before_exchange_write(cycle: ContactCycle) -> None:
    """Every write to Exchange: only under the user's claim, and never into a
    Salesforce_Sync the rep deleted (checked once per cycle)."""
    cycle.ensure_claimed()
    if not cycle.folder_checked and check_folder(cycle):
        raise FolderReplaced


def folder_missing(cycle: ContactCycle) -> None:
    """Salesforce_Sync vanished: the guard, or a fresh folder and a clean slate."""
    live = cycle.live_links()
    if max(live, cycle.cursor.linked_count) >= MASS_DELETE_THRESHOLD:
        pause_mass_delete(cycle, live, "missing")
    folder = cycle.transport.ensure_contact_folder()
    cycle.report.folder_created = folder.created
    links = list(cycle.active_links().filter(exchange_id__isnull=False))
    with cycle.transaction():
        cycle.report.unlinked += cycle.detach(links)
        cycle.cursor.folder_id = folder.id
        cycle.cursor.cursor = ""
        cycle.cursor.full_listing = False
        cycle.cursor.folder_checked_at = timezone.now()
        cycle.cursor.save()
    cycle.folder = FolderRef(FolderKind.CONTACTS, folder.id)
    cycle.folder_checked = True
    cycle.links_committed()


def guard(cycle: ContactCycle, gone: list[ContactLink], page: ChangePage) -> None:
    """Refuse to propagate an emptied Salesforce_Sync (vdirsyncer's StorageEmpty)."""
    if cycle.cursor.linked_count < MASS_DELETE_THRESHOLD and (
        cycle.live_links() < MASS_DELETE_THRESHOLD
    ):
        return
    if len(gone) < cycle.live_links() and not page.more:
        return
    if cycle.transport.count_items(cycle.folder) == 0:
        pause_mass_delete(cycle, cycle.live_links(), "empty")


def pause_mass_delete(cycle: ContactCycle, linked: int, how: str) -> None:
    message = (
        f"Salesforce_Sync was found {how} although it held {linked} synced contacts. "
        "Nothing was changed in the CRM and contact sync is paused for this user."
    )
    now = timezone.now()
    with cycle.transaction():
        UserSyncState.objects.filter(pk=cycle.state.pk).update(
            contacts_paused_reason=UserSyncState.PauseReason.MASS_DELETE,
            contacts_paused_message=message, contacts_paused_at=now,
        )
        # Filed as the deletes it stopped: Exchange to CRM.
        cycle.errors.add(Entry(
            Kind.MASS_DELETE, Direction.EXCHANGE_TO_CRM, message,
            "Ask the user whether the contacts were removed on purpose, then reset the "
            "user's sync (Lightning Sync Status → Reset Sync): that resumes contact sync "
            "and puts back every contact the configuration syncs to this user, so narrow "
            "the configuration's filters first if they should stay out.",
            detail="mass-delete",
        ))
        cycle.errors.flush()
    cycle.state.contacts_paused_reason = UserSyncState.PauseReason.MASS_DELETE
    cycle.state.contacts_paused_message = message
    raise ContactSyncPaused(message)
