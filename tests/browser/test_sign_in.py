from __future__ import annotations


def test_it_signs_in_and_lands_on_setup_home(signed_in_page):
    page = signed_in_page
    assert page.title().startswith("Setup")
    assert page.locator("body").inner_text().count("Lightning Sync") >= 1


def test_it_refuses_a_wrong_password(page, persona):
    user = persona("admin")
    page.goto("/admin/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", "not-the-password")
    page.click("input[type=submit]")
    assert "correct username and password" in page.locator(".errornote").inner_text()
