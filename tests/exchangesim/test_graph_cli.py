"""`python -m exchangesim --tls --ca-out ... --tenant ... --app ...` serves Graph to msal."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import msal
import requests

from .conftest import ALICE, BOB

CLIENT_ID = "5c6d7e8f-9a0b-4c1d-8e2f-3a4b5c6d7e8f"
SECRET = "cli:secret:with:colons"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_serves_graph_over_tls_with_a_tenant_an_app_and_a_scope(tmp_path: Path):
    ca = tmp_path / "ca.pem"
    port = _free_port()
    args = [
        sys.executable,
        "-m",
        "exchangesim",
        "--port",
        str(port),
        "--tls",
        "--ca-out",
        str(ca),
        "--tenant",
        "contoso.onmicrosoft.com",
        "--app",
        f"{CLIENT_ID}:{SECRET}",
        "--app-scope",
        f"{CLIENT_ID}={ALICE}",
        "--mailbox",
        ALICE,
        "--mailbox",
        BOB,
    ]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"https://127.0.0.1:{port}"
    try:
        session = requests.Session()
        session.trust_env = False
        session.verify = str(ca)
        for _ in range(200):
            try:
                session.get(f"{base}/_sim/health", timeout=0.5)
                break
            except (requests.ConnectionError, OSError):
                time.sleep(0.05)
        app = msal.ConfidentialClientApplication(
            CLIENT_ID,
            client_credential=SECRET,
            authority=f"{base}/contoso.onmicrosoft.com",
            validate_authority=False,
            instance_discovery=False,
            http_client=session,
        )
        result = app.acquire_token_for_client(["https://graph.microsoft.com/.default"])
        assert "access_token" in result, result
        headers = {"Authorization": f"Bearer {result['access_token']}"}
        created = session.post(
            f"{base}/v1.0/users/{ALICE}/contactFolders",
            json={"displayName": "Salesforce_Sync"},
            headers=headers,
            timeout=5,
        )
        assert created.status_code == 201
        outside = session.get(f"{base}/v1.0/users/{BOB}/contactFolders", headers=headers, timeout=5)
        assert outside.status_code == 403
        assert outside.json()["error"]["code"] == "ErrorAccessDenied"
        # the CA is the only trust: a session without it refuses the server
        plain = requests.Session()
        plain.trust_env = False
        try:
            plain.get(f"{base}/_sim/health", timeout=2)
            raise AssertionError("an unknown CA was trusted")
        except requests.exceptions.SSLError:
            pass
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    banner = out.decode()
    assert f"Graph {base}/v1.0" in banner
    assert f"authority {base}/contoso.onmicrosoft.com" in banner


def test_cli_refuses_tls_without_a_ca_file_and_apps_without_a_tenant():
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    for extra, message in (
        (["--tls"], "--tls needs --ca-out FILE"),
        (["--app", f"{CLIENT_ID}:x"], "--app and --app-cert need --tenant T"),
        (["--tenant", "t", "--app", "no-secret"], "--app needs CLIENT_ID:SECRET"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "exchangesim", "--port", "0", *extra],
            env=env,
            capture_output=True,
            timeout=30,
        )
        assert done.returncode != 0
        assert message in done.stderr.decode()
