"""Sync cycles through the real task queue: what a no-change cycle of N users costs, per process.

    .venv/bin/python bench/scale.py [--users 1000] [--contacts-per-user 5]
                                    [--contacts-in-org 0] [--workers 1,2]
                                    [--events] [--edited-minutes-ago 60]
                                    [--setups redis-pg,orm-pg,sqlite] [--no-loop]
                                    [--org-contacts 100000 | --no-org-ratio]
                                    [--org-ratio-on pg,sqlite]

Prints figures and tables; asserts nothing. Everything runs as real processes with the
production settings module (test keys, plain http to the simulator), so every setting read
from the environment (`CONN_MAX_AGE=0 bench/scale.py` …) applies to them:

- exchangesim in its own process, one mailbox per user (its CPU is not counted: it stands
  for Exchange);
- a PostgreSQL cluster of the bench's own (initdb in a temporary directory, a free port) and
  a redis-server of its own, so that their CPU is this bench's alone: PostgreSQL's is the
  postmaster's, its live processes' and its reaped backends' (short-lived connections
  included), read from /proc;
- `manage.py qcluster` with 1 and then 2 workers, for each setup: Redis broker + PostgreSQL,
  ORM broker + PostgreSQL, ORM broker + SQLite (WAL; its database work is in-process).

Each user owns `--contacts-per-user` CRM contacts, synced with its mailbox by a first cycle
through the queue before anything is measured; `--contacts-in-org` adds contacts owned by
users who do not sync. Contacts only by default (`--events`: events too, one more listing
per user); the contacts were last edited an hour before (`--edited-minutes-ago`), outside
the push's watermark margin, so that the measured cycle is one with nothing to examine (at 0
each cycle still examines them, as it does for a few minutes after an edit). A measured
cycle is the schedule's job (`enqueue_all_users`, run in a process of its own whose
enqueueing time is reported) followed by the workers' no-change cycles. CPU is read from
/proc for each process of the cluster (its first workers, monitor and pusher told apart by
birth order under the sentinel; a worker born later replaces one that was recycled), from
the moment the enqueue starts until every user has finished and the monitor is idle (the
queue acknowledged, with the ORM broker). "In a loop" rows run the same cycle with
`sync_user` called in a loop by one process, without the queue: the floor.

The org-size ratio (`org_size_ratio`): a no-change cycle per user, in a loop, with 750
contacts in the org and then with `--org-contacts` (150 users; `--org-ratio-on pg,sqlite`).
`--setups "" --enqueue-users 0` measures that ratio alone.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.engine.processes import (  # noqa: E402
    SERVICE_PASSWORD,
    SERVICE_USER,
    TEST_ENV,
    SimProcess,
    free_port,
    seed_simulator,
)

TICK = os.sysconf("SC_CLK_TCK")
SETUP_LABELS = {"redis-pg": "Redis + PostgreSQL", "orm-pg": "ORM + PostgreSQL",
                "sqlite": "ORM + SQLite"}
ORG_USERS = 150
ORG_CONTACTS_PER_USER = 5
WARM_UP_USERS = 50  # per worker, synced before a measured cycle


# --- CPU from /proc ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ProcStat:
    pid: int
    ppid: int
    cpu: float  # seconds, user + system, this process
    children_cpu: float  # seconds, its reaped children
    born: int  # clock ticks after boot


def proc_stat(pid: int) -> ProcStat | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = raw[raw.rindex(")") + 2:].split()  # fields from the 3rd (state) on
    return ProcStat(pid, int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK,
                    (int(fields[13]) + int(fields[14])) / TICK, int(fields[19]))


def all_procs() -> dict[int, ProcStat]:
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = proc_stat(int(entry))
            if stat:
                found[stat.pid] = stat
    return found


def tree_cpu(root: int) -> float:
    """CPU of a process, its live descendants and the children it reaped (a postmaster)."""
    procs = all_procs()
    top = procs.get(root)
    if top is None:
        return 0.0
    total, stack = top.cpu + top.children_cpu, [root]
    while stack:
        parent = stack.pop()
        for p in procs.values():
            if p.ppid == parent:
                total += p.cpu
                stack.append(p.pid)
    return total


class ClusterCpu:
    """CPU of one `qcluster` tree by role; a process that ended counts with its last reading
    (sampled several times a second while a cycle runs)."""

    def __init__(self, main_pid: int, workers: int) -> None:
        self.main_pid, self.workers = main_pid, workers
        self.last: dict[int, tuple[str, float]] = {}
        self.sentinel: int | None = None
        self.first_children: list[int] = []

    def children(self) -> list[ProcStat]:
        procs = all_procs()
        if self.sentinel is None:
            found = [p for p in procs.values() if p.ppid == self.main_pid]
            if not found:
                return []
            self.sentinel = found[0].pid
            self.last[self.sentinel] = ("sentinel", found[0].cpu)
        kids = sorted((p for p in procs.values() if p.ppid == self.sentinel),
                      key=lambda p: (p.born, p.pid))
        if not self.first_children and len(kids) >= self.workers + 2:
            self.first_children = [p.pid for p in kids[: self.workers + 2]]
        for pid in (self.main_pid, self.sentinel):
            if pid in procs:
                self.last[pid] = ("sentinel", procs[pid].cpu)
        return kids

    def sample(self) -> dict[str, float]:
        for kid in self.children():
            if kid.pid in self.first_children:
                at = self.first_children.index(kid.pid)
                role = ("worker" if at < self.workers
                        else "monitor" if at == self.workers else "pusher")
            else:
                role = "worker"
            self.last[kid.pid] = (role, kid.cpu)
        totals = dict.fromkeys(("worker", "monitor", "pusher", "sentinel"), 0.0)
        for role, cpu in self.last.values():
            totals[role] += cpu
        return totals

    def ready(self) -> bool:
        return len(self.children()) >= self.workers + 2


# --- services of the bench's own --------------------------------------------------------------
def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


class PrivatePostgres:
    """A PostgreSQL cluster for this bench alone (its CPU is all ours)."""

    def __init__(self) -> None:
        bindir = Path(subprocess.check_output(["pg_config", "--bindir"], text=True).strip())
        self.bindir = bindir
        self.dir = Path(tempfile.mkdtemp(prefix="bench-scale-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self.port = free_port()
        subprocess.run(_as_postgres([str(bindir / "initdb"), "-D", str(self.dir / "data"),
                                     "-A", "trust", "-U", "postgres", "-E", "UTF8",
                                     "--no-sync"]), check=True, capture_output=True)
        subprocess.run(_as_postgres([
            str(bindir / "pg_ctl"), "-D", str(self.dir / "data"), "-l", str(self.dir / "log"),
            "-w", "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
            "-c max_connections=200", "start"]), check=True, capture_output=True)
        pid_line = (self.dir / "data" / "postmaster.pid").read_text().split("\n", 1)[0]
        self.pid = int(pid_line)

    def url(self, name: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def create(self, name: str) -> str:
        with self.connect("postgres") as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def connect(self, name: str) -> Any:
        import psycopg

        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=name,
                               autocommit=True)

    def cpu(self) -> float:
        return tree_cpu(self.pid)

    def sessions(self, name: str) -> int:
        """Connections ever opened to the database (counted when they start)."""
        with self.connect("postgres") as conn:
            conn.execute("SELECT pg_stat_clear_snapshot()")
            row = conn.execute("SELECT sessions FROM pg_stat_database WHERE datname = %s",
                               (name,)).fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        subprocess.run(_as_postgres([str(self.bindir / "pg_ctl"), "-D", str(self.dir / "data"),
                                     "-m", "immediate", "stop"]), capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


class PrivateRedis:
    def __init__(self) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

        client = redis.Redis(port=self.port)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def cpu(self) -> float:
        stat = proc_stat(self.proc.pid)
        return stat.cpu if stat else 0.0

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


# --- a database with users, and the processes run against it ----------------------------------
class Probe:
    """One read connection of the bench's own to a world's database."""

    def __init__(self, pg: PrivatePostgres | None, name: str) -> None:
        if pg is not None:
            self.conn = pg.connect(name)
            self.mark = "%s"
        else:
            import sqlite3

            self.conn = sqlite3.connect(f"file:{name}?mode=ro", uri=True, timeout=30)
            self.mark = "?"

    def scalar(self, sql: str, *params: Any) -> Any:
        row = self.conn.execute(sql.replace("?", self.mark), params).fetchone()
        return row[0] if row else None

    def close(self) -> None:
        self.conn.close()


@dataclass
class Database:
    """The org's database: users seeded and synced once; shared by the setups that use it."""

    label: str  # "PostgreSQL" | "SQLite"
    url: str
    name: str  # database name (PostgreSQL) or file path (SQLite)
    prefix: str  # of the users' mailboxes
    users: int
    log: Path  # where the processes' output goes
    pg: PrivatePostgres | None = None

    def env(self, redis_url: str = "", **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "Q_WORKERS")}
        env.update(TEST_ENV)
        env.update({"DATABASE_URL": self.url, "LOG_LEVEL": "INFO",
                    "LIGHTNINGSYNC_SYNC_INTERVAL_MINUTES": "60", **extra})
        if redis_url:
            env["REDIS_URL"] = redis_url
        return env

    def probe(self) -> Probe:
        return Probe(self.pg, self.name)

    def db_cpu(self) -> float:
        return self.pg.cpu() if self.pg else 0.0


def manage(env: dict[str, str], *args: str) -> None:
    out = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=1800, check=False)
    if out.returncode:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")


class Child:
    """This script run as `--child COMMAND JSON` against a world: it sets Django up, says
    "ready", waits for "go", does the work and prints one JSON line."""

    def __init__(self, env: dict[str, str], command: str, log: Path, **kwargs: Any) -> None:
        with log.open("a") as err:
            self.proc = subprocess.Popen(
                [sys.executable, __file__, "--child", command, json.dumps(kwargs)], cwd=ROOT,
                env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True)
        assert self.proc.stdout is not None and self.proc.stdin is not None
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            self.proc.wait()
            raise SystemExit(f"child {command} did not start: {line}")

    def go(self) -> dict[str, Any]:
        assert self.proc.stdout is not None and self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        self.proc.wait(timeout=600)
        if self.proc.returncode:
            raise SystemExit(f"child failed ({self.proc.returncode}): {line}")
        return dict(json.loads(line))


def run_child(env: dict[str, str], command: str, log: Path, **kwargs: Any) -> dict[str, Any]:
    return Child(env, command, log, **kwargs).go()


@contextmanager
def qcluster(env: dict[str, str], workers: int, log: Path) -> Iterator[ClusterCpu]:
    """A running `manage.py qcluster` with `workers` workers, idle once started."""
    with log.open("a") as out:
        proc = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT,
                                env={**env, "Q_WORKERS": str(workers)}, stdout=out,
                                stderr=subprocess.STDOUT)
    cpu = ClusterCpu(proc.pid, workers)
    try:
        deadline = time.monotonic() + 120
        while not cpu.ready():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"qcluster did not start; see {log}")
            time.sleep(0.1)
        wait_quiet(cpu, 0.5)
        yield cpu
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_quiet(cpu: ClusterCpu, seconds: float, roles: tuple[str, ...] = ("worker", "monitor"),
               limit: float = 600) -> None:
    """Until none of these roles used CPU for `seconds` (clock-tick resolution)."""
    deadline = time.monotonic() + limit
    before, since = cpu.sample(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = cpu.sample()
        if any(now[r] > before[r] for r in roles):
            before, since = now, time.monotonic()
        elif time.monotonic() - since >= seconds:
            return


# --- one measured cycle through the queue -----------------------------------------------------
@dataclass
class Run:
    setup: str
    workers: int
    users: int
    enqueue_s: float
    cycle_s: float
    cpu: dict[str, float]  # seconds by role
    sessions: int | None  # PostgreSQL connections opened during the run
    left_in_queue: int | None  # ORM queue rows not yet acknowledged when every user finished
    lag_s: float  # from the last user's end to an idle monitor

    def ms(self, role: str) -> float:
        return 1000 * self.cpu.get(role, 0.0) / self.users

    @property
    def total_ms(self) -> float:
        return 1000 * sum(self.cpu.values()) / self.users


def finished_mark(probe: Probe) -> Any:
    return probe.scalar("SELECT MAX(last_sync_finished_at) FROM lightningsync_usersyncstate")


def done_count(probe: Probe, mark: Any) -> int:
    if mark is None:
        return int(probe.scalar("SELECT COUNT(*) FROM lightningsync_usersyncstate"
                                " WHERE last_sync_finished_at IS NOT NULL"))
    return int(probe.scalar("SELECT COUNT(*) FROM lightningsync_usersyncstate"
                            " WHERE last_sync_finished_at > ?", mark))


def cycle_span(probe: Probe, mark: Any) -> float:
    """Seconds from the first user's start to the last user's end (the workers' clocks)."""
    import datetime as dt

    first, last = (probe.conn.execute(
        "SELECT MIN(last_sync_started_at), MAX(last_sync_finished_at)"
        " FROM lightningsync_usersyncstate WHERE last_sync_finished_at > " + probe.mark,
        (mark,)).fetchone())
    if isinstance(first, str):
        first, last = dt.datetime.fromisoformat(first), dt.datetime.fromisoformat(last)
    return float((last - first).total_seconds())


def measure(db: Database, setup: str, redis: PrivateRedis | None, workers: int,
            log: Path) -> Run:
    env = db.env(redis.url if redis else "")
    probe = db.probe()
    try:
        mark = finished_mark(probe)
        with qcluster(env, workers, log) as cpu:
            # Warm-up: each worker's first sync imports exchangelib (about a second of CPU,
            # once per worker process); the measured cycle starts with warm workers.
            warm = min(db.users, WARM_UP_USERS * workers)
            run_child(env, "warm_up", db.log, users=warm)
            while done_count(probe, mark) < warm:
                time.sleep(0.2)
            wait_quiet(cpu, 0.5)
            mark = finished_mark(probe)
            sessions_before = db.pg.sessions(db.name) if db.pg else None
            enqueuer = Child(env, "enqueue", db.log)
            before = {**cpu.sample(), "database": db.db_cpu(),
                      "redis": redis.cpu() if redis else 0.0}
            enqueued = enqueuer.go()
            while done_count(probe, mark) < db.users:
                cpu.sample()  # a worker recycled meanwhile keeps its last reading
                time.sleep(0.25)
            finished_at = time.monotonic()
            left = (int(probe.scalar("SELECT COUNT(*) FROM django_q_ormq"))
                    if redis is None else None)
            if redis is None:
                while probe.scalar("SELECT COUNT(*) FROM django_q_ormq"):
                    cpu.sample()
                    time.sleep(0.2)
            wait_quiet(cpu, 1.0, roles=("monitor",))
            lag = max(0.0, time.monotonic() - finished_at - 1.0)
            after = {**cpu.sample(), "database": db.db_cpu(),
                     "redis": redis.cpu() if redis else 0.0}
        span = cycle_span(probe, mark)
    finally:
        probe.close()
    # Read once the cluster stopped: a connection is counted when it opens, and reported to
    # the statistics at the latest when it closes.
    sessions = db.pg.sessions(db.name) - sessions_before if sessions_before is not None else None
    used = {role: after[role] - before[role] for role in after}
    return Run(setup, workers, db.users, float(enqueued["seconds"]), span, used, sessions,
               left, lag)


def prepare(db: Database, sim: SimProcess, per_user: int, in_org: int,
            redis: PrivateRedis | None, log: Path, seed: dict[str, Any]) -> None:
    """Seed the org (`seed`: `child_seed`'s options) and run its first cycle through the
    queue (two workers)."""
    env = db.env(redis.url if redis else "")
    manage(env, "migrate", "--noinput", "-v", "0")
    run_child(env, "seed", db.log, ews_url=sim.ews_url, prefix=db.prefix, users=db.users,
              per_user=per_user, in_org=in_org, **seed)
    started = time.monotonic()
    probe = db.probe()
    try:
        with qcluster(env, 2, log):
            run_child(env, "enqueue", db.log)
            while done_count(probe, None) < db.users:
                time.sleep(1)
    finally:
        probe.close()
    print(f"  {db.label}: {db.users} users seeded and synced once in "
          f"{time.monotonic() - started:.0f} s")


@dataclass
class Loop:
    label: str
    users: int
    process_s: float
    database_s: float

    @property
    def process_ms(self) -> float:
        return 1000 * self.process_s / self.users

    @property
    def database_ms(self) -> float:
        return 1000 * self.database_s / self.users


def loop(db: Database, label: str) -> Loop:
    """The same no-change cycle without the queue: `sync_user` in a loop, one process."""
    child = Child(db.env(), "loop", db.log)
    before = db.db_cpu()
    result = child.go()
    return Loop(label, int(result["users"]), float(result["cpu"]), db.db_cpu() - before)


# --- enqueueing a big org's cycle ---------------------------------------------------------------
def enqueue_big(pg: PrivatePostgres | None, redis: PrivateRedis | None, setups: list[str],
                users: int, workdir: Path, log: Path) -> list[tuple[str, float, int]]:
    """Seconds to enqueue the cycle of `users` users (the schedule's job), for each setup:
    (setup, seconds, tasks enqueued). Nothing runs the tasks; the queue is emptied after."""
    results = []
    for setup in setups:
        if setup.endswith("-pg"):
            assert pg is not None
            name = f"ls_scale_enqueue_{setup.split('-')[0]}"
            db = Database("PostgreSQL", pg.create(name), name, "big", users, log, pg)
        else:
            path = workdir / "enqueue.sqlite3"
            db = Database("SQLite", f"sqlite:///{path}", str(path), "big", users, log)
        env = db.env(redis.url if setup == "redis-pg" and redis else "")
        manage(env, "migrate", "--noinput", "-v", "0")
        run_child(env, "seed", db.log, ews_url="https://exchange.invalid/EWS/Exchange.asmx",
                  prefix="big", users=users, per_user=0, in_org=0)
        result = run_child(env, "enqueue", db.log)
        tasks = int(run_child(env, "purge_queue", db.log)["purged"])
        results.append((SETUP_LABELS[setup], float(result["seconds"]), tasks))
    return results


# --- point 1 of the scale work: the org-size ratio --------------------------------------------
def org_size_ratio(db: Database, sim: SimProcess, big: int) -> dict[str, Any]:
    """A no-change cycle's cost per user (process + database CPU, `sync_user` in a loop)
    with ORG_USERS * ORG_CONTACTS_PER_USER = 750 contacts in the org, and then with `big`
    (the rest owned by users who do not sync). The goal is a ratio ≤ 1.5."""
    env = db.env()
    manage(env, "migrate", "--noinput", "-v", "0")
    run_child(env, "seed", db.log, ews_url=sim.ews_url, prefix=db.prefix, users=db.users,
              per_user=ORG_CONTACTS_PER_USER, in_org=0)
    run_child(env, "loop", db.log)  # the initial sync
    small = loop(db, "750")
    run_child(env, "add_org_contacts", db.log, count=big - ORG_USERS * ORG_CONTACTS_PER_USER)
    large = loop(db, str(big))
    per_user = [(r.process_s + r.database_s) / r.users * 1000 for r in (small, large)]
    return {"label": db.label, "small_ms": per_user[0], "large_ms": per_user[1],
            "ratio": per_user[1] / per_user[0], "big": big}


# --- work done inside a world's processes (`--child`) -----------------------------------------
def child_seed(ews_url: str, prefix: str, users: int, per_user: int, in_org: int,
               events: bool = True, edited_minutes_ago: float = 0) -> dict[str, Any]:
    """The org: `users` syncing users with `per_user` contacts each, last edited
    `edited_minutes_ago` (0: now, so that the first cycles after the seed still examine them:
    they are within the push's watermark margin); events synced too when `events`."""
    from django.utils import timezone
    from django_q.models import Schedule

    from lightningsync.models import (
        ConfigurationUser,
        Contact,
        LightningSyncSetup,
        SyncConfiguration,
        User,
    )
    from syncengine.tasks import SCHEDULE_NAME

    setup = LightningSyncSetup.load()
    setup.enabled = True
    setup.connection_method = LightningSyncSetup.ConnectionMethod.SERVICE_ACCOUNT
    setup.ews_url = ews_url
    setup.service_account_username = SERVICE_USER
    setup.auth_type = LightningSyncSetup.AuthType.BASIC
    setup.set_service_account_password(SERVICE_PASSWORD)
    setup.save()
    # The bench enqueues each cycle itself.
    Schedule.objects.filter(name=SCHEDULE_NAME).update(
        next_run=timezone.now() + timezone.timedelta(days=30))
    config = SyncConfiguration.objects.create(
        name=f"Bench {prefix}", contacts_direction="both", contacts_ownership="users_records",
        events_direction=(SyncConfiguration.EventsDirection.EXCHANGE_TO_CRM if events
                          else SyncConfiguration.EventsDirection.NONE))
    User.objects.bulk_create([User(username=f"{prefix}-{i}", email=mailbox(prefix, i))
                              for i in range(users)])
    made = list(User.objects.filter(username__startswith=f"{prefix}-").order_by("pk"))
    ConfigurationUser.objects.bulk_create([ConfigurationUser(user=u, configuration=config)
                                           for u in made])
    Contact.objects.bulk_create([
        Contact(owner=u, first_name=f"First{n}", last_name=f"Last{n} {u.username}",
                email=f"c{n}@{u.username}.test", title="Buyer", phone="+1 555 0100")
        for u in made for n in range(per_user)], batch_size=2000)
    if edited_minutes_ago:
        Contact.objects.filter(owner__in=made).update(
            updated_at=timezone.now() - timezone.timedelta(minutes=edited_minutes_ago))
    child_add_org_contacts(in_org)
    return {"users": len(made)}


def child_add_org_contacts(count: int) -> dict[str, Any]:
    """Contacts owned by users who do not sync (50 owners), then fresh planner statistics."""
    from django.db import connection

    from lightningsync.models import Contact, User

    if count <= 0:
        return {"added": 0}
    User.objects.bulk_create([User(username=f"nosync-{n}-{time.time_ns()}") for n in range(50)])
    owners = list(User.objects.filter(username__startswith="nosync-").order_by("pk"))
    batch: list[Any] = []
    for n in range(count):
        batch.append(Contact(owner=owners[n % len(owners)], first_name=f"Org{n}",
                             last_name=f"Contact{n}", email=f"org{n}@elsewhere.test"))
        if len(batch) == 5000:
            Contact.objects.bulk_create(batch)
            batch.clear()
    Contact.objects.bulk_create(batch)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return {"added": count}


def child_enqueue() -> dict[str, Any]:
    from syncengine.tasks import enqueue_all_users

    started = time.perf_counter()
    count = enqueue_all_users()
    return {"enqueued": count, "seconds": time.perf_counter() - started}


def child_warm_up(users: int) -> dict[str, Any]:
    from lightningsync.effective import syncing_users
    from syncengine.tasks import enqueue_users

    return {"enqueued": enqueue_users(sorted(syncing_users())[:users])}


def child_purge_queue() -> dict[str, Any]:
    from django_q.brokers import get_broker

    broker = get_broker()
    size = broker.queue_size()
    broker.purge_queue()
    return {"purged": size}


def child_loop() -> dict[str, Any]:
    from lightningsync.effective import syncing_users
    from syncengine.cycle.runner import sync_user

    users = sorted(syncing_users())
    sync_user(users[0])  # untimed: imports exchangelib, opens the HTTP pool
    started = time.process_time()
    outcomes: dict[str, int] = {}
    for user_id in users[1:]:
        outcome = sync_user(user_id).outcome
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    if set(outcomes) != {"synced"}:
        raise SystemExit(f"not every user synced: {outcomes}")
    return {"users": len(users) - 1, "cpu": time.process_time() - started}


CHILDREN: dict[str, Callable[..., dict[str, Any]]] = {
    "seed": child_seed, "add_org_contacts": child_add_org_contacts,
    "enqueue": child_enqueue, "warm_up": child_warm_up, "loop": child_loop,
    "purge_queue": child_purge_queue,
}


def child_main(command: str, kwargs: dict[str, Any]) -> None:
    import django

    django.setup()
    from django.conf import settings

    settings.LIGHTNINGSYNC_PUSH_ON_CHANGE = False
    print("ready", flush=True)
    sys.stdin.readline()
    print(json.dumps(CHILDREN[command](**kwargs)), flush=True)


def mailbox(prefix: str, i: int) -> str:
    return f"{prefix}-{i}@example.com"


# --- the report -------------------------------------------------------------------------------
def _print_runs(runs: list[Run]) -> None:
    print("\nNo-change cycle through the queue (CPU ms per user; database: PostgreSQL's own "
          "processes, SQLite's work is in the workers and monitor):")
    head = ("| setup | workers | enqueue s | cycle s | users/s | worker | monitor | pusher "
            "| sentinel | database | redis | total | PG conn./1,000 users | queue left | "
            "monitor lag s |")
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in runs:
        conns = f"{1000 * r.sessions / r.users:.0f}" if r.sessions is not None else "—"
        left = str(r.left_in_queue) if r.left_in_queue is not None else "—"
        print(f"| {r.setup} | {r.workers} | {r.enqueue_s:.2f} | {r.cycle_s:.1f} | "
              f"{r.users / r.cycle_s:.0f} | {r.ms('worker'):.1f} | {r.ms('monitor'):.1f} | "
              f"{r.ms('pusher'):.1f} | {r.ms('sentinel'):.1f} | "
              f"{r.ms('database'):.1f} | {r.ms('redis'):.1f} | {r.total_ms:.1f} | {conns} | "
              f"{left} | {r.lag_s:.1f} |")
    speedups = []
    for setup in dict.fromkeys(r.setup for r in runs):
        by = {r.workers: r for r in runs if r.setup == setup}
        if 1 in by and 2 in by:
            speedups.append(f"{setup} {by[1].cycle_s / by[2].cycle_s:.2f} times")
    if speedups:
        print("Speed-up 1 → 2 workers (cycle seconds): " + ", ".join(speedups))


def report(runs: list[Run], loops: list[Loop], big: list[tuple[str, float, int]],
           big_users: int, orgs: list[dict[str, Any]]) -> None:
    if runs:
        _print_runs(runs)
    if loops:
        print("\nThe same cycle in a loop, without the queue (CPU ms per user):")
        print("| database | process | database | total |")
        print("|---|---|---|---|")
        for lp in loops:
            print(f"| {lp.label} | {lp.process_ms:.1f} | "
                  f"{lp.database_ms if lp.database_s else 0:.1f} | "
                  f"{lp.process_ms + lp.database_ms:.1f} |")
    if big:
        print(f"\nEnqueueing the cycle of {big_users:,} users (goal < 2 s):")
        print("| setup | seconds | tasks |")
        print("|---|---|---|")
        for setup, seconds, tasks in big:
            print(f"| {setup} | {seconds:.2f} | {tasks:,} |")
    for org in orgs:
        print(f"\nOrg-size ratio (no-change cycle per user, in a loop, {org['label']}, "
              f"{ORG_USERS} users): 750 contacts {org['small_ms']:.1f} ms, {org['big']:,} "
              f"contacts {org['large_ms']:.1f} ms: ratio {org['ratio']:.2f} (goal ≤ 1.5)")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_main(sys.argv[2], json.loads(sys.argv[3]))
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    p.add_argument("--users", type=int, default=1000)
    p.add_argument("--contacts-per-user", type=int, default=5)
    p.add_argument("--contacts-in-org", type=int, default=0,
                   help="contacts owned by users who do not sync, added to the org")
    p.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    p.add_argument("--events", action="store_true",
                   help="sync events too (one more SyncFolderItems per user: the calendar)")
    p.add_argument("--edited-minutes-ago", type=float, default=60,
                   help="when the users' contacts were last edited (0: just before the first "
                        "cycle, so that the measured cycle's push examines them again)")
    p.add_argument("--setups", default="redis-pg,orm-pg,sqlite")
    p.add_argument("--no-loop", action="store_true", help="skip the in-a-loop rows")
    p.add_argument("--enqueue-users", type=int, default=10_000,
                   help="users whose cycle is only enqueued, for that figure (0: skip it)")
    p.add_argument("--org-contacts", type=int, default=100_000)
    p.add_argument("--no-org-ratio", action="store_true")
    p.add_argument("--org-ratio-on", default="pg,sqlite",
                   help="databases the org-size ratio is measured on: pg, sqlite or both")
    args = p.parse_args()
    setups = [s for s in args.setups.split(",") if s]
    seed = {"events": args.events, "edited_minutes_ago": args.edited_minutes_ago}
    workers = [int(w) for w in args.workers.split(",")]
    bench_started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    log = workdir / "qcluster.log"
    print(f"scale bench: {args.users} users with {args.contacts_per_user} contacts each "
          f"(last edited {args.edited_minutes_ago:g} minutes before), "
          f"{'contacts and events' if args.events else 'contacts only'}, "
          f"{args.contacts_in_org} more contacts in the org; setups {setups}, workers "
          f"{workers}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
          f"log {log}")
    prefixes = {"pg": "pg", "sqlite": "lite"}
    org_dbs = [] if args.no_org_ratio else [d for d in args.org_ratio_on.split(",") if d]
    org_prefixes = {"pg": "org", "sqlite": "orglite"}
    wanted_pg = any(s.endswith("-pg") for s in setups)
    mailboxes = [mailbox(prefixes["pg"], i) for i in range(args.users) if wanted_pg]
    mailboxes += [mailbox(prefixes["sqlite"], i) for i in range(args.users)
                  if "sqlite" in setups]
    mailboxes += [mailbox(org_prefixes[d], i) for d in org_dbs for i in range(ORG_USERS)]
    data = workdir / "sim.json"
    seed_simulator(data, {m: [] for m in mailboxes})
    sim = SimProcess(data)
    pg = PrivatePostgres() if wanted_pg or "pg" in org_dbs else None
    redis = PrivateRedis() if "redis-pg" in setups else None
    runs: list[Run] = []
    loops: list[Loop] = []
    big: list[tuple[str, float, int]] = []
    orgs: list[dict[str, Any]] = []
    try:
        if wanted_pg:
            assert pg is not None
            db = Database("PostgreSQL", pg.create("ls_scale_bench"), "ls_scale_bench", "pg",
                          args.users, log, pg)
            prepare(db, sim, args.contacts_per_user, args.contacts_in_org, redis, log, seed)
            for setup, broker in (("Redis + PostgreSQL", redis), ("ORM + PostgreSQL", None)):
                if (broker is redis and "redis-pg" in setups) or \
                        (broker is None and "orm-pg" in setups):
                    for w in workers:
                        runs.append(measure(db, setup, broker, w, log))
                        print(f"  {setup}, {w} worker(s): done")
            if not args.no_loop:
                loops.append(loop(db, "PostgreSQL"))
        if "sqlite" in setups:
            path = workdir / "org.sqlite3"
            db = Database("SQLite", f"sqlite:///{path}", str(path), "lite", args.users, log)
            prepare(db, sim, args.contacts_per_user, args.contacts_in_org, None, log, seed)
            for w in workers:
                runs.append(measure(db, "ORM + SQLite", None, w, log))
                print(f"  ORM + SQLite, {w} worker(s): done")
            if not args.no_loop:
                loops.append(loop(db, "SQLite"))
        if args.enqueue_users:
            big = enqueue_big(pg, redis, setups, args.enqueue_users, workdir, log)
        for d in org_dbs:
            if d == "pg":
                assert pg is not None
                db = Database("PostgreSQL", pg.create("ls_scale_org"), "ls_scale_org",
                              org_prefixes[d], ORG_USERS, log, pg)
            else:
                path = workdir / "org-ratio.sqlite3"
                db = Database("SQLite", f"sqlite:///{path}", str(path), org_prefixes[d],
                              ORG_USERS, log)
            orgs.append(org_size_ratio(db, sim, args.org_contacts))
    finally:
        sim.close()
        if redis:
            redis.close()
        if pg:
            pg.close()
    report(runs, loops, big, args.enqueue_users, orgs)
    print(f"\nbench done in {time.monotonic() - bench_started:.0f} s")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
