"""Contacts saved or deleted in the CRM while a page of the pull works on them: the page's
transaction merges the CRM's newer values (a change only the CRM made is not a conflict) and
drops contacts deleted meanwhile instead of failing the commit."""

from __future__ import annotations

import pytest

from lightningsync.models import Contact, LightningSyncError

from .conftest import OnceAt, crm_contact, edit_contact, fields_of
from .mailbox_sides import ALL_TRANSPORTS

pytestmark = ALL_TRANSPORTS


def test_a_crm_edit_saved_during_the_pull_is_merged_not_overwritten(sync, rep, mailbox) -> None:  # type: ignore[no-untyped-def]
    contact = crm_contact(rep, last_name="Clash", title="Buyer", department="Ops")
    sync()
    (item,) = mailbox.folder_items()
    mailbox.rep_update(item.id, JobTitle="Exchange title", BusinessPhone="555")
    checkpoint = OnceAt("exchange_written",
                        edit_contact(contact.pk, title="CRM title", department="Sales"))
    assert sync(checkpoint=checkpoint).outcome == "synced"
    assert checkpoint.done
    contact.refresh_from_db()
    stored = fields_of(mailbox, item.id)
    # The title changed on both sides: CRM wins (the default), Exchange's value is kept.
    assert (contact.title, stored["JobTitle"]) == ("CRM title", "CRM title")
    (conflict,) = LightningSyncError.objects.filter(kind="conflict")
    assert "Exchange title" in conflict.message
    # Each side's other edit survives on both sides.
    assert (contact.department, stored["Department"]) == ("Sales", "Sales")
    assert (contact.phone, stored["BusinessPhone"]) == ("555", "555")
    mailbox.reset_counters()
    assert sync().contacts.written == 0 and not mailbox.writes


@pytest.mark.parametrize("policy", ["crm_wins", "exchange_wins", "most_recent"])
def test_second_crm_edit_during_page_is_not_a_conflict(sync, rep, mailbox, config, policy):
    config.conflict_policy = policy
    config.save()
    contact = crm_contact(rep, last_name="Twice", title="A")
    sync()
    (item,) = mailbox.folder_items()
    mailbox.rep_update(item.id, BusinessPhone="555")   # Exchange changed the phone only
    contact.title = "B"                                  # the CRM changed the title before
    contact.save()                                       # the cycle ...
    # ... and again during it
    checkpoint = OnceAt("exchange_written", edit_contact(contact.pk, title="C"))
    assert sync(checkpoint=checkpoint).outcome == "synced"
    assert checkpoint.done
    contact.refresh_from_db()
    stored = fields_of(mailbox, item.id)
    conflicts = list(LightningSyncError.objects.filter(kind="conflict")
                     .values_list("message", flat=True))
    # Only the CRM ever changed the title: its newest value wins on both sides, no conflict.
    assert (contact.title, stored["JobTitle"], conflicts) == ("C", "C", [])
    assert (contact.phone, stored["BusinessPhone"]) == ("555", "555")


@pytest.mark.parametrize("policy", ["crm_wins", "exchange_wins"])
def test_first_sight_match_edited_during_page_is_not_a_conflict(sync, rep, mailbox, config,
                                                                policy):
    """First sight: the item matched by email lacks the CRM's title (the page writes it);
    the CRM user changes the title during the page."""
    config.conflict_policy = policy
    config.save()
    config.contacts_direction = "both"
    contact = crm_contact(rep, last_name="Match", email="m@x.test", title="Old")
    mailbox.rep_create({"Surname": "Match", "EmailAddress1": "m@x.test", "BusinessPhone": "1"})
    checkpoint = OnceAt("exchange_written", edit_contact(contact.pk, title="New"))
    assert sync(checkpoint=checkpoint).outcome == "synced"
    assert checkpoint.done
    contact.refresh_from_db()
    (item,) = mailbox.folder_items()
    conflicts = list(LightningSyncError.objects.filter(kind="conflict")
                     .values_list("message", flat=True))
    assert (contact.title, item.fields["JobTitle"], conflicts) == ("New", "New", [])


@pytest.fixture
def committed(transactional_db, org, settings):
    """Real commits (foreign keys checked at COMMIT, as in production)."""
    settings.LIGHTNINGSYNC_PUSH_ON_CHANGE = False  # no on-commit push task in these tests
    return org


def _delete_at_exchange_written(pk: int) -> OnceAt:
    return OnceAt("exchange_written", Contact.objects.filter(pk=pk).delete)


def test_linked_contact_deleted_during_the_page(committed, sync, rep, mailbox):
    contact = crm_contact(rep, last_name="Gone", title="A")
    sync()
    (item,) = mailbox.folder_items()
    mailbox.rep_update(item.id, BusinessPhone="555")     # the pull merges it ...
    contact.title = "B"
    contact.save()                                      # ... and writes Exchange
    checkpoint = _delete_at_exchange_written(contact.pk)
    report = sync(checkpoint=checkpoint)
    assert checkpoint.done
    internal = list(LightningSyncError.objects.filter(kind="internal")
                    .values_list("message", flat=True))
    assert (report.outcome, internal) == ("synced", [])
    # and the copy of the deleted contact went to Deleted Items in that same cycle
    assert mailbox.folder_items() == []


def test_matched_contact_deleted_during_the_page(committed, sync, rep, mailbox):
    contact = crm_contact(rep, last_name="Match", email="m@x.test", title="A")
    mailbox.rep_create({"Surname": "Match", "EmailAddress1": "m@x.test"})
    checkpoint = _delete_at_exchange_written(contact.pk)
    report = sync(checkpoint=checkpoint)
    assert checkpoint.done
    internal = list(LightningSyncError.objects.filter(kind="internal")
                    .values_list("message", flat=True))
    assert (report.outcome, internal) == ("synced", [])
