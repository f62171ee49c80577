"""The README's demo account, in a real browser: seeded as `make demo` seeds it, it signs in
and opens every page of the Setup menu (a superuser's, Platform Tools included)."""

from __future__ import annotations

from django.core.management import call_command

from lightningsync.management.commands.lightningsync_demo import DEMO_ADMIN


def test_the_readme_demo_account_signs_in_and_opens_every_setup_page(page):  # type: ignore[no-untyped-def]
    call_command("lightningsync_demo")
    username, password = DEMO_ADMIN
    assert (username, password) == ("admin", "lightning-demo")  # as the README says

    page.goto("/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")
    assert page.title().startswith("Setup")
    menu = page.locator("#setup-menu")
    sections = [t.strip() for t in menu.locator(".ls-home__section-title").all_text_contents()]
    assert sections == ["Email", "Administration", "Records", "Platform Tools"]

    entries = [
        (link.inner_text().strip(), link.get_attribute("href"))
        for link in menu.locator("a[href^='/admin/']").all()
    ]
    labels = [label for label, _ in entries]
    for expected in ("Lightning Sync Setup", "Sync Configurations", "Lightning Sync Status"):
        assert expected in labels
    assert len(entries) >= 14
    answers = {}
    for label, href in entries:
        response = page.goto(href)
        body = page.locator("body").inner_text()
        answers[label] = (
            response.status if response else None,
            "Server Error" in body or "Traceback" in body,
        )
    assert answers == dict.fromkeys(labels, (200, False))
