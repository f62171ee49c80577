"""SPEC §4, one-way directions end to end (exchangesim, real exchangelib): the destination's
own edit of a field stays until the source changes that same field; then the source wins for
that field and the destination's value is kept in a Conflict entry. Fields the source did not
change are never reverted, and no cycle discards an edit without an entry."""

from __future__ import annotations

from lightningsync.models import Contact

from .ews_fixtures import (  # noqa: F401  (fixtures)
    BOTH_TRANSPORTS,
    EwsWorld,
    crm_contact,
    crm_state,
    errors,
    ews_fixture,
)
from .test_ews_scenarios import quiet


def _conflicts() -> list[tuple[str, str, str]]:
    """(kind, CRM contact's last name, message) of every error report row."""
    names = dict(Contact.objects.values_list("pk", "last_name"))
    return [(e.kind, names.get(e.contact_id or 0, ""), e.message) for e in errors()]


@BOTH_TRANSPORTS
def test_exchange_to_crm_keeps_crm_edits_until_exchange_changes_that_field(ews: EwsWorld) -> None:
    ews.configure(contacts_direction="exchange_to_crm")
    ews.sim.create_folder("rep@example.com", "Salesforce_Sync", parent="contacts")
    item_id = ews.outlook.create({"Surname": "Lee", "JobTitle": "Buyer", "BusinessPhone": "111"})
    assert ews.sync().outcome == "synced"
    contact = Contact.objects.get()
    contact.title, contact.phone = "CRM title", "222"  # edited in the CRM
    contact.save()
    outlook = [{"Surname": "Lee", "JobTitle": "Buyer", "PhoneNumbers": {"BusinessPhone": "111"}}]

    # Exchange changed nothing: the CRM edits stay, nothing is written anywhere.
    quiet(ews)
    assert crm_state() == [{"owner": "rep", "account": None, "last_name": "Lee",
                            "title": "CRM title", "phone": "222"}]
    assert ews.exchange() == outlook and errors() == []

    # Exchange changes the title: it wins that field, the CRM's title is kept in an entry;
    # the phone, which Exchange did not change, keeps the CRM's edit.
    ews.outlook.update(item_id, JobTitle="Exchange title")
    ews.sim.reset_counters()
    assert ews.sync().outcome == "synced"
    assert ews.writes() == {}
    assert crm_state() == [{"owner": "rep", "account": None, "last_name": "Lee",
                            "title": "Exchange title", "phone": "222"}]
    outlook[0]["JobTitle"] = "Exchange title"
    assert ews.exchange() == outlook
    ((kind, name, message),) = _conflicts()
    assert (kind, name) == ("conflict", "Lee")
    assert "“CRM title”" in message and "“Exchange title”" in message
    quiet(ews)


@BOTH_TRANSPORTS
def test_crm_to_exchange_keeps_exchange_edits_until_the_crm_changes_that_field(
        ews: EwsWorld) -> None:
    ews.configure(contacts_direction="crm_to_exchange")
    contact = crm_contact(ews.rep, last_name="Lee", title="Buyer", phone="111")
    assert ews.sync().outcome == "synced"
    (item,) = ews.items()
    ews.outlook.update(item["id"], JobTitle="Exchange title", BusinessPhone="222")  # in Outlook
    crm = [{"owner": "rep", "account": None, "last_name": "Lee", "title": "Buyer",
            "phone": "111"}]
    outlook = [{"Surname": "Lee", "JobTitle": "Exchange title",
                "PhoneNumbers": {"BusinessPhone": "222"}}]

    # The CRM changed nothing: the Exchange edits stay, nothing is written anywhere.
    quiet(ews)
    assert crm_state() == crm and ews.exchange() == outlook and errors() == []

    # The CRM changes the title: it wins that field, the rep's title is kept in an entry; the
    # phone, which the CRM did not change, keeps the rep's edit.
    contact.refresh_from_db()
    contact.title = "CRM title"
    contact.save()
    ews.sim.reset_counters()
    assert ews.sync().outcome == "synced"
    assert ews.writes() == {ews.op("update"): 1}
    crm[0]["title"] = "CRM title"
    assert crm_state() == crm
    outlook[0]["JobTitle"] = "CRM title"
    assert ews.exchange() == outlook
    ((kind, name, message),) = _conflicts()
    assert (kind, name) == ("conflict", "Lee")
    assert "“Exchange title”" in message and "“CRM title”" in message
    quiet(ews)


@BOTH_TRANSPORTS
def test_a_one_way_divergence_is_merged_when_the_direction_becomes_both_ways(
        ews: EwsWorld) -> None:
    """After CRM to Exchange, the rep's kept edits reach the CRM under Both ways (the
    configuration change reads every item again), instead of being overwritten later."""
    ews.configure(contacts_direction="crm_to_exchange")
    crm_contact(ews.rep, last_name="Lee", title="Buyer", phone="111")
    assert ews.sync().outcome == "synced"
    (item,) = ews.items()
    ews.outlook.update(item["id"], BusinessPhone="222")
    assert ews.sync().outcome == "synced"
    ews.configure(contacts_direction="both")
    assert ews.sync().outcome == "synced"
    assert crm_state() == [{"owner": "rep", "account": None, "last_name": "Lee",
                            "title": "Buyer", "phone": "222"}]
    assert ews.exchange() == [{"Surname": "Lee", "JobTitle": "Buyer",
                               "PhoneNumbers": {"BusinessPhone": "222"}}]
    assert errors() == []
    quiet(ews)
