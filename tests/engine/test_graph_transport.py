"""The Graph transport passes the transport contract against exchangesim over TLS, with the
real msal acquiring its token."""

from __future__ import annotations

import pytest

from syncengine.transports.contract import FIELDS, TransportContract
from syncengine.transports.graph import versions
from syncengine.transports.graph.transport import GraphTransport
from syncengine.transports.protocol import (
    ErrorKind,
    ExchangeItem,
    ItemRef,
    ItemUpdate,
    NewItem,
    TransportError,
)

from .graph_fixtures import GraphRep, graph_settings

MAILBOX = "rep@example.com"


class TestGraphTransport(TransportContract):
    tells_creations = False

    @pytest.fixture
    def transport(self, exchange_sim_graph):  # type: ignore[no-untyped-def]
        exchange_sim_graph.sim.add_mailbox(MAILBOX)
        return GraphTransport.open(graph_settings(exchange_sim_graph, MAILBOX))

    @pytest.fixture
    def rep(self, exchange_sim_graph, transport):  # type: ignore[no-untyped-def]
        return GraphRep(exchange_sim_graph.sim, MAILBOX)


@pytest.fixture
def sim(exchange_sim_graph):  # type: ignore[no-untyped-def]
    exchange_sim_graph.sim.add_mailbox(MAILBOX)
    return exchange_sim_graph


def test_updating_one_phone_keeps_the_reps_other_phones(sim):  # type: ignore[no-untyped-def]
    transport = GraphTransport.open(graph_settings(sim, MAILBOX))
    folder = transport.ensure_contact_folder()
    rep = GraphRep(sim.sim, MAILBOX)
    item_id = rep.create({"Surname": "Keeps", "BusinessPhone": "111", "BusinessPhone2": "222",
                          "HomePhone": "333", "BusinessFax": "444", "EmailAddress1": "a@x.test",
                          "EmailAddress2": "b@x.test"})
    (item,) = transport.get_items(folder, [item_id], [*FIELDS, "BusinessFax", "EmailAddress2"])
    assert isinstance(item, ExchangeItem) and item.fields["BusinessFax"] == "444"
    (result,) = transport.update_items([ItemUpdate(
        item.ref, {"BusinessPhone": "999", "EmailAddress1": "c@x.test", "BusinessFax": "555"})])
    assert result.ok
    stored = sim.sim.item(MAILBOX, sim.sim.ews_id(item_id))
    assert stored["PhoneNumbers"] == {"BusinessPhone": "999", "BusinessPhone2": "222",
                                      "HomePhone": "333", "BusinessFax": "555"}
    assert stored["EmailAddresses"] == {"EmailAddress1": "c@x.test", "EmailAddress2": "b@x.test"}


def test_writes_go_twenty_per_batch_and_a_listing_reads_stamps_the_same_way(sim):  # type: ignore[no-untyped-def]
    transport = GraphTransport.open(graph_settings(sim, MAILBOX))
    folder = transport.ensure_contact_folder()
    sim.sim.reset_counters()
    results = transport.create_items(folder, [NewItem(str(n), {"Surname": f"N{n}"})
                                              for n in range(45)])
    assert all(r.ok for r in results) and len({r.id for r in results}) == 45
    assert sim.sim.request_count("graph:batch") == 3
    assert sim.sim.request_count("graph:createContact", MAILBOX) == 45
    # Listing what this process wrote needs no read of the stamps ...
    sim.sim.reset_counters()
    pages = list(transport.changes(folder, None, 20))
    assert {c.crm_stamp for p in pages for c in p.changes} == {str(n) for n in range(45)}
    assert sim.sim.counts() == {"graph:contactsDelta": {MAILBOX: 3}}
    # ... another process reads them, 20 per $batch.
    versions.forget_all()
    sim.sim.reset_counters()
    pages = list(transport.changes(folder, None, 20))
    assert [len(p.changes) for p in pages] == [20, 20, 5]
    assert {c.crm_stamp for p in pages for c in p.changes} == {str(n) for n in range(45)}
    assert sim.sim.request_count("graph:contactsDelta", MAILBOX) == 3
    assert sim.sim.request_count("graph:batch") == 3
    # The last page's items are kept: reading them sends nothing.
    sim.sim.reset_counters()
    got = transport.get_items(folder, [c.id for c in pages[-1].changes], ["Surname"])
    assert sorted(i.fields["Surname"] for i in got if isinstance(i, ExchangeItem)) == [
        f"N{n}" for n in sorted(range(40, 45), key=str)]
    assert sim.sim.counts() == {}


def test_a_stamp_only_update_of_a_contact_just_read_sends_no_read(sim):  # type: ignore[no-untyped-def]
    transport = GraphTransport.open(graph_settings(sim, MAILBOX))
    folder = transport.ensure_contact_folder()
    rep = GraphRep(sim.sim, MAILBOX)
    ids = [rep.create({"Surname": f"R{n}"}) for n in range(3)]
    (page,) = list(transport.changes(folder, None))
    sim.sim.reset_counters()
    results = transport.update_items([ItemUpdate(ItemRef(c.id, c.change_key or ""), {},
                                                 crm_stamp=str(n))
                                      for n, c in enumerate(page.changes)])
    assert all(r.ok for r in results)
    assert sim.sim.request_count("graph:getContact", MAILBOX) == 0
    assert sim.sim.request_count("graph:updateContact", MAILBOX) == 3
    # A field update still reads the change key first: a rep's edit is a conflict.
    rep.update(ids[0], Surname="Edited")
    (stale,) = transport.update_items([ItemUpdate(ItemRef(ids[0], results[0].change_key or ""),
                                                  {"Surname": "Ours"})])
    assert stale.error is not None and stale.error.kind == ErrorKind.CONFLICT


def test_a_throttled_sub_request_makes_the_whole_call_wait(sim):  # type: ignore[no-untyped-def]
    transport = GraphTransport.open(graph_settings(sim, MAILBOX))
    folder = transport.ensure_contact_folder()
    sim.sim.add_fault("graph_throttled", operation="graph:createContact", mailbox=MAILBOX,
                      back_off_ms=7000)
    with pytest.raises(TransportError) as caught:
        transport.create_items(folder, [NewItem("1", {"Surname": "A"}),
                                        NewItem("2", {"Surname": "B"})])
    assert caught.value.kind == ErrorKind.THROTTLED and caught.value.back_off_seconds == 7


def test_a_large_listing_reads_the_folders_stamps_a_thousand_at_a_time(sim):  # type: ignore[no-untyped-def]
    transport = GraphTransport.open(graph_settings(sim, MAILBOX))
    folder = transport.ensure_contact_folder()
    rep = GraphRep(sim.sim, MAILBOX)
    theirs = [rep.create({"Surname": f"R{n}"}) for n in range(1100)]
    ours = transport.create_items(folder, [NewItem(str(n), {"Surname": f"O{n}"})
                                           for n in range(30)])
    versions.forget_all()  # another process: nothing known
    sim.sim.reset_counters()
    changes = [c for page in transport.changes(folder, None, 400) for c in page.changes]
    assert len(changes) == 1130
    assert {c.id: c.crm_stamp for c in changes if c.crm_stamp} == {
        r.id: str(n) for n, r in enumerate(ours)}
    assert all(c.org_stamp is None for c in changes if c.id in set(theirs))
    # Three delta pages, and the folder's stamps in two list requests: no $batch.
    assert sim.sim.counts() == {"graph:contactsDelta": {MAILBOX: 3},
                                "graph:listContacts": {MAILBOX: 2}}


@pytest.mark.parametrize(
    ("status", "headers", "body", "kind", "words"),
    [
        (429, {"Retry-After": "12"}, {"error": {"code": "ApplicationThrottled"}},
         ErrorKind.THROTTLED, "asks to wait"),
        (503, {}, {"error": {"code": "serviceNotAvailable"}}, ErrorKind.TRANSIENT, "failed"),
        (410, {}, {"error": {"code": "SyncStateNotFound"}}, ErrorKind.INVALID_CURSOR, "delta"),
        (401, {}, {"error": {"code": "InvalidAuthenticationToken"}}, ErrorKind.AUTHENTICATION,
         "refused the app's token"),
        (404, {}, {"error": {"code": "ErrorInvalidUser"}}, ErrorKind.CONFIGURATION,
         "has no mailbox rep@example.com"),
        (404, {}, {"error": {"code": "ErrorItemNotFound"}}, ErrorKind.NOT_FOUND, "Not found"),
        (507, {}, {"error": {"code": "ErrorQuotaExceeded"}}, ErrorKind.PERMANENT_ITEM,
         "The mailbox is full"),
        (400, {}, {"error": {"code": "ErrorInvalidProperty", "message": "<b>x</b>"}},
         ErrorKind.PERMANENT_ITEM, "refused the request (400 ErrorInvalidProperty: <b>x</b>)"),
    ],
)
def test_graphs_answers_are_classified_once(status, headers, body, kind, words):  # type: ignore[no-untyped-def]
    from syncengine.transports.graph.errors import classify

    got_kind, message, wait = classify(status, headers, body, mailbox=MAILBOX,
                                       client_id="c", roles=["Contacts.ReadWrite"])
    assert got_kind == kind and words in message
    assert wait == (12.0 if status == 429 else None)
