"""lightningsync.configfile: Setup and configurations as one document (SPEC §14)."""

from __future__ import annotations

import copy
import json

import pytest

from lightningsync import configfile
from lightningsync.configfile import ConfigFileError, ImportPlan, Move
from lightningsync.models import (
    ConfigurationProfile,
    ConfigurationUser,
    LightningSyncSetup,
    SetupAuditTrail,
    SyncConfiguration,
)
from tests.configdocs import configuration, document, org_state
from tests.factories import ProfileFactory, SyncConfigurationFactory, UserFactory

pytestmark = pytest.mark.django_db


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


def test_it_creates_updates_and_deletes_to_match_the_document_when_pruning(people):
    SyncConfigurationFactory(name="Old reps", users=[people["bob"]])
    SyncConfigurationFactory(name="West reps", active=True)
    SyncConfigurationFactory(name="Same reps")
    same = next(c for c in database_state() if c["name"] == "Same reps")
    plan = configfile.import_document(
        document(
            configuration("West reps", active=False),
            configuration("New reps", users=["bob@example.com"]),
            same,
        ),
        user=people["alice"],
        prune=True,
    )
    assert plan == ImportPlan(
        created=["New reps"],
        updated={"West reps": ["Active"]},
        unchanged=["Same reps"],
        deleted=["Old reps"],
        moved=[Move("bob@example.com", "Old reps", "New reps")],
    )
    assert plan.headline(applied=True) == (
        "Imported sync configurations: 1 created, 1 updated, 1 unchanged, 1 deleted, 0 kept."
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
        "configurations[1].contacts.ownership: “Selected contacts” needs "
        "“User's records”: without it no contact would sync. Choose Selected contacts with "
        "User's records, or All contacts.",
        "configurations[1].events.date_filter: LAST 181 DAYS is out of range: "
        "choose from 1 to 180 days.",
        "configurations[1].users: No user has the email address "
        "“carol@example.com”. Users are named by their email address.",
        "configurations[1].profiles: No profile is named “Marketing”.",
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
        "configurations[0].contacts.direction: “sideways” is not one of none, "
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
        "configurations[1].name: “west reps” appears twice in the document.",
        "configurations[2].users: ALICE@example.com is also listed in "
        "“West reps”; a user can be in one configuration only.",
        "configurations[2].profiles: Sales is also listed in “West reps”; "
        "a profile can be in one configuration only.",
    ]


def test_it_moves_a_profile_and_a_user_between_configurations_in_one_document(people):
    SyncConfigurationFactory(name="A reps", users=[people["alice"]], profiles=[people["sales"]])
    SyncConfigurationFactory(name="B reps")
    plan = configfile.import_document(
        document(
            configuration("A reps"),
            configuration("B reps", users=["alice@example.com"], profiles=["Sales"]),
        ),
        user=None,
    )
    assert plan.updated == {
        "A reps": ["Assigned users", "Assigned profiles"],
        "B reps": ["Assigned users", "Assigned profiles"],
    }
    # Whichever configuration the document names first, the plan says where Alice went.
    assert plan.moved == [Move("alice@example.com", "A reps", "B reps")]
    assert ConfigurationUser.objects.get().configuration.name == "B reps"
    assert ConfigurationProfile.objects.get().configuration.name == "B reps"


def test_it_reports_moves_when_the_taker_comes_first(people):
    SyncConfigurationFactory(name="B reps", users=[people["alice"]])
    plan = configfile.import_document(
        document(configuration("A reps", users=["alice@example.com"]), configuration("B reps")),
        user=None,
    )
    assert plan.moved == [Move("alice@example.com", "B reps", "A reps")]
    assert plan.lines(applied=True) == [
        "Created “A reps”.",
        "Moved alice@example.com from “B reps” to “A reps”.",
    ]


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
    plan = configfile.import_document(document(configuration("West reps")), user=None)
    assert not plan.setup_in_file
    assert LightningSyncSetup.load().event_category == "CRM"


def test_it_does_not_modify_the_callers_document(people):
    doc = document(configuration("West reps", users=["alice@example.com"]))
    original = copy.deepcopy(doc)
    configfile.import_document(doc, user=None)
    assert doc == original


# --- keeping, pruning, and the plan (dry run) -------------------------------------------------


@pytest.fixture
def reps():
    """East reps holds Alice and Bob, Old reps holds Carol, Same reps holds the Sales profile."""
    alice = UserFactory(email="alice@example.com")
    bob = UserFactory(email="bob@example.com")
    carol = UserFactory(email="carol@example.com")
    sales = ProfileFactory(name="Sales")
    SyncConfigurationFactory(name="East reps", users=[alice, bob])
    SyncConfigurationFactory(name="Old reps", users=[carol])
    SyncConfigurationFactory(name="Same reps", profiles=[sales])
    return document(
        configuration("East reps", description="Reps in the East", users=["bob@example.com"]),
        configuration("West reps", users=["alice@example.com"]),
        next(c for c in database_state() if c["name"] == "Same reps"),
        setup={"event_selection": {"category": "CRM"}},
    )


def test_it_keeps_configurations_the_document_does_not_name(reps):
    plan = configfile.import_document(reps, user=None)
    assert plan == ImportPlan(
        setup_in_file=True,
        setup_changed=["Event selection category"],
        created=["West reps"],
        updated={"East reps": ["Description", "Assigned users"]},
        unchanged=["Same reps"],
        kept=["Old reps"],
        moved=[Move("alice@example.com", "East reps", "West reps")],
    )
    assert [(c["name"], c["users"]) for c in database_state()] == [
        ("East reps", ["bob@example.com"]),
        ("Old reps", ["carol@example.com"]),
        ("Same reps", []),
        ("West reps", ["alice@example.com"]),
    ]


def test_it_prunes_configurations_the_document_does_not_name_when_asked(reps):
    reps["configurations"][1]["users"].append("carol@example.com")
    plan = configfile.import_document(reps, user=None, prune=True)
    assert plan == ImportPlan(
        setup_in_file=True,
        setup_changed=["Event selection category"],
        created=["West reps"],
        updated={"East reps": ["Description", "Assigned users"]},
        unchanged=["Same reps"],
        deleted=["Old reps"],
        moved=[
            Move("alice@example.com", "East reps", "West reps"),
            Move("carol@example.com", "Old reps", "West reps"),
        ],
    )
    assert [(c["name"], c["users"]) for c in database_state()] == [
        ("East reps", ["bob@example.com"]),
        ("Same reps", []),
        ("West reps", ["alice@example.com", "carol@example.com"]),
    ]


def test_a_dry_run_returns_the_plan_of_applying_and_changes_nothing(
    reps, django_capture_on_commit_callbacks
):
    before = org_state()
    with django_capture_on_commit_callbacks() as callbacks:
        planned = configfile.import_document(reps, user=None, prune=True, dry_run=True)
    assert callbacks == []  # no sync was started for anyone
    assert org_state() == before
    with django_capture_on_commit_callbacks() as callbacks:
        assert configfile.import_document(reps, user=None, prune=True) == planned
    assert len(callbacks) == 3  # applying starts sync for the saved configurations
    assert org_state() != before


def test_it_refuses_to_apply_when_the_plan_is_no_longer_what_was_shown(reps):
    shown = configfile.import_document(reps, user=None, dry_run=True)
    SyncConfigurationFactory(name="West reps")  # someone created it meanwhile
    before = org_state()
    with pytest.raises(configfile.PlanChanged) as exc:
        configfile.import_document(reps, user=None, expected=shown.as_dict())
    assert exc.value.plan.created == []
    assert exc.value.plan.updated["West reps"] == ["Assigned users"]
    assert org_state() == before


def test_a_kept_configuration_keeps_its_profile(reps):
    """Without prune, Same reps stays; a document may not give its profile to another."""
    reps["configurations"].pop(2)
    reps["configurations"][1]["profiles"] = ["Sales"]
    with pytest.raises(ConfigFileError) as exc:
        configfile.import_document(reps, user=None)
    assert exc.value.errors == [
        "configurations[1].profiles: A profile can be in one sync configuration only; remove "
        "it from the other first: Sales (in “Same reps”)."
    ]
    plan = configfile.import_document(reps, user=None, prune=True, dry_run=True)
    assert plan.deleted == ["Old reps", "Same reps"]
