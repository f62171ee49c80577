"""OAuth 2.0 in a real browser (SPEC §2): the admin chooses OAuth, types the app registration,
a wrong secret is refused by Microsoft (the simulated tenant, over TLS, through the real msal)
with what to fix and the rest kept; the right one verifies and switches OAuth on."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from exchangesim.pytest_plugin import GRAPH_CLIENT_ID, GRAPH_CLIENT_SECRET, GRAPH_TENANT
from lightningsync.models import LightningSyncSetup
from tests.factories import SyncConfigurationFactory, UserFactory


def test_verify_and_enable_in_the_browser(signed_in_page, exchange_sim_graph):  # type: ignore[no-untyped-def]
    page = signed_in_page
    exchange_sim_graph.sim.add_mailbox("rep@example.com")
    SyncConfigurationFactory(users=[UserFactory(username="rep", email="rep@example.com")])
    page.goto("/admin/setup/lightning-sync/")
    page.check("input[name=connection_method][value=oauth2]")
    expect(page.locator("#section-oauth")).to_be_visible()
    expect(page.locator("#section-exchange")).to_be_hidden()
    expect(page.locator("#rbac-commands")).to_contain_text("Test-ServicePrincipalAuthorization")
    page.fill("#id_oauth_tenant_id", GRAPH_TENANT)
    page.fill("#id_oauth_client_id", GRAPH_CLIENT_ID)
    page.fill("#id_oauth_client_secret", "Wrong~Secret")
    page.fill("#id_graph_url", exchange_sim_graph.base_url)
    page.fill("#id_authority_url", exchange_sim_graph.base_url)
    page.fill("#id_ca_bundle", Path(exchange_sim_graph.ca_pem).read_text())
    page.click("#verify-oauth")

    message = page.locator(".messagelist").inner_text()
    assert "OAuth 2.0 was not enabled: The client secret was refused" in message
    assert "Wrong~Secret" not in page.content()
    setup = LightningSyncSetup.load()
    assert not setup.enabled and setup.oauth_tenant_id == GRAPH_TENANT
    # What was typed is there again (saved), the secret only as "set".
    page.check("input[name=connection_method][value=oauth2]")
    expect(page.locator("#id_oauth_tenant_id")).to_have_value(GRAPH_TENANT)
    expect(page.locator("#status-oauth_client_secret")).to_have_text("set")

    page.fill("#id_oauth_client_secret", GRAPH_CLIENT_SECRET)
    page.click("#verify-oauth")
    expect(page.locator(".messagelist")).to_contain_text(
        "OAuth 2.0 is enabled: Lightning Sync got a token from Microsoft and read the mailbox "
        "rep@example.com.")
    setup = LightningSyncSetup.load()
    assert setup.enabled and setup.connection_method == "oauth2"
    expect(page.locator("#oauth-state")).to_contain_text("OAuth 2.0 is on: verified")
    assert GRAPH_CLIENT_SECRET not in page.content()
