"""The Lightning Sync Status page (SPEC §7, §10): system statuses first, find a user, Check
Status, Reset Sync with a confirmation, the hourly chart, in a constant number of queries."""

from __future__ import annotations

import html
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from lightningsync.models import LightningSyncSetup, UserSyncState
from syncengine.tasks import refresh_statuses_task
from tests.engine.ews_fixtures import EwsWorld, crm_contact, ews_fixture, remove_folder  # noqa: F401
from tests.factories import SyncConfigurationFactory, UserFactory

URL = reverse("admin:lightningsync_status")


def text_of(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(re.sub(r"\s+", " ", response.content.decode()))


def value(text: str, key: str, prefix: str = "") -> str:
    found = re.search(
        rf'<tr id="{prefix}row-{key}"[^>]*>.*?<td class="ls-status__value"[^>]*>(.*?)</td>', text)
    assert found, key
    return found[1]


@pytest.mark.django_db
def test_it_says_sync_is_not_enabled_and_shows_the_system_statuses(admin_client):
    text = text_of(admin_client.get(URL))
    assert "Lightning Sync is <strong>not enabled</strong>" in text
    assert text.index("System Statuses") < text.index("Find a user")
    assert value(text, "account_provided") == "None"
    assert value(text, "contact_last_activity") == "Never"
    assert 'id="status-chart"' in text and "Nothing synced in the last 24 hours." in text


def test_find_a_user_check_status_and_see_the_chart(admin_client, ews: EwsWorld) -> None:
    crm_contact(ews.rep, last_name="Crm")
    ews.sync()
    UserFactory(first_name="Rita", last_name="Other", email="other@example.com")
    refresh_statuses_task()
    text = text_of(admin_client.get(URL, {"q": "rita rep"}))
    assert "rep@example.com" in text and "other@example.com" not in text
    text = text_of(admin_client.get(URL, {"q": "REP@EXAMPLE"}))
    assert f'id="check-status-{ews.rep.pk}"' in text
    assert value(text, "linked_users") == "1"
    assert "<title>1 contacts and 0 events synced in the last 24 hours" in text
    assert 'class="ls-chart__bar ls-chart__bar--contacts"' in text

    text = text_of(admin_client.get(URL, {"q": "rep", "user": ews.rep.pk}))
    assert "Sync status of Rita Rep (rep@example.com)" in text
    assert value(text, "contact_crm_to_exchange", "user-") == "Initial sync completed"
    assert value(text, "contact_in_sync", "user-") == "1"
    assert value(text, "recognized", "user-") == "✓"
    assert text.index("System Statuses") < text.index("Sync status of Rita Rep")

    text = text_of(admin_client.get(URL, {"q": "nobody-like-this"}))
    assert "No user matches “nobody-like-this”." in text


def test_reset_sync_asks_then_resets_and_lifts_a_mass_delete_pause(
        admin_client, ews: EwsWorld, django_capture_on_commit_callbacks) -> None:
    for n in range(25):
        crm_contact(ews.rep, last_name=f"C{n}")
    ews.sync()
    remove_folder(ews.sim, "rep@example.com")
    ews.sync()
    text = text_of(admin_client.get(URL, {"user": ews.rep.pk}))
    assert value(text, "held", "user-") == "Salesforce_Sync found empty or missing"

    reset_url = reverse("admin:lightningsync_reset", args=[ews.rep.pk])
    confirm = text_of(admin_client.get(reset_url))
    assert "Reset sync for Rita Rep (rep@example.com)?" in confirm
    assert UserSyncState.objects.get(user=ews.rep).reset_state == ""  # asking changes nothing
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reset_url)
    assert response.status_code == 302
    assert response["Location"] == f"{URL}?user={ews.rep.pk}"
    text = text_of(admin_client.get(response["Location"]))
    assert "Sync was reset for Rita Rep" in text
    assert 'id="user-row-held"' not in text and 'id="user-row-reset"' not in text
    assert len(ews.items()) == 25


def test_a_reset_that_waits_reads_marked_for_reset_with_the_reason(
        admin_client, ews: EwsWorld, django_capture_on_commit_callbacks) -> None:
    LightningSyncSetup.objects.update(enabled=False)
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(reverse("admin:lightningsync_reset", args=[ews.rep.pk]))
    text = text_of(admin_client.get(URL, {"user": ews.rep.pk}))
    assert value(text, "reset", "user-") == "Marked for reset"
    assert "Lightning Sync is not enabled in Setup." in text


def test_reset_sync_refuses_get_for_unknown_users_and_other_methods(admin_client, db) -> None:
    assert admin_client.get(reverse("admin:lightningsync_reset", args=[999999])).status_code == 404
    user = UserFactory()
    assert admin_client.put(
        reverse("admin:lightningsync_reset", args=[user.pk])).status_code == 405


@pytest.mark.django_db
def test_the_page_costs_the_same_queries_with_more_users(admin_client):
    LightningSyncSetup.objects.update(enabled=True)
    config = SyncConfigurationFactory(name="Many")
    checked = UserFactory(email="checked@example.com")
    config.users.add(checked)
    refresh_statuses_task()
    admin_client.get(URL, {"q": "checked", "user": checked.pk})

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert admin_client.get(URL, {"q": "checked", "user": checked.pk}).status_code == 200
        return len(queries)

    few = count()
    config.users.add(*[UserFactory() for _ in range(30)])
    refresh_statuses_task()
    assert count() == few
