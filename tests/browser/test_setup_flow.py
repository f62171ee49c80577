"""An admin's first session, in a real browser: Quick Find → Setup → enable → a configuration."""

from __future__ import annotations

from playwright.sync_api import expect

from lightningsync.models import LightningSyncSetup, SyncConfiguration
from tests.factories import ProfileFactory, UserFactory


def _open_through_quick_find(page, name: str) -> None:  # type: ignore[no-untyped-def]
    """Type in Quick Find, atop the Setup tree of every page."""
    page.fill("#quick-find", name)
    # Quick Find hides every Setup entry whose name doesn't match, and opens its group.
    visible = [t.strip() for t in page.locator("#setup-tree a:visible").all_inner_texts()]
    assert visible == [name]
    page.locator("#setup-tree a:visible", has_text=name).click()


def test_it_enables_lightning_sync_and_creates_a_configuration(signed_in_page):  # type: ignore[no-untyped-def]
    page = signed_in_page
    alice = UserFactory(email="alice@example.com", first_name="Alice", last_name="Ames")
    sales = ProfileFactory(name="Sales")

    # Lightning Sync Setup, found through Quick Find, enabled with a service account.
    _open_through_quick_find(page, "Lightning Sync Setup")
    page.wait_for_url("**/setup/lightning-sync/")
    page.check("#id_enabled")
    page.check("input[name=connection_method][value=service_account]")
    page.fill("#id_service_account_username", "svc-sync")
    page.fill("#id_service_account_password", "S3rvice-pass!")
    page.fill("#id_ews_url", "https://mail.example.com/EWS/Exchange.asmx")
    page.click("input[name=_save]")
    # A user name in neither accepted form is refused, naming both forms; nothing is saved.
    error = page.locator(".errorlist").first.inner_text()
    assert "user@domain.tld" in error and "domain.tld\\user" in error
    assert not LightningSyncSetup.load().enabled

    page.fill("#id_service_account_username", "svc-sync@example.com")
    page.fill("#id_service_account_password", "S3rvice-pass!")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist")
    setup = LightningSyncSetup.load()
    assert setup.enabled and setup.service_account_username == "svc-sync@example.com"
    assert setup.service_account_password() == "S3rvice-pass!"
    assert "S3rvice-pass!" not in page.content()

    # Sync Configurations, found through Quick Find: a new configuration.
    _open_through_quick_find(page, "Sync Configurations")
    page.click("text=New Lightning Sync Configuration")
    page.fill("#id_name", "West reps")
    alice_label = page.locator("#id_users_from option", has_text="alice@example.com").inner_text()
    page.select_option("#id_users_from", label=alice_label)
    page.click("#id_users_add")
    page.select_option("#id_profiles_from", label="Sales")
    page.click("#id_profiles_add")
    page.check("input[name=contacts_direction][value=both]")
    # The refused combination: Selected contacts without User's records.
    page.check("input[name=contact_scope][value=selected]")
    page.uncheck("#id_users_records")
    row = page.locator(".ls-filters tbody tr.ls-filter-row").first
    row.locator("select[aria-label=Field]").select_option("mailing_state")
    row.locator("select[aria-label=Operator]").select_option("equals")
    row.locator("input[aria-label=Value]").fill("CA")
    page.check("input[name=date_filter][value=LAST_N_DAYS]")
    page.fill("#id_date_filter_days", "181")
    page.click("input[name=_save]")

    # Both errors are shown next to their fields (sections holding an error open by themselves).
    ownership_error = page.locator("#id_users_records_error")
    expect(ownership_error).to_be_visible()
    expect(ownership_error).to_contain_text("without it no contact would sync")
    days_error = page.locator("#id_date_filter_days_error")
    expect(days_error).to_be_visible()
    expect(days_error).to_have_text("LAST 181 DAYS is out of range: choose from 1 to 180 days.")
    assert not SyncConfiguration.objects.exists()

    # Fix both; the configuration saves with its users, profiles and filter.
    page.check("#id_users_records")
    page.fill("#id_date_filter_days", "30")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist")
    config = SyncConfiguration.objects.get(name="West reps")
    assert list(config.users.all()) == [alice]
    assert list(config.profiles.all()) == [sales]
    assert config.contacts_ownership == "users_records"
    assert config.event_date_filter == "LAST_N_DAYS:30"
    assert [(f.field, f.operator, f.value) for f in config.contact_filters.all()] == [
        ("mailing_state", "equals", "CA")
    ]
