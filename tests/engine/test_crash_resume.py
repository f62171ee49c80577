"""mbsync's test on contact sync: interrupt a cycle after every step and after every item
Exchange wrote, resume, and expect the uninterrupted result; then sync again and expect no
writes at all. Over the wire, on EWS and on Microsoft Graph (the memory transport would add
nothing the wire does not cover, at the cost of as long a run)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lightningsync.models import Contact, ContactLink, FolderCursor
from syncengine.contacts.state import ContactCycle
from syncengine.cycle.reset import mark_for_reset
from syncengine.cycle.runner import SyncReport, sync_user
from syncengine.transports.memory import MemoryTransport
from tests.factories import UserFactory

from .conftest import OnceAt, crm_contact, crm_state
from .crash_harness import (
    CrashAfterWrite,
    SideWorld,
    SimulatedCrash,
    every_crash_resumes,
    seeded_world,
)
from .mailbox_sides import ALL_TRANSPORTS, WIRE_TRANSPORTS, MailboxSide, point_setup


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of two: every page's stamping, and every push, takes several chunks."""
    monkeypatch.setattr(ContactCycle, "chunk_size", 2)


def _initial(rep, side: MailboxSide) -> None:  # type: ignore[no-untyped-def]
    for n in range(5):
        crm_contact(rep, last_name=f"Crm{n}", title="Buyer")
    for n in range(3):
        side.create_contact({"Surname": f"Ex{n}", "BusinessPhone": f"55{n}"})
    # Matched by email, each side missing a field of the other: an update of the item, which
    # carries the stamps.
    crm_contact(rep, last_name="Pair", email="pair@x.test", title="Buyer")
    side.create_contact({"Surname": "Pair", "EmailAddress1": "pair@x.test", "BusinessPhone": "7"})
    # No email, no last name: only its stamp finds it again after a crash or a reset.
    side.create_contact({"GivenName": "Nameless", "JobTitle": "Temp"})


def _changes(rep, side: MailboxSide) -> None:  # type: ignore[no-untyped-def]
    Contact.objects.filter(last_name="Crm0").update(title="Chief")
    Contact.objects.filter(last_name="Crm1").delete()
    crm_contact(rep, last_name="CrmNew")
    items = {i.fields.get("Surname"): i.id for i in side.contacts()}
    side.update_contact(items["Ex0"], BusinessPhone="999")
    side.delete(items["Ex1"])
    side.create_contact({"Surname": "ExNew", "EmailAddress1": "shared@x.test"})
    for n in range(3):  # imported, linked without a write: stamped in two chunks
        side.create_contact({"Surname": f"ExLate{n}", "JobTitle": "Temp"})
    side.update_contact(items["Crm2"], BusinessPhone="123")
    Contact.objects.filter(last_name="Crm2").update(title="Boss")
    crm_contact(UserFactory(username="other"), last_name="Shared", email="SHARED@x.test")


class ContactWorld(SideWorld):
    def written(self, report: SyncReport) -> int:
        assert report.contacts is not None
        return report.contacts.written

    def bookkeeping(self) -> tuple[Any, ...]:
        links = sorted(ContactLink.objects.values_list("state", "contact__last_name",
                                                       "needs_stamp"), key=repr)
        pending = list(FolderCursor.objects.values_list("stamps_pending", flat=True))
        return links, pending

    def end_state(self) -> tuple[Any, ...]:
        seen = self.side.contacts()
        exchange = sorted(({k: v for k, v in i.fields.items() if v is not None} for i in seen),
                          key=repr)
        # Every linked item carries our stamps, naming its CRM contact (SPEC §8).
        names = dict(Contact.objects.values_list("pk", "last_name"))
        stamps = sorted(
            ((i.fields.get("Surname") or i.fields.get("GivenName"),
              i.org_stamp == self.side.org_id,
              names.get(int(i.crm_stamp)) if i.crm_stamp else None) for i in seen), key=repr)
        return crm_state(), exchange, stamps


def _world(new_side: Callable[[str], MailboxSide], phase: str) -> ContactWorld:
    """The seed on a fresh mailbox, synced once and changed on both sides (`incremental`)."""
    return seeded_world(ContactWorld, new_side, phase, seed=_initial, change=_changes,
                        contacts_direction="both", events_direction="none")


@pytest.mark.parametrize("phase", ["initial", "incremental"])
@pytest.mark.parametrize("transport", WIRE_TRANSPORTS)
def test_a_crash_after_any_step_resumes_to_the_same_end_state(  # type: ignore[no-untyped-def]
        db, session_sims, transport: str, phase: str) -> None:
    new_side = point_setup(transport, session_sims)
    steps, writes = every_crash_resumes(lambda: _world(new_side, phase))
    # Pages, and every chunk's write and commit (stamps, creates, updates, removals): the
    # test interrupted each, and each item write inside a chunk.
    assert {"stamps_written", "stamped", "exchange_written", "push_committed"} <= set(steps)
    assert steps.count("stamped") >= 2
    assert writes >= 8


def _cycle(rep, transport, checkpoint=None) -> Any:  # type: ignore[no-untyped-def]
    return sync_user(rep.pk, transport_factory=lambda settings: transport, checkpoint=checkpoint,
                     sleep=lambda s: None, page_size=3)


# --- stamps survive a crash between a page's commit and its stamping ---------------------
def _crash_at(step_name: str) -> OnceAt:
    def crash() -> None:
        raise SimulatedCrash(step_name)

    return OnceAt(step_name, crash)


@ALL_TRANSPORTS
def test_items_linked_before_a_crash_at_the_commit_are_stamped_on_resume(sync, rep, mailbox, org):
    imported = mailbox.rep_create({"Surname": "Imported", "EmailAddress1": "imp@x.test"})
    matched = mailbox.rep_create({"Surname": "Matched", "EmailAddress1": "m@x.test"})
    crm_contact(rep, last_name="Matched", email="m@x.test")
    with pytest.raises(SimulatedCrash):
        sync(checkpoint=_crash_at("page_committed"))
    assert sync().outcome == "synced"          # resume
    assert sync().outcome == "synced"          # and one more quiet cycle
    stamps = {}
    seen = {i.id: i for i in mailbox.folder_items()}
    for item_id in (imported, matched):
        stored = seen[item_id]
        link = ContactLink.objects.get(exchange_id=item_id)
        stamps[stored.fields["Surname"]] = (stored.org_stamp == str(org.org_id),
                                           stored.crm_stamp == str(link.contact_id))
    assert stamps == {"Imported": (True, True), "Matched": (True, True)}


@ALL_TRANSPORTS
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


@ALL_TRANSPORTS
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
    crashing = CrashAfterWrite(4)(mailbox)
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
