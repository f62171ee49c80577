"""Operating Lightning Sync in a real browser: find a user on Lightning Sync Status, Check
Status, Reset Sync and confirm; filter the error report and export it. The rep's mailbox is
exchangesim, synced through the real exchangelib."""

from __future__ import annotations

import csv
import io

from playwright.sync_api import expect

from lightningsync.models import LightningSyncError, UserSyncState
from tests.engine.ews_fixtures import EwsWorld, crm_contact, ews_fixture  # noqa: F401


def _open_through_quick_find(page, name: str) -> None:  # type: ignore[no-untyped-def]
    page.fill("#quick-find", name)
    page.locator("#setup-tree a:visible", has_text=name).first.click()


def test_find_a_user_check_status_and_reset_sync(signed_in_page, ews: EwsWorld) -> None:
    page = signed_in_page
    crm_contact(ews.rep, last_name="Crm")  # pushed by a cycle once saved (the initial sync)
    assert ews.sync().outcome == "synced"  # a second cycle

    _open_through_quick_find(page, "Lightning Sync Status")
    page.wait_for_url("**/setup/lightning-sync-status/")
    expect(page.locator("#system-statuses")).to_be_visible()
    expect(page.locator("#status-chart")).to_be_visible()
    page.fill("#find-user-q", "rita")
    page.click("#find-user-form input[type=submit]")
    expect(page.locator("#found-users")).to_contain_text("rep@example.com")
    page.click(f"#check-status-{ews.rep.pk}")
    expect(page.locator("#checked-user")).to_have_text(
        "Sync status of Rita Rep (rep@example.com)")
    expect(page.locator("#user-row-contact_crm_to_exchange .ls-status__value")).to_have_text(
        "In sync")
    expect(page.locator("#user-row-contact_in_sync .ls-status__value")).to_have_text("1")

    page.click("#reset-sync-checked")
    expect(page.locator(".ls-confirm__question")).to_have_text(
        "Reset sync for Rita Rep (rep@example.com)?")
    assert UserSyncState.objects.get(user=ews.rep).reset_state == ""
    page.click("#confirm-reset")
    expect(page.locator(".messagelist")).to_contain_text("Sync was reset for Rita Rep")
    # The reset ran as a task (inline in tests): links rebuilt, no duplicate in Exchange.
    expect(page.locator("#user-row-reset")).to_have_count(0)
    expect(page.locator("#user-row-contact_crm_to_exchange .ls-status__value")).to_have_text(
        "Initial sync completed")
    expect(page.locator("#user-row-contact_in_sync .ls-status__value")).to_have_text("1")
    assert UserSyncState.objects.get(user=ews.rep).reset_state == ""
    assert [i["Surname"] for i in ews.items()] == ["Crm"]


def test_filter_the_error_report_and_export_it(signed_in_page, ews: EwsWorld) -> None:
    page = signed_in_page
    ews.sync()
    ews.outlook.create({"Surname": "Worker", "CompanyName": "Nowhere Ltd"})
    ews.outlook.create({"Surname": "Other", "CompanyName": "Elsewhere Inc"})
    ews.sync()
    assert LightningSyncError.objects.count() == 2

    _open_through_quick_find(page, "Lightning Sync Errors")
    expect(page.locator("#grand-totals")).to_have_text("Grand Totals (2 records)")
    page.locator("details.ls-filter summary", has_text="Kind").click()
    page.locator("details.ls-filter[open] a", has_text="Unresolved account").click()
    expect(page.locator("#grand-totals")).to_have_text("Grand Totals (2 records)")
    page.fill("#searchbar", "Elsewhere")
    page.press("#searchbar", "Enter")
    expect(page.locator("#grand-totals")).to_have_text("Grand Totals (1 record)")
    with page.expect_download() as download:
        page.click("#export-csv")
    body = download.value.path().read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [(r["User"], r["Kind"]) for r in rows] == [("rep@example.com", "Unresolved account")]
    assert "Elsewhere Inc" in rows[0]["Message"]
