"""django-q2 tasks (SPEC §12). Tasks take ids, never objects, and may run twice: the per-user
claim and the cursors make a second run harmless.

What the queue costs is paid per task (a broker round trip to enqueue, to hand out and to
acknowledge it, the monitor's bookkeeping, the worker's connection checks), so a task syncs
a batch of users (`LIGHTNINGSYNC_SYNC_BATCH_SIZE`), each under its own claim, one after the
other. A cycle of 10,000 users is then 400 tasks, enqueued through one broker connection
(and, with the database broker, in one transaction). A sync task's result is not stored:
nothing reads it (a user's outcome is on its sync state and in the error report), and
django-q's pruning of stored results locks and reads them all at every save. A task that
fails is stored as django-q's failed tasks are.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.brokers.orm import ORM
from django_q.brokers.redis_broker import Redis
from django_q.conf import Conf
from django_q.models import OrmQ, Schedule
from django_q.tasks import async_task

from lightningsync import statuses
from lightningsync.effective import syncing_users
from lightningsync.models import User

from .cycle.reset import mark_for_reset
from .cycle.runner import sync_user

log = logging.getLogger(__name__)

SCHEDULE_NAME = "lightningsync: sync every user"
TASK_GROUP = "lightningsync-sync"
SYNC_TASK = "syncengine.tasks.sync_users_task"
STATUS_SCHEDULE_NAME = "lightningsync: status snapshot every minute"
RESET_TASK = "syncengine.tasks.reset_user_task"


class BatchFailed(Exception):
    """Some users of a batch could not be synced (the others were): the task fails, naming
    them, and the next cycle tries them again."""


def batch_seconds() -> float:
    """How long a batch keeps starting users: a tenth of the task timeout (60 s by default).
    A batch of long cycles (initial imports) then ends well within Q_TIMEOUT, and the users
    it did not start are enqueued again, for any free worker."""
    timeout = settings.Q_CLUSTER.get("timeout")
    return timeout / 10 if timeout else 60.0


def sync_users_task(user_ids: list[int]) -> None:
    """Sync the users in turn. A user whose cycle raised does not stop the others."""
    deadline = time.monotonic() + batch_seconds()
    tried, failed = 0, []
    for user_id in user_ids:
        if tried and time.monotonic() > deadline:
            enqueue_users(user_ids[tried:])
            break
        tried += 1
        try:
            sync_user(user_id)
        except Exception:
            log.exception("Sync of user %s failed", user_id)
            failed.append(user_id)
    if failed:
        raise BatchFailed(f"{len(failed)} of {tried} users could not be synced "
                          f"(user ids {', '.join(map(str, failed))}); see the worker's log.")


def connection_test_task(run_id: int) -> None:
    """Run a connection test the Setup page started (its steps are saved as they complete)."""
    from .connectiontest import perform

    perform(run_id)


def enqueue_users(user_ids: Iterable[int]) -> int:
    """Enqueue a cycle for each user, in batches; the number of users."""
    ids = list(user_ids)
    size = settings.LIGHTNINGSYNC_SYNC_BATCH_SIZE
    broker = _Packages(get_broker())
    with _one_transaction():
        for start in range(0, len(ids), size):
            async_task(SYNC_TASK, ids[start : start + size], group=TASK_GROUP, save=False,
                       broker=broker)
        broker.push()
    return len(ids)


class _Packages:
    """The broker of one enqueue: django-q builds and signs each task's package as always,
    and they reach the queue together, in one statement (database broker) or one command
    (Redis), instead of one round trip and, with the database, one model save each."""

    def __init__(self, broker: Any) -> None:
        self.broker = broker
        self.list_key = broker.list_key  # django-q logs it
        self.packages: list[str] = []

    def enqueue(self, package: str) -> int:
        self.packages.append(package)
        return len(self.packages)

    def push(self) -> None:
        packages, self.packages = self.packages, []
        if not packages:
            return
        if isinstance(self.broker, ORM):
            key, now = self.broker.list_key or Conf.CLUSTER_NAME, timezone.now()
            self.broker.get_connection().bulk_create(
                [OrmQ(key=key, payload=p, lock=now) for p in packages], batch_size=500)
        elif isinstance(self.broker, Redis):
            self.broker.connection.rpush(self.broker.list_key, *packages)
        else:
            for package in packages:
                self.broker.enqueue(package)


@contextmanager
def _one_transaction() -> Iterator[None]:
    """With the database broker, the tasks of one enqueue are one transaction. (Tasks run
    inline, as in tests, stay outside any transaction.)"""
    if Conf.ORM and not Conf.SYNC:
        with transaction.atomic(using=Conf.ORM):
            yield
    else:
        yield


def enqueue_all_users() -> int:
    """The schedule's job: a cycle for every syncing user."""
    return enqueue_users(sorted(syncing_users()))


def ensure_schedule() -> Schedule:
    """Create or update the periodic schedules (idempotent; run by migrate and at start):
    the sync of every user, and the status snapshot every minute. Returns the first."""
    Schedule.objects.update_or_create(
        name=STATUS_SCHEDULE_NAME,
        defaults={
            "func": "syncengine.tasks.refresh_statuses_task",
            "schedule_type": Schedule.MINUTES,
            "minutes": 1,
            "repeats": -1,
        },
    )
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
    """The on-commit callback of a transaction's CRM changes: each owner once."""

    def __init__(self, owner_id: int) -> None:
        self.owner_ids = {owner_id}

    def __call__(self) -> None:
        enqueue_users(sorted(self.owner_ids))


def push_after_commit(owner_id: int) -> None:
    """A CRM contact changed: sync its owner once the transaction commits (once per owner;
    the owners of one transaction share its tasks)."""
    connection = transaction.get_connection()
    pending = next((entry[1] for entry in connection.run_on_commit
                    if isinstance(entry[1], _Push)), None)
    if pending is None:
        transaction.on_commit(_Push(owner_id))  # outside a transaction: runs now
    else:
        pending.owner_ids.add(owner_id)


def refresh_statuses_task() -> int:
    """The status schedule's job (SPEC §7): the org's statuses into their snapshot, and old
    sync activity pruned; the number of activity rows pruned."""
    statuses.refresh_org_snapshot()
    return statuses.prune_activity()


def reset_user_task(user_id: int) -> None:
    """Reset Sync's task: a cycle of the user, which performs the reset marked for it (or
    records what it waits for)."""
    sync_user(user_id)


def request_reset(user: User) -> None:
    """Reset Sync (SPEC §10): mark the user ("Marked for reset"), then run the user's cycle
    as a task once the transaction commits."""
    mark_for_reset(user)
    transaction.on_commit(
        lambda: async_task(RESET_TASK, user.pk, group=TASK_GROUP, save=False))
