"""Event sync interrupted after every step (each page's listing and commit, each stamping
chunk's write and commit) and after every single item Exchange wrote (inside a chunk):
the next cycle resumes to the end state of an uninterrupted one, and another writes nothing.
Over the wire, on EWS and on Microsoft Graph (`crash_harness`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from lightningsync.models import Event, EventLink, FolderCursor, LightningSyncSetup
from syncengine.cycle.runner import SyncReport
from syncengine.events.state import EventCycle
from tests.factories import SyncConfigurationFactory, UserFactory

from .crash_harness import SideWorld, every_crash_resumes
from .mailbox_sides import WIRE_TRANSPORTS, MailboxSide, point_setup

SOON = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=2)


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(EventCycle, "chunk_size", 2)


def _when(n: int) -> dict[str, Any]:
    start = SOON + dt.timedelta(hours=n)
    return {"Start": start, "End": start + dt.timedelta(minutes=30)}


def _initial(rep, side: MailboxSide) -> None:  # type: ignore[no-untyped-def]
    for n in range(5):
        side.create_event({"Subject": f"Call {n}", "Location": "Phone", **_when(n)})
    # A CRM event matched at first sight (a link without a write of its own: stamped).
    Event.objects.create(owner=rep, subject="Matched", start=_when(9)["Start"],
                         end=_when(9)["End"])
    side.create_event({"Subject": "Matched", "Location": "HQ", **_when(9)})
    side.create_event({"Subject": "Series", **_when(10)}, series=True)
    side.create_event({"Subject": "Private", "Sensitivity": "Private", **_when(11)})


def _changes(side: MailboxSide) -> None:
    items = {i.fields.get("Subject"): i.id for i in side.events()}
    side.update_event(items["Call 0"], Location="Room 1")
    side.delete(items["Call 1"])
    Event.objects.filter(subject="Call 2").delete()
    side.update_event(items["Call 2"], Location="ignored")
    for n in range(3):
        side.create_event({"Subject": f"Late {n}", **_when(20 + n)})


class EventWorld(SideWorld):
    def written(self, report: SyncReport) -> int:
        assert report.events is not None
        return report.events.written

    def bookkeeping(self) -> tuple[Any, ...]:
        links = sorted(EventLink.objects.values_list("state", "event__subject", "needs_stamp"),
                       key=repr)
        pending = list(FolderCursor.objects.values_list("stamps_pending", flat=True))
        return links, pending

    def end_state(self) -> tuple[Any, ...]:
        events = sorted(Event.objects.values_list("subject", "start", "end", "location"))
        names = dict(Event.objects.values_list("pk", "subject"))
        stamps = sorted(
            ((i.fields.get("Subject"), i.org_stamp == self.side.org_id,
              names.get(int(i.crm_stamp)) if i.crm_stamp else None)
             for i in self.side.events()), key=repr)
        return events, stamps


def _world(new_side: Callable[[str], MailboxSide], phase: str) -> EventWorld:
    side = new_side(str(LightningSyncSetup.load().org_id))
    rep = UserFactory(username="crash-rep", email=side.smtp)
    SyncConfigurationFactory(name="Crash", users=[rep], contacts_direction="none",
                             events_direction="exchange_to_crm",
                             auto_remove_deleted_events=True)
    world = EventWorld(side, rep)
    _initial(rep, side)
    if phase == "incremental":
        assert world.cycle().outcome == "synced"
        _changes(side)
    return world


@pytest.mark.parametrize("phase", ["initial", "incremental"])
@pytest.mark.parametrize("transport", WIRE_TRANSPORTS)
def test_an_event_cycle_crashed_after_any_step_resumes_to_the_same_end_state(  # type: ignore[no-untyped-def]
        db, session_sims, transport: str, phase: str) -> None:
    new_side = point_setup(transport, session_sims)
    # Graph's calendar view fixes a delta round's entries when it starts: stamps written
    # just before a crash show in the next round, so a link may wait for them one cycle
    # longer (its item carries them already, and that cycle writes nothing).
    steps, writes = every_crash_resumes(lambda: _world(new_side, phase),
                                        settles_late=transport == "graph")
    assert {"event_page_listed", "event_page_committed", "event_stamps_written",
            "event_stamped"} <= set(steps)
    assert steps.count("event_page_committed") >= 2 and steps.count("event_stamped") >= 2
    assert writes >= 3
