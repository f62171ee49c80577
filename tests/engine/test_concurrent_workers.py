"""Workers syncing different users never fail on each other on the embedded SQLite (SPEC §12).

Real processes on one SQLite file with the demo's settings (WAL, IMMEDIATE transactions),
against one simulator: two `lightningsync_sync` commands, then `qcluster` with two workers
and the ORM broker. One rep imports from Exchange while another pushes to it, so that each
commits pages while the other is between a read and its next write.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from exchangesim.pytest_plugin import RunningSim, start_sim

from .ews_rep import SYNC_FOLDER

ROOT = Path(__file__).resolve().parents[2]
CONTACTS = 1500
LOCKED = "database is locked"

_SEED = """
from django.db import transaction
from lightningsync.models import Contact, LightningSyncSetup, SyncConfiguration, User
setup = LightningSyncSetup.load()
setup.enabled = True
setup.connection_method = "service_account"
setup.ews_url = spec["ews_url"]
setup.service_account_username = spec["username"]
setup.set_service_account_password(spec["password"])
setup.save()
config = SyncConfiguration.objects.create(name="Reps", contacts_direction="both")
for email, pushes in spec["users"]:
    user = User.objects.create(username=email.split("@")[0], email=email)
    config.users.add(user)
    with transaction.atomic():
        Contact.objects.bulk_create([
            Contact(owner=user, first_name=f"P{n}", last_name=f"Pushed {email}",
                    email=f"{n}.{email}") for n in range(pushes)])
if spec["enqueue"]:
    from syncengine.tasks import enqueue_all_users
    enqueue_all_users()
"""


@dataclass
class SqliteOrg:
    """An org on a SQLite file, its reps' mailboxes on a simulator, run by real processes."""

    path: Path
    running: RunningSim

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ, "DEBUG": "true", "DATABASE_URL": f"sqlite:///{self.path}",
            "DJANGO_SETTINGS_MODULE": "lightningsync.settings", "Q_WORKERS": "2",
            "LIGHTNINGSYNC_SYNC_INTERVAL_MINUTES": "60", "LIGHTNINGSYNC_PUSH_ON_CHANGE": "false",
            "LIGHTNINGSYNC_ALLOW_HTTP_HOSTS": "127.0.0.1",
        }

    def manage(self, *args: str, **kwargs: Any) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, text=True,
            stdout=kwargs.pop("stdout", subprocess.PIPE), stderr=subprocess.STDOUT, **kwargs)

    def run(self, *args: str) -> str:
        proc = self.manage(*args)
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, out
        return out

    def seed(self, importers: list[str], pushers: list[str], *, enqueue: bool = False) -> None:
        """Importers keep CONTACTS contacts in Salesforce_Sync; pushers own CONTACTS in the CRM."""
        sim = self.running.sim
        for email in importers + pushers:
            sim.add_mailbox(email)
        for email in importers:
            sim.create_folder(email, "Salesforce_Sync")
            for n in range(CONTACTS):
                sim.create_contact(email, folder=SYNC_FOLDER, GivenName=f"I{n}",
                                   Surname=f"Imported {email}",
                                   EmailAddresses={"EmailAddress1": f"{n}.imported.{email}"})
        spec = {"ews_url": self.running.ews_url, "username": self.running.username,
                "password": self.running.password, "enqueue": enqueue,
                "users": [[e, 0] for e in importers] + [[e, CONTACTS] for e in pushers]}
        self.run("shell", "-c", f"spec = {spec!r}\n{_SEED}")

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.path, timeout=30) as db:
            return db.execute(sql).fetchall()

    def end_state(self) -> dict[str, tuple[int, int, int]]:
        """{email: (CRM contacts owned, active links, items in Salesforce_Sync)}."""
        rows = self.query(
            "SELECT u.email,"
            " (SELECT COUNT(*) FROM lightningsync_contact c WHERE c.owner_id = u.id),"
            " (SELECT COUNT(*) FROM lightningsync_contactlink l WHERE l.user_id = u.id"
            "  AND l.state = 'active') FROM lightningsync_user u")
        return {email: (owned, linked, len(self.running.sim.items(email, SYNC_FOLDER)))
                for email, owned, linked in rows}

    def errors(self) -> list[tuple[str, str]]:
        return self.query("SELECT kind, message FROM lightningsync_lightningsyncerror")


@pytest.fixture
def sqlite_org(tmp_path: Path) -> Iterator[SqliteOrg]:
    running = start_sim()
    try:
        org = SqliteOrg(tmp_path / "org.sqlite3", running)
        org.run("migrate", "--noinput", "-v", "0")
        yield org
    finally:
        running.close()


def test_two_sync_commands_on_one_sqlite_file_both_complete(sqlite_org: SqliteOrg) -> None:
    sqlite_org.seed(importers=["importer@example.com"], pushers=["pusher@example.com"])
    procs = {email: sqlite_org.manage("lightningsync_sync", "--user", email)
             for email in ("importer@example.com", "pusher@example.com")}
    outputs = {email: p.communicate(timeout=300)[0] for email, p in procs.items()}
    assert LOCKED not in "".join(outputs.values()), outputs
    assert {e: p.returncode for e, p in procs.items()} == dict.fromkeys(procs, 0), outputs
    assert sqlite_org.end_state() == {"importer@example.com": (CONTACTS, CONTACTS, CONTACTS),
                                      "pusher@example.com": (CONTACTS, CONTACTS, CONTACTS)}
    assert sqlite_org.errors() == []


def test_qcluster_with_two_workers_syncs_several_users_on_one_sqlite_file(
        sqlite_org: SqliteOrg, tmp_path: Path) -> None:
    importers = ["importer1@example.com", "importer2@example.com"]
    pushers = ["pusher1@example.com", "pusher2@example.com"]
    sqlite_org.seed(importers, pushers, enqueue=True)
    log_path = tmp_path / "worker.log"
    with log_path.open("w") as log:
        # Its own process group: the cluster's children go with it, whatever happens.
        cluster = sqlite_org.manage("qcluster", stdout=log, start_new_session=True)
        try:
            for _ in range(600):  # until the four users are done, at most ~5 minutes
                finished = sqlite_org.query(
                    "SELECT COUNT(*) FROM lightningsync_usersyncstate"
                    " WHERE last_sync_finished_at IS NOT NULL AND claim_token = ''")[0][0]
                queued = sqlite_org.query("SELECT COUNT(*) FROM django_q_ormq")[0][0]
                if (finished, queued) == (4, 0) or cluster.poll() is not None:
                    break
                time.sleep(0.5)
        finally:
            cluster.send_signal(signal.SIGTERM)
            cluster.wait(timeout=60)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(cluster.pid, signal.SIGKILL)  # a child left behind
    log_text = log_path.read_text()
    assert LOCKED not in log_text, log_text
    assert (finished, queued) == (4, 0), log_text
    # A successful sync task is not stored; a failed one would be.
    assert sqlite_org.query("SELECT func FROM django_q_task") == [], log_text
    assert sqlite_org.end_state() == {email: (CONTACTS, CONTACTS, CONTACTS)
                                      for email in importers + pushers}
    assert sqlite_org.errors() == []
