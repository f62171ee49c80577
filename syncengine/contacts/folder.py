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


def open_folder(c: ContactCycle, fingerprint: str) -> None:
    """Find (or create) Salesforce_Sync and its cursor; a new `fingerprint` of what the sync
    depends on starts a full listing."""
    cursor = FolderCursor.objects.filter(user=c.user, kind=FolderKind.CONTACTS).first()
    if cursor is None:
        folder = c.transport.ensure_contact_folder()
        c.report.folder_created = folder.created
        cursor = FolderCursor.objects.create(
            user=c.user, kind=FolderKind.CONTACTS, folder_id=folder.id,
            folder_checked_at=timezone.now(),
        )
        c.folder_checked = True
    c.cursor = cursor
    c.folder = FolderRef(FolderKind.CONTACTS, cursor.folder_id)
    if fingerprint != c.state.contacts_config_fingerprint:
        # Another direction, filter or mapping: list every item again and examine every
        # CRM contact, matching what is already linked.
        with c.transaction():
            c.start_full_listing()
            c.cursor.save()
            c.state.contacts_config_fingerprint = fingerprint
            c.state.contacts_crm_watermark = None
            UserSyncState.objects.filter(pk=c.state.pk).update(
                contacts_config_fingerprint=fingerprint, contacts_crm_watermark=None
            )
    checked = c.cursor.folder_checked_at
    if not c.folder_checked and (
        checked is None or timezone.now() - checked >= FOLDER_CHECK_INTERVAL
    ):
        check_folder(c)


def check_folder(c: ContactCycle) -> bool:
    """Salesforce_Sync still directly under Contacts? Else the guard, or a fresh folder.

    Outlook deletes a folder by moving it (same id, items inside) under Deleted Items;
    its own listing then shows no change at all, so only asking tells. True when the
    folder was replaced by a fresh one.
    """
    c.folder_checked = True
    if c.transport.folder_is_in_place(c.folder):
        c.ensure_claimed()
        c.cursor.folder_checked_at = timezone.now()
        FolderCursor.objects.filter(pk=c.cursor.pk).update(
            folder_checked_at=c.cursor.folder_checked_at
        )
        return False
    folder_missing(c)
    return True


def before_exchange_write(c: ContactCycle) -> None:
    """Every write to Exchange: only under the user's claim, and never into a
    Salesforce_Sync the rep deleted (checked once per cycle)."""
    c.ensure_claimed()
    if not c.folder_checked and check_folder(c):
        raise FolderReplaced


def folder_missing(c: ContactCycle) -> None:
    """Salesforce_Sync vanished: the guard, or a fresh folder and a clean slate."""
    live = c.live_links()
    if max(live, c.cursor.linked_count) >= MASS_DELETE_THRESHOLD:
        pause_mass_delete(c, live, "missing")
    folder = c.transport.ensure_contact_folder()
    c.report.folder_created = folder.created
    links = list(c.active_links().filter(exchange_id__isnull=False))
    with c.transaction():
        c.report.unlinked += c.detach(links)
        c.cursor.folder_id = folder.id
        c.cursor.cursor = ""
        c.cursor.full_listing = False
        c.cursor.folder_checked_at = timezone.now()
        c.cursor.save()
    c.folder = FolderRef(FolderKind.CONTACTS, folder.id)
    c.folder_checked = True
    c.links_committed()


def guard(c: ContactCycle, gone: list[ContactLink], page: ChangePage) -> None:
    """Refuse to propagate an emptied Salesforce_Sync (vdirsyncer's StorageEmpty)."""
    if c.cursor.linked_count < MASS_DELETE_THRESHOLD and (
        c.live_links() < MASS_DELETE_THRESHOLD
    ):
        return
    if len(gone) < c.live_links() and not page.more:
        return
    if c.transport.count_items(c.folder) == 0:
        pause_mass_delete(c, c.live_links(), "empty")


def pause_mass_delete(c: ContactCycle, linked: int, how: str) -> None:
    message = (
        f"Salesforce_Sync was found {how} although it held {linked} synced contacts. "
        "Nothing was changed in the CRM and contact sync is paused for this user."
    )
    now = timezone.now()
    with c.transaction():
        UserSyncState.objects.filter(pk=c.state.pk).update(
            contacts_paused_reason=UserSyncState.PauseReason.MASS_DELETE,
            contacts_paused_message=message, contacts_paused_at=now,
        )
        # Filed as the deletes it stopped: Exchange to CRM.
        c.errors.add(Entry(
            Kind.MASS_DELETE, Direction.EXCHANGE_TO_CRM, message,
            "Ask the user whether the contacts were removed on purpose, then reset the "
            "user's sync (Lightning Sync Status → Reset Sync): that resumes contact sync "
            "and puts back every contact the configuration syncs to this user, so narrow "
            "the configuration's filters first if they should stay out.",
            detail="mass-delete",
        ))
        c.errors.flush()
    c.state.contacts_paused_reason = UserSyncState.PauseReason.MASS_DELETE
    c.state.contacts_paused_message = message
    raise ContactSyncPaused(message)
