"""Times and dates of events (SPEC §5): stored in UTC; all-day events keep their calendar
dates. Events are made the way a rep's client makes them (the real exchangelib, in the rep's
own zone) on the days clocks change, and the date filter's edge is checked in the org's zone.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings
from django.utils import timezone
from exchangelib import EWSDate, EWSDateTime, EWSTimeZone
from exchangelib.items import CalendarItem

from lightningsync.models import Event

from .event_fixtures import crm_events, events_on, subjects, synced
from .ews_fixtures import MAILBOX, ews_fixture  # noqa: F401

# (zone, a day its clocks change in 2027, or any day for a zone without DST)
DAYS = [
    ("UTC", dt.date(2027, 3, 14)),
    ("America/Los_Angeles", dt.date(2027, 3, 14)),
    ("America/Los_Angeles", dt.date(2027, 11, 7)),
    ("Europe/Berlin", dt.date(2027, 3, 28)),
    ("Europe/Berlin", dt.date(2027, 10, 31)),
    ("Asia/Kolkata", dt.date(2027, 3, 28)),
    ("Australia/Lord_Howe", dt.date(2027, 4, 4)),  # +11 -> +10:30
    ("Australia/Lord_Howe", dt.date(2027, 10, 3)),  # +10:30 -> +11
    ("Pacific/Chatham", dt.date(2027, 4, 4)),  # +13:45 -> +12:45
    ("Pacific/Chatham", dt.date(2027, 9, 26)),  # +12:45 -> +13:45
]


def _as_rep(ews, zone: str):  # type: ignore[no-untyped-def]
    account = ews.running.account(MAILBOX)
    account.default_timezone = EWSTimeZone(zone)
    return account


def _utc(day: dt.date, hour: int, minute: int, zone: str) -> dt.datetime:
    local = dt.datetime.combine(day, dt.time(hour, minute), tzinfo=ZoneInfo(zone))
    return local.astimezone(dt.UTC)


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=dt.UTC)


@pytest.mark.parametrize("zone,day", DAYS, ids=[f"{z}-{d}" for z, d in DAYS])
def test_times_across_a_clock_change_and_all_day_dates(ews, zone: str, day: dt.date) -> None:
    events_on(ews, contacts_direction="none")
    account = _as_rep(ews, zone)
    tz = EWSTimeZone(zone)
    # 00:30 to 04:00 local spans the change (a gap or a repeated hour) in every zone here.
    CalendarItem(account=account, folder=account.calendar, subject="Across the change",
                 start=EWSDateTime(day.year, day.month, day.day, 0, 30, tzinfo=tz),
                 end=EWSDateTime(day.year, day.month, day.day, 4, 0, tzinfo=tz)).save()
    # exchangelib's all-day dates are inclusive (it sends Exchange the day after the last).
    CalendarItem(account=account, folder=account.calendar, subject="One day", is_all_day=True,
                 start=EWSDate.from_date(day), end=EWSDate.from_date(day)).save()
    after = day + dt.timedelta(days=1)
    CalendarItem(account=account, folder=account.calendar, subject="Two days",
                 is_all_day=True, start=EWSDate.from_date(day),
                 end=EWSDate.from_date(after)).save()
    synced(ews)
    assert [(e["subject"], e["start"], e["end"], e["is_all_day"]) for e in crm_events()] == [
        ("Across the change", _utc(day, 0, 30, zone), _utc(day, 4, 0, zone), False),
        ("One day", _midnight(day), _midnight(day), True),
        ("Two days", _midnight(day), _midnight(after), True),
    ]
    assert synced(ews).events.written == 0  # type: ignore[union-attr]


@pytest.mark.parametrize("org_zone", ["UTC", "Pacific/Auckland"])
def test_the_date_filter_edge_is_midnight_in_the_orgs_zone(ews, org_zone: str) -> None:
    with override_settings(TIME_ZONE=org_zone):
        events_on(ews, contacts_direction="none", event_date_filter="TODAY")
        zone = ZoneInfo(org_zone)
        today = timezone.now().astimezone(zone).date()
        yesterday = today - dt.timedelta(days=1)

        def local(d: dt.date, hour: int, minute: int = 0) -> dt.datetime:
            return dt.datetime.combine(d, dt.time(hour, minute), tzinfo=zone).astimezone(dt.UTC)

        for subject, end in (("Ends 23:30 yesterday", local(yesterday, 23, 30)),
                             ("Ends at midnight", local(today, 0)),
                             ("Ends 00:30 today", local(today, 0, 30))):
            ews.sim.create_event(MAILBOX, Subject=subject, Start=end - dt.timedelta(hours=1),
                                 End=end)
        account = _as_rep(ews, org_zone)
        for subject, d in (("All day yesterday", yesterday), ("All day today", today)):
            CalendarItem(account=account, folder=account.calendar, subject=subject,
                         is_all_day=True, start=EWSDate.from_date(d),
                         end=EWSDate.from_date(d)).save()
        synced(ews)
        assert subjects() == ["All day today", "Ends 00:30 today", "Ends at midnight"]
        assert Event.objects.get(subject="All day today").start == _midnight(today)
