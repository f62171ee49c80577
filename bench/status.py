"""Status and error report benchmarks: what Lightning Sync Status and the error report cost as
the org grows.

    .venv/bin/python bench/status.py [--sizes 10,1000,10000] [--errors 100000] [--rounds 5]

Prints figures; asserts nothing. Django runs with `tests.settings` on a throwaway SQLite file,
or on `DATABASE_URL` when set together with `--flush` (the bench empties that database
first: give it one of its own).

1. The status page (system statuses, a user found by name, that user's statuses) and
   `lightningsync_status --user EMAIL --json` with 10, 1,000 and 10,000 syncing users
   (each with a sync state, a connection result and two activity rows in the last 24
   hours): SQL queries (goal: the same at every size) and milliseconds (median; goal
   < 300 ms at 10,000 users). Also the status task (the snapshot every minute), which is
   the part that grows with the org.
2. The error report with 100,000 rows: milliseconds for its first page, a page deep in the
   list, a filtered page and a search; the CSV export of every row (streamed): milliseconds
   and the peak of Python memory while streaming, for 10,000 and for 100,000 rows (goal:
   flat, not growing with the rows).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GOAL_MS = 300.0


def setup_django(flush: bool) -> str:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    if os.environ.get("DATABASE_URL"):
        if not flush:
            sys.exit("DATABASE_URL is set: add --flush to let the bench empty that database.")
    else:
        path = os.path.join(tempfile.mkdtemp(prefix="bench-status-"), "bench.db")
        os.environ["DATABASE_URL"] = f"sqlite:///{path}"
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.LIGHTNINGSYNC_PUSH_ON_CHANGE = False
    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    return str(settings.DATABASES["default"]["ENGINE"]).rsplit(".", 1)[-1]


def measure(run: Callable[[], Any], rounds: int) -> tuple[int, float]:
    """(queries of one run, median milliseconds of `rounds` runs after a warm-up)."""
    from django.db import connections

    run()
    queries: list[str] = []

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        queries.append(sql)
        return execute(sql, params, many, context)

    # Every connection the run may open (a request closes and reopens its own).
    from django.db.backends.signals import connection_created

    def wrap(sender: Any, connection: Any, **kwargs: Any) -> None:
        connection.execute_wrappers.append(count)

    connection_created.connect(wrap)
    connection = connections["default"]
    connection.ensure_connection()
    connection.execute_wrappers.append(count)
    try:
        run()
    finally:
        connection_created.disconnect(wrap)
        for conn in connections.all():
            if count in conn.execute_wrappers:
                conn.execute_wrappers.remove(count)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return len(queries), statistics.median(times)


def grow_org(target: int, start: int, config: Any) -> None:
    """Syncing users bench-00000 .. up to `target`, each with a sync state, a connection
    result and two activity rows (a contact cycle each way, within the last 24 hours)."""
    from django.utils import timezone

    from lightningsync.models import (
        ConfigurationUser,
        ConnectionResult,
        SyncActivity,
        User,
        UserSyncState,
    )

    now = timezone.now()
    batch = 2000
    for first in range(start, target, batch):
        numbers = range(first, min(target, first + batch))
        users = User.objects.bulk_create([
            User(username=f"bench-{n:05d}", email=f"bench-{n:05d}@example.com",
                 first_name="Bench", last_name=f"Rep{n:05d}") for n in numbers])
        if users[0].pk is None:  # backends that do not return ids
            users = list(User.objects.filter(username__in=[u.username for u in users]))
        ConfigurationUser.objects.bulk_create(
            [ConfigurationUser(user=u, configuration=config) for u in users])
        UserSyncState.objects.bulk_create([
            UserSyncState(user=u, contacts_initial_sync_done=True, last_success_at=now,
                          last_sync_started_at=now, last_sync_finished_at=now) for u in users])
        ConnectionResult.objects.bulk_create([
            ConnectionResult(user=u, checked_at=now, source="sync", ok=True,
                             version_supported=True, contacts_folder_found=True)
            for u in users])
        activity = []
        for i, u in enumerate(users):
            at = now - dt.timedelta(minutes=(i * 7) % (24 * 60))
            for direction in ("exchange_to_crm", "crm_to_exchange"):
                activity.append(SyncActivity(user=u, object="contact", direction=direction,
                                             records=1 + i % 5, started_at=at, finished_at=at))
        SyncActivity.objects.bulk_create(activity)


def bench_status(sizes: list[int], rounds: int) -> None:
    from django.core.management import call_command
    from django.test import Client
    from django.urls import reverse

    from lightningsync.models import LightningSyncSetup, User
    from syncengine.tasks import refresh_statuses_task
    from tests.factories import StaffUserFactory, SyncConfigurationFactory

    LightningSyncSetup.load()
    LightningSyncSetup.objects.update(enabled=True, service_account_username="svc@example.com")
    config = SyncConfigurationFactory(name="Bench")
    admin = StaffUserFactory(username="bench-admin", is_superuser=True)
    client = Client()
    client.force_login(admin)
    url = reverse("admin:lightningsync_status")
    print("1. Lightning Sync Status (page: search + Check Status; command: --user --json)")
    print(f"{'users':>8} {'page q':>7} {'page ms':>8} {'cmd q':>6} {'cmd ms':>7} "
          f"{'task q':>7} {'task ms':>8}")
    grown = 0
    for size in sizes:
        grow_org(size, grown, config)
        grown = size
        task_q, task_ms = measure(refresh_statuses_task, 1)
        checked = User.objects.get(username="bench-00007")

        def page(checked: Any = checked) -> None:
            response = client.get(url, {"q": "Rep00007", "user": checked.pk})
            assert response.status_code == 200, response.status_code
            assert b"Sync status of" in response.content

        def command() -> None:
            call_command("lightningsync_status", "--user", "bench-00007@example.com", "--json",
                         stdout=io.StringIO())

        page_q, page_ms = measure(page, rounds)
        cmd_q, cmd_ms = measure(command, rounds)
        print(f"{size:>8} {page_q:>7} {page_ms:>8.1f} {cmd_q:>6} {cmd_ms:>7.1f} "
              f"{task_q:>7} {task_ms:>8.1f}")
    print(f"   goal: the same queries at every size; < {GOAL_MS:.0f} ms at 10,000 users")


def seed_errors(total: int, start: int) -> None:
    from django.utils import timezone

    from lightningsync.models import LightningSyncError, User

    users = list(User.objects.filter(username__startswith="bench-0").order_by("pk")[:100])
    now = timezone.now()
    kinds = ["item_rejected", "unresolved_account", "conflict", "throttled", "connection"]
    batch = 5000
    for first in range(start, total, batch):
        LightningSyncError.objects.bulk_create([
            LightningSyncError(
                user=users[n % len(users)], object="contact",
                direction="exchange_to_crm" if n % 2 else "crm_to_exchange",
                kind=kinds[n % len(kinds)], exchange_item_id=f"AAMk{n:08d}",
                crm_record_id=str(n), message=f"Exchange refused item {n}: ErrorItemSave",
                suggestion="Correct the contact in the CRM.", first_occurred_at=now,
                last_occurred_at=now - dt.timedelta(seconds=n), count=1 + n % 3,
                resolved=n % 4 == 0, fingerprint=f"bench-{n}")
            for n in range(first, min(total, first + batch))])


def bench_errors(total: int, rounds: int) -> None:
    from django.test import Client
    from django.urls import reverse

    from lightningsync.models import User

    client = Client()
    client.force_login(User.objects.get(username="bench-admin"))
    url = reverse("admin:lightningsync_lightningsyncerror_changelist")
    export = reverse("admin:lightningsync_lightningsyncerror_export")
    print(f"2. Error report ({total:,} rows, 100 per page)")
    seeded = 0
    for rows in sorted({min(10_000, total), total}):
        seed_errors(rows, seeded)
        seeded = rows

        def export_all(traced: bool) -> tuple[int, float, int]:
            """(rows, ms, peak bytes): timed without tracing, or traced (slower) for memory."""
            if traced:
                tracemalloc.start()
            start = time.perf_counter()
            response = client.get(export)
            lines = 0
            for chunk in response.streaming_content:
                lines += chunk.count(b"\n")
            ms = (time.perf_counter() - start) * 1000
            peak = 0
            if traced:
                _, peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
            return lines - 1, ms, peak

        exported, export_ms, _ = export_all(traced=False)
        _, _, peak = export_all(traced=True)
        print(f"   CSV export of {exported:,} rows: {export_ms:,.0f} ms, "
              f"peak Python memory while streaming {peak / 1e6:.1f} MB")
    for name, params in (
        ("first page", {}),
        ("last page", {"p": str(max(0, (total - 1) // 100))}),
        ("filtered (kind, resolved)", {"kind__exact": "item_rejected", "resolved__exact": "0"}),
        ("search", {"q": "AAMk00012345"}),
    ):
        def list_page(params: dict[str, str] = params) -> None:
            response = client.get(url, params)
            assert response.status_code == 200, response.status_code

        q, ms = measure(list_page, rounds)
        print(f"   list, {name}: {ms:,.0f} ms, {q} queries")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,1000,10000")
    parser.add_argument("--errors", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--flush", action="store_true",
                        help="allow emptying the database of DATABASE_URL")
    args = parser.parse_args()
    engine = setup_django(args.flush)
    print(f"Database: {engine}")
    bench_status([int(s) for s in args.sizes.split(",")], args.rounds)
    bench_errors(args.errors, args.rounds)


if __name__ == "__main__":
    main()
