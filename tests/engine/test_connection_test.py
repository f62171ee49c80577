"""The connection test (SPEC §6) against exchangesim through the real exchangelib: each step,
each failure with its suggestion, the time limit, read-only, the command and the task."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from lightningsync.models import (
    AutodiscoverResult,
    ConnectionTestRun,
    LightningSyncSetup,
    UserSyncState,
)
from syncengine import connectiontest
from syncengine.tasks import connection_test_task
from tests.factories import UserFactory

from .ews_fixtures import point_setup_at

REP = "rep@example.com"
WRITES = ("CreateItem", "UpdateItem", "DeleteItem", "MoveItem", "CreateFolder", "DeleteFolder",
          "UpdateFolder")


def run_test(email: str = REP) -> ConnectionTestRun:
    run = ConnectionTestRun.objects.create(email=email)
    return connectiontest.perform(run.pk)


def statuses(run: ConnectionTestRun) -> dict[str, str]:
    return {s["key"]: s["status"] for s in run.steps}


def step(run: ConnectionTestRun, key: str) -> dict[str, str]:
    return next(s for s in run.steps if s["key"] == key)


def no_writes(sim: Any, mailbox: str = REP) -> bool:
    return all(sim.request_count(op, mailbox) == 0 for op in WRITES)


@pytest.fixture
def org(db, exchange_sim):  # type: ignore[no-untyped-def]
    exchange_sim.sim.add_mailbox(REP, "Rita Rep")
    point_setup_at(exchange_sim)
    return exchange_sim


ALL_PASS = {key: "pass" for key, _ in connectiontest.STEPS}


def test_it_passes_every_step_when_everything_is_in_place(org):
    org.sim.create_folder(REP, "Salesforce_Sync", "contacts", "IPF.Contact")
    org.sim.reset_counters()
    run = run_test()
    assert statuses(run) == ALL_PASS
    assert run.outcome == ConnectionTestRun.Outcome.SUCCESSFUL
    assert run.finished_at is not None
    assert step(run, "version")["detail"] == "Exchange 2016 (build 15.1.2507.6)."
    assert step(run, "contacts")["detail"] == (
        "Contacts holds 0 items; Salesforce_Sync is there with 0 items.")
    assert no_writes(org.sim)


def test_a_missing_salesforce_sync_folder_will_be_created_and_is_not_created(org):
    org.sim.reset_counters()
    run = run_test()
    assert statuses(run) == {**ALL_PASS, "contacts": "warning"}
    assert run.outcome == ConnectionTestRun.Outcome.WARNINGS
    assert "Salesforce_Sync is missing: it will be created at the first sync" in step(
        run, "contacts")["detail"]
    assert not any(f["path"].endswith("Salesforce_Sync") for f in org.sim.folders(REP))
    assert no_writes(org.sim)


def _failed_at(run: ConnectionTestRun, key: str) -> dict[str, str]:
    """The run failed at `key`: every step before passed (or warned), every one after was not
    tested; returns the failed step."""
    keys = [k for k, _ in connectiontest.STEPS]
    at = keys.index(key)
    got = statuses(run)
    assert [got[k] for k in keys[:at]] == ["pass"] * at, got
    assert got[key] == "fail"
    assert {got[k] for k in keys[at + 1:]} <= {"skipped"}, got
    assert run.outcome == ConnectionTestRun.Outcome.FAILED
    return step(run, key)


def test_a_wrong_password_fails_sign_in_with_what_to_check(org):
    setup = LightningSyncSetup.load()
    setup.set_service_account_password("not-the-password")
    setup.save()
    failed = _failed_at(run_test(), "auth")
    assert failed["detail"] == "Exchange refused the service account's sign-in (UnauthorizedError)."
    assert "password" in failed["suggestion"] and "Basic or NTLM" in failed["suggestion"]


def test_a_denied_impersonation_names_the_role_to_grant(org):
    org.sim.add_mailbox("other@example.com")
    org.sim.set_scope(org.username, ["other@example.com"])
    run = run_test()
    failed = _failed_at(run, "impersonation")
    assert statuses(run)["mailbox"] == "pass"
    assert failed["detail"] == (
        f"The service account may not impersonate {REP} (ErrorImpersonateUserDenied).")
    assert "ApplicationImpersonation" in failed["suggestion"]


def test_an_unknown_mailbox_fails_the_mailbox_step(org):
    failed = _failed_at(run_test("nobody@example.com"), "mailbox")
    assert failed["detail"] == "Exchange has no mailbox for nobody@example.com."
    assert "primary SMTP address" in failed["suggestion"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_host_fails_the_reachability_step(org):
    setup = LightningSyncSetup.load()
    setup.ews_url = f"http://127.0.0.1:{_closed_port()}/EWS/Exchange.asmx"
    setup.save()
    failed = _failed_at(run_test(), "reachable")
    assert failed["detail"].startswith("Could not connect to 127.0.0.1 port ")
    assert "firewall" in failed["suggestion"]


def test_an_old_exchange_is_refused_with_its_name(org):
    org.sim.set_version("Exchange2010_SP2")
    failed = _failed_at(run_test(), "version")
    assert failed["detail"] == (
        "Exchange 2010 SP2 (build 14.2.247.5) is not supported: Lightning Sync needs "
        "Exchange 2013 SP1 or later.")
    assert "2013 SP1" in failed["suggestion"]


def test_a_rep_outside_the_recognised_domains_is_named(org):
    failed = _failed_at(run_test("rep@awcomputing.net"), "domain")
    assert "awcomputing.net" in failed["detail"]
    assert "Additional domains" in failed["suggestion"]
    setup = LightningSyncSetup.load()
    setup.additional_domains = "awcomputing.net"
    setup.save()
    assert statuses(run_test("rep@awcomputing.net"))["domain"] == "pass"


def test_a_step_without_an_answer_fails_at_its_time_limit(org, settings):
    settings.LIGHTNINGSYNC_CONNECTION_TEST_STEP_SECONDS = 1
    org.sim.add_fault("delay", operation="ConvertId", delay=3)
    failed = _failed_at(run_test(), "auth")
    assert failed["detail"] == "No answer within 1 s."
    assert "answering" in failed["suggestion"]


def test_an_untrusted_certificate_fails_until_setup_trusts_its_ca(db, exchange_sim_tls):
    running = exchange_sim_tls
    running.sim.add_mailbox(REP)
    point_setup_at(running)
    failed = _failed_at(run_test(), "tls")
    assert failed["detail"].startswith("The server's TLS certificate is not trusted")
    assert "Trusted CA bundle" in failed["suggestion"]
    setup = LightningSyncSetup.load()
    setup.ca_bundle = Path(running.ca_pem).read_text()
    setup.save()
    run = run_test()
    assert statuses(run) == {**ALL_PASS, "contacts": "warning"}
    assert step(run, "tls")["detail"] == (
        "The certificate is valid for this host and trusted through the CA bundle in Setup.")


def test_autodiscover_gives_the_url_and_is_kept_for_the_domain(org, settings):
    settings.LIGHTNINGSYNC_AUTODISCOVER_URL = org.sim.autodiscover_url
    setup = LightningSyncSetup.load()
    setup.ews_url, setup.autodiscover = "", True
    setup.save()
    run = run_test()
    assert statuses(run) == {**ALL_PASS, "contacts": "warning"}
    assert step(run, "url")["detail"] == (
        f"Autodiscover ({org.sim.autodiscover_url}) gave {org.ews_url} for example.com.")
    row = AutodiscoverResult.objects.get(domain="example.com")
    assert (row.ews_url, row.error) == (org.ews_url, "")


def test_autodiscover_that_knows_no_such_mailbox_fails_the_url_step(org, settings):
    settings.LIGHTNINGSYNC_AUTODISCOVER_URL = org.sim.autodiscover_url
    setup = LightningSyncSetup.load()
    setup.ews_url, setup.autodiscover = "", True
    setup.save()
    failed = _failed_at(run_test("ghost@example.com"), "url")
    assert "Invalid user" in failed["detail"] and "Autodiscover" in failed["suggestion"]
    assert AutodiscoverResult.objects.get(domain="example.com").ews_url == ""


def test_missing_credentials_fail_before_any_request(db, exchange_sim):
    setup = LightningSyncSetup.load()
    setup.enabled = True
    setup.ews_url = exchange_sim.ews_url
    setup.save()
    failed = _failed_at(run_test(), "credentials")
    assert failed["detail"] == "Setup has no service account user name or password."
    assert exchange_sim.sim.request_count("ConvertId", None) == 0


def test_sync_off_is_a_warning_not_a_failure(org):
    setup = LightningSyncSetup.load()
    setup.enabled = False
    setup.save()
    run = run_test()
    assert statuses(run)["enabled"] == "warning"
    assert run.outcome == ConnectionTestRun.Outcome.WARNINGS


def test_a_successful_test_resumes_a_rep_paused_for_access(org):
    rep = UserFactory(username="rep", email=REP)
    UserSyncState.objects.create(user=rep, paused_reason=UserSyncState.PauseReason.CONFIGURATION,
                                 paused_message="denied")
    run_test()
    state = UserSyncState.objects.get(user=rep)
    assert (state.paused_reason, state.paused_message, state.paused_at) == ("", "", None)


def test_the_task_stores_every_step_on_the_run(org):
    run = ConnectionTestRun.objects.create(email=REP)
    connection_test_task(run.pk)
    run.refresh_from_db()
    assert [s["key"] for s in run.steps] == [k for k, _ in connectiontest.STEPS]
    assert run.outcome == ConnectionTestRun.Outcome.WARNINGS


def test_the_command_prints_each_step_and_exits_non_zero_on_failure(org, capsys):
    call_command("lightningsync_test_connection", REP)
    out = capsys.readouterr().out
    assert "✓ Service account signed in: Exchange accepted svc-sync@example.com (BASIC)." in out
    assert out.rstrip().endswith("Connection test successful with warnings")
    with pytest.raises(CommandError, match="Rep's mailbox found: Exchange has no mailbox"):
        call_command("lightningsync_test_connection", "ghost@example.com")


def test_the_command_prints_json(org, capsys):
    call_command("lightningsync_test_connection", REP, "--json")
    data = json.loads(capsys.readouterr().out)
    assert data["outcome"] == "warnings"
    assert data["summary"] == "Connection test successful with warnings"
    assert [s["status"] for s in data["steps"]].count("pass") == len(connectiontest.STEPS) - 1


def test_the_analyzer_prints_the_parameters_and_what_each_step_saw(org, capsys):
    org.sim.create_folder(REP, "Salesforce_Sync", "contacts", "IPF.Contact")
    call_command("lightningsync_analyze", REP, "--folder", "contacts")
    out = capsys.readouterr().out
    assert out.startswith(f"Target mailbox email address: {REP}\n")
    assert "Service account user name: svc-sync@example.com; password given" in out
    assert f"Use Exchange Impersonation: impersonated user {REP}, identified by SMTP Address" in out
    assert "✓ Impersonation allowed:" in out
    assert "Salesforce_Sync is there with 0 items." in out
    assert "Calendar readable" not in out
    assert out.rstrip().endswith("Connectivity Test Successful")


def test_the_analyzer_on_the_calendar_counts_its_items(org, capsys):
    call_command("lightningsync_analyze", REP, "--folder", "calendar")
    out = capsys.readouterr().out
    assert "✓ Calendar readable:" in out
    assert "✓ Calendar items: the rep's Calendar holds 0 items." in out
    assert "Salesforce_Sync" not in out.split("Test predefined folder")[1]
    assert out.rstrip().endswith("Connectivity Test Successful")


def test_the_analyzer_fails_with_the_step_that_failed(org, capsys):
    org.sim.set_scope(org.username, [])
    with pytest.raises(CommandError, match="Impersonation allowed: The service account may not"):
        call_command("lightningsync_analyze", REP, "--folder", "calendar")
    assert capsys.readouterr().out.rstrip().endswith("Connectivity Test Failed")


def test_it_signs_in_with_ntlm(org):
    LightningSyncSetup.objects.update(auth_type=LightningSyncSetup.AuthType.NTLM)
    run = run_test()
    assert statuses(run) == {**ALL_PASS, "contacts": "warning"}
    assert step(run, "auth")["detail"] == "Exchange accepted svc-sync@example.com (NTLM)."


def test_a_wrong_password_over_ntlm_fails_sign_in(org):
    setup = LightningSyncSetup.load()
    setup.auth_type = LightningSyncSetup.AuthType.NTLM
    setup.set_service_account_password("not-the-password")
    setup.save()
    failed = _failed_at(run_test(), "auth")
    assert failed["detail"] == "Exchange refused the service account's sign-in (UnauthorizedError)."


def test_autodiscover_over_tls_trusts_the_ca_bundle_of_setup(db, exchange_sim_tls, settings):
    running = exchange_sim_tls
    running.sim.add_mailbox(REP)
    point_setup_at(running)
    settings.LIGHTNINGSYNC_AUTODISCOVER_URL = running.sim.autodiscover_url
    setup = LightningSyncSetup.load()
    setup.ews_url, setup.autodiscover = "", True
    setup.save()
    failed = _failed_at(run_test(), "url")
    assert "certificate" in failed["detail"].lower()
    setup.ca_bundle = Path(running.ca_pem).read_text()
    setup.save()
    run = run_test()
    assert statuses(run) == {**ALL_PASS, "contacts": "warning"}
    assert step(run, "url")["detail"].endswith(f"gave {running.ews_url} for example.com.")
