"""The lightningsync_sync command and the django-q2 tasks."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django_q.models import Schedule

from lightningsync.models import Contact
from syncengine import tasks
from syncengine.contacts.state import ContactReport
from syncengine.cycle.runner import Outcome, SyncReport
from syncengine.transports import connect

from .conftest import crm_contact


@pytest.fixture
def registered(mailbox, monkeypatch):  # type: ignore[no-untyped-def]
    # Restore whatever was registered before (the EWS transport registers itself once, at
    # import): popping the entry would leave later EWS tests without a transport.
    monkeypatch.setitem(connect._registry, "service_account", lambda settings: mailbox)
    return mailbox


def test_the_command_syncs_named_users_with_a_summary_line(rep, config, org, registered) -> None:  # type: ignore[no-untyped-def]
    crm_contact(rep, last_name="Cmd")
    out = StringIO()
    call_command("lightningsync_sync", "--user", "REP@example.com", stdout=out)
    assert out.getvalue().splitlines() == [
        "rep@example.com: 0 contacts added to the CRM, 1 sent to Exchange, 0 conflicts"
    ]
    assert len(registered.folder_items()) == 1


def test_the_command_syncs_everyone_with_all(rep, config, org, registered) -> None:  # type: ignore[no-untyped-def]
    out = StringIO()
    call_command("lightningsync_sync", "--all", stdout=out)
    assert out.getvalue().splitlines() == [
        "rep@example.com: 0 contacts added to the CRM, 0 sent to Exchange, 0 conflicts"
    ]


def test_the_summary_says_what_changed_in_plain_words() -> None:
    changed = SyncReport(1, Outcome.SYNCED, contacts=ContactReport(
        listed=40, fetched=30, crm_created=1, crm_updated=3, exchange_created=20,
        exchange_updated=2, exchange_deleted=4, unlinked=5, conflicts=1))
    assert changed.summary() == (
        "1 contact added to the CRM, 3 updated in the CRM, 20 sent to Exchange, 2 updated in "
        "Exchange, 4 removed from Exchange, 5 no longer synced, 1 conflict"
    )
    quiet = SyncReport(1, Outcome.SYNCED, contacts=ContactReport(crm_created=2, conflicts=0))
    assert quiet.summary() == "2 contacts added to the CRM, 0 sent to Exchange, 0 conflicts"
    assert [SyncReport(1, outcome, reason).summary() for outcome, reason in (
        (Outcome.PAUSED, "The service account password was refused."),
        (Outcome.BACKING_OFF, "Exchange asked to wait until 10:00:00."),
        (Outcome.BUSY, "Another worker is syncing this user."),
        (Outcome.SKIPPED, "Lightning Sync is off."),
        (Outcome.FAILED, "boom"),
    )] == [
        "Paused: The service account password was refused.",
        "Backing off: Exchange asked to wait until 10:00:00.",
        "Not synced now: Another worker is syncing this user.",
        "Not synced: Lightning Sync is off.",
        "Failed: boom",
    ]


def _run(*args: str) -> tuple[str, str, str]:
    """(stdout, stderr, the error the command exits non-zero with, or "")."""
    out, err = StringIO(), StringIO()
    try:
        call_command("lightningsync_sync", *args, stdout=out, stderr=err)
    except CommandError as exc:
        return out.getvalue(), err.getvalue(), str(exc)
    return out.getvalue(), err.getvalue(), ""


def test_the_command_fails_naming_each_user_that_did_not_sync_and_why(
        rep, config, org, registered) -> None:  # type: ignore[no-untyped-def]
    from django.utils import timezone

    from lightningsync.models import UserSyncState
    from syncengine.cycle import claims
    from tests.factories import UserFactory

    config.users.add(paused := UserFactory(email="paused@example.com"),
                     waiting := UserFactory(email="waiting@example.com"),
                     busy := UserFactory(email="busy@example.com"))
    UserSyncState.objects.create(user=paused, paused_reason="authentication",
                                 paused_message="401 Unauthorized.", paused_at=timezone.now())
    UserSyncState.objects.create(user=waiting, last_error="Connection reset.",
                                 backoff_until=timezone.now() + dt.timedelta(minutes=4))
    assert claims.claim(busy.pk) is not None  # another worker holds it
    out, err, error = _run("--all")
    assert out.splitlines() == [
        "rep@example.com: 0 contacts added to the CRM, 0 sent to Exchange, 0 conflicts"]
    lines = err.splitlines()
    assert lines[0] == "busy@example.com: Not synced now: Another worker is syncing this user."
    assert lines[1] == "paused@example.com: Paused: 401 Unauthorized."
    assert lines[2].startswith("waiting@example.com: Backing off: Exchange is tried again after ")
    assert lines[2].endswith(" UTC (last error: Connection reset.)")
    assert len(lines) == 3 and error == "3 of 4 users did not sync (see above)."


def test_a_named_user_that_cannot_sync_is_a_failure(rep, config, org, registered) -> None:  # type: ignore[no-untyped-def]
    from tests.factories import UserFactory

    UserFactory(email="nobody-configured@example.com")
    out, err, error = _run("--user", "rep@example.com", "--user", "nobody-configured@example.com")
    assert out.startswith("rep@example.com: 0 contacts added to the CRM")
    assert err == ("nobody-configured@example.com: Not synced: The user is in no active sync "
                   "configuration.\n")
    assert error == "1 of 2 users did not sync (see above)."


def test_all_fails_while_lightning_sync_is_off_and_succeeds_with_nothing_to_do(
        rep, config, org, registered) -> None:  # type: ignore[no-untyped-def]
    org.enabled = False
    org.save()
    _out, err, error = _run("--all")
    assert err == "rep@example.com: Not synced: Lightning Sync is not enabled in Setup.\n"
    assert error == "1 of 1 users did not sync (see above)."
    config.active = False
    config.save()
    assert _run("--all") == (
        "No user is in an active sync configuration: nothing to sync.\n", "", "")


def test_the_command_refuses_unknown_users(rep, config, org) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CommandError, match=r"No user has the email nobody@example\.com"):
        call_command("lightningsync_sync", "--user", "nobody@example.com")
    with pytest.raises(CommandError, match=r"--user EMAIL"):
        call_command("lightningsync_sync")


def test_the_schedules_are_created_once(db, settings) -> None:  # type: ignore[no-untyped-def]
    settings.LIGHTNINGSYNC_SYNC_INTERVAL_MINUTES = 7
    tasks.ensure_schedule()
    tasks.ensure_schedule()
    schedules = {s.func: s.minutes for s in Schedule.objects.all()}
    assert schedules == {"syncengine.tasks.enqueue_all_users": 7,
                         "syncengine.tasks.refresh_statuses_task": 1}


def test_the_schedule_enqueues_a_cycle_for_every_syncing_user(rep, config, org, registered) -> None:  # type: ignore[no-untyped-def]
    crm_contact(rep, last_name="Scheduled")
    assert tasks.enqueue_all_users() == 1  # Q_CLUSTER sync: the task ran inline
    assert len(registered.folder_items()) == 1


def test_a_crm_change_pushes_for_its_owner_after_commit(
        rep, config, org, registered, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        crm_contact(rep, last_name="Pushed")
        Contact.objects.get().save()
    assert len(callbacks) == 1  # one push per owner and transaction
    assert [i.fields["Surname"] for i in registered.folder_items()] == ["Pushed"]
