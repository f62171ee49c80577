"""Every valid property a client sends is stored and returned, as Exchange does; elements
outside the item's schema and read-only properties are refused, as Exchange does.

The round trip is driven by exchangelib's own field list for each item class: whatever
exchangelib can write, the simulator must give back unchanged.
"""

from __future__ import annotations

import pytest
from exchangelib import EWSDate, EWSDateTime, EWSTimeZone
from exchangelib.errors import ErrorInvalidPropertySet, ErrorSchemaValidation
from exchangelib.fields import (
    AttendeesField,
    BodyField,
    BooleanField,
    CharListField,
    ChoiceField,
    CultureField,
    DateTimeBackedDateField,
    DateTimeField,
    EmailAddressesField,
    EnumAsIntField,
    ExtendedPropertyField,
    ImAddressField,
    IntegerField,
    MailboxField,
    MailboxListField,
    PhoneNumberField,
    PhysicalAddressField,
    TextField,
    TextListField,
    URIField,
)
from exchangelib.indexed_properties import EmailAddress, ImAddress, PhoneNumber, PhysicalAddress
from exchangelib.items import CalendarItem, Contact, Message
from exchangelib.properties import Attendee, Mailbox
from exchangelib.services import CreateItem, UpdateItem
from exchangelib.version import Build, Version

from .conftest import ALICE

UTC = EWSTimeZone("UTC")
VERSION = Version(build=Build(15, 1, 2507, 6))
# Set by exchangelib from other values, modelled elsewhere, or rewritten by Exchange itself.
NOT_GENERIC = {
    "mime_content",  # Exchange re-renders MIME from the item
    "attachments",  # attachments are not modelled
    "recurrence",  # test_contract_recurrence.py
    "_start_timezone",
    "_end_timezone",  # exchangelib derives them from start and end
    "start",
    "end",  # set per test: they must stay in order
    "is_all_day",  # changes what start and end mean
}
# Values exchangelib cannot round-trip by equality for reasons of its own
CONTACT_SUBJECT_IS_DISPLAY_NAME = {"subject"}


def _value(field, variant: int):
    """A valid, distinct value for an exchangelib field; variant 0 on create, 1 on update."""
    name = field.name
    if isinstance(field, EnumAsIntField):
        return 1 + variant
    if isinstance(field, ChoiceField):
        choices = sorted(field.supported_choices(version=VERSION))
        return choices[(1 + variant) % len(choices)]
    if isinstance(field, CultureField):
        return ("da-DK", "en-GB")[variant]
    if isinstance(field, BooleanField):
        return bool(variant)
    if isinstance(field, IntegerField):
        return 15 + variant
    if isinstance(field, DateTimeBackedDateField):
        return EWSDate(1980 + variant, 5, 4)
    if isinstance(field, DateTimeField):
        return EWSDateTime(2025, 3, 3 + variant, 8, tzinfo=UTC)
    if isinstance(field, BodyField):
        return f"Body {variant}"
    if isinstance(field, AttendeesField):
        return [
            Attendee(
                mailbox=Mailbox(email_address=f"{name}{variant}@example.net"),
                response_type="Accept",
            )
        ]
    if isinstance(field, MailboxListField):
        return [Mailbox(email_address=f"{name}{variant}@example.net")]
    if isinstance(field, MailboxField):
        return Mailbox(email_address=f"{name}{variant}@example.net")
    if isinstance(field, EmailAddressesField):
        return [EmailAddress(label="EmailAddress2", email=f"e{variant}@example.net")]
    if isinstance(field, PhoneNumberField):
        return [PhoneNumber(label="CarPhone", phone_number=f"+45 {variant}")]
    if isinstance(field, ImAddressField):
        return [ImAddress(label="ImAddress3", im_address=f"im{variant}@example.net")]
    if isinstance(field, PhysicalAddressField):
        return [PhysicalAddress(label="Other", street=f"{variant} Elm", city="Aarhus")]
    if isinstance(field, CharListField | TextListField):
        return [f"{name}-a{variant}", f"{name}-b{variant}"]
    if isinstance(field, URIField):
        return f"https://{name.replace('_', '-')}.example/{variant}"
    if isinstance(field, TextField):
        return f"{name} {variant}"
    raise AssertionError(f"no value for {name} ({type(field).__name__})")


def _comparable(value):
    if isinstance(value, list):
        return sorted(_comparable(v) for v in value)
    if isinstance(value, Attendee):
        return (value.mailbox.email_address, value.response_type)
    if isinstance(value, Mailbox):
        return value.mailbox_type and value.email_address
    if isinstance(value, EmailAddress | PhoneNumber | ImAddress | PhysicalAddress):
        return repr(value)
    return value


def _generic_fields(cls):
    skip = NOT_GENERIC | (CONTACT_SUBJECT_IS_DISPLAY_NAME if cls is Contact else set())
    return [
        f
        for f in cls.FIELDS
        if not f.is_read_only
        and f.supports_version(VERSION)
        and f.name not in skip
        and not isinstance(f, ExtendedPropertyField)  # test_contract_items.py
    ]


def _folder(account, cls):
    return {CalendarItem: account.calendar, Contact: account.contacts, Message: account.drafts}[cls]


def _times(cls, variant: int) -> dict:
    if cls is not CalendarItem:
        return {}
    return {
        "start": EWSDateTime(2025, 4, 1 + variant, 9, tzinfo=UTC),
        "end": EWSDateTime(2025, 4, 1 + variant, 10, tzinfo=UTC),
    }


@pytest.mark.parametrize("cls", [CalendarItem, Contact, Message])
def test_every_writable_property_is_stored_and_returned(alice, cls):
    fields = _generic_fields(cls)
    insert = {f.name: _value(f, 0) for f in fields}
    item = cls(folder=_folder(alice, cls), **insert, **_times(cls, 0))
    item.save()
    got = alice.fetch(ids=[item])
    got = next(iter(got))
    assert {n: _comparable(getattr(got, n)) for n in insert} == {
        n: _comparable(v) for n, v in insert.items()
    }

    # Update every one of them.
    update = {f.name: _value(f, 1) for f in fields}
    for name, value in {**update, **_times(cls, 1)}.items():
        setattr(got, name, value)
    alice.bulk_update([(got, [*update, *_times(cls, 1)])])
    again = next(iter(alice.fetch(ids=[(item.id, None)])))
    assert {n: _comparable(getattr(again, n)) for n in update} == {
        n: _comparable(v) for n, v in update.items()
    }


def test_properties_the_issue_named_come_back_from_a_calendar_item(alice, sim):
    """InReplyTo, When, NetShowUrl, MeetingWorkspaceUrl, ConferenceType: stored and returned."""
    ev = CalendarItem(
        folder=alice.calendar,
        subject="Review",
        start=EWSDateTime(2025, 5, 5, 9, tzinfo=UTC),
        end=EWSDateTime(2025, 5, 5, 10, tzinfo=UTC),
        in_reply_to="<abc@example.net>",
        when="Mondays at nine",
        net_show_url="https://netshow.example/1",
        meeting_workspace_url="https://workspace.example/1",
        conference_type=2,
    )
    ev.save()
    got = alice.calendar.get(id=ev.id)
    assert (
        got.in_reply_to,
        got.when,
        got.net_show_url,
        got.meeting_workspace_url,
        got.conference_type,
    ) == (
        "<abc@example.net>",
        "Mondays at nine",
        "https://netshow.example/1",
        "https://workspace.example/1",
        2,
    )
    stored = sim.sim.item(ALICE, ev.id)
    assert stored["When"] == "Mondays at nine" and stored["ConferenceType"] == 2
    # Deleting one removes it, the others stay.
    got.when = None
    got.save(update_fields=["when"])
    again = alice.calendar.get(id=ev.id)
    assert again.when is None and again.net_show_url == "https://netshow.example/1"


def test_a_uid_is_taken_on_create_and_kept(alice):
    """Exchange takes a client's UID on create (an imported meeting keeps its iCalendar UID)
    and lets it be updated: the EWS Managed API declares ICalUid settable and updatable, and
    exchangelib's live test-suite updates it and reads the new value back."""
    ev = CalendarItem(
        folder=alice.calendar,
        subject="Imported",
        uid="040000008200E00074C5B7101A82E008-imported-1",
        start=EWSDateTime(2025, 5, 6, 9, tzinfo=UTC),
        end=EWSDateTime(2025, 5, 6, 10, tzinfo=UTC),
    )
    ev.save()
    assert alice.calendar.get(id=ev.id).uid == "040000008200E00074C5B7101A82E008-imported-1"
    ev.subject = "Imported, renamed"
    ev.save(update_fields=["subject"])
    assert alice.calendar.get(id=ev.id).uid == "040000008200E00074C5B7101A82E008-imported-1"
    ev.uid = "imported-2"
    ev.save()  # a full save sends every writable property, UID included
    assert alice.calendar.get(id=ev.id).uid == "imported-2"
    # Without one, Exchange makes one up, and it does not move when the item changes.
    other = CalendarItem(
        folder=alice.calendar,
        subject="Fresh",
        start=EWSDateTime(2025, 5, 7, 9, tzinfo=UTC),
        end=EWSDateTime(2025, 5, 7, 10, tzinfo=UTC),
    )
    other.save()
    uid = alice.calendar.get(id=other.id).uid
    other.subject = "Fresh, renamed"
    other.save(update_fields=["subject"])
    assert uid and alice.calendar.get(id=other.id).uid == uid


def _create_payload(account, item):
    return CreateItem(account=account).get_payload(
        items=[item],
        folder=account.contacts,
        message_disposition="SaveOnly",
        send_meeting_invitations="SendToNone",
    )


def test_an_element_outside_the_item_schema_is_a_schema_fault(alice, sim):
    """A Contact carrying a calendar property fails schema validation; nothing is created."""
    from lxml import etree

    svc = CreateItem(account=alice)
    payload = _create_payload(alice, Contact(display_name="Odd", given_name="Odd"))
    contact = payload.find(".//{*}Contact")
    start = etree.SubElement(
        contact, "{http://schemas.microsoft.com/exchange/services/2006/types}Start"
    )
    start.text = "2025-05-05T09:00:00Z"
    with pytest.raises(ErrorSchemaValidation):
        list(svc._get_elements(payload=payload))
    assert sim.sim.items(ALICE, "contacts") == []


def test_a_read_only_property_on_create_is_refused(alice, sim):
    from lxml import etree

    svc = CreateItem(account=alice)
    payload = _create_payload(alice, Contact(display_name="Ro", given_name="Ro"))
    contact = payload.find(".//{*}Contact")
    etree.SubElement(
        contact, "{http://schemas.microsoft.com/exchange/services/2006/types}HasPicture"
    ).text = "true"
    with pytest.raises(ErrorInvalidPropertySet, match="HasPicture"):
        list(svc._get_elements(payload=payload))
    assert sim.sim.items(ALICE, "contacts") == []


def test_a_calendar_only_property_cannot_be_set_on_a_message(alice):
    """calendar:IsResponseRequested and message:IsResponseRequested share an element name."""
    msg = Message(folder=alice.drafts, subject="Hi", is_response_requested=True)
    msg.save()
    assert next(iter(alice.fetch(ids=[msg]))).is_response_requested is True
    svc = UpdateItem(account=alice)
    payload = svc.get_payload(
        items=[(msg, ["is_response_requested"])],
        conflict_resolution="AutoResolve",
        message_disposition="SaveOnly",
        send_meeting_invitations_or_cancellations="SendToNone",
        suppress_read_receipts=True,
    )
    for uri in payload.iter("{*}FieldURI"):
        uri.set("FieldURI", "calendar:IsResponseRequested")
    with pytest.raises(ErrorInvalidPropertySet):
        list(svc._get_elements(payload=payload))
    assert next(iter(alice.fetch(ids=[(msg.id, None)]))).is_response_requested is True
