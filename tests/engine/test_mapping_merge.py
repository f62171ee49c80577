"""Mapping and merge, pure: no database."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from lightningsync.fieldmaps import DEFAULT_CONTACT_MAPPING
from lightningsync.models import Account, Contact
from syncengine.mapping import contacts as m
from syncengine.mapping.merge import Mode, Policy, Side, merge
from syncengine.mapping.normal import content_hash
from syncengine.transports.protocol import Address

MAPPING = DEFAULT_CONTACT_MAPPING


def test_a_contact_round_trips_through_exchange_fields() -> None:
    contact = Contact(first_name=" Ann ", last_name="Lee", email="Ann@Acme.test",
                      account=Account(name="Acme"), birthdate=dt.date(1980, 5, 6),
                      mailing_street="1 Main St", mailing_state="CA",
                      description="a\r\nb", phone="")
    values = m.crm_values(contact, MAPPING)
    assert values["first_name"] == "Ann" and values["phone"] is None
    assert values["birthdate"] == "1980-05-06" and values["description"] == "a\nb"
    assert values["mailing_address"] == {"street": "1 Main St", "city": None, "state": "CA",
                                         "postal_code": None, "country": None}
    fields = m.to_exchange(values, MAPPING)
    assert fields["Birthday"] == dt.date(1980, 5, 6)
    assert fields["BusinessAddress"] == Address("1 Main St", None, "CA", None, None)
    assert fields["CompanyName"] == "Acme"
    assert m.exchange_values(fields, MAPPING) == values


def test_exchange_values_are_cut_to_what_the_crm_holds() -> None:
    values = m.exchange_values({"GivenName": "x" * 100}, MAPPING)
    assert values["first_name"] == "x" * 40


def test_apply_writes_every_attribute_of_a_patch() -> None:
    contact = Contact(last_name="Old")
    changed = m.apply_to_contact(contact, {"last_name": "New", "birthdate": "2000-01-02",
                                           "mailing_address": {"city": "Paris"},
                                           "account_name": "ignored"})
    assert contact.last_name == "New" and contact.birthdate == dt.date(2000, 1, 2)
    assert contact.mailing_city == "Paris" and contact.mailing_street == ""
    assert "account" not in changed and "mailing_city" in changed


def test_the_hash_ignores_email_case_only() -> None:
    a = {"email": "A@X.TEST", "last_name": "Lee"}
    assert content_hash(a) == content_hash({"email": "a@x.test", "last_name": "Lee"})
    assert content_hash(a) != content_hash({"email": "a@x.test", "last_name": "lee"})


BASE = {"first_name": "Ann", "title": "Buyer", "phone": "1"}


def test_one_side_changed_takes_that_side() -> None:
    r = merge(BASE, {**BASE, "title": "Chief"}, {**BASE, "phone": "2"})
    assert r.merged == {"first_name": "Ann", "title": "Chief", "phone": "2"}
    assert r.crm_patch == {"phone": "2"} and r.exchange_patch == {"title": "Chief"}
    assert r.conflicts == []


def test_both_changed_is_a_conflict_resolved_by_policy() -> None:
    crm, ex = {**BASE, "title": "C"}, {**BASE, "title": "E"}
    r = merge(BASE, crm, ex)
    assert r.merged["title"] == "C" and r.exchange_patch == {"title": "C"}
    (c,) = r.conflicts
    assert (c.field, c.winner, c.losing_value) == ("title", Side.CRM, "E")
    assert merge(BASE, crm, ex, policy=Policy.EXCHANGE_WINS).merged["title"] == "E"
    now = dt.datetime.now(dt.UTC)
    recent = merge(BASE, crm, ex, policy=Policy.MOST_RECENT, crm_modified=now,
                   exchange_modified=now + dt.timedelta(seconds=1))
    assert recent.merged["title"] == "E"
    assert recent.conflicts[0].losing_value == "C"


def test_first_sight_fills_empty_fields_from_the_other_side() -> None:
    r = merge(None, {"title": None, "phone": "1"}, {"title": "T", "phone": None})
    assert r.merged == {"title": "T", "phone": "1"} and r.conflicts == []


def test_exchange_to_crm_takes_only_the_fields_exchange_changed() -> None:
    crm = {**BASE, "title": "C", "phone": "9"}  # the CRM edited both
    r = merge(BASE, crm, {**BASE, "title": "E"}, mode=Mode.EXCHANGE_TO_CRM)
    assert r.crm_patch == {"title": "E"} and r.exchange_patch == {}
    assert r.merged == {**BASE, "title": "E"}  # the snapshot follows Exchange
    (c,) = r.conflicts
    assert (c.field, c.winner, c.losing_value) == ("title", Side.EXCHANGE, "C")
    # Exchange changed nothing: the CRM's edits stay, nothing to write, nothing lost.
    quiet = merge(BASE, crm, BASE, mode=Mode.EXCHANGE_TO_CRM)
    assert (quiet.crm_patch, quiet.exchange_patch, quiet.conflicts) == ({}, {}, [])


def test_crm_to_exchange_takes_only_the_fields_the_crm_changed() -> None:
    ex = {**BASE, "title": "E", "phone": "9"}  # the rep edited both in Outlook
    r = merge(BASE, {**BASE, "title": "C"}, ex, mode=Mode.CRM_TO_EXCHANGE)
    assert r.exchange_patch == {"title": "C"} and r.crm_patch == {}
    assert r.merged == {**BASE, "title": "C"}  # the snapshot follows the CRM
    (c,) = r.conflicts
    assert (c.field, c.winner, c.losing_value) == ("title", Side.CRM, "E")


def test_one_way_first_sight_keeps_what_only_the_destination_has() -> None:
    crm = {"first_name": "Ann", "title": "C", "phone": None}
    ex = {"first_name": None, "title": "E", "phone": "2"}
    r = merge(None, crm, ex, mode=Mode.EXCHANGE_TO_CRM)
    assert r.crm_patch == {"title": "E", "phone": "2"} and r.exchange_patch == {}
    assert [(c.field, c.losing_value) for c in r.conflicts] == [("title", "C")]
    r = merge(None, crm, ex, mode=Mode.CRM_TO_EXCHANGE)
    assert r.exchange_patch == {"first_name": "Ann", "title": "C"} and r.crm_patch == {}
    assert [(c.field, c.losing_value) for c in r.conflicts] == [("title", "E")]


values = st.one_of(st.none(), st.sampled_from(["a", "b", "c"]))
records = st.fixed_dictionaries({"first_name": values, "title": values, "phone": values})
bases = st.one_of(st.none(), records)  # None: first sight
modes = st.sampled_from(list(Mode))
one_way = st.sampled_from([Mode.EXCHANGE_TO_CRM, Mode.CRM_TO_EXCHANGE])
policies = st.sampled_from(list(Policy))


@given(records, records, records, modes, policies)
def test_merging_the_merge_writes_nothing(base, crm, ex, mode, policy) -> None:  # type: ignore[no-untyped-def]
    r = merge(base, crm, ex, mode=mode, policy=policy)
    again = merge(r.merged, r.merged, r.merged, mode=mode, policy=policy)
    assert (again.crm_patch, again.exchange_patch) == ({}, {})
    assert again.merged == r.merged and not again.conflicts


@given(records, records, modes, policies)
def test_no_change_since_the_base_writes_nothing(base, other, mode, policy) -> None:  # type: ignore[no-untyped-def]
    result = merge(base, base, base, mode=mode, policy=policy)
    assert (result.crm_patch, result.exchange_patch) == ({}, {})


@given(records, records, records, policies)
def test_both_ways_patches_bring_both_sides_to_the_merge(base, crm, ex, policy) -> None:  # type: ignore[no-untyped-def]
    r = merge(base, crm, ex, policy=policy)
    assert {**crm, **r.crm_patch} == r.merged == {**ex, **r.exchange_patch}
    for name in r.merged:  # a side's unopposed edit is never lost
        if crm[name] != base[name] and ex[name] == base[name]:
            assert r.merged[name] == crm[name]
        if ex[name] != base[name] and crm[name] == base[name]:
            assert r.merged[name] == ex[name]


@given(records, st.sampled_from([Mode.BOTH, Mode.EXCHANGE_TO_CRM]), policies)
def test_an_import_takes_every_exchange_value_without_conflict(ex, mode, policy) -> None:  # type: ignore[no-untyped-def]
    empty = dict.fromkeys(ex)
    r = merge(None, empty, ex, mode=mode, policy=policy)
    assert r.merged == ex and r.exchange_patch == {} and r.conflicts == []
    assert r.crm_patch == {k: v for k, v in ex.items() if v is not None}
    # ... as the field-by-field merge of a first sight decides for fields empty in the CRM
    other = merge(None, {**empty, "title": "x"}, ex, mode=mode, policy=policy).merged
    assert {k: v for k, v in other.items() if k != "title"} == {
        k: v for k, v in ex.items() if k != "title"}


def _edited(base: dict | None, side: dict, name: str) -> bool:  # type: ignore[type-arg]
    """The side's value is an edit: changed since the snapshot (first sight: any value)."""
    return side[name] is not None if base is None else side[name] != base[name]


@given(bases, records, records, modes, policies)
def test_no_direction_discards_an_edit_without_an_entry(base, crm, ex, mode, policy) -> None:  # type: ignore[no-untyped-def]
    r = merge(base, crm, ex, mode=mode, policy=policy)
    kept = {(c.field, c.losing_value) for c in r.conflicts}
    for side, patch in ((crm, r.crm_patch), (ex, r.exchange_patch)):
        for name in patch:
            if _edited(base, side, name):
                assert (name, side[name]) in kept, (name, side, patch)


@given(records, records, records, one_way, policies)
def test_one_way_carries_what_the_source_changed_and_nothing_else(  # type: ignore[no-untyped-def]
        base, crm, ex, mode, policy) -> None:
    r = merge(base, crm, ex, mode=mode, policy=policy)
    to_crm = mode == Mode.EXCHANGE_TO_CRM
    source, destination = (ex, crm) if to_crm else (crm, ex)
    source_patch, patch = ((r.exchange_patch, r.crm_patch) if to_crm
                           else (r.crm_patch, r.exchange_patch))
    assert source_patch == {} and r.merged == source
    after = {**destination, **patch}
    for name in base:
        expected = source[name] if source[name] != base[name] else destination[name]
        assert after[name] == expected, name
    assert all(c.winner == (Side.EXCHANGE if to_crm else Side.CRM) for c in r.conflicts)


@given(bases, records, records, modes, policies)
def test_a_merge_once_written_merges_to_nothing(base, crm, ex, mode, policy) -> None:  # type: ignore[no-untyped-def]
    """With the merge's patches applied and its snapshot stored, the next merge (nothing
    changed meanwhile) writes nothing and reports nothing: no edit ping-pongs."""
    r = merge(base, crm, ex, mode=mode, policy=policy)
    again = merge(r.merged, {**crm, **r.crm_patch}, {**ex, **r.exchange_patch}, mode=mode,
                  policy=policy)
    assert (again.crm_patch, again.exchange_patch, again.conflicts) == ({}, {}, [])
    assert again.merged == r.merged
