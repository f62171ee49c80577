"""Reset Sync (SPEC §10): forget what was synced for a user, never the records themselves.

Marking is immediate and safe while a worker syncs the user; the reset itself (deleting the
user's links and cursors) runs at the start of the user's next cycle, under the user's
claim, so it never pulls state from under a running sync. Matching (SPEC §4) relinks
everything on the initial sync that follows, without duplicates.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from lightningsync.models import ContactLink, FolderCursor, User, UserSyncState


def mark_for_reset(user: User) -> UserSyncState:
    """Status: "Marked for reset". The next cycle performs it."""
    state, _ = UserSyncState.objects.get_or_create(user=user)
    state.reset_state = UserSyncState.ResetState.MARKED
    state.reset_requested_at = timezone.now()
    state.save(update_fields=["reset_state", "reset_requested_at"])
    return state


def perform_reset(state: UserSyncState) -> None:
    """Delete links and cursors, lift pauses; status: "Reset in progress". Call under claim."""
    with transaction.atomic():
        ContactLink.objects.filter(user_id=state.user_id).delete()
        FolderCursor.objects.filter(user_id=state.user_id).delete()
        state.reset_state = UserSyncState.ResetState.IN_PROGRESS
        state.contacts_paused_reason = ""
        state.contacts_paused_message = ""
        state.contacts_paused_at = None
        state.paused_reason = ""
        state.paused_message = ""
        state.paused_at = None
        state.contacts_config_fingerprint = ""
        state.contacts_crm_watermark = None
        state.contacts_initial_sync_done = False
        state.events_initial_sync_done = False
        state.attempts = 0
        state.backoff_until = None
        state.save()


def reset_user(user: User, *, run_now: bool = False) -> UserSyncState:
    """Reset a user's sync; with `run_now`, run the initial sync at once (commands, tasks)."""
    state = mark_for_reset(user)
    if run_now:
        from .runner import sync_user

        sync_user(user.pk)
        state.refresh_from_db()
    return state
