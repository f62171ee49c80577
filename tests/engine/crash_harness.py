"""mbsync's test, for any sync: interrupt a cycle after every step it reports (each page's
listing and commit, each chunk's write and commit) and after every single item Exchange
wrote (inside a chunk as much as between chunks); resume, and expect the end state of an
uninterrupted cycle; then sync again and expect no writes at all.

A test gives `every_crash_resumes` a way to make a fresh world (the same seed every time,
on a mailbox of its own) and runs it on any transport: the crash wraps whatever transport
the cycle gets, the memory one or the engine's own over the wire.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from django.db import transaction

from syncengine.cycle.runner import SyncReport
from syncengine.transports.protocol import MailboxTransport, sent_now

Wrap = Callable[[MailboxTransport], Any]
Checkpoint = Callable[[str], None]
_WRITES = ("create_items", "update_items", "delete_items")


class SimulatedCrash(BaseException):
    """A worker killed mid-cycle: no handler of the engine catches it."""


class CrashAfterWrite:
    """The worker dies right after the `at`-th item Exchange wrote (0: never; `writes` then
    counts them). Writes go item by item through the wrapped transports, so the crash can
    fall between the requests of a chunk as much as between chunks."""

    def __init__(self, at: int) -> None:
        self.at, self.writes = at, 0

    def __call__(self, inner: MailboxTransport) -> Any:
        return _Crashing(self, inner)


class _Crashing:
    def __init__(self, crash: CrashAfterWrite, inner: MailboxTransport) -> None:
        self.crash, self.inner = crash, inner

    def __getattr__(self, name: str) -> Any:
        if name == "start_update_items":
            # Sent at once through the counted writes; the crash (a BaseException) is not
            # handed over with the answer: the worker dies there, as from its own thread.
            return lambda updates: sent_now(lambda: self.__getattr__("update_items")(updates))
        attr = getattr(self.inner, name)
        if name not in _WRITES:
            return attr

        def call(*args: Any) -> Any:
            *head, items = args
            results = []
            for item in items:
                results += attr(*head, [item])
                self.crash.writes += 1
                if self.crash.writes == self.crash.at:
                    raise SimulatedCrash(name)
            return results

        return call


def crash_at_step(n: int) -> Checkpoint:
    """A checkpoint that kills the worker at the n-th step the cycle reports."""
    seen = 0

    def checkpoint(step: str) -> None:
        nonlocal seen
        seen += 1
        if seen == n:
            raise SimulatedCrash(step)

    return checkpoint


class CrashWorld(Protocol):
    def cycle(self, wrap: Wrap | None = None, checkpoint: Checkpoint | None = None
              ) -> SyncReport: ...
    def end_state(self) -> Any: ...
    def bookkeeping(self) -> Any: ...
    def writes(self) -> dict[str, int]: ...
    def reset_counters(self) -> None: ...
    def written(self, report: SyncReport) -> int: ...


def in_rollback(fn: Callable[[], Any]) -> Any:
    with transaction.atomic():
        result = fn()
        transaction.set_rollback(True)
    return result


def every_crash_resumes(new_world: Callable[[], CrashWorld], *, settles_late: bool = False
                        ) -> tuple[list[str], int]:
    """Crash a fresh world's cycle at each step and after each write in turn, each in a
    rolled-back transaction; returns the steps and the item writes of an uninterrupted
    cycle, for the caller to check that the crashes fell where it meant them to.

    Both sides (`end_state`) must be as uninterrupted after the resuming cycle; the links'
    bookkeeping (`bookkeeping`: which still wait for stamps) too, unless `settles_late`:
    then after the next cycle, which still writes nothing."""
    steps: list[str] = []

    def reference() -> tuple[Any, int]:
        world = new_world()
        counting = CrashAfterWrite(at=0)
        assert world.cycle(counting, steps.append).outcome == "synced"
        return (world.end_state(), world.bookkeeping()), counting.writes

    (expected, books), writes = in_rollback(reference)

    def crashed(where: str, wrap: Wrap | None = None, checkpoint: Checkpoint | None = None
                ) -> None:
        world = new_world()
        try:
            world.cycle(wrap, checkpoint)
        except SimulatedCrash:
            pass
        else:
            raise AssertionError(f"no crash at {where}")
        report = world.cycle()
        assert report.outcome == "synced", (where, report.reason)
        got = world.end_state()
        assert got == expected, f"{where}:\n{got}\n!=\n{expected}"
        if not settles_late:
            assert world.bookkeeping() == books, where
        world.reset_counters()
        again = world.cycle()
        assert world.written(again) == 0 and not world.writes(), (where, world.writes())
        assert world.end_state() == expected and world.bookkeeping() == books, where

    for n in range(1, len(steps) + 1):
        in_rollback(lambda n=n: crashed(f"step {n} ({steps[n - 1]})", checkpoint=crash_at_step(n)))
    for n in range(1, writes + 1):
        in_rollback(lambda n=n: crashed(f"write {n}", wrap=CrashAfterWrite(n)))
    return steps, writes


class SideWorld:
    """A user syncing a mailbox side (`mailbox_sides`) in pages of three; a test adds its
    `end_state` and what a report counts as `written`."""

    def __init__(self, side: Any, user: Any) -> None:
        self.side, self.user = side, user

    def cycle(self, wrap: Wrap | None = None, checkpoint: Checkpoint | None = None
              ) -> SyncReport:
        from syncengine.cycle.runner import sync_user
        from syncengine.transports.connect import transport_for

        factory = self.side.transport_factory or transport_for
        if wrap is not None:
            inner = factory
            factory = lambda settings: wrap(inner(settings))  # noqa: E731
        return sync_user(self.user.pk, transport_factory=factory, checkpoint=checkpoint,
                         sleep=lambda s: None, page_size=3)

    def writes(self) -> dict[str, int]:
        return dict(self.side.writes())

    def reset_counters(self) -> None:
        self.side.reset_counters()


W = TypeVar("W", bound="SideWorld")


def seeded_world(world: type[W], new_side: Callable[[str], Any], phase: str, *,
                 seed: Callable[[Any, Any], None], change: Callable[[Any, Any], None],
                 **config: Any) -> W:
    """A crash rep syncing a fresh side under a configuration of `config`, seeded
    (`seed(rep, side)`); for `incremental`, synced once and then changed (`change(rep, side)`)."""
    from lightningsync.models import LightningSyncSetup
    from tests.factories import SyncConfigurationFactory, UserFactory

    side = new_side(str(LightningSyncSetup.load().org_id))
    rep = UserFactory(username="crash-rep", email=side.smtp)
    SyncConfigurationFactory(name="Crash", users=[rep], **config)
    made = world(side, rep)
    seed(rep, side)
    if phase == "incremental":
        assert made.cycle().outcome == "synced"
        change(rep, side)
    return made
