"""Microsoft Graph's refusals through the whole engine: exchangesim (over TLS, real msal) →
GraphTransport's classification → the runner → the user's state, the error report and both
sides. (Throttling on the listing and 410 on a delta link run on both transports in
test_ews_faults.py.)"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from exchangesim.pytest_plugin import GRAPH_CLIENT_ID
from lightningsync.models import ContactLink, UserSyncState

from .ews_fixtures import (  # noqa: F401  (fixtures)
    MAILBOX,
    EwsWorld,
    crm_contact,
    crm_state,
    errors,
    ews_fixture,
)

GRAPH = pytest.mark.parametrize("ews", ["graph"], indirect=True)


def _wait_over(ews: EwsWorld) -> None:
    UserSyncState.objects.filter(user=ews.rep).update(
        backoff_until=timezone.now() - dt.timedelta(seconds=1)
    )


def _resume(ews: EwsWorld) -> None:
    """The admin fixed it and chose Retry (Setup saved after the pause)."""
    ews.setup.save()


@GRAPH
def test_withdrawn_consent_pauses_the_user_naming_the_fix(ews) -> None:  # type: ignore[no-untyped-def]
    crm_contact(ews.rep, last_name="Before")
    assert ews.sync().outcome == "synced"
    ews.outlook.create({"Surname": "Waiting"})
    ews.sim.set_app_consent(GRAPH_CLIENT_ID, False)
    ews.sim.expire_tokens()
    report = ews.sync()
    assert (report.outcome, report.error_kind) == ("paused", "impersonation")
    state = ews.state()
    assert state.paused_reason == UserSyncState.PauseReason.CONFIGURATION
    assert "admin consent is missing" in state.paused_message
    assert "Contacts.ReadWrite" in state.paused_message
    (error,) = errors()
    assert "admin consent" in error.message and not error.resolved
    assert ews.sleeps == []
    ews.sim.set_app_consent(GRAPH_CLIENT_ID, True)
    ews.sim.expire_tokens()
    _resume(ews)
    assert ews.sync().outcome == "synced"
    assert [c["last_name"] for c in crm_state()] == ["Before", "Waiting"]
    assert errors()[0].resolved


@GRAPH
def test_a_mailbox_outside_the_apps_scope_pauses_the_user_naming_the_commands(ews) -> None:  # type: ignore[no-untyped-def]
    ews.sim.set_app_scope(GRAPH_CLIENT_ID, ["someone.else@example.com"])
    report = ews.sync()
    assert (report.outcome, report.error_kind) == ("paused", "impersonation")
    message = ews.state().paused_message
    assert f"The mailbox {MAILBOX} is outside the app's scope" in message
    for command in ("New-ManagementScope", "New-ManagementRoleAssignment",
                    '"Application Contacts.ReadWrite"',
                    f"Test-ServicePrincipalAuthorization -Identity {GRAPH_CLIENT_ID} "
                    f"-Resource {MAILBOX}"):
        assert command in message
    assert ews.has_sync_folder() == 0 and crm_state() == []
    ews.sim.set_app_scope(GRAPH_CLIENT_ID, None)
    _resume(ews)
    assert ews.sync().outcome == "synced" and ews.has_sync_folder() == 1


@GRAPH
def test_a_refused_secret_pauses_the_user_as_an_authentication_error(ews) -> None:  # type: ignore[no-untyped-def]
    ews.setup.set_oauth_client_secret("Not~The~Secret")
    ews.setup.save()
    report = ews.sync()
    assert (report.outcome, report.error_kind) == ("paused", "authentication")
    state = ews.state()
    assert "client secret was refused" in state.paused_message
    (error,) = errors("authentication")
    assert "app registration" in error.suggestion
    for text in (state.paused_message, error.message, error.suggestion):
        assert "Not~The~Secret" not in text and ews.running.client_secret not in text


@GRAPH
def test_an_expired_token_is_replaced_within_the_cycle(ews) -> None:  # type: ignore[no-untyped-def]
    crm_contact(ews.rep, last_name="One")
    assert ews.sync().outcome == "synced"
    ews.sim.expire_tokens()
    crm_contact(ews.rep, last_name="Two")
    ews.sim.reset_counters()
    assert ews.sync().outcome == "synced"
    assert ews.sim.request_count("token") == 1
    assert sorted(i["Surname"] for i in ews.items()) == ["One", "Two"]


@GRAPH
def test_unavailable_with_retry_after_backs_off_the_mailbox(ews) -> None:  # type: ignore[no-untyped-def]
    ews.fault("unavailable", back_off_ms=20_000)
    before = timezone.now()
    report = ews.sync()
    assert (report.outcome, report.error_kind) == ("backing_off", "throttled")
    until = ews.state().backoff_until
    assert until is not None and before + dt.timedelta(seconds=19) <= until
    assert ews.sleeps == []


@GRAPH
def test_a_throttled_batch_write_backs_off_then_completes_without_duplicates(ews) -> None:  # type: ignore[no-untyped-def]
    for n in range(25):
        crm_contact(ews.rep, last_name=f"Push{n:02}")
    # One create of the push's $batch is answered 429 + Retry-After; the others go through.
    ews.sim.add_fault("graph_throttled", operation="graph:createContact", mailbox=MAILBOX,
                      back_off_ms=30_000, count=1)
    report = ews.sync()
    assert (report.outcome, report.error_kind) == ("backing_off", "throttled")
    assert ews.state().backoff_until is not None
    _wait_over(ews)
    assert ews.sync().outcome == "synced"
    surnames = sorted(i["Surname"] for i in ews.items())
    assert surnames == [f"Push{n:02}" for n in range(25)]
    assert ContactLink.objects.filter(state="active").count() == 25
    ews.sim.reset_counters()
    assert ews.sync().contacts.written == 0 and ews.writes() == {}


@GRAPH
def test_switching_an_org_from_ews_to_graph_relinks_without_duplicates(  # type: ignore[no-untyped-def]
    ews, django_capture_on_commit_callbacks
) -> None:
    """Exchange Online customers move from the service account to OAuth 2.0. Graph names the
    items differently (and translateExchangeIds takes no app-only token), so the switch
    resets every user: the first Graph cycle relinks the items by their stamps."""
    from pathlib import Path

    from .ews_fixtures import point_setup_at

    setup = point_setup_at(ews.running)
    setup.ca_bundle = Path(ews.running.ca_pem).read_text()
    setup.save()
    crm_contact(ews.rep, last_name="FromCrm", title="Buyer")
    assert ews.sync().outcome == "synced"
    assert ews.sim.request_count("SyncFolderItems", MAILBOX) >= 1
    ews.outlook.create({"Surname": "FromOutlook", "JobTitle": "CTO"})
    assert ews.sync().outcome == "synced"
    before_crm, before_exchange = crm_state(), ews.exchange()
    assert len(before_crm) == len(before_exchange) == 2

    from lightningsync.models import LightningSyncSetup
    from lightningsync.setupservice import enable_oauth

    from .ews_fixtures import point_setup_at_graph

    point_setup_at_graph(ews.running)  # the OAuth settings, saved and verified ...
    LightningSyncSetup.objects.update(connection_method="service_account")
    with django_capture_on_commit_callbacks(execute=True):
        enable_oauth(user=None, via="test")  # ... then "Verify and enable"
    assert ews.state().reset_state == UserSyncState.ResetState.MARKED
    ews.sim.reset_counters()
    report = ews.sync()
    assert report.outcome == "synced", report.summary()
    assert ews.sim.request_count("graph:contactsDelta", MAILBOX) >= 1
    assert crm_state() == before_crm and ews.exchange() == before_exchange
    assert ews.exchange("deleteditems") == [] and errors() == []
    links = ContactLink.objects.filter(state="active")
    assert sorted(ln.exchange_id for ln in links) == sorted(ews.id_of(i) for i in ews.items())
    assert ews.state().reset_state == ""
    # And then it is quiet.
    ews.sim.reset_counters()
    assert ews.sync().contacts.written == 0 and ews.writes() == {}
