"""Recurrences round-trip through exchangelib unchanged, and expand where Exchange puts them.

Exchange writes a range's StartDate/EndDate as a date with the series' UTC offset
("2025-01-06-08:00", "2025-01-06Z"); exchangelib reads that as a date. Sent back as a bare
date, exchangelib read a date-time instead, so no series compared equal to what was saved.
"""

from __future__ import annotations

import pytest
from exchangelib import EWSDate, EWSDateTime, EWSTimeZone
from exchangelib.items import CalendarItem
from exchangelib.recurrence import (
    AbsoluteMonthlyPattern,
    AbsoluteYearlyPattern,
    DailyPattern,
    EndDatePattern,
    NoEndPattern,
    NumberedPattern,
    Recurrence,
    RelativeMonthlyPattern,
    RelativeYearlyPattern,
    WeeklyPattern,
)

UTC = EWSTimeZone("UTC")
LA = EWSTimeZone("America/Los_Angeles")
KOLKATA = EWSTimeZone("Asia/Kolkata")
START = EWSDate(2025, 1, 6)

PATTERNS = [
    DailyPattern(interval=5),
    WeeklyPattern(interval=2, weekdays=[1, 3, 5], first_day_of_week=1),
    AbsoluteMonthlyPattern(interval=1, day_of_month=31),
    RelativeMonthlyPattern(interval=3, weekday=9, week_number=5),  # last weekend day
    AbsoluteYearlyPattern(day_of_month=29, month=2),
    RelativeYearlyPattern(weekday=1, week_number=2, month=11),
]
BOUNDARIES = [
    NumberedPattern(start=START, number=7),
    EndDatePattern(start=START, end=EWSDate(2025, 12, 31)),
    NoEndPattern(start=START),
]


def _series(account, tz, recurrence, hour=9):
    ev = CalendarItem(
        folder=account.calendar,
        subject="Series",
        start=EWSDateTime(2025, 1, 6, hour, tzinfo=tz),
        end=EWSDateTime(2025, 1, 6, hour, 30, tzinfo=tz),
        recurrence=recurrence,
    )
    ev.save()
    return ev


@pytest.mark.parametrize("tz", [UTC, LA, KOLKATA], ids=lambda z: z.key)
@pytest.mark.parametrize("boundary", BOUNDARIES, ids=lambda b: type(b).__name__)
@pytest.mark.parametrize("pattern", PATTERNS, ids=lambda p: type(p).__name__)
def test_every_pattern_and_range_round_trips(alice, tz, boundary, pattern):
    recurrence = Recurrence(pattern=pattern, boundary=boundary)
    ev = _series(alice, tz, recurrence)
    got = alice.calendar.get(id=ev.id)
    assert got.recurrence == recurrence
    assert type(got.recurrence.boundary.start) is EWSDate


def test_a_daily_series_every_five_days_numbered_seven_expands_to_seven(alice):
    rec = Recurrence(pattern=DailyPattern(interval=5), start=START, number=7)
    ev = _series(alice, UTC, rec)
    view = [
        v
        for v in alice.calendar.view(
            start=EWSDateTime(2025, 1, 1, tzinfo=UTC), end=EWSDateTime(2025, 3, 1, tzinfo=UTC)
        )
        if v.subject == "Series"
    ]
    assert [(v.start.month, v.start.day) for v in view] == [
        (1, 6),
        (1, 11),
        (1, 16),
        (1, 21),
        (1, 26),
        (1, 31),
        (2, 5),
    ]
    got = alice.calendar.get(id=ev.id)
    assert got.last_occurrence.start.date() == EWSDate(2025, 2, 5)
    assert got.recurrence.boundary == NumberedPattern(start=START, number=7)


def test_range_dates_are_the_series_own_dates_late_in_the_evening(alice):
    """23:30 in Los Angeles is the next day in UTC: the range still counts Los Angeles days,
    and the last occurrence is on the EndDate there."""
    rec = Recurrence(pattern=DailyPattern(interval=1), start=START, end=EWSDate(2025, 1, 9))
    ev = _series(alice, LA, rec, hour=23)
    got = alice.calendar.get(id=ev.id)
    assert got.recurrence.boundary == EndDatePattern(start=START, end=EWSDate(2025, 1, 9))
    view = [
        v
        for v in alice.calendar.view(
            start=EWSDateTime(2025, 1, 1, tzinfo=UTC), end=EWSDateTime(2025, 2, 1, tzinfo=UTC)
        )
        if v.subject == "Series"
    ]
    assert [v.start.astimezone(LA).date() for v in view] == [
        EWSDate(2025, 1, d) for d in (6, 7, 8, 9)
    ]
    assert [v.start.astimezone(UTC).date() for v in view] == [
        EWSDate(2025, 1, d) for d in (7, 8, 9, 10)
    ]
