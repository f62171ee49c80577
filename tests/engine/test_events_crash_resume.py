"""Event sync interrupted after every step (each page's listing and commit, each stamping
chunk's write and commit), after every single item Exchange wrote (inside a chunk), and
while stamps are in flight (sent with the next page's listing, landed or not when the
process died): the next cycle resumes to the end state of an uninterrupted one, and another
writes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

import pytest
from django.db import transaction

from lightningsync.models import Event, EventLink, FolderCursor, LightningSyncError, UserSyncState
from syncengine.cycle.runner import sync_user
from syncengine.events.state import EventCycle
from syncengine.transports.memory import CALENDAR, MemoryTransport
from syncengine.transports.protocol import (
    CalendarItemType,
    ErrorKind,
    ItemUpdate,
    TransportError,
    WriteResult,
)

from .event_fixtures import add_event, at, events_on, item_stamps
from .ews_fixtures import BOTH_TRANSPORTS, ews_fixture  # noqa: F401
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


class _HeldWrite(Future[list[WriteResult]]):
    """A stamping call in flight until the engine asks for its answer. Cancelled (the
    process died) it either had gone out and lands, or had not and never does."""

    def __init__(self, send: Callable[[], list[WriteResult]], lands: bool) -> None:
        super().__init__()
        self._send, self._lands = send, lands

    def _deliver(self) -> None:
        if not self.done():
            try:
                self.set_result(self._send())
            except Exception as exc:
                self.set_exception(exc)

    def result(self, timeout: float | None = None) -> list[WriteResult]:
        self._deliver()
        return super().result(timeout)

    def cancel(self) -> bool:
        if self._lands:
            self._deliver()
            return False
        return super().cancel() and not self.set_running_or_notify_cancel()


class HeldStamps:
    """The mailbox, its stamps held in flight (`start_update_items`) until asked for."""

    def __init__(self, inner: MemoryTransport, *, lands: bool) -> None:
        self.inner, self.lands = inner, lands
        self.writes: list[_HeldWrite] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def start_update_items(self, updates: Sequence[ItemUpdate]) -> Future[list[WriteResult]]:
        updates = list(updates)
        write = _HeldWrite(lambda: self.inner.update_items(updates), self.lands)
        self.writes.append(write)
        return write

    def in_flight(self) -> int:
        return sum(not w.done() for w in self.writes)


@pytest.mark.parametrize("lands", [True, False], ids=["landed", "never-sent"])
@pytest.mark.parametrize("phase", ["initial", "incremental"])
def test_a_cycle_that_died_with_stamps_in_flight_resumes_to_the_same_end_state(  # type: ignore[no-untyped-def]
        rep, events_config, org, phase, lands) -> None:
    """Stamps are sent after a page's commit and answered after the next page is listed:
    the process dies at each step in between (and everywhere else), the stamps then in
    flight having reached Exchange or not. Nothing is left in flight after the cycle."""
    steps: list[str] = []

    def reference() -> Any:
        mailbox = _world(rep, org, phase)
        held = HeldStamps(mailbox, lands=lands)
        assert _cycle(rep, held, checkpoint=steps.append).outcome == "synced"
        assert held.writes and held.in_flight() == 0
        return _end_state(mailbox)

    expected = _in_rollback(reference)
    died_in_flight = 0

    def crash_at_step(n: int) -> None:
        nonlocal died_in_flight
        mailbox = _world(rep, org, phase)
        held = HeldStamps(mailbox, lands=lands)
        seen = 0

        def checkpoint(step: str) -> None:
            nonlocal seen, died_in_flight
            seen += 1
            if seen == n:
                died_in_flight += held.in_flight() > 0
                raise SimulatedCrash(step)

        with pytest.raises(SimulatedCrash):
            _cycle(rep, held, checkpoint=checkpoint)
        assert held.in_flight() == 0
        _assert_resumes(rep, mailbox, expected, f"step {n} ({steps[n - 1]}), in flight")

    for n in range(1, len(steps) + 1):
        _in_rollback(lambda n=n: crash_at_step(n))
    assert died_in_flight >= 2


def test_a_stamping_call_refused_while_the_next_page_is_listed_ends_the_cycle_as_its_own(  # type: ignore[no-untyped-def]
        rep, events_config, org) -> None:
    """Exchange throttles the second stamping call, sent with the listing of the next page,
    which fails too: the stamping call came first, so its answer is the cycle's (a back-off,
    recorded as throttling); what was committed stays, and the next cycle ends where an
    uninterrupted one would."""

    def reference() -> Any:
        mailbox = _world(rep, org, "initial")
        assert _cycle(rep, mailbox).outcome == "synced"
        return _end_state(mailbox)

    expected = _in_rollback(reference)
    mailbox = _world(rep, org, "initial")
    mailbox.fail_on("update_items", TransportError(ErrorKind.THROTTLED, "Server busy",
                                                   back_off_seconds=60), skip=1)
    mailbox.fail_on("page", TransportError(ErrorKind.TRANSIENT, "timeout"), skip=2)
    held = HeldStamps(mailbox, lands=True)
    report = _cycle(rep, held)
    assert report.outcome == "backing_off"
    assert held.in_flight() == 0
    assert list(LightningSyncError.objects.values_list("kind", flat=True)) == ["throttled"]
    assert Event.objects.exists()  # the pages before stay committed
    mailbox.clear_faults()
    UserSyncState.objects.filter(user=rep).update(backoff_until=None)
    _assert_resumes(rep, mailbox, expected, "after the throttled stamps")


def _wire_state(ews, user) -> tuple[Any, ...]:  # type: ignore[no-untyped-def]
    """A user's CRM events and links, and the stamps on their calendar items."""
    events = sorted(Event.objects.filter(owner=user).values_list("subject", "start", "end"))
    links = sorted(EventLink.objects.filter(user=user).values_list("state", "event__subject",
                                                                   "needs_stamp"), key=repr)
    names = dict(Event.objects.filter(owner=user).values_list("pk", "subject"))
    stamps = sorted((i["Subject"], names.get(int(item_stamps(ews, i["id"], user.email).get(
        "LightningSyncCrmId", 0)))) for i in ews.items("calendar", user.email))
    return events, links, stamps


@BOTH_TRANSPORTS
def test_an_event_cycle_over_the_wire_crashed_at_any_step_resumes_without_duplicates(  # type: ignore[no-untyped-def]
        ews) -> None:
    """The same over EWS and over Microsoft Graph (real exchangelib, real msal): each crash
    point on a mailbox of its own, seeded alike."""
    events_on(ews, contacts_direction="none", auto_remove_deleted_events=True)

    def seeded(name: str):  # type: ignore[no-untyped-def]
        user = ews.add_user(name)
        for n in range(7):
            add_event(ews, f"Call {n}", at(1 + n), mailbox=user.email)
        return user

    steps: list[str] = []
    reference = seeded("reference")
    assert ews.sync(reference, checkpoint=steps.append, page_size=3).outcome == "synced"
    expected = _wire_state(ews, reference)
    assert steps.count("event_page_committed") >= 3 and "event_stamped" in steps
    for n in range(1, len(steps) + 1):
        user = seeded(f"crash{n}")
        seen = 0

        def checkpoint(step: str, n: int = n) -> None:
            nonlocal seen
            seen += 1
            if seen == n:
                raise SimulatedCrash(step)

        with pytest.raises(SimulatedCrash):
            ews.sync(user, checkpoint=checkpoint, page_size=3)
        assert ews.sync(user, page_size=3).outcome == "synced", steps[n - 1]
        assert _wire_state(ews, user) == expected, steps[n - 1]
        again = ews.sync(user, page_size=3)
        assert again.events is not None and again.events.written == 0, steps[n - 1]
