"""Contacts saved or deleted in the CRM while a page of the pull works on them: the page's
transaction merges the CRM's newer values (a change only the CRM made is not a conflict) and
drops contacts deleted meanwhile instead of failing the commit."""

from __future__ import annotations

import pytest

from lightningsync.models import Contact, LightningSyncError

from .conftest import crm_contact


def _save_at_exchange_written(contact_pk: int, **fields):  # type: ignore[no-untyped-def]
    done: list[bool] = []

    def checkpoint(step: str) -> None:
        if step == "exchange_written" and not done:
            done.append(True)
            contact = Contact.objects.get(pk=contact_pk)
            for name, value in fields.items():
                setattr(contact, name, value)
            contact.save()

    checkpoint.done = done
    return checkpoint


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
    checkpoint = _save_at_exchange_written(contact.pk, title="C")  # ... and again during it
    assert sync(checkpoint=checkpoint).outcome == "synced"
    assert checkpoint.done
    contact.refresh_from_db()
    stored = mailbox.mailbox.items[item.id].fields
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
    checkpoint = _save_at_exchange_written(contact.pk, title="New")
    assert sync(checkpoint=checkpoint).outcome == "synced"
    assert checkpoint.done
    contact.refresh_from_db()
    (item,) = mailbox.folder_items()
    conflicts = list(LightningSyncError.objects.filter(kind="conflict")
                     .values_list("message", flat=True))
    assert (contact.title, item.fields["JobTitle"], conflicts) == ("New", "New", [])






@pytest.fixture
def committed(transactional_db, org, settings):
    """Real commits (FK checks at COMMIT, as in production); the setup row is re-made."""
    settings.LIGHTNINGSYNC_PUSH_ON_CHANGE = False  # no on-commit push task in these tests
    org.ews_url = "https://mail.example.test/EWS/Exchange.asmx"
    org.save()
    return org


def _delete_at_exchange_written(pk: int):
    done: list[bool] = []

    def checkpoint(step: str) -> None:
        if step == "exchange_written" and not done:
            done.append(True)
            Contact.objects.filter(pk=pk).delete()

    checkpoint.done = done
    return checkpoint


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
