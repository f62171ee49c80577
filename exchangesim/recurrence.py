"""Expansion of recurring calendar items into occurrences (MS-OXWSCORE recurrence types).

Occurrences keep the master's wall-clock time in its StartTimeZone, so a weekly 09:00
meeting stays at 09:00 local across a DST change, as in Exchange.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
INDEXES = {"First": 1, "Second": 2, "Third": 3, "Fourth": 4, "Last": -1}
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
MAX_OCCURRENCES = 5000  # Exchange also caps expansion


def zone(ms_id: str | None) -> dt.tzinfo:
    """The IANA zone for a Windows time zone id (Exchange's StartTimeZone Id)."""
    if not ms_id or ms_id == "UTC":
        return dt.UTC
    try:
        from exchangelib.winzone import MS_TIMEZONE_TO_IANA_MAP

        name = MS_TIMEZONE_TO_IANA_MAP.get(ms_id, ms_id)
    except ImportError:  # pragma: no cover - exchangelib is a project dependency
        name = ms_id
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def _weekday_set(text: str) -> set[int]:
    out: set[int] = set()
    for word in text.split():
        if word == "Day":
            out |= set(range(7))
        elif word == "Weekday":
            out |= set(range(5))
        elif word == "WeekendDay":
            out |= {5, 6}
        elif word in DAYS:
            out.add(DAYS.index(word))
    return out


def _month(value: str) -> int:
    return MONTHS.index(value) + 1 if value in MONTHS else int(value)


def _relative_day(year: int, month: int, days: set[int], index: str) -> dt.date | None:
    last = calendar.monthrange(year, month)[1]
    matches = [
        dt.date(year, month, d)
        for d in range(1, last + 1)
        if dt.date(year, month, d).weekday() in days
    ]
    if not matches:
        return None
    n = INDEXES.get(index, 1)
    return matches[-1] if n == -1 or n > len(matches) else matches[n - 1]


def _absolute_day(year: int, month: int, day: int) -> dt.date:
    return dt.date(year, month, min(day, calendar.monthrange(year, month)[1]))


def pattern_dates(rec: dict[str, Any], first: dt.date) -> Iterator[dt.date]:
    """Dates of the pattern from the range's StartDate on (unbounded)."""
    pattern = rec["Pattern"]
    interval = max(1, int(rec.get("Interval", 1) or 1))
    if pattern == "Daily":
        d = first
        while True:
            yield d
            d += dt.timedelta(days=interval)
    elif pattern == "Weekly":
        days = _weekday_set(rec.get("DaysOfWeek", "")) or {first.weekday()}
        fdow = (
            DAYS.index(rec.get("FirstDayOfWeek", "Sunday"))
            if rec.get("FirstDayOfWeek") in DAYS
            else 6
        )
        week_start = first - dt.timedelta(days=(first.weekday() - fdow) % 7)
        while True:
            for i in range(7):
                d = week_start + dt.timedelta(days=i)
                if d >= first and d.weekday() in days:
                    yield d
            week_start += dt.timedelta(weeks=interval)
    elif pattern in ("AbsoluteMonthly", "RelativeMonthly", "AbsoluteYearly", "RelativeYearly"):
        yearly = pattern.endswith("Yearly")
        step = 12 if yearly else interval
        year, month = first.year, (_month(rec["Month"]) if yearly else first.month)
        if yearly and month < first.month:
            year += 1
        while True:
            if pattern.startswith("Absolute"):
                day: dt.date | None = _absolute_day(
                    year, month, int(rec.get("DayOfMonth", first.day))
                )
            else:
                day = _relative_day(
                    year,
                    month,
                    _weekday_set(rec.get("DaysOfWeek", "")),
                    rec.get("DayOfWeekIndex", "First"),
                )
            if day is not None and day >= first:
                yield day
            month += step
            year += (month - 1) // 12
            month = (month - 1) % 12 + 1
    else:
        raise ValueError(f"Unsupported pattern {pattern}")


def occurrence_starts(fields: dict[str, Any], until: dt.datetime) -> list[dt.datetime]:
    """Original UTC start times of a master's occurrences, up to `until` (exclusive)."""
    rec = fields["Recurrence"]
    start = _parse(fields["Start"])
    tz = zone((fields.get("StartTimeZone") or {}).get("Id"))
    local_start = start.astimezone(tz)
    first = dt.date.fromisoformat(rec.get("StartDate") or local_start.date().isoformat())
    end_date = dt.date.fromisoformat(rec["EndDate"]) if rec.get("Range") == "EndDate" else None
    count = int(rec["NumberOfOccurrences"]) if rec.get("Range") == "Numbered" else None
    out: list[dt.datetime] = []
    for d in pattern_dates(rec, first):
        if end_date is not None and d > end_date:
            break
        if count is not None and len(out) >= count:
            break
        if len(out) >= MAX_OCCURRENCES:
            break
        occ = dt.datetime.combine(d, local_start.timetz().replace(tzinfo=None), tzinfo=tz)
        occ_utc = occ.astimezone(dt.UTC)
        if occ_utc >= until:
            break
        out.append(occ_utc)
    return out


def _parse(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
