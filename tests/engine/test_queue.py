"""Sync tasks and how they are enqueued (SPEC §12): a task syncs a batch of users, each under
its own claim; a cycle's tasks go through one broker connection (one transaction with the
database broker); a sync task's result is not stored, a failed task is."""

from __future__ import annotations

import os
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.models import Failure, OrmQ, Success
from django_q.monitor import save_task
from django_q.signing import SignedPackage

from lightningsync.models import Contact, User, UserSyncState
from syncengine import tasks
from syncengine.transports import connect
from syncengine.transports.connect import ConnectionSettings
from syncengine.transports.memory import MemoryTransport
from tests.factories import SyncConfigurationFactory, UserFactory

from .conftest import crm_contact

REDIS_URL = os.environ.get("REDIS_URL_FOR_TESTS", "")


@pytest.fixture
def boxes(org, monkeypatch) -> dict[str, MemoryTransport]:  # type: ignore[no-untyped-def]
    """Each user's own memory mailbox, by email, made when the user first syncs."""
    found: dict[str, MemoryTransport] = {}

    def factory(settings: ConnectionSettings) -> MemoryTransport:
        return found.setdefault(settings.mailbox, MemoryTransport(org_id=settings.org_id))

    monkeypatch.setitem(connect._registry, "service_account", factory)
    return found


@pytest.fixture
def reps(org, boxes) -> list[User]:  # type: ignore[no-untyped-def]
    """Three reps syncing both ways, each owning one CRM contact (made without a push)."""
    users = [UserFactory(email=f"rep{n}@example.com") for n in range(3)]
    SyncConfigurationFactory(name="Reps", users=users, contacts_direction="both")
    Contact.objects.bulk_create([Contact(owner=u, first_name="Of", last_name=u.email)
                                 for u in users])
    return users


def pushed(boxes: dict[str, MemoryTransport], user: User) -> list[str]:
    box = boxes.get(user.email)
    return sorted(i.fields["Surname"] for i in box.folder_items()) if box else []


def synced_once(user: User) -> bool:
    state = UserSyncState.objects.get(user=user)
    return state.last_success_at is not None and state.claim_token == ""


@pytest.fixture
def queued(monkeypatch):  # type: ignore[no-untyped-def]
    """Tasks go to the database broker, as with a cluster, instead of running inline."""
    monkeypatch.setattr(Conf, "SYNC", False)
    monkeypatch.setattr(Conf, "ORM", "default")


def queued_tasks() -> list[dict[str, Any]]:
    return [SignedPackage.loads(p) for p in OrmQ.objects.order_by("pk")
            .values_list("payload", flat=True)]


def test_a_cycle_of_10000_users_is_400_tasks_enqueued_in_one_statement(db, queued) -> None:  # type: ignore[no-untyped-def]
    ids = list(range(1, 10_001))
    with CaptureQueriesContext(connection) as queries:
        assert tasks.enqueue_users(ids) == 10_000
    queue = queued_tasks()
    assert {(t["func"], t["group"], t["save"]) for t in queue} == {
        (tasks.SYNC_TASK, tasks.TASK_GROUP, False)}
    batches = [t["args"] for t in queue]
    assert [len(users) for (users,) in batches] == [25] * 400
    assert [u for (users,) in batches for u in users] == ids  # every user once, in order
    inserts = [q for q in queries if q["sql"].startswith('INSERT INTO "django_q_ormq"')]
    # The 400 packages together (SQLite takes at most 333 rows of three values a statement).
    assert len(inserts) <= 2
    assert len(queries) <= len(inserts) + 2  # in one transaction (a savepoint in the test's)


def test_enqueueing_the_cycle_reads_who_syncs_in_queries_independent_of_their_number(
        db, queued) -> None:  # type: ignore[no-untyped-def]
    """The schedule's job reads every syncing user and their configuration in bulk: as many
    queries for 3 users as for 60 (in two configurations, directly and by profile)."""
    from tests.factories import ProfileFactory

    def enqueue_counting() -> tuple[int, int]:
        OrmQ.objects.all().delete()
        with CaptureQueriesContext(connection) as queries:
            enqueued = tasks.enqueue_all_users()
        return enqueued, len(queries)

    sales = ProfileFactory(name="Sales")
    SyncConfigurationFactory(name="Direct", users=[UserFactory() for _ in range(2)])
    SyncConfigurationFactory(name="By profile", profiles=[sales])
    UserFactory(profile=sales)
    few = enqueue_counting()
    for n in range(57):
        user = UserFactory(profile=sales)
        if n % 2:
            SyncConfigurationFactory(name=f"Direct {n}", users=[user])
    many = enqueue_counting()
    assert (few[0], many[0]) == (3, 60)
    assert few[1] == many[1]
    assert sorted(u for (users,) in (t["args"] for t in queued_tasks()) for u in users) == \
        sorted(User.objects.values_list("pk", flat=True))


@pytest.mark.skipif(not REDIS_URL, reason="REDIS_URL_FOR_TESTS is not set")
def test_with_redis_a_cycle_is_enqueued_through_one_connection(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import redis
    from redis.connection import Connection

    monkeypatch.setattr(Conf, "SYNC", False)
    monkeypatch.setattr(Conf, "ORM", None)
    monkeypatch.setattr(Conf, "REDIS", REDIS_URL)
    opened = []
    real_connect = Connection._connect
    monkeypatch.setattr(Connection, "_connect",
                        lambda self: (opened.append(1), real_connect(self))[1])
    broker = get_broker()
    broker.purge_queue()
    try:
        opened.clear()
        pushes = []
        real_rpush = redis.Redis.rpush
        monkeypatch.setattr(redis.Redis, "rpush",
                            lambda self, *a: (pushes.append(1), real_rpush(self, *a))[1])
        tasks.enqueue_users(range(1, 10_001))
        assert len(opened) == 1
        assert len(pushes) == 1  # the 400 packages in one command
        queue = [SignedPackage.loads(p) for p in redis.from_url(REDIS_URL).lrange(
            broker.list_key, 0, -1)]
    finally:
        broker.delete_queue()
    assert [t["args"] for t in queue] == [(list(range(n, n + 25)),) for n in range(1, 10_001, 25)]


def test_batches_follow_the_batch_size_setting(db, queued, settings) -> None:  # type: ignore[no-untyped-def]
    settings.LIGHTNINGSYNC_SYNC_BATCH_SIZE = 4
    tasks.enqueue_users(range(1, 11))
    assert [t["args"] for t in queued_tasks()] == [([1, 2, 3, 4],), ([5, 6, 7, 8],), ([9, 10],)]


@pytest.mark.django_db(transaction=True)
def test_the_monitor_stores_a_failed_sync_task_but_not_a_successful_one(queued, settings) -> None:  # type: ignore[no-untyped-def]
    settings.LIGHTNINGSYNC_SYNC_BATCH_SIZE = 1
    tasks.enqueue_users([1, 2])
    succeeded, failed = queued_tasks()
    broker = get_broker()
    for task, ok in ((succeeded, True), (failed, False)):  # as a worker hands them back
        task.update(result=None if ok else "BatchFailed: 1 of 1 users could not be synced",
                    success=ok, stopped=timezone.now())
        save_task(task, broker)
    assert Success.objects.count() == 0
    (stored,) = Failure.objects.all()
    assert (stored.func, stored.args, stored.result) == (
        tasks.SYNC_TASK, ([2],), "BatchFailed: 1 of 1 users could not be synced")


def spy_on_tasks(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """The users of each sync task enqueued from now on (they still run)."""
    enqueued: list[list[int]] = []
    real_async_task = tasks.async_task

    def spy(func: str, user_ids: list[int], **options: Any) -> Any:
        enqueued.append(list(user_ids))
        return real_async_task(func, user_ids, **options)

    monkeypatch.setattr(tasks, "async_task", spy)
    return enqueued


def test_one_task_syncs_a_batch_of_users_one_after_the_other(reps, boxes, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    enqueued = spy_on_tasks(monkeypatch)
    assert tasks.enqueue_all_users() == 3  # tasks run inline in tests
    assert enqueued == [[u.pk for u in reps]]
    assert all(synced_once(u) for u in reps)
    assert [pushed(boxes, u) for u in reps] == [[u.email] for u in reps]


def test_a_batch_past_its_time_starts_no_new_user_and_enqueues_the_rest(
        reps, boxes, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(tasks, "batch_seconds", lambda: -1.0)  # always past its time
    enqueued = spy_on_tasks(monkeypatch)
    ids = [u.pk for u in reps]
    tasks.enqueue_users(ids)
    assert enqueued == [ids, ids[1:], ids[2:]]  # each batch syncs one user, then hands over
    assert all(synced_once(u) for u in reps)
    assert [pushed(boxes, u) for u in reps] == [[u.email] for u in reps]


def test_a_user_whose_cycle_raises_does_not_stop_its_batch_and_fails_the_task(
        reps, boxes, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    real_sync_user = tasks.sync_user
    broken = reps[1]

    def sync_user(user_id: int) -> Any:
        if user_id == broken.pk:
            raise DatabaseError("server closed the connection unexpectedly")
        return real_sync_user(user_id)

    monkeypatch.setattr(tasks, "sync_user", sync_user)
    with pytest.raises(tasks.BatchFailed, match=(
            rf"^1 of 3 users could not be synced \(user ids {broken.pk}\); see the worker's "
            r"log\.$")):
        tasks.enqueue_users([u.pk for u in reps])  # inline: the failure reaches the caller
    assert [pushed(boxes, u) for u in reps] == [[reps[0].email], [], [reps[2].email]]


def test_the_crm_changes_of_one_transaction_push_each_owner_once(
        reps, boxes, monkeypatch, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    enqueued = spy_on_tasks(monkeypatch)
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        for user in (reps[2], reps[0], reps[2]):
            crm_contact(user, last_name=f"New for {user.email}")
        Contact.objects.filter(owner=reps[0]).first().save()
    assert len(callbacks) == 1
    assert enqueued == [sorted([reps[0].pk, reps[2].pk])]  # one task for both owners
    assert pushed(boxes, reps[0]) == sorted([reps[0].email, f"New for {reps[0].email}"])
    assert pushed(boxes, reps[1]) == []
    assert pushed(boxes, reps[2]) == sorted([reps[2].email, f"New for {reps[2].email}",
                                             f"New for {reps[2].email}"])
