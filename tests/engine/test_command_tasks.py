"""The lightningsync_sync command and the django-q2 tasks."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django_q.models import Schedule

from lightningsync.models import Contact
from syncengine import connect, tasks

from .conftest import crm_contact


@pytest.fixture
def registered(mailbox, monkeypatch):  # type: ignore[no-untyped-def]
    # Restore whatever was registered before (syncengine.ews registers itself once, at
    # import): popping the entry would leave later EWS tests without a transport.
    monkeypatch.setitem(connect._registry, "service_account", lambda user, setup: mailbox)
    return mailbox


def test_the_command_syncs_named_users_with_a_summary_line(rep, config, org, registered) -> None:  # type: ignore[no-untyped-def]
    crm_contact(rep, last_name="Cmd")
    out = StringIO()
    call_command("lightningsync_sync", "--user", "REP@example.com", stdout=out)
    assert out.getvalue().startswith("rep@example.com: synced: listed ")
    assert "Exchange +1" in out.getvalue()
    assert len(registered.folder_items()) == 1


def test_the_command_syncs_everyone_with_all(rep, config, org, registered) -> None:  # type: ignore[no-untyped-def]
    out = StringIO()
    call_command("lightningsync_sync", "--all", stdout=out)
    assert out.getvalue().splitlines() == ["rep@example.com: synced: listed 0, fetched 0, "
                                           "CRM +0 ~0, Exchange +0 ~0 -0, unlinked 0, "
                                           "conflicts 0"]


def test_the_command_refuses_unknown_users(rep, config, org) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CommandError, match=r"No user has the email nobody@example\.com"):
        call_command("lightningsync_sync", "--user", "nobody@example.com")
    with pytest.raises(CommandError, match=r"--user EMAIL"):
        call_command("lightningsync_sync")


def test_the_schedule_is_created_once(db, settings) -> None:  # type: ignore[no-untyped-def]
    settings.LIGHTNINGSYNC_SYNC_INTERVAL_MINUTES = 7
    tasks.ensure_schedule()
    tasks.ensure_schedule()
    (schedule,) = Schedule.objects.all()
    assert (schedule.minutes, schedule.func) == (7, "syncengine.tasks.enqueue_all_users")


def test_the_schedule_enqueues_one_task_per_syncing_user(rep, config, org, registered) -> None:  # type: ignore[no-untyped-def]
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
