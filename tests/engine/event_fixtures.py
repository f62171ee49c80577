"""Helpers for the event sync tests through exchangesim with the real exchangelib: the `ews`
world with event sync on, times relative to now, and the CRM's events as plain rows."""

from __future__ import annotations

import datetime as dt
from typing import Any

from lightningsync.models import Event, EventLink
from syncengine.cycle.runner import SyncReport

from .ews_fixtures import MAILBOX, EwsWorld, stamps

NOW = dt.datetime.now(dt.UTC)


def at(days: int, hour: int = 10, minute: int = 0) -> dt.datetime:
    """A time `days` from today (UTC) at hour:minute UTC."""
    day = NOW.date() + dt.timedelta(days=days)
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=dt.UTC)


def day(days: int) -> dt.date:
    return NOW.date() + dt.timedelta(days=days)


def events_on(world: EwsWorld, **options: Any) -> None:
    world.configure(events_direction="exchange_to_crm", **options)


def add_event(world: EwsWorld, subject: str, start: dt.datetime | None = None,
              hours: float = 1, mailbox: str = MAILBOX, **fields: Any) -> str:
    """An event in the rep's Calendar, as Outlook makes it (default: tomorrow 10:00 UTC)."""
    start = start or at(1)
    fields.setdefault("End", start + dt.timedelta(hours=hours))
    return str(world.sim.create_event(mailbox, Subject=subject, Start=start, **fields))


def crm_events(**filters: Any) -> list[dict[str, Any]]:
    """Every CRM event as a row of its fields, sorted by subject then start."""
    rows = []
    for e in Event.objects.filter(**filters).select_related("owner", "who_contact", "who_lead"):
        rows.append({
            "owner": e.owner.username, "subject": e.subject, "start": e.start, "end": e.end,
            "is_all_day": e.is_all_day, "location": e.location, "description": e.description,
            "show_as": e.show_as, "is_private": e.is_private,
            "who": (f"contact:{e.who_contact.email}" if e.who_contact else
                    f"lead:{e.who_lead.email}" if e.who_lead else None),
        })
    return sorted(rows, key=lambda r: (r["subject"], r["start"]))


def subjects() -> list[str]:
    return sorted(Event.objects.values_list("subject", flat=True))


def links() -> list[EventLink]:
    return list(EventLink.objects.order_by("pk"))


def item_stamps(world: EwsWorld, item_id: str, mailbox: str = MAILBOX) -> dict[str, str]:
    return stamps(world.sim.item(mailbox, item_id))


def synced(world: EwsWorld) -> SyncReport:
    report = world.sync()
    assert report.outcome == "synced", report.reason
    return report
