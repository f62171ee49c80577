"""Which configuration governs a user (SPEC §3), and the event window it implies."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lightningsync import configurations
from lightningsync.configrules import event_window_start
from lightningsync.configurations import ConfigurationSpec
from lightningsync.effective import (
    ASSIGNMENTS,
    effective_configuration,
    effective_configurations,
    syncing_users,
)
from lightningsync.models import SyncConfiguration, User
from tests.factories import ProfileFactory, SyncConfigurationFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def org():
    """Every situation of the precedence rules, one user each."""
    sales, support, marketing = (
        ProfileFactory(name="Sales"),
        ProfileFactory(name="Support"),
        ProfileFactory(name="Marketing"),
    )
    u = {
        "direct": UserFactory(profile=sales),  # direct West beats profile East
        "profile": UserFactory(profile=sales),  # East via Sales
        "direct_inactive_config": UserFactory(profile=sales),  # in Paused directly
        "profile_inactive_config": UserFactory(profile=support),  # Support is in Paused
        "inactive_user": UserFactory(profile=sales, is_active=False),
        "unassigned": UserFactory(),
        "profile_without_config": UserFactory(profile=marketing),
    }
    west = SyncConfigurationFactory(name="West", users=[u["direct"]])
    east = SyncConfigurationFactory(name="East", profiles=[sales])
    paused = SyncConfigurationFactory(
        name="Paused", active=False, users=[u["direct_inactive_config"]], profiles=[support]
    )
    return {"users": u, "west": west, "east": east, "paused": paused}


EXPECTED = {
    "direct": "West",
    "profile": "East",
    "direct_inactive_config": None,
    "profile_inactive_config": None,
    "inactive_user": None,
    "unassigned": None,
    "profile_without_config": None,
}


def test_it_applies_the_precedence_rules_one_user_at_a_time(org):
    found = {
        key: (c.name if (c := effective_configuration(user)) else None)
        for key, user in org["users"].items()
    }
    assert found == EXPECTED


def test_it_applies_the_same_rules_without_a_query_to_users_read_with_their_assignments(org):
    """The cycle reads its user with `ASSIGNMENTS` (the claim's query): same rules, no query."""
    users = {key: User.objects.select_related(*ASSIGNMENTS).get(pk=user.pk)
             for key, user in org["users"].items()}
    with CaptureQueriesContext(connection) as queries:
        found = {key: (c.name if (c := effective_configuration(
            user, read_with_assignments=True)) else None) for key, user in users.items()}
    assert found == EXPECTED
    assert len(queries) == 0


def test_it_applies_the_same_rules_in_bulk_in_two_queries(org):
    users = list(org["users"].values())
    with CaptureQueriesContext(connection) as queries:
        result = effective_configurations(users)
    assert len(queries) == 2
    by_key = {key: result.get(user.pk) for key, user in org["users"].items()}
    assert {k: (c.name if c else None) for k, c in by_key.items()} == EXPECTED


def test_it_lists_exactly_the_syncing_users(org):
    users = org["users"]
    result = syncing_users()
    assert {pk: c.name for pk, c in result.items()} == {
        users["direct"].pk: "West",
        users["profile"].pk: "East",
    }


def test_it_reads_each_configuration_once_for_all_the_users_it_governs(org):
    """Who syncs is read for the whole org at every cycle: as ids, with one instance of each
    configuration however many users it governs (not a row and an instance per user)."""
    more = [UserFactory(profile=org["users"]["profile"].profile) for _ in range(5)]
    with CaptureQueriesContext(connection) as queries:
        result = syncing_users()
    governed_by_east = [result[u.pk] for u in [org["users"]["profile"], *more]]
    assert {c.name for c in governed_by_east} == {"East"}
    assert all(c is governed_by_east[0] for c in governed_by_east)
    config_reads = [q for q in queries if 'FROM "lightningsync_syncconfiguration"' in q["sql"]
                    .split(" WHERE ")[0] and "lightningsync_configurationuser" not in q["sql"]]
    assert len(config_reads) == 1
    assert len(queries) == 4


def test_it_keeps_a_direct_assignment_to_an_inactive_configuration_over_the_profile(org):
    """Direct beats profile even when the direct configuration is off: the user does not
    fall back to the profile's active configuration."""
    user = org["users"]["direct_inactive_config"]
    assert user.profile.name == "Sales"  # whose configuration (East) is active
    assert effective_configuration(user) is None
    assert user.pk not in syncing_users()
    # It is Paused that governs the user: once it is active again, the user syncs with it.
    org["paused"].active = True
    org["paused"].save()
    assert effective_configuration(user).name == "Paused"
    assert syncing_users()[user.pk].name == "Paused"


def test_it_follows_a_user_moved_between_configurations(org):
    user = org["users"]["direct"]
    configurations.save(ConfigurationSpec(name="North", users=(user.email,)), user=None)
    assert effective_configuration(user).name == "North"
    assert user.pk in syncing_users()
    configurations.save(
        ConfigurationSpec(name="North", active=False, users=(user.email,)),
        user=None,
        instance=SyncConfiguration.objects.get(name="North"),
    )
    assert effective_configuration(user) is None
    assert user.pk not in syncing_users()


def test_it_falls_back_to_the_profile_when_the_direct_configuration_is_deleted(org):
    configurations.delete(org["west"], user=None)
    assert effective_configuration(org["users"]["direct"]).name == "East"


def test_it_stops_syncing_a_profile_user_when_the_configuration_is_deactivated(org):
    east = org["east"]
    east.active = False
    east.save()
    assert effective_configuration(org["users"]["profile"]) is None
    assert org["users"]["profile"].pk not in syncing_users()


def test_it_needs_no_query_for_no_users():
    with CaptureQueriesContext(connection) as queries:
        assert effective_configurations([]) == {}
    assert len(queries) == 0


# --- the event window (SPEC §3 event date filter) -------------------------------------------

LA = ZoneInfo("America/Los_Angeles")
# 2026-03-10 05:30 UTC is still 9 March in Los Angeles (21:30 PDT).
NOW = dt.datetime(2026, 3, 10, 5, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("date_filter", "expected"),
    [
        ("TODAY", dt.datetime(2026, 3, 9, tzinfo=LA)),
        ("LAST_MONTH", dt.datetime(2026, 2, 1, tzinfo=LA)),
        ("LAST_N_DAYS:1", dt.datetime(2026, 3, 8, tzinfo=LA)),
        ("LAST_N_DAYS:30", dt.datetime(2026, 2, 7, tzinfo=LA)),
        ("LAST_N_DAYS:180", dt.datetime(2025, 9, 10, tzinfo=LA)),
    ],
)
def test_it_starts_the_event_window_at_local_midnight(date_filter, expected):
    start = event_window_start(date_filter, NOW, LA)
    assert start == expected
    assert start.astimezone(LA).time() == dt.time(0, 0)


def test_it_starts_last_month_in_the_previous_year_in_january():
    now = dt.datetime(2026, 1, 15, 12, tzinfo=dt.UTC)
    assert event_window_start("LAST_MONTH", now, LA) == dt.datetime(2025, 12, 1, tzinfo=LA)


def test_it_uses_the_org_day_not_the_utc_day():
    tokyo = ZoneInfo("Asia/Tokyo")
    # 2026-03-09 20:00 UTC is already 10 March in Tokyo.
    now = dt.datetime(2026, 3, 9, 20, tzinfo=dt.UTC)
    assert event_window_start("TODAY", now, tokyo) == dt.datetime(2026, 3, 10, tzinfo=tokyo)
    assert event_window_start("TODAY", now, tokyo).astimezone(dt.UTC) == dt.datetime(
        2026, 3, 9, 15, tzinfo=dt.UTC
    )
