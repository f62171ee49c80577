"""SPEC §4 end to end: `sync_user` → Setup → connect → EwsTransport → real exchangelib →
exchangesim. One test per contact rule; each asserts the whole end state of both sides (every
CRM contact with owner and account; every contact of Salesforce_Sync and, where it matters,
Deleted Items) and that the next cycle writes nothing on either side.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from lightningsync.models import Contact, ContactFilter, ContactLink
from syncengine.contacts import sync as contacts_module
from syncengine.contacts.state import FOLDER_CHECK_INTERVAL
from syncengine.cycle.reset import mark_for_reset
from tests.factories import AccountFactory, UserFactory

from .ews_fixtures import (  # noqa: F401  (fixtures)
    BOTH_TRANSPORTS,
    MAILBOX,
    EwsWorld,
    crm_contact,
    crm_state,
    errors,
    ews_fixture,
    ordered,
    remove_folder,
    stamps,
)
from .ews_rep import SYNC_FOLDER

OTHER_ORG = "0b6d1f5e-0000-4000-8000-00000000beef"


def quiet(ews: EwsWorld) -> None:
    """Another cycle changes nothing on either side."""
    crm_before, exchange_before = crm_state(), ews.exchange()
    stamps_before = {
        i["id"]: (i["changekey"], stamps(i)) for i in ews.items()
    }
    ews.sim.reset_counters()
    report = ews.sync()
    assert report.outcome == "synced", report.summary()
    assert ews.writes() == {}
    assert report.contacts is not None and report.contacts.written == 0, report.summary()
    assert crm_state() == crm_before and ews.exchange() == exchange_before
    assert {i["id"]: (i["changekey"], stamps(i)) for i in ews.items()} == stamps_before


def ours(ews: EwsWorld, contact: Contact) -> dict[str, str]:
    """The stamps an item linked to `contact` must carry."""
    return {"LightningSyncOrgId": str(ews.setup.org_id), "LightningSyncCrmId": str(contact.pk)}


def _item_stamps(ews: EwsWorld) -> dict[str, dict[str, str]]:
    """Surname → stamps, for every item of Salesforce_Sync."""
    return {i["Surname"]: stamps(i) for i in ews.items()}


# --- the folder ---------------------------------------------------------------------------
@BOTH_TRANSPORTS
def test_salesforce_sync_is_created_when_missing_and_only_once(ews) -> None:  # type: ignore[no-untyped-def]
    assert ews.has_sync_folder() == 0
    report = ews.sync()
    assert report.outcome == "synced" and report.contacts.folder_created
    assert ews.sim.request_count(ews.op("create_folder"), MAILBOX) == 1
    assert ews.has_sync_folder() == 1
    assert ews.exchange() == [] and crm_state() == []
    quiet(ews)
    # A reset forgets the cursor: the folder is found again, not created a second time.
    mark_for_reset(ews.rep)
    ews.sim.reset_counters()
    report = ews.sync()
    assert report.outcome == "synced" and not report.contacts.folder_created
    assert ews.sim.request_count(ews.op("create_folder"), MAILBOX) == 0
    assert ews.has_sync_folder() == 1


@BOTH_TRANSPORTS
def test_an_existing_salesforce_sync_is_used(ews) -> None:  # type: ignore[no-untyped-def]
    ews.sim.create_folder(MAILBOX, "Salesforce_Sync", parent="contacts")
    ews.outlook.create({"Surname": "Already"})
    ews.outlook.create({"Surname": "Elsewhere"}, folder="contacts")  # not ours to sync
    report = ews.sync()
    assert not report.contacts.folder_created
    assert ews.sim.request_count(ews.op("create_folder"), MAILBOX) == 0
    assert crm_state() == [{"owner": "rep", "account": None, "last_name": "Already"}]
    assert ews.exchange("contacts") == [{"Surname": "Elsewhere"}]
    quiet(ews)


# --- directions ---------------------------------------------------------------------------
CRM_ONLY = {"owner": "rep", "account": "Acme", "first_name": "Crm", "last_name": "Only",
            "email": "crm@x.test", "title": "Buyer"}
EX_ONLY = {"owner": "rep", "account": "Acme", "first_name": "Ex", "last_name": "Change",
           "email": "ex@x.test", "phone": "+1 555 0100"}
CRM_ONLY_ITEM = {"GivenName": "Crm", "Surname": "Only", "CompanyName": "Acme",
                 "EmailAddresses": {"EmailAddress1": "crm@x.test"}, "JobTitle": "Buyer"}
EX_ONLY_ITEM = {"GivenName": "Ex", "Surname": "Change", "CompanyName": "Acme",
                "EmailAddresses": {"EmailAddress1": "ex@x.test"},
                "PhoneNumbers": {"BusinessPhone": "+1 555 0100"}}


@BOTH_TRANSPORTS
@pytest.mark.parametrize(
    ("direction", "crm", "exchange"),
    [
        ("none", [CRM_ONLY], [EX_ONLY_ITEM]),
        ("exchange_to_crm", [CRM_ONLY, EX_ONLY], [EX_ONLY_ITEM]),
        ("crm_to_exchange", [CRM_ONLY], [CRM_ONLY_ITEM, EX_ONLY_ITEM]),
        ("both", [CRM_ONLY, EX_ONLY], [CRM_ONLY_ITEM, EX_ONLY_ITEM]),
    ],
)
def test_each_direction_with_contacts_on_both_sides(ews, direction, crm, exchange) -> None:  # type: ignore[no-untyped-def]
    ews.configure(contacts_direction=direction)
    acme = AccountFactory(name="Acme")
    crm_contact(ews.rep, first_name="Crm", last_name="Only", email="crm@x.test", title="Buyer",
                account=acme)
    ews.sim.create_folder(MAILBOX, "Salesforce_Sync", parent="contacts")
    ews.outlook.create({"GivenName": "Ex", "Surname": "Change", "CompanyName": "Acme",
                        "EmailAddress1": "ex@x.test", "BusinessPhone": "+1 555 0100"})
    report = ews.sync()
    assert crm_state() == ordered(crm)
    assert ews.exchange() == ordered(exchange)
    if direction == "none":
        assert report.summary() == "Contacts are not synced (direction: Don't sync)."
        assert ews.sim.counts() == {}  # not one request to Exchange
        assert ews.links() == []
        return
    assert report.outcome == "synced", report.summary()
    assert errors() == []
    # Every item we created or linked carries the org stamp and its CRM record's id (SPEC §8).
    linked = {ln.exchange_id: ln for ln in ews.links()}
    assert len(linked) == (2 if direction == "both" else 1)
    for item in ews.items():
        link = linked.get(ews.id_of(item))
        if link is None:  # CRM to Exchange: the rep's own contact is left alone, unstamped
            assert direction == "crm_to_exchange" and stamps(item) == {}
        else:
            assert stamps(item) == ours(ews, link.contact)
    quiet(ews)
    if direction == "both":
        imported = Contact.objects.get(last_name="Change")
        imported.title = "Lead"
        imported.save()
        assert ews.sync().outcome == "synced"
        item = next(i for i in ews.items() if i["Surname"] == "Change")
        assert item["JobTitle"] == "Lead" and stamps(item) == ours(ews, imported)
        quiet(ews)


@BOTH_TRANSPORTS
# --- ownership and filters ----------------------------------------------------------------
@pytest.mark.parametrize("ownership", ["users_records", "all"])
def test_ownership_and_field_filters_choose_what_goes_to_exchange(ews, ownership) -> None:  # type: ignore[no-untyped-def]
    ews.configure(contacts_ownership=ownership)
    ContactFilter.objects.create(
        configuration=ews.config, field="title", operator="equals", value="Buyer"
    )
    other = UserFactory(username="other")
    crm_contact(ews.rep, last_name="MineBuyer", title="Buyer")
    crm_contact(ews.rep, last_name="MineClerk", title="Clerk")
    crm_contact(other, last_name="TheirsBuyer", title="Buyer")
    ews.sim.create_folder(MAILBOX, "Salesforce_Sync", parent="contacts")
    ews.outlook.create({"Surname": "OutlookClerk", "JobTitle": "Clerk"})  # fails the filter
    assert ews.sync().outcome == "synced"
    pushed = [{"Surname": "MineBuyer", "JobTitle": "Buyer"}]
    if ownership == "all":
        pushed.append({"Surname": "TheirsBuyer", "JobTitle": "Buyer"})
    assert ews.exchange() == ordered([*pushed, {"Surname": "OutlookClerk", "JobTitle": "Clerk"}])
    # Filters apply to CRM to Exchange only: the rep's contact reached the CRM anyway.
    assert crm_state() == ordered([
        {"owner": "rep", "account": None, "last_name": "MineBuyer", "title": "Buyer"},
        {"owner": "rep", "account": None, "last_name": "MineClerk", "title": "Clerk"},
        {"owner": "other", "account": None, "last_name": "TheirsBuyer", "title": "Buyer"},
        {"owner": "rep", "account": None, "last_name": "OutlookClerk", "title": "Clerk"},
    ])
    quiet(ews)


@BOTH_TRANSPORTS
# --- first sight --------------------------------------------------------------------------
def test_first_sight_matches_email_then_name_and_account_else_creates(ews) -> None:  # type: ignore[no-untyped-def]
    other = UserFactory(username="other")
    acme, other_co = AccountFactory(name="Acme"), AccountFactory(name="Other Co")
    ann = crm_contact(other, first_name="Ann", last_name="Lee", email="Ann.Lee@Acme.test")
    bo = crm_contact(ews.rep, first_name="Bo", last_name="Diddley", account=acme)
    crm_contact(ews.rep, first_name="Bo", last_name="Diddley", account=other_co)
    ews.sim.create_folder(MAILBOX, "Salesforce_Sync", parent="contacts")
    ann_item = ews.outlook.create({"GivenName": "Ann", "Surname": "Lee",
                                   "EmailAddress1": "ann.lee@acme.TEST", "BusinessPhone": "555"})
    bo_item = ews.outlook.create({"GivenName": "Bo", "Surname": "Diddley", "CompanyName": "acme"})
    ews.outlook.create({"GivenName": "New", "Surname": "Person"})
    assert ews.sync().outcome == "synced"
    crm = [
        {"owner": "other", "account": None, "first_name": "Ann", "last_name": "Lee",
         "email": "Ann.Lee@Acme.test", "phone": "555"},
        {"owner": "rep", "account": "Acme", "first_name": "Bo", "last_name": "Diddley"},
        {"owner": "rep", "account": "Other Co", "first_name": "Bo", "last_name": "Diddley"},
        {"owner": "rep", "account": None, "first_name": "New", "last_name": "Person"},
    ]
    exchange = [
        {"GivenName": "Ann", "Surname": "Lee", "PhoneNumbers": {"BusinessPhone": "555"},
         "EmailAddresses": {"EmailAddress1": "ann.lee@acme.TEST"}},
        {"GivenName": "Bo", "Surname": "Diddley", "CompanyName": "acme"},
        {"GivenName": "Bo", "Surname": "Diddley", "CompanyName": "Other Co"},  # pushed
        {"GivenName": "New", "Surname": "Person"},
    ]
    assert crm_state() == ordered(crm)
    assert ews.exchange() == ordered(exchange)
    by_item = {ln.exchange_id: ln.contact_id for ln in ews.links()}
    assert by_item[ews.id_of({"id": ann_item})] == ann.pk
    assert by_item[ews.id_of({"id": bo_item})] == bo.pk
    assert errors() == []
    quiet(ews)
    # Reset Sync forgets every link; matching relinks the same pairs, no duplicates.
    mark_for_reset(ews.rep)
    assert ews.sync().outcome == "synced"
    assert crm_state() == ordered(crm)
    assert ews.exchange() == ordered(exchange)
    assert {ln.exchange_id: ln.contact_id for ln in ews.links()} == by_item
    assert ews.exchange("deleteditems") == []
    quiet(ews)


# --- accounts -----------------------------------------------------------------------------
@BOTH_TRANSPORTS
def test_company_names_resolve_to_accounts_or_are_reported(ews) -> None:  # type: ignore[no-untyped-def]
    AccountFactory(name="Acme Corp")
    ews.sim.create_folder(MAILBOX, "Salesforce_Sync", parent="contacts")
    ews.outlook.create({"Surname": "Worker", "CompanyName": "ACME corp"})
    drifter = ews.outlook.create({"Surname": "Drifter", "CompanyName": "Nowhere Ltd"})
    assert ews.sync().outcome == "synced"
    assert crm_state() == ordered([
        {"owner": "rep", "account": "Acme Corp", "last_name": "Worker"},
        {"owner": "rep", "account": None, "last_name": "Drifter"},
    ])
    # Exchange keeps what the rep typed.
    assert ews.exchange() == ordered([
        {"Surname": "Worker", "CompanyName": "ACME corp"},
        {"Surname": "Drifter", "CompanyName": "Nowhere Ltd"},
    ])
    (error,) = errors()
    assert (error.kind, error.exchange_item_id, error.count) == (
        "unresolved_account", ews.id_of({"id": drifter}), 1)
    assert "Nowhere Ltd" in error.message
    quiet(ews)
    assert errors()[0].count == 1


@BOTH_TRANSPORTS
def test_an_unresolved_account_entry_names_the_imported_crm_contact(ews) -> None:  # type: ignore[no-untyped-def]
    ews.sim.create_folder(MAILBOX, "Salesforce_Sync", parent="contacts")
    ews.outlook.create({"Surname": "Drifter", "CompanyName": "Nowhere Ltd"})
    ews.sync()
    (error,) = errors("unresolved_account")
    drifter = Contact.objects.get(last_name="Drifter")
    assert (error.contact, error.crm_record_id) == (drifter, str(drifter.pk))


@BOTH_TRANSPORTS
# --- changes ------------------------------------------------------------------------------
def test_opening_an_item_writes_nothing(ews) -> None:  # type: ignore[no-untyped-def]
    ews.sim.create_folder(MAILBOX, "Salesforce_Sync", parent="contacts")
    item = ews.outlook.create({"Surname": "Opened", "JobTitle": "Buyer"})
    ews.sync()
    contact = Contact.objects.get()
    crm_before, exchange_before = crm_state(), ews.exchange()
    ews.sim.update_item(MAILBOX, item)  # a new change key, no property changed
    ews.sim.reset_counters()
    report = ews.sync()
    assert report.outcome == "synced" and report.contacts.written == 0
    assert ews.sim.request_count(ews.op("get_item"), MAILBOX) == 1  # looked, and saw nothing new
    assert ews.writes() == {}
    assert Contact.objects.get().updated_at == contact.updated_at
    assert crm_state() == crm_before and ews.exchange() == exchange_before
    quiet(ews)


@BOTH_TRANSPORTS
def test_edits_to_different_fields_on_both_sides_both_survive(ews) -> None:  # type: ignore[no-untyped-def]
    contact = crm_contact(ews.rep, last_name="Merge", title="Buyer", phone="1")
    ews.sync()
    (item,) = ews.items()
    ews.outlook.update(item["id"], BusinessPhone="2")
    contact.title = "Chief Buyer"
    contact.save()
    assert ews.sync().outcome == "synced"
    assert crm_state() == [{"owner": "rep", "account": None, "last_name": "Merge",
                            "title": "Chief Buyer", "phone": "2"}]
    assert ews.exchange() == [{"Surname": "Merge", "JobTitle": "Chief Buyer",
                               "PhoneNumbers": {"BusinessPhone": "2"}}]
    assert errors() == []
    quiet(ews)


@BOTH_TRANSPORTS
@pytest.mark.parametrize(
    ("policy", "crm_edited", "winner"),
    [
        ("crm_wins", "later", "crm"),
        ("exchange_wins", "later", "exchange"),
        ("most_recent", "earlier", "exchange"),
        ("most_recent", "later", "crm"),
    ],
)
def test_the_same_field_edited_on_both_sides_follows_the_policy(
    ews, policy, crm_edited, winner
) -> None:  # type: ignore[no-untyped-def]
    ews.configure(conflict_policy=policy)
    contact = crm_contact(ews.rep, last_name="Clash", title="Buyer")
    ews.sync()
    (item,) = ews.items()
    ews.outlook.update(item["id"], JobTitle="Exchange title")
    contact.title = "CRM title"
    contact.save()
    # Exchange stamps LastModifiedTime to the second: put the CRM edit clearly on one side.
    shift = dt.timedelta(hours=1) * (1 if crm_edited == "later" else -1)
    Contact.objects.filter(pk=contact.pk).update(updated_at=timezone.now() + shift)
    assert ews.sync().outcome == "synced"
    kept, lost = ("CRM title", "Exchange title")
    if winner == "exchange":
        kept, lost = lost, kept
    assert crm_state() == [{"owner": "rep", "account": None, "last_name": "Clash",
                            "title": kept}]
    assert ews.exchange() == [{"Surname": "Clash", "JobTitle": kept}]
    (error,) = errors()
    assert error.kind == "conflict" and error.contact_id == contact.pk
    assert lost in error.message and kept in error.message
    quiet(ews)


# EWS only: Exchange's indexed slots (EmailAddress2 with no EmailAddress1). Graph lists the
# addresses present without their slots, so there the first one present is the CRM's email.
def test_updating_the_business_phone_keeps_the_reps_other_phones(ews) -> None:  # type: ignore[no-untyped-def]
    contact = crm_contact(ews.rep, last_name="Phones", phone="111")
    ews.sync()
    (item,) = ews.items()
    ews.outlook.update(item["id"], BusinessPhone2="222", OtherTelephone="333",
                       EmailAddress2="second@x.test")
    ews.sync()
    contact.refresh_from_db()
    contact.phone = "999"
    contact.save()
    assert ews.sync().outcome == "synced"
    assert ews.exchange() == [{
        "Surname": "Phones",
        "PhoneNumbers": {"BusinessPhone": "999", "BusinessPhone2": "222", "OtherTelephone": "333"},
        "EmailAddresses": {"EmailAddress2": "second@x.test"},
    }]
    assert crm_state() == [{"owner": "rep", "account": None, "last_name": "Phones",
                            "phone": "999"}]
    quiet(ews)


@BOTH_TRANSPORTS
# --- deletes ------------------------------------------------------------------------------
@pytest.mark.parametrize(("how", "lands_in"), [("delete", "deleteditems"),
                                                ("move_out", "contacts")])
def test_a_contact_removed_from_salesforce_sync_is_unlinked_and_never_pushed_back(
    ews, how, lands_in
) -> None:  # type: ignore[no-untyped-def]
    contact = crm_contact(ews.rep, last_name="Kept")
    crm_contact(ews.rep, last_name="Stays")
    ews.sync()
    item = next(i for i in ews.items() if i["Surname"] == "Kept")
    getattr(ews.outlook, how)(item["id"])
    assert ews.sync().outcome == "synced"
    contact.title = "Edited later"
    contact.save()
    assert ews.sync().outcome == "synced"
    assert crm_state() == ordered([
        {"owner": "rep", "account": None, "last_name": "Kept", "title": "Edited later"},
        {"owner": "rep", "account": None, "last_name": "Stays"},
    ])
    assert ews.exchange() == [{"Surname": "Stays"}]
    assert ews.exchange(lands_in) == [{"Surname": "Kept"}]  # as the rep left it
    link = ContactLink.objects.get(contact=contact)
    assert (link.state, link.exchange_id) == (ContactLink.State.DETACHED, None)
    quiet(ews)


@BOTH_TRANSPORTS
def test_a_deleted_crm_contact_goes_to_deleted_items(ews) -> None:  # type: ignore[no-untyped-def]
    doomed = crm_contact(ews.rep, last_name="Doomed")
    crm_contact(ews.rep, last_name="Survivor")
    ews.sync()
    doomed.delete()
    assert ews.sync().outcome == "synced"
    assert crm_state() == [{"owner": "rep", "account": None, "last_name": "Survivor"}]
    assert ews.exchange() == [{"Surname": "Survivor"}]
    assert ews.deleted() == [{"Surname": "Doomed"}]
    assert [ln.contact.last_name for ln in ews.links()] == ["Survivor"]
    quiet(ews)


@BOTH_TRANSPORTS
@pytest.mark.parametrize("direction", ["crm_to_exchange", "both"])
def test_a_pushed_contact_leaving_the_filters(ews, direction) -> None:  # type: ignore[no-untyped-def]
    ews.configure(contacts_direction=direction)
    ContactFilter.objects.create(
        configuration=ews.config, field="title", operator="equals", value="Buyer"
    )
    leaving = crm_contact(ews.rep, last_name="Leaving", title="Buyer")
    crm_contact(ews.rep, last_name="Staying", title="Buyer")
    ews.sim.create_folder(MAILBOX, "Salesforce_Sync", parent="contacts")
    ews.outlook.create({"Surname": "FromOutlook", "JobTitle": "Buyer"})
    ews.sync()
    leaving.title = "Retired"
    leaving.save()
    if direction == "both":
        imported = Contact.objects.get(last_name="FromOutlook")
        imported.title = "Retired"
        imported.save()
    assert ews.sync().outcome == "synced"
    retired_outlook = "Retired" if direction == "both" else "Buyer"
    assert ews.exchange() == ordered([
        {"Surname": "Staying", "JobTitle": "Buyer"},
        {"Surname": "FromOutlook", "JobTitle": retired_outlook},
    ])
    assert ews.deleted() == [{"Surname": "Leaving", "JobTitle": "Buyer"}]
    crm = [
        {"owner": "rep", "account": None, "last_name": "Leaving", "title": "Retired"},
        {"owner": "rep", "account": None, "last_name": "Staying", "title": "Buyer"},
    ]
    if direction == "both":
        crm.append({"owner": "rep", "account": None, "last_name": "FromOutlook",
                    "title": "Retired"})
    assert crm_state() == ordered(crm)
    assert not ContactLink.objects.filter(contact=leaving).exists()
    quiet(ews)


@BOTH_TRANSPORTS
# --- safety rails -------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["emptied", "deleted"])
def test_the_mass_delete_guard(ews, how) -> None:  # type: ignore[no-untyped-def]
    for n in range(20):
        crm_contact(ews.rep, last_name=f"Guarded{n:02}")
    ews.sync()
    crm_before, exchange_before = crm_state(), ews.exchange()
    assert len(exchange_before) == 20
    if how == "emptied":
        for item in ews.items():
            ews.outlook.delete(item["id"])
    else:
        remove_folder(ews.sim, MAILBOX)
    ews.sim.reset_counters()
    report = ews.sync()
    assert report.outcome == "paused", report.summary()
    assert ews.writes() == {}
    assert crm_state() == crm_before
    assert len(ews.links("active")) == 20
    state = ews.state()
    assert state.contacts_paused_reason == "mass_delete"
    (error,) = errors("mass_delete")  # a safety stop, not the contact limit
    assert "20" in error.message and "reset" in error.suggestion.lower()
    assert error.direction == "exchange_to_crm"  # the deletes it stopped
    # Paused until an admin resets: nothing is even listed.
    ews.sim.reset_counters()
    assert ews.sync().outcome == "paused"
    assert ews.sim.request_count(mailbox=MAILBOX) == 0
    mark_for_reset(ews.rep)
    assert ews.sync().outcome == "synced"
    assert crm_state() == crm_before
    assert ews.exchange() == exchange_before  # restored from the CRM, once each
    assert len(ews.links("active")) == 20 and ContactLink.objects.count() == 20
    quiet(ews)


@BOTH_TRANSPORTS
def test_the_contact_limit(ews, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # The engine's knob: ContactSync(limit=...) defaults to contacts.sync.MAX_SYNCED_CONTACTS,
    # read when the runner builds it; 3 here stands for 50,000.
    monkeypatch.setattr(contacts_module, "MAX_SYNCED_CONTACTS", 3)
    for n in range(2):
        crm_contact(ews.rep, last_name=f"Crm{n}")
    ews.sim.create_folder(MAILBOX, "Salesforce_Sync", parent="contacts")
    for n in range(2):
        ews.outlook.create({"Surname": f"Ex{n}"})
    assert ews.sync().outcome == "synced"
    assert len(ews.links("active")) == 3
    assert crm_state() == [
        {"owner": "rep", "account": None, "last_name": name}
        for name in ("Crm0", "Crm1", "Ex0", "Ex1")
    ]
    assert ews.exchange() == [{"Surname": "Crm0"}, {"Surname": "Ex0"}, {"Surname": "Ex1"}]
    (error,) = errors("limit")
    assert "3" in error.message
    # A fourth contact in Outlook is not imported either.
    ews.outlook.create({"Surname": "Ex2"})
    assert ews.sync().outcome == "synced"
    assert len(ews.links("active")) == 3 and Contact.objects.count() == 4
    quiet(ews)


@BOTH_TRANSPORTS
def test_items_of_another_org_are_refused_and_ours_are_stamped(ews) -> None:  # type: ignore[no-untyped-def]
    from syncengine.transports.ews.stamps import PROPERTY_SET_ID

    ews.sim.create_folder(MAILBOX, "Salesforce_Sync", parent="contacts")
    foreign = ews.sim.create_contact(
        MAILBOX, folder=SYNC_FOLDER, Surname="Foreign",
        extended=[{"PropertySetId": PROPERTY_SET_ID, "PropertyName": "LightningSyncOrgId",
                   "PropertyType": "String", "Value": OTHER_ORG}],
    )
    foreign_before = ews.sim.item(MAILBOX, foreign)
    mine = crm_contact(ews.rep, last_name="Mine")
    ews.outlook.create({"Surname": "Outlook"})
    assert ews.sync().outcome == "synced"
    assert crm_state() == [
        {"owner": "rep", "account": None, "last_name": "Mine"},
        {"owner": "rep", "account": None, "last_name": "Outlook"},
    ]
    assert ews.exchange() == [{"Surname": "Foreign"}, {"Surname": "Mine"}, {"Surname": "Outlook"}]
    assert ews.sim.item(MAILBOX, foreign) == foreign_before  # untouched
    (error,) = errors("other_org")
    assert OTHER_ORG in error.message and error.exchange_item_id == ews.id_of({"id": foreign})
    assert "remove this user" in error.suggestion
    outlook = Contact.objects.get(last_name="Outlook")
    assert _item_stamps(ews) == {
        "Foreign": {"LightningSyncOrgId": OTHER_ORG},
        "Mine": ours(ews, mine),
        "Outlook": ours(ews, outlook),  # imported, then stamped: linked items carry both
    }
    quiet(ews)
    outlook.title = "Buyer"
    outlook.save()
    assert ews.sync().outcome == "synced"
    assert _item_stamps(ews)["Outlook"] == ours(ews, outlook)
    assert errors("other_org")[0].count == 1


@BOTH_TRANSPORTS
def test_the_mass_delete_guard_when_the_folder_went_to_deleted_items(ews) -> None:  # type: ignore[no-untyped-def]
    """Outlook deletes a folder by moving it, ids and all, under Deleted Items."""
    for n in range(20):
        crm_contact(ews.rep, last_name=f"Guarded{n:02}")
    ews.sync()
    with ews.sim.store.lock:
        mbx = ews.sim.store.mailbox(MAILBOX)
        folder = ews.sim.store.find_folder_by_path(mbx, SYNC_FOLDER)
        folder.parent = mbx.distinguished["deleteditems"]
    crm_contact(ews.rep, last_name="NewAfterwards")
    report = ews.sync()
    assert ews.has_sync_folder() == 0
    # Salesforce_Sync is missing from Contacts: the guard must stop, not keep writing into
    # a folder in Deleted Items.
    assert report.outcome == "paused", report.summary()
    assert ews.state().contacts_paused_reason == "mass_delete"
    assert len(ews.items("deleteditems/Salesforce_Sync")) == 20


@BOTH_TRANSPORTS
def test_a_salesforce_sync_deleted_in_outlook_below_the_guard_is_replaced(ews) -> None:  # type: ignore[no-untyped-def]
    for n in range(3):
        crm_contact(ews.rep, last_name=f"Few{n}")
    ews.sync()
    ews.outlook.delete_folder()  # Outlook: the folder moves under Deleted Items
    crm_contact(ews.rep, last_name="NewAfterwards")
    report = ews.sync()
    assert report.outcome == "synced" and report.contacts.folder_created, report.summary()
    assert ews.has_sync_folder() == 1
    # The rep removed those contacts: unlinked, kept in the CRM, not pushed back; the new
    # CRM contact went to the fresh folder, and nothing into the deleted one.
    assert ews.exchange() == [{"Surname": "NewAfterwards"}]
    assert ews.exchange("deleteditems/Salesforce_Sync") == [
        {"Surname": f"Few{n}"} for n in range(3)]
    assert [c["last_name"] for c in crm_state()] == ["Few0", "Few1", "Few2", "NewAfterwards"]
    assert len(ews.links("detached")) == 3 and len(ews.links("active")) == 1
    quiet(ews)


@BOTH_TRANSPORTS
def test_a_quiet_cycle_is_one_request_and_the_folder_check_one_more_hourly(ews) -> None:  # type: ignore[no-untyped-def]
    from lightningsync.models import FolderCursor

    crm_contact(ews.rep, last_name="Quiet")
    ews.sync()
    ews.sim.reset_counters()
    assert ews.sync().outcome == "synced"
    assert ews.sim.request_count(mailbox=MAILBOX) == 1
    assert ews.sim.request_count(ews.op("listing"), MAILBOX) == 1
    FolderCursor.objects.filter(user=ews.rep).update(
        folder_checked_at=timezone.now() - FOLDER_CHECK_INTERVAL)
    ews.sim.reset_counters()
    assert ews.sync().outcome == "synced"
    assert ews.sim.request_count(mailbox=MAILBOX) == 2
    assert ews.sim.request_count(ews.op("folder_check"), MAILBOX) == 1
    ews.sim.reset_counters()
    assert ews.sync().outcome == "synced"
    assert ews.sim.request_count(mailbox=MAILBOX) == 1


ALL_FIELDS_CRM = {
    "first_name": "Full", "last_name": "Record", "email": "full@x.test", "title": "CFO",
    "department": "Finance", "phone": "+1 555 0100", "mobile_phone": "+1 555 0101",
    "home_phone": "+1 555 0102", "fax": "+1 555 0103", "assistant_name": "Pat",
    "birthdate": dt.date(1980, 5, 4), "mailing_street": "1 Main St\nSuite 2",
    "mailing_city": "Springfield", "mailing_state": "CA", "mailing_postal_code": "90001",
    "mailing_country": "USA", "description": "Met at the fair.\nLikes tea.",
}


@BOTH_TRANSPORTS
def test_every_mapped_field_round_trips_without_rewrites(ews) -> None:  # type: ignore[no-untyped-def]
    acme = AccountFactory(name="Acme")
    crm_contact(ews.rep, account=acme, **ALL_FIELDS_CRM)
    ews.sim.create_folder(MAILBOX, "Salesforce_Sync", parent="contacts")
    ews.sim.create_contact(
        MAILBOX, folder=SYNC_FOLDER, GivenName="Out", Surname="Look", CompanyName="Acme",
        JobTitle="CTO", Department="R&D", AssistantName="Sam",
        EmailAddresses={"EmailAddress1": "out@x.test"},
        PhoneNumbers={"BusinessPhone": "1", "MobilePhone": "2", "HomePhone": "3",
                      "BusinessFax": "4"},
        PhysicalAddresses={"Business": {"Street": "2 High St", "City": "Shelbyville",
                                        "State": "OR", "PostalCode": "97001",
                                        "CountryOrRegion": "USA"}},
        Birthday=dt.date(1975, 12, 31), BodyType="HTML",
        Body="<html><body><p>Prefers <b>email</b></p></body></html>",
    )
    assert ews.sync().outcome == "synced"
    full = {k: v for k, v in ALL_FIELDS_CRM.items() if not k.startswith("mailing_")}
    full["birthdate"] = "1980-05-04"
    full["mailing_address"] = {"street": "1 Main St\nSuite 2", "city": "Springfield",
                               "state": "CA", "postal_code": "90001", "country": "USA"}
    assert crm_state() == ordered([
        {"owner": "rep", "account": "Acme", **full},
        {"owner": "rep", "account": "Acme", "first_name": "Out", "last_name": "Look",
         "email": "out@x.test", "title": "CTO", "department": "R&D", "phone": "1",
         "mobile_phone": "2", "home_phone": "3", "fax": "4", "assistant_name": "Sam",
         "birthdate": "1975-12-31", "description": "Prefers email",
         "mailing_address": {"street": "2 High St", "city": "Shelbyville", "state": "OR",
                             "postal_code": "97001", "country": "USA"}},
    ])
    pushed = next(i for i in ews.exchange() if i["Surname"] == "Record")
    assert {k: v for k, v in pushed.items() if k not in ("Body", "BodyType", "Birthday")} == {
        "GivenName": "Full", "Surname": "Record", "CompanyName": "Acme", "JobTitle": "CFO",
        "Department": "Finance", "AssistantName": "Pat",
        "EmailAddresses": {"EmailAddress1": "full@x.test"},
        "PhoneNumbers": {"BusinessPhone": "+1 555 0100", "MobilePhone": "+1 555 0101",
                         "HomePhone": "+1 555 0102", "BusinessFax": "+1 555 0103"},
        "PhysicalAddresses": {"Business": {"Street": "1 Main St\nSuite 2",
                                           "City": "Springfield", "State": "CA",
                                           "PostalCode": "90001", "CountryOrRegion": "USA"}},
    }
    assert pushed["Body"] == "Met at the fair.\nLikes tea."
    assert str(pushed["Birthday"]).startswith("1980-05-04")
    quiet(ews)


@BOTH_TRANSPORTS
def test_a_contact_synced_to_two_mailboxes_leaves_both_when_deleted(ews) -> None:  # type: ignore[no-untyped-def]
    ews.configure(contacts_ownership="all")
    colleague = ews.add_user("colleague")
    shared = crm_contact(ews.rep, last_name="Shared")
    assert ews.sync().outcome == "synced"
    assert ews.sync(colleague).outcome == "synced"
    for mailbox in (MAILBOX, colleague.email):
        assert ews.exchange(mailbox=mailbox) == [{"Surname": "Shared"}]
    shared.delete()
    assert ews.sync().outcome == "synced" and ews.sync(colleague).outcome == "synced"
    for mailbox in (MAILBOX, colleague.email):
        assert ews.exchange(mailbox=mailbox) == []
        assert ews.deleted(mailbox) == [{"Surname": "Shared"}]
    assert crm_state() == [] and ContactLink.objects.count() == 0
    quiet(ews)
