"""One sync cycle of one user: claim, decide whether to run, run, classify failures, release.

The transports classify errors; this is the one place that decides what to do about them
(SPEC §9, §12): throttling → persisted back-off for the mailbox; transient → a few retries
with exponential back-off now, and an attempts counter across cycles (at most 10, then an
error entry); authentication/configuration → the user pauses until Setup changes; an
invalid cursor → a full listing that matches existing links. A reset marked for the user
runs here too, once the user can sync (SPEC §10).

Cycle-level entries (connection, authentication, access, throttling) are filed "Both ways":
the whole mailbox stopped, whichever way the configuration syncs.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from lightningsync.effective import effective_configuration
from lightningsync.models import (
    FolderCursor,
    LightningSyncSetup,
    SyncConfiguration,
    UserSyncState,
)
from lightningsync.outbound import excerpt

from ..contacts.state import Checkpoint, ContactReport, Progress
from ..contacts.sync import ContactSync
from ..errorlog import (
    Direction,
    Entry,
    ErrorLog,
    Kind,
    ObjectType,
    PauseUser,
    record_now,
    resolve_cycle_errors,
)
from ..events.state import EventReport
from ..events.sync import EventSync
from ..transports.connect import TransportFactory, transport_for
from ..transports.protocol import ErrorKind, FolderKind, MailboxTransport, TransportError
from . import claims
from .activity import Connection, activity, reached, write_after_cycle
from .connection import connection_settings
from .reset import finish_reset, perform_reset

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10  # transient failures in a row before the error report shows one
RETRIES_IN_CYCLE = 3
DEFAULT_THROTTLE_SECONDS = 60.0
MAX_BACKOFF = dt.timedelta(hours=1)


class Outcome:
    SYNCED = "synced"
    SKIPPED = "skipped"
    BUSY = "busy"
    PAUSED = "paused"
    BACKING_OFF = "backing_off"
    FAILED = "failed"


@dataclass
class SyncReport:
    user_id: int
    outcome: str
    reason: str = ""
    contacts: ContactReport | None = None
    error_kind: str = ""
    events: EventReport | None = None

    def summary(self) -> str:
        """What the cycle did, in an admin's words: "2 contacts added to the CRM, 20 sent to
        Exchange, 0 conflicts, 3 events added to the CRM" (updates, removals and unlinks only
        when there were any; events only when something happened to them), or why it did
        not sync."""

        def count(n: int, one: str, many: str) -> str:
            return f"{n} {one if n == 1 else many}"

        if self.contacts is None or self.outcome != Outcome.SYNCED:
            label = {
                Outcome.SKIPPED: "Not synced",
                Outcome.BUSY: "Not synced now",
                Outcome.PAUSED: "Paused",
                Outcome.BACKING_OFF: "Backing off",
                Outcome.FAILED: "Failed",
            }.get(self.outcome, self.outcome)
            return f"{label}: {self.reason}" if self.reason else label
        c = self.contacts
        said = [c.skipped] if c.skipped else self._contact_words(count)
        e = self.events
        if e is not None and not e.skipped and (e.written or e.skipped_series
                                                or e.skipped_private or e.errors):
            said += self._event_words(count)
        return ", ".join(said)

    def _contact_words(self, count: Callable[[int, str, str], str]) -> list[str]:
        assert self.contacts is not None
        c = self.contacts
        said = [f"{count(c.crm_created, 'contact', 'contacts')} added to the CRM"]
        if c.crm_updated:
            said.append(f"{c.crm_updated} updated in the CRM")
        said.append(f"{c.exchange_created} sent to Exchange")
        if c.exchange_updated:
            said.append(f"{c.exchange_updated} updated in Exchange")
        if c.exchange_deleted:
            said.append(f"{c.exchange_deleted} removed from Exchange")
        if c.unlinked:
            said.append(f"{c.unlinked} no longer synced")
        said.append(count(c.conflicts, "conflict", "conflicts"))
        return said

    def _event_words(self, count: Callable[[int, str, str], str]) -> list[str]:
        """ "3 events added to the CRM" and what else happened to events, when anything did."""
        assert self.events is not None
        e = self.events
        said = [f"{count(e.created, 'event', 'events')} added to the CRM"]
        for n, words in ((e.updated, "updated in the CRM"), (e.linked, "matched in the CRM"),
                         (e.deleted, "removed from the CRM"), (e.unlinked, "no longer synced")):
            if n:
                said.append(f"{count(n, 'event', 'events')} {words}")
        for n, kind in ((e.skipped_series, "recurring"), (e.skipped_private, "private")):
            if n:  # "1 recurring event skipped": series and private events do not sync
                said.append(f"{n} {kind} {'event' if n == 1 else 'events'} skipped")
        return said


@dataclass
class _Cycle:
    state: UserSyncState
    token: str
    now: dt.datetime
    release: dict[str, Any] = field(default_factory=dict)
    ensure_claimed: Callable[[], None] = lambda: None  # the claim's `Heartbeat.ensure_held`
    # For the status page, written with the release: the cycle's activity and what it found
    # about the mailbox (None: it did not reach the mailbox, or learnt nothing about it).
    activity: list[Any] = field(default_factory=list)
    connection: Connection | None = None
    config: SyncConfiguration | None = None
    contacts_initial_before: bool = False
    events_initial_before: bool = False


def sync_user(
    user_id: int,
    *,
    transport_factory: TransportFactory | None = None,
    checkpoint: Checkpoint | None = None,
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
    page_size: int = 512,
) -> SyncReport:
    """Run one cycle for the user, unless another worker holds the user or a rule says no."""
    now = timezone.now()
    claimed = claims.claim(user_id, now)
    if claimed is None:
        return SyncReport(user_id, Outcome.BUSY, "Another worker is syncing this user.")
    state, token = claimed
    cycle = _Cycle(state, token, now, {"last_sync_finished_at": now})
    try:
        with claims.Heartbeat(state.pk, token) as held:
            cycle.ensure_claimed = held.ensure_held
            return _run(cycle, transport_factory or transport_for, checkpoint, progress, sleep,
                        page_size)
    except claims.ClaimLost as lost:  # another worker's user now: no entry, no more writes
        log.warning("Sync of user %s stopped: %s", user_id, lost)
        return SyncReport(user_id, Outcome.BUSY, str(lost))
    except Exception as exc:
        log.exception("Sync of user %s failed", user_id)
        # Its text may be anything a library or a server put in it: an excerpt only.
        said = excerpt(str(exc))
        message = f"The sync stopped on an unexpected error: {said}"
        record_now(state.user, Entry(
            Kind.INTERNAL, Direction.BOTH, message,
            "The cycle is retried at the next schedule; report this if it repeats.",
            detail=type(exc).__name__,
        ))
        cycle.release["last_error"] = said
        report = SyncReport(user_id, Outcome.FAILED, message, error_kind=Kind.INTERNAL)
        if state.reset_state:
            cycle.release["reset_waiting_for"] = _waiting_for(report)
        return report
    finally:
        finished = timezone.now()
        cycle.release["last_sync_finished_at"] = finished
        write_after_cycle(lambda: claims.release(state, token, **cycle.release),
                          cycle.activity, state.user, cycle.connection, finished)


def _run(cycle: _Cycle, factory: TransportFactory, checkpoint: Checkpoint | None,
         progress: Progress | None, sleep: Callable[[float], None],
         page_size: int) -> SyncReport:
    state, now = cycle.state, cycle.now
    user = state.user
    setup = LightningSyncSetup.load()
    config = effective_configuration(user, read_with_assignments=True)  # by the claim
    held = _why_not(state, setup, config, now)
    if held:
        report = SyncReport(user.pk, held[0], held[1])
        if state.reset_state:  # a reset waits until the user can sync, and says for what
            cycle.release["reset_waiting_for"] = _waiting_for(report)
        return report
    if state.paused_reason:  # Setup changed since the pause: try again
        cycle.release.update(paused_reason="", paused_message="", paused_at=None)
    if state.reset_state == UserSyncState.ResetState.MARKED:
        cycle.ensure_claimed()
        perform_reset(state)
    assert config is not None
    report = _sync(cycle, setup, config, factory, checkpoint, progress, sleep, page_size)
    if state.reset_state:
        # Stopped before the reset's initial sync completed: in progress, waiting for this.
        cycle.release["reset_waiting_for"] = _waiting_for(report)
    return report


_WAITING_LABELS = {
    Outcome.SKIPPED: "Cannot sync", Outcome.PAUSED: "Paused",
    Outcome.BACKING_OFF: "Backing off", Outcome.FAILED: "Failed",
}


def _waiting_for(report: SyncReport) -> str:
    """What a pending reset waits for, in the status page's words."""
    return f"{_WAITING_LABELS.get(report.outcome, report.outcome)}: {report.reason}"[:1000]


def _sync(cycle: _Cycle, setup: LightningSyncSetup, config: SyncConfiguration,
          factory: TransportFactory, checkpoint: Checkpoint | None, progress: Progress | None,
          sleep: Callable[[float], None], page_size: int) -> SyncReport:
    """The cycle proper, with its retries: the user may sync now."""
    state = cycle.state
    user = state.user
    cycle.config = config
    cycle.contacts_initial_before = state.contacts_initial_sync_done
    cycle.events_initial_before = state.events_initial_sync_done
    transport: MailboxTransport | None = None
    try:
        for retry in range(RETRIES_IN_CYCLE + 1):
            try:
                transport = transport or factory(connection_settings(setup, user))
                errors = ErrorLog(user)
                contacts = ContactSync(
                    user=user, config=config, state=state, org_id=str(setup.org_id),
                    transport=transport, errors=errors, checkpoint=checkpoint,
                    progress=progress, page_size=page_size, ensure_claimed=cycle.ensure_claimed,
                ).run()
                events = EventSync(
                    user=user, config=config, setup=setup, state=state, transport=transport,
                    now=cycle.now, errors=errors, checkpoint=checkpoint, progress=progress,
                    page_size=page_size, ensure_claimed=cycle.ensure_claimed,
                ).run() if config.events_direction != config.EventsDirection.NONE else None
                return _succeeded(cycle, contacts, events)
            except PauseUser as problem:
                return _pause(cycle, UserSyncState.PauseReason.CONFIGURATION, problem.entry)
            except TransportError as exc:
                outcome = _failed(cycle, exc, retry)
                if outcome is not None:
                    return outcome
                sleep(min(2.0**retry, 30.0))
    finally:
        if transport is not None:
            transport.close()
    raise AssertionError("unreachable: the last retry always returns")


def _why_not(state: UserSyncState, setup: LightningSyncSetup,
             config: SyncConfiguration | None, now: dt.datetime) -> tuple[str, str] | None:
    if not setup.enabled:
        return Outcome.SKIPPED, "Lightning Sync is not enabled in Setup."
    if config is None:
        return Outcome.SKIPPED, "The user is in no active sync configuration."
    if state.paused_reason and state.paused_at and setup.updated_at <= state.paused_at and (
        config.updated_at <= state.paused_at
    ):
        return Outcome.PAUSED, state.paused_message
    if state.backoff_until and state.backoff_until > now:
        until = state.backoff_until.astimezone(dt.UTC)
        last = f" (last error: {state.last_error})" if state.last_error else ""
        return (Outcome.BACKING_OFF,
                f"Exchange is tried again after {until:%Y-%m-%d %H:%M:%S} UTC{last}")
    return None


def _succeeded(cycle: _Cycle, contacts: ContactReport,
               events: EventReport | None) -> SyncReport:
    report = _succeeded_report(cycle, contacts, events)
    _note_activity(cycle, report)
    return report


def _note_activity(cycle: _Cycle, report: SyncReport) -> None:
    """The cycle's activity per object and direction, and the mailbox reached."""
    state, config = cycle.state, cycle.config
    assert config is not None
    finished = cycle.release["last_success_at"]
    cycle.connection = reached(report)
    cycle.activity = activity(
        state.user_id, config, "contact", report.contacts, started=cycle.now,
        finished=finished,
        initial=state.contacts_initial_sync_done and not cycle.contacts_initial_before,
    ) + activity(
        state.user_id, config, "event", report.events, started=cycle.now,
        finished=finished,
        initial=state.events_initial_sync_done and not cycle.events_initial_before,
    )


def _succeeded_report(cycle: _Cycle, contacts: ContactReport,
                      events: EventReport | None) -> SyncReport:
    state = cycle.state
    cycle.release.update(
        attempts=0, last_error="", last_success_at=timezone.now(),
        contacts_initial_sync_done=state.contacts_initial_sync_done,
        contacts_crm_watermark=state.contacts_crm_watermark,
        events_initial_sync_done=state.events_initial_sync_done,
    )
    if state.attempts or state.last_error:
        resolve_cycle_errors(state.user)
    if state.reset_state:
        cycle.ensure_claimed()
        finish_reset(state)
    if state.contacts_paused_reason:
        return SyncReport(state.user_id, Outcome.PAUSED, contacts.skipped, contacts,
                          error_kind=Kind.MASS_DELETE, events=events)
    return SyncReport(state.user_id, Outcome.SYNCED, contacts=contacts, events=events)


def _failed(cycle: _Cycle, exc: TransportError, retry: int) -> SyncReport | None:
    """Decide about a failed attempt; None means "retry now"."""
    state, user_id = cycle.state, cycle.state.user_id
    if exc.kind == ErrorKind.THROTTLED:
        seconds = exc.back_off_seconds or DEFAULT_THROTTLE_SECONDS
        until = timezone.now() + dt.timedelta(seconds=seconds)
        cycle.release.update(backoff_until=until, last_error=exc.message)
        _report(state, Kind.THROTTLED, f"Exchange is busy and asked to wait {seconds:.0f} s.",
                "Nothing to do: the sync resumes by itself after the wait.")
        return SyncReport(user_id, Outcome.BACKING_OFF, exc.message, error_kind=Kind.THROTTLED)
    if exc.kind == ErrorKind.CONFIGURATION and exc.folder is not None:
        return _folder_refused(cycle, exc, exc.folder)
    if exc.kind in (ErrorKind.AUTHENTICATION, ErrorKind.CONFIGURATION):
        cycle.connection = Connection(ok=False, kind=exc.kind.value, message=exc.message)
    if exc.kind in _PAUSES:
        reason, kind, suggestion = _PAUSES[exc.kind]
        if exc.kind == ErrorKind.AUTHENTICATION and _under_oauth():
            suggestion = _OAUTH_AUTHENTICATION
        return _pause(cycle, reason, Entry(kind, Direction.BOTH, exc.message, suggestion,
                                           detail="cycle"))
    if exc.kind == ErrorKind.INVALID_CURSOR and retry == 0:
        FolderCursor.objects.filter(user_id=user_id).update(cursor="", full_listing=True)
        return None
    if exc.kind == ErrorKind.TRANSIENT:
        return _transient(cycle, exc, retry)
    _report(state, Kind.INTERNAL, exc.message, "Report this if it repeats.")
    cycle.release["last_error"] = exc.message
    return SyncReport(user_id, Outcome.FAILED, exc.message, error_kind=Kind.INTERNAL)


def _transient(cycle: _Cycle, exc: TransportError, retry: int) -> SyncReport | None:
    state = cycle.state
    state.attempts += 1
    UserSyncState.objects.filter(pk=state.pk).update(attempts=state.attempts)
    cycle.release.update(attempts=state.attempts, last_error=exc.message)
    if state.attempts >= MAX_ATTEMPTS:
        _report(state, Kind.CONNECTION,
                f"Exchange could not be reached {MAX_ATTEMPTS} times in a row: {exc.message}",
                "Check that the Exchange server is up and reachable from this server "
                "(Setup → Connection test).")
        until = timezone.now() + MAX_BACKOFF
        cycle.release.update(attempts=0, backoff_until=until)
        return SyncReport(state.user_id, Outcome.FAILED, exc.message, error_kind=Kind.CONNECTION)
    if retry < RETRIES_IN_CYCLE:
        return None
    delay = min(dt.timedelta(seconds=30 * 2**state.attempts), MAX_BACKOFF)
    cycle.release["backoff_until"] = timezone.now() + delay
    return SyncReport(state.user_id, Outcome.BACKING_OFF, exc.message,
                      error_kind=Kind.CONNECTION)


# Whole-mailbox failures that pause the user until Setup, its configuration or a Retry
# changes something (SPEC §9): (pause reason, error kind, suggestion).
_PAUSES = {
    ErrorKind.AUTHENTICATION: (UserSyncState.PauseReason.AUTHENTICATION, Kind.AUTHENTICATION,
                               "Check the service account's credentials in Setup; saving Setup "
                               "or choosing Retry in the error report resumes the sync."),
    ErrorKind.CONFIGURATION: (UserSyncState.PauseReason.CONFIGURATION, Kind.IMPERSONATION,
                              "Check Setup and the user's access (impersonation or application "
                              "access), then run the connection test or choose Retry."),
    ErrorKind.OTHER_ORG: (UserSyncState.PauseReason.OTHER_ORG, Kind.OTHER_ORG,
                          "Remove the user from one org's sync configurations."),
}


_OAUTH_AUTHENTICATION = (
    "Check the app registration's client secret or certificate (and the tenant) in Setup; "
    "saving Setup or choosing Retry in the error report resumes the sync."
)


def _under_oauth() -> bool:
    method = LightningSyncSetup.objects.values_list("connection_method", flat=True).first()
    return method == LightningSyncSetup.ConnectionMethod.OAUTH2


# A folder of a mailbox that answered, refused: (its name, the object it holds).
_FOLDERS = {FolderKind.CONTACTS: ("Contacts", ObjectType.CONTACT, Direction.BOTH),
            FolderKind.CALENDAR: ("Calendar", ObjectType.EVENT, Direction.EXCHANGE_TO_CRM)}


def _folder_refused(cycle: _Cycle, exc: TransportError, folder: FolderKind) -> SyncReport:
    """The mailbox answered but one of its folders was refused: the user pauses like any
    access error (SPEC §9), and the status says which folder, not that the mailbox is out of
    reach."""
    name, obj, direction = _FOLDERS[folder]
    contacts = folder is FolderKind.CONTACTS
    cycle.connection = Connection(ok=True, contacts_folder_found=False if contacts else None,
                                  calendar_folder_found=None if contacts else False)
    message = (f"Exchange refused the {name} folder of {cycle.state.user.email}'s mailbox: "
               f"{exc.message}")
    suggestion = (f"Give Lightning Sync access to the user's {name} folder as the message "
                  "says, then run the connection test for the user or choose Retry.")
    return _pause(cycle, UserSyncState.PauseReason.CONFIGURATION,
                  Entry(Kind.IMPERSONATION, direction, message, suggestion,
                        detail=f"folder:{folder.value}", object=obj))


def _pause(cycle: _Cycle, reason: str, entry: Entry) -> SyncReport:
    cycle.release.update(paused_reason=reason, paused_message=entry.message,
                         paused_at=timezone.now(), last_error=entry.message)
    record_now(cycle.state.user, entry)
    return SyncReport(cycle.state.user_id, Outcome.PAUSED, entry.message, error_kind=entry.kind)


def _report(state: UserSyncState, kind: str, message: str, suggestion: str) -> None:
    record_now(state.user, Entry(kind, Direction.BOTH, message, suggestion, detail="cycle"))

