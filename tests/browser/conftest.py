"""Playwright driving Debian's Chromium against the live server.

Playwright cannot download its own browsers here, so it launches /usr/bin/chromium. Without
Chromium the browser tests skip, unless LIGHTNINGSYNC_REQUIRE_BROWSER=1 (CI) makes that fail.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

CHROMIUM = os.environ.get("LIGHTNINGSYNC_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium_browser() -> Iterator[object]:
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        if os.environ.get("LIGHTNINGSYNC_REQUIRE_BROWSER") == "1":
            pytest.fail(f"Chromium not found at {CHROMIUM} but browser tests are required")
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    # Playwright's sync API runs an event loop in this thread; the ORM calls made by the
    # test itself are still synchronous and safe.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(chromium_browser, live_server):  # type: ignore[no-untyped-def]
    context = chromium_browser.new_context(base_url=live_server.url)
    context.set_default_timeout(15_000)
    pg = context.new_page()
    try:
        yield pg
    finally:
        context.close()


@pytest.fixture
def signed_in_page(page, persona):  # type: ignore[no-untyped-def]
    """A page signed in through the real login form as the Lightning Sync administrator."""
    user = persona("admin")
    user.set_password("browser-pass-1")
    user.save()
    page.goto("/admin/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", "browser-pass-1")
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")
    return page
