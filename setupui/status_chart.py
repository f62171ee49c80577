"""The Status page's chart: records synced per hour over the last 24 hours, as SVG bars
computed here (positions and labels) and drawn by the template; no script."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from lightningsync.statuses import CHART_HOURS, OrgFigures

WIDTH, HEIGHT = 720, 180
LEFT, BOTTOM, TOP = 40, 24, 12
SLOT = (WIDTH - LEFT) / CHART_HOURS


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: str  # "contacts" or "events"
    title: str  # the bar's tooltip: "14:00 UTC: 12 contacts"


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    baseline: float
    top_value: int
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    total: int
    summary: str  # the chart said in one sentence (its accessible name)


def hourly_chart(figures: OrgFigures) -> Chart:
    start = (dt.datetime.fromisoformat(figures.chart_start) if figures.chart_start
             else dt.datetime.now(dt.UTC))
    contacts, events = figures.contact.hourly, figures.event.hourly
    peak = max([c + e for c, e in zip(contacts, events, strict=True)] + [1])
    usable = HEIGHT - BOTTOM - TOP
    baseline = HEIGHT - BOTTOM
    bars, ticks = [], []
    for i in range(CHART_HOURS):
        hour = start + dt.timedelta(hours=i)
        x = LEFT + i * SLOT + 2
        stacked = 0.0
        for series, n in (("contacts", contacts[i]), ("events", events[i])):
            if n:
                h = usable * n / peak
                bars.append(Bar(round(x, 1), round(baseline - stacked - h, 1), round(SLOT - 4, 1),
                                round(h, 1), series, f"{hour:%H:00} UTC: {n} {series}"))
                stacked += h
        if i % 3 == 0:
            ticks.append(Tick(round(x + (SLOT - 4) / 2, 1), f"{hour:%H:00}"))
    total = sum(contacts) + sum(events)
    summary = (f"{sum(contacts)} contacts and {sum(events)} events synced in the last "
               f"{CHART_HOURS} hours; the busiest hour synced {peak if total else 0} records.")
    return Chart(WIDTH, HEIGHT, baseline, peak if total else 0, tuple(bars), tuple(ticks),
                 total, summary)
