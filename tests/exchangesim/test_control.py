"""The /_sim/ JSON control API and `python -m exchangesim` with a data file."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from .conftest import ALICE


def call(sim, method, **kwargs):
    r = requests.post(f"{sim.base_url}/_sim/{method}", json=kwargs, timeout=5)
    assert r.status_code == 200, r.text
    return r.json()["result"]


def test_http_control_api_acts_as_a_rep(sim):
    fid = call(sim, "create_folder", mailbox=ALICE, name="Salesforce_Sync")
    cid = call(
        sim,
        "create_contact",
        mailbox=ALICE,
        folder="contacts/Salesforce_Sync",
        GivenName="Ann",
        PhoneNumbers={"BusinessPhone": "1"},
        Birthday="1980-05-04",
    )
    call(sim, "set_categories", mailbox=ALICE, item_id=cid, categories=["Salesforce"])
    call(sim, "set_sensitivity", mailbox=ALICE, item_id=cid, sensitivity="Private")
    items = requests.get(
        f"{sim.base_url}/_sim/items",
        params={"mailbox": ALICE, "folder": "contacts/Salesforce_Sync"},
        timeout=5,
    ).json()["result"]
    assert [(i["GivenName"], i["Categories"], i["Sensitivity"], i["Birthday"]) for i in items] == [
        ("Ann", ["Salesforce"], "Private", "1980-05-04T11:59:00Z")
    ]
    assert sim.sim.folder_id(ALICE, "contacts/Salesforce_Sync") == fid
    rule = call(sim, "add_fault", kind="server_busy", operation="GetItem", count=2, back_off_ms=500)
    assert rule["count"] == 2
    assert requests.get(f"{sim.base_url}/_sim/faults", timeout=5).json()[0]["kind"] == "server_busy"
    call(sim, "clear_faults")
    assert requests.post(f"{sim.base_url}/_sim/nonsense", json={}, timeout=5).status_code == 404
    assert requests.post(f"{sim.base_url}/_sim/add_mailbox", json={}, timeout=5).status_code == 400
    missing = requests.get(
        f"{sim.base_url}/_sim/item", params={"mailbox": "x@y.z", "item_id": "a"}, timeout=5
    )
    assert missing.json()["error"] == "ErrorNonExistentMailbox"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_persists_state_across_restarts(tmp_path: Path):
    data = tmp_path / "sim.json"
    port = _free_port()
    args = [
        sys.executable,
        "-m",
        "exchangesim",
        "--port",
        str(port),
        "--data",
        str(data),
        "--service-account",
        "svc@example.com:pw",
        "--mailbox",
        ALICE,
        "--scope",
        f"svc@example.com={ALICE}",
    ]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    base = f"http://127.0.0.1:{port}"

    def run_and(fn):
        proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            for _ in range(100):
                try:
                    requests.get(base + "/_sim/health", timeout=0.5)
                    break
                except requests.ConnectionError:
                    time.sleep(0.05)
            return fn()
        finally:
            proc.terminate()
            proc.wait(timeout=10)

    cid = run_and(
        lambda: requests.post(
            base + "/_sim/create_contact", json={"mailbox": ALICE, "GivenName": "Kept"}, timeout=5
        ).json()["result"]
    )
    saved = json.loads(data.read_text())
    assert saved["mailboxes"][0]["smtp"] == ALICE
    item = run_and(
        lambda: requests.get(
            base + "/_sim/item", params={"mailbox": ALICE, "item_id": cid}, timeout=5
        ).json()["result"]
    )
    assert item["GivenName"] == "Kept"
    r = run_and(lambda: requests.post(base + "/EWS/Exchange.asmx", data=b"<x/>", timeout=5))
    assert r.status_code == 401


def test_a_refused_folder_answers_as_exchange_does_over_ews(sim):
    """`refuse_folder`: GetFolder of the distinguished folder (by name or by id) answers
    ErrorFolderNotFound or ErrorAccessDenied; the mailbox's other folders answer."""
    from exchangelib import Account, Configuration, Credentials
    from exchangelib import errors as ews

    config = Configuration(service_endpoint=sim.ews_url,
                           credentials=Credentials(sim.username, sim.password),
                           auth_type="basic")
    account = Account(ALICE, config=config, autodiscover=False, access_type="impersonation")
    calendar_id = account.calendar.id
    call(sim, "refuse_folder", mailbox=ALICE, folder="calendar", refusal="access_denied")
    with pytest.raises(ews.ErrorAccessDenied):
        _ = Account(ALICE, config=config, autodiscover=False, access_type="impersonation").calendar
    call(sim, "refuse_folder", mailbox=ALICE, folder="calendar", refusal="not_found")
    fresh = Account(ALICE, config=config, autodiscover=False, access_type="impersonation")
    with pytest.raises(ews.ErrorFolderNotFound):
        _ = fresh.calendar
    assert fresh.contacts.id  # the mailbox's other folders answer
    call(sim, "refuse_folder", mailbox=ALICE, folder="calendar", refusal=None)
    again = Account(ALICE, config=config, autodiscover=False, access_type="impersonation")
    assert again.calendar.id == calendar_id
