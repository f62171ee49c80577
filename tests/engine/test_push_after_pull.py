"""The push of a cycle skips what the pull of the same cycle has just linked, and only that.

After an import, every imported contact is "changed since the last cycle"; examining them
again would find their CRM values equal to their link's snapshot. These tests prove the push
still sees every contact it must: one edited in the CRM after the pull wrote it, and one the
pull's own write moved out of the configuration's filters.
"""

from __future__ import annotations

from typing import Any

import pytest

from lightningsync.models import Contact, ContactFilter, ContactLink
from syncengine.contacts.push import ContactPush

from .conftest import OnceAt, crm_contact, edit_contact, fields_of
from .mailbox_sides import ALL_TRANSPORTS

pytestmark = ALL_TRANSPORTS


def _examined(monkeypatch) -> list[str]:  # type: ignore[no-untyped-def]
    seen: list[str] = []
    original = ContactPush._push_chunk

    def spy(self: Any, contacts: list[Contact]) -> None:
        seen.extend(c.last_name for c in contacts)
        original(self, contacts)

    monkeypatch.setattr(ContactPush, "_push_chunk", spy)
    return seen


@pytest.mark.parametrize(("direction", "pushed"), [("exchange_to_crm", []), ("both", ["Own"])])
def test_an_import_is_not_examined_again_by_the_push(  # type: ignore[no-untyped-def]
    sync, rep, mailbox, config, monkeypatch, direction, pushed
) -> None:
    config.contacts_direction = direction
    config.save()
    for i in range(3):
        mailbox.rep_create({"Surname": f"Imported {i}", "EmailAddress1": f"i{i}@example.test"})
    crm_contact(rep, last_name="Own")
    examined = _examined(monkeypatch)
    report = sync()
    assert report.contacts is not None and report.contacts.crm_created == 3
    # Only the CRM's own contact is examined: pushed in Both, not linked (so not looked at)
    # one way; the three imported contacts are not read again.
    assert examined == pushed
    assert sorted(i.fields["Surname"] for i in mailbox.folder_items()) == sorted(
        ["Imported 0", "Imported 1", "Imported 2", *pushed])


def test_a_crm_edit_made_after_the_pull_wrote_the_contact_is_pushed(sync, rep, mailbox) -> None:  # type: ignore[no-untyped-def]
    item = mailbox.rep_create({"Surname": "Late", "JobTitle": "Buyer"})

    def head_buyer() -> None:  # a user saves it between the pull and the push
        edit_contact(Contact.objects.get(last_name="Late").pk, title="Head buyer")()

    checkpoint = OnceAt("page_committed", head_buyer)
    sync(checkpoint=checkpoint)
    assert checkpoint.done
    assert fields_of(mailbox, item)["JobTitle"] == "Head buyer"
    link = ContactLink.objects.get()
    assert link.snapshot["title"] == "Head buyer"


def test_a_pushed_contact_an_outlook_edit_moves_out_of_the_filters_is_removed(
    sync, rep, mailbox, config
) -> None:  # type: ignore[no-untyped-def]
    ContactFilter.objects.create(
        configuration=config, field="title", operator="equals", value="Buyer"
    )
    pushed = crm_contact(rep, last_name="Pushed", title="Buyer")
    sync()
    (item,) = mailbox.folder_items()
    mailbox.rep_update(item.id, JobTitle="Retired")
    sync()
    pushed.refresh_from_db()
    assert pushed.title == "Retired"  # the pull brought the edit in ...
    assert mailbox.folder_items() == []  # ... and the push removed the now-filtered copy
    assert [i.fields["Surname"] for i in mailbox.deleted_items()] == ["Pushed"]
    assert not ContactLink.objects.filter(contact=pushed).exists()

