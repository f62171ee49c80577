"""Reset Sync (SPEC §10): forget what was synced for a user, never the records themselves, nor
what the rep decided.

Marking is immediate and safe while a worker syncs the user; the reset itself runs at the
start of the user's next cycle that can sync (Lightning Sync on, an active configuration, not
paused, not backing off), under the user's claim, so it never pulls state from under a
running sync. Until then the reset stays "Marked for reset" and the runner records what it
waits for. Matching (SPEC §4) relinks everything on the initial sync that follows, without
duplicates.

Two kinds of links are decisions, not sync state, and survive: a detached link (the rep
removed the contact from Salesforce_Sync: never pushed back) and a link whose CRM contact
was deleted (its Exchange copy still goes to Deleted Items and is never imported again).
So does a link whose CRM event the rep deleted: that calendar item is never imported again.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from lightningsync.models import ContactLink, EventLink, FolderCursor, User, UserSyncState

# Links that record a decision: removed from Salesforce_Sync by the rep, deleted in the CRM.
DECISIONS = Q(state=ContactLink.State.DETACHED, contact__isnull=False) | Q(
    contact__isnull=True, exchange_id__isnull=False
)


def mark_for_reset(user: User) -> UserSyncState:
    """Status: "Marked for reset". The next cycle that can sync performs it."""
    state, _ = UserSyncState.objects.get_or_create(user=user)
    state.reset_state = UserSyncState.ResetState.MARKED
    state.reset_requested_at = timezone.now()
    state.reset_waiting_for = ""
    state.save(update_fields=["reset_state", "reset_requested_at", "reset_waiting_for"])
    return state


def mark_everyone_for_reset() -> int:
    """Every user who has synced: "Marked for reset" (after a connection method change)."""
    return UserSyncState.objects.exclude(
        reset_state=UserSyncState.ResetState.MARKED
    ).update(
        reset_state=UserSyncState.ResetState.MARKED, reset_requested_at=timezone.now(),
        reset_waiting_for="",
    )


def perform_reset(state: UserSyncState) -> None:
    """Delete links (but decisions) and cursors, lift the contact pause; status: "Reset in
    progress" until the cycle completes. Call under the user's claim, once it may sync."""
    state.reset_state = UserSyncState.ResetState.IN_PROGRESS
    state.reset_waiting_for = ""
    state.contacts_paused_reason = ""
    state.contacts_paused_message = ""
    state.contacts_paused_at = None
    state.contacts_config_fingerprint = ""
    state.events_config_fingerprint = ""
    state.contacts_crm_watermark = None
    state.contacts_initial_sync_done = False
    state.events_initial_sync_done = False
    with transaction.atomic():
        ContactLink.objects.filter(user_id=state.user_id).exclude(DECISIONS).delete()
        # An event the rep deleted in the CRM stays deleted (its link, without an event).
        EventLink.objects.filter(user_id=state.user_id, event__isnull=False).delete()
        FolderCursor.objects.filter(user_id=state.user_id).delete()
        # Only these fields: the claim's own (lease, heartbeat) are not ours to overwrite.
        state.save(update_fields=[
            "reset_state", "reset_waiting_for", "contacts_paused_reason",
            "contacts_paused_message", "contacts_paused_at", "contacts_config_fingerprint",
            "events_config_fingerprint",
            "contacts_crm_watermark", "contacts_initial_sync_done", "events_initial_sync_done",
        ])


def finish_reset(state: UserSyncState) -> None:
    """The cycle after the reset completed: the reset is done, unless marked again meanwhile."""
    UserSyncState.objects.filter(
        pk=state.pk, reset_requested_at=state.reset_requested_at,
        reset_state=UserSyncState.ResetState.IN_PROGRESS,
    ).update(reset_state=UserSyncState.ResetState.NONE, reset_waiting_for="")
    state.reset_state = UserSyncState.ResetState.NONE
