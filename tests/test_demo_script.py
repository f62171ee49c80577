"""`make demo` (bin/demo) as a new admin runs it: the README's account signs in and opens every
Setup page, and `kill -TERM <demo pid>` stops the web server, the worker and the simulated
Exchange.

The demo runs for real (its own SQLite database in a temporary DEMO_DIR, free ports), so this
module takes about twenty seconds; `-m "not demo"` leaves it out.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.demo

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 90  # seconds for migrations, the seed and the first sync on a busy machine
STOP_TIMEOUT = 10  # the demo gives its processes 5 s to stop before killing them


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Demo:
    process: subprocess.Popen[bytes]
    url: str
    demo_dir: Path
    transport: str = "ews"
    sim_port: int = 0

    def log(self) -> str:
        return "\n".join(
            f"== {p.name}\n{p.read_text(errors='replace')[-3000:]}"
            for p in sorted(self.demo_dir.glob("*.log"))
        )


def processes_in_group(pgid: int) -> list[str]:
    """The live (non-zombie) processes of the demo's process group, as "pid command"."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # ended while we looked
        # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses
        state, _ppid, group = text[text.rindex(")") + 2 :].split()[:3]
        if int(group) == pgid and state != "Z":
            found.append(f"{stat.parent.name} {text[text.index('(') : text.rindex(')') + 1]}")
    return found


@pytest.fixture(scope="module", params=["ews", "graph"])
def demo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Demo]:
    transport = request.param
    demo_dir = tmp_path_factory.mktemp("demo")
    port, sim_port = free_port(), free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        # the demo uses its own SQLite file, its own settings and the database task broker
        if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "REDIS_URL")
    }
    env.update(
        DEMO_DIR=str(demo_dir), DEMO_PORT=str(port), SIM_PORT=str(sim_port), PY=sys.executable,
        DEMO_TRANSPORT=transport,
    )
    with open(demo_dir / "demo.out.log", "wb") as out:
        process = subprocess.Popen(
            ["bash", str(ROOT / "bin" / "demo")],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: everything it starts is in it
        )
    running = Demo(process, f"http://127.0.0.1:{port}", demo_dir, transport, sim_port)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert process.poll() is None, f"the demo ended early:\n{running.log()}"
            try:
                with urllib.request.urlopen(f"{running.url}/admin/login/", timeout=5) as page:
                    if page.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            assert time.monotonic() < deadline, f"the demo did not start:\n{running.log()}"
            time.sleep(0.3)
        yield running
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        for pid_and_name in processes_in_group(process.pid):
            os.kill(int(pid_and_name.split()[0]), signal.SIGKILL)


def test_the_readme_account_signs_in_and_opens_every_setup_page(demo: Demo) -> None:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    login = opener.open(f"{demo.url}/admin/login/").read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login)
    assert token is not None
    form = {
        "username": "admin",
        "password": "lightning-demo",
        "csrfmiddlewaretoken": token.group(1),
        "next": "/admin/",
    }
    request = urllib.request.Request(
        f"{demo.url}/admin/login/",
        data=urllib.parse.urlencode(form).encode(),
        headers={"Referer": f"{demo.url}/admin/login/"},
    )
    home = opener.open(request)
    assert home.url == f"{demo.url}/admin/"
    text = home.read().decode()
    assert 'id="setup-menu"' in text
    links = sorted(set(re.findall(r'data-quick-find-entry[^>]*>\s*<a href="(/admin/[^"]+)"', text)))
    assert len(links) >= 10  # the whole Setup menu: the demo's admin is a superuser
    answers = {}
    for link in links:
        try:
            answers[link] = opener.open(demo.url + link).status
        except urllib.error.HTTPError as refused:
            answers[link] = refused.code
    assert answers == dict.fromkeys(links, 200)
    # The first sync met Alice's contact at "Bell Labs", a company with no account: the error
    # report lists it. Over EWS, Dan is outside the service account's domains: the error report
    # and the status page name him (OAuth reaches every mailbox of the tenant).
    errors = opener.open(f"{demo.url}/admin/lightningsync/lightningsyncerror/").read().decode()
    assert "Grand Totals (" in errors and "Bell Labs" in errors
    status = opener.open(f"{demo.url}/admin/setup/lightning-sync-status/?q=alice").read().decode()
    assert "alice@demo.example" in status and 'id="row-linked_users"' in status
    if demo.transport == "ews":
        assert "partner.example" in errors
        assert 'id="row-outside_domains"' in status and "dan@partner.example" in status


def test_the_readme_connection_tests_pass_for_alice_and_name_dans_domain(demo: Demo) -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "REDIS_URL")}
    env.update(DEBUG="true", DATABASE_URL=f"sqlite:///{demo.demo_dir}/demo.sqlite3",
               LIGHTNINGSYNC_ALLOW_HTTP_HOSTS="127.0.0.1,localhost")

    def test_connection(email: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", "lightningsync_test_connection", email],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)

    alice = test_connection("alice@demo.example")
    assert alice.returncode == 0, alice.stdout + alice.stderr
    assert alice.stdout.rstrip().endswith("Connection test successful")
    dan = test_connection("dan@partner.example")
    if demo.transport == "graph":  # the app registration's scope decides, not the domain
        assert dan.returncode == 0, dan.stdout + dan.stderr
        assert ("✓ Rep's email domain recognised: partner.example: under OAuth 2.0 every "
                "mailbox in the app registration's scope syncs") in dan.stdout
        assert "✓ Token acquired from Microsoft Entra ID" in alice.stdout
        return
    assert dan.returncode == 1
    assert "✗ Rep's email domain recognised: The email domain partner.example" in dan.stdout
    assert "Add partner.example to Additional domains" in dan.stdout


def test_the_first_sync_reached_the_mailboxes_through_the_chosen_transport(demo: Demo) -> None:
    out = (demo.demo_dir / "demo.out.log").read_text()
    assert "alice@demo.example: 2 contacts added to the CRM" in out, demo.log()
    if demo.transport == "ews":
        url, context = f"http://127.0.0.1:{demo.sim_port}", None
    else:
        url = f"https://127.0.0.1:{demo.sim_port}"
        context = ssl.create_default_context(cafile=str(demo.demo_dir / "exchangesim-ca.pem"))
    with urllib.request.urlopen(f"{url}/_sim/counts", timeout=10, context=context) as answer:
        counts = json.loads(answer.read())["result"]
    listing = "graph:contactsDelta" if demo.transport == "graph" else "SyncFolderItems"
    assert counts.get(listing, {}).get("alice@demo.example", 0) >= 1, counts
    if demo.transport == "graph":
        assert "token" in counts and "SyncFolderItems" not in counts
        # The calendar too: events sync over Graph (the app granted Calendars.ReadWrite).
        assert counts.get("graph:calendarViewDelta", {}).get("alice@demo.example", 0) >= 1
        assert counts.get("graph:updateEvent", {}).get("alice@demo.example", 0) >= 1, counts


def test_sigterm_stops_every_process_of_the_demo(demo: Demo) -> None:
    pgid = demo.process.pid
    running = processes_in_group(pgid)
    # the shell, the simulated Exchange, the web server and the worker (with its children)
    assert len(running) >= 4, running
    os.kill(demo.process.pid, signal.SIGTERM)
    assert demo.process.wait(timeout=STOP_TIMEOUT) == 128 + signal.SIGTERM
    deadline = time.monotonic() + STOP_TIMEOUT
    while (left := processes_in_group(pgid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert left == [], demo.log()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", int(demo.url.rsplit(":", 1)[1])), timeout=2)
