"""lightningsync.configfile: Setup and configurations as one document (SPEC §14)."""

from __future__ import annotations

import copy
import json

import pytest

from lightningsync import configfile
from lightningsync.configfile import ConfigFileError
from lightningsync.models import (
    ConfigurationProfile,
    ConfigurationUser,
    LightningSyncSetup,
    SetupAuditTrail,
    SyncConfiguration,
)
from tests.factories import ProfileFactory, SyncConfigurationFactory, UserFactory

pytestmark = pytest.mark.django_db


def configuration(name: str, **overrides) -> dict:
    doc = {
        "name": name,
        "description": "",
        "active": True,
        "users": [],
        "profiles": [],
        "contacts": {
            "direction": "both",
            "ownership": "users_records",
            "filters": [],
            "conflict_policy": "crm_wins",
            "mappings": {},
        },
        "events": {
            "direction": "exchange_to_crm",
            "scope": "all",
            "sync_private": False,
            "auto_remove_deleted": False,
            "auto_relate": False,
            "date_filter": "TODAY",
            "mappings": {},
        },
    }
    for path, value in overrides.items():
        target = doc
        *parents, last = path.split("__")
        for p in parents:
            target = target[p]
        target[last] = value
    return doc


def document(*configs: dict, setup: dict | None = None) -> dict:
    doc: dict = {"version": 1, "configurations": list(configs)}
    if setup is not None:
        doc["setup"] = setup
    return doc


def database_state() -> list[dict]:
    return configfile.export_document()["configurations"]


@pytest.fixture
def people():
    sales = ProfileFactory(name="Sales")
    ProfileFactory(name="Support")
    alice = UserFactory(email="alice@example.com")
    bob = UserFactory(email="bob@example.com")
    return {"sales": sales, "alice": alice, "bob": bob}


def test_it_exports_setup_and_sorted_configurations(people):
    SyncConfigurationFactory(name="West reps", users=[people["bob"], people["alice"]])
    SyncConfigurationFactory(name="East reps", profiles=[people["sales"]])
    doc = configfile.export_document()
    assert list(doc) == ["version", "setup", "configurations"]
    assert doc["version"] == 1
    assert doc["setup"]["connection_method"] == "service_account"
    assert [c["name"] for c in doc["configurations"]] == ["East reps", "West reps"]
    assert doc["configurations"][1]["users"] == ["alice@example.com", "bob@example.com"]
    assert doc["configurations"][0]["profiles"] == ["Sales"]
    assert doc["configurations"][0]["contacts"]["mappings"] == {}


def test_it_never_exports_a_secret():
    setup = LightningSyncSetup.load()
    setup.service_account_username = "svc@example.com"
    setup.set_service_account_password("hunter2-very-secret")
    setup.set_oauth_client_secret("client-secret-value")
    setup.save()
    text = configfile.dumps(configfile.export_document())
    assert "hunter2" not in text and "client-secret-value" not in text
    assert "password" not in text and "secret" not in text
    assert "svc@example.com" in text


def test_it_round_trips_byte_for_byte(people):
    first = document(
        configuration(
            "West reps",
            users=["bob@example.com", "alice@example.com"],
            profiles=["Sales"],
            contacts__filters=[{"field": "mailing_state", "operator": "equals", "value": "CA"}],
            contacts__mappings={
                "title": "JobTitle",
                "first_name": "GivenName",
                "last_name": "Surname",
                "email": "EmailAddress1",
                "account_name": "CompanyName",
            },
            events__date_filter="LAST_N_DAYS:30",
        ),
        configuration("East reps", active=False, contacts__ownership="all"),
        setup={"enabled": False, "service_account": {"username": "svc@example.com"}},
    )
    configfile.import_document(first, user=None)
    exported = configfile.dumps(configfile.export_document())
    configfile.import_document(configfile.loads(exported), user=None)
    assert configfile.dumps(configfile.export_document()) == exported
    mappings = json.loads(exported)["configurations"][1]["contacts"]["mappings"]
    assert list(mappings) == ["first_name", "last_name", "email", "account_name", "title"]


def test_it_creates_updates_and_deletes_to_match_the_document(people):
    SyncConfigurationFactory(name="Old reps", users=[people["bob"]])
    SyncConfigurationFactory(name="West reps", active=True)
    SyncConfigurationFactory(name="Same reps")
    same = next(c for c in database_state() if c["name"] == "Same reps")
    summary = configfile.import_document(
        document(
            configuration("West reps", active=False),
            configuration("New reps", users=["bob@example.com"]),
            same,
        ),
        user=people["alice"],
    )
    assert (summary.created, summary.updated, summary.unchanged, summary.deleted) == (
        ["New reps"],
        ["West reps"],
        ["Same reps"],
        ["Old reps"],
    )
    assert str(summary) == (
        "Imported sync configurations: 1 created, 1 updated, 1 unchanged, 1 deleted."
    )
    assert sorted(SyncConfiguration.objects.values_list("name", "active")) == [
        ("New reps", True),
        ("Same reps", True),
        ("West reps", False),
    ]
    assert SetupAuditTrail.objects.filter(
        action="Deleted sync configuration (1 user, 0 profiles) (import)",
        actor="alice@example.com",
    ).exists()


def test_it_changes_nothing_when_one_configuration_is_bad_and_lists_every_error(people):
    SyncConfigurationFactory(name="Keep me", users=[people["alice"]])
    before = database_state()
    setup_before = configfile.export_document()["setup"]
    bad = document(
        configuration("East reps", users=["bob@example.com"]),
        configuration(
            "West reps",
            users=["carol@example.com"],
            profiles=["Marketing"],
            contacts__ownership="selected",
            events__date_filter="LAST_N_DAYS:181",
        ),
        setup={"enabled": False, "event_selection": {"category": "Sales"}},
    )
    with pytest.raises(ConfigFileError) as exc:
        configfile.import_document(bad, user=None)
    assert exc.value.errors == [
        "configurations[1] “West reps”: contacts.ownership: “Selected contacts” needs "
        "“User's records”: without it no contact would sync. Choose Selected contacts with "
        "User's records, or All contacts.",
        "configurations[1] “West reps”: events.date_filter: LAST 181 DAYS is out of range: "
        "choose from 1 to 180 days.",
        "configurations[1] “West reps”: users: No user has the email address "
        "“carol@example.com”. Users are named by their email address.",
        "configurations[1] “West reps”: profiles: No profile is named “Marketing”.",
    ]
    assert database_state() == before
    assert configfile.export_document()["setup"] == setup_before
    assert not SetupAuditTrail.objects.exists()


def test_it_rolls_back_a_valid_setup_section_when_a_configuration_is_bad():
    doc = document(
        configuration("West reps", contacts__direction="sideways"),
        setup={"event_selection": {"enabled": True, "category": "CRM"}},
    )
    with pytest.raises(ConfigFileError) as exc:
        configfile.import_document(doc, user=None)
    assert exc.value.errors == [
        "configurations[0] “West reps”: contacts.direction: “sideways” is not one of none, "
        "exchange_to_crm, crm_to_exchange, both."
    ]
    setup = LightningSyncSetup.objects.filter(pk=1).first()
    assert setup is None or (setup.event_category, setup.event_selection_enabled) == (
        "Salesforce",
        False,
    )


def test_it_reports_setup_errors_with_their_path():
    doc = document(setup={"connection_method": "carrier_pigeon", "colour": "red"})
    with pytest.raises(ConfigFileError) as exc:
        configfile.import_document(doc, user=None)
    assert any(e.startswith("setup.connection_method: “carrier_pigeon”") for e in exc.value.errors)
    assert any(e.startswith("setup.colour: Unknown setting.") for e in exc.value.errors)


def test_it_refuses_secrets_and_says_how_to_set_them():
    doc = document(setup={"service_account": {"username": "svc@example.com", "password": "pw"}})
    with pytest.raises(ConfigFileError) as exc:
        configfile.import_document(doc, user=None)
    assert exc.value.errors == [
        "setup.service_account.password: secrets are never imported from a file; set this one "
        "with manage.py lightningsync_setup --password-stdin (or --password-file F)."
    ]
    assert not LightningSyncSetup.objects.filter(service_account_username="svc@example.com")


def test_it_refuses_a_wrong_version_and_unknown_top_level_keys():
    with pytest.raises(ConfigFileError) as exc:
        configfile.import_document({"version": 2, "configurations": [], "extra": 1}, user=None)
    assert exc.value.errors == [
        "extra: Unknown key. Known keys here: version, setup, configurations.",
        "version: this file's format version is 2; this Lightning Sync reads version 1 "
        "(export again from the sandbox).",
    ]


def test_it_refuses_the_same_user_profile_or_name_twice_in_a_document(people):
    doc = document(
        configuration("West reps", users=["alice@example.com"], profiles=["Sales"]),
        configuration("west reps"),
        configuration("East reps", users=["ALICE@example.com"], profiles=["Sales"]),
    )
    with pytest.raises(ConfigFileError) as exc:
        configfile.import_document(doc, user=None)
    assert exc.value.errors[:3] == [
        "configurations[1] “west reps”: name: “west reps” appears twice in the document.",
        "configurations[2] “East reps”: users: ALICE@example.com is also listed in "
        "“West reps”; a user can be in one configuration only.",
        "configurations[2] “East reps”: profiles: Sales is also listed in “West reps”; "
        "a profile can be in one configuration only.",
    ]


def test_it_moves_a_profile_and_a_user_between_configurations_in_one_document(people):
    SyncConfigurationFactory(name="A reps", users=[people["alice"]], profiles=[people["sales"]])
    SyncConfigurationFactory(name="B reps")
    summary = configfile.import_document(
        document(
            configuration("A reps"),
            configuration("B reps", users=["alice@example.com"], profiles=["Sales"]),
        ),
        user=None,
    )
    assert summary.updated == ["A reps", "B reps"]
    assert summary.moved == []  # A let go of Alice before B took her (document order)
    assert ConfigurationUser.objects.get().configuration.name == "B reps"
    assert ConfigurationProfile.objects.get().configuration.name == "B reps"


def test_it_reports_moves_when_the_taker_comes_first(people):
    SyncConfigurationFactory(name="B reps", users=[people["alice"]])
    summary = configfile.import_document(
        document(configuration("A reps", users=["alice@example.com"]), configuration("B reps")),
        user=None,
    )
    assert summary.moved == ["Moved alice@example.com from “B reps” to “A reps”."]


def test_it_explains_invalid_json_with_line_and_column():
    with pytest.raises(ConfigFileError) as exc:
        configfile.loads('{"version": 1,\n  "configurations": [,]}')
    assert exc.value.errors == ["The file is not valid JSON: Expecting value at line 2, column 22."]
    with pytest.raises(ConfigFileError):
        configfile.loads("[1, 2]")


def test_it_keeps_setup_when_the_document_has_no_setup_section():
    setup = LightningSyncSetup.load()
    setup.event_category = "CRM"
    setup.save()
    summary = configfile.import_document(document(configuration("West reps")), user=None)
    assert not summary.setup_imported
    assert LightningSyncSetup.load().event_category == "CRM"


def test_it_does_not_modify_the_callers_document(people):
    doc = document(configuration("West reps", users=["alice@example.com"]))
    original = copy.deepcopy(doc)
    configfile.import_document(doc, user=None)
    assert doc == original
