"""Event sync interrupted after every step (each page's listing and commit, each stamping
chunk's write and commit) and after every single item Exchange wrote (inside a chunk):
the next cycle resumes to the end state of an uninterrupted one, and another writes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.db import transaction

from lightningsync.models import Event, EventLink, FolderCursor
from syncengine.cycle.runner import sync_user
from syncengine.events.state import EventCycle
from syncengine.transports.memory import CALENDAR, MemoryTransport
from syncengine.transports.protocol import CalendarItemType

from .test_crash_resume import CrashAfterWrite, SimulatedCrash

SOON = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=2)


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(EventCycle, "chunk_size", 2)


@pytest.fixture
def events_config(config):  # type: ignore[no-untyped-def]
    config.contacts_direction = "none"
    config.events_direction = "exchange_to_crm"
    config.auto_remove_deleted_events = True
    config.save()
    return config


def _when(n: int) -> dict[str, Any]:
    start = SOON + dt.timedelta(hours=n)
    return {"Start": start, "End": start + dt.timedelta(minutes=30)}


def _initial(rep, mailbox: MemoryTransport) -> None:  # type: ignore[no-untyped-def]
    for n in range(5):
        mailbox.rep_create_event({"Subject": f"Call {n}", "Location": "Phone", **_when(n)})
    # A CRM event matched at first sight (a link without a write of its own: stamped).
    Event.objects.create(owner=rep, subject="Matched", start=_when(9)["Start"],
                         end=_when(9)["End"])
    mailbox.rep_create_event({"Subject": "Matched", "Location": "HQ", **_when(9)})
    mailbox.rep_create_event({"Subject": "Series", **_when(10)},
                             item_type=CalendarItemType.RECURRING_MASTER)
    mailbox.rep_create_event({"Subject": "Private", "Sensitivity": "Private", **_when(11)})


def _changes(rep, mailbox: MemoryTransport) -> None:  # type: ignore[no-untyped-def]
    items = {i.fields["Subject"]: i.id for i in mailbox.folder_items(CALENDAR)}
    mailbox.rep_update(items["Call 0"], Location="Room 1")
    mailbox.rep_delete(items["Call 1"])
    Event.objects.filter(subject="Call 2").delete()
    mailbox.rep_update(items["Call 2"], Location="ignored")
    for n in range(3):
        mailbox.rep_create_event({"Subject": f"Late {n}", **_when(20 + n)})


def _cycle(rep, transport, checkpoint=None) -> Any:  # type: ignore[no-untyped-def]
    return sync_user(rep.pk, transport_factory=lambda settings: transport, checkpoint=checkpoint,
                     sleep=lambda s: None, page_size=3)


def _world(rep, org, phase: str) -> MemoryTransport:  # type: ignore[no-untyped-def]
    mailbox = MemoryTransport(org_id=str(org.org_id))
    _initial(rep, mailbox)
    if phase == "incremental":
        assert _cycle(rep, mailbox).outcome == "synced"
        _changes(rep, mailbox)
    return mailbox


def _end_state(mailbox: MemoryTransport) -> tuple[Any, ...]:
    events = sorted(Event.objects.values_list("subject", "start", "end", "location"))
    links = sorted(EventLink.objects.values_list("state", "event__subject", "needs_stamp"),
                   key=repr)
    names = dict(Event.objects.values_list("pk", "subject"))
    stamps = sorted(
        ((i.fields["Subject"], i.org_stamp == mailbox.org_id,
          names.get(int(i.crm_stamp)) if i.crm_stamp else None)
         for i in mailbox.folder_items(CALENDAR)), key=repr)
    pending = list(FolderCursor.objects.values_list("stamps_pending", flat=True))
    return events, links, stamps, pending


def _in_rollback(fn: Callable[[], Any]) -> Any:
    with transaction.atomic():
        result = fn()
        transaction.set_rollback(True)
    return result


@pytest.mark.parametrize("phase", ["initial", "incremental"])
def test_an_event_cycle_crashed_after_any_step_resumes_to_the_same_end_state(  # type: ignore[no-untyped-def]
        rep, events_config, org, phase) -> None:
    steps: list[str] = []

    def reference() -> Any:
        mailbox = _world(rep, org, phase)
        counting = CrashAfterWrite(mailbox, at=0)
        assert _cycle(rep, counting, checkpoint=steps.append).outcome == "synced"
        return _end_state(mailbox), counting.writes

    expected, write_calls = _in_rollback(reference)
    assert {"event_page_listed", "event_page_committed", "event_stamps_written",
            "event_stamped"} <= set(steps)
    assert steps.count("event_page_committed") >= 2 and steps.count("event_stamped") >= 2

    def crash_at_step(n: int) -> None:
        mailbox = _world(rep, org, phase)
        seen = 0

        def checkpoint(step: str) -> None:
            nonlocal seen
            seen += 1
            if seen == n:
                raise SimulatedCrash(step)

        with pytest.raises(SimulatedCrash):
            _cycle(rep, mailbox, checkpoint=checkpoint)
        _assert_resumes(rep, mailbox, expected, f"step {n} ({steps[n - 1]})")

    def crash_after_write(n: int) -> None:
        mailbox = _world(rep, org, phase)
        with pytest.raises(SimulatedCrash):
            _cycle(rep, CrashAfterWrite(mailbox, n))
        _assert_resumes(rep, mailbox, expected, f"write {n}")

    for n in range(1, len(steps) + 1):
        _in_rollback(lambda n=n: crash_at_step(n))
    assert write_calls >= 3
    for n in range(1, write_calls + 1):
        _in_rollback(lambda n=n: crash_after_write(n))


def _assert_resumes(rep, mailbox: MemoryTransport, expected: Any, where: str) -> None:  # type: ignore[no-untyped-def]
    report = _cycle(rep, mailbox)
    assert report.outcome == "synced", where
    assert _end_state(mailbox) == expected, where
    mailbox.reset_counters()
    again = _cycle(rep, mailbox)
    assert again.events.written == 0 and not mailbox.writes, where
