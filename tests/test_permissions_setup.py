"""Each permission set signs in and is allowed or refused, page by page (SPEC §11)."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from lightningsync import configfile
from lightningsync.models import LightningSyncSetup, SetupAuditTrail

pytestmark = pytest.mark.django_db

PERSONAS = ("admin", "viewer", "config_manager", "reporter", "nobody")


def allowed(*who: str) -> list[tuple[str, bool]]:
    return [(name, name in who) for name in PERSONAS]


SETUP_READERS = ("admin", "viewer", "config_manager")

PAGES = {
    "admin:lightningsync_setup": SETUP_READERS,
    "admin:lightningsync_status": SETUP_READERS,
    "admin:lightningsync_config_download": SETUP_READERS,
    "admin:lightningsync_config_upload": ("admin",),
    "admin:lightningsync_connection_test": ("admin",),
    "admin:lightningsync_setupaudittrail_changelist": SETUP_READERS,
    "admin:lightningsync_account_changelist": SETUP_READERS,
    "admin:lightningsync_contact_changelist": SETUP_READERS,
    "admin:lightningsync_lead_changelist": SETUP_READERS,
    "admin:lightningsync_event_changelist": SETUP_READERS,
    "admin:lightningsync_user_changelist": SETUP_READERS,
    "admin:lightningsync_profile_changelist": SETUP_READERS,
    "admin:lightningsync_lightningsyncerror_changelist": ("admin", "reporter"),
    "admin:lightningsync_lightningsyncerror_export": ("admin", "reporter"),
}


@pytest.mark.parametrize(
    ("url_name", "persona_name", "ok"),
    [(url, name, ok) for url, who in PAGES.items() for name, ok in allowed(*who)],
)
def test_it_allows_or_refuses_each_page(client, persona, url_name, persona_name, ok):
    client.force_login(persona(persona_name))
    response = client.get(reverse(url_name))
    assert response.status_code == (200 if ok else 403)


@pytest.mark.parametrize("url_name", PAGES)
def test_it_sends_anonymous_visitors_to_the_login_page(client, url_name):
    url = reverse(url_name)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_it_sends_non_staff_users_to_the_login_page(client, persona):
    user = persona("admin")
    user.is_staff = False
    user.save()
    client.force_login(user)
    response = client.get(reverse("admin:lightningsync_setup"))
    assert response.status_code == 302


@pytest.mark.parametrize(("persona_name", "ok"), allowed("admin"))
def test_it_lets_only_customize_application_save_setup(client, persona, persona_name, ok):
    client.force_login(persona(persona_name))
    response = client.post(
        reverse("admin:lightningsync_setup"),
        {"connection_method": "service_account", "auth_type": "basic", "event_category": "CRM"},
    )
    assert response.status_code == (302 if ok else 403)
    assert (LightningSyncSetup.load().event_category == "CRM") is ok


@pytest.mark.parametrize(("persona_name", "ok"), allowed("admin"))
def test_it_lets_only_full_admins_upload_and_apply(client, persona, persona_name, ok):
    """Both steps check Customize Application + Manage Exchange Configurations + Manage
    Users: the upload that shows the plan, and the Apply that changes the org."""
    client.force_login(persona(persona_name))
    document = {
        "version": 1,
        "setup": {"event_selection": {"category": "CRM"}},
        "configurations": [],
    }
    url = reverse("admin:lightningsync_config_upload")
    file = SimpleUploadedFile("c.json", json.dumps(document).encode(), "application/json")
    response = client.post(url, {"file": file})
    assert response.status_code == (200 if ok else 403)
    assert LightningSyncSetup.load().event_category == "Salesforce"
    # An Apply needs a reviewed upload in the session; give every persona the same one.
    text = json.dumps(document)
    session = client.session
    session["lightningsync_config_upload"] = {
        "text": text,
        "prune": False,
        "plan": configfile.import_text(text, user=None, dry_run=True).as_dict(),
        "token": "t",
    }
    session.save()
    response = client.post(url, {"apply": "Apply", "token": "t"})
    assert response.status_code == (302 if ok else 403)
    assert LightningSyncSetup.load().event_category == ("CRM" if ok else "Salesforce")


def test_it_lets_nobody_add_change_or_delete_audit_entries(client, persona):
    entry = SetupAuditTrail.objects.create(actor="x", section="s", action="a")
    client.force_login(persona("admin"))
    assert client.get(reverse("admin:lightningsync_setupaudittrail_add")).status_code == 403
    delete = reverse("admin:lightningsync_setupaudittrail_delete", args=[entry.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    change = reverse("admin:lightningsync_setupaudittrail_change", args=[entry.pk])
    assert client.get(change).status_code == 200  # read-only view
    assert client.post(change, {"actor": "forged"}).status_code == 403
    assert SetupAuditTrail.objects.get(pk=entry.pk).actor == "x"


def test_it_lets_setup_readers_view_but_not_change_crm_records(client, persona):
    from tests.factories import ContactFactory

    contact = ContactFactory()
    client.force_login(persona("viewer"))
    change = reverse("admin:lightningsync_contact_change", args=[contact.pk])
    assert client.get(change).status_code == 200
    assert client.post(change, {"last_name": "Forged"}).status_code == 403
    assert client.get(reverse("admin:lightningsync_contact_add")).status_code == 403


@pytest.mark.parametrize(("persona_name", "ok"), allowed("admin", "config_manager"))
def test_it_lets_only_user_managers_reset_sync(client, persona, persona_name, ok):
    from lightningsync.models import UserSyncState
    from tests.factories import UserFactory

    target = UserFactory(first_name="Target", email="target@example.com")
    client.force_login(persona(persona_name))
    url = reverse("admin:lightningsync_reset", args=[target.pk])
    assert client.get(url).status_code == (200 if ok else 403)
    assert client.post(url).status_code == (302 if ok else 403)
    marked = UserSyncState.objects.filter(user=target, reset_state="marked").exists()
    assert marked == ok
    page = client.get(reverse("admin:lightningsync_status"), {"q": "target"})
    if page.status_code == 200:
        assert (f'id="reset-sync-{target.pk}"' in page.content.decode()) == ok


@pytest.mark.parametrize(("persona_name", "ok"), allowed("admin"))
def test_it_lets_only_report_users_who_manage_users_retry_errors(client, persona, persona_name,
                                                                  ok):
    from django.utils import timezone

    from lightningsync.models import LightningSyncError, UserSyncState
    from tests.factories import UserFactory

    rep = UserFactory()
    now = timezone.now()
    UserSyncState.objects.create(user=rep, paused_reason="authentication", paused_at=now)
    error = LightningSyncError.objects.create(
        user=rep, direction="both", kind="authentication", message="refused",
        first_occurred_at=now, last_occurred_at=now, fingerprint="f")
    client.force_login(persona(persona_name))
    url = reverse("admin:lightningsync_lightningsyncerror_changelist")
    client.post(url, {"action": "retry", "_selected_action": [error.pk]})
    assert UserSyncState.objects.get(user=rep).paused_reason == ("" if ok else "authentication")
