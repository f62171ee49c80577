"""Real processes for the kill -9 tests: a database of their own, exchangesim as its own
process, and `manage.py lightningsync_sync` runs that a test may kill.

The database is what DATABASE_URL names (PostgreSQL: a database of its own beside it, made
and dropped here), else a SQLite file (WAL, as in production). Every process uses the
production settings module with test keys. The database is read and seeded by this module
run as a process (`python -m tests.engine.processes COMMAND JSON`): the test's own database
connection is the test database, which other processes cannot see.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SERVICE_USER = "svc-sync@example.com"
SERVICE_PASSWORD = "Sync-Pa55!"
SYNC_FOLDER = "contacts/Salesforce_Sync"
TEST_ENV = {
    "DJANGO_SETTINGS_MODULE": "lightningsync.settings",
    "SECRET_KEY": "test-secret-key-" + "k" * 40,
    "LIGHTNINGSYNC_ENCRYPTION_KEYS": "n1Qm2nXl0V7p3Xw9bWQy8hC7mYc5dH0sYxZ3kq8UrtE=",
    "LIGHTNINGSYNC_ALLOW_HTTP_HOSTS": "127.0.0.1,localhost",
    "SECURE_SSL_REDIRECT": "false",
    "LOG_LEVEL": "WARNING",
    "PYTHONUNBUFFERED": "1",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the database ---------------------------------------------------------------------------
def environ_config(url: str) -> dict[str, Any]:
    import environ

    return dict(environ.Env.db_url_config(url))


class Database:
    """A database for processes: a SQLite file, or a PostgreSQL database of its own."""

    def __init__(self, workdir: Path, suffix: str) -> None:
        given = os.environ.get("DATABASE_URL", "")
        self.postgres = given.startswith(("postgres://", "postgresql://"))
        if self.postgres:
            parts = urllib.parse.urlsplit(given)
            self.name = f"{parts.path.lstrip('/') or 'lightningsync'}_{suffix}"
            self.url = urllib.parse.urlunsplit(parts._replace(path=f"/{self.name}"))
            self._admin = environ_config(urllib.parse.urlunsplit(parts._replace(path="/postgres")))
            self._execute(f'DROP DATABASE IF EXISTS "{self.name}"')
            self._execute(f'CREATE DATABASE "{self.name}"')
        else:
            self.name = str(workdir / f"{suffix}.sqlite3")
            self.url = f"sqlite:///{self.name}"

    @property
    def engine(self) -> str:
        return "postgresql" if self.postgres else "sqlite"

    def scalar(self, sql: str, *params: Any) -> Any:
        """One value read straight from the database (`?` placeholders), while processes
        write to it: a cheap progress probe."""
        if self.postgres:
            import psycopg

            a = environ_config(self.url)
            with psycopg.connect(host=a["HOST"], port=a["PORT"] or 5432, user=a["USER"],
                                 password=a["PASSWORD"] or None, dbname=self.name,
                                 autocommit=True) as conn:
                row = conn.execute(sql.replace("?", "%s"), params).fetchone()
        else:
            import sqlite3

            conn = sqlite3.connect(f"file:{self.name}?mode=ro", uri=True, timeout=20)
            try:
                row = conn.execute(sql, params).fetchone()
            finally:
                conn.close()
        return row[0] if row else None

    def _execute(self, sql: str) -> None:
        import psycopg

        a = self._admin
        with psycopg.connect(host=a["HOST"], port=a["PORT"] or 5432, user=a["USER"],
                             password=a["PASSWORD"] or None, dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(sql)

    def drop(self) -> None:
        if self.postgres:
            self._execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


# --- the simulator --------------------------------------------------------------------------
class SimProcess:
    """`python -m exchangesim --data FILE` on a free port, driven over its control API."""

    def __init__(self, data: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "exchangesim", "--port", str(self.port), "--data", str(data)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                self.call("health")
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                    raise RuntimeError(f"exchangesim did not start: {err[-2000:]}") from None
                time.sleep(0.1)

    @property
    def ews_url(self) -> str:
        return f"{self.base_url}/EWS/Exchange.asmx"

    def call(self, name: str, **kwargs: Any) -> Any:
        """GET /_sim/<name>?kwargs (the read-only calls)."""
        query = f"?{urllib.parse.urlencode(kwargs)}" if kwargs else ""
        with urllib.request.urlopen(f"{self.base_url}/_sim/{name}{query}", timeout=60) as resp:
            return json.loads(resp.read()).get("result")

    def post(self, name: str, **kwargs: Any) -> Any:
        req = urllib.request.Request(
            f"{self.base_url}/_sim/{name}", data=json.dumps(kwargs).encode(), method="POST",
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read())["result"]

    def requests(self, mailbox: str, *operations: str) -> int:
        """EWS requests made for the mailbox so far (of these operations, or all)."""
        counts = self.call("counts")
        return sum(per.get(mailbox, 0) for op, per in counts.items()
                   if not operations or op in operations)

    def items(self, mailbox: str, folder: str = SYNC_FOLDER) -> list[dict[str, Any]]:
        return list(self.call("items", mailbox=mailbox, folder=folder))

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def seed_simulator(data: Path, mailboxes: dict[str, list[dict[str, Any]]]) -> None:
    """A data file for the simulator: the service account, and each mailbox with these
    contacts (EWS element names) in Salesforce_Sync."""
    from exchangesim.control import Simulator

    sim = Simulator()
    sim.add_service_account(SERVICE_USER, SERVICE_PASSWORD)
    for mailbox, contacts in mailboxes.items():
        sim.add_mailbox(mailbox)
        sim.create_folder(mailbox, "Salesforce_Sync", parent="contacts")
        for fields in contacts:
            sim.create_contact(mailbox, folder=SYNC_FOLDER, **fields)
    sim.save(str(data))


# --- the world: database, simulator, commands -------------------------------------------------
@dataclass
class Outcome:
    """How one `lightningsync_sync` process ended."""

    killed: bool
    stdout: str
    stderr: str
    returncode: int | None

    @property
    def busy(self) -> bool:
        """Another worker holds the user: said on stderr, and the command exits 1."""
        return "Another worker is syncing this user" in self.stderr and self.returncode == 1

    @property
    def synced(self) -> bool:
        return self.returncode == 0


@dataclass
class World:
    db: Database
    sim: SimProcess
    lease_seconds: int
    env: dict[str, str] = field(default_factory=dict)
    org_id: str = ""

    def __post_init__(self) -> None:
        self.env = {**os.environ, **TEST_ENV, "DATABASE_URL": self.db.url,
                    "LIGHTNINGSYNC_CLAIM_LEASE_SECONDS": str(self.lease_seconds)}

    def manage(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=timeout, check=False)

    def query(self, command: str, **kwargs: Any) -> Any:
        """Run a command of this module against the world's database; its JSON answer."""
        out = subprocess.run(
            [sys.executable, "-m", "tests.engine.processes", command, json.dumps(kwargs)],
            cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=600, check=False)
        if out.returncode:
            raise RuntimeError(f"{command} failed: {out.stderr[-3000:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])

    def start_sync(self, email: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "manage.py", "lightningsync_sync", "--user", email], cwd=ROOT,
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def sync(self, email: str, *, kill_when: Callable[[], bool] | None = None,
             after: float = 0.0) -> Outcome:
        """One `lightningsync_sync --user EMAIL` process; with `kill_when`, SIGKILLed `after`
        seconds once that holds (polled while the process runs), unless it ended before."""
        proc = self.start_sync(email)
        killed = False
        if kill_when is not None:
            while proc.poll() is None and not kill_when():
                time.sleep(0.02)
            if proc.poll() is None:
                time.sleep(after)
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    killed = True
        try:
            stdout, stderr = proc.communicate(timeout=600)
        finally:
            if proc.poll() is None:
                proc.kill()
        return Outcome(killed, stdout, stderr, proc.returncode)

    def sync_until_not_busy(self, email: str, *, kill_when: Callable[[], bool] | None = None,
                            after: float = 0.0) -> tuple[Outcome, int]:
        """A rerun after a crash: busy while the dead worker's lease lasts, then it takes the
        user over. The outcome of the run that did, and how many were busy before it."""
        for busy in range(40):
            outcome = self.sync(email, kill_when=kill_when, after=after)
            if not outcome.busy:
                return outcome, busy
            time.sleep(self.lease_seconds / 4)
        raise AssertionError(f"{email} still busy after 40 runs: {outcome.stdout}")


def contact_fields(i: int, tag: str) -> dict[str, Any]:
    """An Outlook contact with most mapped fields set (unique per index and tag)."""
    return {
        "GivenName": f"First{i}", "Surname": f"Last{i} {tag}", "CompanyName": "Acme",
        "JobTitle": "Buyer", "Department": "Ops",
        "EmailAddresses": {"EmailAddress1": f"{tag}{i}@example.net"},
        "PhoneNumbers": {"BusinessPhone": "+1 555 0100", "MobilePhone": f"+1 555 {i:04d}"},
        "PhysicalAddresses": {"Business": {"Street": f"{i} Main St", "City": "Springfield"}},
        "Body": f"Notes for contact {i}",
    }


def kill_points(seed: int, n: int, below: int, most_delay: float) -> list[tuple[int, float]]:
    """n seeded kill points: progress levels in [0, below), in order, each with a delay
    (seconds, up to `most_delay`) between reaching the level and the kill."""
    rng = random.Random(seed)
    levels = sorted(rng.randrange(below) for _ in range(n))
    return [(level, rng.uniform(0.0, most_delay)) for level in levels]


# --- commands run as a process against the world's database -----------------------------------
def _prepare(ews_url: str, users: list[dict[str, Any]]) -> dict[str, Any]:
    """Setup pointed at the simulator; each user in a configuration of its direction, with
    `crm_contacts` CRM contacts of its own."""
    from lightningsync.models import (
        ConfigurationUser,
        Contact,
        LightningSyncSetup,
        SyncConfiguration,
        User,
    )

    setup = LightningSyncSetup.load()
    setup.enabled = True
    setup.connection_method = LightningSyncSetup.ConnectionMethod.SERVICE_ACCOUNT
    setup.ews_url = ews_url
    setup.service_account_username = SERVICE_USER
    setup.auth_type = LightningSyncSetup.AuthType.BASIC
    setup.set_service_account_password(SERVICE_PASSWORD)
    setup.save()
    for spec in users:
        user = User.objects.create(username=spec["email"].split("@")[0], email=spec["email"])
        config = SyncConfiguration.objects.create(
            name=f"Kill test {user.username}", contacts_direction=spec["direction"],
            contacts_ownership="users_records")
        ConfigurationUser.objects.create(user=user, configuration=config)
        Contact.objects.bulk_create([
            Contact(owner=user, first_name=f"First{i}", last_name=f"Crm{i}",
                    email=f"crm{i}@{user.username}.test", title="Buyer", phone="+1 555 0100",
                    mailing_city="Springfield", description=f"Notes for contact {i}")
            for i in range(spec.get("crm_contacts", 0))
        ], batch_size=1000)
    return {"org_id": str(setup.org_id)}


def _state(email: str) -> dict[str, Any]:
    """The user's claim, CRM contacts and links."""
    from lightningsync.models import Contact, ContactLink, User, UserSyncState

    user = User.objects.get(email=email)
    claim = UserSyncState.objects.filter(user=user).values("claim_token", "claimed_until").first()
    return {
        "claim": {k: str(v) if v else "" for k, v in (claim or {}).items()},
        "contacts": list(Contact.objects.filter(owner=user).order_by("pk")
                         .values_list("pk", "email")),
        "links": list(ContactLink.objects.filter(user=user).order_by("pk").values_list(
            "contact_id", "exchange_id", "state", "needs_stamp")),
        "updated": str(max((c.updated_at for c in Contact.objects.filter(owner=user)),
                           default="")),
    }


def main() -> None:
    import django

    django.setup()
    command, kwargs = sys.argv[1], json.loads(sys.argv[2])
    result = {"prepare": _prepare, "state": _state}[command](**kwargs)
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
