"""kill -9 of real sync processes (SPEC §4 "Stamps", §12): `manage.py lightningsync_sync`
against exchangesim running as its own process (--data), on the database DATABASE_URL
names (PostgreSQL) or a SQLite file.

A 3,000-contact import (Both ways) and a 3,000-contact push (CRM to Exchange) are each killed
with SIGKILL at 20 seeded points, rerun after each kill (busy while the dead worker's lease
lasts, then taken over), and run to completion: no duplicate and no lost contact on either
side, every linked item stamped with the org ID and its CRM id, nobody left claimed, and a
further cycle writes nothing. A point is a progress level (links committed, and for the
import stamped, read from the database as the cycle runs; below 90 % of the contacts, so
every kill falls while work remains) and a delay of up to 0.3 s after it: the kills fall
inside GetItem and stamping requests, page commits, stamping chunks, creates and their
links. KILL9_CONTACTS and KILL9_KILLS scale the scenario down.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from lightningsync.models import ContactLink, User
from syncengine.transports.ews.stamps import PROPERTY_SET_ID

from .processes import (
    Database,
    SimProcess,
    World,
    contact_fields,
    kill_points,
    seed_simulator,
)

pytestmark = pytest.mark.slow

CONTACTS = int(os.environ.get("KILL9_CONTACTS", "3000"))
KILLS = int(os.environ.get("KILL9_KILLS", "20"))
LEASE_SECONDS = 2  # every process of these tests runs with this lease
SEED = 20260307
IMPORTER, PUSHER, SLOW = "importer@example.com", "pusher@example.com", "slow@example.com"
WRITES = ("CreateItem", "UpdateItem", "DeleteItem", "MoveItem", "CreateFolder")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    workdir = tmp_path_factory.mktemp("kill9")
    data = workdir / "exchange.json"
    seed_simulator(data, {
        IMPORTER: [contact_fields(i, "imp") for i in range(CONTACTS)],
        PUSHER: [],
        SLOW: [contact_fields(0, "slow")],
    })
    db = Database(workdir, "kill9")
    sim = SimProcess(data)
    try:
        world = World(db, sim, LEASE_SECONDS)
        migrated = world.manage("migrate", "-v0")
        assert migrated.returncode == 0, migrated.stderr
        world.org_id = world.query("prepare", ews_url=sim.ews_url, users=[
            {"email": IMPORTER, "direction": "both"},
            {"email": PUSHER, "direction": "crm_to_exchange", "crm_contacts": CONTACTS},
            {"email": SLOW, "direction": "both"},
        ])["org_id"]
        yield world
    finally:
        sim.close()
        db.drop()


def _stamps(item: dict[str, Any]) -> tuple[str | None, str | None]:
    """(org ID, CRM id) our extended properties hold on a simulator item."""
    props = {p["PropertyName"]: p["Value"] for p in item.get("extended", [])
             if p.get("PropertySetId", "").lower() == PROPERTY_SET_ID}
    return props.get("LightningSyncOrgId"), props.get("LightningSyncCrmId")


def _assert_synced_whole(world: World, email: str) -> None:
    """Both sides hold each contact once, linked, stamped; the user is not claimed."""
    state = world.query("state", email=email)
    items = world.sim.items(email)
    contacts = {pk: address for pk, address in state["contacts"]}
    assert len(items) == CONTACTS, "Salesforce_Sync lost or duplicated contacts"
    assert len(contacts) == CONTACTS, "the CRM lost or duplicated contacts"
    assert len(set(contacts.values())) == CONTACTS, "two CRM contacts of one person"
    links = {exchange_id: (contact_id, link_state, needs_stamp)
             for contact_id, exchange_id, link_state, needs_stamp in state["links"]}
    assert len(links) == len(state["links"]) == CONTACTS
    assert {i["id"] for i in items} == set(links)
    assert {c for c, _, _ in links.values()} == set(contacts)
    assert {(s, n) for _, s, n in links.values()} == {("active", False)}
    unstamped = [i["id"] for i in items
                 if _stamps(i) != (world.org_id, str(links[i["id"]][0]))]
    assert unstamped == [], f"{len(unstamped)} linked items lack their stamps"
    assert state["claim"] == {"claim_token": "", "claimed_until": ""}, "left claimed"


def _assert_quiet(world: World, email: str) -> None:
    """A further cycle writes nothing on either side."""
    before = world.query("state", email=email)
    writes = world.sim.requests(email, *WRITES)
    outcome = world.sync(email)
    assert outcome.synced, outcome.stdout + outcome.stderr
    # Updates, removals and unlinks are only named when there were any.
    assert outcome.stdout == (
        f"{email}: 0 contacts added to the CRM, 0 sent to Exchange, 0 conflicts\n"), outcome.stdout
    assert world.sim.requests(email, *WRITES) == writes
    assert world.query("state", email=email) == before


def _progress(world: World, email: str, stamped_only: bool) -> int:
    """Links the user's cycles have committed so far (with their stamps written, if asked)."""
    stamped = " AND l.needs_stamp = ?" if stamped_only else ""
    return int(world.db.scalar(
        f"SELECT COUNT(*) FROM {ContactLink._meta.db_table} l JOIN {User._meta.db_table} u "
        f"ON u.id = l.user_id WHERE u.email = ? AND l.state = ?{stamped}",
        email, "active", *([False] if stamped_only else [])))


@pytest.mark.parametrize(("email", "stamped_only"), [(IMPORTER, True), (PUSHER, False)],
                         ids=["import", "push"])
def test_kill9_at_random_points_then_to_completion_loses_and_duplicates_nothing(
        world: World, email: str, stamped_only: bool) -> None:
    started = time.monotonic()
    kills = busy = 0
    for level, delay in kill_points(SEED + len(email), KILLS, CONTACTS * 9 // 10, 0.3):
        at_start = world.sim.requests(email)

        def reached(level: int = level, at_start: int = at_start) -> bool:
            return world.sim.requests(email) > at_start and (
                _progress(world, email, stamped_only) >= level)

        outcome, waited = world.sync_until_not_busy(email, kill_when=reached, after=delay)
        assert outcome.killed, f"the sync ended before kill {kills + 1}: {outcome.stdout}"
        kills += 1
        busy += waited  # the killed worker's claim, until its lease lapsed
    final, _ = world.sync_until_not_busy(email)
    assert final.synced, final.stdout + final.stderr
    _assert_synced_whole(world, email)
    _assert_quiet(world, email)
    assert kills == KILLS
    print(f"\n{email}: {KILLS} kills, {busy} busy reruns, {CONTACTS} contacts, "
          f"{world.db.engine}: {time.monotonic() - started:.0f} s")


def test_a_killed_workers_claim_is_taken_over_once_its_lease_lapses(world: World) -> None:
    """The worker dies inside a request to Exchange; its claim lasts one lease, no longer."""
    world.sim.post("add_fault", kind="delay", operation="SyncFolderItems", mailbox=SLOW,
                   delay=30.0)
    listing = world.sim.requests(SLOW, "SyncFolderItems")
    killed = world.sync(SLOW, kill_when=lambda: world.sim.requests(SLOW, "SyncFolderItems")
                        > listing)
    killed_at = time.time()
    assert killed.killed
    claim = world.query("state", email=SLOW)["claim"]
    assert claim["claim_token"] != ""
    held_until = dt.datetime.fromisoformat(claim["claimed_until"]).timestamp()
    assert killed_at < held_until <= killed_at + LEASE_SECONDS  # a lease, not a task time-out
    taken_over, _ = world.sync_until_not_busy(SLOW)
    assert taken_over.synced, taken_over.stdout + taken_over.stderr
    assert world.query("state", email=SLOW)["claim"] == {"claim_token": "", "claimed_until": ""}


def test_a_live_cycle_slower_than_its_lease_is_never_taken_over(world: World) -> None:
    """One request to Exchange lasts five leases: the heartbeat keeps the claim meanwhile."""
    world.sim.post("add_fault", kind="delay", operation="SyncFolderItems", mailbox=SLOW,
                   delay=5.0 * LEASE_SECONDS)
    listing = world.sim.requests(SLOW, "SyncFolderItems")
    slow = world.start_sync(SLOW)
    while world.sim.requests(SLOW, "SyncFolderItems") == listing and slow.poll() is None:
        time.sleep(0.02)
    waiting_since = time.monotonic()
    others = []  # other workers try the user while the request lasts (started in its first
    while time.monotonic() - waiting_since < 1.5 * LEASE_SECONDS:  # leases, ended before it)
        others.append(world.sync(SLOW))
    stdout, stderr = slow.communicate()
    assert slow.returncode == 0 and f"{SLOW}: " in stdout, stdout + stderr
    assert others and all(o.busy for o in others), [o.stdout for o in others]
    assert world.query("state", email=SLOW)["claim"] == {"claim_token": "", "claimed_until": ""}
