"""Which calendar items sync (SPEC §5), decided from a listing's deciding fields alone, so
that only the items that pass are read in full: the date window on the end time in the
org's time zone, the selection category, private events, recurring series.

Pure: `EventRules` is built from the configuration and Setup once per cycle.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum
from zoneinfo import ZoneInfo

from django.conf import settings

from lightningsync.configrules import event_window_start
from lightningsync.models import LightningSyncSetup, SyncConfiguration

from ..transports.protocol import PRIVATE_SENSITIVITIES, CalendarItemType, EventMeta


class Verdict(StrEnum):
    SYNC = "sync"
    SERIES = "series"  # a recurring master, occurrence or exception: skipped, counted
    PRIVATE = "private"  # private and private events are not synced: skipped, counted
    OUTSIDE = "outside"  # ends before the date window
    UNSELECTED = "unselected"  # lacks the selection category
    UNUSABLE = "unusable"  # no start or end: read in full, reported as an item error


def org_time_zone() -> dt.tzinfo:
    """The org's time zone (the server's TIME_ZONE): the date filter's days are its days."""
    return ZoneInfo(settings.TIME_ZONE)


@dataclass(frozen=True)
class EventRules:
    window_start: dt.datetime  # the earliest end an event may have (aware)
    window_day: dt.date  # the same moment's date in the org's zone (for all-day events)
    category: str | None  # casefolded selection category, or None: all events
    sync_private: bool

    @classmethod
    def of(cls, config: SyncConfiguration, setup: LightningSyncSetup,
           now: dt.datetime) -> EventRules:
        zone = org_time_zone()
        start = event_window_start(config.event_date_filter, now, zone)
        selected = config.event_scope == SyncConfiguration.EventScope.SELECTED
        return cls(
            window_start=start, window_day=start.astimezone(zone).date(),
            category=setup.event_category.strip().casefold() if selected else None,
            sync_private=config.sync_private_events,
        )

    def verdict(self, meta: EventMeta) -> Verdict:
        if meta.item_type != CalendarItemType.SINGLE:
            return Verdict.SERIES
        if self.category is not None and self.category not in {
            c.strip().casefold() for c in meta.categories
        }:
            return Verdict.UNSELECTED
        if meta.end is None or meta.start is None:
            return Verdict.UNUSABLE
        if not self._in_window(meta):
            return Verdict.OUTSIDE
        if meta.sensitivity in PRIVATE_SENSITIVITIES and not self.sync_private:
            return Verdict.PRIVATE
        return Verdict.SYNC

    def _in_window(self, meta: EventMeta) -> bool:
        end = meta.end
        if isinstance(end, dt.datetime):
            return end >= self.window_start
        assert end is not None
        # All-day: its last day (Exchange's end is exclusive) is on or after the window's.
        start = meta.start if isinstance(meta.start, dt.date) else end
        last = max(start, end - dt.timedelta(days=1))
        return last >= self.window_day


def rules_fingerprint(config: SyncConfiguration, setup: LightningSyncSetup) -> str:
    """What decides the set of synced events; a change re-lists the calendar (SPEC §5)."""
    selected = config.event_scope == SyncConfiguration.EventScope.SELECTED
    blob = json.dumps([
        config.event_date_filter, selected,
        setup.event_category.strip().casefold() if selected else "",
        config.sync_private_events, sorted(config.effective_event_mapping().items()),
    ])
    return hashlib.sha256(blob.encode()).hexdigest()
