"""A user is synced by one worker at a time: a claim with an expiry (a lease).

The claim is a conditional UPDATE (healthchecks' pattern): it succeeds for exactly one
worker, on SQLite and PostgreSQL alike, and needs no transaction held open during the sync
(a cycle talks to Exchange for minutes). A worker that dies keeps the claim until it
expires; the lease is longer than the task time-out, so a live worker never loses it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from lightningsync.models import UserSyncState


def lease() -> dt.timedelta:
    timeout = int(getattr(settings, "Q_CLUSTER", {}).get("timeout", 600))
    return dt.timedelta(seconds=timeout * 2)


def claim(user_id: int, now: dt.datetime | None = None) -> tuple[UserSyncState, str] | None:
    """Claim the user; returns (state with its user, token), or None when another holds it."""
    now = now or timezone.now()
    token = uuid.uuid4().hex
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    claimed = UserSyncState.objects.filter(free, user_id=user_id).update(
        claim_token=token, claimed_until=now + lease(), last_sync_started_at=now
    )
    if not claimed:
        if UserSyncState.objects.filter(user_id=user_id).exists():
            return None
        UserSyncState.objects.get_or_create(user_id=user_id)
        return claim(user_id, now)
    state = UserSyncState.objects.select_related("user").get(user_id=user_id)
    return state, token


def release(state: UserSyncState, token: str, **fields: Any) -> bool:
    """Give the claim back, writing the runner's fields in the same statement."""
    return bool(
        UserSyncState.objects.filter(pk=state.pk, claim_token=token).update(
            claim_token="", claimed_until=None, **fields
        )
    )
