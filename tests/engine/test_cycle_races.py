"""Races and edges inside one cycle, over the memory mailbox: the rep deletes or opens an item
between our read and our write, empties Salesforce_Sync through a bulk edit, a match at the
contact limit, "most recent change wins" after a stale change key, refused writes tried again,
a filter removal seen only by the listing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from lightningsync.models import Contact, ContactLink, LightningSyncError, UserSyncState
from syncengine.contacts import sync as contacts_module
from syncengine.transports.memory import MemoryTransport
from tests.factories import UserFactory

from .conftest import a_day_passes, crm_contact


class DeleteAfterRead:
    def __init__(self, inner: MemoryTransport):
        self.inner, self.armed = inner, True

    def __getattr__(self, name):
        attr = getattr(self.inner, name)
        if name != "get_items":
            return attr

        def call(folder, ids, fields):
            result = attr(folder, ids, fields)
            if self.armed:
                self.armed = False
                for i in ids:
                    self.inner.rep_delete(i)     # the rep deletes it a moment later
            return result
        return call


def test_an_item_deleted_mid_cycle_is_not_an_unresolvable_item_rejected(sync, rep, mailbox):
    c = crm_contact(rep, last_name="Racy", title="Buyer")
    sync()
    (item,) = mailbox.folder_items()
    mailbox.rep_update(item.id, BusinessPhone="1")   # Exchange side changed: pull fetches it
    c.title = "Chief"                                 # CRM side changed: pull patches Exchange
    c.save()
    sync(transport=DeleteAfterRead(mailbox))
    sync()                                            # the next listing reports the delete
    assert ContactLink.objects.get().state == "detached"
    open_rejections = list(LightningSyncError.objects.filter(kind="item_rejected",
                                                             resolved=False)
                           .values_list("message", flat=True))
    assert open_rejections == []


class TouchBeforeFirstUpdate:
    def __init__(self, inner: MemoryTransport):
        self.inner, self.armed = inner, True

    def __getattr__(self, name):
        attr = getattr(self.inner, name)
        if name != "update_items":
            return attr

        def call(updates):
            if self.armed:
                self.armed = False
                for u in updates:
                    self.inner.touch(u.ref.id)     # the rep opens the item meanwhile
            return attr(updates)
        return call


def _world(rep, mailbox, config):
    config.conflict_policy = "most_recent"
    config.save()
    crm_contact(UserFactory(username="other"), last_name="Lee", email="lee@x.test",
                title="Old title", phone="1")
    mailbox.mailbox.clock = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)  # Exchange newer
    mailbox.rep_create({"Surname": "Lee", "EmailAddress1": "lee@x.test",
                        "JobTitle": "New title"})


def test_most_recent_without_a_stale_key(sync, rep, mailbox, config):
    _world(rep, mailbox, config)
    sync()
    assert Contact.objects.get().title == "New title"


def test_most_recent_after_a_stale_key(sync, rep, mailbox, config):
    _world(rep, mailbox, config)
    sync(transport=TouchBeforeFirstUpdate(mailbox))
    assert Contact.objects.get().title == "New title"


def test_a_matched_item_is_not_linked_beyond_the_limit(sync, rep, mailbox, monkeypatch):
    monkeypatch.setattr(contacts_module, "MAX_SYNCED_CONTACTS", 2)
    for n in range(2):
        crm_contact(rep, last_name=f"Crm{n}")
    sync()
    assert ContactLink.objects.filter(state="active").count() == 2      # at the limit
    crm_contact(UserFactory(username="other"), last_name="Theirs", email="t@x.test")
    mailbox.rep_create({"Surname": "Theirs", "EmailAddress1": "t@x.test"})
    sync()
    active = ContactLink.objects.filter(state="active", exchange_id__isnull=False).count()
    assert active == 2
    assert list(LightningSyncError.objects.values_list("kind", flat=True)) == ["limit"]
    assert Contact.objects.count() == 3  # nothing new, and nothing imported twice


class EmptiedBeforeRead:
    def __init__(self, inner: MemoryTransport):
        self.inner = inner

    def __getattr__(self, name):
        attr = getattr(self.inner, name)
        if name != "get_items":
            return attr

        def call(folder, ids, fields):
            for i in list(self.inner.folder_items()):
                self.inner.rep_delete(i.id)      # the rep empties Salesforce_Sync meanwhile
            return attr(folder, ids, fields)
        return call


def test_an_emptied_folder_seen_through_getitem_still_trips_the_guard(sync, rep, mailbox):
    for n in range(25):
        crm_contact(rep, last_name=f"Guarded{n:02}")
    sync()
    for item in mailbox.folder_items():
        mailbox.rep_update(item.id, JobTitle="Categorised")   # a bulk edit in Outlook
    report = sync(transport=EmptiedBeforeRead(mailbox))
    assert mailbox.folder_items() == []
    detached = ContactLink.objects.filter(state="detached").count()
    assert report.outcome == "paused" and detached == 0, (report.outcome, detached,
        UserSyncState.objects.get(user=rep).contacts_paused_reason)


def test_a_refused_removal_waits_and_is_tried_again_daily_and_on_retry(  # type: ignore[no-untyped-def]
    sync, rep, mailbox, config
) -> None:
    from django.utils import timezone

    from lightningsync.models import ContactFilter
    from syncengine.cycle.retry import retry_errors
    from syncengine.transports.protocol import ErrorKind

    config.contacts_direction = "crm_to_exchange"
    config.save()
    ContactFilter.objects.create(configuration=config, field="title", operator="equals",
                                 value="Buyer")
    leaving = crm_contact(rep, last_name="Leaving", title="Buyer")
    sync()
    (item,) = mailbox.folder_items()
    leaving.title = "Retired"
    leaving.save()
    mailbox.reject_item(item.id, ErrorKind.PERMANENT_ITEM, "ErrorCannotDeleteObject")
    sync()
    (entry,) = LightningSyncError.objects.filter(kind="item_rejected")
    assert "ErrorCannotDeleteObject" in entry.message and entry.contact_id == leaving.pk
    assert entry.direction == "crm_to_exchange"
    # Long after the edit (older than any watermark): the refused removal waits for a fix.
    Contact.objects.filter(pk=leaving.pk).update(
        updated_at=timezone.now() - dt.timedelta(hours=1))
    mailbox.reset_counters()
    sync()
    assert "delete_items" not in mailbox.calls
    a_day_passes()
    sync()  # its daily try: still refused, reported again (folded)
    entry.refresh_from_db()
    assert entry.count == 2 and not entry.resolved and mailbox.calls["delete_items"] == 1
    mailbox.clear_faults()
    mailbox.reset_counters()
    sync()  # fixed, but not due before tomorrow: nothing yet
    assert "delete_items" not in mailbox.calls and len(mailbox.folder_items()) == 1
    assert retry_errors([entry.pk]).items == 1  # the admin's Retry
    sync()
    assert mailbox.folder_items() == []
    entry.refresh_from_db()
    assert entry.resolved


def test_a_full_mailbox_refuses_creates_without_pausing_and_they_follow_on_their_daily_try(  # type: ignore[no-untyped-def]
    sync, rep, mailbox
) -> None:
    from exchangelib import errors as ews

    from syncengine.transports.ews.errors import item_failure

    failure = item_failure(None, ews.ErrorQuotaExceeded("The mailbox quota was exceeded."))
    first = crm_contact(rep, last_name="First")
    sync()
    waiting = crm_contact(rep, last_name="Waiting")
    mailbox.reject_item(str(waiting.pk), failure.kind, failure.message)
    report = sync()
    assert report.outcome == "synced"
    assert [i.fields["Surname"] for i in mailbox.folder_items()] == ["First"]
    (entry,) = LightningSyncError.objects.filter(kind="item_rejected")
    assert entry.message.startswith("The mailbox is full") and entry.contact_id == waiting.pk
    Contact.objects.filter(pk=waiting.pk).update(
        updated_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    mailbox.clear_faults()  # the rep empties Deleted Items
    sync()
    assert [i.fields["Surname"] for i in mailbox.folder_items()] == ["First"]  # it waits
    a_day_passes()
    sync()
    assert sorted(i.fields["Surname"] for i in mailbox.folder_items()) == ["First", "Waiting"]
    entry.refresh_from_db()
    assert entry.resolved and first.pk != waiting.pk


@pytest.mark.parametrize("crash", [False, True])
def test_a_contact_back_in_the_filters_is_pushed_again_even_after_a_crash(  # type: ignore[no-untyped-def]
    rep, config, org, mailbox, crash
) -> None:
    from lightningsync.models import ContactFilter
    from syncengine.cycle.runner import sync_user

    from .crash_harness import CrashAfterWrite, SimulatedCrash

    config.contacts_direction = "crm_to_exchange"
    config.save()
    ContactFilter.objects.create(configuration=config, field="title", operator="equals",
                                 value="Buyer")

    def run(transport: Any) -> Any:
        return sync_user(rep.pk, transport_factory=lambda settings: transport, sleep=lambda s: None)

    fickle = crm_contact(rep, last_name="Fickle", title="Buyer")
    run(mailbox)
    fickle.title = "Retired"
    fickle.save()
    if crash:
        with pytest.raises(SimulatedCrash):
            run(CrashAfterWrite(1)(mailbox))  # dies right after the removal's DeleteItem
    run(mailbox)
    assert mailbox.folder_items() == [] and not ContactLink.objects.exists()
    fickle.title = "Buyer"  # back in the filters
    fickle.save()
    run(mailbox)
    assert [i.fields["Surname"] for i in mailbox.folder_items()] == ["Fickle"]


class _CrashAfterDelete:
    """The worker dies right after the push's DeleteItem went through."""

    def __init__(self, inner: MemoryTransport) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name != "delete_items":
            return attr

        def call(*args: Any) -> Any:
            from .crash_harness import SimulatedCrash

            attr(*args)
            raise SimulatedCrash(name)

        return call


def test_back_in_the_filters_before_the_cycle_after_a_crash_following_our_removal(  # type: ignore[no-untyped-def]
    sync, rep, mailbox, config
) -> None:
    from lightningsync.models import ContactFilter

    from .crash_harness import SimulatedCrash

    ContactFilter.objects.create(configuration=config, field="title", operator="equals",
                                 value="Buyer")
    flip = crm_contact(rep, last_name="Flip", title="Buyer")
    sync()
    flip.title = "Retired"  # leaves the filters: the push removes the copy ...
    flip.save()
    with pytest.raises(SimulatedCrash):
        sync(transport=_CrashAfterDelete(mailbox))  # ... and the worker dies right after
    assert mailbox.folder_items() == []
    flip.title = "Buyer"  # back in the filters before the next cycle
    flip.save()
    assert sync().outcome == "synced"
    sync()
    # Nobody but the sync removed it from Salesforce_Sync: it is pushed again.
    assert [i.fields["Surname"] for i in mailbox.folder_items()] == ["Flip"]
    assert ContactLink.objects.get(contact=flip).state == ContactLink.State.ACTIVE
