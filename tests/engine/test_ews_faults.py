"""Exchange faults through the whole engine: exchangesim fault → exchangelib → EwsTransport's
classification → the runner's decision → what the user, the error report and both sides
look like afterwards.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from lightningsync.models import ContactLink, LightningSyncSetup, UserSyncState
from syncengine.cycle import runner
from syncengine.transports.connect import ConnectionSettings, transport_for

from .ews_fixtures import (  # noqa: F401  (fixtures)
    BOTH_TRANSPORTS,
    MAILBOX,
    EwsWorld,
    crm_contact,
    crm_state,
    errors,
    ews_fixture,
    ordered,
    point_setup_at,
)


def _wait_over(ews: EwsWorld) -> None:
    """Time passes: the persisted back-off is over."""
    UserSyncState.objects.filter(user=ews.rep).update(
        backoff_until=timezone.now() - dt.timedelta(seconds=1)
    )


def _linked_pair(ews: EwsWorld) -> tuple[Any, str]:
    contact = crm_contact(ews.rep, last_name="Pair", title="Buyer", phone="1")
    assert ews.sync().outcome == "synced"
    (item,) = ews.items()
    return contact, item["id"]


# --- throttling -----------------------------------------------------------------------------
@BOTH_TRANSPORTS
def test_throttling_persists_the_back_off_and_the_next_cycle_waits(ews) -> None:  # type: ignore[no-untyped-def]
    _linked_pair(ews)
    ews.outlook.create({"Surname": "Later"})
    ews.fault("throttled", back_off_ms=45_000)
    before = timezone.now()
    report = ews.sync()
    assert (report.outcome, report.error_kind) == ("backing_off", "throttled")
    assert ews.sleeps == []  # the worker is not held: the wait is persisted for the mailbox
    until = ews.state().backoff_until
    assert until is not None
    assert before + dt.timedelta(seconds=44) <= until <= timezone.now() + dt.timedelta(seconds=46)
    (error,) = errors("throttled")
    assert "45" in error.message and not error.resolved
    # A cycle inside the window does not even call Exchange.
    ews.sim.reset_counters()
    assert ews.sync().outcome == "backing_off"
    assert ews.sim.request_count(mailbox=MAILBOX) == 0
    assert crm_state() == [{"owner": "rep", "account": None, "last_name": "Pair",
                            "title": "Buyer", "phone": "1"}]
    _wait_over(ews)
    assert ews.sync().outcome == "synced"
    assert [c["last_name"] for c in crm_state()] == ["Later", "Pair"]
    assert errors("throttled")[0].resolved
    assert ews.sleeps == []


# --- invalid sync state ---------------------------------------------------------------------
@BOTH_TRANSPORTS
def test_an_invalid_sync_state_resyncs_everything_without_duplicates(ews) -> None:  # type: ignore[no-untyped-def]
    _, item = _linked_pair(ews)
    ews.outlook.create({"Surname": "FromOutlook"})
    assert ews.sync().outcome == "synced"
    crm_contact(ews.rep, last_name="NewInCrm")
    ews.outlook.update(item, BusinessPhone="2")
    ews.outlook.create({"Surname": "AlsoNew"})
    ews.fault("invalid_cursor")
    ews.sim.reset_counters()
    report = ews.sync()
    assert report.outcome == "synced", report.summary()
    assert ews.sim.request_count(ews.op("listing"), MAILBOX) >= 2  # refused, then from scratch
    assert crm_state() == ordered([
        {"owner": "rep", "account": None, "last_name": "Pair", "title": "Buyer", "phone": "2"},
        {"owner": "rep", "account": None, "last_name": "FromOutlook"},
        {"owner": "rep", "account": None, "last_name": "NewInCrm"},
        {"owner": "rep", "account": None, "last_name": "AlsoNew"},
    ])
    assert ews.exchange() == ordered([
        {"Surname": "Pair", "JobTitle": "Buyer", "PhoneNumbers": {"BusinessPhone": "2"}},
        {"Surname": "FromOutlook"},
        {"Surname": "NewInCrm"},
        {"Surname": "AlsoNew"},
    ])
    assert ContactLink.objects.filter(state="active").count() == 4
    assert ews.exchange("deleteditems") == []
    assert errors() == []
    ews.sim.reset_counters()
    assert ews.sync().contacts.written == 0
    assert ews.writes() == {}


# --- repeated server errors -----------------------------------------------------------------
def test_repeated_http_500_is_retried_boundedly_then_reported_once(ews) -> None:  # type: ignore[no-untyped-def]
    _linked_pair(ews)
    ews.sim.add_fault("http_500", mailbox=MAILBOX, count=10_000)
    per_cycle = runner.RETRIES_IN_CYCLE + 1
    attempts, cycles = 0, 0
    while True:
        cycles += 1
        assert cycles <= runner.MAX_ATTEMPTS, "the runner never gave up"
        ews.sim.reset_counters()
        ews.sleeps.clear()
        report = ews.sync()
        requests = ews.sim.request_count(mailbox=MAILBOX)
        assert 1 <= requests <= per_cycle  # one failed call per attempt, bounded
        attempts += requests
        if report.outcome == "failed":
            break
        assert (report.outcome, report.error_kind) == ("backing_off", "connection")
        # Exponential waits between the attempts of one cycle, then a persisted back-off.
        assert ews.sleeps == [1.0, 2.0, 4.0][: requests - 1]
        assert ews.state().attempts == attempts
        assert ews.state().backoff_until > timezone.now()
        assert errors("connection") == []
        _wait_over(ews)
    assert attempts == runner.MAX_ATTEMPTS
    (error,) = errors("connection")
    assert error.count == 1 and "10" in error.message
    state = ews.state()
    assert state.attempts == 0 and state.backoff_until > timezone.now() + dt.timedelta(minutes=50)
    # Exchange comes back: the next cycle syncs and resolves the entry.
    ews.sim.clear_faults()
    _wait_over(ews)
    assert ews.sync().outcome == "synced"
    assert errors("connection")[0].resolved
    assert ews.state().attempts == 0


# --- authentication ---------------------------------------------------------------------------
def test_a_wrong_password_pauses_the_user_until_setup_is_fixed(ews) -> None:  # type: ignore[no-untyped-def]
    _linked_pair(ews)
    ews.outlook.create({"Surname": "Waiting"})
    point_setup_at(ews.running, password="not-the-password")
    report = ews.sync()
    assert (report.outcome, report.error_kind) == ("paused", "authentication")
    state = ews.state()
    assert state.paused_reason == UserSyncState.PauseReason.AUTHENTICATION
    assert "credentials" in state.paused_message.lower() or "password" in (
        state.paused_message.lower())
    assert "not-the-password" not in state.paused_message
    (error,) = errors("authentication")
    assert "not-the-password" not in error.message + error.suggestion
    assert ews.sleeps == []  # not retried: it cannot get better by itself
    # Still paused while Setup is unchanged: no request at all.
    ews.sim.reset_counters()
    assert ews.sync().outcome == "paused"
    assert ews.sim.request_count() == 0
    # The admin fixes the password in Setup: the next cycle runs.
    point_setup_at(ews.running)
    assert ews.sync().outcome == "synced"
    assert ews.state().paused_reason == ""
    assert errors("authentication")[0].resolved
    assert [c["last_name"] for c in crm_state()] == ["Pair", "Waiting"]


def test_a_server_that_refuses_ntlm_pauses_the_user_as_an_authentication_error(ews) -> None:  # type: ignore[no-untyped-def]
    # A server that advertises NTLM but never answers with a challenge: requests_ntlm then
    # raises PermissionError, an OSError.
    ews.sim.set_ntlm(False)
    ews.setup.auth_type = LightningSyncSetup.AuthType.NTLM
    ews.setup.save()
    report = ews.sync()
    assert (report.outcome, report.error_kind) == ("paused", "authentication")
    assert ews.sleeps == []  # not retried as a network failure
    assert ews.state().paused_reason == UserSyncState.PauseReason.AUTHENTICATION
    (error,) = errors("authentication")
    assert "NTLM" in error.message and "authentication type" in error.message
    assert ews.running.password not in error.message + error.suggestion
    # Back to Basic in Setup: the next cycle of the same process runs with it.
    ews.setup.auth_type = LightningSyncSetup.AuthType.BASIC
    ews.setup.save()
    assert ews.sync().outcome == "synced"
    assert errors("authentication")[0].resolved


# --- a stale change key -----------------------------------------------------------------------
def _interleave(ews: EwsWorld, edit: Any) -> Any:
    """A transport factory whose first GetItem is followed by the rep's `edit()`."""
    pending = [edit]

    def factory(settings: ConnectionSettings) -> Any:
        transport = transport_for(settings)
        read = transport.get_items

        def get_items(*args: Any, **kwargs: Any) -> Any:
            got = read(*args, **kwargs)
            if pending:
                pending.pop()()
            return got

        transport.get_items = get_items  # type: ignore[method-assign]
        return transport

    return factory


@BOTH_TRANSPORTS
@pytest.mark.parametrize("same_field", [False, True])
def test_a_rep_edit_between_our_read_and_our_write_is_merged_not_lost(ews, same_field) -> None:  # type: ignore[no-untyped-def]
    contact, item = _linked_pair(ews)
    ews.outlook.update(item, BusinessPhone="2")  # the pull will read this item
    contact.title = "Chief Buyer"  # ...and write this to it
    contact.save()
    late = {"JobTitle": "Outlook title"} if same_field else {"Department": "Ops"}
    ews.sim.reset_counters()
    report = ews.sync(transport_factory=_interleave(
        ews, lambda: ews.outlook.update(item, **late)))
    assert report.outcome == "synced", report.summary()
    if ews.transport == "ews":  # UpdateItem refused the stale change key: read again once
        assert ews.sim.request_count("GetItem", MAILBOX) == 2
    # (Graph has no conditional PATCH: the transport reads the change key before it writes.)
    expected_crm = {"owner": "rep", "account": None, "last_name": "Pair",
                    "title": "Chief Buyer", "phone": "2"}
    expected_item = {"Surname": "Pair", "JobTitle": "Chief Buyer",
                     "PhoneNumbers": {"BusinessPhone": "2"}}
    if same_field:  # a conflict: CRM wins by default, the rep's value is kept in the report
        (error,) = errors("conflict")
        assert "Outlook title" in error.message and "Chief Buyer" in error.message
    else:
        expected_crm["department"] = expected_item["Department"] = "Ops"
        assert errors() == []
    assert crm_state() == [expected_crm]
    assert ews.exchange() == [expected_item]
    ews.sim.reset_counters()
    assert ews.sync().contacts.written == 0 and ews.writes() == {}


# --- transient network failures ---------------------------------------------------------------
@pytest.mark.parametrize("fault", ["connection_reset", "delay", "http_503"])
def test_a_transient_failure_is_retried_within_the_cycle(ews, settings, fault) -> None:  # type: ignore[no-untyped-def]
    settings.LIGHTNINGSYNC_EWS_TIMEOUT_SECONDS = 0.5
    _linked_pair(ews)
    ews.outlook.create({"Surname": "Arrives"})
    ews.sim.add_fault(fault, operation="SyncFolderItems", mailbox=MAILBOX, delay=1.5)
    report = ews.sync()
    assert report.outcome == "synced", report.summary()
    assert ews.sleeps == [1.0]
    assert ews.state().attempts == 0 and ews.state().last_error == ""
    assert [c["last_name"] for c in crm_state()] == ["Arrives", "Pair"]
    assert errors() == []
