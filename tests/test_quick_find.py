"""The Setup home: the Setup menu per permission set, and Quick Find (server side)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from setupui.menu import Entry, Group, Section, quick_find

pytestmark = pytest.mark.django_db

INDEX = reverse("admin:index")


def entry_labels(response) -> list[str]:
    return [
        e.label for s in response.context["setup_menu_found"] for g in s.groups for e in g.entries
    ]


def test_it_shows_the_setup_menu_to_an_admin(admin_client):
    response = admin_client.get(INDEX)
    assert response.status_code == 200
    sections = {s.title: [g.title for g in s.groups] for s in response.context["setup_menu"]}
    assert sections["Email"] == ["Lightning Sync"]
    assert sections["Administration"] == ["Users", "Security"]
    assert sections["Records"] == ["Sales", "Activities"]
    labels = entry_labels(response)
    for label in (
        "Lightning Sync Setup",
        "Lightning Sync Status",
        "View Setup Audit Trail",
        "Accounts",
        "Contacts",
        "Leads",
        "Events",
        "Users",
        "Profiles",
    ):
        assert label in labels
    text = response.content.decode()
    assert f'href="{reverse("admin:lightningsync_setup")}"' in text
    assert 'id="quick-find"' in text


def test_it_links_sync_configurations_when_registered(admin_client):
    try:
        url = reverse("admin:lightningsync_syncconfiguration_changelist")
    except Exception:
        pytest.skip("setupui.configurations_admin is not registered yet")
    response = admin_client.get(INDEX)
    assert "Sync Configurations" in entry_labels(response)
    assert f'href="{url}"' in response.content.decode()


def test_it_shows_each_entry_only_to_those_allowed(client, persona):
    client.force_login(persona("reporter"))
    labels = entry_labels(client.get(INDEX))
    assert "Lightning Sync Setup" not in labels
    assert "Lightning Sync Status" not in labels
    assert "View Setup Audit Trail" not in labels
    assert "Contacts" not in labels


def test_it_tells_a_user_without_permissions_so(client, persona):
    client.force_login(persona("nobody"))
    response = client.get(INDEX)
    assert response.status_code == 200
    assert "permission to view any Setup page." in response.content.decode()


def test_it_filters_by_name_with_q(admin_client):
    response = admin_client.get(INDEX, {"q": "lightning sync"})
    assert entry_labels(response) == [
        "Lightning Sync Setup",
        "Sync Configurations",
        "Lightning Sync Connection Test",
        "Lightning Sync Status",
        "Lightning Sync Errors",
    ]
    assert 'value="lightning sync"' in response.content.decode()


def test_it_finds_the_error_report_for_those_who_run_reports(client, admin_client, persona):
    assert entry_labels(admin_client.get(INDEX, {"q": "Lightning Sync Errors"})) == [
        "Lightning Sync Errors"]
    assert entry_labels(admin_client.get(INDEX, {"q": "error report"})) == [
        "Lightning Sync Errors"]
    client.force_login(persona("reporter"))
    assert entry_labels(client.get(INDEX, {"q": "errors"})) == ["Lightning Sync Errors"]
    client.force_login(persona("viewer"))
    assert entry_labels(client.get(INDEX, {"q": "errors"})) == []


def test_it_matches_every_word_in_any_order(admin_client):
    response = admin_client.get(INDEX, {"q": "status sync"})
    assert entry_labels(response) == ["Lightning Sync Status"]


def test_it_finds_the_connection_test(admin_client, client, persona):
    assert entry_labels(admin_client.get(INDEX, {"q": "connection test"})) == [
        "Lightning Sync Connection Test"]
    client.force_login(persona("viewer"))  # running a test needs Customize Application
    assert entry_labels(client.get(INDEX, {"q": "connection test"})) == []


def test_it_matches_keywords_and_group_names(admin_client):
    assert entry_labels(admin_client.get(INDEX, {"q": "OAuth"})) == ["Lightning Sync Setup"]
    assert entry_labels(admin_client.get(INDEX, {"q": "audit"})) == ["View Setup Audit Trail"]
    labels = entry_labels(admin_client.get(INDEX, {"q": "sales"}))
    assert labels == ["Accounts", "Contacts", "Leads"]


def test_it_says_when_nothing_matches(admin_client):
    response = admin_client.get(INDEX, {"q": "zzz"})
    assert entry_labels(response) == []
    text = response.content.decode()
    no_match = re.search(r'<p class="ls-no-match"[^>]*>', text)
    assert no_match is not None and "hidden" not in no_match.group(0)


def test_it_renders_search_text_for_the_browser_filter(admin_client):
    text = admin_client.get(INDEX).content.decode()
    assert 'data-search="lightning sync setup lightning sync email exchange service account' in text


def test_it_shows_the_menu_in_the_sidebar_of_other_pages(admin_client):
    text = admin_client.get(reverse("admin:lightningsync_status")).content.decode()
    assert 'placeholder="Quick Find"' in text
    assert f'href="{reverse("admin:lightningsync_setup")}"' in text


def test_it_keeps_everything_for_an_empty_query():
    entry = Entry("Contacts", "/c/", "", search_text="contacts sales records")
    sections = [Section("Records", (Group("Sales", (entry,)),))]
    assert quick_find(sections, "   ") == sections
    assert quick_find(sections, "CONT rec") == sections
    assert quick_find(sections, "leads") == []


def test_it_shows_recent_setup_changes_to_setup_readers(client, persona):
    from lightningsync.setupservice import apply_setup

    apply_setup({"event_selection": {"category": "CRM"}}, user=None, via="command line")
    client.force_login(persona("viewer"))
    assert "Changed Event selection category (command line)" in client.get(INDEX).content.decode()
    client.force_login(persona("reporter"))
    assert "Recent Setup Changes" not in client.get(INDEX).content.decode()
