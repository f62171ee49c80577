"""The claim's lease and heartbeat (SPEC §12): a dead worker's claim lapses within 2 minutes,
a live cycle keeps its claim however long it runs, and a cycle that lost its claim stops
before writing. (A worker killed with SIGKILL: test_kill9.py.)

The cycles here run with a lease of two seconds; those that need the heartbeat thread (its own
database connection) run outside the test's transaction."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.db import OperationalError
from django.utils import timezone

from lightningsync.models import Contact, ContactLink, UserSyncState
from syncengine.cycle import claims

from .conftest import OnceAt

transactional = pytest.mark.django_db(transaction=True)


def _claim(user) -> tuple[str, dt.datetime | None]:  # type: ignore[no-untyped-def]
    state = UserSyncState.objects.get(user=user)
    return state.claim_token, state.claimed_until


def test_a_claim_expires_within_two_minutes_by_default(rep) -> None:  # type: ignore[no-untyped-def]
    before = timezone.now()
    claims.claim(rep.pk)
    token, until = _claim(rep)
    assert token and until is not None
    # SPEC §12: taken over within 2 minutes of the worker's death (its last renewal).
    assert until <= before + dt.timedelta(minutes=2)


@transactional
def test_a_live_cycle_keeps_its_claim_for_longer_than_its_lease(  # type: ignore[no-untyped-def]
        sync, rep, mailbox, settings) -> None:
    settings.LIGHTNINGSYNC_CLAIM_LEASE_SECONDS = 2
    mailbox.rep_create({"Surname": "Slow"})
    seen: dict[str, object] = {}

    def another_worker_meanwhile() -> None:
        started = timezone.now()
        time.sleep(4.5)  # two and a quarter leases in one step (a long request to Exchange)
        seen["busy"] = sync().outcome  # another worker tries the user
        token, until = _claim(rep)
        seen["renewed"] = token != "" and until is not None and until > started + dt.timedelta(
            seconds=3)

    report = sync(checkpoint=OnceAt("page_listed", another_worker_meanwhile))
    assert report.outcome == "synced", report.summary()
    assert seen == {"busy": "busy", "renewed": True}
    assert list(Contact.objects.values_list("last_name", flat=True)) == ["Slow"]
    assert _claim(rep) == ("", None)  # released


@transactional
def test_a_cycle_whose_claim_was_taken_over_stops_before_writing(  # type: ignore[no-untyped-def]
        sync, rep, mailbox, settings) -> None:
    settings.LIGHTNINGSYNC_CLAIM_LEASE_SECONDS = 2
    mailbox.rep_create({"Surname": "Contested"})
    later = timezone.now() + dt.timedelta(minutes=1)

    def taken_over() -> None:  # the lease lapsed (a stalled process) and another took over
        UserSyncState.objects.filter(user=rep).update(claim_token="other", claimed_until=later)
        time.sleep(1.5)  # the heartbeat's next renewal finds the claim gone

    report = sync(checkpoint=OnceAt("page_listed", taken_over))
    assert report.outcome == "busy" and "took this user over" in report.reason
    assert not mailbox.writes and Contact.objects.count() == 0
    assert ContactLink.objects.count() == 0
    assert _claim(rep) == ("other", later)  # the new owner's claim is left alone


@transactional
def test_a_cycle_that_cannot_renew_its_claim_stops_before_its_lease_runs_out(  # type: ignore[no-untyped-def]
        sync, rep, mailbox, settings, monkeypatch) -> None:
    settings.LIGHTNINGSYNC_CLAIM_LEASE_SECONDS = 2
    mailbox.rep_create({"Surname": "Unrenewed"})

    def unreachable(state_pk: int, token: str) -> bool:
        raise OperationalError("the database went away")

    def database_down() -> None:
        monkeypatch.setattr(claims, "renew", unreachable)
        time.sleep(1.5)  # past two thirds of the lease without a renewal

    report = sync(checkpoint=OnceAt("page_listed", database_down))
    assert report.outcome == "busy" and "could not be renewed" in report.reason
    assert not mailbox.writes and Contact.objects.count() == 0
