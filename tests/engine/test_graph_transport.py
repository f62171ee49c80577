"""The Graph transport passes the transport contract against exchangesim over TLS, with the
real msal acquiring its token."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from syncengine.transports.contract import FIELDS, ORG_ID, TransportContract
from syncengine.transports.graph import contact_json as cj
from syncengine.transports.graph import versions
from syncengine.transports.graph.transport import GraphTransport
from syncengine.transports.protocol import (
    CalendarItemType,
    ChangeKind,
    ErrorKind,
    ExchangeItem,
    FolderKind,
    ItemRef,
    ItemUpdate,
    NewItem,
    TransportError,
)

from .graph_fixtures import GraphRep, grant_app_roles, graph_settings

MAILBOX = "rep@example.com"


class TestGraphTransport(TransportContract):
    tells_creations = False

    @pytest.fixture
    def transport(self, exchange_sim_graph):  # type: ignore[no-untyped-def]
        exchange_sim_graph.sim.add_mailbox(MAILBOX)
        grant_app_roles(exchange_sim_graph)
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


def test_a_delta_page_fetched_ahead_fails_when_asked_for_and_the_listing_resumes(sim):  # type: ignore[no-untyped-def]
    transport = GraphTransport.open(graph_settings(sim, MAILBOX))
    folder = transport.ensure_contact_folder()
    made = transport.create_items(folder, [NewItem(str(n), {"Surname": f"N{n}"})
                                           for n in range(70)])
    sim.sim.reset_counters()
    pages = transport.changes(folder, None, 20)
    first = next(pages)
    # the next page is asked for as the first arrives (while the engine writes the first);
    # once it has been, a fault meets the third
    deadline = time.monotonic() + 30
    while sim.sim.request_count("graph:contactsDelta", MAILBOX) < 2:
        assert time.monotonic() < deadline, "the second page was never asked for"
        time.sleep(0.01)
    sim.sim.add_fault("graph_throttled", operation="graph:contactsDelta", mailbox=MAILBOX,
                      back_off_ms=30_000, count=1)
    second = next(pages)
    assert (len(first.changes), len(second.changes), second.more) == (20, 20, True)
    with pytest.raises(TransportError) as caught:
        next(pages)
    assert caught.value.kind == ErrorKind.THROTTLED and caught.value.back_off_seconds == 30
    # the engine keeps the second page's link: listing again from it loses nothing
    rest = list(transport.changes(folder, second.cursor, 20))
    listed = [c.id for p in (first, second, *rest) for c in p.changes]
    assert sorted(listed) == sorted(r.id for r in made) and not rest[-1].more


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


# -- the calendar view ----------------------------------------------------------------------
def _at(days: int, hour: int = 10) -> dt.datetime:
    day = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=days)
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.UTC)


def _event(sim, subject: str, start: dt.datetime, **fields):  # type: ignore[no-untyped-def]
    ews_id = sim.sim.create_event(MAILBOX, Subject=subject, Start=start,
                                  End=start + dt.timedelta(hours=1), **fields)
    return ews_id, str(sim.sim.graph_id(ews_id))


def _stamp_as_another_org(sim, ews_id: str) -> None:  # type: ignore[no-untyped-def]
    sim.sim.set_extended_property(MAILBOX, ews_id, "00Dother", PropertySetId=cj.PROPERTY_SET_ID,
                                  PropertyName="LightningSyncOrgId")


def _calendar_listing(transport, cursor, since):  # type: ignore[no-untyped-def]
    changes, last = [], None
    for page in transport.changes(transport.calendar_folder(), cursor, 512, since=since):
        changes += page.changes
        last = page
    return changes, last.cursor


def test_the_calendar_view_covers_the_window_and_a_new_window_lists_again(sim):  # type: ignore[no-untyped-def]
    grant_app_roles(sim)
    transport = GraphTransport.open(graph_settings(sim, MAILBOX))
    _, old = _event(sim, "Last month", _at(-30))
    _, recent = _event(sim, "Yesterday", _at(-1))
    _, ahead = _event(sim, "Next week", _at(7))
    since = _at(-3, 0)
    sim.sim.reset_counters()
    changes, cursor = _calendar_listing(transport, None, since)
    assert {c.id for c in changes} == {recent, ahead}  # the old one is not even listed
    # Stamps: one $batch for the page's two events; the read in full sends nothing.
    assert [sim.sim.request_count(op) for op in ("graph:calendarViewDelta", "graph:batch",
                                                  "graph:getEvent")] == [1, 1, 2]
    got = transport.get_items(transport.calendar_folder(), [recent], ["Subject"])
    assert [g.fields for g in got if isinstance(g, ExchangeItem)] == [{"Subject": "Yesterday"}]
    # As days pass the window still covers what is wanted: one request, nothing listed.
    sim.sim.reset_counters()
    assert _calendar_listing(transport, cursor, since + dt.timedelta(days=2))[0] == []
    assert sim.sim.request_count("graph:calendarViewDelta", MAILBOX) == 1
    # A longer date filter needs another window: the cursor is refused, the engine lists again.
    with pytest.raises(TransportError) as caught:
        _calendar_listing(transport, cursor, _at(-40, 0))
    assert caught.value.kind == ErrorKind.INVALID_CURSOR
    again, _ = _calendar_listing(transport, None, _at(-40, 0))
    assert {c.id for c in again} == {old, recent, ahead}


def test_an_event_leaving_the_window_is_an_update_and_only_a_deleted_one_a_delete(sim):  # type: ignore[no-untyped-def]
    grant_app_roles(sim)
    transport = GraphTransport.open(graph_settings(sim, MAILBOX))
    moved_ews, moved = _event(sim, "Moved back", _at(2))
    gone_ews, gone = _event(sim, "Cancelled", _at(3))
    since = _at(-3, 0)
    _, cursor = _calendar_listing(transport, None, since)
    sim.sim.update_item(MAILBOX, moved_ews, Start=_at(-60), End=_at(-60, 11))
    sim.sim.delete_item(MAILBOX, gone_ews)
    changes, _ = _calendar_listing(transport, cursor, since)
    by_id = {c.id: c for c in changes}
    assert set(by_id) == {moved, gone}
    assert by_id[gone].kind == ChangeKind.DELETE
    update = by_id[moved]
    assert update.kind == ChangeKind.UPDATE and update.event is not None
    assert update.event.end == _at(-60, 11) and update.change_key


def test_a_series_is_one_change_of_its_master_however_graph_expands_it(sim):  # type: ignore[no-untyped-def]
    grant_app_roles(sim)
    transport = GraphTransport.open(graph_settings(sim, MAILBOX))
    start = _at(1)
    master_ews, master = _event(sim, "Daily", start, Recurrence={
        "Pattern": "Daily", "Interval": 1, "Range": "Numbered",
        "StartDate": start.date().isoformat(), "NumberOfOccurrences": 5})
    sim.sim.modify_occurrence(MAILBOX, master_ews, _at(2), Subject="Moved")
    sim.sim.reset_counters()
    changes, cursor = _calendar_listing(transport, None, _at(-1, 0))
    assert [(c.id, c.event.item_type if c.event else None) for c in changes] == [
        (master, CalendarItemType.RECURRING_MASTER)]
    assert sim.sim.request_count("graph:getEvent", MAILBOX) == 0  # skipped: no stamp read
    sim.sim.modify_occurrence(MAILBOX, master_ews, _at(3), Location="Room 2")
    again, _ = _calendar_listing(transport, cursor, _at(-1, 0))
    assert [(c.kind, c.id) for c in again] == [(ChangeKind.UPDATE, master)]


def test_an_app_granted_calendars_read_only_is_told_what_stamping_needs(sim):  # type: ignore[no-untyped-def]
    sim.sim.set_app_roles(sim.client_id, ["Contacts.ReadWrite", "Calendars.Read"])
    transport = GraphTransport.open(graph_settings(sim, MAILBOX))
    ews_id, item_id = _event(sim, "Review", _at(1))
    (listed,), _ = _calendar_listing(transport, None, _at(-1, 0))
    with pytest.raises(TransportError) as caught:
        transport.update_items([ItemUpdate(ItemRef(item_id, listed.change_key or ""), {},
                                           crm_stamp="7", kind=FolderKind.CALENDAR)])
    assert caught.value.kind == ErrorKind.CONFIGURATION
    assert "Calendars.ReadWrite" in caught.value.message
    assert "LightningSyncOrgId" not in str(sim.sim.item(MAILBOX, ews_id))  # nothing written


def test_a_large_calendar_listing_lists_only_the_stamped_events(sim):  # type: ignore[no-untyped-def]
    grant_app_roles(sim)
    transport = GraphTransport.open(graph_settings(sim, MAILBOX))
    made = [_event(sim, f"Call {n}", _at(1 + n % 9)) for n in range(150)]
    ids = [item_id for _, item_id in made]
    stamped = ids[7]
    (listed,) = [c for c in _calendar_listing(transport, None, _at(-1, 0))[0] if c.id == stamped]
    assert transport.update_items([ItemUpdate(ItemRef(stamped, listed.change_key or ""), {},
                                              crm_stamp="9", kind=FolderKind.CALENDAR)])[0].ok
    _stamp_as_another_org(sim, made[30][0])
    sim.sim.backdate(MAILBOX, 3600)  # the calendar was not just filled
    versions.forget_all()  # another process: nothing known
    sim.sim.reset_counters()
    changes, _ = _calendar_listing(transport, None, _at(-1, 0))
    assert len(changes) == 150
    assert {c.id: (c.org_stamp, c.crm_stamp) for c in changes if c.org_stamp} == {
        stamped: (ORG_ID, "9"), ids[30]: ("00Dother", None)}
    assert [sim.sim.request_count(op) for op in (
        "graph:calendarViewDelta", "graph:listEvents", "graph:batch")] == [1, 1, 0]
    # the list held the two stamped events only, a thousand at most per request
    assert sim.sim.request_count("graph:getEvent") == 0


def test_events_changed_as_the_calendar_is_listed_are_read_not_assumed_unstamped(sim):  # type: ignore[no-untyped-def]
    grant_app_roles(sim)
    transport = GraphTransport.open(graph_settings(sim, MAILBOX))
    made = [_event(sim, f"Call {n}", _at(1 + n % 9)) for n in range(120)]
    sim.sim.backdate(MAILBOX, 3600)
    # edited by the rep just now: its change may postdate the list of stamped events
    sim.sim.update_item(MAILBOX, made[5][0], Subject="Moved")
    _stamp_as_another_org(sim, made[9][0])
    sim.sim.reset_counters()
    changes, _ = _calendar_listing(transport, None, _at(-1, 0))
    assert len(changes) == 120
    assert {c.id: c.org_stamp for c in changes if c.org_stamp} == {made[9][1]: "00Dother"}
    # one read, 1 per `$batch`, for the event changed within the clock margin
    assert [sim.sim.request_count(op) for op in (
        "graph:listEvents", "graph:batch", "graph:getEvent")] == [1, 1, 1]
