"""Event sync interrupted after every step (each page's listing and commit, each stamping
chunk's write and commit), after every single item Exchange wrote (inside a chunk), and
while stamps are in flight (sent with the next page's listing, landed or not when the
process died): the next cycle resumes to the end state of an uninterrupted one, and another
writes nothing. Over the wire, on EWS and on Microsoft Graph (`crash_harness`); the stamps
in flight on the memory mailbox, which holds them until the engine asks for their answer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

import pytest

from lightningsync.models import (
    Event,
    EventLink,
    FolderCursor,
    LightningSyncError,
    UserSyncState,
)
from syncengine.cycle.runner import SyncReport
from syncengine.events.state import EventCycle
from syncengine.transports.protocol import ErrorKind, ItemUpdate, TransportError, WriteResult

from .crash_harness import (
    SideWorld,
    SimulatedCrash,
    every_crash_resumes,
    in_rollback,
    seeded_world,
)
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
    return seeded_world(EventWorld, new_side, phase, seed=_initial,
                        change=lambda rep, side: _changes(side), contacts_direction="none",
                        events_direction="exchange_to_crm", auto_remove_deleted_events=True)


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
    """A transport whose stamps stay in flight (`start_update_items`) until asked for."""

    def __init__(self, inner: Any, *, lands: bool) -> None:
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


def _resumes(world: EventWorld, expected: Any, where: str) -> None:
    report = world.cycle()
    assert report.outcome == "synced", (where, report.reason)
    assert (world.end_state(), world.bookkeeping()) == expected, where
    world.reset_counters()
    again = world.cycle()
    assert world.written(again) == 0 and not world.writes(), where


@pytest.mark.parametrize("lands", [True, False], ids=["landed", "never-sent"])
@pytest.mark.parametrize("phase", ["initial", "incremental"])
def test_a_cycle_that_died_with_stamps_in_flight_resumes_to_the_same_end_state(  # type: ignore[no-untyped-def]
        db, session_sims, phase: str, lands: bool) -> None:
    """Stamps are sent after a page's commit and answered after the next page is listed:
    the process dies at each step in between (and everywhere else), the stamps then in
    flight having reached Exchange or not. Nothing is left in flight after the cycle."""
    new_side = point_setup("memory", session_sims)
    steps: list[str] = []

    def reference() -> Any:
        world = _world(new_side, phase)
        held: list[HeldStamps] = []
        wrap = lambda t: held.append(HeldStamps(t, lands=lands)) or held[-1]  # noqa: E731
        assert world.cycle(wrap, steps.append).outcome == "synced"
        assert held[-1].writes and held[-1].in_flight() == 0
        return world.end_state(), world.bookkeeping()

    expected = in_rollback(reference)
    died_in_flight = 0

    def crash_at_step(n: int) -> None:
        nonlocal died_in_flight
        world = _world(new_side, phase)
        held: list[HeldStamps] = []
        seen = 0

        def checkpoint(step: str) -> None:
            nonlocal seen, died_in_flight
            seen += 1
            if seen == n:
                died_in_flight += held[-1].in_flight() > 0
                raise SimulatedCrash(step)

        wrap = lambda t: held.append(HeldStamps(t, lands=lands)) or held[-1]  # noqa: E731
        with pytest.raises(SimulatedCrash):
            world.cycle(wrap, checkpoint)
        assert held[-1].in_flight() == 0
        _resumes(world, expected, f"step {n} ({steps[n - 1]}), in flight")

    for n in range(1, len(steps) + 1):
        in_rollback(lambda n=n: crash_at_step(n))
    assert died_in_flight >= 2


def test_a_stamping_call_refused_while_the_next_page_is_listed_ends_the_cycle_as_its_own(  # type: ignore[no-untyped-def]
        db, session_sims) -> None:
    """Exchange throttles the second stamping call, sent with the listing of the next page,
    which fails too: the stamping call came first, so its answer is the cycle's (a back-off,
    recorded as throttling); what was committed stays, and the next cycle ends where an
    uninterrupted one would."""
    new_side = point_setup("memory", session_sims)

    def reference() -> Any:
        world = _world(new_side, "initial")
        assert world.cycle().outcome == "synced"
        return world.end_state(), world.bookkeeping()

    expected = in_rollback(reference)
    world = _world(new_side, "initial")
    mailbox = world.side.mailbox
    mailbox.fail_on("update_items", TransportError(ErrorKind.THROTTLED, "Server busy",
                                                   back_off_seconds=60), skip=1)
    mailbox.fail_on("page", TransportError(ErrorKind.TRANSIENT, "timeout"), skip=2)
    held: list[HeldStamps] = []
    report = world.cycle(lambda t: held.append(HeldStamps(t, lands=True)) or held[-1])
    assert report.outcome == "backing_off"
    assert held[-1].in_flight() == 0
    assert list(LightningSyncError.objects.values_list("kind", flat=True)) == ["throttled"]
    assert Event.objects.exists()  # the pages before stay committed
    mailbox.clear_faults()
    UserSyncState.objects.filter(user=world.user).update(backoff_until=None)
    _resumes(world, expected, "after the throttled stamps")
