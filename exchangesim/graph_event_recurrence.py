"""Graph's patternedRecurrence <-> the store's EWS recurrence (pattern + range).

Graph: `{"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"], ...},
"range": {"type": "numbered", "startDate": "2025-01-06", "numberOfOccurrences": 6, ...}}`.
EWS: WeeklyRecurrence (Interval, DaysOfWeek "Monday Wednesday", FirstDayOfWeek) and
NumberedRecurrence (StartDate, NumberOfOccurrences); the store keeps the EWS form.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from .graph_errors import invalid_value
from .recurrence import DAYS, INDEXES, MONTHS
from .store import Change

PATTERNS = {
    "daily": "Daily",
    "weekly": "Weekly",
    "absoluteMonthly": "AbsoluteMonthly",
    "relativeMonthly": "RelativeMonthly",
    "absoluteYearly": "AbsoluteYearly",
    "relativeYearly": "RelativeYearly",
}
RANGES = {"endDate": "EndDate", "noEnd": "NoEnd", "numbered": "Numbered"}
NO_DATE = "0001-01-01"


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _month_number(value: Any) -> int:
    if value in MONTHS:
        return MONTHS.index(value) + 1
    return int(value or 0)


def recurrence_json(fields: dict[str, Any]) -> dict[str, Any]:
    rec = fields["Recurrence"]
    days = [d.lower() for d in str(rec.get("DaysOfWeek", "")).split() if d in DAYS]
    pattern = {
        "type": _lower_first(rec["Pattern"]),
        "interval": int(rec.get("Interval") or 1),
        "month": _month_number(rec.get("Month")),
        "dayOfMonth": int(rec.get("DayOfMonth") or 0),
        "daysOfWeek": days,
        "firstDayOfWeek": str(rec.get("FirstDayOfWeek") or "Sunday").lower(),
        "index": str(rec.get("DayOfWeekIndex") or "First").lower(),
    }
    range_ = {
        "type": _lower_first(rec["Range"]),
        "startDate": rec.get("StartDate") or fields["Start"][:10],
        "endDate": rec.get("EndDate") or NO_DATE,
        "recurrenceTimeZone": (fields.get("StartTimeZone") or {}).get("Id") or "UTC",
        "numberOfOccurrences": int(rec.get("NumberOfOccurrences") or 0),
    }
    return {"pattern": pattern, "range": range_}


def _date(value: Any, what: str) -> str:
    try:
        return dt.date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise invalid_value("recurrence", "event", f"{what} '{value}' is not a date.") from None


def recurrence_changes(value: Any) -> list[Change]:
    """A patternedRecurrence (or null) -> the store change that sets (or drops) it."""
    if value is None:
        return [("del", ("Recurrence",))]
    pattern = value.get("pattern") if isinstance(value, dict) else None
    range_ = value.get("range") if isinstance(value, dict) else None
    if not isinstance(pattern, dict) or not isinstance(range_, dict):
        raise invalid_value("recurrence", "event", "a pattern and a range are expected.")
    kind = PATTERNS.get(str(pattern.get("type")))
    if kind is None:
        raise invalid_value("recurrence", "event", f"pattern type '{pattern.get('type')}'.")
    rec: dict[str, Any] = {"Pattern": kind}
    if kind not in ("AbsoluteYearly", "RelativeYearly"):
        rec["Interval"] = str(int(pattern.get("interval") or 1))
    if kind in ("Weekly", "RelativeMonthly", "RelativeYearly"):
        days = pattern.get("daysOfWeek") or []
        names = [d.capitalize() for d in days if isinstance(d, str) and d.capitalize() in DAYS]
        if not names or len(names) != len(days):
            raise invalid_value("recurrence", "event", "daysOfWeek must name days of the week.")
        rec["DaysOfWeek"] = " ".join(names)
    if kind == "Weekly":
        rec["FirstDayOfWeek"] = str(pattern.get("firstDayOfWeek") or "sunday").capitalize()
    if kind in ("AbsoluteMonthly", "AbsoluteYearly"):
        rec["DayOfMonth"] = str(int(pattern.get("dayOfMonth") or 0))
    if kind in ("RelativeMonthly", "RelativeYearly"):
        index = str(pattern.get("index") or "first").capitalize()
        if index not in INDEXES:
            raise invalid_value("recurrence", "event", f"index '{pattern.get('index')}'.")
        rec["DayOfWeekIndex"] = index
    if kind in ("AbsoluteYearly", "RelativeYearly"):
        month = int(pattern.get("month") or 0)
        if not 1 <= month <= 12:
            raise invalid_value("recurrence", "event", "month must be 1 to 12.")
        rec["Month"] = MONTHS[month - 1]
    range_kind = RANGES.get(str(range_.get("type")))
    if range_kind is None:
        raise invalid_value("recurrence", "event", f"range type '{range_.get('type')}'.")
    rec["Range"] = range_kind
    rec["StartDate"] = _date(range_.get("startDate"), "startDate")
    if range_kind == "EndDate":
        rec["EndDate"] = _date(range_.get("endDate"), "endDate")
    if range_kind == "Numbered":
        count = int(range_.get("numberOfOccurrences") or 0)
        if count < 1:
            raise invalid_value("recurrence", "event", "numberOfOccurrences must be positive.")
        rec["NumberOfOccurrences"] = str(count)
    return [("set", ("Recurrence",), rec)]
