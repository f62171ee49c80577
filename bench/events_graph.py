"""The Graph rows of `bench/events.py`: the same event phases over Microsoft Graph.

The simulator runs in its own process over https (`--tls`, a throwaway CA), seeded from the
same data as the EWS phases, with an app registration granted Contacts.ReadWrite and
Calendars.ReadWrite (stamping events needs it); Setup switches to OAuth 2.0; tokens come
from the real msal. Figures: the initial Exchange→CRM rate with its requests per 1,000
events (calendar view pages and `$batch` requests), and a no-change cycle's requests per
user (the goal: one delta request per synced folder). With `BENCH_GRAPH_PROFILE=FILE` the
initial sync runs under cProfile (FILE, and a summary of where the time went).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from bench import contacts as cb
from bench.contacts_graph import CLIENT_ID, GraphSimProcess, point_setup_graph

ROLES = f"{CLIENT_ID}=Contacts.ReadWrite,Calendars.ReadWrite"
IN_BATCH = ("graph:getEvent", "graph:updateEvent", "graph:getContact", "graph:updateContact")


def _per_op(sim: Any) -> dict[str, int]:
    return {op: sum(v.values()) for op, v in sim.counts().items()}


def run(bench: Any, data: Path, events: int, users: int) -> dict[str, dict[str, float]]:
    """The Graph phases; `bench` is the `bench/events.py` module (its helpers)."""
    from lightningsync.models import User

    bench.clean()  # the EWS phases' users and events: this run starts from the same seed
    started = time.perf_counter()
    process = GraphSimProcess(cb.ROOT, data, cb._free_port(), ("--app-roles", ROLES))
    sim = cb.SimControl(process.base_url)
    sim.context = process.context
    print(f"  started the simulator over TLS in {time.perf_counter() - started:.1f} s")
    results: dict[str, dict[str, float]] = {}
    try:
        point_setup_graph(process.base_url, process.ca_file.read_text())
        print(f"G1. initial Exchange→CRM over Graph, {events} in-window events")
        (user,) = bench.make_users(1, "ev", "none")
        User.objects.filter(pk=user.pk).update(email=bench._mailbox(0))
        sim.reset_counters()
        profile = os.environ.get("BENCH_GRAPH_PROFILE")
        server = process.cpu_seconds()
        report, seconds, cpu = cb.timed_sync_cpu(user.pk, Path(profile) if profile else None)
        server = process.cpu_seconds() - server
        assert report.events is not None and report.events.created == events, report.summary()
        ops = _per_op(sim)
        print(f"  engine {seconds:.2f} s ({cpu:.2f} s CPU in this process, {server:.2f} s in "
              f"the simulator's); requests {ops}")
        print(f"  last sync: {report.summary()}")
        per_k = 1000 / events
        results["initial"] = {
            "rate": events / seconds,
            "cpu_ms": cpu * 1000 / events,
            "server_ms": server * 1000 / events,
            "delta_per_1000": ops.get("graph:calendarViewDelta", 0) * per_k,
            "batch_per_1000": ops.get("graph:batch", 0) * per_k,
            # HTTP requests: the reads and writes inside a `$batch` are not requests of their own.
            "requests_per_1000": sum(n for op, n in ops.items() if op not in IN_BATCH) * per_k,
        }
        # A calendar view round's state is taken as it starts, so the stamps written during
        # the initial listing come back in the next round: in the same cycle when the last
        # page was stamped, else in the next cycle. Both are counted.
        sim.reset_counters()
        server = process.cpu_seconds()
        report, seconds, cpu = cb.timed_sync_cpu(user.pk, None)
        server = process.cpu_seconds() - server
        after = _per_op(sim)
        print(f"  the next cycle: {seconds:.2f} s ({cpu:.2f} s CPU in this process, "
              f"{server:.2f} s in the simulator's); requests {after}")
        results["initial"]["next_pages_per_1000"] = (
            after.get("graph:calendarViewDelta", 0) * per_k)
        print(f"G2. no-change cycle over Graph (contacts and events), {users} users")
        idle = bench.bench_idle(sim, users)
        counts = sim.counts()
        results["idle"] = {
            "requests_per_user": idle["ews_per_user"],
            "calendar_per_user": sum(counts.get("graph:calendarViewDelta", {}).values()) / users,
            "contacts_per_user": sum(counts.get("graph:contactsDelta", {}).values()) / users,
            "sql_per_user": idle["sql_per_user"],
        }
    finally:
        process.close()
    return results


def rows(row: Any, results: dict[str, dict[str, float]]) -> list[str]:
    out = []
    if "initial" in results:
        r = results["initial"]
        out.append(row("Graph: Exchange→CRM events/s", f"{r['rate']:.0f}", "≥ 1000",
                       r["rate"] >= 1000))
        out.append(row("Graph: … CPU ms / event (this process)", f"{r['cpu_ms']:.2f}", "",
                       None))
        out.append(row("Graph: … CPU ms / event (simulator)", f"{r['server_ms']:.2f}", "",
                       None))
        out.append(row("Graph: calendar view pages / 1000 events",
                       f"{r['delta_per_1000']:.1f}", "≤ 5", r["delta_per_1000"] <= 5))
        out.append(row("Graph: … and in the next cycle / 1000 events",
                       f"{r['next_pages_per_1000']:.1f}", "", None))
        out.append(row("Graph: $batch requests / 1000 events", f"{r['batch_per_1000']:.1f}",
                       "≤ 50", r["batch_per_1000"] <= 50))
        out.append(row("Graph: HTTP requests / 1000 events", f"{r['requests_per_1000']:.1f}",
                       "", None))
    if "idle" in results:
        r = results["idle"]
        out.append(row("Graph: no-change requests / user", f"{r['requests_per_user']:.2f}",
                       "2", r["requests_per_user"] <= 2))
        out.append(row("Graph: no-change calendar deltas / user",
                       f"{r['calendar_per_user']:.2f}", "1", r["calendar_per_user"] == 1))
        out.append(row("Graph: no-change SQL queries / user", f"{r['sql_per_user']:.1f}",
                       "≤ 14", r["sql_per_user"] <= 14))
    return out
