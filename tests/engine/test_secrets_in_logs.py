"""No log line carries a secret, at any level (SPEC §13).

The app's own LOGGING, at DEBUG as `LOG_LEVEL=DEBUG` sets it, captures everything every
logger writes (exchangelib's request and response dumps, urllib3, requests_ntlm and pyspnego
included) during real syncs and failed sign-ins through exchangelib.
"""

from __future__ import annotations

import base64
import copy
import io
import logging
import logging.config
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.conf import settings
from django.utils.log import configure_logging

from lightningsync.models import LightningSyncSetup
from lightningsync.setupservice import apply_setup

from .ews_fixtures import MAILBOX, EwsWorld, crm_contact, ews_fixture, point_setup_at  # noqa: F401
from .http_doubles import Answer, RecordingServer

WRONG_PASSWORD = "Wr0ng-Pa55word!"


@contextmanager
def app_logging_at_debug() -> Iterator[io.StringIO]:
    """settings.LOGGING with the root at DEBUG, every handler writing to one buffer."""
    config = copy.deepcopy(settings.LOGGING)
    config["root"]["level"] = "DEBUG"
    buffer = io.StringIO()
    for handler in config["handlers"].values():
        handler["stream"] = buffer
    logging.config.dictConfig(config)
    try:
        yield buffer
    finally:
        configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def assert_no_trace_of(log: str, username: str, password: str) -> None:
    assert password not in log
    assert b64(password) not in log
    assert b64(f"{username}:{password}") not in log
    assert b64(f"{username}:{password}")[:-4] not in log
    assert base64.urlsafe_b64encode(password.encode()).decode() not in log


def test_a_sync_at_debug_logs_no_password(ews: EwsWorld) -> None:
    crm_contact(ews.rep, last_name="Pushed", email="pushed@example.com")
    with app_logging_at_debug() as buffer:
        first = ews.sync()
        ews.outlook.create({"Surname": "Pulled", "CompanyName": "Initech"})
        second = ews.sync()
    log = buffer.getvalue()
    assert (first.contacts.exchange_created, second.contacts.crm_created) == (1, 1)
    # It did log every request and response at DEBUG, headers and XML included...
    assert log.count("Request headers:") >= 4 and "<m:SyncFolderItems>" in log
    # ...with the credentials' place in them redacted.
    assert "'Authorization': '[REDACTED]'" in log
    assert_no_trace_of(log, ews.running.username, ews.running.password)


def test_a_failed_basic_sign_in_at_debug_logs_no_password(ews: EwsWorld) -> None:
    point_setup_at(ews.running, password=WRONG_PASSWORD)
    with app_logging_at_debug() as buffer:
        report = ews.sync()
    assert (report.outcome, report.error_kind) == ("paused", "authentication"), report.reason
    log = buffer.getvalue()
    assert "401" in log
    assert_no_trace_of(log, ews.running.username, WRONG_PASSWORD)


def test_a_failed_ntlm_sign_in_against_the_simulator_logs_no_password(ews: EwsWorld) -> None:
    setup = LightningSyncSetup.load()
    setup.auth_type = LightningSyncSetup.AuthType.NTLM
    setup.set_service_account_password(WRONG_PASSWORD)
    setup.save()
    with app_logging_at_debug() as buffer:
        report = ews.sync()
    assert report.outcome == "paused"
    log = buffer.getvalue()
    assert "NTLM step output" in log  # pyspnego logged its messages, without their content
    assert "TlRMTVNTUA" not in log
    assert_no_trace_of(log, ews.running.username, WRONG_PASSWORD)


def test_an_ntlm_sign_in_against_the_simulator_logs_no_password(ews: EwsWorld) -> None:
    LightningSyncSetup.objects.update(auth_type=LightningSyncSetup.AuthType.NTLM)
    with app_logging_at_debug() as buffer:
        report = ews.sync()
    assert report.outcome == "synced"
    log = buffer.getvalue()
    assert "NTLM step output" in log
    assert "TlRMTVNTUA" not in log
    assert_no_trace_of(log, ews.running.username, ews.running.password)


def _ntlm_challenger(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Any:
    """An endpoint that runs the NTLM handshake (challenge included) and refuses the
    answer: the client computes and sends its hash-derived response."""
    import spnego

    store = tmp_path / "ntlm-users"
    store.write_text("EXAMPLE:svc-sync@example.com:Not-The-Password-1\n")
    monkeypatch.setenv("NTLM_USER_FILE", str(store))
    responses: list[str] = []

    def respond(handler: Any, seen: Any) -> Answer:
        auth = seen.headers.get("Authorization", "")
        token = auth.partition(" ")[2]
        if token and base64.b64decode(token)[8:9] == b"\x01":
            handler.ntlm = spnego.server(protocol="ntlm")
            challenge = base64.b64encode(handler.ntlm.step(base64.b64decode(token))).decode()
            return Answer(401, b"", {"WWW-Authenticate": f"NTLM {challenge}"})
        if token:
            responses.append(token)
        return Answer(401, b"Unauthorized", {"WWW-Authenticate": "NTLM"})

    return respond, responses


def test_a_failed_ntlm_sign_in_logs_no_hash_material(
    ews: EwsWorld, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from spnego._ntlm_raw.crypto import ntowfv1

    respond, responses = _ntlm_challenger(monkeypatch, tmp_path)
    with RecordingServer(respond) as server:
        LightningSyncSetup.objects.update(
            auth_type=LightningSyncSetup.AuthType.NTLM,
            ews_url=f"http://127.0.0.1:{server.port}/EWS/Exchange.asmx",
        )
        with app_logging_at_debug() as buffer:
            report = ews.sync()
    assert report.outcome != "synced"
    (authenticate,) = set(responses)  # the client did answer the challenge
    assert base64.b64decode(authenticate)[8:9] == b"\x03"
    log = buffer.getvalue()
    assert "NTLM step output" in log
    nt_hash = ntowfv1(ews.running.password)
    for secret in (authenticate, authenticate[16:64], nt_hash.hex(), base64.b64encode(nt_hash)
                   .decode()):
        assert secret not in log
    # No NTLM message at all (they open with "NTLMSSP\0", base64 "TlRMTVNTUA").
    assert "TlRMTVNTUA" not in log
    assert_no_trace_of(log, ews.running.username, ews.running.password)


def test_secrets_stored_in_setup_never_reach_a_log(db: Any) -> None:
    client_secret = "Cl1ent~Secret.Value_42"
    apply_setup(
        {}, user=None, via="test",
        secrets={"oauth_client_secret": client_secret, "service_account_password": "P@ss w0rd"},
    )
    log = logging.getLogger("msal.application")
    with app_logging_at_debug() as buffer:
        # The way a library might carry them: in a form body, JSON, a header, an exception.
        log.debug("POST data: client_id=x&client_secret=%s&grant_type=client_credentials",
                  "Cl1ent%7ESecret.Value_42")
        log.debug("Token response: %s", {"access_token": "eyJ0eXAiOiJKV1QiLCJhbGciOi.eyJhdWQiOiJo"
                                          "dHRwczovL2dyYXBo.c2lnbmF0dXJl", "expires_in": 3599})
        log.info("Using %r", {"secret": client_secret, "Authorization": "Bearer abc.def-ghi"})
        try:
            raise ValueError(f"bad password P@ss w0rd for {b64('svc@example.com:P@ss w0rd')}")
        except ValueError:
            log.exception("It failed")
    text = buffer.getvalue()
    for leaked in (client_secret, "Cl1ent%7ESecret", "P@ss w0rd", "P%40ss", "eyJ0eXAi",
                   "abc.def-ghi", b64("svc@example.com:P@ss w0rd")[:12]):
        assert leaked not in text
    assert text.count("[REDACTED]") >= 6
    assert "Traceback" in text and "ValueError: bad password [REDACTED]" in text


def test_redaction_leaves_ordinary_text_alone(db: Any) -> None:
    with app_logging_at_debug() as buffer:
        logging.getLogger("syncengine").info(
            "Basic authentication for rep@example.com: 12 contacts, id AAMkADE2Zjk4, 5% done"
        )
    assert re.search(
        r"INFO syncengine Basic authentication for rep@example.com: 12 contacts, id "
        r"AAMkADE2Zjk4, 5% done$", buffer.getvalue().strip()
    )


@pytest.mark.parametrize("ews", ["graph"], indirect=True)
def test_a_graph_sync_at_debug_logs_no_secret_and_no_token(ews: EwsWorld) -> None:
    """msal's and urllib3's debug logs included; a refused secret as well."""
    crm_contact(ews.rep, last_name="Pushed", email="pushed@example.com")
    with app_logging_at_debug() as buffer:
        first = ews.sync()
        ews.outlook.create({"Surname": "Pulled", "CompanyName": "Initech"})
        second = ews.sync()
        ews.setup.set_oauth_client_secret(WRONG_PASSWORD)
        ews.setup.save()
        refused = ews.sync()
    log = buffer.getvalue()
    assert (first.contacts.exchange_created, second.contacts.crm_created) == (1, 1)
    assert refused.error_kind == "authentication"
    assert "msal" in log and "/oauth2/v2.0/token" in log  # it did log the token requests
    assert_no_trace_of(log, ews.running.client_id, ews.running.client_secret)
    assert_no_trace_of(log, ews.running.client_id, WRONG_PASSWORD)
    for line in log.splitlines():  # no access token (a JWT) either
        assert not re.search(r"eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+", line), line
