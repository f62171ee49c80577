"""Calendar items, recurrence expansion in CalendarView, and Autodiscover."""

from __future__ import annotations

import datetime as dt

import requests
from exchangelib import EWSDate, EWSDateTime, EWSTimeZone
from exchangelib.items import CalendarItem
from exchangelib.recurrence import DailyPattern, Recurrence, WeeklyPattern

from .conftest import ALICE

UTC = EWSTimeZone("UTC")
CPH = EWSTimeZone("Europe/Copenhagen")


def at(y, m, d, h=0, tz=UTC):
    return EWSDateTime(y, m, d, h, tzinfo=tz)


def test_a_single_event_round_trips(alice, sim):
    ev = CalendarItem(
        folder=alice.calendar,
        subject="Lunch",
        start=at(2025, 3, 3, 12, CPH),
        end=at(2025, 3, 3, 13, CPH),
        location="Cafe",
        body="Bring slides",
        sensitivity="Private",
        legacy_free_busy_status="Tentative",
        categories=["Salesforce"],
        required_attendees=["bob@example.com"],
        optional_attendees=["carol@example.net"],
    )
    ev.save()
    got = alice.calendar.get(id=ev.id)
    assert got.subject == "Lunch" and got.location == "Cafe" and got.text_body is None
    assert got.start == at(2025, 3, 3, 11) and got.end == at(2025, 3, 3, 12)
    assert (got.sensitivity, got.legacy_free_busy_status, got.categories) == (
        "Private",
        "Tentative",
        ["Salesforce"],
    )
    assert [a.mailbox.email_address for a in got.required_attendees] == ["bob@example.com"]
    assert [a.mailbox.email_address for a in got.optional_attendees] == ["carol@example.net"]
    assert got.organizer.email_address == ALICE
    assert got.type == "Single" and got.body == "Bring slides"
    assert (
        got._start_timezone.key == "Europe/Copenhagen"
        or got._start_timezone.ms_id == "Romance Standard Time"
    )


def test_all_day_event(alice, sim):
    ev = CalendarItem(
        folder=alice.calendar,
        subject="Offsite",
        start=EWSDate(2025, 4, 1),
        end=EWSDate(2025, 4, 3),
        is_all_day=True,
    )
    ev.save()
    got = alice.calendar.get(id=ev.id)
    assert got.is_all_day is True
    assert (got.start, got.end) == (EWSDate(2025, 4, 1), EWSDate(2025, 4, 3))


def test_calendar_view_expands_a_weekly_series_with_an_exception(alice, sim):
    master = CalendarItem(
        folder=alice.calendar,
        subject="Standup",
        start=at(2025, 1, 6, 9, CPH),
        end=at(2025, 1, 6, 10, CPH),
        recurrence=Recurrence(
            pattern=WeeklyPattern(interval=1, weekdays=[1, 3]), start=EWSDate(2025, 1, 6), number=6
        ),
    )
    master.save()
    CalendarItem(
        folder=alice.calendar, subject="One-off", start=at(2025, 1, 7, 14), end=at(2025, 1, 7, 15)
    ).save()
    view = list(alice.calendar.view(start=at(2025, 1, 1), end=at(2025, 2, 1)))
    occurrences = [v for v in view if v.subject == "Standup"]
    assert [o.type for o in occurrences] == ["Occurrence"] * 6
    assert [o.start.astimezone(CPH).day for o in occurrences] == [6, 8, 13, 15, 20, 22]
    assert [v.type for v in view if v.subject == "One-off"] == ["Single"]

    # Edit the second occurrence: it becomes an exception.
    second = occurrences[1]
    second.subject = "Standup (moved)"
    second.start, second.end = at(2025, 1, 8, 15), at(2025, 1, 8, 16)
    second.save(update_fields=["subject", "start", "end"])
    view = [
        v
        for v in alice.calendar.view(start=at(2025, 1, 1), end=at(2025, 2, 1))
        if v.type != "Single"
    ]
    assert [(v.type, v.subject) for v in view][:3] == [
        ("Occurrence", "Standup"),
        ("Exception", "Standup (moved)"),
        ("Occurrence", "Standup"),
    ]
    # Deleting one occurrence removes it from the view.
    view[2].delete()
    assert (
        len(
            [
                v
                for v in alice.calendar.view(start=at(2025, 1, 1), end=at(2025, 2, 1))
                if v.type != "Single"
            ]
        )
        == 5
    )
    got = alice.calendar.get(id=master.id)
    assert got.type == "RecurringMaster"
    assert got.recurrence.boundary.number == 6
    assert got.first_occurrence.start.astimezone(CPH).day == 6
    assert len(got.modified_occurrences) == 1 and len(got.deleted_occurrences) == 1


def test_daily_and_monthly_series_from_the_control_api(alice, sim):
    sim.sim.create_event(
        ALICE,
        Subject="Daily",
        Start=dt.datetime(2025, 5, 1, 8, tzinfo=dt.UTC),
        End=dt.datetime(2025, 5, 1, 9, tzinfo=dt.UTC),
        Recurrence={
            "Pattern": "Daily",
            "Interval": 2,
            "Range": "EndDate",
            "StartDate": "2025-05-01",
            "EndDate": "2025-05-09",
        },
    )
    mid = sim.sim.create_event(
        ALICE,
        Subject="Monthly",
        Start=dt.datetime(2025, 5, 15, 8, tzinfo=dt.UTC),
        End=dt.datetime(2025, 5, 15, 9, tzinfo=dt.UTC),
        Recurrence={
            "Pattern": "AbsoluteMonthly",
            "Interval": 1,
            "DayOfMonth": 15,
            "Range": "Numbered",
            "StartDate": "2025-05-15",
            "NumberOfOccurrences": 3,
        },
    )
    sim.sim.modify_occurrence(
        ALICE, mid, dt.datetime(2025, 6, 15, 8, tzinfo=dt.UTC), Subject="June review"
    )
    view = list(alice.calendar.view(start=at(2025, 5, 1), end=at(2025, 9, 1)))
    assert [v.start.day for v in view if v.subject == "Daily"] == [1, 3, 5, 7, 9]
    monthly = [(v.start.month, v.type, v.subject) for v in view if v.subject != "Daily"]
    assert monthly == [
        (5, "Occurrence", "Monthly"),
        (6, "Exception", "June review"),
        (7, "Occurrence", "Monthly"),
    ]
    r = list(DailyPattern(interval=1).__class__.__mro__)
    assert r


def test_autodiscover_through_exchangelib(sim):
    """exchangelib only autodiscovers over https on names it resolves in DNS; its cache is the
    documented seam: seed it with a protocol pointing at the simulator's endpoint."""
    from exchangelib import Configuration, Credentials
    from exchangelib.autodiscover import Autodiscovery, clear_cache
    from exchangelib.autodiscover.cache import autodiscover_cache
    from exchangelib.autodiscover.protocol import AutodiscoverProtocol
    from exchangelib.transport import BASIC

    creds = Credentials(sim.username, sim.password)
    protocol = AutodiscoverProtocol(
        config=Configuration(
            service_endpoint=sim.autodiscover_url, credentials=creds, auth_type=BASIC
        )
    )
    clear_cache()
    autodiscover_cache[("example.com", creds)] = protocol
    try:
        ad, proto = Autodiscovery(email=ALICE, credentials=creds).discover()
        assert ad.ews_url == sim.ews_url
        assert proto.service_endpoint == sim.ews_url
        assert ad.autodiscover_smtp_address == ALICE
        assert proto.version.api_version == "Exchange2016"
    finally:
        clear_cache()


def test_autodiscover_soap_directly(sim):
    body = f"""<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:a="http://schemas.microsoft.com/exchange/2010/Autodiscover"
  xmlns:wsa="http://www.w3.org/2005/08/addressing" xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
 <soap:Header><a:RequestedServerVersion>Exchange2013</a:RequestedServerVersion></soap:Header>
 <soap:Body><a:GetUserSettingsRequestMessage><a:Request><a:Users><a:User><a:Mailbox>{ALICE}</a:Mailbox>
 </a:User><a:User><a:Mailbox>ghost@example.com</a:Mailbox></a:User></a:Users><a:RequestedSettings>
 <a:Setting>ExternalEwsUrl</a:Setting></a:RequestedSettings></a:Request></a:GetUserSettingsRequestMessage>
 </soap:Body></soap:Envelope>"""
    r = requests.post(
        sim.autodiscover_url, data=body.encode(), auth=(sim.username, sim.password), timeout=5
    )
    assert r.status_code == 200
    assert sim.ews_url.encode() in r.content and b"InvalidUser" in r.content
    assert requests.post(sim.autodiscover_url, data=body.encode(), timeout=5).status_code == 401


def test_tls_fixture_serves_https(exchange_sim_tls):
    sim = exchange_sim_tls
    sim.sim.add_mailbox(ALICE)
    assert sim.ews_url.startswith("https://127.0.0.1:")
    acc = sim.account(ALICE)
    assert acc.contacts.all().count() == 0
    s = requests.Session()
    s.trust_env = False
    assert s.get(sim.base_url + "/_sim/health", verify=sim.ca_pem, timeout=5).json()["ok"] is True
