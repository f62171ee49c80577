"""The connection test under OAuth 2.0 (SPEC §6) against exchangesim's Microsoft Graph over
TLS, through msal and the Graph client: each step, each failure with what to fix in Setup,
Microsoft Entra ID or Exchange Online, read-only, and the facts the status rows read."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import trustme

from lightningsync import statuses
from lightningsync.models import ConnectionTestRun, LightningSyncSetup
from syncengine import connectiontest
from tests.factories import UserFactory

from .ews_fixtures import point_setup_at_graph
from .graph_fixtures import grant_app_roles

REP = "rep@example.com"
STEP_KEYS = [key for key, _ in connectiontest.GRAPH_STEPS]
ALL_PASS = dict.fromkeys(STEP_KEYS, "pass")
GRAPH_WRITES = ("graph:createContactFolder", "graph:createContact", "graph:updateContact",
                "graph:deleteContact", "graph:createEvent", "graph:updateEvent",
                "graph:deleteEvent", "graph:batch")


def run_test(email: str = REP) -> ConnectionTestRun:
    run = ConnectionTestRun.objects.create(email=email)
    return connectiontest.perform(run.pk)


def statuses_of(run: ConnectionTestRun) -> dict[str, str]:
    return {s["key"]: s["status"] for s in run.steps}


def step(run: ConnectionTestRun, key: str) -> dict[str, str]:
    return next(s for s in run.steps if s["key"] == key)


def failed_at(run: ConnectionTestRun, key: str) -> dict[str, str]:
    """Every step before `key` passed, `key` failed, every one after was not tested."""
    at = STEP_KEYS.index(key)
    got = statuses_of(run)
    assert [got[k] for k in STEP_KEYS[:at]] == ["pass"] * at, got
    assert got[key] == "fail"
    assert {got[k] for k in STEP_KEYS[at + 1:]} <= {"skipped"}, got
    assert run.outcome == ConnectionTestRun.Outcome.FAILED
    return step(run, key)


def no_writes(sim: Any) -> bool:
    return all(sim.request_count(op) == 0 for op in GRAPH_WRITES)


def user_values(user: Any) -> dict[str, str]:
    return statuses.values(statuses.user_tables(user))


@pytest.fixture
def org(db, exchange_sim_graph):  # type: ignore[no-untyped-def]
    running = exchange_sim_graph
    running.sim.add_mailbox(REP, "Rita Rep")
    grant_app_roles(running)
    point_setup_at_graph(running)
    return running


def test_it_passes_every_step_and_the_rows_speak_of_the_app_registration(org):
    rep = UserFactory(email=REP)
    org.sim.create_folder(REP, "Salesforce_Sync", parent="contacts")
    org.sim.reset_counters()
    run = run_test()
    assert [s["key"] for s in run.steps] == STEP_KEYS
    assert statuses_of(run) == ALL_PASS, run.steps
    assert run.outcome == ConnectionTestRun.Outcome.SUCCESSFUL
    assert step(run, "token")["detail"] == (
        f"{org.base_url}/{org.tenant} issued a token to the app {org.client_id}.")
    assert step(run, "consent")["detail"] == (
        "Application permissions: Calendars.ReadWrite, Contacts.ReadWrite.")
    assert step(run, "contacts")["detail"] == (
        "Contacts holds 0 items; Salesforce_Sync is there with 0 items.")
    assert no_writes(org.sim)
    values = user_values(rep)
    assert values["recognized"] == "✓"
    assert values["version"] == "✓"
    assert values["contacts_folder"] == "✓"
    assert values["calendar_folder"] == "✓"
    assert "app registration reached" in {r.key: r for t in statuses.user_tables(rep)
                                          for r in t.rows}["recognized"].meaning


def test_a_missing_salesforce_sync_will_be_created_and_is_not(org):
    org.sim.reset_counters()
    run = run_test()
    assert statuses_of(run) == {**ALL_PASS, "contacts": "warning"}
    assert run.outcome == ConnectionTestRun.Outcome.WARNINGS
    assert "Salesforce_Sync is missing: it will be created at the first sync" in step(
        run, "contacts")["detail"]
    assert not any(f["path"].endswith("Salesforce_Sync") for f in org.sim.folders(REP))
    assert no_writes(org.sim)


def test_a_wrong_secret_fails_the_token_step_naming_certificates_and_secrets(org):
    rep = UserFactory(email=REP)
    setup = LightningSyncSetup.load()
    setup.set_oauth_client_secret("Not~The~Secret")
    setup.save()
    failed = failed_at(run_test(), "token")
    assert failed["detail"].startswith("The client secret was refused (AADSTS7000215")
    assert "secret's value (not its ID)" in failed["suggestion"]
    assert "Certificates & secrets" in failed["suggestion"]
    assert user_values(rep)["recognized"] == "✗"


def test_an_unknown_client_id_and_an_unknown_tenant_each_say_what_to_check(org):
    setup = LightningSyncSetup.load()
    setup.oauth_client_id = "00000000-0000-0000-0000-00000000dead"
    setup.save()
    failed = failed_at(run_test(), "token")
    assert failed["detail"].startswith(
        "The tenant has no app registration with this application (client) ID")
    assert "Application (client) ID on the app registration's Overview" in failed["suggestion"]
    setup.oauth_client_id = org.client_id
    setup.oauth_tenant_id = "no-such-tenant.example"
    setup.save()
    failed = failed_at(run_test(), "token")
    assert "tenant" in failed["detail"]
    assert "Directory (tenant) ID" in failed["suggestion"]


def test_missing_admin_consent_gives_the_consent_link(org):
    rep = UserFactory(email=REP)
    org.sim.set_app_consent(org.client_id, False)
    failed = failed_at(run_test(), "consent")
    assert failed["detail"] == (
        "The token carries no permission to mailboxes' contacts: admin consent is missing "
        "(application permissions: none).")
    assert (f"Admin consent link: {org.base_url}/{org.tenant}/v2.0/adminconsent?client_id="
            f"{org.client_id}") in failed["suggestion"]
    assert user_values(rep)["recognized"] == "✗"


def test_a_mailbox_outside_the_scope_names_the_exchange_online_commands(org):
    rep = UserFactory(email=REP)
    org.sim.add_mailbox("other@example.com")
    org.sim.set_app_scope(org.client_id, ["other@example.com"])
    run = run_test()
    failed = failed_at(run, "scope")
    assert statuses_of(run)["mailbox"] == "pass"
    assert failed["detail"].startswith(f"The mailbox {REP} is outside the app's scope (403 "
                                       "ErrorAccessDenied")
    for command in ("New-ManagementScope", "New-ManagementRoleAssignment",
                    "Test-ServicePrincipalAuthorization"):
        assert command in failed["suggestion"]
    row = {r.key: r for t in statuses.user_tables(rep) for r in t.rows}["recognized"]
    assert row.value == "✗"
    assert "RBAC for Applications" in row.next_step


def test_an_unknown_mailbox_fails_the_mailbox_step(org):
    failed = failed_at(run_test("nobody@example.com"), "mailbox")
    assert failed["detail"] == "Exchange Online has no mailbox nobody@example.com."
    assert "primary SMTP address" in failed["suggestion"]


def test_an_untrusted_authority_certificate_fails_the_token_step(org):
    setup = LightningSyncSetup.load()
    setup.ca_bundle = trustme.CA().cert_pem.bytes().decode()  # another CA than the server's
    setup.save()
    rep = UserFactory(email=REP)
    failed = failed_at(run_test(), "token")
    assert "TLS certificate is not trusted" in failed["detail"]
    assert "Trusted CA bundle" in failed["suggestion"]
    # Microsoft was not reached: the test learnt nothing about the mailbox.
    assert user_values(rep)["recognized"] == "Not checked yet"
    setup.ca_bundle = Path(org.ca_pem).read_text()
    setup.save()
    assert run_test().outcome == ConnectionTestRun.Outcome.WARNINGS


def test_missing_settings_fail_before_any_request(org):
    setup = LightningSyncSetup.load()
    setup.oauth_tenant_id = ""
    setup.save()
    org.sim.reset_counters()
    failed = failed_at(run_test(), "settings")
    assert failed["detail"] == "Setup has no tenant ID for OAuth 2.0."
    assert "Microsoft Entra admin center" in failed["suggestion"]
    assert org.sim.request_count("graph:listContactFolders") == 0


def test_a_step_without_an_answer_fails_at_its_time_limit(org, settings):
    settings.LIGHTNINGSYNC_CONNECTION_TEST_STEP_SECONDS = 1
    org.sim.create_folder(REP, "Salesforce_Sync", parent="contacts")
    org.sim.add_fault("delay", operation="graph:getCalendar", delay=3)
    failed = failed_at(run_test(), "calendar")
    assert failed["detail"] == "No answer within 1 s."


def test_a_request_that_times_out_first_reads_as_the_step_without_an_answer(org, settings):
    """The request's own time limit may fire before the step's: the step says the same."""
    settings.LIGHTNINGSYNC_CONNECTION_TEST_STEP_SECONDS = 10
    settings.LIGHTNINGSYNC_EWS_TIMEOUT_SECONDS = 1
    org.sim.create_folder(REP, "Salesforce_Sync", parent="contacts")
    org.sim.add_fault("delay", operation="graph:getCalendar", delay=3)
    failed = failed_at(run_test(), "calendar")
    assert failed["detail"] == "No answer within 1 s."
    assert "up and answering" in failed["suggestion"]


def test_the_analyzer_under_oauth_names_the_app_and_counts_the_calendar(org, capsys):
    from django.core.management import call_command

    org.sim.create_folder(REP, "Salesforce_Sync", parent="contacts")
    org.sim.create_event(REP, Subject="Review",
                         Start=dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC),
                         End=dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC))
    call_command("lightningsync_analyze", REP, "--folder", "calendar")
    out = capsys.readouterr().out
    assert f"App registration: tenant {org.tenant}; client ID {org.client_id}" in out
    assert "✓ Token acquired from Microsoft Entra ID" in out
    assert "✓ Mailbox in the app's scope" in out
    assert "✓ Calendar items: the rep's Calendar holds 1 item." in out
    assert out.rstrip().endswith("Connectivity Test Successful")
    assert no_writes(org.sim)


def test_the_analyzer_under_oauth_fails_naming_the_missing_consent(org, capsys):
    from django.core.management import CommandError, call_command

    org.sim.set_app_consent(org.client_id, False)
    with pytest.raises(CommandError, match="Admin consent granted"):
        call_command("lightningsync_analyze", REP)
    out = capsys.readouterr().out
    assert "✗ Admin consent granted" in out and "Admin consent link:" in out


def test_a_certificate_credential_passes_and_a_stranger_certificate_is_refused(org):
    ca = trustme.CA()
    app_id = "66666666-2222-3333-4444-555555555555"
    registered = ca.issue_cert("app.example.com", key_type=trustme.KeyType.RSA)
    org.sim.add_app(app_id, cert_pem=registered.cert_chain_pems[0].bytes().decode(),
                    roles=["Contacts.ReadWrite", "Calendars.ReadWrite"])
    setup = LightningSyncSetup.load()
    setup.oauth_client_id = app_id
    setup.set_oauth_client_secret("")
    setup.set_oauth_certificate(registered.cert_chain_pems[0].bytes().decode()
                                + registered.private_key_pem.bytes().decode())
    setup.save()
    run = run_test()
    assert step(run, "settings")["detail"] == (
        f"Tenant {org.tenant}, app {app_id}, with a certificate.")
    assert statuses_of(run)["token"] == "pass", run.steps
    stranger = ca.issue_cert("other.example.com", key_type=trustme.KeyType.RSA)
    setup.set_oauth_certificate(stranger.cert_chain_pems[0].bytes().decode()
                                + stranger.private_key_pem.bytes().decode())
    setup.save()
    failed = failed_at(run_test(), "token")
    assert failed["detail"].startswith("The client certificate was refused")
    assert "Certificates & secrets" in failed["suggestion"]
