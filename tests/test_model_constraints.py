"""Database constraints that back the rules the pages check (a race cannot get around them)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, transaction

from lightningsync.models import LightningSyncSetup, SyncConfiguration
from tests.factories import ContactFactory, EventFactory, LeadFactory, UserFactory


def test_configuration_names_are_unique_ignoring_case(db) -> None:
    SyncConfiguration.objects.create(name="West reps")
    with pytest.raises(IntegrityError), transaction.atomic():
        SyncConfiguration.objects.create(name="west REPS")


def test_user_emails_are_unique_ignoring_case(db) -> None:
    UserFactory(email="Alice@Example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        UserFactory(email="alice@example.com")
    UserFactory(email="")
    UserFactory(email="")  # users without an email are allowed, several of them


def test_an_event_relates_to_a_contact_or_a_lead_not_both(db) -> None:
    owner = UserFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        EventFactory(
            owner=owner, who_contact=ContactFactory(owner=owner), who_lead=LeadFactory(owner=owner)
        )


def test_an_event_cannot_end_before_it_starts(db) -> None:
    start = dt.datetime(2026, 1, 1, 10, tzinfo=dt.UTC)
    with pytest.raises(IntegrityError), transaction.atomic():
        EventFactory(start=start, end=start - dt.timedelta(minutes=1))


def test_there_is_one_setup_row(db) -> None:
    assert LightningSyncSetup.load().pk == LightningSyncSetup.load().pk == 1
    with pytest.raises(IntegrityError), transaction.atomic():
        LightningSyncSetup.objects.create(id=2)
