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
    "nobody": [],
}


GROUPS_MIGRATION = importlib.import_module("lightningsync.migrations.0002_permission_groups")


def restore_migration_groups() -> None:
    """Put back the permission groups a migration makes when they are gone: the live server's
    tests (and other transactional ones) flush every table after they run, groups included."""
    if Group.objects.filter(name__in=GROUPS_MIGRATION.GROUPS).count() == len(
        GROUPS_MIGRATION.GROUPS
    ):
        return
    for name, codenames in GROUPS_MIGRATION.GROUPS.items():
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
