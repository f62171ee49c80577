"""SPEC §4: folder, directions, ownership and filters, on the memory mailbox and over the
wire (EWS and Graph against exchangesim).

Each test asserts the whole end state of both sides.
"""

from __future__ import annotations

from lightningsync.models import Contact, ContactFilter, ContactLink
from tests.factories import AccountFactory, UserFactory

from .conftest import crm_contact, crm_state, exchange_state
from .mailbox_sides import ALL_TRANSPORTS

pytestmark = ALL_TRANSPORTS


def test_it_creates_salesforce_sync_and_pushes_the_reps_contacts(sync, rep, mailbox) -> None:  # type: ignore[no-untyped-def]
    acme = AccountFactory(name="Acme")
    crm_contact(rep, first_name="Ann", last_name="Lee", email="ann@acme.test", account=acme,
                phone="555-1")
    crm_contact(UserFactory(username="other"), first_name="Oz", last_name="Other",
                email="oz@x.test")
    report = sync()
    assert report.outcome == "synced" and report.contacts.folder_created
    assert mailbox.find_contact_folder() is not None
    assert exchange_state(mailbox) == [
        {
            "GivenName": "Ann",
            "Surname": "Lee",
            "EmailAddress1": "ann@acme.test",
            "CompanyName": "Acme",
            "BusinessPhone": "555-1",
        }
    ]
    (item,) = mailbox.folder_items()
    assert item.org_stamp == mailbox.org_id
    assert item.crm_stamp == str(Contact.objects.get(last_name="Lee").pk)
    assert len(crm_state()) == 2


def test_dont_sync_touches_nothing(sync, rep, mailbox, config) -> None:  # type: ignore[no-untyped-def]
    config.contacts_direction = "none"
    config.save()
    crm_contact(rep, last_name="Lee")
    report = sync()
    # The cycle ran as configured (nothing is wrong): its summary says what it left alone.
    assert report.outcome == "synced"
    assert report.summary() == "Contacts are not synced (direction: Don't sync)."
    assert mailbox.find_contact_folder() is None and not mailbox.writes


def test_exchange_to_crm_imports_and_pushes_nothing(sync, rep, mailbox, config) -> None:  # type: ignore[no-untyped-def]
    config.contacts_direction = "exchange_to_crm"
    config.save()
    crm_contact(rep, first_name="Crm", last_name="Only", email="crm@x.test")
    mailbox.rep_create({"GivenName": "Ex", "Surname": "Change", "EmailAddress1": "ex@x.test"})
    sync()
    assert crm_state() == [
        {"owner": "rep", "first_name": "Crm", "last_name": "Only", "email": "crm@x.test"},
        {"owner": "rep", "first_name": "Ex", "last_name": "Change", "email": "ex@x.test"},
    ]
    assert exchange_state(mailbox) == [
        {"GivenName": "Ex", "Surname": "Change", "EmailAddress1": "ex@x.test"}
    ]
    (item,) = mailbox.folder_items()
    # Imported as it is, then stamped (SPEC §8): the one write is the stamps, no field.
    imported = Contact.objects.get(email="ex@x.test")
    assert (item.org_stamp, item.crm_stamp) == (mailbox.org_id, str(imported.pk))
    assert mailbox.writes == {"update": 1}


def test_crm_to_exchange_pushes_and_imports_nothing(sync, rep, mailbox, config) -> None:  # type: ignore[no-untyped-def]
    config.contacts_direction = "crm_to_exchange"
    config.save()
    crm_contact(rep, first_name="Crm", last_name="Only", email="crm@x.test")
    mailbox.rep_create({"GivenName": "Ex", "Surname": "Change", "EmailAddress1": "ex@x.test"})
    sync()
    assert crm_state() == [
        {"owner": "rep", "first_name": "Crm", "last_name": "Only", "email": "crm@x.test"}
    ]
    assert exchange_state(mailbox) == [
        {"GivenName": "Crm", "Surname": "Only", "EmailAddress1": "crm@x.test"},
        {"GivenName": "Ex", "Surname": "Change", "EmailAddress1": "ex@x.test"},
    ]


def test_both_ways_meets_in_the_middle(sync, rep, mailbox) -> None:  # type: ignore[no-untyped-def]
    crm_contact(rep, first_name="Crm", last_name="Only", email="crm@x.test")
    mailbox.rep_create({"GivenName": "Ex", "Surname": "Change", "EmailAddress1": "ex@x.test"})
    sync()
    assert crm_state() == [
        {"owner": "rep", "first_name": "Crm", "last_name": "Only", "email": "crm@x.test"},
        {"owner": "rep", "first_name": "Ex", "last_name": "Change", "email": "ex@x.test"},
    ]
    assert exchange_state(mailbox) == [
        {"GivenName": "Crm", "Surname": "Only", "EmailAddress1": "crm@x.test"},
        {"GivenName": "Ex", "Surname": "Change", "EmailAddress1": "ex@x.test"},
    ]
    mailbox.reset_counters()
    assert sync().contacts.written == 0 and not mailbox.writes


def test_all_contacts_ownership_pushes_everyones(sync, rep, mailbox, config) -> None:  # type: ignore[no-untyped-def]
    config.contacts_ownership = "all"
    config.save()
    crm_contact(rep, last_name="Mine")
    crm_contact(UserFactory(username="other"), last_name="Theirs")
    sync()
    assert exchange_state(mailbox) == [{"Surname": "Mine"}, {"Surname": "Theirs"}]


def test_field_filters_select_what_is_pushed(sync, rep, mailbox, config) -> None:  # type: ignore[no-untyped-def]
    ContactFilter.objects.create(
        configuration=config, field="mailing_state", operator="equals", value="CA"
    )
    crm_contact(rep, last_name="West", mailing_state="CA")
    crm_contact(rep, last_name="East", mailing_state="NY")
    sync()
    (item,) = mailbox.folder_items()
    assert item.fields["Surname"] == "West"
    assert item.fields["BusinessAddress"].state == "CA"


def test_a_pushed_contact_leaving_the_filters_is_removed_crm_to_exchange(
    sync, rep, mailbox, config
) -> None:  # type: ignore[no-untyped-def]
    config.contacts_direction = "crm_to_exchange"
    config.save()
    ContactFilter.objects.create(
        configuration=config, field="title", operator="equals", value="Buyer"
    )
    leaving = crm_contact(rep, last_name="Leaving", title="Buyer")
    crm_contact(rep, last_name="Staying", title="Buyer")
    sync()
    leaving.title = "Retired"
    leaving.save()
    sync()
    assert [i.fields["Surname"] for i in mailbox.folder_items()] == ["Staying"]
    assert [i.fields["Surname"] for i in mailbox.deleted_items()] == ["Leaving"]
    assert Contact.objects.filter(last_name="Leaving").exists()
    assert not ContactLink.objects.filter(contact=leaving).exists()


def test_in_both_ways_an_exchange_contact_outside_the_filters_stays(
    sync, rep, mailbox, config
) -> None:  # type: ignore[no-untyped-def]
    ContactFilter.objects.create(
        configuration=config, field="title", operator="equals", value="Buyer"
    )
    pushed = crm_contact(rep, last_name="Pushed", title="Buyer")
    mailbox.rep_create({"Surname": "FromOutlook", "JobTitle": "Buyer"})
    sync()
    pushed.title = "Retired"
    pushed.save()
    imported = Contact.objects.get(last_name="FromOutlook")
    imported.title = "Retired"
    imported.save()
    sync()
    assert [i.fields["Surname"] for i in mailbox.folder_items()] == ["FromOutlook"]
    assert mailbox.folder_items()[0].fields["JobTitle"] == "Retired"
    assert [i.fields["Surname"] for i in mailbox.deleted_items()] == ["Pushed"]
