"""`manage.py lightningsync_demo_calendars --sim-url URL`: the demo reps' calendars in the
simulated Exchange, with events of every kind event sync meets (SPEC §5).

What the first sync brings into the CRM: single events ending today or later (one already
over this morning, future ones, an all-day one, a categorised one, a meeting with a CRM
contact as attendee, related to that contact). What it leaves out: a private event, a
recurring series (counted as skipped), an event that ended last week.
"""

from __future__ import annotations

import datetime as dt
import json
import ssl
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

# (mailbox, fields): times as aware datetimes, all-day dates as dates (end exclusive).
DemoEvent = tuple[str, dict[str, Any]]
ALICE = "alice@demo.example"
BOB = "bob@demo.example"
# In the CRM after the first sync (the others stay in Outlook only).
SYNCED = ["Breakfast briefing", "Initech kickoff", "Quarterly review", "Sales offsite",
          "Bell Labs follow-up"]
NOT_SYNCED = ["Dentist", "Weekly pipeline", "Last week's demo"]


def demo_calendar_events(now: dt.datetime) -> list[DemoEvent]:
    today = now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)

    def at(days: int, hour: int, minutes: int = 60) -> dict[str, dt.datetime]:
        start = today + dt.timedelta(days=days, hours=hour)
        return {"Start": start, "End": start + dt.timedelta(minutes=minutes)}

    monday = today + dt.timedelta(days=(7 - today.weekday()) % 7 or 7)
    return [
        (ALICE, {"Subject": "Breakfast briefing", "Location": "Cafe", **at(0, 0, 30)}),
        (ALICE, {"Subject": "Initech kickoff", "Location": "Initech HQ",
                 "Body": "Agenda: scope, timeline, next steps.",
                 "RequiredAttendees": ["grace.hopper@initech.example", BOB], **at(1, 15)}),
        (ALICE, {"Subject": "Quarterly review", "Categories": ["Salesforce"],
                 "LegacyFreeBusyStatus": "Tentative", **at(3, 10)}),
        (ALICE, {"Subject": "Sales offsite", "IsAllDayEvent": True,
                 "Start": (today + dt.timedelta(days=5)).date(),
                 "End": (today + dt.timedelta(days=7)).date()}),
        (ALICE, {"Subject": "Dentist", "Sensitivity": "Private", **at(2, 8)}),
        (ALICE, {"Subject": "Weekly pipeline", **at((monday - today).days, 9, 30),
                 "Recurrence": {"Pattern": "Weekly", "Interval": 1, "DaysOfWeek": "Monday",
                                "Range": "Numbered", "StartDate": monday.date().isoformat(),
                                "NumberOfOccurrences": 10}}),
        (ALICE, {"Subject": "Last week's demo", **at(-7, 14)}),
        (BOB, {"Subject": "Bell Labs follow-up", "Location": "Phone",
               "RequiredAttendees": ["ken@belllabs.example"], **at(2, 16)}),
    ]


def _json(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json(v) for v in value]
    return value


def seed_calendars(create_event: Callable[..., Any], now: dt.datetime | None = None) -> int:
    """Create the demo events with `create_event(mailbox, **fields)`; returns how many."""
    events = demo_calendar_events(now or timezone.now())
    for mailbox, fields in events:
        create_event(mailbox, **fields)
    return len(events)


class Command(BaseCommand):
    help = "Fill the demo reps' calendars in the simulated Exchange (its control API)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--sim-url", required=True,
                            help="The simulator's base URL, e.g. http://127.0.0.1:8765")
        parser.add_argument("--ca-file", default=None,
                            help="The CA the simulator's https certificate is issued by "
                                 "(its --ca-out file), when it runs over TLS")

    def handle(self, *args: Any, **options: Any) -> None:
        base = options["sim_url"].rstrip("/")
        parts = urllib.parse.urlsplit(base)
        if parts.scheme not in ("http", "https") or parts.hostname not in ("127.0.0.1",
                                                                            "localhost"):
            # The simulator's control API answers on the loopback interface only.
            raise CommandError(f"--sim-url must be http(s)://127.0.0.1:PORT or "
                               f"http(s)://localhost:PORT, not {base!r}.")
        context = None
        if parts.scheme == "https":
            if not options["ca_file"]:
                raise CommandError("--sim-url is https: give the simulator's CA with --ca-file.")
            context = ssl.create_default_context(cafile=options["ca_file"])

        def create_event(mailbox: str, **fields: Any) -> None:
            body = json.dumps({"mailbox": mailbox, **_json(fields)}).encode()
            request = urllib.request.Request(f"{base}/_sim/create_event", data=body,
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=10, context=context) as answer:
                answer.read()

        count = seed_calendars(create_event)
        self.stdout.write(f"{count} events in the demo reps' calendars.")
