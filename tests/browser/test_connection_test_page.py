"""The connection test in a real browser: from the Setup page, a rep's email → Test, and the
result page lists every step; one success, then one failure with its suggestion."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.engine.ews_fixtures import point_setup_at

REP = "rep@example.com"


def test_it_runs_the_connection_test_and_shows_its_steps(signed_in_page, exchange_sim):  # type: ignore[no-untyped-def]
    page = signed_in_page
    exchange_sim.sim.add_mailbox(REP)
    exchange_sim.sim.create_folder(REP, "Salesforce_Sync", "contacts", "IPF.Contact")
    point_setup_at(exchange_sim)

    page.goto("/admin/setup/lightning-sync/")
    section = page.locator("#section-connection-test")
    section.locator("input[name=email]").fill(REP)
    section.locator("#run-connection-test").click()
    page.wait_for_url("**/connection-test/*/")
    expect(page.locator("#test-summary")).to_have_text("Connection test successful")
    rows = page.locator("#connection-test-steps tbody tr")
    expect(rows).to_have_count(12)
    assert set(page.locator("#connection-test-steps tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.status)")) == {"pass"}
    expect(page.locator("tr[data-step=version] td").first).to_have_text("✓ Passed")
    expect(page.locator("tr[data-step=version]")).to_contain_text("Exchange 2016")

    # The same rep after the service account lost its impersonation right.
    exchange_sim.sim.set_scope(exchange_sim.username, [])
    page.locator("#section-connection-test input[name=email]").fill(REP)
    page.locator("#run-connection-test").click()
    expect(page.locator("#test-summary")).to_have_text("Connection test failed")
    failed = page.locator("tr[data-step=impersonation]")
    expect(failed).to_have_attribute("data-status", "fail")
    expect(failed.locator(".ls-step__status")).to_have_text("✗ Failed")
    expect(failed).to_contain_text("may not impersonate rep@example.com")
    expect(failed.locator(".ls-step__suggestion")).to_contain_text("ApplicationImpersonation")
    expect(page.locator("tr[data-step=calendar] .ls-step__status")).to_have_text("Not tested")
