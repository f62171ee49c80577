"""The demo's calendars (`lightningsync_demo_calendars`): after the first sync the CRM shows
the right events of the demo reps, through exchangesim and the real exchangelib."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from lightningsync.management.commands.lightningsync_demo import seed_demo_org
from lightningsync.management.commands.lightningsync_demo_calendars import (
    ALICE,
    BOB,
    NOT_SYNCED,
    SYNCED,
    seed_calendars,
)
from lightningsync.models import Event, EventLink, User
from syncengine.cycle.runner import sync_user

from .ews_fixtures import point_setup_at


@pytest.mark.django_db
def test_the_first_sync_brings_the_demo_events_that_sync(exchange_sim) -> None:
    sim = exchange_sim.sim
    for mailbox, name in ((ALICE, "Alice"), (BOB, "Bob")):
        sim.add_mailbox(mailbox, name)
    sim.create_folder(ALICE, "Salesforce_Sync")
    sim.create_contact(ALICE, folder="contacts/Salesforce_Sync", GivenName="Grace",
                       Surname="Hopper", CompanyName="Initech",
                       EmailAddresses={"EmailAddress1": "grace.hopper@initech.example"})
    seed_calendars(sim.create_event)
    seed_demo_org()
    setup = point_setup_at(exchange_sim)
    setup.additional_domains = "demo.example"
    setup.save()
    demo_events = set(Event.objects.values_list("pk", flat=True))  # the CRM's own
    reports = {}
    for mailbox in (ALICE, BOB):
        user = User.objects.get(email=mailbox)
        reports[mailbox] = sync_user(user.pk, sleep=lambda s: None)
        assert reports[mailbox].outcome == "synced", reports[mailbox].reason
    synced = Event.objects.exclude(pk__in=demo_events).select_related("owner", "who_contact")
    assert sorted((e.owner.email, e.subject) for e in synced) == sorted(
        [(ALICE, s) for s in SYNCED[:4]] + [(BOB, SYNCED[4])])
    assert not Event.objects.filter(subject__in=NOT_SYNCED).exists()
    assert EventLink.objects.filter(state="active").count() == len(SYNCED)
    kickoff = synced.get(subject="Initech kickoff")
    assert kickoff.who_contact is not None
    assert kickoff.who_contact.email == "grace.hopper@initech.example"
    offsite = synced.get(subject="Sales offsite")
    assert offsite.is_all_day and (offsite.end - offsite.start).days == 1
    alice = reports[ALICE].events
    assert alice is not None and (alice.skipped_series, alice.skipped_private) == (1, 1)
    assert "4 events added to the CRM" in reports[ALICE].summary()


def test_the_command_talks_to_the_simulator_on_the_loopback_only() -> None:
    with pytest.raises(CommandError, match=r"127\.0\.0\.1"):
        call_command("lightningsync_demo_calendars", "--sim-url", "http://exchange.example")
