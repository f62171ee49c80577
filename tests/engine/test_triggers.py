"""What starts a sync between schedules: saving a configuration, and migrating."""

from __future__ import annotations

from django.core.management import call_command
from django_q.models import Schedule

from lightningsync import configurations
from lightningsync.effective import users_of
from syncengine import tasks
from syncengine.transports import connect
from tests.factories import ProfileFactory, SyncConfigurationFactory, UserFactory

from .conftest import crm_contact


def test_saving_an_active_configuration_syncs_its_users(
    rep, org, mailbox, django_capture_on_commit_callbacks, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    # Restored afterwards: the EWS transport registers itself only once, at import.
    monkeypatch.setitem(connect._registry, "service_account", lambda settings: mailbox)
    crm_contact(rep, last_name="Waiting")
    spec = configurations.spec_from_dict(
        {"name": "Reps", "users": [rep.email], "contacts": {"direction": "both"}}
    )
    with django_capture_on_commit_callbacks(execute=True):
        configurations.save(spec, user=None)
    # Q_CLUSTER runs tasks inline in tests: the rep's contact is already in Exchange.
    assert [i.fields["Surname"] for i in mailbox.folder_items()] == ["Waiting"]


def test_saving_an_inactive_configuration_syncs_nobody(
    rep, org, mailbox, django_capture_on_commit_callbacks, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setitem(connect._registry, "service_account", lambda settings: mailbox)
    crm_contact(rep, last_name="Waiting")
    spec = configurations.spec_from_dict({"name": "Off", "active": False, "users": [rep.email]})
    with django_capture_on_commit_callbacks(execute=True):
        configurations.save(spec, user=None)
    assert mailbox.folder_items() == []


def test_users_of_follows_the_precedence_rules(db) -> None:  # type: ignore[no-untyped-def]
    sales = ProfileFactory(name="Sales")
    direct, by_profile, elsewhere = (UserFactory(profile=sales) for _ in range(3))
    other = SyncConfigurationFactory(name="Other", users=[elsewhere])
    config = SyncConfigurationFactory(name="Main", users=[direct], profiles=[sales])
    assert users_of(config) == sorted([direct.pk, by_profile.pk])
    assert users_of(other) == [elsewhere.pk]


def test_migrate_creates_the_schedule_once(db) -> None:  # type: ignore[no-untyped-def]
    Schedule.objects.all().delete()
    call_command("migrate", verbosity=0)
    call_command("migrate", verbosity=0)
    (schedule,) = Schedule.objects.filter(name=tasks.SCHEDULE_NAME)
    assert schedule.func == "syncengine.tasks.enqueue_all_users"
