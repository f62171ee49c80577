"""django-q2 tasks (SPEC §12). Tasks take ids, never objects, and may run twice: the per-user
claim and the cursors make a second run harmless.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django_q.models import Schedule
from django_q.tasks import async_task

from lightningsync.effective import syncing_users

from .cycle.runner import sync_user

SCHEDULE_NAME = "lightningsync: sync every user"
TASK_GROUP = "lightningsync-sync"


def sync_user_task(user_id: int) -> dict[str, Any]:
    report = sync_user(user_id)
    return {"user_id": user_id, "outcome": report.outcome, "summary": report.summary()}


def enqueue_users(user_ids: list[int]) -> int:
    for user_id in user_ids:
        async_task("syncengine.tasks.sync_user_task", user_id, group=TASK_GROUP)
    return len(user_ids)


def enqueue_all_users() -> int:
    """The schedule's job: one task per syncing user."""
    return enqueue_users(sorted(syncing_users()))


def ensure_schedule() -> Schedule:
    """Create or update the periodic schedule (idempotent; run by migrate and at start)."""
    schedule, _ = Schedule.objects.update_or_create(
        name=SCHEDULE_NAME,
        defaults={
            "func": "syncengine.tasks.enqueue_all_users",
            "schedule_type": Schedule.MINUTES,
            "minutes": settings.LIGHTNINGSYNC_SYNC_INTERVAL_MINUTES,
            "repeats": -1,
        },
    )
    return schedule


class _Push:
    """An on-commit callback that enqueues one owner's sync."""

    def __init__(self, owner_id: int) -> None:
        self.owner_id = owner_id

    def __call__(self) -> None:
        async_task("syncengine.tasks.sync_user_task", self.owner_id, group=TASK_GROUP)


def push_after_commit(owner_id: int) -> None:
    """A CRM contact changed: sync its owner once the transaction commits (once per owner)."""
    connection = transaction.get_connection()
    pending = (entry[1] for entry in connection.run_on_commit)
    if not any(isinstance(p, _Push) and p.owner_id == owner_id for p in pending):
        transaction.on_commit(_Push(owner_id))
