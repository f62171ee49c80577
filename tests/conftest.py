"""Shared fixtures: personas for each permission set (SPEC §11)."""

from __future__ import annotations

import importlib

import pytest
from django.contrib.auth.models import Group, Permission

from tests.factories import StaffUserFactory

pytest_plugins = ["exchangesim.pytest_plugin"]

PERSONA_GROUPS = {
    "admin": ["Lightning Sync Administrators"],
    "viewer": ["Setup Viewers"],
    "config_manager": ["Exchange Configuration Managers"],
    "reporter": ["Report Users"],
    "sales": ["Sales Reps"],
    "nobody": [],
}

# Every group the migrations make, with its permissions (codenames of lightningsync).
MIGRATION_GROUPS: dict[str, list[str]] = {
    **importlib.import_module("lightningsync.migrations.0002_permission_groups").GROUPS,
    **importlib.import_module("lightningsync.migrations.0011_sales_reps_group").GROUPS,
}


def restore_migration_groups() -> None:
    """Put back the permission groups the migrations make when they are gone: the live
    server's tests (and other transactional ones) flush every table after they run, groups
    included."""
    if Group.objects.filter(name__in=MIGRATION_GROUPS).count() == len(MIGRATION_GROUPS):
        return
    for name, codenames in MIGRATION_GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(
            Permission.objects.filter(
                content_type__app_label="lightningsync", codename__in=codenames
            )
        )


@pytest.fixture
def persona(db):
    """persona("admin") -> a signed-in-able staff user holding that permission set."""
    restore_migration_groups()

    def make(name: str):
        return StaffUserFactory(username=f"{name}-persona", groups=PERSONA_GROUPS[name])

    return make


@pytest.fixture
def admin_user(persona):
    return persona("admin")


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client
