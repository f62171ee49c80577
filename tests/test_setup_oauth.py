"""OAuth 2.0 in Setup (SPEC §2): saved, then "Verify and enable" gets a token from exchangesim
over TLS with the real msal and reads a mailbox; only then the method is on. The same from
`manage.py lightningsync_setup`. Refusals say what to fix and keep what was typed."""

from __future__ import annotations

import html
import io
import logging
from pathlib import Path

import pytest
import trustme
from django.contrib.messages import get_messages
from django.core.management import CommandError, call_command
from django.urls import reverse

from exchangesim.pytest_plugin import GRAPH_CLIENT_ID, GRAPH_CLIENT_SECRET, GRAPH_TENANT
from lightningsync.models import LightningSyncSetup, SetupAuditTrail
from tests.factories import SyncConfigurationFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = reverse("admin:lightningsync_setup")
MAILBOX = "rep@example.com"


@pytest.fixture
def graph(exchange_sim_graph):  # type: ignore[no-untyped-def]
    """The simulator with the rep's mailbox, and the rep in a sync configuration."""
    exchange_sim_graph.sim.add_mailbox(MAILBOX)
    rep = UserFactory(username="rep", email=MAILBOX)
    SyncConfigurationFactory(name="Reps", users=[rep])
    return exchange_sim_graph


def ca_text(running) -> str:  # type: ignore[no-untyped-def]
    return Path(running.ca_pem).read_text()


def form_data(running, **overrides: object) -> dict[str, object]:  # type: ignore[no-untyped-def]
    data: dict[str, object] = {
        "connection_method": "service_account",
        "service_account_username": "",
        "service_account_password": "",
        "ews_url": "",
        "auth_type": "basic",
        "ca_bundle": ca_text(running),
        "additional_domains": "",
        "oauth_tenant_id": GRAPH_TENANT,
        "oauth_client_id": GRAPH_CLIENT_ID,
        "oauth_client_secret": GRAPH_CLIENT_SECRET,
        "oauth_certificate": "",
        "graph_url": running.base_url,
        "authority_url": running.base_url,
        "event_category": "Salesforce",
    }
    data.update(overrides)
    return data


def said(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(m) for m in get_messages(response.wsgi_request)]


def verify(client, running, **overrides: object):  # type: ignore[no-untyped-def]
    return client.post(URL, {**form_data(running, **overrides), "_verify_oauth": "1"})


def test_verify_and_enable_gets_a_token_reads_a_mailbox_then_switches_oauth_on(
    admin_client, admin_user, graph
):
    response = verify(admin_client, graph)
    assert response.status_code == 302
    assert said(response) == [
        f"OAuth 2.0 is enabled: Lightning Sync got a token from Microsoft and read the mailbox "
        f"{MAILBOX}. Lightning Sync is on."
    ]
    setup = LightningSyncSetup.load()
    assert setup.enabled and setup.connection_method == "oauth2"
    assert setup.oauth_token_acquired_at is not None
    assert setup.oauth_client_secret() == GRAPH_CLIENT_SECRET
    # The simulator saw the token request and a Graph read of that mailbox.
    assert graph.sim.request_count("graph:listContactFolders", MAILBOX) == 1
    fields = set(SetupAuditTrail.objects.filter(user=admin_user).values_list("field", flat=True))
    assert {"OAuth 2.0 access accepted", "Connection method", "Enable Lightning Sync",
            "Client secret"} <= fields
    page = html.unescape(admin_client.get(URL).content.decode())
    assert "OAuth 2.0 is on: verified" in page and GRAPH_CLIENT_SECRET not in page


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ("secret", "The client secret was refused (AADSTS7000215"),
        ("client", "The tenant has no app registration with this application (client) ID"),
        ("consent", "admin consent is missing"),
        ("scope", f"The mailbox {MAILBOX} is outside the app's scope"),
    ],
)
def test_a_failed_verification_says_what_to_fix_and_keeps_the_saved_settings(
    admin_client, graph, change, words, caplog
):
    overrides: dict[str, object] = {}
    if change == "secret":
        overrides["oauth_client_secret"] = "Wrong~Secret"
    elif change == "client":
        overrides["oauth_client_id"] = "99999999-2222-3333-4444-555555555555"
    elif change == "consent":
        graph.sim.set_app_consent(GRAPH_CLIENT_ID, False)
    else:
        graph.sim.set_app_scope(GRAPH_CLIENT_ID, ["someone.else@example.com"])
    with caplog.at_level(logging.DEBUG):
        response = verify(admin_client, graph, **overrides)
    (message,) = said(response)
    assert message.startswith("OAuth 2.0 was not enabled: ") and words in message
    assert message.endswith("The settings you entered were saved.")
    if change == "consent":
        assert "admin consent link on the Lightning Sync Setup page" in message
    if change == "scope":
        for command in ("New-ManagementScope", "New-ManagementRoleAssignment",
                        "Test-ServicePrincipalAuthorization"):
            assert command in message
    setup = LightningSyncSetup.load()
    assert not setup.enabled and setup.connection_method == "service_account"
    assert setup.oauth_token_acquired_at is None
    assert setup.oauth_tenant_id == GRAPH_TENANT and setup.graph_url == graph.base_url
    assert setup.has_oauth_credential
    for secret in (GRAPH_CLIENT_SECRET, "Wrong~Secret"):
        assert secret not in caplog.text and secret not in message


def test_an_invalid_form_keeps_what_was_typed_but_the_secrets_and_says_so(admin_client, graph):
    response = verify(admin_client, graph, oauth_client_id="not-a-guid")
    assert response.status_code == 200
    text = html.unescape(response.content.decode())
    assert "“not-a-guid” is not an application (client) ID" in text
    assert 'value="not-a-guid"' in text and f'value="{GRAPH_TENANT}"' in text
    assert GRAPH_CLIENT_SECRET not in text
    assert "Secrets you typed were not kept: enter them again." in text
    assert not LightningSyncSetup.load().has_oauth_credential


def test_a_certificate_credential_gets_its_token_through_msal(admin_client, graph):
    ca = trustme.CA(key_type=trustme.KeyType.RSA)
    cert = ca.issue_cert("lightningsync.example.com", key_type=trustme.KeyType.RSA)
    cert_pem = cert.cert_chain_pems[0].bytes().decode()
    pem = cert_pem + cert.private_key_pem.bytes().decode()
    graph.sim.add_app("77777777-2222-3333-4444-555555555555", cert_pem=cert_pem)
    response = verify(
        admin_client, graph, oauth_client_id="77777777-2222-3333-4444-555555555555",
        oauth_client_secret="", oauth_certificate=pem,
    )
    assert said(response)[0].startswith("OAuth 2.0 is enabled")
    setup = LightningSyncSetup.load()
    assert setup.enabled and setup.oauth_certificate() == pem.strip() + "\n"
    assert pem.split("\n")[1] not in admin_client.get(URL).content.decode()


def test_changing_the_tenant_switches_the_verification_off(admin_client, graph):
    verify(admin_client, graph)
    response = admin_client.post(
        URL, form_data(graph, enabled="on", connection_method="oauth2",
                       oauth_tenant_id="fabrikam.onmicrosoft.com", oauth_client_secret=""),
    )
    assert response.status_code == 200
    assert "“Verify and enable”" in " ".join(response.context["form"].errors["enabled"])
    setup = LightningSyncSetup.load()
    assert setup.oauth_tenant_id == GRAPH_TENANT and setup.oauth_token_acquired_at


# -- the command ----------------------------------------------------------------------------
def run(*args: str, stdin: str = "") -> str:
    out = io.StringIO()
    call_command("lightningsync_setup", *args, stdout=out, stdin=io.StringIO(stdin))
    return out.getvalue()


def oauth_flags(running, ca_file: Path) -> list[str]:  # type: ignore[no-untyped-def]
    return [
        "--method", "oauth2", "--tenant-id", GRAPH_TENANT, "--client-id", GRAPH_CLIENT_ID,
        "--graph-url", running.base_url, "--authority-url", running.base_url,
        "--ca-bundle", str(ca_file), "--client-secret-stdin", "--enable",
    ]


def test_the_command_verifies_and_enables_in_one_step(graph, tmp_path, caplog):
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(ca_text(graph))
    with caplog.at_level(logging.DEBUG):
        out = run(*oauth_flags(graph, ca_file), stdin=GRAPH_CLIENT_SECRET)
    assert f"OAuth 2.0 verified: a token was acquired and the mailbox {MAILBOX} was read." in out
    assert GRAPH_CLIENT_SECRET not in out and GRAPH_CLIENT_SECRET not in caplog.text
    setup = LightningSyncSetup.load()
    assert setup.enabled and setup.connection_method == "oauth2"


def test_the_command_fails_with_one_specific_line_and_keeps_the_settings(graph, tmp_path):
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(ca_text(graph))
    graph.sim.set_app_scope(GRAPH_CLIENT_ID, [])
    with pytest.raises(CommandError) as info:
        run(*oauth_flags(graph, ca_file), "--check-mailbox", MAILBOX, stdin=GRAPH_CLIENT_SECRET)
    message = str(info.value)
    assert "\n" not in message and GRAPH_CLIENT_SECRET not in message
    assert message.startswith(
        f"--enable: OAuth 2.0 was not enabled: The mailbox {MAILBOX} is outside the app's scope"
    )
    assert f"Test-ServicePrincipalAuthorization -Identity {GRAPH_CLIENT_ID} -Resource {MAILBOX}" \
        in message
    assert message.endswith("The other settings given were saved.")
    setup = LightningSyncSetup.load()
    assert not setup.enabled and setup.oauth_tenant_id == GRAPH_TENANT
    assert setup.oauth_client_secret() == GRAPH_CLIENT_SECRET
