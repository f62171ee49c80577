"""mbsync's test: interrupt a cycle after every step, resume, and expect the uninterrupted
result; then sync again and expect no writes at all."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import transaction

from lightningsync.models import Contact, ContactLink, FolderCursor
from syncengine.contacts.state import ContactCycle
from syncengine.cycle.reset import mark_for_reset
from syncengine.cycle.runner import sync_user
from syncengine.transports.memory import MemoryTransport
from syncengine.transports.protocol import sent_now
from tests.factories import UserFactory

from .conftest import OnceAt, crm_contact, crm_state, exchange_state


class SimulatedCrash(BaseException):
    """A worker killed mid-cycle: no handler of the engine catches it."""


class CrashAfterWrite:
    """The worker dies right after the n-th item Exchange wrote: between the requests of a
    chunk (the EWS transport sends a chunk as several requests) as much as between chunks.
    The transport writes item by item here, so the crash can fall after any of them."""

    def __init__(self, inner: MemoryTransport, at: int) -> None:
        self.inner, self.at, self.writes = inner, at, 0

    def __getattr__(self, name: str) -> Any:
        if name == "start_update_items":
            # Sent at once, the crash handed over with the answer, as from a thread.
            return lambda updates: sent_now(lambda: self.update_items(updates))
        attr = getattr(self.inner, name)
        if name not in ("create_items", "update_items", "delete_items"):
            return attr

        def call(*args: Any) -> Any:
            *head, items = args
            results = []
            for item in items:
                results += attr(*head, [item])
                self.writes += 1
                if self.writes == self.at:
                    raise SimulatedCrash(name)
            return results

        return call


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of two: every page's stamping, and every push, takes several chunks."""
    monkeypatch.setattr(ContactCycle, "chunk_size", 2)


def _initial(rep, mailbox: MemoryTransport) -> None:  # type: ignore[no-untyped-def]
    for n in range(5):
        crm_contact(rep, last_name=f"Crm{n}", title="Buyer")
    for n in range(3):
        mailbox.rep_create({"Surname": f"Ex{n}", "BusinessPhone": f"55{n}"})
    # Matched by email, each side missing a field of the other: an update of the item, which
    # carries the stamps.
    crm_contact(rep, last_name="Pair", email="pair@x.test", title="Buyer")
    mailbox.rep_create({"Surname": "Pair", "EmailAddress1": "pair@x.test", "BusinessPhone": "7"})
    # No email, no last name: only its stamp finds it again after a crash or a reset.
    mailbox.rep_create({"GivenName": "Nameless", "JobTitle": "Temp"})


def _changes(rep, mailbox: MemoryTransport) -> None:  # type: ignore[no-untyped-def]
    Contact.objects.filter(last_name="Crm0").update(title="Chief")
    Contact.objects.filter(last_name="Crm1").delete()
    crm_contact(rep, last_name="CrmNew")
    items = {i.fields.get("Surname"): i.id for i in mailbox.folder_items()}
    mailbox.rep_update(items["Ex0"], BusinessPhone="999")
    mailbox.rep_delete(items["Ex1"])
    mailbox.rep_create({"Surname": "ExNew", "EmailAddress1": "shared@x.test"})
    for n in range(3):  # imported, linked without a write: stamped in two chunks
        mailbox.rep_create({"Surname": f"ExLate{n}", "JobTitle": "Temp"})
    mailbox.rep_update(items["Crm2"], BusinessPhone="123")
    Contact.objects.filter(last_name="Crm2").update(title="Boss")
    crm_contact(UserFactory(username="other"), last_name="Shared", email="SHARED@x.test")


def _cycle(rep, transport, checkpoint=None) -> Any:  # type: ignore[no-untyped-def]
    return sync_user(rep.pk, transport_factory=lambda settings: transport, checkpoint=checkpoint,
                     sleep=lambda s: None, page_size=3)


def _world(rep, org, phase: str) -> MemoryTransport:  # type: ignore[no-untyped-def]
    mailbox = MemoryTransport(org_id=str(org.org_id))
    _initial(rep, mailbox)
    if phase == "incremental":
        _cycle(rep, mailbox)
        _changes(rep, mailbox)
    return mailbox


def _end_state(mailbox: MemoryTransport) -> tuple[Any, ...]:
    links = sorted(ContactLink.objects.values_list("state", "contact__last_name", "needs_stamp"),
                   key=repr)
    # Every linked item carries our stamps, naming its CRM contact (SPEC §8).
    names = dict(Contact.objects.values_list("pk", "last_name"))
    stamps = sorted(
        ((i.fields.get("Surname") or i.fields.get("GivenName"), i.org_stamp == mailbox.org_id,
          names.get(int(i.crm_stamp)) if i.crm_stamp else None)
         for i in mailbox.folder_items()), key=repr)
    pending = list(FolderCursor.objects.values_list("stamps_pending", flat=True))
    return crm_state(), exchange_state(mailbox), links, stamps, pending


def _in_rollback(fn: Callable[[], Any]) -> Any:
    with transaction.atomic():
        result = fn()
        transaction.set_rollback(True)
    return result


@pytest.mark.parametrize("phase", ["initial", "incremental"])
def test_a_crash_after_any_step_resumes_to_the_same_end_state(rep, config, org, phase) -> None:  # type: ignore[no-untyped-def]
    steps: list[str] = []

    def reference() -> Any:
        mailbox = _world(rep, org, phase)
        counting = CrashAfterWrite(mailbox, at=0)
        assert _cycle(rep, counting, checkpoint=steps.append).outcome == "synced"
        return _end_state(mailbox), counting.writes

    expected, write_calls = _in_rollback(reference)
    # Pages, and every chunk's write and commit (stamps, creates, updates, removals): the
    # test interrupts each.
    assert {"stamps_written", "stamped", "exchange_written", "push_committed"} <= set(steps)
    assert steps.count("stamped") >= 2

    def crash_at_step(n: int) -> None:
        mailbox = _world(rep, org, phase)
        seen = 0

        def checkpoint(step: str) -> None:
            nonlocal seen
            seen += 1
            if seen == n:
                raise SimulatedCrash(step)

        with pytest.raises(SimulatedCrash):
            _cycle(rep, mailbox, checkpoint=checkpoint)
        _assert_resumes(rep, mailbox, expected, f"step {n} ({steps[n - 1]})")

    def crash_after_write(n: int) -> None:
        mailbox = _world(rep, org, phase)
        with pytest.raises(SimulatedCrash):
            _cycle(rep, CrashAfterWrite(mailbox, n))
        _assert_resumes(rep, mailbox, expected, f"write call {n}")

    for n in range(1, len(steps) + 1):
        _in_rollback(lambda n=n: crash_at_step(n))
    assert write_calls >= 8
    for n in range(1, write_calls + 1):
        _in_rollback(lambda n=n: crash_after_write(n))


def _assert_resumes(rep, mailbox: MemoryTransport, expected: Any, where: str) -> None:  # type: ignore[no-untyped-def]
    report = _cycle(rep, mailbox)
    assert report.outcome == "synced", where
    assert _end_state(mailbox) == expected, where
    mailbox.reset_counters()
    again = _cycle(rep, mailbox)
    assert again.contacts.written == 0 and not mailbox.writes, where


# --- stamps survive a crash between a page's commit and its stamping ---------------------
def _crash_at(step_name: str) -> OnceAt:
    def crash() -> None:
        raise SimulatedCrash(step_name)

    return OnceAt(step_name, crash)


def test_items_linked_before_a_crash_at_the_commit_are_stamped_on_resume(sync, rep, mailbox, org):
    imported = mailbox.rep_create({"Surname": "Imported", "EmailAddress1": "imp@x.test"})
    matched = mailbox.rep_create({"Surname": "Matched", "EmailAddress1": "m@x.test"})
    crm_contact(rep, last_name="Matched", email="m@x.test")
    with pytest.raises(SimulatedCrash):
        sync(checkpoint=_crash_at("page_committed"))
    assert sync().outcome == "synced"          # resume
    assert sync().outcome == "synced"          # and one more quiet cycle
    stamps = {}
    for item_id in (imported, matched):
        stored = mailbox.mailbox.items[item_id]
        link = ContactLink.objects.get(exchange_id=item_id)
        stamps[stored.fields["Surname"]] = (stored.org_stamp == str(org.org_id),
                                           stored.crm_stamp == str(link.contact_id))
    assert stamps == {"Imported": (True, True), "Matched": (True, True)}


def test_a_crash_before_stamping_then_a_crm_delete_and_a_reset_resurrect_nothing(  # type: ignore[no-untyped-def]
        sync, rep, mailbox) -> None:
    mailbox.rep_create({"Surname": "Doomed", "EmailAddress1": "doomed@x.test"})
    with pytest.raises(SimulatedCrash):
        sync(checkpoint=_crash_at("page_committed"))  # imported, linked, not stamped
    assert sync().outcome == "synced"
    Contact.objects.filter(last_name="Doomed").delete()  # deleted in the CRM ...
    mark_for_reset(rep)                                  # ... and the user is reset
    assert sync().outcome == "synced"
    # SPEC §4: a deleted CRM contact never comes back; its copy goes to Deleted Items.
    assert list(Contact.objects.values_list("last_name", flat=True)) == []


def test_without_a_crash_a_crm_delete_and_a_reset_resurrect_nothing(sync, rep, mailbox):
    mailbox.rep_create({"Surname": "Doomed", "EmailAddress1": "doomed@x.test"})
    assert sync().outcome == "synced"
    Contact.objects.filter(last_name="Doomed").delete()
    mark_for_reset(rep)
    assert sync().outcome == "synced"
    assert list(Contact.objects.values_list("last_name", flat=True)) == []


def test_a_refused_stamp_is_written_by_the_next_cycle(sync, rep, mailbox, org) -> None:  # type: ignore[no-untyped-def]
    from lightningsync.models import FolderCursor
    from syncengine.transports.protocol import ErrorKind

    item_id = mailbox.rep_create({"Surname": "Later", "EmailAddress1": "later@x.test"})
    mailbox.reject_item(item_id, ErrorKind.PERMANENT_ITEM, "ErrorItemSave")
    assert sync().outcome == "synced"
    stored = mailbox.mailbox.items[item_id]
    assert stored.crm_stamp is None and ContactLink.objects.get().needs_stamp
    assert FolderCursor.objects.get().stamps_pending
    mailbox.clear_faults()
    mailbox.reset_counters()
    assert sync().outcome == "synced"
    contact = Contact.objects.get()
    assert (stored.org_stamp, stored.crm_stamp) == (str(org.org_id), str(contact.pk))
    assert not ContactLink.objects.get().needs_stamp
    assert not FolderCursor.objects.get().stamps_pending
    assert mailbox.writes == {"update": 1}
    mailbox.reset_counters()
    assert sync().contacts.written == 0 and not mailbox.writes


def test_a_crash_between_stamping_chunks_leaves_no_item_unstamped(rep, config, org) -> None:  # type: ignore[no-untyped-def]
    """One page of five imports, stamped in chunks of two: the worker dies after the second
    chunk's write, before its commit. Every item carries its stamps after the next cycle."""
    config.contacts_direction = "exchange_to_crm"
    config.save()
    mailbox = MemoryTransport(org_id=str(org.org_id))
    for n in range(5):
        mailbox.rep_create({"Surname": f"Ex{n}", "EmailAddress1": f"ex{n}@x.test"})
    crashing = CrashAfterWrite(mailbox, at=4)
    with pytest.raises(SimulatedCrash):
        sync_user(rep.pk, transport_factory=lambda settings: crashing, sleep=lambda s: None)
    assert _cycle(rep, mailbox).outcome == "synced"
    names = dict(Contact.objects.values_list("pk", "last_name"))
    stamps = sorted((i.fields["Surname"], i.org_stamp == mailbox.org_id,
                     names.get(int(i.crm_stamp)) if i.crm_stamp else None)
                    for i in mailbox.folder_items())
    assert stamps == [(f"Ex{n}", True, f"Ex{n}") for n in range(5)]
    assert not ContactLink.objects.filter(needs_stamp=True).exists()
    assert not FolderCursor.objects.get().stamps_pending
