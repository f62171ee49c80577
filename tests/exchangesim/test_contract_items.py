"""Contacts, distribution lists and extended properties through the real exchangelib."""

from __future__ import annotations

import pytest
from exchangelib import EWSDate
from exchangelib.errors import ErrorIrresolvableConflict, ErrorItemNotFound
from exchangelib.fields import FieldPath
from exchangelib.indexed_properties import EmailAddress, PhoneNumber, PhysicalAddress
from exchangelib.items import (
    ALWAYS_OVERWRITE,
    AUTO_RESOLVE,
    HARD_DELETE,
    MOVE_TO_DELETED_ITEMS,
    NEVER_OVERWRITE,
    SOFT_DELETE,
    Contact,
    DistributionList,
)
from exchangelib.properties import ItemId
from exchangelib.services import GetItem, UpdateItem

from exchangesim import ids

from .conftest import ALICE, BOB, ORG_GUID, OrgId

FULL = dict(
    given_name="Ann",
    surname="Lee",
    display_name="Ann Lee",
    file_as="Lee, Ann",
    company_name="Acme",
    job_title="CFO",
    department="Finance",
    assistant_name="Zed",
    birthday=EWSDate(1980, 5, 4),
    body="Met at the fair",
    categories=["Customer", "VIP"],
    email_addresses=[
        EmailAddress(label="EmailAddress1", email="ann@acme.test"),
        EmailAddress(label="EmailAddress2", email="ann@home.test"),
    ],
    phone_numbers=[
        PhoneNumber(label="BusinessPhone", phone_number="+1 555 0100"),
        PhoneNumber(label="MobilePhone", phone_number="+1 555 0101"),
        PhoneNumber(label="HomePhone", phone_number="+1 555 0102"),
        PhoneNumber(label="BusinessFax", phone_number="+1 555 0103"),
        PhoneNumber(label="AssistantPhone", phone_number="+1 555 0104"),
    ],
    physical_addresses=[
        PhysicalAddress(
            label="Business",
            street="1 Main St",
            city="Springfield",
            state="CA",
            zipcode="90001",
            country="USA",
        ),
        PhysicalAddress(label="Home", street="2 Elm", city="Shelbyville"),
    ],
)


def make_contact(account, **overrides):
    c = Contact(folder=account.contacts, **{**FULL, **overrides})
    c.save()
    return c


def test_it_round_trips_every_mapped_contact_field(alice, sim):
    c = make_contact(alice, org_id="org-1")
    got = alice.contacts.get(id=c.id)
    for name, value in FULL.items():
        got_value = getattr(got, name)
        if isinstance(value, list) and name != "categories":
            assert sorted(got_value, key=lambda v: v.label) == sorted(
                value, key=lambda v: v.label
            ), name
        else:
            assert got_value == value, name
    assert got.org_id == "org-1"
    stored = sim.sim.item(ALICE, c.id)
    assert stored["PhoneNumbers"]["BusinessFax"] == "+1 555 0103"
    assert stored["PhysicalAddresses"]["Business"]["PostalCode"] == "90001"
    assert stored["Body"] == "Met at the fair"


def test_it_returns_only_the_requested_properties(alice):
    c = make_contact(alice, org_id="org-1")
    got = next(
        iter(
            GetItem(account=alice).call(
                items=[c],
                additional_fields=[
                    FieldPath(field=Contact.get_field_by_fieldname(n))
                    for n in ("given_name", "org_id")
                ],
                shape="IdOnly",
            )
        )
    )
    # exchangelib parses what the server sent: nothing but the two asked-for properties.
    assert got.given_name == "Ann" and got.org_id == "org-1"
    assert got.surname is None and got.body is None and got.phone_numbers is None
    assert got.display_name is None and got.categories is None


def test_it_moves_the_change_key_on_every_update(alice):
    c = make_contact(alice)
    keys = {c.changekey}
    for title in ("A", "B", "C"):
        c.job_title = title
        c.save(update_fields=["job_title"])
        keys.add(c.changekey)
    assert len(keys) == 4
    assert alice.contacts.get(id=c.id).job_title == "C"


def test_it_updates_indexed_fields_per_entry(alice, sim):
    c = make_contact(alice)
    c.phone_numbers = [PhoneNumber(label="MobilePhone", phone_number="999")]
    c.physical_addresses = [
        PhysicalAddress(label="Business", street="9 New Rd", city="Springfield")
    ]
    c.email_addresses = [EmailAddress(label="EmailAddress1", email="new@acme.test")]
    c.save(update_fields=["phone_numbers", "physical_addresses", "email_addresses"])
    stored = sim.sim.item(ALICE, c.id)
    assert stored["PhoneNumbers"] == {"MobilePhone": "999"}
    assert stored["PhysicalAddresses"] == {
        "Business": {"Street": "9 New Rd", "City": "Springfield"}
    }
    assert stored["EmailAddresses"] == {"EmailAddress1": "new@acme.test"}


def test_it_deletes_fields(alice, sim):
    c = make_contact(alice)
    c.job_title = None
    c.categories = None
    c.save(update_fields=["job_title", "categories"])
    stored = sim.sim.item(ALICE, c.id)
    assert "JobTitle" not in stored and "Categories" not in stored


def test_it_appends_to_the_body(alice, sim):
    """AppendToItemField on Body adds text instead of replacing it."""
    from exchangelib.util import create_element, set_xml_value

    c = make_contact(alice)
    svc = UpdateItem(account=alice)
    payload = svc.get_payload(
        items=[(c, ["body"])],
        conflict_resolution=AUTO_RESOLVE,
        message_disposition="SaveOnly",
        send_meeting_invitations_or_cancellations="SendToNone",
        suppress_read_receipts=True,
    )
    setf = payload.find(".//{*}SetItemField")
    setf.tag = setf.tag.replace("SetItemField", "AppendToItemField")
    for body in setf.iter("{*}Body"):
        body.text = " + more"
    assert create_element and set_xml_value
    list(svc._get_elements(payload=payload))
    assert sim.sim.item(ALICE, c.id)["Body"] == "Met at the fair + more"


@pytest.mark.parametrize("mode", [NEVER_OVERWRITE, AUTO_RESOLVE])
def test_it_refuses_a_stale_change_key(alice, sim, mode):
    c = make_contact(alice)
    stale = c.changekey
    sim.sim.update_item(ALICE, c.id, JobTitle="Changed in Outlook")
    c.job_title = "Changed by sync"
    c._id = ItemId(c.id, stale)
    with pytest.raises(ErrorIrresolvableConflict):
        c.save(update_fields=["job_title"], conflict_resolution=mode)
    assert sim.sim.item(ALICE, c.id)["JobTitle"] == "Changed in Outlook"


def test_auto_resolve_merges_edits_to_other_fields(alice, sim):
    """AutoResolve only conflicts on a property both sides changed."""
    c = make_contact(alice)
    stale = c.changekey
    sim.sim.update_item(ALICE, c.id, Department="Sales")
    c.job_title = "COO"
    c._id = ItemId(c.id, stale)
    c.save(update_fields=["job_title"], conflict_resolution=AUTO_RESOLVE)
    stored = sim.sim.item(ALICE, c.id)
    assert (stored["JobTitle"], stored["Department"]) == ("COO", "Sales")


def test_always_overwrite_wins_over_a_stale_change_key(alice, sim):
    c = make_contact(alice)
    stale = c.changekey
    sim.sim.update_item(ALICE, c.id, JobTitle="Changed in Outlook")
    c.job_title = "Changed by sync"
    c._id = ItemId(c.id, stale)
    c.save(update_fields=["job_title"], conflict_resolution=ALWAYS_OVERWRITE)
    assert sim.sim.item(ALICE, c.id)["JobTitle"] == "Changed by sync"


def test_bulk_update_reports_conflicts_per_item_only_if_caught(alice, sim):
    """exchangelib raises ErrorIrresolvableConflict out of bulk_update: it aborts the chunk."""
    a, b = make_contact(alice), make_contact(alice, given_name="Bo")
    stale_b = b.changekey
    sim.sim.update_item(ALICE, b.id, JobTitle="x")
    a.job_title, b.job_title = "A2", "B2"
    b._id = ItemId(b.id, stale_b)
    with pytest.raises(ErrorIrresolvableConflict):
        alice.bulk_update([(a, ["job_title"]), (b, ["job_title"])])
    # The server applied the first change anyway: ResponseClass is per item.
    assert sim.sim.item(ALICE, a.id)["JobTitle"] == "A2"


def test_unknown_ids_fail_per_item(alice):
    c = make_contact(alice)
    mbx_uid = ids.parse_id(c.id)[1]
    unknown = ids.make_id(ids.KIND_ITEM, mbx_uid, ids.new_uid())
    res = list(alice.fetch(ids=[(unknown, None), c]))
    assert isinstance(res[0], ErrorItemNotFound)
    assert res[1].given_name == "Ann"
    res = alice.bulk_delete(ids=[(unknown, None), c], delete_type=HARD_DELETE)
    assert isinstance(res[0], ErrorItemNotFound) and res[1] is True


@pytest.mark.parametrize(
    "mode,where",
    [(HARD_DELETE, None), (SOFT_DELETE, None), (MOVE_TO_DELETED_ITEMS, "deleteditems")],
)
def test_delete_modes(alice, sim, mode, where):
    c = make_contact(alice)
    c.delete() if mode == HARD_DELETE else (
        c.soft_delete() if mode == SOFT_DELETE else c.move_to_trash()
    )
    assert sim.sim.items(ALICE, "contacts") == []
    trash = sim.sim.items(ALICE, "deleteditems")
    assert [t["GivenName"] for t in trash] == (["Ann"] if where else [])


def test_move_gives_a_new_id(alice, sim):
    sim.sim.create_folder(ALICE, "Salesforce_Sync")
    target = alice.contacts / "Salesforce_Sync"
    c = make_contact(alice)
    old = c.id
    c.move(target)
    assert c.id != old
    assert [i["id"] for i in sim.sim.items(ALICE, "contacts/Salesforce_Sync")] == [c.id]
    assert isinstance(next(iter(alice.fetch(ids=[(old, None)]))), ErrorItemNotFound)


def test_distribution_lists_are_listed_as_such(alice, sim):
    sim.sim.create_distribution_list(ALICE, "Team", ["x@example.com", "y@example.com"])
    make_contact(alice)
    kinds = sorted(type(i).__name__ for i in alice.contacts.all())
    assert kinds == ["Contact", "DistributionList"]
    dl = next(i for i in alice.contacts.all() if isinstance(i, DistributionList))
    assert sorted(m.mailbox.email_address for m in dl.members) == ["x@example.com", "y@example.com"]


def test_extended_property_guid_case_does_not_matter(alice, sim):
    # Written by another client with an upper-case GUID, read with the lower-case class.
    cid = sim.sim.create_contact(
        ALICE,
        GivenName="Up",
        extended=[
            {
                "PropertySetId": ORG_GUID.upper(),
                "PropertyName": OrgId.property_name,
                "PropertyType": "String",
                "Value": "org-UP",
            }
        ],
    )
    assert alice.contacts.get(id=cid).org_id == "org-UP"

    class UpperOrgId(OrgId):
        property_set_id = ORG_GUID.upper()

    Contact.register("org_id_upper", UpperOrgId)
    try:
        c = make_contact(alice, org_id_upper="org-2")
        assert alice.contacts.get(id=c.id).org_id == "org-2"  # same property, other spelling
        stored = sim.sim.item(ALICE, c.id)["extended"]
        assert [e["Value"] for e in stored] == ["org-2"]
    finally:
        Contact.deregister("org_id_upper")


def test_any_extended_property_type_round_trips(alice):
    from exchangelib.extended_properties import ExtendedProperty

    class Flags(ExtendedProperty):
        distinguished_property_set_id = "PublicStrings"
        property_name = "SyncFlags"
        property_type = "IntegerArray"

    class Tag(ExtendedProperty):
        property_tag = 0x3A45
        property_type = "String"

    Contact.register("sync_flags", Flags)
    Contact.register("tag_prop", Tag)
    try:
        c = make_contact(alice, sync_flags=[1, 2, 3], tag_prop="tagged")
        got = alice.contacts.get(id=c.id)
        assert (got.sync_flags, got.tag_prop) == ([1, 2, 3], "tagged")
    finally:
        Contact.deregister("sync_flags")
        Contact.deregister("tag_prop")


def test_mailboxes_are_isolated(sim):
    alice, bob = sim.account(ALICE), sim.account(BOB)
    c = make_contact(alice)
    assert bob.contacts.all().count() == 0
    assert isinstance(next(iter(bob.fetch(ids=[c]))), ErrorItemNotFound)


def test_a_malformed_change_key_on_delete_is_refused(alice, sim):
    from exchangelib.errors import ErrorInvalidChangeKey

    c = make_contact(alice)
    res = alice.bulk_delete(ids=[(c.id, "not-a-change-key")], delete_type=HARD_DELETE)
    assert isinstance(res[0], ErrorInvalidChangeKey)
    assert [i["id"] for i in sim.sim.items(ALICE, "contacts")] == [c.id]
    # Without a change key, or with the item's own, the delete goes through.
    assert alice.bulk_delete(ids=[(c.id, c.changekey)], delete_type=HARD_DELETE) == [True]
    assert sim.sim.items(ALICE, "contacts") == []
