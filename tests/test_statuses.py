"""Every row and value of the seed's status Tables 1 to 6 (SPEC §7), reached by driving real
syncs through exchangesim with the real exchangelib, resets and Setup changes; the service
(`lightningsync.statuses`) reads stored state only.

"User mailbox is running on supported version of Microsoft Exchange: ✗" is reached through
the connection test (it writes the same connection result as a cycle), and so are
"Salesforce_Sync folder found: ✗" and "Calendar folder found: ✗": exchangesim refuses the
rep's Contacts or Calendar folder the way Exchange does (`refuse_folder`), over EWS and Graph.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from lightningsync import statuses
from lightningsync.models import LightningSyncSetup, SyncActivity, UserSyncState
from syncengine.cycle.reset import mark_for_reset
from syncengine.tasks import refresh_statuses_task, request_reset
from tests.engine.conftest import OnceAt
from tests.engine.ews_fixtures import (  # noqa: F401
    BOTH_TRANSPORTS,
    EwsWorld,
    crm_contact,
    ews_fixture,
    point_setup_at,
    remove_folder,
)
from tests.factories import SyncConfigurationFactory, UserFactory

CHECK, CROSS = "✓", "✗"


def user_values(user: Any, now: dt.datetime | None = None) -> dict[str, str]:
    return statuses.values(statuses.user_tables(user, now=now))


def user_rows(user: Any) -> dict[str, statuses.Status]:
    return {r.key: r for t in statuses.user_tables(user) for r in t.rows}


def org_values(now: dt.datetime | None = None) -> dict[str, str]:
    refresh_statuses_task()
    return statuses.values(statuses.org_tables(now=now))


def org_rows(now: dt.datetime | None = None) -> dict[str, statuses.Status]:
    refresh_statuses_task()
    return {r.key: r for t in statuses.org_tables(now=now) for r in t.rows}


def rep_folder(ews: EwsWorld) -> None:
    """The rep made Salesforce_Sync before the first sync (and put contacts in it)."""
    ews.sim.create_folder("rep@example.com", "Salesforce_Sync", parent="contacts")


def labels(tables: list[statuses.Table]) -> list[tuple[str, str]]:
    return [(t.title, r.label) for t in tables for r in t.rows]


# --- the user's contact rows: Not started → Initial sync in progress → completed → ... -----


def test_contact_sync_moves_through_every_state_both_ways(ews: EwsWorld) -> None:
    for n in range(3):
        crm_contact(ews.rep, last_name=f"Crm{n}", email=f"crm{n}@x.test")
    rep_folder(ews)
    ews.outlook.create({"Surname": "Outlook", "EmailAddress1": "o@x.test"})
    before = user_values(ews.rep)
    assert (before["contact_crm_to_exchange"], before["contact_exchange_to_crm"]) == (
        "Not started", "Not started")
    assert before["assigned"] == CHECK
    assert before["version"] == before["recognized"] == "Not checked yet"
    assert before["contacts_folder"] == before["contact_linked"] == "Not checked yet"
    assert before["contact_in_sync"] == "0"

    seen: dict[str, str] = {}
    first = ews.sync(checkpoint=OnceAt("page_listed", lambda: seen.update(user_values(ews.rep))))
    assert first.outcome == "synced"
    assert (seen["contact_crm_to_exchange"], seen["contact_exchange_to_crm"]) == (
        "Initial sync in progress", "Initial sync in progress")

    after = user_values(ews.rep)
    assert (after["contact_crm_to_exchange"], after["contact_exchange_to_crm"]) == (
        "Initial sync completed", "Initial sync completed")
    assert after["version"] == after["recognized"] == CHECK
    assert after["contacts_folder"] == after["contact_linked"] == CHECK
    assert after["contact_in_sync"] == "4"
    assert len(ews.items()) == 4  # both sides hold the four contacts

    during: dict[str, str] = {}
    ews.outlook.create({"Surname": "Later", "EmailAddress1": "later@x.test"})
    ews.sync(checkpoint=OnceAt("page_listed", lambda: during.update(user_values(ews.rep))))
    assert (during["contact_crm_to_exchange"], during["contact_exchange_to_crm"]) == (
        "Sync in progress", "Sync in progress")
    done = user_values(ews.rep)
    assert (done["contact_crm_to_exchange"], done["contact_exchange_to_crm"]) == (
        "In sync", "In sync")
    assert done["contact_in_sync"] == "5"
    # The cycle recorded what it wrote, per direction.
    rows = SyncActivity.objects.order_by("pk").values_list("direction", "records", "initial")
    assert list(rows) == [("exchange_to_crm", 1, True), ("crm_to_exchange", 3, True),
                          ("exchange_to_crm", 1, False)]


def test_an_initial_sync_cut_short_stays_in_progress_until_a_cycle_completes(ews) -> None:  # type: ignore[no-untyped-def]
    rep_folder(ews)
    ews.outlook.create({"Surname": "Outlook"})
    ews.sim.add_fault("connection_reset", operation="CreateItem", count=10)
    crm_contact(ews.rep, last_name="Crm")
    report = ews.sync()
    assert report.outcome == "backing_off"
    values = user_values(ews.rep)
    assert values["contact_crm_to_exchange"] == "Initial sync in progress"
    ews.sim.clear_faults()
    UserSyncState.objects.update(backoff_until=None)
    assert ews.sync().outcome == "synced"
    assert user_values(ews.rep)["contact_crm_to_exchange"] == "Initial sync completed"


def test_one_way_and_no_configuration_read_not_set_to_sync(ews) -> None:  # type: ignore[no-untyped-def]
    ews.configure(contacts_direction="exchange_to_crm", events_direction="none")
    rep_folder(ews)
    ews.outlook.create({"Surname": "Outlook"})
    ews.sync()
    values = user_values(ews.rep)
    assert values["contact_crm_to_exchange"] == "Exchange configuration not set to sync"
    assert values["contact_exchange_to_crm"] == "Initial sync completed"
    assert values["event_exchange_to_crm"] == "Exchange configuration not set to sync"
    assert values["event_crm_to_exchange"] == "Exchange configuration not set to sync"
    loner = UserFactory(email="loner@example.com")
    values = user_values(loner)
    assert values["assigned"] == CROSS
    assert {values[k] for k in ("contact_crm_to_exchange", "contact_exchange_to_crm",
                                "event_crm_to_exchange", "event_exchange_to_crm")} == {
        "Exchange configuration not set to sync"}


def test_event_rows_move_with_event_sync(ews) -> None:  # type: ignore[no-untyped-def]
    from lightningsync.models import Event
    from tests.engine.event_fixtures import add_event, events_on

    events_on(ews)
    add_event(ews, "Kick-off")
    before = user_values(ews.rep)
    assert before["event_exchange_to_crm"] == "Not started"
    assert before["event_crm_to_exchange"] == "Exchange configuration not set to sync"
    assert before["calendar_folder"] == "Not checked yet"
    seen: dict[str, str] = {}
    ews.sync(checkpoint=OnceAt("page_listed", lambda: seen.update(user_values(ews.rep))))
    assert seen["event_exchange_to_crm"] == "Initial sync in progress"
    after = user_values(ews.rep)
    assert after["event_exchange_to_crm"] == "Initial sync completed"
    assert after["event_in_sync"] == "1" and Event.objects.filter(subject="Kick-off").exists()
    assert after["event_linked"] == CHECK
    assert after["calendar_folder"] == CHECK  # the event sync keeps its calendar cursor
    org = org_rows()
    assert org["event_last_activity"].case == "An event sync time within the last few minutes"
    assert (org["event_last_hour"].value, org["event_last_day"].value) == ("1", "1")
    # Events go one way: the rows never say they may have been written in Exchange.
    assert org["event_last_hour"].meaning == (
        "Lightning Sync wrote 1 event (in the CRM) in the last 60 minutes.")
    ews.sync()
    assert user_values(ews.rep)["event_exchange_to_crm"] == "In sync"
    # The quiet cycle synced events too: the org's last event sync time is that cycle's.
    from lightningsync.models import UserSyncState

    quiet = UserSyncState.objects.get(user=ews.rep).last_success_at
    assert statuses.compute_org_figures().event.last_activity == quiet.isoformat()


# --- recognised, linked, version: from the cycle's connection result ------------------------


def test_a_refused_password_shows_the_account_not_recognized(ews) -> None:  # type: ignore[no-untyped-def]
    point_setup_at(ews.running, password="wrong-password")
    assert ews.sync().outcome == "paused"
    rows = user_rows(ews.rep)
    assert rows["recognized"].value == CROSS
    assert "credentials" in rows["recognized"].next_step
    assert org_values()["account_recognized"] == CROSS
    point_setup_at(ews.running)
    assert ews.sync().outcome == "synced"
    assert user_values(ews.rep)["recognized"] == CHECK
    assert org_values()["account_recognized"] == CHECK


def test_a_user_without_a_mailbox_is_not_linked(ews) -> None:  # type: ignore[no-untyped-def]
    ghost = UserFactory(username="ghost", email="ghost@example.com")
    SyncConfigurationFactory(name="Ghosts", users=[ghost])
    assert ews.sync(ghost).outcome == "paused"
    rows = user_rows(ghost)
    assert rows["contact_linked"].value == rows["event_linked"].value == CROSS
    assert "ErrorNonExistentMailbox" in rows["contact_linked"].meaning
    assert rows["recognized"].value == CROSS
    assert org_values()["linked_users"] == "0"  # nobody reached yet
    ews.sync()
    org = org_rows()
    assert org["linked_users"].value == "1"
    assert org["linked_users"].case == "An unexpected number of Lightning Sync users"


def test_impersonation_denied_shows_the_user_not_recognized(ews) -> None:  # type: ignore[no-untyped-def]
    ews.sim.set_scope(ews.running.username, ["someone-else@example.com"])
    assert ews.sync().outcome == "paused"
    rows = user_rows(ews.rep)
    assert rows["recognized"].value == CROSS
    assert "impersonation" in rows["recognized"].next_step
    assert rows["held"].value == "The connection or configuration is incomplete"


# --- the folder rows: a real connection test to a mailbox refusing a folder ------------------


def connection_test(email: str = "rep@example.com") -> Any:
    from lightningsync.models import ConnectionTestRun
    from syncengine import connectiontest

    return connectiontest.perform(ConnectionTestRun.objects.create(email=email).pk)


@BOTH_TRANSPORTS
def test_a_refused_contacts_folder_reads_salesforce_sync_not_found(ews) -> None:  # type: ignore[no-untyped-def]
    rep_folder(ews)
    connection_test()
    assert user_values(ews.rep)["contacts_folder"] == CHECK
    ews.sim.refuse_folder("rep@example.com", "contacts", "not_found")
    run = connection_test()
    failed = next(s for s in run.steps if s["status"] == "fail")
    assert failed["key"] == "contacts"
    assert "ErrorFolderNotFound" in failed["detail"] or "ErrorItemNotFound" in failed["detail"]
    rows = user_rows(ews.rep)
    assert rows["contacts_folder"].value == CROSS
    assert rows["contacts_folder"].meaning == "Salesforce_Sync is missing and could not be created."
    assert rows["recognized"].value == CHECK  # the mailbox itself opened
    ews.sim.refuse_folder("rep@example.com", "contacts", None)
    connection_test()
    assert user_values(ews.rep)["contacts_folder"] == CHECK


@BOTH_TRANSPORTS
def test_a_refused_calendar_reads_calendar_folder_not_found(ews) -> None:  # type: ignore[no-untyped-def]
    rep_folder(ews)
    refusal = "access_denied" if ews.transport == "ews" else "not_found"
    ews.sim.refuse_folder("rep@example.com", "calendar", refusal)
    run = connection_test()
    assert [s["key"] for s in run.steps if s["status"] == "fail"] == ["calendar"]
    assert user_values(ews.rep)["calendar_folder"] == CROSS
    assert user_values(ews.rep)["contacts_folder"] == CHECK
    ews.sim.refuse_folder("rep@example.com", "calendar", None)
    connection_test()
    assert user_values(ews.rep)["calendar_folder"] == CHECK


# --- the org: Tables 1 to 3 ----------------------------------------------------------------


def test_the_system_rows_follow_setup_and_synced_records(ews) -> None:  # type: ignore[no-untyped-def]
    org = org_rows()
    assert org["account_provided"].value == ews.running.username
    assert org["lightning_for_outlook"].value == "No"
    assert org["account_recognized"].value == "Not checked yet"
    assert org["contact_last_activity"].value == "Never"
    assert org["contact_last_hour"].value == org["contact_last_day"].value == "0"
    assert org["event_last_activity"].value == "Never"
    crm_contact(ews.rep, last_name="Crm")
    rep_folder(ews)
    ews.outlook.create({"Surname": "Outlook"})
    ews.sync()
    org = org_rows()
    assert org["contact_last_activity"].case == "A contact sync time within the last few minutes"
    assert (org["contact_last_hour"].value, org["contact_last_day"].value) == ("2", "2")
    assert org["contact_last_day"].meaning == (
        "Lightning Sync wrote 2 contacts (in the CRM or in Exchange) in the last 24 hours.")
    assert org["linked_users"].value == "1"
    assert org["linked_users"].case == "The expected number of Lightning Sync users"
    assert org["account_recognized"].value == CHECK
    snapshot = statuses.org_figures()
    assert sum(snapshot.contact.hourly) == 2 and snapshot.contact.hourly[-1] == 2

    # Later, with nothing synced since: the rows age.
    later = timezone.now() + dt.timedelta(hours=3)
    statuses.refresh_org_snapshot(later)
    org = {r.key: r for t in statuses.org_tables(now=later) for r in t.rows}
    assert org["contact_last_activity"].case == "A contact sync time within a few hours"
    assert (org["contact_last_hour"].value, org["contact_last_day"].value) == ("0", "2")
    much_later = timezone.now() + dt.timedelta(days=2)
    statuses.refresh_org_snapshot(much_later)
    assert statuses.prune_activity(much_later) == 0  # the initial rows are kept
    org = {r.key: r for t in statuses.org_tables(now=much_later) for r in t.rows}
    assert org["contact_last_activity"].case == "A contact sync time on a past date"
    assert org["contact_last_day"].value == "0"

    setup = LightningSyncSetup.load()
    setup.set_service_account_password("")
    setup.event_selection_enabled = True
    setup.save()
    org = org_rows()
    assert org["account_provided"].value == "None"
    assert org["lightning_for_outlook"].value == "Yes"


def test_under_oauth_the_account_rows_speak_of_the_app_registration(ews) -> None:  # type: ignore[no-untyped-def]
    setup = LightningSyncSetup.load()
    setup.connection_method = LightningSyncSetup.ConnectionMethod.OAUTH2
    setup.oauth_client_id = "app-1"
    setup.set_oauth_client_secret("s3cret-value")
    setup.save()
    org = org_rows()
    assert org["account_provided"].label == "Microsoft Exchange app registration provided:"
    assert org["account_provided"].value == "app-1"
    assert org["account_recognized"].label == (
        "Salesforce recognizes Microsoft Exchange app registration:")
    assert user_rows(ews.rep)["recognized"].label == "User recognized by Exchange app registration:"


def test_the_rows_carry_the_seeds_labels(ews) -> None:  # type: ignore[no-untyped-def]
    refresh_statuses_task()
    assert labels(statuses.org_tables()) == [
        ("Configuration Setup Statuses", "Microsoft Exchange service account provided:"),
        ("Configuration Setup Statuses", "Lightning for Outlook enabled:"),
        ("Configuration Setup Statuses",
         "Salesforce recognizes Microsoft Exchange service account:"),
        ("Configuration Setup Statuses",
         "Users with linked Microsoft Exchange and Salesforce email addresses:"),
        ("Configuration Setup Statuses", "Users outside the recognised domains:"),
        ("Contacts Statuses", "Last sync activity:"),
        ("Contacts Statuses", "Records synced in last 60 minutes:"),
        ("Contacts Statuses", "Records synced in last 24 hours:"),
        ("Events Statuses", "Last sync activity:"),
        ("Events Statuses", "Records synced in last 60 minutes:"),
        ("Events Statuses", "Records synced in last 24 hours:"),
    ]
    mark_for_reset(ews.rep)
    LightningSyncSetup.objects.update(enabled=False)
    ews.sync()
    assert labels(statuses.user_tables(ews.rep)) == [
        ("Configuration Setup Statuses", "User assigned to active Exchange configuration:"),
        ("Configuration Setup Statuses",
         "User mailbox is running on supported version of Microsoft Exchange:"),
        ("Configuration Setup Statuses", "User recognized by Exchange service account:"),
        ("Configuration Setup Statuses", "User's reset sync status:"),
        ("Configuration Setup Statuses", "User set up Lightning for Outlook:"),
        ("Contacts Statuses", "Salesforce_Sync folder found:"),
        ("Contacts Statuses", "Salesforce and Exchange email addresses linked:"),
        ("Contacts Statuses", "Salesforce to Exchange sync status:"),
        ("Contacts Statuses", "Exchange to Salesforce sync status:"),
        ("Contacts Statuses", "Records in sync"),
        ("Event Statuses", "Calendar folder found:"),
        ("Event Statuses", "Salesforce and Exchange email addresses linked:"),
        ("Event Statuses", "Salesforce to Exchange sync status:"),
        ("Event Statuses", "Exchange to Salesforce sync status:"),
        ("Event Statuses", "Records in sync"),
    ]


def test_lightning_for_outlook_yes_for_a_user_who_selects_events(ews) -> None:  # type: ignore[no-untyped-def]
    assert user_values(ews.rep)["outlook"] == "No"
    LightningSyncSetup.objects.update(event_selection_enabled=True)
    ews.configure(events_direction="exchange_to_crm", event_scope="selected")
    assert user_values(ews.rep)["outlook"] == "Yes"


# --- reset -----------------------------------------------------------------------------------


def test_reset_reads_marked_then_in_progress_then_goes_away(
        ews, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    crm_contact(ews.rep, last_name="Crm")
    ews.sync()
    LightningSyncSetup.objects.update(enabled=False)
    with django_capture_on_commit_callbacks(execute=True):
        request_reset(ews.rep)  # its task runs at once in tests: the user cannot sync yet
    rows = user_rows(ews.rep)
    assert rows["reset"].value == "Marked for reset"
    assert "Lightning Sync is not enabled" in rows["reset"].meaning
    point_setup_at(ews.running)
    ews.sim.add_fault("connection_reset", count=20)
    ews.sync()  # performs the reset, then cannot reach Exchange
    rows = user_rows(ews.rep)
    assert rows["reset"].value == "Reset in progress"
    assert rows["contact_crm_to_exchange"].value == "Not started"
    ews.sim.clear_faults()
    UserSyncState.objects.update(backoff_until=None)
    assert ews.sync().outcome == "synced"
    rows = user_rows(ews.rep)
    assert "reset" not in rows
    assert rows["contact_crm_to_exchange"].value == "Initial sync completed"
    assert [i["Surname"] for i in ews.items()] == ["Crm"]  # relinked, not duplicated


def test_reset_lifts_a_mass_delete_pause(
        ews, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    for n in range(25):
        crm_contact(ews.rep, last_name=f"C{n}", email=f"c{n}@x.test")
    ews.sync()
    remove_folder(ews.sim, "rep@example.com")
    ews.sync()
    rows = user_rows(ews.rep)
    assert rows["held"].value == "Salesforce_Sync found empty or missing"
    with django_capture_on_commit_callbacks(execute=True):
        call_command("lightningsync_reset", "--user", "REP@example.com")
    rows = user_rows(ews.rep)
    assert "held" not in rows and "reset" not in rows
    assert len(ews.items()) == 25  # the new Salesforce_Sync holds the CRM's contacts again


# --- the command -----------------------------------------------------------------------------


def test_the_status_command_prints_the_rows(ews, capsys) -> None:  # type: ignore[no-untyped-def]
    crm_contact(ews.rep, last_name="Crm")
    ews.sync()
    refresh_statuses_task()
    call_command("lightningsync_status", "--user", "rep@example.com")
    out = capsys.readouterr().out
    assert f"    Microsoft Exchange service account provided: {ews.running.username}\n" in out
    assert "    Salesforce to Exchange sync status: Initial sync completed" in out
    assert "    Records in sync 1" in out
    call_command("lightningsync_status", "--user", "rep@example.com", "--json")
    data = json.loads(capsys.readouterr().out)
    contacts = {r["key"]: r for r in data["user"]["tables"][1]["rows"]}
    assert contacts["contact_crm_to_exchange"]["value"] == "Initial sync completed"
    assert contacts["contact_crm_to_exchange"]["label"] == "Salesforce to Exchange sync status:"
    assert data["system"][0]["rows"][0]["label"] == "Microsoft Exchange service account provided:"


def test_the_commands_name_an_unknown_user(db) -> None:  # type: ignore[no-untyped-def]
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match=r"No user has the email nobody@example\.com"):
        call_command("lightningsync_status", "--user", "nobody@example.com")
    with pytest.raises(CommandError, match=r"No user has the email nobody@example\.com"):
        call_command("lightningsync_reset", "--user", "nobody@example.com")


def test_a_cycle_that_lost_its_claim_records_no_activity(ews) -> None:  # type: ignore[no-untyped-def]
    crm_contact(ews.rep, last_name="Crm")

    def another_worker_takes_the_user() -> None:
        UserSyncState.objects.update(claim_token="another-worker",
                                     claimed_until=timezone.now() + dt.timedelta(minutes=5))

    ews.sync(checkpoint=OnceAt("page_listed", another_worker_takes_the_user))
    # Its release found the claim gone: the activity and the connection result went with it.
    assert UserSyncState.objects.get(user=ews.rep).claim_token == "another-worker"
    assert not SyncActivity.objects.exists()
    assert user_values(ews.rep)["recognized"] == "Not checked yet"


def test_activity_counts_each_object_in_its_directions() -> None:
    """A contact report splits what it wrote by direction; a one-way report (events, Exchange
    to CRM) counts everything it wrote that way."""
    from dataclasses import dataclass

    from syncengine.contacts.state import ContactReport
    from syncengine.cycle.activity import written

    contacts = ContactReport(crm_created=2, crm_updated=1, unlinked=1, exchange_created=5,
                             exchange_updated=1, exchange_deleted=1, conflicts=3)
    assert (written(contacts, "exchange_to_crm"), written(contacts, "crm_to_exchange")) == (4, 7)

    @dataclass
    class OneWay:
        created: int = 3
        updated: int = 1

        @property
        def written(self) -> int:
            return self.created + self.updated

    assert (written(OneWay(), "exchange_to_crm"), written(OneWay(), "crm_to_exchange")) == (4, 0)


# --- what only the connection test sees -----------------------------------------------------


def test_the_connection_test_fills_the_rows_a_sync_cannot(ews) -> None:  # type: ignore[no-untyped-def]
    from lightningsync.models import ConnectionTestRun
    from syncengine import connectiontest

    def run_test() -> None:
        connectiontest.perform(ConnectionTestRun.objects.create(email="rep@example.com").pk)

    run_test()  # everything in place, Salesforce_Sync missing: "will be created"
    values = user_values(ews.rep)
    assert (values["version"], values["recognized"], values["contact_linked"]) == (
        CHECK, CHECK, CHECK)
    assert values["calendar_folder"] == CHECK
    assert values["contacts_folder"] == "Not checked yet"
    assert "Exchange 2016" in user_rows(ews.rep)["version"].meaning
    ews.sim.set_version("Exchange2010_SP2")
    run_test()
    rows = user_rows(ews.rep)
    assert rows["version"].value == CROSS
    assert "Exchange 2010 SP2" in rows["version"].meaning


def test_a_rep_outside_the_recognised_domains_is_named(ews) -> None:  # type: ignore[no-untyped-def]
    assert org_values()["outside_domains"] == "0"
    ews.sync()
    dan = UserFactory(username="dan", email="dan@partner.example")
    ews.config.users.add(dan)
    assert ews.sync(dan).outcome == "paused"
    rows = user_rows(dan)
    assert rows["recognized"].value == CROSS
    assert "partner.example" in rows["recognized"].meaning
    assert "Additional domains" in rows["recognized"].next_step
    org = org_rows()
    assert org["outside_domains"].value == "1"
    assert "dan@partner.example" in org["outside_domains"].meaning
    # The rep inside the domains is every linked user expected: Dan is not missing there.
    assert org["linked_users"].value == "1"
    assert org["linked_users"].case == "The expected number of Lightning Sync users"
    assert org["linked_users"].meaning == (
        "Every one of the 1 syncing users has an Exchange mailbox at their email address "
        "(1 more, outside the recognised domains, is not synced: see below).")


def test_a_snapshot_stored_before_the_expected_count_reads_as_before() -> None:
    figures = statuses.OrgFigures.from_json({"computed_at": "", "syncing_users": 3,
                                             "linked_users": 3})
    assert figures.expected_linked == 3
