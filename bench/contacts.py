"""Contact sync benchmarks: the engine through EWS (real exchangelib) and through Microsoft
Graph (real msal; `bench/contacts_graph.py`) against exchangesim.

    .venv/bin/python bench/contacts.py [--contacts 5000] [--users 1000]
                                       [--memory-contacts 50000] [--quick]
                                       [--sim-in-process] [--profile DIR]

Prints figures and a table; asserts nothing. Django runs with `tests.settings` on a
throwaway SQLite file (or `DATABASE_URL` when set: the bench then adds users named
`bench-*` and their contacts to that database, and removes them when it starts again).

1. Initial Exchange→CRM of N contacts in one mailbox: contacts/s, and the ratio to the
   floor measured in the same run (SyncFolderItems id pages of 512 + GetItem of the mapped
   fields in chunks of 100 + one bulk insert of N Contact rows), against two floors: with
   exchangelib's own services (a Contact object per item), and with the transport's parser
   (the stricter: what the engine adds to the transport). Medians of `--rounds` rounds.
2. Initial CRM→Exchange of N contacts: contacts/s.
3. A cycle with no changes for U users (empty mailboxes after their initial sync): EWS
   requests and SQL queries per user, seconds for all.
G. Phases 1-3 over Microsoft Graph (rows "Graph: …"): the initial Exchange→CRM rate with its
   delta pages and `$batch` requests per 1,000 contacts, the CRM→Exchange rate, and a
   no-change cycle's requests per user (`--skip graph` leaves them out).
4. Peak memory of an M-contact initial sync: the simulator runs in its own process
   (`python -m exchangesim --data FILE`), the sync in a subprocess that reports its peak
   RSS (`ru_maxrss`) above its RSS just before the sync.

The simulator runs in its own process for every figure (seeded through a data file, driven
through its HTTP control API), so the client's times are not shared with the server's
threads under one GIL; `--sim-in-process` runs it in a thread of the bench instead.
`--profile DIR` runs phases 1 and 2 under cProfile, writes DIR/<phase>.prof and prints where
the client's time went (exchangelib, XML, HTTP and waiting for the server, engine, database).
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SERVICE_USER = "svc-sync@example.com"
SERVICE_PASSWORD = "Sync-Pa55!"
GOALS = {
    "e2c_ratio": 1.5,
    "e2c_rate": 1000.0,
    "c2e_rate": 800.0,
    "idle_ews": 1.0,
    "idle_sql": 10.0,
    "memory_mb": 250.0,
}


# --- Django -------------------------------------------------------------------------------
def setup_django(db_file: str | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    if not os.environ.get("DATABASE_URL"):
        path = db_file or os.path.join(tempfile.mkdtemp(prefix="bench-contacts-"), "bench.db")
        os.environ["DATABASE_URL"] = f"sqlite:///{path}"
    import django

    django.setup()
    from django.conf import settings

    # Measure one cycle at a time: no inline "push after a CRM change" cycles (tests.settings
    # runs django-q tasks synchronously).
    settings.LIGHTNINGSYNC_PUSH_ON_CHANGE = False


def migrate() -> None:
    from django.core.management import call_command
    from django.db import OperationalError, connection

    try:
        connection.ensure_connection()
    except OperationalError as exc:
        sys.exit(f"bench: cannot open DATABASE_URL's database ({exc}). Create it first, e.g. "
                 "`createdb -h 127.0.0.1 -U postgres lightningsync_bench`.")
    call_command("migrate", verbosity=0, interactive=False)


def clean_bench_rows() -> None:
    from lightningsync.models import Contact, LightningSyncError, SyncConfiguration, User

    LightningSyncError.objects.filter(user__username__startswith="bench-").delete()
    Contact.objects.filter(owner__username__startswith="bench-").delete()
    User.objects.filter(username__startswith="bench-").delete()
    SyncConfiguration.objects.filter(name__startswith="Bench ").delete()


def point_setup(ews_url: str) -> Any:
    from lightningsync.models import LightningSyncSetup

    setup = LightningSyncSetup.load()
    setup.enabled = True
    setup.connection_method = LightningSyncSetup.ConnectionMethod.SERVICE_ACCOUNT
    setup.ews_url = ews_url
    setup.service_account_username = SERVICE_USER
    setup.auth_type = LightningSyncSetup.AuthType.BASIC
    setup.set_service_account_password(SERVICE_PASSWORD)
    setup.save()
    return setup


def make_users(n: int, prefix: str, direction: str) -> list[Any]:
    from lightningsync.models import ConfigurationUser, SyncConfiguration, User

    config = SyncConfiguration.objects.create(
        # Contacts only (bench/events.py measures the two together).
        name=f"Bench {prefix}", contacts_direction=direction, contacts_ownership="users_records",
        events_direction="none",
    )
    users = User.objects.bulk_create(
        [
            User(username=f"bench-{prefix}-{i}", email=f"bench-{prefix}-{i}@example.com")
            for i in range(n)
        ]
    )
    if users and users[0].pk is None:  # backends without RETURNING
        users = list(User.objects.filter(username__startswith=f"bench-{prefix}-").order_by("pk"))
    ConfigurationUser.objects.bulk_create(
        [ConfigurationUser(user=u, configuration=config) for u in users]
    )
    return users


# --- the simulator --------------------------------------------------------------------------
class SimControl:
    """The simulator's control API over HTTP (/_sim/<method>): same calls in or out of process."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    @property
    def ews_url(self) -> str:
        return f"{self.base_url}/EWS/Exchange.asmx"

    context: Any = None  # an ssl.SSLContext trusting the simulator's CA, over https

    def _call(self, name: str, post: bool, **kwargs: Any) -> Any:
        url = f"{self.base_url}/_sim/{name}"
        if post:
            req = urllib.request.Request(url, data=json.dumps(kwargs).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        else:
            req = urllib.request.Request(f"{url}?{urllib.parse.urlencode(kwargs)}")
        with urllib.request.urlopen(req, timeout=120, context=self.context) as resp:
            return json.loads(resp.read())["result"]

    def add_mailbox(self, smtp: str) -> str:
        return str(self._call("add_mailbox", True, smtp=smtp))

    def reset_counters(self) -> None:
        self._call("reset_counters", True)

    def counts(self) -> dict[str, dict[str, int]]:
        return dict(self._call("counts", False))

    def handler_seconds(self) -> float:
        return float(self._call("handler_seconds", False))


class SimProcess:
    """`python -m exchangesim --data FILE` on a free port (no autosave while measuring)."""

    def __init__(self, data: Path) -> None:
        port = _free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "exchangesim", "--port", str(port), "--data", str(data),
             "--autosave", "0"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        self.control = SimControl(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 300
        while True:
            try:
                urllib.request.urlopen(f"{self.control.base_url}/_sim/health", timeout=1).read()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                    raise SystemExit(f"exchangesim did not start: {err[-2000:]}") from None
                time.sleep(0.1)

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def seeded_simulator(mailboxes: dict[str, int]) -> Any:
    """An in-process Simulator with the service account and these mailboxes seeded."""
    from exchangesim.control import Simulator

    sim = Simulator()
    sim.add_service_account(SERVICE_USER, SERVICE_PASSWORD)
    for mailbox, n in mailboxes.items():
        seed_mailbox(sim, mailbox, n)
    return sim


# --- profiling ------------------------------------------------------------------------------
CATEGORIES = (
    ("exchangelib", ("/exchangelib/",)),
    ("XML (lxml, C)", ("lxml", "xml.etree", "_elementtree")),
    ("HTTP + waiting for the server", ("/requests/", "/urllib3/", "/http/", "socket", "ssl",
                                       "/requests_ntlm/", "/charset_normalizer/", "select")),
    ("transport (syncengine/transports/)", ("/syncengine/transports/",)),
    ("database (Django ORM + driver)", ("/django/db/", "sqlite3", "psycopg")),
    ("engine (syncengine, lightningsync)", ("/syncengine/", "/lightningsync/")),
    ("Django, other", ("/django/",)),
)


def _category(func: tuple[str, int, str]) -> str | None:
    filename, _line, name = func
    where = filename if filename != "~" else name
    for label, needles in CATEGORIES:
        if any(n in where for n in needles):
            return label
    return None if filename == "~" else "other Python"


def profile_summary(stats_file: Path, wall: float, top: int = 25) -> None:
    """Self time per category (a builtin's time goes to its callers' categories)."""
    import pstats

    st = pstats.Stats(str(stats_file))
    raw: dict[Any, Any] = st.stats  # type: ignore[attr-defined]
    totals: dict[str, float] = {}

    def charge(func: Any, seconds: float, depth: int = 0) -> None:
        label = _category(func)
        if label is None and depth < 4:
            callers = raw[func][4] if func in raw else {}
            spent = sum(v[2] for v in callers.values()) or 0.0
            if spent > 0:
                for caller, v in callers.items():
                    charge(caller, seconds * v[2] / spent, depth + 1)
                return
            label = "other (builtins)"
        totals[label or "other (builtins)"] = totals.get(label or "other (builtins)", 0) + seconds

    for func, (_cc, _nc, tt, _ct, _callers) in raw.items():
        if tt:
            charge(func, tt)
    profiled = sum(totals.values())
    print(f"  profile {stats_file.name}: {profiled:.2f} s profiled (wall {wall:.2f} s "
          f"under the profiler), self time by category:")
    for label, seconds in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"    {label:<38} {seconds:7.2f} s  {100 * seconds / profiled:5.1f} %")
    print(f"  top {top} by cumulative time:")
    st.sort_stats("cumulative")
    width = 0
    rows = []
    for func in st.fcn_list[:200]:  # type: ignore[attr-defined]
        _cc, nc, tt, ct, _ = raw[func]
        filename, line, name = func
        if "/syncengine/" not in filename and "/lightningsync/" not in filename \
                and "/exchangelib/" not in filename and "/django/db/models" not in filename:
            continue
        short = filename.split("/site-packages/")[-1].replace(str(ROOT) + "/", "")
        rows.append((ct, tt, nc, f"{short}:{line}({name})"))
        width = max(width, len(rows[-1][3]))
        if len(rows) >= top:
            break
    for ct, tt, nc, where in rows:
        print(f"    {ct:7.2f} cum {tt:7.2f} self {nc:8d} calls  {where}")


def timed_sync(user_pk: int, profile_to: Path | None) -> tuple[Any, float]:
    from syncengine.cycle.runner import sync_user

    profiler = cProfile.Profile() if profile_to else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    report = sync_user(user_pk)
    if profiler:
        profiler.disable()
    seconds = time.perf_counter() - started
    if profiler and profile_to:
        profiler.dump_stats(str(profile_to))
        profile_summary(profile_to, seconds)
    return report, seconds


# --- data -----------------------------------------------------------------------------------
def contact_fields(i: int, domain: str) -> dict[str, Any]:
    return {
        "GivenName": f"First{i}",
        "Surname": f"Last{i} {domain.split('.')[0]}",  # unique per mailbox: nothing matches
        "CompanyName": "Acme",
        "JobTitle": "Buyer",
        "Department": "Ops",
        "AssistantName": "Pat",
        "EmailAddresses": {"EmailAddress1": f"c{i}@{domain}"},
        "PhoneNumbers": {"BusinessPhone": "+1 555 0100", "MobilePhone": "+1 555 0101"},
        "PhysicalAddresses": {
            "Business": {
                "Street": f"{i} Main St",
                "City": "Springfield",
                "State": "CA",
                "PostalCode": "90001",
            }
        },
        "Birthday": "1980-05-04",
        "Body": f"Notes for contact {i}",
    }


def e2c_mailbox(round_: int) -> str:
    """Phase 1 syncs a fresh mailbox (and user) each round: each an initial import."""
    return f"bench-e2c-{round_}@example.com"


def seed_mailbox(sim: Any, mailbox: str, n: int) -> None:
    sim.add_mailbox(mailbox)
    sim.create_folder(mailbox, "Salesforce_Sync", parent="contacts")
    for i in range(n):
        sim.create_contact(mailbox, folder="contacts/Salesforce_Sync",
                           **contact_fields(i, mailbox.replace("@", ".")))


def crm_contacts(owner: Any, n: int, account: Any) -> list[Any]:
    from lightningsync.models import Contact

    return [
        Contact(
            owner=owner, first_name=f"First{i}", last_name=f"Last{i}", email=f"c{i}@acme.test",
            account=account, title="Buyer", department="Ops", phone="+1 555 0100",
            mobile_phone="+1 555 0101", assistant_name="Pat", mailing_street=f"{i} Main St",
            mailing_city="Springfield", mailing_state="CA", mailing_postal_code="90001",
            description=f"Notes for contact {i}",
        )
        for i in range(n)
    ]


# --- 1. Exchange → CRM ------------------------------------------------------------------------
def floor_exchange_to_crm(setup: Any, mailbox: str, owner: Any, n: int, *, fast: bool) -> float:
    """The raw work: id pages, GetItem of the mapped fields in chunks, one bulk insert.

    `fast=False` is exchangelib as it comes (its services build a Contact object per item);
    `fast=True` parses the way the transport does (the response bytes at once, only the
    fields it needs, straight from the XML), so that the ratio measures only what the engine
    adds to the transport.
    """
    from exchangelib.fields import FieldPath
    from exchangelib.folders import Folder
    from exchangelib.items import Contact as EwsContact
    from exchangelib.services import GetItem, SyncFolderItems

    from lightningsync.fieldmaps import DEFAULT_CONTACT_MAPPING
    from lightningsync.models import Account, Contact
    from syncengine.cycle.connection import connection_settings
    from syncengine.transports.ews.client import account_for
    from syncengine.transports.ews.contacts import exchangelib_fields
    from syncengine.transports.ews.services import GetContacts, SyncFolderItemIds
    from syncengine.transports.ews.transport import GET_CHUNK

    account = account_for(dataclasses.replace(connection_settings(setup, owner), mailbox=mailbox))
    started = time.perf_counter()
    folder = Folder(root=account.root, id=_folder_id(account))
    ids: list[str] = []
    state = None
    while True:
        svc = (SyncFolderItemIds if fast else SyncFolderItems)(account=account)
        for _kind, item in svc.call(folder=folder, shape="IdOnly", additional_fields=set(),
                                    sync_state=state, ignore=None, max_changes_returned=512,
                                    sync_scope="NormalItems"):
            ids.append(item.id)
        state = svc.sync_state
        if svc.includes_last_item_in_range:
            break
    names = list(DEFAULT_CONTACT_MAPPING.values())
    paths = {FieldPath(field=EwsContact.get_field_by_fieldname(f))
             for f in exchangelib_fields(names)}
    rows = []
    acme = Account.objects.get_or_create(name="Acme")[0]
    for start in range(0, len(ids), GET_CHUNK):
        chunk = ids[start : start + GET_CHUNK]
        get = (GetContacts if fast else GetItem)(account=account, chunk_size=GET_CHUNK)
        get.names = names
        for item in get.call(items=[(i, None) for i in chunk], additional_fields=paths,
                             shape="IdOnly"):
            first, last = ((item.fields.get("GivenName"), item.fields.get("Surname")) if fast
                           else (item.given_name, item.surname))
            rows.append(Contact(owner=owner, first_name=first or "", last_name=last or "",
                                account=acme))
    Contact.objects.bulk_create(rows, batch_size=1000)
    seconds = time.perf_counter() - started
    assert len(rows) == n, (len(rows), n)
    Contact.objects.filter(owner=owner).delete()
    return seconds


def _folder_id(account: Any) -> str:
    from lightningsync.models import LightningSyncSetup
    from syncengine.transports.ews.transport import EwsTransport

    transport = EwsTransport(account, str(LightningSyncSetup.load().org_id), read_concurrency=1)
    found = transport.find_contact_folder()
    assert found is not None
    return found.id


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def bench_exchange_to_crm(
    sim: SimControl, setup: Any, n: int, rounds: int, profile_dir: Path | None
) -> dict[str, float]:
    """Each round's mailbox (`e2c_mailbox`) was seeded with n contacts before the simulator
    started. Each round measures both floors and then the engine's initial sync of that
    mailbox's user; figures are the medians of the rounds.
    """
    users = make_users(rounds, "e2c", "exchange_to_crm")
    engine, fast, plain = [], [], []
    for round_, user in enumerate(users):
        fast.append(floor_exchange_to_crm(setup, e2c_mailbox(round_), user, n, fast=True))
        plain.append(floor_exchange_to_crm(setup, e2c_mailbox(round_), user, n, fast=False))
        sim.reset_counters()
        profile = profile_dir / "e2c.prof" if profile_dir and round_ == 0 else None
        report, seconds = timed_sync(user.pk, profile)
        assert report.contacts and report.contacts.crm_created == n, report.summary()
        engine.append(seconds)
        per_op = {op: sum(v.values()) for op, v in sim.counts().items()}
        print(f"  round {round_ + 1}: engine {seconds:.2f} s, floor (transport's parser) "
              f"{fast[-1]:.2f} s, floor (exchangelib objects) {plain[-1]:.2f} s; "
              f"requests {per_op}, simulator handler {sim.handler_seconds():.2f} s")
    print(f"  last sync: {report.summary()}")
    seconds, floor, floor_plain = _median(engine), _median(fast), _median(plain)
    return {"seconds": seconds, "rate": n / seconds, "floor": floor, "ratio": seconds / floor,
            "floor_plain": floor_plain, "ratio_plain": seconds / floor_plain}


# --- 2. CRM → Exchange ------------------------------------------------------------------------
def bench_crm_to_exchange(sim: SimControl, n: int, profile_dir: Path | None) -> dict[str, float]:
    from lightningsync.models import Account, Contact

    (user,) = make_users(1, "c2e", "crm_to_exchange")
    sim.add_mailbox(user.email)
    acme = Account.objects.get_or_create(name="Acme")[0]
    Contact.objects.bulk_create(crm_contacts(user, n, acme), batch_size=1000)
    sim.reset_counters()
    report, seconds = timed_sync(user.pk, profile_dir / "c2e.prof" if profile_dir else None)
    assert report.contacts and report.contacts.exchange_created == n, report.summary()
    per_op = {op: sum(v.values()) for op, v in sim.counts().items()}
    print(f"  engine CRM→Exchange: {seconds:.2f} s ({report.summary()})")
    print(f"  requests: {per_op}; simulator handler {sim.handler_seconds():.2f} s")
    return {"seconds": seconds, "rate": n / seconds}


# --- 3. no-change cycles ----------------------------------------------------------------------
def bench_idle(sim: SimControl, users_n: int) -> dict[str, float]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from syncengine.cycle.runner import sync_user

    users = make_users(users_n, "idle", "both")
    for u in users:
        sim.add_mailbox(u.email)
    started = time.perf_counter()
    for u in users:
        report = sync_user(u.pk)
        assert report.outcome == "synced", report.summary()
    initial = time.perf_counter() - started
    sim.reset_counters()
    total_queries = 0
    first: list[dict[str, Any]] = []
    started = time.perf_counter()
    for u in users:  # one context per user: Django keeps at most 9,000 queries
        with CaptureQueriesContext(connection) as queries:
            sync_user(u.pk)
        total_queries += len(queries)
        first = first or list(queries.captured_queries)
    seconds = time.perf_counter() - started
    counts = sim.counts()
    requests = sum(sum(v.values()) for v in counts.values())
    sfi = sum(counts.get("SyncFolderItems", {}).values())
    print(f"  initial cycles of {users_n} empty mailboxes: {initial:.2f} s")
    print(f"  no-change cycle requests: { {op: sum(v.values()) for op, v in counts.items()} }")
    per_user_sql = total_queries / users_n
    print("  queries of one user's cycle:")
    for q in first:
        print(f"    {q['sql'][:110]}")
    return {
        "seconds": seconds,
        "scaled_1000": seconds * 1000 / users_n,
        "ews_per_user": requests / users_n,
        "sfi_per_user": sfi / users_n,
        "sql_per_user": per_user_sql,
    }


# --- 4. memory --------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_kb() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def memory_child(ews_url: str, mailbox: str, n: int) -> None:
    """Runs in its own process: one initial sync; prints peak RSS growth as JSON."""
    setup_django()
    from syncengine.cycle.runner import sync_user

    point_setup(ews_url)
    clean_bench_rows()  # the parent's phases are done: match against an empty CRM
    (user,) = make_users(1, "mem", "exchange_to_crm")
    from lightningsync.models import User

    User.objects.filter(pk=user.pk).update(email=mailbox)
    import syncengine.transports.ews.transport  # noqa: F401  (import costs are not the sync's)

    before = _rss_kb()
    started = time.perf_counter()
    report = sync_user(user.pk)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({
        "before_mb": before / 1024, "peak_mb": peak / 1024, "growth_mb": (peak - before) / 1024,
        "seconds": seconds, "summary": report.summary(),
        "created": report.contacts.crm_created if report.contacts else 0,
    }))


def bench_memory(n: int, workdir: Path) -> dict[str, float]:
    mailbox = "bench-mem@example.com"
    data = workdir / "sim-memory.json"
    started = time.perf_counter()
    sim = seeded_simulator({mailbox: n})
    sim.save(str(data))
    del sim
    server = SimProcess(data)
    print(f"  seeded and started the simulator in {time.perf_counter() - started:.1f} s")
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--memory-child", server.control.ews_url, mailbox, str(n)],
            cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True, check=False,
            timeout=900,
        )
        if out.returncode != 0:
            print(out.stderr[-3000:])
            raise SystemExit("memory child failed")
        result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        server.close()
    print(f"  memory run: {result['summary']} in {result['seconds']:.1f} s; RSS before "
          f"{result['before_mb']:.0f} MB, peak {result['peak_mb']:.0f} MB")
    return result


# --- main -------------------------------------------------------------------------------------
def _row(name: str, value: str, goal: str, ok: bool | None) -> str:
    mark = "" if ok is None else ("yes" if ok else "MISSED")
    return f"| {name:<44} | {value:>14} | {goal:>12} | {mark:>6} |"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--contacts", type=int, default=5000)
    p.add_argument("--users", type=int, default=1000)
    p.add_argument("--memory-contacts", type=int, default=50_000)
    p.add_argument("--quick", action="store_true", help="1,000 contacts, 100 users, 5,000")
    p.add_argument("--skip", action="append", default=[],
                   choices=["e2c", "c2e", "idle", "memory", "graph"])
    p.add_argument("--sim-in-process", action="store_true",
                   help="run the simulator in a thread of this process (shares the GIL)")
    p.add_argument("--profile", metavar="DIR",
                   help="cProfile phases 1 and 2; write DIR/e2c.prof, DIR/c2e.prof")
    p.add_argument("--rounds", type=int, default=3,
                   help="rounds of phase 1 (medians are reported)")
    p.add_argument("--get-chunk", type=int, help="GetItem chunk size of the EWS transport (100)")
    p.add_argument("--write-chunk", type=int, help="write chunk size of the EWS transport (100)")
    p.add_argument("--memory-child", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.memory_child:
        memory_child(args.memory_child[0], args.memory_child[1], int(args.memory_child[2]))
        return
    if args.quick:
        args.contacts, args.users, args.memory_contacts = 1000, 100, 5000
    bench_started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="bench-contacts-"))
    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.db'}"
    setup_django()
    migrate()
    clean_bench_rows()
    from django.conf import settings

    db = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    where = "in process" if args.sim_in_process else "in its own process"
    print(f"contact sync bench: python {sys.version.split()[0]}, database {db}, "
          f"{args.contacts} contacts, {args.users} users, {args.memory_contacts} for memory; "
          f"simulator {where}" + ("; PROFILED (times include cProfile)" if args.profile else ""))
    profile_dir = Path(args.profile) if args.profile else None
    if profile_dir:
        profile_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    seeded = seeded_simulator({e2c_mailbox(r): args.contacts for r in range(args.rounds)}
                              if "e2c" not in args.skip else {})
    close: Any
    if args.sim_in_process:
        from exchangesim.server import SimServer

        server = SimServer(seeded, "127.0.0.1", 0).start()
        sim = SimControl(server.base_url)
        close = server.stop
    else:
        data = workdir / "sim.json"
        seeded.save(str(data))
        del seeded
        process = SimProcess(data)
        sim = SimControl(process.control.base_url)
        close = process.close
    print(f"  seeded and started the simulator in {time.perf_counter() - started:.1f} s")
    import syncengine.transports.ews.transport as ews

    ews.GET_CHUNK = args.get_chunk or ews.GET_CHUNK
    ews.WRITE_CHUNK = args.write_chunk or ews.WRITE_CHUNK
    print(f"  GetItem chunks of {ews.GET_CHUNK}, writes in chunks of {ews.WRITE_CHUNK}")
    results: dict[str, dict[str, Any]] = {}
    try:
        setup = point_setup(sim.ews_url)
        if "e2c" not in args.skip:
            print(f"1. initial Exchange→CRM, {args.contacts} contacts")
            results["e2c"] = bench_exchange_to_crm(sim, setup, args.contacts, args.rounds,
                                                   profile_dir)
        if "c2e" not in args.skip:
            print(f"2. initial CRM→Exchange, {args.contacts} contacts")
            results["c2e"] = bench_crm_to_exchange(sim, args.contacts, profile_dir)
        if "idle" not in args.skip:
            print(f"3. no-change cycle, {args.users} users")
            results["idle"] = bench_idle(sim, args.users)
    finally:
        close()
    graph: dict[str, dict[str, float]] = {}
    if "graph" not in args.skip:
        import contacts_graph

        graph = contacts_graph.run(sys.modules[__name__], args.contacts, args.users, workdir,
                                   profile_dir)
    if "memory" not in args.skip:
        print(f"4. peak memory, initial sync of {args.memory_contacts} contacts")
        results["memory"] = bench_memory(args.memory_contacts, workdir)

    print(f"\nbench done in {time.perf_counter() - bench_started:.0f} s")
    print(_row("figure", "measured", "goal", None).replace("|      |", "| ok   |"))
    print("|" + "-" * 46 + "|" + "-" * 16 + "|" + "-" * 14 + "|" + "-" * 8 + "|")
    if "e2c" in results:
        r = results["e2c"]
        print(_row("Exchange→CRM contacts/s", f"{r['rate']:.0f}", "≥ 1000",
                   r["rate"] >= GOALS["e2c_rate"]))
        print(_row("Exchange→CRM time / floor (exchangelib)", f"{r['ratio_plain']:.2f}",
                   "≤ 1.5", r["ratio_plain"] <= GOALS["e2c_ratio"]))
        print(_row("  (floor contacts/s)", f"{args.contacts / r['floor_plain']:.0f}", "", None))
        print(_row("Exchange→CRM time / floor (own parser)", f"{r['ratio']:.2f}", "≤ 1.5",
                   r["ratio"] <= GOALS["e2c_ratio"]))
        print(_row("  (floor contacts/s)", f"{args.contacts / r['floor']:.0f}", "", None))
    if "c2e" in results:
        r = results["c2e"]
        print(_row("CRM→Exchange contacts/s", f"{r['rate']:.0f}", "≥ 800",
                   r["rate"] >= GOALS["c2e_rate"]))
    if "idle" in results:
        r = results["idle"]
        print(_row("no-change cycle: EWS requests / user", f"{r['ews_per_user']:.2f}", "1",
                   r["ews_per_user"] <= GOALS["idle_ews"]))
        print(_row("no-change cycle: SyncFolderItems / user", f"{r['sfi_per_user']:.2f}", "1",
                   r["sfi_per_user"] == 1))
        print(_row("no-change cycle: SQL queries / user", f"{r['sql_per_user']:.1f}", "≤ 10",
                   r["sql_per_user"] <= GOALS["idle_sql"]))
        print(_row(f"no-change cycle: s for {args.users} users", f"{r['seconds']:.2f}", "", None))
        if args.users != 1000:
            print(_row("no-change cycle: s per 1000 users", f"{r['scaled_1000']:.2f}", "", None))
    if graph:
        import contacts_graph

        for line in contacts_graph.rows(_row, graph, args.users):
            print(line)
    if "memory" in results:
        r = results["memory"]
        print(_row(f"peak RSS growth, {args.memory_contacts} contacts (MB)",
                   f"{r['growth_mb']:.0f}", "< 250", r["growth_mb"] < GOALS["memory_mb"]))


if __name__ == "__main__":
    main()
