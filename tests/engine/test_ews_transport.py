"""The EWS transport passes the transport contract against exchangesim (real exchangelib)."""

from __future__ import annotations

import datetime as dt

import pytest

from lightningsync.models import LightningSyncSetup
from syncengine.ews import EwsTransport, account_for
from syncengine.transport import (
    ErrorKind,
    ExchangeItem,
    ItemRef,
    ItemUpdate,
    NewItem,
    TransportError,
)

from .ews_rep import SimRep
from .transport_contract import FIELDS, ORG_ID, TransportContract

MAILBOX = "rep@example.com"


def _setup(running, **overrides) -> LightningSyncSetup:  # type: ignore[no-untyped-def]
    password = overrides.pop("password", running.password)
    setup = LightningSyncSetup(
        ews_url=running.ews_url,
        service_account_username=running.username,
        auth_type="basic",
        org_id=ORG_ID,
        **overrides,
    )
    setup.set_service_account_password(password)
    return setup


def ews_transport(running, mailbox: str = MAILBOX, **overrides) -> EwsTransport:  # type: ignore[no-untyped-def]
    return EwsTransport(account_for(_setup(running, **overrides), mailbox), ORG_ID)


class TestEwsTransport(TransportContract):
    @pytest.fixture
    def transport(self, exchange_sim):  # type: ignore[no-untyped-def]
        exchange_sim.sim.add_mailbox(MAILBOX)
        return ews_transport(exchange_sim)

    @pytest.fixture
    def rep(self, exchange_sim, transport):  # type: ignore[no-untyped-def]
        return SimRep(exchange_sim.sim, MAILBOX)


@pytest.fixture
def sim(exchange_sim):  # type: ignore[no-untyped-def]
    exchange_sim.sim.add_mailbox(MAILBOX)
    return exchange_sim


def test_updating_one_phone_keeps_the_reps_other_phones(sim):  # type: ignore[no-untyped-def]
    transport = ews_transport(sim)
    folder = transport.ensure_contact_folder()
    rep = SimRep(sim.sim, MAILBOX)
    item_id = rep.create(
        {"Surname": "Keeps", "BusinessPhone": "111", "BusinessPhone2": "222", "HomePhone": "333"}
    )
    (item,) = transport.get_items(folder, [item_id], FIELDS)
    assert isinstance(item, ExchangeItem)
    (result,) = transport.update_items([ItemUpdate(item.ref, {"BusinessPhone": "999"})])
    assert result.ok
    stored = sim.sim.item(MAILBOX, item_id)
    assert stored["PhoneNumbers"] == {
        "BusinessPhone": "999",
        "BusinessPhone2": "222",
        "HomePhone": "333",
    }


def test_it_reads_html_notes_as_text(sim):  # type: ignore[no-untyped-def]
    transport = ews_transport(sim)
    folder = transport.ensure_contact_folder()
    item_id = sim.sim.create_contact(
        MAILBOX,
        folder="contacts/Salesforce_Sync",
        Surname="Html",
        Body="<html><body><p>Met at <b>Expo</b></p><p>Likes &amp; tea</p></body></html>",
        BodyType="HTML",
    )
    (item,) = transport.get_items(folder, [item_id], ["Body"])
    assert isinstance(item, ExchangeItem)
    assert item.fields["Body"] == "Met at Expo\nLikes & tea"


def test_it_ignores_distribution_lists(sim):  # type: ignore[no-untyped-def]
    transport = ews_transport(sim)
    folder = transport.ensure_contact_folder()
    sim.sim.create_distribution_list(
        MAILBOX, "Team", ["a@example.com"], folder="contacts/Salesforce_Sync"
    )
    contact = SimRep(sim.sim, MAILBOX).create({"Surname": "Real"})
    changes = [c for page in transport.changes(folder, None) for c in page.changes]
    assert [c.id for c in changes] == [contact]


def test_it_asks_only_for_ids_and_stamps_when_listing(sim):  # type: ignore[no-untyped-def]
    transport = ews_transport(sim)
    folder = transport.ensure_contact_folder()
    transport.create_items(folder, [NewItem("1", {"Surname": "One", "Body": "secret notes"})])
    sim.sim.reset_counters()
    pages = list(transport.changes(folder, None))
    assert sim.sim.request_count("SyncFolderItems", MAILBOX) == 1
    assert sim.sim.request_count("GetItem", MAILBOX) == 0
    assert pages[0].changes[0].crm_stamp == "1"


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        ("server_busy", ErrorKind.THROTTLED),
        ("http_500", ErrorKind.TRANSIENT),
        ("http_503", ErrorKind.TRANSIENT),
        ("connection_reset", ErrorKind.TRANSIENT),
        ("unauthorized", ErrorKind.AUTHENTICATION),
        ("invalid_sync_state", ErrorKind.INVALID_CURSOR),
    ],
)
def test_it_classifies_server_faults(sim, fault, kind):  # type: ignore[no-untyped-def]
    transport = ews_transport(sim)
    folder = transport.ensure_contact_folder()
    sim.sim.add_fault(fault, operation="SyncFolderItems", back_off_ms=1500)
    with pytest.raises(TransportError) as caught:
        list(transport.changes(folder, None))
    assert caught.value.kind == kind
    if kind == ErrorKind.THROTTLED:
        assert caught.value.back_off_seconds == pytest.approx(1.5)


def test_a_wrong_password_is_an_authentication_error(sim):  # type: ignore[no-untyped-def]
    transport = ews_transport(sim, password="wrong")
    with pytest.raises(TransportError) as caught:
        transport.find_contact_folder()
    assert caught.value.kind == ErrorKind.AUTHENTICATION
    assert "wrong" not in caught.value.message


def test_a_mailbox_outside_the_scope_is_a_configuration_error(sim):  # type: ignore[no-untyped-def]
    sim.sim.add_mailbox("other@example.com")
    sim.sim.set_scope(sim.username, [MAILBOX])
    with pytest.raises(TransportError) as caught:
        ews_transport(sim, "other@example.com").find_contact_folder()
    assert caught.value.kind == ErrorKind.CONFIGURATION
    with pytest.raises(TransportError) as caught:
        ews_transport(sim, "nobody@example.com").find_contact_folder()
    assert caught.value.kind == ErrorKind.CONFIGURATION


def test_deleting_a_vanished_item_counts_as_deleted(sim):  # type: ignore[no-untyped-def]
    transport = ews_transport(sim)
    folder = transport.ensure_contact_folder()
    (created,) = transport.create_items(folder, [NewItem("7", {"Surname": "Gone"})])
    sim.sim.delete_item(MAILBOX, created.id, mode="HardDelete")
    (result,) = transport.delete_items([ItemRef(created.id, created.change_key)])
    assert result.ok


def test_it_trusts_a_private_ca_bundle(exchange_sim_tls):  # type: ignore[no-untyped-def]
    exchange_sim_tls.sim.add_mailbox(MAILBOX)
    with open(exchange_sim_tls.ca_pem) as f:
        pem = f.read()
    transport = ews_transport(exchange_sim_tls, ca_bundle=pem)
    assert transport.ensure_contact_folder().created


def test_birthdays_round_trip_as_dates(sim):  # type: ignore[no-untyped-def]
    transport = ews_transport(sim)
    folder = transport.ensure_contact_folder()
    (r,) = transport.create_items(
        folder, [NewItem("3", {"Surname": "B", "Birthday": dt.date(1990, 2, 28)})]
    )
    (item,) = transport.get_items(folder, [r.id], ["Birthday"])
    assert isinstance(item, ExchangeItem) and item.fields["Birthday"] == dt.date(1990, 2, 28)
