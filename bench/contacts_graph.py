"""The Graph rows of `bench/contacts.py`: the same contact phases over Microsoft Graph.

The simulator runs in its own process over https (`--tls`, a throwaway CA) with a tenant and
an app registration; Setup switches to OAuth 2.0 with that CA as its trusted bundle; tokens
come from the real msal. Figures: the initial Exchange→CRM rate and its requests per 1,000
items (delta pages and `$batch` requests), the CRM→Exchange rate and its batches, and a
no-change cycle's requests per user.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

TENANT = "contoso.onmicrosoft.com"
CLIENT_ID = "3f2b8c1e-5d4a-4e6f-9a0b-7c8d9e0f1a2b"
SECRET = "Bench~Graph~Secret"
E2C_MAILBOX = "bench-graph-e2c@example.com"


class GraphSimProcess:
    """`python -m exchangesim --tls --tenant … --app …` on a free port, seeded from `data`."""

    def __init__(self, root: Path, data: Path, port: int, extra: tuple[str, ...] = ()) -> None:
        self.ca_file = Path(tempfile.mkdtemp(prefix="bench-graph-ca-")) / "ca.pem"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "exchangesim", "--port", str(port), "--data", str(data),
             "--autosave", "0", "--tls", "--ca-out", str(self.ca_file), "--tenant", TENANT,
             "--app", f"{CLIENT_ID}:{SECRET}", *extra],
            cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        self.base_url = f"https://127.0.0.1:{port}"
        deadline = time.monotonic() + 300
        while True:
            try:
                # The control API answers plain HTTP questions over the same TLS socket.
                import ssl

                context = ssl.create_default_context(cafile=str(self.ca_file))
                urllib.request.urlopen(f"{self.base_url}/_sim/health", timeout=1,
                                       context=context).read()
                self.context = context
                return
            except (OSError, ValueError):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                    raise SystemExit(f"exchangesim (TLS) did not start: {err[-2000:]}") from None
                time.sleep(0.1)

    def cpu_seconds(self) -> float:
        """The simulator process's CPU time so far (user + system, from /proc): the server's
        share of a sync, which a shared machine's wall clock cannot tell apart."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def point_setup_graph(base_url: str, ca_pem: str) -> Any:
    from django.utils import timezone

    from lightningsync.models import LightningSyncSetup

    setup = LightningSyncSetup.load()
    setup.enabled = True
    setup.connection_method = LightningSyncSetup.ConnectionMethod.OAUTH2
    setup.oauth_tenant_id = TENANT
    setup.oauth_client_id = CLIENT_ID
    setup.set_oauth_client_secret(SECRET)
    setup.graph_url = base_url
    setup.authority_url = base_url
    setup.ca_bundle = ca_pem
    setup.oauth_token_acquired_at = timezone.now()
    setup.save()
    return setup


def _per_op(sim: Any) -> dict[str, int]:
    return {op: sum(v.values()) for op, v in sim.counts().items()}


def run(
    bench: Any, contacts: int, users: int, workdir: Path, profile_dir: Path | None = None
) -> dict[str, dict[str, float]]:
    """The Graph phases; `bench` is the `bench/contacts.py` module (its helpers)."""
    from lightningsync.models import Account, Contact, User

    started = time.perf_counter()
    seeded = bench.seeded_simulator({E2C_MAILBOX: contacts})
    data = workdir / "sim-graph.json"
    seeded.save(str(data))
    del seeded
    process = GraphSimProcess(bench.ROOT, data, bench._free_port())
    sim = bench.SimControl(process.base_url)
    sim.context = process.context
    print(f"  seeded and started the simulator over TLS in {time.perf_counter() - started:.1f} s")
    results: dict[str, dict[str, float]] = {}
    try:
        point_setup_graph(process.base_url, process.ca_file.read_text())
        print(f"G1. initial Exchange→CRM over Graph, {contacts} contacts")
        (user,) = bench.make_users(1, "graph-e2c", "exchange_to_crm")
        User.objects.filter(pk=user.pk).update(email=E2C_MAILBOX)
        sim.reset_counters()
        server = process.cpu_seconds()
        report, seconds, cpu = bench.timed_sync_cpu(
            user.pk, profile_dir / "graph-e2c.prof" if profile_dir else None)
        server = process.cpu_seconds() - server
        assert report.contacts and report.contacts.crm_created == contacts, report.summary()
        ops = _per_op(sim)
        print(f"  engine {seconds:.2f} s ({cpu:.2f} s CPU in this process, {server:.2f} s in "
              f"the simulator's); requests {ops}")
        per_k = 1000 / contacts
        results["e2c"] = {
            "rate": contacts / seconds,
            "cpu_ms": cpu * 1000 / contacts,
            "server_ms": server * 1000 / contacts,
            "list_per_1000": ops.get("graph:listContacts", 0) * per_k,
            "delta_per_1000": ops.get("graph:contactsDelta", 0) * per_k,
            "batch_per_1000": ops.get("graph:batch", 0) * per_k,
        }

        print(f"G2. initial CRM→Exchange over Graph, {contacts} contacts")
        (pusher,) = bench.make_users(1, "graph-c2e", "crm_to_exchange")
        sim.add_mailbox(pusher.email)
        acme = Account.objects.get_or_create(name="Acme")[0]
        Contact.objects.bulk_create(bench.crm_contacts(pusher, contacts, acme), batch_size=1000)
        sim.reset_counters()
        report, seconds = bench.timed_sync(
            pusher.pk, profile_dir / "graph-c2e.prof" if profile_dir else None)
        assert report.contacts and report.contacts.exchange_created == contacts, report.summary()
        ops = _per_op(sim)
        print(f"  engine {seconds:.2f} s ({report.summary()}); requests {ops}")
        results["c2e"] = {"rate": contacts / seconds,
                          "batch_per_1000": ops.get("graph:batch", 0) * 1000 / contacts}

        print(f"G3. no-change cycle over Graph, {users} users")
        from syncengine.cycle.runner import sync_user

        idle = bench.make_users(users, "graph-idle", "both")
        for u in idle:
            sim.add_mailbox(u.email)
            assert sync_user(u.pk).outcome == "synced"
        sim.reset_counters()
        started = time.perf_counter()
        for u in idle:
            assert sync_user(u.pk).outcome == "synced"
        seconds = time.perf_counter() - started
        ops = _per_op(sim)
        print(f"  no-change cycle requests: {ops}")
        results["idle"] = {
            "requests_per_user": sum(ops.values()) / users,
            "delta_per_user": ops.get("graph:contactsDelta", 0) / users,
            "seconds": seconds,
        }
    finally:
        process.close()
    return results


def rows(row: Any, results: dict[str, dict[str, float]], users: int) -> list[str]:
    out = []
    if "e2c" in results:
        r = results["e2c"]
        out.append(row("Graph: Exchange→CRM contacts/s", f"{r['rate']:.0f}", "≥ 1000",
                       r["rate"] >= 1000))
        out.append(row("Graph: … CPU ms / contact (this process)", f"{r['cpu_ms']:.2f}", "",
                       None))
        out.append(row("Graph: … CPU ms / contact (simulator)", f"{r['server_ms']:.2f}", "",
                       None))
        out.append(row("Graph: delta pages / 1000 contacts", f"{r['delta_per_1000']:.1f}",
                       "≤ 5", r["delta_per_1000"] <= 5))
        out.append(row("Graph: lists of stamps / 1000 contacts", f"{r['list_per_1000']:.1f}",
                       "", None))
        out.append(row("Graph: $batch requests / 1000 contacts", f"{r['batch_per_1000']:.1f}",
                       "≤ 50", r["batch_per_1000"] <= 50))
    if "c2e" in results:
        r = results["c2e"]
        out.append(row("Graph: CRM→Exchange contacts/s", f"{r['rate']:.0f}", "≥ 800",
                       r["rate"] >= 800))
        out.append(row("Graph: CRM→Exchange $batch / 1000", f"{r['batch_per_1000']:.1f}",
                       "≤ 50", r["batch_per_1000"] <= 50))
    if "idle" in results:
        r = results["idle"]
        out.append(row("Graph: no-change requests / user", f"{r['requests_per_user']:.2f}",
                       "1", r["requests_per_user"] <= 1))
        out.append(row("Graph: no-change delta requests / user", f"{r['delta_per_user']:.2f}",
                       "1", r["delta_per_user"] == 1))
        out.append(row(f"Graph: no-change s for {users} users", f"{r['seconds']:.2f}", "",
                       None))
    return out
