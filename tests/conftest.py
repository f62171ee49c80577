"""Shared fixtures: personas for each permission set (SPEC §11)."""

from __future__ import annotations

import pytest

from tests.factories import StaffUserFactory

pytest_plugins = ["exchangesim.pytest_plugin"]

PERSONA_GROUPS = {
    "admin": ["Lightning Sync Administrators"],
    "viewer": ["Setup Viewers"],
    "config_manager": ["Exchange Configuration Managers"],
    "reporter": ["Report Users"],
    "nobody": [],
}


@pytest.fixture
def persona(db):
    """persona("admin") -> a signed-in-able staff user holding that permission set."""

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
