"""Items Exchange refuses wait for a fix (SPEC §9), through exchangesim with a full mailbox:
tried again when they change on either side, when an admin chooses Retry, and once a day;
never at every cycle. Error rows carry the failing step's direction and kind."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from lightningsync.models import Contact, SyncConfiguration, UserSyncState
from syncengine.cycle.retry import retry_errors

from .conftest import a_day_passes
from .ews_fixtures import (  # noqa: F401
    BOTH_TRANSPORTS,
    MAILBOX,
    EwsWorld,
    crm_contact,
    errors,
    ews_fixture,
)


def _long_ago(*contacts: Contact) -> None:
    """The CRM edits are older than any cycle's look-back: only a retry rule brings them."""
    Contact.objects.filter(pk__in=[c.pk for c in contacts]).update(
        updated_at=timezone.now() - dt.timedelta(hours=2))


def _quiet_for_exchange(ews: EwsWorld, reads: bool = True) -> dict[str, int]:
    """One more cycle; the write (and read) requests it sent to Exchange."""
    ews.sim.reset_counters()
    assert ews.sync().outcome == "synced"
    ops = (ews.op("create"), ews.op("update"), *([ews.op("get_item")] if reads else []))
    counts = {op: ews.sim.request_count(op, MAILBOX) for op in ops}
    return {op: n for op, n in counts.items() if n}


def _a_day_passes(ews: EwsWorld, item_id: str) -> None:
    a_day_passes()


def _surnames(ews: EwsWorld) -> list[str]:
    return sorted(i["Surname"] for i in ews.items())


@BOTH_TRANSPORTS
def test_refused_creates_wait_for_retry_a_change_or_a_day(
        ews, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    fits, retried, changed, daily = (crm_contact(ews.rep, last_name=n)
                                     for n in ("Fits", "Retried", "Changed", "Daily"))
    ews.sim.set_quota(MAILBOX, 1)  # room for one contact
    assert ews.sync().outcome == "synced"  # a full mailbox does not stop the cycle
    assert _surnames(ews) == ["Fits"]
    refused = {e.contact.last_name: e for e in errors("item_rejected")}
    assert sorted(refused) == ["Changed", "Daily", "Retried"]
    for entry in refused.values():
        assert entry.direction == "crm_to_exchange"
        assert entry.message == ("The mailbox is full, so Exchange refused the contact: the "
                                 "user needs to free space, for example by emptying Deleted "
                                 "Items (ErrorQuotaExceeded)")
        assert entry.suggestion.startswith("Once the cause is fixed (see the message), choose "
                                           "Retry in the error report.")
    _long_ago(fits, retried, changed, daily)
    assert _quiet_for_exchange(ews) == {}  # they wait: not tried at every cycle
    ews.sim.set_quota(MAILBOX, None)  # the rep frees space, which Exchange does not tell
    assert _quiet_for_exchange(ews) == {}
    with django_capture_on_commit_callbacks(execute=True):  # Retry syncs the rep at once
        outcome = retry_errors([refused["Retried"].pk])
    assert (outcome.items, outcome.user_ids) == (1, {ews.rep.pk})
    assert _surnames(ews) == ["Fits", "Retried"]
    changed.title = "Buyer"  # its CRM record changes
    changed.save()
    ews.sync()
    assert _surnames(ews) == ["Changed", "Fits", "Retried"]
    assert _quiet_for_exchange(ews) == {}
    a_day_passes()
    ews.sync()
    assert _surnames(ews) == ["Changed", "Daily", "Fits", "Retried"]
    assert [e.resolved for e in errors("item_rejected")] == [True] * 3


def _linked_item_refused(ews: EwsWorld) -> tuple[Contact, str]:
    """A linked contact edited on both sides while the mailbox is full: the merge's write to
    Exchange (the CRM's title) is refused, and the rep's phone waits with it."""
    pat = crm_contact(ews.rep, last_name="Pat")
    ews.sync()
    (item,) = ews.items()
    ews.sim.set_quota(MAILBOX, 1)  # full
    ews.outlook.update(item["id"], BusinessPhone="+1 555 0100")
    pat.title = "Buyer"
    pat.save()
    assert ews.sync().outcome == "synced"
    (entry,) = errors("item_rejected")
    assert (entry.direction, entry.exchange_item_id, entry.contact_id) == (
        "crm_to_exchange", ews.id_of(item), pat.pk)
    _long_ago(pat)
    assert _quiet_for_exchange(ews) == {}
    ews.sim.set_quota(MAILBOX, None)
    assert _quiet_for_exchange(ews) == {}
    return pat, item["id"]


def _retry(ews: EwsWorld, item_id: str) -> None:
    (entry,) = errors("item_rejected")
    retry_errors([entry.pk])


def _exchange_changes(ews: EwsWorld, item_id: str) -> None:
    ews.outlook.update(item_id, MobilePhone="+1 555 0199")


def _crm_changes(ews: EwsWorld, item_id: str) -> None:
    pat = Contact.objects.get(last_name="Pat")
    pat.department = "Sales"
    pat.save()


@BOTH_TRANSPORTS
@pytest.mark.parametrize("rule", [_retry, _exchange_changes, _crm_changes, _a_day_passes])
def test_a_refused_write_of_a_linked_item_is_tried_again_by_each_rule(ews, rule) -> None:  # type: ignore[no-untyped-def]
    pat, item_id = _linked_item_refused(ews)
    rule(ews, item_id)
    assert ews.sync().outcome == "synced"
    (item,) = ews.items()
    pat.refresh_from_db()
    # Both edits arrived on both sides, whichever rule brought the item back.
    assert (item.get("JobTitle"), item["PhoneNumbers"]["BusinessPhone"]) == (
        "Buyer", "+1 555 0100")
    assert (pat.title, pat.phone) == ("Buyer", "+1 555 0100")
    assert [e.resolved for e in errors("item_rejected")] == [True]
    # Over Graph, the cycle after our write may read the contact's stamps once (the
    # transport knows a contact's stamps at the change keys it wrote only when it read it
    # before): a read of our own write, not a retry.
    assert _quiet_for_exchange(ews, reads=ews.transport == "ews") == {}


@BOTH_TRANSPORTS
def test_rows_carry_the_failing_steps_direction(ews) -> None:  # type: ignore[no-untyped-def]
    ews.sim.create_folder(MAILBOX, "Salesforce_Sync", parent="contacts")
    ews.outlook.create({"Surname": "Imported", "CompanyName": "Nowhere Inc"})
    crm_contact(ews.rep, last_name="Pushed")
    ews.sim.set_quota(MAILBOX, 1)
    assert ews.config.contacts_direction == "both"
    ews.sync()
    kinds = {(e.kind, e.direction) for e in errors()}
    assert kinds == {("unresolved_account", "exchange_to_crm"),  # the pull's
                     ("item_rejected", "crm_to_exchange")}  # the push's


@BOTH_TRANSPORTS
def test_selected_contacts_without_the_users_records_pause_as_a_filter_error(ews) -> None:  # type: ignore[no-untyped-def]
    crm_contact(ews.rep, last_name="Waiting")
    SyncConfiguration.objects.filter(pk=ews.config.pk).update(contacts_ownership="selected")
    report = ews.sync()
    assert report.outcome == "paused" and ews.sim.request_count(mailbox=MAILBOX) == 0
    (entry,) = errors()
    assert (entry.kind, entry.direction) == ("filter", "crm_to_exchange")
    assert "selects contacts without the user's records" in entry.message
    assert "Saving the configuration resumes" in entry.suggestion
    assert ews.state().paused_reason == UserSyncState.PauseReason.CONFIGURATION
    assert ews.sync().outcome == "paused"
    ews.configure(contacts_ownership="users_records")  # the admin fixes the configuration
    assert ews.sync().outcome == "synced"
    assert [i["Surname"] for i in ews.items()] == ["Waiting"]
    entry.refresh_from_db()
    assert entry.resolved


@BOTH_TRANSPORTS
def test_retry_resumes_a_paused_user_and_leaves_other_rows_alone(ews) -> None:  # type: ignore[no-untyped-def]
    ews.fault("refused", count=10)  # the service account's or the app's access
    assert ews.sync().outcome == "paused"
    ews.sim.clear_faults()  # fixed on the Exchange side; Setup unchanged
    assert ews.sync().outcome == "paused"
    (auth,) = errors()
    outcome: Any = retry_errors([auth.pk])
    assert (outcome.users_resumed, outcome.not_retryable) == (1, 0)
    assert ews.sync().outcome == "synced"
    auth.refresh_from_db()
    assert auth.resolved


# --- values longer than Exchange takes ----------------------------------------------------------
# Exchange stores at most 256 UTF-16 code units in GivenName (most emoji count two) and
# exchangelib sends at most 255 characters there; a CRM first name holds at most 40. The two
# limits are lowered here, to 20 code units and 25 characters, so that a CRM first name meets
# both: "A" * 30 stands for 300 characters, 15 emoji (30 code units) for 200 emoji.
LONG = "A" * 30
EMOJI = "\U0001f600" * 15
SHORTEN = ("Shorten the First Name in the CRM (Exchange counts most emoji as two characters); "
           "the contact syncs at its next change.")


@pytest.fixture
def lower_limits(monkeypatch):  # type: ignore[no-untyped-def]
    from exchangelib import Contact as EwsContact

    from exchangesim import limits

    monkeypatch.setitem(limits.REFUSED_PAST, "GivenName", 20)
    monkeypatch.setattr(EwsContact.get_field_by_fieldname("given_name"), "max_length", 25)


def test_a_first_name_too_long_for_exchange_is_an_item_error_that_waits(
        ews, lower_limits) -> None:  # type: ignore[no-untyped-def]
    before, long, emoji, after = (
        crm_contact(ews.rep, first_name=first, last_name=last)
        for first, last in (("Ada", "Before"), (LONG, "Long"), (EMOJI, "Emoji"), ("Bo", "After")))
    report = ews.sync()
    assert report.outcome == "synced"  # not a failed cycle
    assert report.contacts.exchange_created == 2  # the others of the chunk went through
    assert _surnames(ews) == ["After", "Before"]
    refused = {e.contact_id: e for e in errors("item_rejected")}
    assert sorted(refused) == sorted([long.pk, emoji.pk])
    for entry in refused.values():
        assert (entry.direction, entry.suggestion, entry.resolved) == (
            "crm_to_exchange", SHORTEN, False)
    assert refused[long.pk].message == (
        "GivenName is 30 characters long; Exchange takes at most 25, so the contact was not sent")
    assert refused[emoji.pk].message.startswith("GivenName is longer than Exchange takes")
    # The next cycles do not send them again while they are unchanged.
    _long_ago(before, long, emoji, after)
    assert _quiet_for_exchange(ews) == {}
    assert [e.count for e in errors("item_rejected")] == [1, 1]

    # An update too long for Exchange fails alone, too: the other update of the chunk goes.
    before.first_name, before.title = LONG, "CFO"
    before.save()
    after.title = "CEO"
    after.save()
    assert ews.sync().outcome == "synced"
    jobs = {i["Surname"]: (i["GivenName"], i.get("JobTitle")) for i in ews.items()}
    assert jobs == {"Before": ("Ada", None), "After": ("Bo", "CEO")}
    entry = next(e for e in errors("item_rejected") if e.contact_id == before.pk)
    assert (entry.exchange_item_id != "", entry.suggestion) == (True, SHORTEN)
    Contact.objects.filter(pk=before.pk).update(
        updated_at=timezone.now() - dt.timedelta(hours=2))
    assert _quiet_for_exchange(ews) == {}

    # Shortened in the CRM: each syncs at its next change, and its entry is resolved.
    for contact, first in ((long, "Al"), (emoji, "\U0001f600" * 10), (before, "Ada")):
        contact.first_name = first
        contact.save()
    assert ews.sync().outcome == "synced"
    names = {i["Surname"]: (i["GivenName"], i.get("JobTitle")) for i in ews.items()}
    assert names == {"After": ("Bo", "CEO"), "Before": ("Ada", "CFO"), "Long": ("Al", None),
                     "Emoji": ("\U0001f600" * 10, None)}
    assert [e.resolved for e in errors("item_rejected")] == [True] * 3
