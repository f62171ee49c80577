"""A user is synced by one worker at a time: a claim with a short expiry (a lease) that a
heartbeat renews while the cycle runs (SPEC §12).

The claim is a conditional UPDATE (healthchecks' pattern): it succeeds for exactly one
worker, on SQLite and PostgreSQL alike, and needs no transaction held open during the sync
(a cycle talks to Exchange for minutes). The lease is short (90 s by default, at most 2
minutes), so that a worker killed mid-cycle blocks its user for at most that long.

A live cycle keeps its claim with a `Heartbeat`: a thread with its own database connection
renews the lease every third of it, whatever the cycle is doing. Renewing only between the
cycle's steps would not do: one request to Exchange may take a minute (and is retried), more
than any lease that promise allows. Each renewal is one short autocommit UPDATE of the user's
row: on SQLite it waits for a page's write transaction like any other writer (busy timeout;
the cycle keeps no read open across its writes, so another connection's commit never fails
them), on PostgreSQL it locks that one row for an instant. When the thread is late (its
UPDATE waited behind the cycle's own transaction), the cycle renews at its next step itself.

A cycle that lost its claim (taken over after a lapse, or not renewed in time because the
database was unreachable or the process stalled) stops before its next write: the engine
calls `Heartbeat.ensure_held` before every write to Exchange and every transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Q
from django.utils import timezone

from lightningsync.effective import ASSIGNMENTS
from lightningsync.models import UserSyncState

log = logging.getLogger(__name__)


class ClaimLost(Exception):
    """The cycle no longer holds the user's claim: it stops before writing anything more."""


def lease() -> dt.timedelta:
    return dt.timedelta(seconds=settings.LIGHTNINGSYNC_CLAIM_LEASE_SECONDS)


def claim(user_id: int, now: dt.datetime | None = None) -> tuple[UserSyncState, str] | None:
    """Claim the user; returns (state with its user, token), or None when another holds it."""
    now = now or timezone.now()
    token = uuid.uuid4().hex
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    claimed = UserSyncState.objects.filter(free, user_id=user_id).update(
        claim_token=token, claimed_until=now + lease(), last_sync_started_at=now
    )
    if not claimed:
        if UserSyncState.objects.filter(user_id=user_id).exists():
            return None
        UserSyncState.objects.get_or_create(user_id=user_id)
        return claim(user_id, now)
    # With the user's last connection result, which the cycle rewrites only when it changes,
    # and its assignments' configurations (its effective configuration, without a query).
    state = UserSyncState.objects.select_related(
        "user", "user__connection_result", *(f"user__{path}" for path in ASSIGNMENTS),
    ).get(user_id=user_id)
    return state, token


def renew(state_pk: int, token: str) -> bool:
    """Extend the lease of a claim still held with `token`; False when it is not."""
    return bool(UserSyncState.objects.filter(pk=state_pk, claim_token=token).update(
        claimed_until=timezone.now() + lease()))


def release(state: UserSyncState, token: str, **fields: Any) -> bool:
    """Give the claim back, writing the runner's fields in the same statement."""
    return bool(
        UserSyncState.objects.filter(pk=state.pk, claim_token=token).update(
            claim_token="", claimed_until=None, **fields
        )
    )


class Heartbeat:
    """Keeps a claim while its cycle runs; use as a context manager around the cycle."""

    def __init__(self, state_pk: int, token: str,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.state_pk, self.token, self.clock = state_pk, token, clock
        self.seconds = lease().total_seconds()
        self.interval = self.seconds / 3
        self._renewed = clock()  # when the lease last started (the claim, or a renewal)
        self._lock = threading.Lock()
        self._lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"claim-{state_pk}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()

    def ensure_held(self) -> None:
        """Raise `ClaimLost` unless the claim is held for at least one more renewal interval
        (time for the write that follows). Called between the cycle's steps, outside any
        transaction: when the heartbeat is late (its renewal waited for the database, e.g.
        behind this cycle's own page transaction on SQLite), the claim is renewed here."""
        if not self._lost.is_set() and self.clock() - self._renewed > self.interval:
            try:
                self._renew()
            except DatabaseError as exc:  # the deadline below decides
                log.warning("Could not renew the sync claim %s: %s", self.state_pk, exc)
        if self._lost.is_set():
            raise ClaimLost("Another worker took this user over; this cycle stopped.")
        if self.clock() - self._renewed > self.seconds - self.interval:
            raise ClaimLost("The claim on this user could not be renewed in time; this cycle "
                            "stopped before its lease ran out.")

    def _beat(self) -> None:
        try:
            next_at = self._renewed + self.interval
            while not self._stop.wait(max(0.0, next_at - self.clock())):
                next_at = self.clock() + self.interval
                try:
                    if not self._renew():
                        return
                except DatabaseError as exc:  # tried again at the next beat
                    log.warning("Could not renew the sync claim %s: %s", self.state_pk, exc)
                    connection.close()
        finally:
            connection.close()  # this thread's own connection

    def _renew(self) -> bool:
        """One renewal, from either thread; False once the claim is known to be lost."""
        started = self.clock()
        if not renew(self.state_pk, self.token):
            self._lost.set()
            return False
        with self._lock:
            self._renewed = max(self._renewed, started)
        return True
