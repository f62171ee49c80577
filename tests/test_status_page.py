"""Lightning Sync Status (first version): enabled or not, and how many users would sync."""

from __future__ import annotations

import html

import pytest
from django.urls import reverse
from django.utils import timezone

from lightningsync.models import Event, EventLink, LightningSyncSetup
from tests.factories import ProfileFactory, SyncConfigurationFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = reverse("admin:lightningsync_status")


def test_it_says_sync_is_not_enabled(admin_client):
    text = admin_client.get(URL).content.decode()
    assert "Not enabled — nothing syncs until it is turned on" in text


def test_it_says_plainly_what_it_does_not_show_and_what_events_sync(admin_client):
    config = SyncConfigurationFactory(name="West", events_direction="exchange_to_crm")
    text = html.unescape(admin_client.get(URL).content.decode())
    assert (
        '<dd id="status-events">Events sync one way, from each rep\'s default Exchange '
        "calendar to the CRM. With “Sync only events reps select”, a rep selects an event by "
        "giving it the selection category named in Lightning Sync Setup, in any Outlook, web "
        "or mobile client. Recurring events and invitees are not synced, and nothing is ever "
        "changed in the rep's calendar besides the org's stamp.</dd>"
    ) in text
    assert "not synced yet" not in text
    assert '<dd id="status-linked-events">0 events linked' in text
    rep = config.users.first() or UserFactory(username="west")
    event = Event.objects.create(owner=rep, subject="Call", start=timezone.now(),
                                 end=timezone.now())
    EventLink.objects.create(user=rep, event=event, exchange_id="AAMk1")
    EventLink.objects.create(user=rep, event=None, exchange_id="AAMk2")  # deleted in the CRM
    text = html.unescape(admin_client.get(URL).content.decode())
    assert '<dd id="status-linked-events">1 event linked to an Exchange calendar item</dd>' in text
    assert (
        '<p class="ls-notice ls-notice--info" id="status-scope">This page does not show each '
        "user's sync status yet.</p>"
    ) in text


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
