"""Retry from the error report (SPEC §9): what an admin's "Retry" does to the chosen rows.

An item Exchange refused is tried again at the user's next cycle; a user paused by an
authentication or configuration error is resumed. Nothing else is retried: connection
failures and throttling retry by themselves with a back-off Exchange may have asked for, a
mass-delete stop needs Reset Sync, and conflicts, unresolved accounts and limits record an
outcome, not a failed attempt. The users concerned are synced at once, after the
transaction that recorded the retry.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from lightningsync.models import LightningSyncError, UserSyncState

from ..tasks import enqueue_users

Kind = LightningSyncError.Kind
PauseReason = UserSyncState.PauseReason

# Pauses a Retry lifts, by the kind of the row that reported them.
_RESUMES: dict[str, tuple[str, ...]] = {
    Kind.AUTHENTICATION: (PauseReason.AUTHENTICATION,),
    Kind.IMPERSONATION: (PauseReason.CONFIGURATION,),
    Kind.FILTER: (PauseReason.CONFIGURATION,),
    Kind.OTHER_ORG: (PauseReason.OTHER_ORG,),
}


@dataclass
class Retried:
    """What a Retry did: items due at the next cycle, users resumed, rows left as they were."""

    items: int = 0
    users_resumed: int = 0
    not_retryable: int = 0
    user_ids: set[int] = field(default_factory=set)


def retry_errors(ids: Iterable[int]) -> Retried:
    """Retry the error report's rows `ids` (unresolved ones; resolved rows are left alone)."""
    now = timezone.now()
    rows = list(LightningSyncError.objects.filter(pk__in=list(ids), resolved=False)
                .values_list("pk", "user_id", "kind"))
    done = Retried()
    items = [pk for pk, _, kind in rows if kind == Kind.ITEM_REJECTED]
    resumes: dict[int, set[str]] = {}
    for _pk, user_id, kind in rows:
        if kind in _RESUMES:
            resumes.setdefault(user_id, set()).update(_RESUMES[kind])
        elif kind != Kind.ITEM_REJECTED:
            done.not_retryable += 1
            continue
        done.user_ids.add(user_id)
    with transaction.atomic():
        done.items = LightningSyncError.objects.filter(pk__in=items).update(next_try_at=now)
        for user_id, reasons in resumes.items():
            done.users_resumed += UserSyncState.objects.filter(
                user_id=user_id, paused_reason__in=reasons
            ).update(paused_reason="", paused_message="", paused_at=None)
        if done.user_ids:
            transaction.on_commit(lambda: enqueue_users(sorted(done.user_ids)))
    return done
