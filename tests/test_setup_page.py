"""The Lightning Sync Setup page: editing, read-only viewing, secrets, OAuth access."""

from __future__ import annotations

import html

import pytest
from django.urls import reverse

from lightningsync.configrules import OAUTH_NEEDS_VERIFICATION
from lightningsync.models import LightningSyncSetup, SetupAuditTrail
from lightningsync.setupservice import apply_setup

pytestmark = pytest.mark.django_db

URL = reverse("admin:lightningsync_setup")
PASSWORD = "Pl41n-Service-Passw0rd"
TENANT_ID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
CLIENT_ID = "11111111-2222-3333-4444-555555555555"


def form_data(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "connection_method": "service_account",
        "service_account_username": "",
        "service_account_password": "",
        "ews_url": "",
        "auth_type": "basic",
        "ca_bundle": "",
        "additional_domains": "",
        "oauth_tenant_id": "",
        "oauth_client_id": "",
        "oauth_client_secret": "",
        "oauth_certificate": "",
        "graph_url": "https://graph.microsoft.com",
        "authority_url": "https://login.microsoftonline.com",
        "event_category": "Salesforce",
    }
    for key, value in overrides.items():
        if value is False:
            data.pop(key, None)
        else:
            data[key] = "on" if value is True else value
    return data


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def test_it_shows_every_setting_grouped_like_setup(admin_client):
    response = admin_client.get(URL)
    assert response.status_code == 200
    text = page_text(response)
    for heading in (
        "Enable Lightning Sync",
        "Connection method",
        "Exchange service account",
        "OAuth 2.0 for Exchange Online",
        "What the Exchange Online admin does first",
        "Trusted certificate authorities",
        "Event selection (Lightning for Outlook)",
        "Org ID",
        "Configuration file",
    ):
        assert heading in text, heading
    for name in (
        "enabled",
        "connection_method",
        "service_account_username",
        "service_account_password",
        "ews_url",
        "autodiscover",
        "auth_type",
        "ca_bundle",
        "additional_domains",
        "oauth_tenant_id",
        "oauth_client_id",
        "oauth_client_secret",
        "oauth_certificate",
        "graph_url",
        "authority_url",
        "event_selection_enabled",
        "event_category",
    ):
        assert f'name="{name}"' in text, name
    assert str(LightningSyncSetup.load().org_id) in text
    assert "svcacct@example.com or example.com\\svcacct" in text  # help text per setting


def test_it_saves_and_audits_as_the_signed_in_admin(admin_client, admin_user):
    response = admin_client.post(
        URL,
        form_data(
            service_account_username="svc@example.com",
            service_account_password=PASSWORD,
            ews_url="https://mail.example.com/EWS/Exchange.asmx",
            additional_domains="Example.net",
            enabled=True,
        ),
    )
    assert response.status_code == 302 and response["Location"] == URL
    setup = LightningSyncSetup.load()
    assert setup.enabled
    assert setup.service_account_password() == PASSWORD
    assert setup.additional_domain_list == ["example.net"]
    entry = SetupAuditTrail.objects.get(field="Service account user name")
    assert entry.user == admin_user
    assert entry.action == "Changed Service account user name (Setup page)"


def test_it_shows_each_problem_next_to_its_field_and_saves_nothing(admin_client):
    response = admin_client.post(
        URL,
        form_data(
            service_account_username="svc",
            additional_domains="ok.com, bad_one",
            service_account_password=PASSWORD,
            enabled=True,
        ),
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors["service_account_username"] == [
        "“svc” is not a service account user name. Use user@domain.tld or domain.tld\\user."
    ]
    assert form.errors["additional_domains"] == [
        "Not a domain name: “bad_one”. Enter domains such as example.com, separated by commas."
    ]
    assert form.errors["ews_url"] == ["Enter the EWS URL or choose Autodiscover to enable sync."]
    assert not LightningSyncSetup.load().enabled
    assert not LightningSyncSetup.load().has_service_account_password
    assert not SetupAuditTrail.objects.exists()
    # The typed password is not sent back to the browser.
    assert PASSWORD not in response.content.decode()


@pytest.mark.parametrize("who", ["admin", "viewer"])
def test_it_never_renders_a_secret(client, persona, who):
    apply_setup(
        {},
        user=None,
        via="test",
        secrets={"service_account_password": PASSWORD, "oauth_client_secret": "Cl13nt~S3cret"},
    )
    client.force_login(persona(who))
    text = page_text(client.get(URL))
    assert PASSWORD not in text and "Cl13nt~S3cret" not in text
    assert LightningSyncSetup.load().service_account_password_encrypted not in text


def test_it_says_only_whether_a_secret_is_set(admin_client):
    apply_setup({}, user=None, via="test", secrets={"service_account_password": PASSWORD})
    text = page_text(admin_client.get(URL))
    assert 'id="status-service_account_password">set<' in text
    assert 'id="status-oauth_certificate">not set<' in text


def test_it_keeps_a_secret_when_its_box_is_left_empty(admin_client):
    apply_setup({}, user=None, via="test", secrets={"service_account_password": PASSWORD})
    admin_client.post(URL, form_data(service_account_username="svc@example.com"))
    setup = LightningSyncSetup.load()
    assert setup.service_account_username == "svc@example.com"
    assert setup.service_account_password() == PASSWORD
    assert SetupAuditTrail.objects.filter(field="Service account password").count() == 1


def test_it_clears_a_secret_with_its_checkbox(admin_client):
    apply_setup({}, user=None, via="test", secrets={"service_account_password": PASSWORD})
    response = admin_client.post(URL, form_data(clear_service_account_password=True))
    assert response.status_code == 302
    assert not LightningSyncSetup.load().has_service_account_password
    entry = SetupAuditTrail.objects.filter(field="Service account password").latest("id")
    assert (entry.old_value, entry.new_value) == ("", "changed")


def test_it_refuses_a_secret_typed_and_cleared_at_once(admin_client):
    response = admin_client.post(
        URL,
        form_data(service_account_password="x", clear_service_account_password=True),
    )
    assert response.context["form"].errors["service_account_password"] == [
        "Enter a new service account password or clear it, not both."
    ]


def test_it_shows_a_read_only_page_to_setup_viewers(client, persona):
    apply_setup(
        {"service_account": {"username": "svc@example.com", "additional_domains": "example.net"}},
        user=None,
        via="test",
    )
    client.force_login(persona("viewer"))
    response = client.get(URL)
    assert response.status_code == 200
    text = page_text(response)
    assert 'id="lightningsync-setup-form"' not in text
    assert 'name="service_account_username"' not in text
    assert 'id="value-service_account_username">svc@example.com<' in text
    assert 'id="value-additional_domains">example.net<' in text
    assert 'id="value-service_account_password">Not set<' in text
    assert "Changing them needs the “Customize Application” permission." in text


def test_it_refuses_a_save_from_a_setup_viewer(client, persona):
    client.force_login(persona("viewer"))
    response = client.post(URL, form_data(service_account_username="svc@example.com"))
    assert response.status_code == 403
    assert LightningSyncSetup.load().service_account_username == ""


def test_it_links_the_admin_consent_page_once_the_ids_are_saved(admin_client):
    assert 'id="admin-consent-link"' not in page_text(admin_client.get(URL))
    apply_setup({"oauth2": {"tenant_id": TENANT_ID, "client_id": CLIENT_ID}}, user=None, via="test")
    text = page_text(admin_client.get(URL))
    assert (
        f'href="https://login.microsoftonline.com/{TENANT_ID}/v2.0/adminconsent?'
        f"client_id={CLIENT_ID}&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"
        "&redirect_uri=http%3A%2F%2Ftestserver%2Fadmin%2Fsetup%2Flightning-sync%2F" in text
    )


def test_it_saves_oauth_settings_off_and_refuses_to_enable_them_unverified(admin_client):
    text = page_text(admin_client.get(URL))
    oauth_section = text[text.index('id="section-oauth"') :]
    oauth_section = oauth_section[: oauth_section.index("</fieldset>")]
    assert "OAuth 2.0 is off until “Verify and enable”" in oauth_section
    assert 'name="_verify_oauth"' in oauth_section
    for command in ("New-ManagementScope", "New-ManagementRoleAssignment",
                    '"Application Contacts.ReadWrite"', '"Application Calendars.Read"',
                    "Test-ServicePrincipalAuthorization", "Contacts.ReadWrite",
                    "Calendars.ReadWrite"):
        assert command in oauth_section

    # Its settings are saved (not enabled) ...
    response = admin_client.post(
        URL,
        form_data(
            connection_method="oauth2",
            oauth_tenant_id=TENANT_ID,
            oauth_client_id=CLIENT_ID,
            oauth_client_secret="app-secret",
        ),
    )
    assert response.status_code == 302
    setup = LightningSyncSetup.load()
    assert (setup.oauth_tenant_id, setup.oauth_client_id) == (TENANT_ID, CLIENT_ID)
    assert setup.has_oauth_credential and not setup.enabled
    # ... and switching it on without verification is refused next to "Enable", keeping what
    # was typed but the secret, and saying so.
    response = admin_client.post(
        URL,
        form_data(
            enabled=True,
            connection_method="oauth2",
            oauth_tenant_id=TENANT_ID,
            oauth_client_id=CLIENT_ID,
            oauth_client_secret="typed-again",
        ),
    )
    assert response.context["form"].errors["enabled"] == [OAUTH_NEEDS_VERIFICATION]
    text = page_text(response)
    assert f'value="{TENANT_ID}"' in text and "typed-again" not in text
    assert "Secrets you typed were not kept: enter them again." in text
    assert not LightningSyncSetup.load().enabled


def test_it_reports_the_admin_consent_answer(admin_client):
    granted = page_text(admin_client.get(URL, {"admin_consent": "True", "tenant": TENANT_ID}))
    assert "Admin consent was granted." in granted
    refused = admin_client.get(
        URL, {"error": "access_denied", "error_description": "<b>declined</b>", "tenant": "x"}
    ).content.decode()
    assert "Admin consent was not granted: &lt;b&gt;declined&lt;/b&gt;" in refused
    assert "<b>declined</b>" not in refused


def test_it_enables_the_service_account_end_to_end(admin_client):
    response = admin_client.post(
        URL,
        form_data(
            enabled=True,
            service_account_username="svc@example.com",
            service_account_password=PASSWORD,
            autodiscover=True,
            event_selection_enabled=True,
            event_category="CRM",
            auth_type="ntlm",
        ),
        follow=True,
    )
    assert "Lightning Sync Setup was saved." in page_text(response)
    setup = LightningSyncSetup.load()
    assert (setup.enabled, setup.autodiscover, setup.auth_type) == (True, True, "ntlm")
    assert (setup.event_selection_enabled, setup.event_category) == (True, "CRM")
