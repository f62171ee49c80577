"""Event sync benchmarks: the engine through EWS (real exchangelib) against exchangesim.

    .venv/bin/python bench/events.py [--events 5000] [--outside 15000] [--users 200]
                                     [--rounds 1] [--quick] [--sim-in-process]

Prints figures and a table; asserts nothing. Django runs with `tests.settings` on a
throwaway SQLite file (or `DATABASE_URL` when set; rows of users named `bench-*` go).

1. Initial Exchange→CRM of a calendar holding N in-window events among N + M items (M ended
   before the date window): events/s, and the ratio to the floor measured in the same run
   with the transport's own parser (SyncFolderItems pages of 512 with the deciding fields,
   the window applied to them, GetItem of the mapped fields of the N in chunks of 100, one
   bulk insert of N Event rows); EWS requests per 1,000 events.
2. A cycle with no changes, contacts (Both ways) and events on, for U users whose calendars
   hold a few events, synced before: EWS requests and SQL queries per user
   (1,000 users is the goal's size: `--users 1000`; the default runs in a few minutes).
3. The same two over Microsoft Graph (`bench/events_graph.py`; `--no-graph` leaves them out,
   `--only-graph` runs them alone).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import contacts as cb  # noqa: E402

GOALS = {"rate": 1000.0, "ratio": 1.5, "idle_ews": 2.0, "idle_sql": 14.0}
NOW = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)


def _mailbox(round_: int) -> str:
    return f"bench-ev-{round_}@example.com"


def seed_calendar(sim: Any, mailbox: str, inside: int, outside: int) -> None:
    """`inside` events in the coming weeks, `outside` ones that ended before today."""
    sim.add_mailbox(mailbox)
    for i in range(inside + outside):
        days = 1 + i % 60 if i < inside else -(2 + i % 700)
        start = NOW + dt.timedelta(days=days, minutes=i % 600)
        sim.create_event(mailbox, Subject=f"Meeting {i}", Start=start,
                         End=start + dt.timedelta(minutes=45), Location=f"Room {i % 40}",
                         Body=f"Agenda for meeting {i}",
                         RequiredAttendees=[f"guest{i % 90}@customer.example"])


def make_users(n: int, prefix: str, contacts: str) -> list[Any]:
    from lightningsync.models import ConfigurationUser, SyncConfiguration, User

    config = SyncConfiguration.objects.create(
        name=f"Bench {prefix}", contacts_direction=contacts, contacts_ownership="users_records",
        events_direction="exchange_to_crm", auto_relate_events=True,
    )
    User.objects.bulk_create([User(username=f"bench-{prefix}-{i}",
                                   email=f"bench-{prefix}-{i}@example.com") for i in range(n)])
    users = list(User.objects.filter(username__startswith=f"bench-{prefix}-").order_by("pk"))
    ConfigurationUser.objects.bulk_create(
        [ConfigurationUser(user=u, configuration=config) for u in users])
    return users


def clean() -> None:
    from lightningsync.models import Event

    Event.objects.filter(owner__username__startswith="bench-").delete()
    cb.clean_bench_rows()


# --- 1. initial sync ----------------------------------------------------------------------
def floor(setup: Any, mailbox: str, owner: Any, n: int) -> tuple[float, float]:
    """The raw work with the transport's parser: listing with the deciding fields, the
    window, GetItem of the mapped fields of what passes, one bulk insert. (wall seconds,
    this process's CPU seconds)"""
    from exchangelib.folders import Calendar, Folder

    from lightningsync.models import Event
    from syncengine.cycle.connection import connection_settings
    from syncengine.events.rules import EventRules
    from syncengine.transports.ews.calendar_xml import event_paths, listing_paths
    from syncengine.transports.ews.client import account_for
    from syncengine.transports.ews.services import GetEvents, SyncFolderItemIds
    from syncengine.transports.ews.transport import GET_CHUNK, EwsTransport
    from syncengine.transports.protocol import EVENT_FIELDS, CalendarItemType

    settings = connection_settings(setup, owner)
    account = account_for(settings.__class__(**{**settings.__dict__, "mailbox": mailbox}))
    calendar_id = EwsTransport(account, str(setup.org_id), read_concurrency=1)._distinguished(
        Calendar).id
    window = EventRules(NOW.replace(hour=0), NOW.date(), None, False)
    started, cpu = time.perf_counter(), time.process_time()
    folder = Folder(root=account.root, id=calendar_id)
    ids: list[str] = []
    state = None
    while True:
        svc = SyncFolderItemIds(account=account)
        for _kind, item in svc.call(folder=folder, shape="IdOnly",
                                    additional_fields=listing_paths(), sync_state=state,
                                    ignore=None, max_changes_returned=512,
                                    sync_scope="NormalItems"):
            if item.event is not None and item.event.item_type == CalendarItemType.SINGLE and (
                    window.verdict(item.event).value == "sync"):
                ids.append(item.id)
        state = svc.sync_state
        if svc.includes_last_item_in_range:
            break
    rows = []
    paths = event_paths(EVENT_FIELDS)
    for start in range(0, len(ids), GET_CHUNK):
        get = GetEvents(account=account, chunk_size=GET_CHUNK)
        get.names = EVENT_FIELDS
        for item in get.call(items=[(i, None) for i in ids[start : start + GET_CHUNK]],
                             additional_fields=paths, shape="IdOnly"):
            f = item.fields
            rows.append(Event(owner=owner, subject=f["Subject"] or "", start=f["Start"],
                              end=f["End"], location=f["Location"] or ""))
    Event.objects.bulk_create(rows, batch_size=1000)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert len(rows) == n, (len(rows), n)
    Event.objects.filter(owner=owner).delete()
    return seconds, cpu


def bench_initial(sim: Any, setup: Any, n: int, rounds: int) -> dict[str, float]:
    users = make_users(rounds, "ev", "none")
    engine, floors, requests = [], [], []
    report = None
    for round_, user in enumerate(users):
        floor_s, floor_cpu = floor(setup, _mailbox(round_), user, n)
        floors.append(floor_s)
        sim.reset_counters()
        profile = os.environ.get("BENCH_PROFILE")
        report, seconds, cpu = cb.timed_sync_cpu(user.pk, Path(profile) if profile else None)
        assert report.events is not None and report.events.created == n, report.summary()
        engine.append(seconds)
        per_op = {op: sum(v.values()) for op, v in sim.counts().items()}
        requests.append(sum(per_op.values()))
        print(f"  round {round_ + 1}: engine {seconds:.2f} s ({cpu:.2f} s CPU in this process), "
              f"floor (transport's parser) "
              f"{floors[-1]:.2f} s ({floor_cpu:.2f} s CPU); requests {per_op}")
    assert report is not None
    print(f"  last sync: {report.summary()}")
    seconds, floor_s = cb._median(engine), cb._median(floors)
    return {"rate": n / seconds, "ratio": seconds / floor_s, "floor_rate": n / floor_s,
            "requests_per_1000": cb._median(requests) * 1000 / n}


# --- 2. no-change cycles ------------------------------------------------------------------
def bench_idle(sim: Any, users_n: int) -> dict[str, float]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from syncengine.cycle.runner import sync_user

    users = make_users(users_n, "evidle", "both")
    started = time.perf_counter()
    for u in users:
        report = sync_user(u.pk)
        assert report.outcome == "synced", report.summary()
        assert report.events is not None and report.events.created == 3, report.summary()
    initial = time.perf_counter() - started
    sim.reset_counters()
    total_queries = 0
    first: list[dict[str, Any]] = []
    started = time.perf_counter()
    for u in users:
        with CaptureQueriesContext(connection) as queries:
            report = sync_user(u.pk)
        assert report.events is not None and report.events.written == 0, report.summary()
        total_queries += len(queries)
        first = first or list(queries.captured_queries)
    seconds = time.perf_counter() - started
    counts = sim.counts()
    print(f"  initial cycles of {users_n} mailboxes (3 events each): {initial:.2f} s")
    print(f"  no-change cycle requests: { {op: sum(v.values()) for op, v in counts.items()} }")
    print("  queries of one user's cycle:")
    for q in first:
        print(f"    {q['sql'][:110]}")
    return {"seconds": seconds,
            "ews_per_user": sum(sum(v.values()) for v in counts.values()) / users_n,
            "sql_per_user": total_queries / users_n}


def seed_idle(sim: Any, users_n: int) -> None:
    for i in range(users_n):
        mailbox = f"bench-evidle-{i}@example.com"
        sim.add_mailbox(mailbox)
        for e in range(3):
            start = NOW + dt.timedelta(days=1 + e)
            sim.create_event(mailbox, Subject=f"Call {e}", Start=start,
                             End=start + dt.timedelta(hours=1))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--events", type=int, default=5000)
    p.add_argument("--outside", type=int, default=15000)
    p.add_argument("--users", type=int, default=200)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="1,000 + 3,000 items, 50 users")
    p.add_argument("--sim-in-process", action="store_true")
    p.add_argument("--no-graph", action="store_true", help="leave out the Graph rows")
    p.add_argument("--only-graph", action="store_true", help="only the Graph rows")
    args = p.parse_args()
    if args.quick:
        args.events, args.outside, args.users = 1000, 3000, 50
    bench_started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="bench-events-"))
    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.db'}"
    cb.setup_django()
    cb.migrate()
    clean()
    from django.conf import settings

    from exchangesim.control import Simulator

    db = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    print(f"event sync bench: database {db}, {args.events} in-window events among "
          f"{args.events + args.outside} calendar items, {args.users} users")
    started = time.perf_counter()
    seeded = Simulator()
    seeded.add_service_account(cb.SERVICE_USER, cb.SERVICE_PASSWORD)
    for r in range(args.rounds):
        seed_calendar(seeded, _mailbox(r), args.events, args.outside)
    seed_idle(seeded, args.users)
    data = workdir / "sim.json"
    seeded.save(str(data))
    close: Any
    if args.sim_in_process:
        from exchangesim.server import SimServer

        server = SimServer(seeded, "127.0.0.1", 0).start()
        sim = cb.SimControl(server.base_url)
        close = server.stop
    else:
        del seeded
        process = cb.SimProcess(data)
        sim = cb.SimControl(process.control.base_url)
        close = process.close
    print(f"  seeded and started the simulator in {time.perf_counter() - started:.1f} s")
    # A worker has its modules loaded: neither measurement pays for importing them.
    import syncengine.cycle.runner
    import syncengine.transports.ews.transport  # noqa: F401

    initial: dict[str, float] = {}
    idle: dict[str, float] = {}
    try:
        if not args.only_graph:
            setup = cb.point_setup(sim.ews_url)
            print(f"1. initial Exchange→CRM, {args.events} of {args.events + args.outside} items")
            initial = bench_initial(sim, setup, args.events, args.rounds)
            print(f"2. no-change cycle (contacts and events), {args.users} users")
            idle = bench_idle(sim, args.users)
    finally:
        close()
    graph: dict[str, dict[str, float]] = {}
    if not args.no_graph:
        from bench import events_graph

        print("3. the same over Microsoft Graph")
        graph = events_graph.run(sys.modules[__name__], data, args.events, args.users)
    print(f"\nbench done in {time.perf_counter() - bench_started:.0f} s")
    print(cb._row("figure", "measured", "goal", None).replace("|      |", "| ok   |"))
    print("|" + "-" * 46 + "|" + "-" * 16 + "|" + "-" * 14 + "|" + "-" * 8 + "|")
    if initial:
        print(cb._row("Exchange→CRM events/s", f"{initial['rate']:.0f}", "≥ 1000",
                      initial["rate"] >= GOALS["rate"]))
        print(cb._row("Exchange→CRM time / floor (own parser)", f"{initial['ratio']:.2f}",
                      "≤ 1.5", initial["ratio"] <= GOALS["ratio"]))
        print(cb._row("  (floor events/s)", f"{initial['floor_rate']:.0f}", "", None))
        print(cb._row("Exchange→CRM requests / 1000 events",
                      f"{initial['requests_per_1000']:.1f}", "", None))
    if idle:
        print(cb._row("no-change cycle: EWS requests / user", f"{idle['ews_per_user']:.2f}",
                      "2", idle["ews_per_user"] <= GOALS["idle_ews"]))
        print(cb._row("no-change cycle: SQL queries / user", f"{idle['sql_per_user']:.1f}",
                      "≤ 14", idle["sql_per_user"] <= GOALS["idle_sql"]))
        print(cb._row(f"no-change cycle: s for {args.users} users", f"{idle['seconds']:.2f}",
                      "", None))
    if graph:
        from bench import events_graph

        for line in events_graph.rows(cb._row, graph):
            print(line)


if __name__ == "__main__":
    main()
