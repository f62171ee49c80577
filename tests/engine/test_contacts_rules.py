"""SPEC §4: matching, accounts, changes, merge, deletes, guards; on the memory mailbox and
over the wire (EWS and Graph against exchangesim), but for the few tests that drive what only
the memory mailbox can (its clock, its folder, its call counts; the wire has its own tests
of those in test_ews_scenarios.py and test_reset_sync.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from lightningsync.models import (
    Contact,
    ContactLink,
    FolderCursor,
    LightningSyncError,
    UserSyncState,
)
from syncengine.contacts import sync as contacts_module
from syncengine.contacts.state import FOLDER_CHECK_INTERVAL
from syncengine.cycle.reset import mark_for_reset
from tests.factories import AccountFactory, UserFactory

from .conftest import crm_contact, crm_state, exchange_state, fields_of
from .mailbox_sides import ALL_TRANSPORTS


def _errors(kind: str | None = None) -> list[LightningSyncError]:
    qs = LightningSyncError.objects.order_by("pk")
    return list(qs.filter(kind=kind) if kind else qs)


# --- first sight --------------------------------------------------------------------------
@ALL_TRANSPORTS
def test_first_sight_matches_by_email_case_insensitively(sync, rep, mailbox) -> None:  # type: ignore[no-untyped-def]
    other = UserFactory(username="other")
    existing = crm_contact(other, first_name="Ann", last_name="Lee", email="Ann@Acme.test")
    mailbox.rep_create({"GivenName": "Ann", "Surname": "Lee", "EmailAddress1": "ann@acme.TEST",
                        "BusinessPhone": "555"})
    sync()
    assert crm_state() == [{"owner": "other", "first_name": "Ann", "last_name": "Lee",
                            "email": "Ann@Acme.test", "phone": "555"}]
    assert ContactLink.objects.get().contact == existing


@ALL_TRANSPORTS
def test_first_sight_matches_by_name_and_account(sync, rep, mailbox) -> None:  # type: ignore[no-untyped-def]
    acme = AccountFactory(name="Acme")
    existing = crm_contact(rep, first_name="Bo", last_name="Diddley", account=acme)
    crm_contact(rep, first_name="Bo", last_name="Diddley", account=AccountFactory(name="Other Co"))
    mailbox.rep_create({"GivenName": "bo", "Surname": "DIDDLEY", "CompanyName": "acme"})
    sync()
    assert ContactLink.objects.get(exchange_id__isnull=False,
                                   contact__account=acme).contact == existing
    assert Contact.objects.count() == 2


@ALL_TRANSPORTS
def test_first_sight_creates_a_contact_owned_by_the_user(sync, rep, mailbox) -> None:  # type: ignore[no-untyped-def]
    mailbox.rep_create({"GivenName": "New", "Surname": "Person", "Birthday": dt.date(1990, 2, 3),
                        "Body": "Met at the fair\r\n"})
    sync()
    assert crm_state() == [{"owner": "rep", "first_name": "New", "last_name": "Person",
                            "birthdate": "1990-02-03", "description": "Met at the fair"}]


@ALL_TRANSPORTS
def test_two_exchange_duplicates_never_share_one_crm_contact(sync, rep, mailbox) -> None:  # type: ignore[no-untyped-def]
    crm_contact(rep, last_name="Twin", email="twin@x.test")
    mailbox.rep_create({"Surname": "Twin", "EmailAddress1": "twin@x.test"})
    mailbox.rep_create({"Surname": "Twin", "EmailAddress1": "twin@x.test"})
    sync()
    assert Contact.objects.count() == 2
    assert ContactLink.objects.filter(exchange_id__isnull=False).count() == 2
    assert len(mailbox.folder_items()) == 2


@ALL_TRANSPORTS
def test_reset_relinks_without_duplicates(sync, rep, mailbox) -> None:  # type: ignore[no-untyped-def]
    crm_contact(rep, first_name="Crm", last_name="Side", email="crm@x.test")
    mailbox.rep_create({"GivenName": "Ex", "Surname": "Side", "EmailAddress1": "ex@x.test"})
    sync()
    before_crm, before_ex = crm_state(), exchange_state(mailbox)
    state = mark_for_reset(rep)
    assert state.reset_state == "marked"
    report = sync()
    assert report.outcome == "synced"
    assert crm_state() == before_crm and exchange_state(mailbox) == before_ex
    assert ContactLink.objects.count() == 2
    assert UserSyncState.objects.get(user=rep).reset_state == ""


# --- accounts -----------------------------------------------------------------------------
@ALL_TRANSPORTS
def test_company_resolves_to_an_account_case_insensitively(sync, rep, mailbox) -> None:  # type: ignore[no-untyped-def]
    acme = AccountFactory(name="Acme Corp")
    mailbox.rep_create({"Surname": "Worker", "CompanyName": "ACME corp"})
    sync()
    assert Contact.objects.get().account == acme
    assert _errors() == []


@ALL_TRANSPORTS
def test_an_unknown_company_leaves_the_account_empty_and_reports_it(sync, rep, mailbox) -> None:  # type: ignore[no-untyped-def]
    item = mailbox.rep_create({"Surname": "Worker", "CompanyName": "Nowhere Ltd"})
    sync()
    assert crm_state() == [{"owner": "rep", "last_name": "Worker"}]
    (error,) = _errors()
    assert (error.kind, error.exchange_item_id) == ("unresolved_account", item)
    assert "Nowhere Ltd" in error.message
    assert fields_of(mailbox, item)["CompanyName"] == "Nowhere Ltd"  # not cleared
    mailbox.reset_counters()
    sync()
    assert not mailbox.writes and _errors()[0].count == 1


@ALL_TRANSPORTS
def test_an_unresolved_account_entry_resolves_once_the_company_resolves(
        sync, rep, mailbox) -> None:  # type: ignore[no-untyped-def]
    item = mailbox.rep_create({"Surname": "Worker", "EmailAddress1": "w@x.test",
                               "CompanyName": "Nowhere Ltd"})
    sync()
    worker = Contact.objects.get()
    (error,) = _errors("unresolved_account")
    assert (error.contact, error.crm_record_id) == (worker, str(worker.pk))
    # The item syncing again (a CRM edit pushed to it) while the company still names no
    # account does not resolve the entry.
    worker.title = "Clerk"
    worker.save()
    sync()
    assert fields_of(mailbox, item)["JobTitle"] == "Clerk"
    assert not _errors("unresolved_account")[0].resolved
    # The rep edits the item again: still no such account, the entry stays open and counts.
    mailbox.rep_update(item, BusinessPhone="1")
    sync()
    (error,) = _errors("unresolved_account")
    assert (error.resolved, error.count) == (False, 2)
    # The account now exists; the item's next change links it and resolves the entry.
    nowhere = AccountFactory(name="Nowhere Ltd")
    mailbox.rep_update(item, BusinessPhone="2")
    sync()
    assert Contact.objects.get().account == nowhere
    (error,) = _errors("unresolved_account")
    assert error.resolved and error.resolved_at is not None
    mailbox.reset_counters()
    assert sync().contacts.written == 0 and not mailbox.writes


# --- the CRM id stamp -------------------------------------------------------------------------
@ALL_TRANSPORTS
def test_imported_items_are_stamped_once_and_relinked_by_their_stamp(sync, rep, mailbox) -> None:  # type: ignore[no-untyped-def]
    item_id = mailbox.rep_create({"Surname": "Ex", "EmailAddress1": "ex@x.test"})
    report = sync()
    assert report.contacts.crm_created == 1
    contact = Contact.objects.get()
    item = {i.id: i for i in mailbox.folder_items()}[item_id]
    assert (item.org_stamp, item.crm_stamp) == (mailbox.org_id, str(contact.pk))
    assert mailbox.writes == {"update": 1}  # the stamps alone
    mailbox.reset_counters()
    assert sync().contacts.written == 0 and not mailbox.writes  # our own write: nothing to do
    # The rep then removes what email or name matching would use: the stamp still finds it.
    mailbox.rep_update(item_id, EmailAddress1=None, Surname=None, GivenName="Nameless")
    sync()
    mark_for_reset(rep)
    mailbox.reset_counters()
    sync()
    assert Contact.objects.count() == 1 and ContactLink.objects.get().contact == contact
    assert not mailbox.writes


# --- changes ------------------------------------------------------------------------------
@ALL_TRANSPORTS
def test_a_change_key_bump_alone_writes_nothing(sync, rep, mailbox) -> None:  # type: ignore[no-untyped-def]
    item = mailbox.rep_create({"Surname": "Opened"})
    sync()
    contact = Contact.objects.get()
    mailbox.touch(item)
    mailbox.reset_counters()
    report = sync()
    assert report.contacts.fetched == 1 and report.contacts.written == 0
    assert not mailbox.writes
    assert Contact.objects.get().updated_at == contact.updated_at


@ALL_TRANSPORTS
def test_edits_on_both_sides_to_different_fields_both_survive(sync, rep, mailbox) -> None:  # type: ignore[no-untyped-def]
    contact = crm_contact(rep, last_name="Merge", title="Buyer", phone="1")
    sync()
    (item,) = mailbox.folder_items()
    mailbox.rep_update(item.id, BusinessPhone="2")
    contact.title = "Chief Buyer"
    contact.save()
    sync()
    assert crm_state() == [{"owner": "rep", "last_name": "Merge", "title": "Chief Buyer",
                            "phone": "2"}]
    assert exchange_state(mailbox) == [{"Surname": "Merge", "JobTitle": "Chief Buyer",
                                        "BusinessPhone": "2"}]
    assert _errors() == []


@pytest.mark.parametrize(("policy", "winner"), [("crm_wins", "crm"), ("exchange_wins", "ex"),
                                                ("most_recent", "ex")])
def test_a_conflict_follows_the_policy_and_keeps_the_losing_value(
        sync, rep, mailbox, config, policy, winner) -> None:  # type: ignore[no-untyped-def]
    config.conflict_policy = policy
    config.save()
    contact = crm_contact(rep, last_name="Clash", title="Buyer")
    sync()
    (item,) = mailbox.folder_items()
    contact.title = "CRM title"
    contact.save()
    mailbox.mailbox.clock = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    mailbox.rep_update(item.id, JobTitle="Exchange title")
    sync()
    kept, lost = ("CRM title", "Exchange title") if winner == "crm" else (
        "Exchange title", "CRM title")
    assert crm_state() == [{"owner": "rep", "last_name": "Clash", "title": kept}]
    assert exchange_state(mailbox) == [{"Surname": "Clash", "JobTitle": kept}]
    (error,) = _errors()
    assert error.kind == "conflict" and lost in error.message and kept in error.message
    mailbox.reset_counters()
    assert sync().contacts.written == 0 and not mailbox.writes


# --- deletes ------------------------------------------------------------------------------
@ALL_TRANSPORTS
@pytest.mark.parametrize("how", ["delete", "move_out"])
def test_removed_from_salesforce_sync_unlinks_keeps_and_never_pushes_back(
        sync, rep, mailbox, how) -> None:  # type: ignore[no-untyped-def]
    contact = crm_contact(rep, last_name="Kept")
    sync()
    (item,) = mailbox.folder_items()
    getattr(mailbox, f"rep_{how}")(item.id)
    sync()
    contact.title = "Edited later"
    contact.save()
    sync()
    assert crm_state() == [{"owner": "rep", "last_name": "Kept", "title": "Edited later"}]
    assert exchange_state(mailbox) == []
    assert ContactLink.objects.get().state == ContactLink.State.DETACHED


@ALL_TRANSPORTS
def test_a_deleted_crm_contact_goes_to_deleted_items(sync, rep, mailbox) -> None:  # type: ignore[no-untyped-def]
    contact = crm_contact(rep, last_name="Doomed")
    crm_contact(rep, last_name="Survivor")
    sync()
    contact.delete()
    sync()
    assert exchange_state(mailbox) == [{"Surname": "Survivor"}]
    assert [i.fields["Surname"] for i in mailbox.deleted_items()] == ["Doomed"]
    assert ContactLink.objects.count() == 1
    mailbox.reset_counters()
    assert sync().contacts.written == 0


# --- safety rails -------------------------------------------------------------------------
def _an_hour_passes(rep) -> None:  # type: ignore[no-untyped-def]
    FolderCursor.objects.filter(user=rep).update(
        folder_checked_at=timezone.now() - FOLDER_CHECK_INTERVAL)


@ALL_TRANSPORTS
def test_a_crm_deleted_contact_never_comes_back_after_a_reset(sync, rep, mailbox) -> None:  # type: ignore[no-untyped-def]
    doomed = crm_contact(rep, last_name="Doomed")
    crm_contact(rep, last_name="Kept")
    sync()
    doomed.delete()  # deleted in the CRM, and the user reset before the next cycle
    mark_for_reset(rep)
    assert sync().outcome == "synced"
    assert [c.last_name for c in Contact.objects.all()] == ["Kept"]
    assert exchange_state(mailbox) == [{"Surname": "Kept"}]
    assert [i.fields["Surname"] for i in mailbox.deleted_items()] == ["Doomed"]
    mailbox.reset_counters()
    assert sync().contacts.written == 0 and not mailbox.writes


@pytest.mark.parametrize("direction", ["both", "exchange_to_crm"])
def test_a_crm_delete_after_a_crash_before_the_link_is_not_imported_back(  # type: ignore[no-untyped-def]
    rep, config, org, mailbox, direction
) -> None:
    from syncengine.cycle.runner import sync_user

    from .crash_harness import CrashAfterWrite, SimulatedCrash

    doomed = crm_contact(rep, last_name="Doomed")
    with pytest.raises(SimulatedCrash):  # the worker dies after CreateItem, before the link
        sync_user(rep.pk, transport_factory=lambda settings: CrashAfterWrite(1)(mailbox),
                  sleep=lambda s: None)
    assert ContactLink.objects.count() == 0 and len(mailbox.folder_items()) == 1
    doomed.delete()
    config.contacts_direction = direction
    config.save()
    report = sync_user(rep.pk, transport_factory=lambda settings: mailbox, sleep=lambda s: None)
    assert report.outcome == "synced"
    assert Contact.objects.count() == 0
    if direction == "both":  # the copy goes to Deleted Items, as for any CRM delete
        assert exchange_state(mailbox) == []
        assert [i.fields["Surname"] for i in mailbox.deleted_items()] == ["Doomed"]
    else:  # Exchange to CRM never deletes in Exchange; the item is simply not imported
        assert exchange_state(mailbox) == [{"Surname": "Doomed"}]


@pytest.mark.parametrize("how", ["empty", "gone", "deleted_then_crm_edit", "deleted_an_hour_ago"])
def test_the_mass_delete_guard_pauses_and_propagates_nothing(sync, rep, mailbox, how) -> None:  # type: ignore[no-untyped-def]
    for n in range(20):
        crm_contact(rep, last_name=f"Guarded{n:02}")
    sync()
    folder = mailbox.mailbox.contact_folder_id()
    if how == "empty":
        for item in mailbox.folder_items():
            mailbox.rep_delete(item.id)
    elif how == "gone":
        mailbox.rep_delete_folder(permanently=True)
    else:
        # Outlook: the folder moves, id and items, under Deleted Items; its listing is quiet.
        mailbox.rep_delete_folder()
        if how == "deleted_then_crm_edit":
            crm_contact(rep, last_name="NewAfterwards")  # would be pushed into Deleted Items
        else:
            _an_hour_passes(rep)
    before = crm_state()
    mailbox.reset_counters()
    report = sync()
    assert report.outcome == "paused"
    assert not mailbox.writes
    assert crm_state() == before
    assert ContactLink.objects.filter(state="active").count() == 20
    state = UserSyncState.objects.get(user=rep)
    assert state.contacts_paused_reason == "mass_delete"
    assert "20" in _errors("mass_delete")[0].message
    assert sync().outcome == "paused"
    mark_for_reset(rep)
    assert sync().outcome == "synced"
    # The reset restored them from the CRM (into a fresh Salesforce_Sync if it was deleted).
    assert len(exchange_state(mailbox)) == len(before)
    assert ContactLink.objects.filter(state="active").count() == len(before)
    if how.startswith("deleted"):
        assert mailbox.mailbox.contact_folder_id() != folder
        assert len(mailbox.folder_items(folder)) == 20  # left as the rep left it


def test_a_salesforce_sync_deleted_in_outlook_below_the_guard_is_replaced(
        sync, rep, mailbox) -> None:  # type: ignore[no-untyped-def]
    for n in range(3):
        crm_contact(rep, last_name=f"Few{n}")
    sync()
    old = mailbox.mailbox.contact_folder_id()
    mailbox.rep_delete_folder()
    crm_contact(rep, last_name="NewAfterwards")
    report = sync()
    assert report.outcome == "synced" and report.contacts.folder_created
    new = mailbox.mailbox.contact_folder_id()
    assert new is not None and new != old
    # Nothing was written into the deleted folder.
    assert sorted(i.fields["Surname"] for i in mailbox.folder_items(old)) == ["Few0", "Few1",
                                                                               "Few2"]
    assert all(i.version == 1 for i in mailbox.folder_items(old))
    # The rep removed those contacts (SPEC §4 deletes): unlinked, kept in the CRM, not pushed
    # back; the CRM's new contact goes to the fresh folder, once.
    assert exchange_state(mailbox) == [{"Surname": "NewAfterwards"}]
    assert ContactLink.objects.filter(state="detached").count() == 3
    assert ContactLink.objects.filter(state="active").count() == 1
    assert Contact.objects.count() == 4
    assert FolderCursor.objects.get(user=rep).linked_count == 1
    mailbox.reset_counters()
    assert sync().contacts.written == 0 and not mailbox.writes


def test_a_quiet_cycle_is_one_listing_and_the_folder_is_checked_hourly_or_before_writes(
        sync, rep, mailbox) -> None:  # type: ignore[no-untyped-def]
    contact = crm_contact(rep, last_name="Quiet")
    sync()
    mailbox.reset_counters()
    sync()
    assert dict(mailbox.calls) == {"changes": 1, "close": 1}
    _an_hour_passes(rep)
    mailbox.reset_counters()
    sync()
    assert dict(mailbox.calls) == {"changes": 1, "folder_is_in_place": 1, "close": 1}
    mailbox.reset_counters()
    sync()
    assert dict(mailbox.calls) == {"changes": 1, "close": 1}
    contact.title = "Buyer"
    contact.save()
    mailbox.reset_counters()
    sync()
    assert dict(mailbox.calls) == {"changes": 1, "folder_is_in_place": 1, "update_items": 1,
                                   "close": 1}


@ALL_TRANSPORTS
def test_below_the_guard_threshold_deletes_propagate(sync, rep, mailbox) -> None:  # type: ignore[no-untyped-def]
    for n in range(19):
        crm_contact(rep, last_name=f"Few{n:02}")
    sync()
    for item in mailbox.folder_items():
        mailbox.rep_delete(item.id)
    assert sync().outcome == "synced"
    assert ContactLink.objects.filter(state="detached").count() == 19
    assert Contact.objects.count() == 19


@ALL_TRANSPORTS
def test_the_contact_limit_stops_new_contacts(sync, rep, mailbox, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(contacts_module, "MAX_SYNCED_CONTACTS", 3)
    for n in range(2):
        crm_contact(rep, last_name=f"Crm{n}")
    for n in range(2):
        mailbox.rep_create({"Surname": f"Ex{n}"})
    sync()
    assert ContactLink.objects.filter(state="active").count() == 3
    assert Contact.objects.count() == 4  # nothing of the CRM's is deleted
    assert sorted(i.fields["Surname"] for i in mailbox.folder_items()) == ["Crm0", "Ex0", "Ex1"]
    (error,) = _errors("limit")
    assert "3" in error.message


@ALL_TRANSPORTS
def test_the_contact_limit_counts_links_removed_in_the_same_cycle_once(
        sync, rep, mailbox, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(contacts_module, "MAX_SYNCED_CONTACTS", 3)
    for n in range(3):
        crm_contact(rep, last_name=f"Crm{n}")
    sync()
    Contact.objects.filter(last_name="Crm0").delete()  # its copy leaves: 2 linked
    for n in range(2):
        crm_contact(rep, last_name=f"New{n}")  # room for one of them only
    sync()
    active = ContactLink.objects.filter(state="active", exchange_id__isnull=False).count()
    assert active == len(mailbox.folder_items()) == 3
    assert FolderCursor.objects.get(user=rep).linked_count == 3
    assert len(_errors("limit")) == 1


@ALL_TRANSPORTS
def test_items_of_another_org_are_refused(sync, rep, mailbox) -> None:  # type: ignore[no-untyped-def]
    item = mailbox.rep_create({"Surname": "Foreign"}, org_stamp="other-org-id")
    sync()
    assert Contact.objects.count() == 0
    (error,) = _errors("other_org")
    assert "other-org-id" in error.message and error.exchange_item_id == item
    assert "remove this user" in error.suggestion


# --- case-insensitive beyond ASCII ---------------------------------------------------------
@ALL_TRANSPORTS
@pytest.mark.parametrize(("crm_last", "exchange_last"), [
    ("MÜLLER", "Müller"),
    ("Strauß", "STRAUß"),  # the same spelling: LOWER() and casefold() disagree on "ß"
    ("Øvergård", "ØVERGÅRD"),
    ("Strauß", "STRAUSS"),  # casefold's "ß" = "ss": full folding (SQLite here)
])
def test_names_match_whatever_their_case_beyond_ascii(  # type: ignore[no-untyped-def]
    sync, rep, mailbox, config, crm_last, exchange_last
) -> None:
    from django.db import connection

    if "SS" in exchange_last and connection.vendor != "sqlite":
        pytest.skip("PostgreSQL's LOWER() keeps ß: only the same spelling matches there")
    config.contacts_direction = "exchange_to_crm"
    config.save()
    existing = crm_contact(rep, first_name="Jo", last_name=crm_last)
    mailbox.rep_create({"GivenName": "jo", "Surname": exchange_last})
    sync()
    assert ContactLink.objects.get().contact == existing and Contact.objects.count() == 1


@ALL_TRANSPORTS
@pytest.mark.parametrize("company", ["école ltd", "STRASSE GMBH", "Straße GmbH"])
def test_company_names_resolve_whatever_their_case_beyond_ascii(  # type: ignore[no-untyped-def]
    sync, rep, mailbox, company
) -> None:
    from django.db import connection

    if company == "STRASSE GMBH" and connection.vendor != "sqlite":
        pytest.skip("PostgreSQL's LOWER() keeps ß: only the same spelling matches there")
    accounts = {"école ltd": "ÉCOLE Ltd"}
    account = AccountFactory(name=accounts.get(company, "Straße GmbH"))
    mailbox.rep_create({"Surname": "Teacher", "CompanyName": company})
    sync()
    assert Contact.objects.get().account == account and not _errors("unresolved_account")
