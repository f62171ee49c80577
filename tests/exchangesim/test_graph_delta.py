"""Delta queries: contacts in a folder and the calendar view, as Microsoft documents them."""

from __future__ import annotations

import datetime as dt
import urllib.parse

from exchangesim.pytest_plugin import GRAPH_CLIENT_ID

from .conftest import ALICE, BOB, ORG_GUID, GraphClient

ORG_PROP = f"String {{{ORG_GUID}}} Name LightningSyncOrgId"
WINDOW = {"startDateTime": "2025-01-01T00:00:00Z", "endDateTime": "2025-02-01T00:00:00Z"}


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def all_pages(graph, url, params=None, headers=None):
    """Follow @odata.nextLink to the deltaLink: (pages of values, deltaLink)."""
    pages = []
    r = graph.get(url, params=params, headers=headers)
    while True:
        assert r.status_code == 200, r.text
        body = r.json()
        pages.append(body["value"])
        if "@odata.deltaLink" in body:
            assert "@odata.nextLink" not in body
            return pages, body["@odata.deltaLink"]
        r = graph.get(body["@odata.nextLink"], headers=headers)


# -- contacts -------------------------------------------------------------------------------
def test_contacts_delta_pages_removals_and_the_delta_link_round_trip(graph, graph_sim):
    sim = graph_sim.sim
    folder_ews = sim.create_folder(ALICE, "Salesforce_Sync")
    folder = sim.graph_id(folder_ews)
    ids = [
        sim.create_contact(ALICE, folder="contacts/Salesforce_Sync", GivenName=n, Surname="X")
        for n in ("Ann", "Bob", "Cy")
    ]
    sim.create_contact(ALICE, folder="contacts", GivenName="Elsewhere")
    url = f"/users/{ALICE}/contactFolders/{folder}/contacts/delta"
    prefer = {"Prefer": "odata.maxpagesize=2"}

    first = graph.get(url, params={"$select": "givenName,surname"}, headers=prefer)
    assert first.status_code == 200
    assert first.headers["Preference-Applied"] == "odata.maxpagesize=2"
    body = first.json()
    assert body["@odata.context"].endswith("/$metadata#Collection(contact)")
    assert "$skiptoken=" in body["@odata.nextLink"]
    assert [set(c) for c in body["value"]] == [
        {"@odata.type", "@odata.etag", "id", "givenName", "surname"}
    ] * 2
    # retrying a nextLink gives the same page
    retried = graph.get(body["@odata.nextLink"], headers=prefer).json()
    assert retried == graph.get(body["@odata.nextLink"], headers=prefer).json()
    pages, delta_link = all_pages(graph, body["@odata.nextLink"], headers=prefer)
    seen = body["value"] + [c for page in pages for c in page]
    assert [c["givenName"] for c in seen] == ["Ann", "Bob", "Cy"]
    assert [c["id"] for c in seen] == [sim.graph_id(i) for i in ids]
    assert "$deltatoken=" in delta_link

    # nothing changed: an empty page and a new deltaLink
    quiet = graph.get(delta_link, headers=prefer).json()
    assert quiet["value"] == [] and "@odata.deltaLink" in quiet

    sim.update_item(ALICE, ids[0], JobTitle="CFO")  # a rep edits Ann in Outlook
    assert graph.delete(f"/users/{ALICE}/contacts/{sim.graph_id(ids[1])}").status_code == 204
    sim.move_item(ALICE, ids[2], "contacts")  # Cy moved out of the folder
    new = graph.post(f"/users/{ALICE}/contactFolders/{folder}/contacts", {"givenName": "Di"})
    pages, next_delta = all_pages(graph, delta_link, headers=prefer)
    changes = [c for page in pages for c in page]
    assert changes == [
        {
            "@odata.type": "#microsoft.graph.contact",
            "@odata.etag": f'W/"{sim.item(ALICE, ids[0])["changekey"]}"',
            "id": sim.graph_id(ids[0]),
            "givenName": "Ann",
            "surname": "X",
        },
        {
            "@odata.type": "#microsoft.graph.contact",
            "id": sim.graph_id(ids[1]),
            "@removed": {"reason": "deleted"},
        },
        {
            "@odata.type": "#microsoft.graph.contact",
            "id": sim.graph_id(ids[2]),
            "@removed": {"reason": "deleted"},
        },
        {
            "@odata.type": "#microsoft.graph.contact",
            "@odata.etag": new.json()["@odata.etag"],
            "id": new.json()["id"],
            "givenName": "Di",
            "surname": None,
        },
    ]
    assert graph.get(next_delta).json()["value"] == []
    # the old deltaLink can be replayed
    assert len([c for p in all_pages(graph, delta_link)[0] for c in p]) == 4


def test_contacts_delta_refuses_top_and_unknown_tokens(graph, graph_sim):
    folder = graph_sim.sim.graph_id(graph_sim.sim.create_folder(ALICE, "Salesforce_Sync"))
    url = f"/users/{ALICE}/contactFolders/{folder}/contacts/delta"
    top = graph.get(url, params={"$top": "5"})
    assert top.status_code == 400
    assert top.json()["error"]["code"] == "ErrorInvalidUrlQuery"
    assert "'$top'" in top.json()["error"]["message"]

    gone = graph.get(url, params={"$deltatoken": "bm90LWEtdG9rZW4"})
    assert gone.status_code == 410
    assert gone.json()["error"]["code"] == "SyncStateNotFound"
    assert gone.headers["Location"].startswith(f"{graph_sim.graph_url}/users/")
    assert gone.headers["Location"].endswith("/contacts/delta?$deltatoken=")
    # the Location starts the query over, with the $select of the lost round kept
    _pages, link = all_pages(graph, url, params={"$select": "givenName"})
    graph_sim.sim.add_fault("graph_sync_reset", operation="graph:contactsDelta")
    reset = graph.get(link)
    assert reset.status_code == 410 and reset.json()["error"]["code"] == "resyncRequired"
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(reset.headers["Location"]).query, True)
    assert query == {"$select": ["givenName"], "$deltatoken": [""]}
    assert graph.get(reset.headers["Location"]).status_code == 200


# -- calendar view --------------------------------------------------------------------------
def seed_calendar(sim):
    lunch = sim.create_event(
        ALICE, Subject="Lunch", Start=utc(2025, 1, 10, 12), End=utc(2025, 1, 10, 13)
    )
    standup = sim.create_event(
        ALICE,
        Subject="Standup",
        Start=utc(2025, 1, 6, 9),
        End=utc(2025, 1, 6, 9, 15),
        Recurrence={
            "Pattern": "Weekly",
            "Interval": 1,
            "DaysOfWeek": "Monday",
            "Range": "Numbered",
            "StartDate": "2025-01-06",
            "NumberOfOccurrences": 3,
        },
    )
    sim.modify_occurrence(ALICE, standup, utc(2025, 1, 13, 9), Subject="Moved standup")
    later = sim.create_event(
        ALICE, Subject="Later", Start=utc(2025, 3, 5, 10), End=utc(2025, 3, 5, 11)
    )
    return lunch, standup, later


def test_calendar_view_delta_expands_series_and_reports_what_leaves_the_window(graph_sim):
    sim = graph_sim.sim
    lunch, standup, later = seed_calendar(sim)
    graph = GraphClient(graph_sim, graph_sim.token())
    url = f"/users/{ALICE}/calendarView/delta"
    prefer = {"Prefer": 'odata.maxpagesize=2, outlook.timezone="UTC"'}

    first = graph.get(url, params=WINDOW, headers=prefer)
    assert first.json()["@odata.context"].endswith("/$metadata#Collection(event)")
    assert first.headers["Preference-Applied"] == 'odata.maxpagesize=2, outlook.timezone="UTC"'
    pages, delta_link = all_pages(graph, url, params=WINDOW, headers=prefer)
    assert [len(p) for p in pages] == [2, 2]
    events = [e for p in pages for e in p]
    # A series comes as its occurrences and exceptions, never as its master.
    assert [(e["subject"], e["type"]) for e in events] == [
        ("Lunch", "singleInstance"),
        ("Standup", "occurrence"),
        ("Moved standup", "exception"),
        ("Standup", "occurrence"),
    ]
    master_id = sim.graph_id(standup)
    assert events[0]["id"] == sim.graph_id(lunch) and events[0]["seriesMasterId"] is None
    assert all(e["seriesMasterId"] == master_id for e in events[1:])
    assert [e["originalStart"] for e in events[1:]] == [
        "2025-01-06T09:00:00Z",
        "2025-01-13T09:00:00Z",
        "2025-01-20T09:00:00Z",
    ]
    assert events[0]["start"] == {"dateTime": "2025-01-10T12:00:00.0000000", "timeZone": "UTC"}
    assert all(e["@odata.type"] == "#microsoft.graph.event" for e in events)

    # another zone through Prefer
    pacific = graph.get(
        url, params=WINDOW, headers={"Prefer": 'outlook.timezone="Pacific Standard Time"'}
    )
    lunch_pst = pacific.json()["value"][0]
    assert lunch_pst["start"] == {
        "dateTime": "2025-01-10T04:00:00.0000000",
        "timeZone": "Pacific Standard Time",
    }

    # no change: nothing to report
    quiet = graph.get(delta_link, headers=prefer).json()
    assert quiet["value"] == [] and "@odata.deltaLink" in quiet

    sim.update_item(ALICE, lunch, Start=utc(2025, 2, 10, 12), End=utc(2025, 2, 10, 13))  # leaves
    sim.update_item(ALICE, later, Subject="Later still")  # changed outside the window
    sim.delete_occurrence(ALICE, standup, utc(2025, 1, 20, 9))
    added = sim.create_event(
        ALICE, Subject="Review", Start=utc(2025, 1, 28, 15), End=utc(2025, 1, 28, 16)
    )
    pages, next_link = all_pages(graph, delta_link, headers=prefer)
    changes = [e for p in pages for e in p]
    removed = sorted(e["id"] for e in changes if "@removed" in e)
    assert all(e["@removed"] == {"reason": "deleted"} for e in changes if "@removed" in e)
    third = next(e for e in events if e.get("originalStart") == "2025-01-20T09:00:00Z")
    assert removed == sorted([sim.graph_id(lunch), sim.graph_id(later), third["id"]])
    present = [(e["subject"], e["type"]) for e in changes if "@removed" not in e]
    assert present == [
        ("Standup", "occurrence"),
        ("Moved standup", "exception"),
        ("Review", "singleInstance"),
    ]
    assert next(e for e in changes if e.get("subject") == "Review")["id"] == sim.graph_id(added)
    assert graph.get(next_link).json()["value"] == []


def test_calendar_view_delta_refusals_and_lost_states(graph_sim):
    graph = GraphClient(graph_sim, graph_sim.token())
    url = f"/users/{ALICE}/calendar/calendarView/delta"
    missing = graph.get(url)
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "ErrorInvalidParameter"
    for option in ("$select", "$filter", "$expand", "$orderby", "$search", "$top"):
        r = graph.get(url, params={**WINDOW, option: "subject"})
        assert r.status_code == 400, option
        assert r.json()["error"]["code"] == "ErrorInvalidUrlQuery"
    _pages, link = all_pages(graph, url, params=WINDOW)
    assert graph_sim.sim.forget_delta_states() >= 1
    gone = graph.get(link)
    assert gone.status_code == 410 and gone.json()["error"]["code"] == "SyncStateNotFound"
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(gone.headers["Location"]).query, True)
    assert query == {
        "startDateTime": ["2025-01-01T00:00:00Z"],
        "endDateTime": ["2025-02-01T00:00:00Z"],
        "$deltatoken": [""],
    }


def test_events_by_id_with_the_org_stamp_written_over_ews(graph_sim):
    from exchangelib import EWSDateTime, EWSTimeZone
    from exchangelib.items import CalendarItem

    account = graph_sim.account(ALICE)
    utc_zone = EWSTimeZone("UTC")
    item = CalendarItem(
        folder=account.calendar,
        subject="Demo",
        start=EWSDateTime(2025, 1, 15, 10, tzinfo=utc_zone),
        end=EWSDateTime(2025, 1, 15, 11, tzinfo=utc_zone),
        location="Room 1",
        org_id="org-ews",
    )
    item.save()
    graph = GraphClient(graph_sim, graph_sim.token())
    r = graph.get(
        f"/users/{ALICE}/events/{graph_sim.sim.graph_id(item.id)}",
        params={"$expand": f"singleValueExtendedProperties($filter=id eq '{ORG_PROP}')"},
        headers={"Prefer": 'outlook.body-content-type="text"'},
    )
    event = r.json()
    assert r.status_code == 200 and event["changeKey"] == item.changekey
    assert event["singleValueExtendedProperties"] == [{"id": ORG_PROP, "value": "org-ews"}]
    assert event["location"]["displayName"] == "Room 1"
    assert (event["showAs"], event["sensitivity"], event["isOrganizer"]) == ("busy", "normal", True)
    assert event["organizer"]["emailAddress"]["address"] == ALICE
    item.refresh()
    assert event["iCalUId"] == item.uid  # the same UID over EWS and Graph
    assert event["body"] == {"contentType": "text", "content": ""}

    # with Calendars.ReadWrite the app stamps events over Graph and EWS reads the stamp
    graph_sim.sim.set_app_roles(GRAPH_CLIENT_ID, ["Contacts.ReadWrite", "Calendars.ReadWrite"])
    writer = GraphClient(graph_sim, graph_sim.sim.issue_token(GRAPH_CLIENT_ID))
    patched = writer.patch(
        f"/users/{ALICE}/events/{event['id']}",
        {"singleValueExtendedProperties": [{"id": ORG_PROP, "value": "org-graph"}]},
    )
    assert patched.status_code == 200 and patched.json()["changeKey"] != item.changekey
    item.refresh()
    assert item.org_id == "org-graph"


def test_series_written_over_graph_expand_and_take_exceptions(graph_sim):
    graph_sim.sim.set_app_roles(GRAPH_CLIENT_ID, ["Contacts.ReadWrite", "Calendars.ReadWrite"])
    graph = GraphClient(graph_sim, graph_sim.token())
    recurrence = {
        "pattern": {
            "type": "weekly",
            "interval": 1,
            "month": 0,
            "dayOfMonth": 0,
            "daysOfWeek": ["monday"],
            "firstDayOfWeek": "sunday",
            "index": "first",
        },
        "range": {
            "type": "numbered",
            "startDate": "2025-01-06",
            "endDate": "0001-01-01",
            "recurrenceTimeZone": "Pacific Standard Time",
            "numberOfOccurrences": 3,
        },
    }
    created = graph.post(
        f"/users/{ALICE}/calendar/events",
        {
            "subject": "Weekly sync",
            "body": {"contentType": "text", "content": "Agenda"},
            "start": {"dateTime": "2025-01-06T09:00:00", "timeZone": "Pacific Standard Time"},
            "end": {"dateTime": "2025-01-06T09:30:00", "timeZone": "Pacific Standard Time"},
            "recurrence": recurrence,
            "attendees": [{"emailAddress": {"address": BOB, "name": "Bob"}, "type": "required"}],
        },
    )
    assert created.status_code == 201, created.text
    master = created.json()
    assert (master["type"], master["recurrence"]) == ("seriesMaster", recurrence)
    assert master["originalStartTimeZone"] == "Pacific Standard Time"
    assert master["start"] == {"dateTime": "2025-01-06T17:00:00.0000000", "timeZone": "UTC"}
    assert master["body"]["contentType"] == "html" and "Agenda" in master["body"]["content"]
    assert master["attendees"][0]["emailAddress"] == {"name": "Bob", "address": BOB}
    stored = graph_sim.sim.item(ALICE, graph_sim.sim.ews_id(master["id"]))
    assert stored["Recurrence"]["Pattern"] == "Weekly" and stored["Start"] == "2025-01-06T17:00:00Z"

    pages, _link = all_pages(graph, f"/users/{ALICE}/calendarView/delta", params=WINDOW)
    occurrences = [e for p in pages for e in p if e["type"] == "occurrence"]
    assert len(occurrences) == 3
    moved = graph.patch(f"/users/{ALICE}/events/{occurrences[1]['id']}", {"subject": "Moved"})
    assert (moved.status_code, moved.json()["type"]) == (200, "exception")
    assert graph.delete(f"/users/{ALICE}/events/{occurrences[2]['id']}").status_code == 204
    pages, _link = all_pages(graph, f"/users/{ALICE}/calendarView/delta", params=WINDOW)
    listed = [(e["subject"], e["type"]) for p in pages for e in p]
    assert listed == [
        ("Weekly sync", "occurrence"),
        ("Moved", "exception"),
    ]
    bad_zone = graph.post(
        f"/users/{ALICE}/events",
        {"start": {"dateTime": "2025-01-06T09:00:00", "timeZone": "Mars/Olympus"}},
    )
    assert bad_zone.status_code == 400
    assert bad_zone.json()["error"]["code"] == "TimeZoneNotSupportedException"


def test_the_default_calendars_events_path_reaches_only_its_own_events(graph_sim):
    sim = graph_sim.sim
    sim.create_folder(ALICE, "Other calendar", parent="calendar", folder_class="IPF.Appointment")
    elsewhere = sim.graph_id(sim.create_event(
        ALICE, folder="calendar/Other calendar", Subject="Elsewhere",
        Start=utc(2025, 1, 10, 12), End=utc(2025, 1, 10, 13)))
    mine = sim.graph_id(sim.create_event(
        ALICE, Subject="Mine", Start=utc(2025, 1, 10, 12), End=utc(2025, 1, 10, 13)))
    graph = GraphClient(graph_sim, graph_sim.token())
    assert graph.get(f"/users/{ALICE}/events/{elsewhere}").status_code == 200
    refused = graph.get(f"/users/{ALICE}/calendar/events/{elsewhere}")
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "ErrorItemNotFound"
    assert graph.get(f"/users/{ALICE}/calendar/events/{mine}").json()["subject"] == "Mine"
