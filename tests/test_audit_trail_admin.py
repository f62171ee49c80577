"""Setup Audit Trail page: a read-only list with filters and search."""

from __future__ import annotations

import pytest
from django.urls import reverse

from lightningsync.models import SetupAuditTrail
from lightningsync.setupservice import apply_setup

pytestmark = pytest.mark.django_db

URL = reverse("admin:lightningsync_setupaudittrail_changelist")


def test_it_lists_changes_with_date_user_section_action_and_values(admin_client, admin_user):
    apply_setup(
        {"service_account": {"username": "svc@example.com"}}, user=admin_user, via="Setup page"
    )
    response = admin_client.get(URL)
    assert response.status_code == 200
    text = response.content.decode()
    for value in (
        admin_user.email,
        "Lightning Sync Setup",
        "Changed Service account user name (Setup page)",
        "svc@example.com",
    ):
        assert value in text
    headers = [h["text"] for h in response.context["result_headers"]]
    assert [h.capitalize() for h in headers] == [
        "Date",
        "User",
        "Section",
        "Action",
        "Old value",
        "New value",
    ]


def test_it_shows_secrets_as_changed(admin_client):
    apply_setup({}, user=None, via="t", secrets={"service_account_password": "Pl41n-Passw0rd"})
    text = admin_client.get(URL).content.decode()
    assert "Pl41n-Passw0rd" not in text
    assert ">changed<" in text


def test_it_searches_and_filters(admin_client):
    SetupAuditTrail.objects.create(
        actor="a@example.com", section="Lightning Sync Setup", action="x"
    )
    SetupAuditTrail.objects.create(actor="b@example.com", section="Sync configurations", action="y")
    response = admin_client.get(URL, {"q": "b@example"})
    assert [e.actor for e in response.context["cl"].result_list] == ["b@example.com"]
    response = admin_client.get(URL, {"section": "Lightning Sync Setup"})
    assert [e.actor for e in response.context["cl"].result_list] == ["a@example.com"]


def test_it_offers_no_add_button_and_no_bulk_actions(admin_client):
    SetupAuditTrail.objects.create(actor="a", section="s", action="x")
    text = admin_client.get(URL).content.decode()
    assert reverse("admin:lightningsync_setupaudittrail_add") not in text
    assert 'name="action"' not in text
