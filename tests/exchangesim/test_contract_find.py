"""FindItem sorts by the view's SortOrder, indexed properties included, before paging."""

from __future__ import annotations

import pytest
from exchangelib.errors import ErrorUnsupportedPathForSortGroup
from exchangelib.indexed_properties import EmailAddress, PhysicalAddress
from exchangelib.items import Contact


def _contacts(account, n: int = 4):
    # Created out of order, so the folder's own order is no answer.
    for i in (2, 0, 3, 1)[:n]:
        Contact(
            folder=account.contacts,
            display_name=f"C{i}",
            given_name=f"{'abcd'[3 - i]}-given",
            email_addresses=[EmailAddress(label="EmailAddress1", email=f"{i}@foo.example")],
            physical_addresses=[PhysicalAddress(label="Home", street=f"Elm St {i}")],
            org_id=f"org-{i}",
        ).save()


def test_order_by_an_indexed_email_address(alice):
    _contacts(alice)
    qs = alice.contacts.all()
    emails = qs.order_by("email_addresses__EmailAddress1").values_list("email_addresses", flat=True)
    assert [e[0].email for e in emails] == [f"{i}@foo.example" for i in range(4)]
    desc = qs.order_by("-email_addresses__EmailAddress1").values_list("email_addresses", flat=True)
    assert [e[0].email for e in desc] == [f"{i}@foo.example" for i in (3, 2, 1, 0)]


def test_order_by_a_physical_address_part_and_plain_properties(alice):
    _contacts(alice)
    qs = alice.contacts.all()
    streets = qs.order_by("-physical_addresses__Home__street").values_list(
        "physical_addresses", flat=True
    )
    assert [a[0].street for a in streets] == [f"Elm St {i}" for i in (3, 2, 1, 0)]
    assert list(qs.order_by("given_name").values_list("display_name", flat=True)) == [
        "C3",
        "C2",
        "C1",
        "C0",
    ]
    # The org stamp is an extended property: sorted by its value.
    assert list(qs.order_by("-org_id").values_list("display_name", flat=True)) == [
        "C3",
        "C2",
        "C1",
        "C0",
    ]


def test_sorting_comes_before_paging(alice):
    _contacts(alice)
    qs = alice.contacts.all().order_by("email_addresses__EmailAddress1")
    qs.page_size = 2
    assert [c.display_name for c in qs[1:3]] == ["C1", "C2"]


def test_a_second_sort_key_breaks_ties(alice):
    for name, given in (("B", "x"), ("A", "y"), ("C", "x"), ("D", "y")):
        Contact(folder=alice.contacts, display_name=name, given_name=given).save()
    names = alice.contacts.all().order_by("-given_name", "display_name")
    assert list(names.values_list("display_name", flat=True)) == ["A", "D", "B", "C"]


def test_sorting_on_a_property_exchange_cannot_sort_on_is_refused(alice):
    from exchangelib.fields import FieldOrder, FieldPath
    from exchangelib.services import FindItem

    _contacts(alice, 1)
    field = Contact.get_field_by_fieldname("effective_rights")
    with pytest.raises(ErrorUnsupportedPathForSortGroup):
        list(
            FindItem(account=alice, page_size=10).call(
                folders=[alice.contacts],
                additional_fields=set(),
                restriction=None,
                order_fields=[FieldOrder(field_path=FieldPath(field=field))],
                shape="IdOnly",
                query_string=None,
                depth="Shallow",
                calendar_view=None,
                max_items=None,
                offset=0,
            )
        )


def _names(qs) -> list[str]:
    return sorted(qs.values_list("display_name", flat=True))


def test_a_restriction_keeps_only_the_matching_items(alice):
    """FindItem used to ignore m:Restriction and list the whole folder."""
    from exchangelib import EWSDate, Q

    _contacts(alice)
    Contact(
        folder=alice.contacts,
        display_name="Zed",
        categories=["VIP", "Customer"],
        birthday=EWSDate(1980, 5, 4),
    ).save()
    qs = alice.contacts.all()
    assert _names(qs.filter(given_name="A-GIVEN")) == ["C3"]  # text ignores case
    assert _names(qs.filter(given_name__startswith="c")) == ["C1"]
    assert _names(qs.filter(given_name__icontains="GIV")) == ["C0", "C1", "C2", "C3"]
    assert _names(qs.filter(categories__contains=["VIP"])) == ["Zed"]
    assert _names(qs.filter(email_addresses__EmailAddress1="2@foo.example")) == ["C2"]
    assert _names(qs.filter(physical_addresses__Home__street="Elm St 1")) == ["C1"]
    assert _names(qs.filter(org_id="org-0")) == ["C0"]  # an extended property
    assert _names(qs.filter(Q(org_id="org-0") | Q(org_id="org-3"))) == ["C0", "C3"]
    assert _names(qs.exclude(given_name__exists=True)) == ["Zed"]
    assert _names(qs.filter(birthday__gte=EWSDate(1980, 1, 1))) == ["Zed"]
    assert qs.filter(given_name="nobody").count() == 0
