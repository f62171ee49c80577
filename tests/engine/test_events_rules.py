"""Event sync (SPEC §5), one rule per test, through exchangesim with the real exchangelib:
each asserts the whole end state of the CRM's events (and of the calendar where sync writes
to it: the stamps)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lightningsync.models import Event, EventLink, LightningSyncError
from syncengine.transports.connect import transport_for
from tests.factories import ContactFactory, LeadFactory, UserFactory

from .event_fixtures import (
    add_event,
    at,
    crm_events,
    day,
    events_on,
    item_stamps,
    links,
    subjects,
    synced,
)
from .ews_fixtures import BOTH_TRANSPORTS, MAILBOX, ews_fixture  # noqa: F401

# Every rule on both transports: EWS, and Microsoft Graph under OAuth 2.0.
pytestmark = [pytest.mark.django_db(transaction=False), BOTH_TRANSPORTS]


def _row(subject: str, start: dt.datetime, end: dt.datetime, **extra: object) -> dict:
    row = {"owner": "rep", "subject": subject, "start": start, "end": end, "is_all_day": False,
           "location": "", "description": "", "show_as": "busy", "is_private": False,
           "who": None}
    row.update(extra)
    return row


def test_events_of_the_default_calendar_are_imported_with_their_mapped_fields(ews) -> None:
    events_on(ews)
    item = add_event(ews, "Pipeline review", at(1, 15), Location="Room 4", Body="Agenda",
                     LegacyFreeBusyStatus="Tentative")
    ews.sim.create_folder(MAILBOX, "Other calendar", parent="calendar",
                          folder_class="IPF.Appointment")
    add_event(ews, "Elsewhere", folder="calendar/Other calendar")
    report = synced(ews)
    assert crm_events() == [_row("Pipeline review", at(1, 15), at(1, 16), location="Room 4",
                                 description="Agenda", show_as="tentative")]
    assert report.events is not None and report.events.created == 1
    assert "1 event added to the CRM" in report.summary()
    (link,) = links()
    assert link.exchange_id == ews.id_of({"id": item}) and not link.needs_stamp
    event = Event.objects.get()
    assert item_stamps(ews, item) == {"LightningSyncOrgId": str(ews.setup.org_id),
                                      "LightningSyncCrmId": str(event.pk)}
    again = synced(ews)
    assert again.events is not None and again.events.written == 0
    assert crm_events() == [_row("Pipeline review", at(1, 15), at(1, 16), location="Room 4",
                                 description="Agenda", show_as="tentative")]


def test_a_cycle_without_changes_lists_each_folder_once_and_nothing_else(ews) -> None:
    events_on(ews)
    add_event(ews, "Pipeline review")
    add_event(ews, "Series", Recurrence={"Pattern": "Daily", "Interval": 1, "Range": "Numbered",
                                        "StartDate": day(1).isoformat(), "NumberOfOccurrences": 3})
    synced(ews)
    ews.sim.reset_counters()
    report = synced(ews)
    assert report.events is not None and report.events.written == 0
    counts = {op: n.get(MAILBOX, 0) for op, n in ews.sim.counts().items()}
    if ews.transport == "ews":
        assert counts == {"SyncFolderItems": 2}  # Salesforce_Sync and the Calendar
    else:
        assert counts == {"graph:contactsDelta": 1, "graph:calendarViewDelta": 1}


def test_only_events_with_the_selection_category_when_reps_select(ews) -> None:
    ews.setup.event_selection_enabled = True
    ews.setup.event_category = "Salesforce"
    ews.setup.save()
    events_on(ews, event_scope="selected")
    add_event(ews, "Tagged", Categories=["SALESFORCE"])
    add_event(ews, "Tagged too", Categories=["Blue", "salesforce"])
    later = add_event(ews, "Untagged")
    synced(ews)
    assert subjects() == ["Tagged", "Tagged too"]
    ews.sim.set_categories(MAILBOX, later, ["Salesforce"])  # tagged in any client
    synced(ews)
    assert subjects() == ["Tagged", "Tagged too", "Untagged"]


@pytest.mark.parametrize("date_filter,days_back", [
    ("TODAY", 0), ("LAST_N_DAYS:10", 10),
])
def test_the_date_filter_on_the_end_time(ews, date_filter: str, days_back: int) -> None:
    events_on(ews, event_date_filter=date_filter)
    add_event(ews, "Ends in the window", at(-days_back - 1, 23), hours=2)  # ends 01:00
    add_event(ews, "Ended before", at(-days_back - 1, 10))
    add_event(ews, "Future", at(30))
    synced(ews)
    assert subjects() == ["Ends in the window", "Future"]


def test_last_month_starts_on_the_first_of_last_month(ews) -> None:
    events_on(ews, event_date_filter="LAST_MONTH")
    first = day(0).replace(day=1)
    last_month = (first - dt.timedelta(days=1)).replace(day=1)
    on_first = dt.datetime.combine(last_month, dt.time(9), tzinfo=dt.UTC)
    add_event(ews, "First of last month", on_first)
    add_event(ews, "Day before", on_first - dt.timedelta(days=1))
    synced(ews)
    assert subjects() == ["First of last month"]


def test_private_events_are_skipped_unless_synced_and_then_marked_private(ews) -> None:
    events_on(ews)
    add_event(ews, "Doctor", Sensitivity="Private")
    add_event(ews, "Lawyer", Sensitivity="Confidential")
    add_event(ews, "Open")
    report = synced(ews)
    assert subjects() == ["Open"]
    assert report.events is not None and report.events.skipped_private == 2
    assert LightningSyncError.objects.count() == 0
    events_on(ews, sync_private_events=True)  # widens the set: the calendar is listed again
    synced(ews)
    assert [(e["subject"], e["is_private"]) for e in crm_events()] == [
        ("Doctor", True), ("Lawyer", True), ("Open", False)]
    assert Event.objects.count() == 3


def test_an_event_that_becomes_private_keeps_its_crm_copy_and_stops_updating(ews) -> None:
    events_on(ews)
    item = add_event(ews, "Lunch", Location="Cafe")
    synced(ews)
    ews.sim.update_item(MAILBOX, item, Sensitivity="Private", Location="Home")
    synced(ews)
    assert crm_events() == [_row("Lunch", at(1), at(1, 11), location="Cafe")]
    assert EventLink.objects.get().state == "active"


def test_recurring_series_are_skipped_and_counted_not_errors(ews) -> None:
    events_on(ews)
    start = at(1, 9)
    ews.sim.create_event(MAILBOX, Subject="Weekly 1:1", Start=start,
                         End=start + dt.timedelta(minutes=30), Recurrence={
                             "Pattern": "Weekly", "Interval": 1,
                             "DaysOfWeek": start.strftime("%A"), "Range": "Numbered",
                             "StartDate": start.date().isoformat(), "NumberOfOccurrences": 5})
    add_event(ews, "Single")
    report = synced(ews)
    assert subjects() == ["Single"]
    assert report.events is not None and report.events.skipped_series == 1
    assert "1 recurring event skipped" in report.summary()
    assert LightningSyncError.objects.count() == 0


def test_invitees_are_not_synced(ews) -> None:
    events_on(ews, contacts_direction="none")
    ContactFactory(owner=ews.rep, email="client@customer.test")
    add_event(ews, "Meeting", RequiredAttendees=["client@customer.test"])
    ews.sim.counters.reset()
    synced(ews)
    # One event, no relation (auto-relate is off), nothing created or sent in Exchange.
    assert crm_events() == [_row("Meeting", at(1), at(1, 11))]
    assert ews.sim.counters.count("CreateItem") == 0


def test_first_sight_matches_subject_start_and_end(ews) -> None:
    events_on(ews)
    crm = Event.objects.create(owner=ews.rep, subject="Demo", start=at(2), end=at(2, 11),
                               location="old")
    other_owner = UserFactory(username="other")
    Event.objects.create(owner=other_owner, subject="Demo", start=at(2), end=at(2, 11))
    Event.objects.create(owner=ews.rep, subject="Demo", start=at(2), end=at(2, 12))
    item = add_event(ews, "Demo", at(2), Location="Room 1")
    report = synced(ews)
    assert report.events is not None and (report.events.linked, report.events.created) == (1, 0)
    assert EventLink.objects.get().event_id == crm.pk
    assert Event.objects.count() == 3
    crm.refresh_from_db()
    assert crm.location == "Room 1"  # Exchange wins
    assert item_stamps(ews, item)["LightningSyncCrmId"] == str(crm.pk)


def test_exchange_wins_for_mapped_fields_and_who_what_are_never_touched(ews) -> None:
    events_on(ews)
    item = add_event(ews, "Review", Location="A")
    synced(ews)
    event = Event.objects.get()
    contact = ContactFactory(owner=ews.rep, email="x@customer.test")
    from tests.factories import AccountFactory
    account = AccountFactory(name="Customer")
    Event.objects.filter(pk=event.pk).update(location="CRM edit", description="mine",
                                             who_contact=contact, what_account=account)
    synced(ews)  # no Exchange change: the CRM edit stays
    event.refresh_from_db()
    assert (event.location, event.description) == ("CRM edit", "mine")
    ews.sim.update_item(MAILBOX, item, Subject="Review v2")
    synced(ews)
    event.refresh_from_db()
    assert (event.subject, event.location, event.description) == ("Review v2", "A", "")
    assert (event.who_contact_id, event.what_account_id) == (contact.pk, account.pk)


def test_a_delete_in_exchange_without_auto_remove_keeps_the_crm_event(ews) -> None:
    events_on(ews)
    item = add_event(ews, "Gone")
    synced(ews)
    ews.sim.delete_item(MAILBOX, item)
    report = synced(ews)
    assert subjects() == ["Gone"]
    assert report.events is not None and report.events.unlinked == 1
    (link,) = links()
    assert (link.state, link.exchange_id) == ("detached", None)


def test_a_delete_in_exchange_with_auto_remove_deletes_the_crm_event(ews) -> None:
    events_on(ews, auto_remove_deleted_events=True)
    item = add_event(ews, "Gone")
    add_event(ews, "Kept")
    synced(ews)
    ews.sim.delete_item(MAILBOX, item)
    report = synced(ews)
    assert subjects() == ["Kept"]
    assert report.events is not None and report.events.deleted == 1
    assert len(links()) == 1


def test_an_event_deleted_in_the_crm_is_not_imported_again(ews) -> None:
    events_on(ews)
    item = add_event(ews, "Personal")
    synced(ews)
    Event.objects.all().delete()
    ews.sim.update_item(MAILBOX, item, Location="Moved")
    synced(ews)
    assert subjects() == []
    from syncengine.cycle.reset import mark_for_reset
    mark_for_reset(ews.rep)
    synced(ews)
    assert subjects() == []
    # Nothing is deleted in Exchange: events sync one way.
    assert [i["Subject"] for i in ews.items("calendar")] == ["Personal"]


def test_narrowing_keeps_what_was_synced_and_stops_updating_it(ews) -> None:
    ews.setup.event_category = "Salesforce"
    ews.setup.save()
    events_on(ews)
    item = add_event(ews, "Untagged", Location="A")
    synced(ews)
    events_on(ews, event_scope="selected")
    synced(ews)
    ews.sim.update_item(MAILBOX, item, Location="B")
    synced(ews)
    assert crm_events() == [_row("Untagged", at(1), at(1, 11), location="A")]
    events_on(ews, event_scope="all")  # widening again: updates resume, no duplicate
    synced(ews)
    assert crm_events() == [_row("Untagged", at(1), at(1, 11), location="B")]


def test_widening_the_window_relists_and_matching_prevents_duplicates(ews) -> None:
    events_on(ews, event_date_filter="TODAY")
    add_event(ews, "Last week", at(-7))
    add_event(ews, "Tomorrow", at(1))
    synced(ews)
    assert subjects() == ["Tomorrow"]
    events_on(ews, event_date_filter="LAST_N_DAYS:30")
    synced(ews)
    assert subjects() == ["Last week", "Tomorrow"]
    assert EventLink.objects.count() == 2


def test_an_event_moved_out_of_the_window_is_kept_and_resumes_when_back(ews) -> None:
    events_on(ews, auto_remove_deleted_events=True, event_date_filter="LAST_N_DAYS:10")
    item = add_event(ews, "Review", at(1), Location="A")
    synced(ews)
    ews.sim.update_item(MAILBOX, item, Start=at(-40), End=at(-40, 11), Location="B")
    report = synced(ews)  # left the window: kept as it was, even with auto-remove
    assert crm_events() == [_row("Review", at(1), at(1, 11), location="A")]
    assert report.events is not None and (report.events.deleted, report.events.unlinked) == (0, 0)
    (link,) = links()
    assert link.state == "active"
    ews.sim.update_item(MAILBOX, item, Start=at(2), End=at(2, 11))  # back in the window
    synced(ews)
    assert crm_events() == [_row("Review", at(2), at(2, 11), location="B")]
    assert len(links()) == 1


def test_narrowing_the_window_keeps_what_was_synced(ews) -> None:
    events_on(ews, auto_remove_deleted_events=True, event_date_filter="LAST_N_DAYS:30")
    add_event(ews, "Last week", at(-7))
    add_event(ews, "Tomorrow", at(1))
    synced(ews)
    events_on(ews, event_date_filter="TODAY")
    report = synced(ews)
    assert subjects() == ["Last week", "Tomorrow"]
    assert report.events is not None and (report.events.deleted, report.events.unlinked) == (0, 0)
    assert [link.state for link in links()] == ["active", "active"]


def test_auto_relate_prefers_the_users_contact_then_any_contact_then_a_lead(ews) -> None:
    ews.setup.additional_domains = "corp.test"
    ews.setup.save()
    events_on(ews, auto_relate_events=True)
    someone = UserFactory(username="someone")
    ContactFactory(owner=someone, email="shared@customer.test")
    mine = ContactFactory(owner=ews.rep, email="Shared@Customer.test")
    ContactFactory(owner=ews.rep, email="colleague@corp.test")
    LeadFactory(owner=ews.rep, email="lead@prospect.test")
    add_event(ews, "With contact", RequiredAttendees=["colleague@corp.test",
                                                      "shared@customer.test"])
    add_event(ews, "With lead", RequiredAttendees=[MAILBOX, "lead@prospect.test"])
    add_event(ews, "Colleague only", RequiredAttendees=["colleague@corp.test"])
    add_event(ews, "Private", RequiredAttendees=["shared@customer.test"], Sensitivity="Private")
    events_on(ews, auto_relate_events=True, sync_private_events=True)
    synced(ews)
    whos = {e["subject"]: e["who"] for e in crm_events()}
    assert whos == {"With contact": f"contact:{mine.email}", "With lead": "lead:lead@prospect.test",
                    "Colleague only": None, "Private": None}


def test_auto_relate_never_overrides_a_reps_choice(ews) -> None:
    events_on(ews, auto_relate_events=True)
    chosen = ContactFactory(owner=ews.rep, email="chosen@customer.test")
    ContactFactory(owner=ews.rep, email="other@customer.test")
    item = add_event(ews, "Call")
    synced(ews)
    Event.objects.update(who_contact=chosen)
    ews.sim.update_item(MAILBOX, item, RequiredAttendees=["other@customer.test"])
    synced(ews)
    assert [e["who"] for e in crm_events()] == ["contact:chosen@customer.test"]


def test_an_all_day_event_keeps_its_calendar_dates(ews) -> None:
    events_on(ews)
    ews.sim.create_event(MAILBOX, Subject="Offsite", IsAllDayEvent=True,
                         Start=day(3), End=day(5))
    synced(ews)
    (row,) = crm_events()
    midnight = dt.time(0, tzinfo=dt.UTC)
    assert (row["start"], row["end"], row["is_all_day"]) == (
        dt.datetime.combine(day(3), midnight), dt.datetime.combine(day(4), midnight), True)


def test_an_item_stamped_by_another_org_is_refused_with_an_error(ews) -> None:
    events_on(ews)
    other = "0b9c2a6e-1111-4000-8000-00000000abcd"
    item = add_event(ews, "Theirs", extended=[{
        "PropertySetId": "7d3f5e0a-94a8-4d0c-b1f1-5b2f8c1e6a42",
        "PropertyName": "LightningSyncOrgId", "PropertyType": "String", "Value": other}])
    synced(ews)
    assert subjects() == []
    (error,) = LightningSyncError.objects.all()
    assert (error.kind, error.object, error.exchange_item_id) == (
        "other_org", "event", ews.id_of({"id": item}))
    assert other in error.message
    assert item_stamps(ews, item) == {"LightningSyncOrgId": other}  # left as it was


def test_the_calendar_is_listed_with_the_deciding_fields_then_only_passing_items_read(
        ews) -> None:
    events_on(ews)
    for n in range(6):
        add_event(ews, f"Old {n}", at(-20 - n))
    add_event(ews, "Private", Sensitivity="Private")
    add_event(ews, "Tagged series", at(1), Recurrence={
        "Pattern": "Daily", "Interval": 1, "Range": "Numbered",
        "StartDate": day(1).isoformat(), "NumberOfOccurrences": 3})
    new = add_event(ews, "New", at(2))
    read: list[str] = []

    def recording(settings):  # type: ignore[no-untyped-def]
        transport = transport_for(settings)
        get_items = transport.get_items

        def recorded(folder, ids, fields):  # type: ignore[no-untyped-def]
            read.extend(ids)
            return get_items(folder, ids, fields)

        transport.get_items = recorded  # type: ignore[method-assign]
        return transport

    ews.sim.counters.reset()
    report = ews.sync(transport_factory=recording)
    assert report.outcome == "synced"
    assert subjects() == ["New"]
    assert read == [ews.id_of({"id": new})]  # only the item that passes was read in full
    if ews.transport == "ews":
        assert ews.sim.counters.count("GetItem", MAILBOX) == 1
    else:
        # The old events are before the calendar view's window: not even listed. A view's
        # page holds its events in full, so the read sends nothing; only the stamps of the
        # two single events in it are read (20 per $batch), the series' never.
        assert ews.sim.counters.count("graph:getEvent", MAILBOX) == 2
        assert ews.sim.counters.count("graph:calendarViewDelta", MAILBOX) == 2


def test_an_initial_sync_passes_over_its_own_stamps_without_reading_their_links(ews) -> None:
    """Each page's items are stamped after its commit; the listing shows those stamps again
    further on, and they are left out before any read (the next quiet cycle lists nothing)."""
    events_on(ews, contacts_direction="none")
    for n in range(7):
        add_event(ews, f"Call {n}", at(1 + n))
    with CaptureQueriesContext(connection) as queries:
        report = ews.sync(page_size=3)
    assert report.events is not None and report.events.created == 7
    looked_up = [
        q["sql"].split('"exchange_id" IN (', 1)[1].split(")", 1)[0].count(",") + 1
        for q in queries.captured_queries
        if q["sql"].startswith("SELECT") and 'FROM "lightningsync_eventlink"' in q["sql"]
        and '"exchange_id" IN (' in q["sql"] and "NOT (" not in q["sql"]
    ]
    assert sum(looked_up) == 7  # each item once: its stamp, listed back, costs nothing
    names = dict(Event.objects.values_list("pk", "subject"))
    assert sorted(names.get(int(item_stamps(ews, i["id"]).get("LightningSyncCrmId", 0)), "")
                  for i in ews.items("calendar")) == [f"Call {n}" for n in range(7)]
    assert not EventLink.objects.filter(needs_stamp=True).exists()
    ews.sim.reset_counters()
    again = ews.sync(page_size=3)
    assert again.events is not None and again.events.written == 0
    counts = {op: n.get(MAILBOX, 0) for op, n in ews.sim.counts().items()}
    assert counts == ({"SyncFolderItems": 1} if ews.transport == "ews"
                      else {"graph:calendarViewDelta": 1})
