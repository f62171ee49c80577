"""Lightning Sync Status (first version): enabled or not, and how many users would sync."""

from __future__ import annotations

import pytest
from django.urls import reverse

from lightningsync.models import LightningSyncSetup
from tests.factories import ProfileFactory, SyncConfigurationFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = reverse("admin:lightningsync_status")


def test_it_says_sync_is_not_enabled(admin_client):
    text = admin_client.get(URL).content.decode()
    assert "Not enabled — nothing syncs until it is turned on" in text
    assert "arrive with the sync engine" in text


def test_it_counts_users_governed_by_an_active_configuration(admin_client):
    LightningSyncSetup.load()
    LightningSyncSetup.objects.update(enabled=True)
    sales = ProfileFactory(name="Sales")
    SyncConfigurationFactory(name="West", users=[UserFactory(), UserFactory()])
    SyncConfigurationFactory(name="By profile", profiles=[sales])
    UserFactory(profile=sales)
    SyncConfigurationFactory(name="Paused", active=False, users=[UserFactory()])
    UserFactory(is_active=False, profile=sales)
    response = admin_client.get(URL)
    text = response.content.decode()
    assert 'id="status-enabled">Enabled<' in text
    assert response.context["syncing_user_count"] == 3
    assert "3 users governed by an active sync configuration" in text
    assert response.context["per_configuration"] == [("By profile", 1), ("West", 2)]
