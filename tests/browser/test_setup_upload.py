"""Uploading a configuration file in a real browser: review the plan, then Apply (SPEC §14)."""

from __future__ import annotations

import json
import os

import pytest
from django.contrib.auth.models import Permission

from lightningsync import permissions as perms
from lightningsync.models import SyncConfiguration
from tests.configdocs import org_state
from tests.factories import StaffUserFactory, SyncConfigurationFactory, UserFactory


@pytest.fixture
def uploader_page(page):  # type: ignore[no-untyped-def]
    """Signed in with exactly what uploading needs, given directly: live-server tests empty
    the database between tests, the permission groups a migration made included."""
    codenames = [p.split(".", 1)[1] for p in (*perms.IMPORT_CONFIGURATION, *perms.READ_SETUP)]
    user = StaffUserFactory(username="uploader")
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    user.set_password("browser-pass-1")
    user.save()
    page.goto("/admin/login/")
    page.fill("#id_username", "uploader")
    page.fill("#id_password", "browser-pass-1")
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")
    return page


def test_it_shows_the_plan_and_applies_it_only_on_apply(uploader_page, tmp_path):  # type: ignore[no-untyped-def]
    page = uploader_page
    alice = UserFactory(email="alice@example.com")
    SyncConfigurationFactory(name="East reps", users=[alice])
    SyncConfigurationFactory(name="Old reps")
    source = tmp_path / "lightningsync-config.json"
    source.write_text(
        json.dumps(
            {
                "version": 1,
                "configurations": [
                    {"name": "East reps", "description": "Reps in the East"},
                    {"name": "West reps", "users": ["alice@example.com"]},
                ],
            }
        )
    )

    page.goto("/admin/setup/lightning-sync/")
    before = org_state()  # opening Setup may create its row; from here on, nothing changes
    page.click("#upload-configuration")
    page.set_input_files("#id_file", str(source))
    page.check("#id_prune")
    page.click("input[type=submit][value='Review changes']")
    page.wait_for_selector("#import-plan")
    rows = {
        row.get_attribute("id"): " ".join(row.locator("td").inner_text().split())
        for row in page.locator("#import-plan tr").all()
    }
    assert rows == {
        "plan-setup": "Not in the file: kept as it is.",
        "plan-created": "“West reps”",
        "plan-updated": "“East reps”: Description, Assigned users",
        "plan-unchanged": "None",
        "plan-deleted": "“Old reps”",
        "plan-kept": "None",
        "plan-moved": "alice@example.com: from “East reps” to “West reps”",
    }
    if os.environ.get("LIGHTNINGSYNC_SCREENSHOTS"):
        page.screenshot(path=os.path.join(os.environ["LIGHTNINGSYNC_SCREENSHOTS"], "review.png"))
    assert org_state() == before

    page.click("input[type=submit][name=apply]")
    page.wait_for_selector(".messagelist")
    assert "Imported sync configurations: 1 created, 1 updated" in page.inner_text(".messagelist")
    assert sorted(SyncConfiguration.objects.values_list("name", flat=True)) == [
        "East reps",
        "West reps",
    ]
