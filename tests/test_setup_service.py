"""lightningsync.setupservice: the rules, the all-or-nothing save and the audit trail."""

from __future__ import annotations

import pytest
import trustme
from cryptography.fernet import Fernet
from django.core.exceptions import ValidationError
from django.utils import timezone

from lightningsync import setupservice
from lightningsync.configrules import OAUTH_NEEDS_VERIFICATION
from lightningsync.models import LightningSyncSetup, SetupAuditTrail
from lightningsync.setupservice import apply_setup, export_setup

pytestmark = pytest.mark.django_db

USERNAME_ERROR = "is not a service account user name. Use user@domain.tld or domain.tld\\user."
CLIENT_ID = "11111111-2222-3333-4444-555555555555"
TENANT_ID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"


def errors_of(section, **kwargs):
    with pytest.raises(ValidationError) as info:
        apply_setup(section, user=None, via="test", **kwargs)
    return info.value.message_dict


def service_account(**values):
    return {"service_account": values}


def working_service_account() -> dict:
    return {
        "enabled": True,
        "connection_method": "service_account",
        "service_account": {
            "username": "svc@example.com",
            "ews_url": "https://mail.example.com/EWS/Exchange.asmx",
        },
    }


def test_it_exports_exactly_the_setup_section_of_format_1():
    apply_setup(
        {
            **working_service_account(),
            "service_account": {
                "username": "svc@example.com",
                "ews_url": "https://mail.example.com/EWS/Exchange.asmx",
                "additional_domains": ["example.net"],
                "ca_bundle": trustme.CA().cert_pem.bytes().decode(),
            },
        },
        user=None,
        via="test",
        secrets={"service_account_password": "Sup3r-secret"},
    )
    assert export_setup(LightningSyncSetup.load()) == {
        "enabled": True,
        "connection_method": "service_account",
        "service_account": {
            "username": "svc@example.com",
            "ews_url": "https://mail.example.com/EWS/Exchange.asmx",
            "autodiscover": False,
            "auth": "basic",
            "additional_domains": ["example.net"],
        },
        "oauth2": {
            "tenant_id": "",
            "client_id": "",
            "graph_url": "https://graph.microsoft.com",
            "authority_url": "https://login.microsoftonline.com",
        },
        "event_selection": {"enabled": False, "category": "Salesforce"},
    }


def test_it_round_trips_an_export():
    apply_setup(
        {"service_account": {"username": "example.com\\svc", "auth": "ntlm"}},
        user=None,
        via="test",
    )
    exported = export_setup(LightningSyncSetup.load())
    apply_setup(exported, user=None, via="test")
    assert export_setup(LightningSyncSetup.load()) == exported


@pytest.mark.parametrize("value", ["svc", "svc@", "example.com/svc", "a\\b\\c", "svc@@x.com"])
def test_it_refuses_a_username_in_neither_form_naming_both(value):
    assert errors_of(service_account(username=value)) == {
        "service_account.username": [f"“{value}” {USERNAME_ERROR}"]
    }


@pytest.mark.parametrize("value", ["svc@example.com", "example.com\\svc", "CORP\\svc"])
def test_it_accepts_both_username_forms(value):
    setup = apply_setup(service_account(username=value), user=None, via="test")
    assert setup.service_account_username == value


def test_it_normalizes_additional_domains():
    setup = apply_setup(
        service_account(additional_domains="Example.NET, example.net,b.example.org."),
        user=None,
        via="test",
    )
    assert setup.additional_domain_list == ["example.net", "b.example.org"]


def test_it_names_every_bad_domain():
    assert errors_of(service_account(additional_domains="good.com, bad_one, -x.com")) == {
        "service_account.additional_domains": [
            "Not a domain name: “bad_one”, “-x.com”. Enter domains such as example.com, "
            "separated by commas."
        ]
    }


def test_it_refuses_a_ca_bundle_that_is_not_pem():
    assert errors_of(service_account(ca_bundle="not a certificate")) == {
        "service_account.ca_bundle": [
            "The trusted CA bundle is not valid PEM: paste one or more "
            "“-----BEGIN CERTIFICATE-----” blocks."
        ]
    }


def test_it_refuses_an_ews_url_that_is_not_a_url():
    assert errors_of(service_account(ews_url="mail.example.com/EWS")) == {
        "service_account.ews_url": [
            "“mail.example.com/EWS” is not a valid EWS URL: enter an https:// address such as "
            "https://mail.example.com/EWS/Exchange.asmx."
        ]
    }


def test_it_refuses_a_graph_url_without_https():
    assert errors_of({"oauth2": {"graph_url": "http://graph.example"}}) == {
        "oauth2.graph_url": [
            "“http://graph.example” uses http://: the Graph base URL must be an https:// address "
            "(http:// is allowed only for hosts listed in LIGHTNINGSYNC_ALLOW_HTTP_HOSTS)."
        ]
    }


def test_it_restores_the_default_graph_and_authority_urls_when_emptied():
    apply_setup(
        {
            "oauth2": {
                "graph_url": "https://graph.example",
                "authority_url": "https://login.example/",
            }
        },
        user=None,
        via="test",
    )
    setup = LightningSyncSetup.load()
    assert (setup.graph_url, setup.authority_url) == (
        "https://graph.example",
        "https://login.example",
    )
    setup = apply_setup({"oauth2": {"graph_url": "", "authority_url": ""}}, user=None, via="test")
    assert (setup.graph_url, setup.authority_url) == (
        "https://graph.microsoft.com",
        "https://login.microsoftonline.com",
    )


def test_it_refuses_a_malformed_tenant_and_client_id():
    assert errors_of({"oauth2": {"tenant_id": "not a tenant", "client_id": "abc"}}) == {
        "oauth2.tenant_id": [
            "“not a tenant” is not a tenant ID: enter the directory (tenant) ID, a GUID such as "
            "00000000-0000-0000-0000-000000000000, or the tenant's domain such as "
            "contoso.onmicrosoft.com."
        ],
        "oauth2.client_id": [
            "“abc” is not an application (client) ID: enter the GUID shown on the app "
            "registration's Overview page, such as 00000000-0000-0000-0000-000000000000."
        ],
    }


def test_it_accepts_a_tenant_domain():
    setup = apply_setup({"oauth2": {"tenant_id": "Contoso.onmicrosoft.com"}}, user=None, via="t")
    assert setup.oauth_tenant_id == "contoso.onmicrosoft.com"


@pytest.mark.parametrize(
    ("category", "message"),
    [
        ("  ", "Enter the Outlook category reps use to select events."),
        ("a,b", "A category name has at most 255 characters and no commas or semicolons."),
    ],
)
def test_it_refuses_a_bad_event_category(category, message):
    assert errors_of({"event_selection": {"category": category}}) == {
        "event_selection.category": [message]
    }


def test_it_refuses_unknown_settings_and_wrong_types():
    errors = errors_of(
        {"enabled": "yes", "colour": "blue", "service_account": {"auth": "kerberos"}, "oauth2": 3}
    )
    assert errors["enabled"] == ["Use true or false."]
    assert errors["colour"][0].startswith("Unknown setting. Known settings: enabled, ")
    assert errors["service_account.auth"] == ["“kerberos” is not one of: basic, ntlm."]
    assert errors["oauth2"] == ["Use an object of settings here."]


def test_it_refuses_enabling_without_a_complete_service_account():
    assert errors_of({"enabled": True}) == {
        "service_account.username": ["Enter the service account user name to enable sync."],
        "service_account.password": ["Enter the service account password to enable sync."],
        "service_account.ews_url": ["Enter the EWS URL or choose Autodiscover to enable sync."],
    }


def test_it_refuses_an_ews_url_together_with_autodiscover():
    errors = errors_of(
        service_account(ews_url="https://mail.example.com/EWS/Exchange.asmx", autodiscover=True)
    )
    assert errors == {
        "service_account.ews_url": ["Give an EWS URL or choose Autodiscover, not both."]
    }


def test_it_refuses_autodiscover_with_a_down_level_name():
    errors = errors_of(service_account(username="example.com\\svc", autodiscover=True))
    assert errors == {
        "service_account.autodiscover": [
            "Autodiscover finds the server from the service account's email domain; "
            "with a domain\\user name, enter the EWS URL instead."
        ]
    }


def test_it_enables_a_complete_service_account():
    setup = apply_setup(
        working_service_account(),
        user=None,
        via="test",
        secrets={"service_account_password": "Sup3r-secret"},
    )
    assert setup.enabled
    assert LightningSyncSetup.load().service_account_password() == "Sup3r-secret"


def test_it_enables_oauth_only_after_verification():
    errors = errors_of(
        {
            "enabled": True,
            "connection_method": "oauth2",
            "oauth2": {"tenant_id": TENANT_ID, "client_id": CLIENT_ID},
        },
        secrets={"oauth_client_secret": "app-secret"},
    )
    assert errors == {"enabled": [OAUTH_NEEDS_VERIFICATION]}
    assert "“Verify and enable”" in OAUTH_NEEDS_VERIFICATION
    assert not LightningSyncSetup.load().enabled


def test_it_names_every_missing_oauth_setting():
    errors = errors_of({"enabled": True, "connection_method": "oauth2"})
    assert errors["oauth2.tenant_id"] == ["Enter the tenant ID to enable sync."]
    assert errors["oauth2.client_id"] == ["Enter the application (client) ID to enable sync."]
    assert errors["oauth2.client_secret"] == [
        "Enter a client secret or certificate to enable sync."
    ]


def test_it_enables_oauth_once_a_token_was_acquired():
    LightningSyncSetup.objects.update_or_create(
        id=1, defaults={"oauth_token_acquired_at": timezone.now()}
    )
    apply_setup(
        {"oauth2": {"tenant_id": TENANT_ID, "client_id": CLIENT_ID}},
        user=None,
        via="test",
        secrets={"oauth_client_secret": "app-secret"},
    )
    # The identity changed, so the earlier token no longer counts.
    assert LightningSyncSetup.load().oauth_token_acquired_at is None
    LightningSyncSetup.objects.update(oauth_token_acquired_at=timezone.now())
    setup = apply_setup({"enabled": True, "connection_method": "oauth2"}, user=None, via="t")
    assert setup.enabled and setup.connection_method == "oauth2"


def test_it_writes_nothing_when_anything_is_invalid():
    apply_setup(service_account(username="svc@example.com"), user=None, via="test")
    audit_before = SetupAuditTrail.objects.count()
    errors_of(
        {"service_account": {"username": "other@example.com", "additional_domains": "bad_one"}},
        secrets={"service_account_password": "new-password"},
    )
    setup = LightningSyncSetup.load()
    assert setup.service_account_username == "svc@example.com"
    assert not setup.has_service_account_password
    assert SetupAuditTrail.objects.count() == audit_before


def test_it_creates_no_row_when_the_first_change_is_invalid():
    errors_of(service_account(username="nope"))
    assert not LightningSyncSetup.objects.exists()


def test_it_keeps_settings_missing_from_a_partial_section():
    apply_setup(
        {"service_account": {"username": "svc@example.com", "auth": "ntlm"}},
        user=None,
        via="test",
    )
    setup = apply_setup({"event_selection": {"enabled": True}}, user=None, via="test")
    assert (setup.service_account_username, setup.auth_type) == ("svc@example.com", "ntlm")
    assert setup.event_selection_enabled


def test_it_records_one_audit_entry_per_changed_setting(persona):
    admin = persona("admin")
    apply_setup(
        {"service_account": {"username": "svc@example.com", "auth": "basic"}},
        user=admin,
        via="Setup page",
    )
    entries = list(
        SetupAuditTrail.objects.values_list(
            "actor", "section", "action", "field", "old_value", "new_value"
        )
    )
    assert entries == [
        (
            admin.email,
            "Lightning Sync Setup",
            "Changed Service account user name (Setup page)",
            "Service account user name",
            "",
            "svc@example.com",
        )
    ]


def test_it_records_secrets_as_changed_never_their_value():
    apply_setup(
        {},
        user=None,
        via="command line",
        secrets={"service_account_password": "Pl41n-Passw0rd", "oauth_client_secret": "S3cr3t!"},
    )
    entries = SetupAuditTrail.objects.order_by("field")
    assert [(e.actor, e.field, e.old_value, e.new_value) for e in entries] == [
        ("command line", "Client secret", "", "changed"),
        ("command line", "Service account password", "", "changed"),
    ]
    for entry in SetupAuditTrail.objects.all():
        text = " ".join([entry.action, entry.field, entry.old_value, entry.new_value])
        assert "Pl41n-Passw0rd" not in text and "S3cr3t!" not in text


def test_it_replaces_a_stored_secret_the_keys_cannot_decrypt():
    stranger = Fernet(Fernet.generate_key()).encrypt(b"from another install").decode()
    LightningSyncSetup.load()
    LightningSyncSetup.objects.update(service_account_password_encrypted=stranger)
    apply_setup({}, user=None, via="t", secrets={"service_account_password": "new-pw"})
    assert LightningSyncSetup.load().service_account_password() == "new-pw"
    assert SetupAuditTrail.objects.filter(field="Service account password").count() == 1


def test_it_clears_a_secret():
    apply_setup({}, user=None, via="t", secrets={"service_account_password": "pw"})
    setup = apply_setup({}, user=None, via="t", clear=["service_account_password"])
    assert not setup.has_service_account_password
    assert SetupAuditTrail.objects.filter(field="Service account password").count() == 2


def test_it_refuses_a_secret_both_given_and_cleared():
    assert errors_of(
        {}, secrets={"service_account_password": "pw"}, clear=["service_account_password"]
    ) == {
        "service_account.password": ["Enter a new service account password or clear it, not both."]
    }


def test_it_refuses_an_empty_secret():
    assert errors_of({}, secrets={"oauth_client_secret": "  "}) == {
        "oauth2.client_secret": ["The client secret is empty; enter it, or clear it on purpose."]
    }


def test_it_stores_a_client_certificate_with_its_key():
    cert = trustme.CA().issue_cert("lightning-sync.example")
    pem = cert.private_key_and_cert_chain_pem.bytes().decode()
    setup = apply_setup({}, user=None, via="t", secrets={"oauth_certificate": pem})
    assert setup.has_oauth_credential
    assert "PRIVATE KEY" in LightningSyncSetup.load().oauth_certificate()


def test_it_refuses_a_certificate_without_its_private_key():
    cert = trustme.CA().issue_cert("lightning-sync.example")
    only_cert = cert.cert_chain_pems[0].bytes().decode()
    assert errors_of({}, secrets={"oauth_certificate": only_cert}) == {
        "oauth2.certificate": [
            "The client certificate must be PEM text holding an unencrypted private key "
            "block: paste the certificate and its private key (without a passphrase)."
        ]
    }


def test_it_builds_the_admin_consent_url():
    setup = LightningSyncSetup.load()
    assert setupservice.admin_consent_url(setup) == ""
    setup.oauth_tenant_id, setup.oauth_client_id = TENANT_ID, CLIENT_ID
    url = setupservice.admin_consent_url(setup, "https://sync.example/admin/setup/lightning-sync/")
    assert url == (
        f"https://login.microsoftonline.com/{TENANT_ID}/v2.0/adminconsent?client_id={CLIENT_ID}"
        "&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"
        "&redirect_uri=https%3A%2F%2Fsync.example%2Fadmin%2Fsetup%2Flightning-sync%2F"
    )


def test_it_makes_a_new_org_id_and_audits_it():
    before = LightningSyncSetup.load().org_id
    old, new = setupservice.new_org_id(user=None, via="command line")
    assert old == before and new != old
    assert LightningSyncSetup.load().org_id == new
    entry = SetupAuditTrail.objects.get(field="Org ID")
    assert (entry.old_value, entry.new_value) == (str(old), str(new))


def test_a_new_connection_method_marks_every_user_who_synced_for_reset(
    django_capture_on_commit_callbacks,
):
    from lightningsync.models import UserSyncState
    from tests.factories import UserFactory

    synced = UserSyncState.objects.create(user=UserFactory(username="synced"))
    with django_capture_on_commit_callbacks(execute=True):
        apply_setup({"event_selection": {"category": "CRM"}}, user=None, via="test")
    synced.refresh_from_db()
    assert synced.reset_state == ""  # another setting: nothing to match again
    with django_capture_on_commit_callbacks(execute=True):
        apply_setup({"connection_method": "oauth2"}, user=None, via="test")
    synced.refresh_from_db()
    assert synced.reset_state == UserSyncState.ResetState.MARKED
    assert synced.reset_requested_at is not None
