"""Injected faults as exchangelib (FailFast) sees them, and the request counters."""

from __future__ import annotations

import time

import pytest
from exchangelib.errors import (
    ErrorInternalServerTransientError,
    ErrorInvalidSyncStateData,
    ErrorQuotaExceeded,
    ErrorServerBusy,
    ErrorTimeoutExpired,
    TransportError,
    UnauthorizedError,
)

from .conftest import ALICE, BOB
from .test_contract_sync import sync_page


def count(account):
    return account.contacts.all().count()


def test_server_busy_carries_back_off(alice, sim):
    count(alice)  # warm up: folder lookups are cached by exchangelib
    sim.sim.add_fault("server_busy", operation="FindItem", back_off_ms=297749)
    with pytest.raises(ErrorServerBusy) as exc:
        count(alice)
    assert exc.value.back_off == pytest.approx(297.749)
    assert count(alice) == 0  # consumed once, then gone


def test_faults_can_target_one_mailbox(sim):
    alice, bob = sim.account(ALICE), sim.account(BOB)
    count(alice), count(bob)
    sim.sim.add_fault("server_busy", mailbox=BOB, count=2)
    assert count(alice) == 0
    for _ in range(2):
        with pytest.raises(ErrorServerBusy):
            count(bob)
    assert count(bob) == 0


def test_a_full_mailbox_refuses_creates_item_by_item(alice, sim):
    from exchangelib.items import Contact

    def contact(name):
        return Contact(display_name=name, surname=name)

    sim.sim.set_quota(ALICE, 0)
    sim.sim.create_contact(ALICE, Surname="Outlook is not limited")
    sim.sim.set_quota(ALICE, 2)  # room for one more item
    # Per item: the first of the batch is created, the second refused (stock exchangelib
    # raises the refusal for the whole call; the engine asks for it item by item).
    with pytest.raises(ErrorQuotaExceeded):
        alice.bulk_create(alice.contacts, [contact("Fits"), contact("Refused")])
    (fits,) = [c for c in alice.contacts.all() if c.surname == "Fits"]
    fits.job_title = "Full"
    with pytest.raises(ErrorQuotaExceeded):  # at its quota, updates are refused too
        fits.save(update_fields=["job_title"])
    sim.sim.set_quota(ALICE, None)  # the rep frees space
    (again,) = alice.bulk_create(alice.contacts, [contact("Refused")])
    assert not isinstance(again, Exception)
    assert sorted(i["Surname"] for i in sim.sim.items(ALICE)) == [
        "Fits", "Outlook is not limited", "Refused"]


@pytest.mark.parametrize("kind", ["http_500", "http_503"])
def test_http_errors(alice, sim, kind):
    count(alice)
    sim.sim.add_fault(kind)
    # exchangelib classifies both as transient; FailFast turns that into ErrorServerBusy.
    with pytest.raises((ErrorServerBusy, ErrorInternalServerTransientError)):
        count(alice)
    assert count(alice) == 0


def test_a_delay_longer_than_the_timeout(sim):
    acc = sim.account(ALICE, timeout=0.3)
    count(acc)
    sim.sim.add_fault("delay", operation="FindItem", delay=1.0)
    started = time.monotonic()
    with pytest.raises((ErrorTimeoutExpired, ErrorServerBusy)):
        count(acc)
    assert time.monotonic() - started < 0.9


def test_invalid_sync_state_fault(alice, sim):
    sim.sim.add_fault("invalid_sync_state")
    with pytest.raises(ErrorInvalidSyncStateData):
        sync_page(alice, alice.contacts, None)
    assert sync_page(alice, alice.contacts, None)[2] is True


def test_an_unauthorized_fault(alice, sim):
    count(alice)
    sim.sim.add_fault("unauthorized")
    with pytest.raises(UnauthorizedError):
        count(alice)
    assert count(alice) == 0


def test_a_connection_reset(alice, sim):
    count(alice)
    sim.sim.add_fault("connection_reset")
    # requests raises ConnectionError; exchangelib re-raises connection errors as
    # ErrorTimeoutExpired (a TransportError) and, with a pool of 1, lets it through.
    with pytest.raises(TransportError):
        count(alice)
    assert count(alice) == 0


def test_counters_per_operation_and_mailbox(sim):
    alice, bob = sim.account(ALICE), sim.account(BOB)
    count(alice), count(bob), count(bob)
    counts = sim.sim.counts()
    assert counts["FindItem"] == {ALICE: 1, BOB: 2}
    assert sim.sim.request_count("FindItem", BOB) == 2
    sim.sim.reset_counters()
    assert sim.sim.counts() == {}
