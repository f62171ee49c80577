"""Sync cycles through the real task queue (SPEC §12): `manage.py qcluster` with two workers
against a database of its own and exchangesim in its own process, with the database broker
(and Redis when REDIS_URL_FOR_TESTS names one).

What a cycle costs the database must not grow with its tasks: the workers, the monitor and
the pusher keep their connections (on PostgreSQL the test counts the connections opened,
from the server's statistics), and no sync task's result is stored. Each user is synced
exactly once per cycle, none is skipped, and every task is acknowledged.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .processes import ROOT, Database, SimProcess, World, environ_config, seed_simulator

USERS = 30
BATCH = 3  # ten tasks a cycle
REDIS_URL = os.environ.get("REDIS_URL_FOR_TESTS", "")
BROKERS = ["database", *(["redis"] if REDIS_URL else [])]
# Connections a cluster of two workers may open, whatever its number of tasks: the sentinel,
# the pusher, the monitor, two workers, and the two processes that enqueue the cycles. One
# connection per task would be 20 more.
MOST_CONNECTIONS = 8

_ENQUEUE = (
    "from django_q.models import Schedule; Schedule.objects.all().delete(); "  # no extra cycle
    "from syncengine.tasks import enqueue_all_users; enqueue_all_users()"
)


class Probe:
    """One connection of the test's own: progress, end state, and PostgreSQL's count of
    connections opened to the database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        if db.postgres:
            import psycopg

            a = environ_config(db.url)
            self.conn: Any = psycopg.connect(
                host=a["HOST"], port=a["PORT"] or 5432, user=a["USER"],
                password=a["PASSWORD"] or None, dbname=db.name, autocommit=True)
            # This connection's own count reaches the statistics now, not at some later
            # flush in the middle of what is measured.
            self.conn.execute("SELECT pg_stat_force_next_flush()")
            self.conn.execute("SELECT 1")
        else:
            self.conn = sqlite3.connect(f"file:{db.name}?mode=ro", uri=True, timeout=30)

    def scalar(self, sql: str, *params: Any) -> Any:
        if self.db.postgres:
            sql = sql.replace("?", "%s")
        return self.conn.execute(sql, params).fetchone()[0]

    def sessions(self) -> int:
        """Connections ever opened to the database (PostgreSQL 14+)."""
        self.conn.execute("SELECT pg_stat_clear_snapshot()")
        return int(self.scalar("SELECT sessions FROM pg_stat_database"
                               " WHERE datname = current_database()"))

    def last_finished(self) -> Any:
        return self.scalar("SELECT MAX(last_sync_finished_at) FROM lightningsync_usersyncstate")

    def wait_for_cycle(self, after: Any, broker: str, cluster: subprocess.Popen[Any],
                       users: int = USERS) -> None:
        """Until every user finished a cycle after `after` (a `last_finished()`), and every
        task was acknowledged."""
        since = "" if after is None else " AND last_sync_finished_at > ?"
        params = () if after is None else (after,)
        for _ in range(600):
            finished = self.scalar("SELECT COUNT(*) FROM lightningsync_usersyncstate"
                                   " WHERE claim_token = '' AND last_sync_finished_at IS NOT NULL"
                                   + since, *params)
            if finished == users and not queue_length(self, broker):
                return
            assert cluster.poll() is None, "qcluster stopped"
            time.sleep(0.2)
        raise AssertionError(f"the cycle did not finish in two minutes ({finished} users)")


def queue_length(probe: Probe, broker: str) -> int:
    """Tasks not acknowledged yet."""
    if broker == "redis":
        import redis

        return int(redis.from_url(REDIS_URL).llen("django_q:lightningsync:q"))
    return int(probe.scalar("SELECT COUNT(*) FROM django_q_ormq"))


@pytest.fixture(params=BROKERS)
def org(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[World, str]]:
    """USERS reps syncing both ways, each owning one CRM contact; their empty mailboxes."""
    emails = [f"rep{n}@example.com" for n in range(USERS)]
    seed_simulator(tmp_path / "sim.json", {e: [] for e in emails})
    sim = SimProcess(tmp_path / "sim.json")
    db = Database(tmp_path, "queue")
    try:
        world = World(db, sim, lease_seconds=90)
        world.env.pop("REDIS_URL", None)
        world.env.update(Q_WORKERS="2", LIGHTNINGSYNC_SYNC_BATCH_SIZE=str(BATCH),
                         LOG_LEVEL="INFO")
        if request.param == "redis":
            world.env["REDIS_URL"] = REDIS_URL
        assert world.manage("migrate", "--noinput", "-v", "0").returncode == 0
        world.query("prepare", ews_url=sim.ews_url, users=[
            {"email": e, "direction": "both", "crm_contacts": 1} for e in emails])
        yield world, request.param
    finally:
        sim.close()
        db.drop()


def purge_redis() -> None:
    import redis

    redis.from_url(REDIS_URL).delete("django_q:lightningsync:q")


def test_cycles_through_the_queue_sync_each_user_once_on_a_fixed_number_of_connections(
        org: tuple[World, str], tmp_path: Path) -> None:
    world, broker = org
    if broker == "redis":
        purge_redis()
    probe = Probe(world.db)
    opened_before = probe.sessions() if world.db.postgres else 0
    log_path = tmp_path / "qcluster.log"
    with log_path.open("w") as log:
        cluster = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT,
                                   env=world.env, stdout=log, stderr=subprocess.STDOUT)
    emails = [f"rep{n}@example.com" for n in range(USERS)]
    try:
        for _cycle in ("initial", "no change"):
            after = probe.last_finished()
            listed_before = world.sim.call("counts").get("SyncFolderItems", {})
            enqueued = world.manage("shell", "-c", _ENQUEUE)
            assert enqueued.returncode == 0, enqueued.stderr
            probe.wait_for_cycle(after, broker, cluster)
        listed = world.sim.call("counts").get("SyncFolderItems", {})
    finally:
        cluster.send_signal(signal.SIGTERM)
        cluster.wait(timeout=60)
    # The no-change cycle listed each mailbox's two folders (Salesforce_Sync and the
    # Calendar) once: each user was claimed and synced once.
    assert {e: listed.get(e, 0) - listed_before.get(e, 0) for e in emails} == \
        dict.fromkeys(emails, 2)
    log_text = log_path.read_text()
    assert "ERROR" not in log_text, log_text
    assert {e: len(world.sim.items(e)) for e in emails} == dict.fromkeys(emails, 1)
    assert probe.scalar("SELECT COUNT(*) FROM lightningsync_lightningsyncerror") == 0
    assert probe.scalar("SELECT COUNT(*) FROM django_q_task") == 0  # no result stored
    assert queue_length(probe, broker) == 0  # every task acknowledged
    if world.db.postgres:  # the cluster has exited: every connection it opened is counted
        opened = probe.sessions() - opened_before
        assert opened <= MOST_CONNECTIONS, f"{opened} connections for 20 tasks"


def _worker_pids(cluster_pid: int) -> list[int]:
    """The cluster's first workers: the sentinel's children born first (then the monitor and
    the pusher)."""
    def children(pid: int) -> list[tuple[int, int]]:  # (born, pid)
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                fields = stat[stat.rindex(")") + 2:].split()
                if int(fields[1]) == pid:
                    found.append((int(fields[19]), int(entry.name)))
        return sorted(found)

    (_, sentinel), = children(cluster_pid)
    return [pid for _, pid in children(sentinel)]


@pytest.mark.slow
def test_a_batch_whose_worker_is_killed_is_handed_out_again_and_completes(
        tmp_path: Path) -> None:
    """The database broker hands out again a task whose worker died once Q_RETRY has passed
    since it was handed out (a live task never is: Q_TIMEOUT < Q_RETRY); the users' claims
    lapse with their lease, and the task runs again whole, harmlessly."""
    emails = [f"rep{n}@example.com" for n in range(3)]
    slow = emails[1]
    seed_simulator(tmp_path / "sim.json", {e: [] for e in emails})
    sim = SimProcess(tmp_path / "sim.json")
    db = Database(tmp_path, "retry")
    try:
        world = World(db, sim, lease_seconds=2)
        world.env.pop("REDIS_URL", None)
        world.env.update(Q_WORKERS="1", LIGHTNINGSYNC_SYNC_BATCH_SIZE="3", Q_TIMEOUT="20",
                         Q_RETRY="24")
        assert world.manage("migrate", "--noinput", "-v", "0").returncode == 0
        world.query("prepare", ews_url=sim.ews_url, users=[
            {"email": e, "direction": "both", "crm_contacts": 1} for e in emails])
        sim.post("add_fault", kind="delay", operation="SyncFolderItems", mailbox=slow,
                 delay=60.0)
        assert world.manage("shell", "-c", _ENQUEUE).returncode == 0
        probe = Probe(db)
        with (tmp_path / "qcluster.log").open("w") as log:
            cluster = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT,
                                       env=world.env, stdout=log, stderr=subprocess.STDOUT)
        started = time.monotonic()
        try:
            for _ in range(600):  # until the slow user's listing hangs in the simulator
                if sim.requests(slow, "SyncFolderItems"):
                    break
                time.sleep(0.1)
            os.kill(_worker_pids(cluster.pid)[0], signal.SIGKILL)
            probe.wait_for_cycle(None, "database", cluster, users=len(emails))
            took = time.monotonic() - started
        finally:
            cluster.send_signal(signal.SIGTERM)
            cluster.wait(timeout=60)
        assert took >= 24  # handed out again once Q_RETRY passed, not before
        assert {e: len(sim.items(e)) for e in emails} == dict.fromkeys(emails, 1)
        assert probe.scalar("SELECT COUNT(*) FROM lightningsync_lightningsyncerror") == 0
        assert probe.scalar("SELECT COUNT(*) FROM django_q_task") == 0  # nothing failed
    finally:
        sim.close()
        db.drop()
