"""lightningsync.configurations: the one door for configurations (SPEC §3, §14)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from lightningsync import configurations as svc
from lightningsync.configurations import ConfigurationSpec, ContactsSpec, EventsSpec, FilterSpec
from lightningsync.models import (
    ConfigurationProfile,
    ConfigurationUser,
    ContactFilter,
    SetupAuditTrail,
    SyncConfiguration,
)
from tests.factories import ProfileFactory, SyncConfigurationFactory, UserFactory

pytestmark = pytest.mark.django_db


def spec(**kwargs) -> ConfigurationSpec:
    kwargs.setdefault("name", "West reps")
    return ConfigurationSpec(**kwargs)


def test_it_parses_the_documented_example():
    parsed = svc.spec_from_dict(
        {
            "name": "West reps",
            "description": "",
            "active": True,
            "users": ["alice@example.com"],
            "profiles": ["Sales"],
            "contacts": {
                "direction": "both",
                "ownership": "users_records",
                "filters": [{"field": "mailing_state", "operator": "equals", "value": "CA"}],
                "conflict_policy": "crm_wins",
                "mappings": {},
            },
            "events": {
                "direction": "exchange_to_crm",
                "scope": "all",
                "sync_private": False,
                "auto_remove_deleted": False,
                "auto_relate": False,
                "date_filter": "LAST_N_DAYS:30",
                "mappings": {},
            },
        }
    )
    assert parsed == ConfigurationSpec(
        name="West reps",
        users=("alice@example.com",),
        profiles=("Sales",),
        contacts=ContactsSpec(filters=(FilterSpec("mailing_state", "equals", "CA"),)),
        events=EventsSpec(date_filter="LAST_N_DAYS:30"),
    )


def test_it_refuses_unknown_values_and_keys_by_path():
    with pytest.raises(ValidationError) as exc:
        svc.spec_from_dict(
            {
                "name": "X",
                "colour": "red",
                "active": "yes",
                "contacts": {"direction": "sideways", "filters": [{"field": "title"}]},
                "events": {"scope": "some"},
            }
        )
    assert exc.value.message_dict == {
        "colour": [
            "Unknown key. Known keys here: name, description, active, users, profiles, "
            "contacts, events."
        ],
        "active": ["Use true or false."],
        "contacts.direction": [
            "“sideways” is not one of none, exchange_to_crm, crm_to_exchange, both."
        ],
        "contacts.filters[0].operator": ["Required."],
        "events.scope": ["“some” is not one of all, selected."],
    }


def test_it_requires_a_name_in_a_file():
    with pytest.raises(ValidationError) as exc:
        svc.spec_from_dict({})
    assert exc.value.message_dict == {"name": ["Required: give the configuration a name."]}


def test_it_exports_what_it_parses():
    alice = UserFactory(email="alice@example.com")
    ProfileFactory(name="Sales")
    data = {
        "name": "West reps",
        "description": "Reps in the West",
        "active": False,
        "users": ["alice@example.com"],
        "profiles": ["Sales"],
        "contacts": {
            "direction": "crm_to_exchange",
            "ownership": "all",
            "filters": [
                {"field": "mailing_state", "operator": "in", "value": "CA, OR"},
                {"field": "title", "operator": "contains", "value": "VP"},
            ],
            "conflict_policy": "most_recent",
            "mappings": {},
        },
        "events": {
            "direction": "none",
            "scope": "selected",
            "sync_private": True,
            "auto_remove_deleted": True,
            "auto_relate": True,
            "date_filter": "LAST_MONTH",
            "mappings": {},
        },
    }
    result = svc.save(svc.spec_from_dict(data), user=alice)
    assert svc.spec_to_dict(svc.with_relations().get(pk=result.configuration.pk)) == data


def test_it_requires_a_unique_name_ignoring_case():
    SyncConfigurationFactory(name="West reps")
    assert svc.validate(spec(name="west REPS")) == {
        "name": ["A configuration named “West reps” already exists; choose another name."]
    }
    assert svc.validate(spec(name="  ")) == {"name": ["Enter a name for the configuration."]}
    assert svc.validate(spec(name="x" * 81))["name"] == [
        "Longer than 80 characters (this one has 81); shorten it."
    ]


def test_it_lets_a_configuration_keep_its_own_name():
    config = SyncConfigurationFactory(name="West reps")
    assert svc.validate(spec(name="West Reps"), config) == {}


def test_it_names_unknown_users_and_profiles():
    UserFactory(email="alice@example.com")
    ProfileFactory(name="Sales")
    errors = svc.validate(
        spec(users=("ALICE@example.com", "bob@example.com"), profiles=("Sales", "Support"))
    )
    assert errors == {
        "users": [
            "No user has the email address “bob@example.com”. Users are named by their "
            "email address."
        ],
        "profiles": ["No profile is named “Support”."],
    }


def test_it_refuses_a_profile_that_is_in_another_configuration():
    sales = ProfileFactory(name="Sales")
    SyncConfigurationFactory(name="East reps", profiles=[sales])
    assert svc.validate(spec(profiles=("Sales",))) == {
        "profiles": [
            "A profile can be in one sync configuration only; remove it from the other "
            "first: Sales (in “East reps”)."
        ]
    }
    with pytest.raises(ValidationError):
        svc.save(spec(profiles=("Sales",)), user=None)
    assert not SyncConfiguration.objects.filter(name="West reps").exists()


def test_it_refuses_selected_contacts_without_users_records():
    errors = svc.validate(spec(contacts=ContactsSpec(ownership="selected")))
    assert errors == {
        "contacts.ownership": [
            "“Selected contacts” needs “User's records”: without it no contact would sync. "
            "Choose Selected contacts with User's records, or All contacts."
        ]
    }


@pytest.mark.parametrize(
    ("date_filter", "error"),
    [
        ("LAST_N_DAYS:0", "LAST 0 DAYS is out of range: choose from 1 to 180 days."),
        ("LAST_N_DAYS:181", "LAST 181 DAYS is out of range: choose from 1 to 180 days."),
        ("LAST_N_DAYS:", "LAST N DAYS needs a whole number of days from 1 to 180."),
        ("LAST_N_DAYS:abc", "LAST N DAYS needs a whole number of days from 1 to 180."),
        (
            "YESTERDAY",
            "“YESTERDAY” is not an event date filter. Use TODAY, LAST_MONTH or LAST_N_DAYS:N "
            "(N from 1 to 180).",
        ),
    ],
)
def test_it_refuses_event_date_filters_out_of_range(date_filter, error):
    errors = svc.validate(spec(events=EventsSpec(date_filter=date_filter)))
    assert errors == {"events.date_filter": [error]}


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("LAST_N_DAYS:1", "LAST_N_DAYS:1"),
        ("LAST_N_DAYS:180", "LAST_N_DAYS:180"),
        ("LAST 30 DAYS", "LAST_N_DAYS:30"),
        ("today", "TODAY"),
        ("LAST MONTH", "LAST_MONTH"),
    ],
)
def test_it_stores_date_filters_normalized(given, stored):
    result = svc.save(spec(events=EventsSpec(date_filter=given)), user=None)
    assert result.configuration.event_date_filter == stored


def test_it_reports_filter_problems_per_row_and_part():
    filters = (
        FilterSpec("mailing_state", "equals", "CA"),
        FilterSpec("shoe_size", "equals", "9"),
        FilterSpec("title", "like", "x"),
        FilterSpec("birthdate", "less_than", "31/12/1990"),
        FilterSpec("birthdate", "contains", "1990"),
    )
    errors = svc.validate(spec(contacts=ContactsSpec(filters=filters)))
    assert errors == {
        "contacts.filters[1].field": [
            "“shoe_size” is not a Contact field that can be filtered on."
        ],
        "contacts.filters[2].operator": [
            "“like” is not a filter operator; use one of equals, not_equals, contains, "
            "starts_with, in, less_than, greater_than."
        ],
        "contacts.filters[3].value": [
            "Birthdate compares with dates: enter “31/12/1990” as YYYY-MM-DD."
        ],
        "contacts.filters[4].operator": ["Birthdate is a date: “contains” does not apply to it."],
    }


def test_it_reports_mapping_problems():
    errors = svc.validate(
        spec(
            contacts=ContactsSpec(mappings={"first_name": "Surname", "title": "Birthday"}),
            events=EventsSpec(mappings={"subject": "Subject", "colour": "Body"}),
        )
    )
    assert "contacts.mappings" in errors and "events.mappings" in errors
    assert "Title (text) cannot map to Birthday (date)." in errors["contacts.mappings"]
    assert "“colour” is not a mappable event field." in errors["events.mappings"]


def test_it_stores_a_mapping_equal_to_the_defaults_as_defaults():
    from lightningsync.fieldmaps import CONTACTS

    result = svc.save(spec(contacts=ContactsSpec(mappings=dict(CONTACTS.default))), user=None)
    assert result.configuration.contact_mappings == {}


def test_it_moves_a_directly_assigned_user_and_says_from_where():
    alice = UserFactory(email="alice@example.com", first_name="Alice")
    bob = UserFactory(email="bob@example.com")
    east = SyncConfigurationFactory(name="East reps", users=[alice, bob])
    result = svc.save(spec(users=("alice@example.com",)), user=None)
    assert result.moved_users == [(alice, "East reps")]
    assignments = {a.user.email: a.configuration.name for a in ConfigurationUser.objects.all()}
    assert assignments == {"alice@example.com": "West reps", "bob@example.com": "East reps"}
    assert SetupAuditTrail.objects.filter(
        section="Sync configuration “East reps”",
        action="Moved alice@example.com to “West reps”",
    ).exists()
    assert east.configurationuser_set.count() == 1


def test_it_replaces_users_profiles_and_filters_on_edit():
    alice, bob = UserFactory(email="alice@example.com"), UserFactory(email="bob@example.com")
    sales, support = ProfileFactory(name="Sales"), ProfileFactory(name="Support")
    config = svc.save(
        spec(
            users=("alice@example.com",),
            profiles=("Sales",),
            contacts=ContactsSpec(filters=(FilterSpec("title", "contains", "VP"),)),
        ),
        user=None,
    ).configuration
    svc.save(
        spec(
            users=("bob@example.com",),
            profiles=("Support",),
            contacts=ContactsSpec(
                filters=(
                    FilterSpec("mailing_state", "equals", "CA"),
                    FilterSpec("department", "starts_with", "Sa"),
                )
            ),
        ),
        user=None,
        instance=config,
    )
    assert list(ConfigurationUser.objects.values_list("user", "configuration")) == [
        (bob.pk, config.pk)
    ]
    assert list(ConfigurationProfile.objects.values_list("profile", "configuration")) == [
        (support.pk, config.pk)
    ]
    assert list(ContactFilter.objects.values_list("position", "field", "operator", "value")) == [
        (0, "mailing_state", "equals", "CA"),
        (1, "department", "starts_with", "Sa"),
    ]
    assert alice and sales  # no longer assigned, not deleted


def test_it_audits_each_changed_field_and_creation_and_deletion():
    admin = UserFactory(email="admin@example.com")
    config = svc.save(spec(), user=admin, via="Setup page").configuration
    result = svc.save(
        spec(active=False, events=EventsSpec(date_filter="LAST_N_DAYS:30")),
        user=admin,
        instance=config,
        via="Setup page",
    )
    assert result.changed == ["Active", "Event date filter"]
    svc.delete(config, user=admin, via="Setup page")
    rows = list(
        SetupAuditTrail.objects.order_by("id").values_list(
            "actor", "section", "action", "old_value", "new_value"
        )
    )
    section = "Sync configuration “West reps”"
    assert rows == [
        ("admin@example.com", section, "Created sync configuration (Setup page)", "", ""),
        ("admin@example.com", section, "Changed Active (Setup page)", "on", "off"),
        (
            "admin@example.com",
            section,
            "Changed Event date filter (Setup page)",
            "TODAY",
            "LAST_N_DAYS:30",
        ),
        (
            "admin@example.com",
            section,
            "Deleted sync configuration (0 users, 0 profiles) (Setup page)",
            "",
            "",
        ),
    ]
    assert not SyncConfiguration.objects.exists()


def test_it_records_nothing_for_an_unchanged_save():
    config = svc.save(spec(), user=None).configuration
    before = SetupAuditTrail.objects.count()
    result = svc.save(spec(), user=None, instance=config)
    assert result.changed == [] and SetupAuditTrail.objects.count() == before


def test_it_calls_on_saved_after_commit(monkeypatch, django_capture_on_commit_callbacks):
    seen = []
    monkeypatch.setattr(svc, "on_saved", lambda config: seen.append(config.name))
    with django_capture_on_commit_callbacks(execute=True):
        svc.save(spec(), user=None)
    assert seen == ["West reps"]


def test_it_writes_nothing_when_invalid():
    with pytest.raises(ValidationError) as exc:
        svc.save(spec(contacts=ContactsSpec(ownership="selected")), user=None)
    assert list(exc.value.message_dict) == ["contacts.ownership"]
    assert not SyncConfiguration.objects.exists()
    assert not SetupAuditTrail.objects.exists()


# --- the rules the service relies on, against real rows ---------------------------------------


@pytest.fixture
def contacts():
    from tests.factories import AccountFactory, ContactFactory

    acme = AccountFactory(name="Acme Corp")
    globex = AccountFactory(name="Globex")
    return {
        "ann": ContactFactory(
            first_name="Ann",
            mailing_state="CA",
            title="VP Sales",
            account=acme,
            birthdate=dt.date(1980, 5, 1),
        ),
        "bob": ContactFactory(
            first_name="Bob",
            mailing_state="ca",
            title="Buyer",
            account=globex,
            birthdate=dt.date(1990, 1, 1),
        ),
        "cyd": ContactFactory(
            first_name="Cyd",
            mailing_state="OR",
            title="vp engineering",
            account=None,
            birthdate=None,
        ),
        "dee": ContactFactory(
            first_name="Dee",
            mailing_state="",
            title="Assistant to the VP",
            account=acme,
            birthdate=dt.date(2000, 12, 31),
        ),
    }


def selected(rows) -> list[str]:
    from lightningsync.contactfilters import filter_q
    from lightningsync.models import Contact

    return sorted(Contact.objects.filter(filter_q(rows)).values_list("first_name", flat=True))


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (("mailing_state", "equals", "CA"), ["Ann", "Bob"]),
        (("mailing_state", "not_equals", "ca"), ["Cyd", "Dee"]),
        (("title", "contains", "vp"), ["Ann", "Cyd", "Dee"]),
        (("title", "starts_with", "VP"), ["Ann", "Cyd"]),
        (("mailing_state", "in", "CA, OR"), ["Ann", "Bob", "Cyd"]),
        (("account_name", "equals", "acme corp"), ["Ann", "Dee"]),
        (("account_name", "starts_with", "Glo"), ["Bob"]),
        (("mailing_state", "less_than", "D"), ["Ann", "Bob", "Dee"]),
        (("mailing_state", "greater_than", "CA"), ["Cyd"]),  # "ca" is not greater
        (("birthdate", "equals", "1990-01-01"), ["Bob"]),
        (("birthdate", "less_than", "1990-01-01"), ["Ann"]),
        (("birthdate", "greater_than", "1985-06-30"), ["Bob", "Dee"]),
        (("birthdate", "in", "1980-05-01, 2000-12-31"), ["Ann", "Dee"]),
        # A contact without a birthdate is "not equal" to any date.
        (("birthdate", "not_equals", "1990-01-01"), ["Ann", "Cyd", "Dee"]),
    ],
)
def test_it_selects_contacts_with_each_operator(contacts, row, expected):
    assert selected([row]) == expected


def test_it_ands_every_filter_row(contacts):
    rows = [("mailing_state", "equals", "CA"), ("title", "contains", "vp")]
    assert selected(rows) == ["Ann"]
    assert selected([]) == ["Ann", "Bob", "Cyd", "Dee"]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            ("shoe_size", "equals", "9"),
            "“shoe_size” is not a Contact field that can be filtered on.",
        ),
        (("owner", "equals", "1"), "“owner” is not a Contact field that can be filtered on."),
        (
            ("title", "like", "VP"),
            "“like” is not a filter operator; use one of equals, not_equals, contains, "
            "starts_with, in, less_than, greater_than.",
        ),
        (
            ("birthdate", "starts_with", "19"),
            "Birthdate is a date: “starts_with” does not apply to it.",
        ),
        (
            ("birthdate", "equals", "2020-02-30"),
            "Birthdate compares with dates: enter “2020-02-30” as YYYY-MM-DD.",
        ),
        (
            ("birthdate", "in", "2020-01-01, soon"),
            "Birthdate compares with dates: enter “soon” as YYYY-MM-DD.",
        ),
        (("title", "in", " , "), "Title in list: enter one or more values separated by commas."),
        (("title", "contains", "  "), "Title: enter a value to compare with."),
    ],
)
def test_it_refuses_bad_filter_rows(row, message):
    from lightningsync.contactfilters import validate_filter

    with pytest.raises(ValidationError) as exc:
        validate_filter(*row)
    assert exc.value.messages == [message]


def test_it_cleans_an_in_list():
    from lightningsync.contactfilters import validate_filter

    assert validate_filter("mailing_state", "in", " CA,OR , ,WA ") == "CA, OR, WA"


# --- mapping rules -------------------------------------------------------------------------------


def mapping_problems(catalogue, mapping) -> list[str]:
    from lightningsync.configrules import validate_mapping

    try:
        validate_mapping(catalogue, mapping)
    except ValidationError as exc:
        return exc.messages
    return []


def test_it_accepts_empty_and_default_mappings():
    from lightningsync.fieldmaps import CONTACTS, EVENTS

    for catalogue in (CONTACTS, EVENTS):
        assert mapping_problems(catalogue, {}) == []
        assert mapping_problems(catalogue, dict(catalogue.default)) == []


def test_it_refuses_remapping_or_dropping_a_matching_field():
    from lightningsync.fieldmaps import CONTACTS, EVENTS

    contact = {**CONTACTS.fixed, "first_name": "Nickname"}
    assert mapping_problems(CONTACTS, contact) == [
        "First Name is used for matching and must map to GivenName."
    ]
    event = {k: v for k, v in EVENTS.fixed.items() if k != "end"}
    assert mapping_problems(EVENTS, event) == ["End is used for matching and must map to End."]


def test_it_refuses_an_exchange_field_used_twice():
    from lightningsync.fieldmaps import CONTACTS

    mapping = {**CONTACTS.fixed, "phone": "BusinessPhone", "mobile_phone": "BusinessPhone"}
    assert mapping_problems(CONTACTS, mapping) == [
        "Exchange field Business phone (BusinessPhone) is mapped twice: from Phone and from Mobile."
    ]


def test_it_refuses_incompatible_kinds_and_unknown_names():
    from lightningsync.fieldmaps import CONTACTS, EVENTS

    mapping = {
        **CONTACTS.fixed,
        "birthdate": "JobTitle",
        "description": "Department",
        "shoe_size": "Body",
        "title": "Horoscope",
    }
    assert mapping_problems(CONTACTS, mapping) == [
        "Birthdate (date) cannot map to Job title (text).",
        "Description (long_text) cannot map to Department (text).",
        "“shoe_size” is not a mappable contact field.",
        "“Horoscope” is not an Exchange contact field.",
    ]
    assert mapping_problems(EVENTS, {**EVENTS.fixed, "is_private": "Location"}) == [
        "Private (sensitivity) cannot map to Location (text)."
    ]


def test_it_lets_a_phone_map_to_a_text_field_but_not_the_reverse():
    from lightningsync.fieldmaps import CONTACTS

    assert mapping_problems(CONTACTS, {**CONTACTS.fixed, "phone": "OfficeLocation"}) == []
    assert mapping_problems(CONTACTS, {**CONTACTS.fixed, "title": "HomePhone"}) == [
        "Title (text) cannot map to Home phone (phone)."
    ]
