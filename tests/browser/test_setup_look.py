"""The Setup look as an admin uses it: the Setup tree, Quick Find, list filters and the
pages' words, with the keyboard alone where it matters. Also takes the README's two
screenshots (`make screenshots` copies them into docs/)."""

from __future__ import annotations

from pathlib import Path

from django.core.management import call_command

from lightningsync.models import Contact, LightningSyncSetup, User
from lightningsync.setupservice import apply_setup
from tests.factories import ContactFactory, EventFactory, UserFactory

README_SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots" / "readme"


def focused(page) -> str:  # type: ignore[no-untyped-def]
    return page.evaluate(
        "() => { const e = document.activeElement;"
        " return (e.innerText || e.value || e.getAttribute('aria-label') || e.tagName).trim(); }"
    )


def tab_until(page, text: str, limit: int = 200) -> list[str]:  # type: ignore[no-untyped-def]
    """Press Tab until the focused element reads `text`; what was focused on the way."""
    seen = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        seen.append(focused(page))
        if seen[-1] == text:
            return seen
    raise AssertionError(f"Tab never reached {text!r}; it went through {seen}")


def sign_in_as_superuser(page) -> None:  # type: ignore[no-untyped-def]
    User.objects.create_superuser("root", "root@example.com", "browser-pass-1")
    page.goto("/admin/login/")
    page.fill("#id_username", "root")
    page.fill("#id_password", "browser-pass-1")
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")


def test_the_keyboard_reaches_the_setup_tree_the_list_filters_and_new(page):  # type: ignore[no-untyped-def]
    sign_in_as_superuser(page)
    ContactFactory(last_name="Keyboard")
    ContactFactory(last_name="Keys")  # two owners: the owner filter has something to offer
    page.goto("/admin/lightningsync/contact/")

    # The Setup tree: a closed group opens with Enter, and its pages are then next in line.
    tab_until(page, "Users")
    page.keyboard.press("Enter")
    assert tab_until(page, "Profiles", limit=3)[-1] == "Profiles"

    # The page's action, then a list filter: Enter opens its menu, Tab walks its choices,
    # Escape closes it and gives the focus back.
    tab_until(page, "New")
    tab_until(page, "Contact Owner:\nAll")
    page.keyboard.press("Enter")
    menu = page.locator("details.ls-filter[open]")
    assert menu.count() == 1
    assert tab_until(page, "All", limit=2)[-1] == "All"
    page.keyboard.press("Escape")
    assert page.locator("details.ls-filter[open]").count() == 0
    assert focused(page) == "Contact Owner:\nAll"


def test_pages_speak_salesforce(page):  # type: ignore[no-untyped-def]
    sign_in_as_superuser(page)
    ContactFactory(last_name="Words")
    page.goto("/admin/lightningsync/syncconfiguration/")
    crumbs = page.locator(".ls-breadcrumbs li").all_inner_texts()
    assert [c.strip() for c in crumbs] == ["Setup", "Lightning Sync", "Sync Configurations"]
    assert page.locator("h1").inner_text() == "Sync Configurations"
    assert page.title() == "Sync Configurations | Lightning Sync Setup"
    assert "Select" not in page.locator("body").inner_text()
    assert page.locator("#empty-list").inner_text().startswith("No sync configurations yet.")

    EventFactory(owner=UserFactory())
    EventFactory(owner=UserFactory())
    page.goto("/admin/lightningsync/event/")
    filters = [t.split(":")[0] for t in page.locator(".ls-filter > summary").all_inner_texts()]
    assert filters == ["Assigned To", "Show Time As", "Private", "All-Day Event", "Start",
                       "Last Modified Date"]

    contact = Contact.objects.get()
    page.goto(f"/admin/lightningsync/contact/{contact.pk}/change/")
    crumbs = [c.strip() for c in page.locator(".ls-breadcrumbs li").all_inner_texts()]
    assert crumbs == ["Setup", "Sales", "Contacts", str(contact)]
    buttons = page.locator(".submit-row input, .submit-row a").all_inner_texts()
    values = page.locator(".submit-row input").evaluate_all("els => els.map(e => e.value)")
    assert values == ["Save", "Save & New", "Quick Save"]
    assert [b.strip() for b in buttons if b.strip()] == ["Cancel", "Delete"]
    page.click("text=Delete")
    assert page.locator(".ls-confirm__question").inner_text() == (
        "Are you sure you want to delete this contact?"
    )


def test_the_favicon_is_served(page):  # type: ignore[no-untyped-def]
    response = page.goto("/favicon.ico")
    assert response is not None and response.status == 200
    assert response.headers["content-type"].startswith("image/")


def test_the_readme_screenshots(signed_in_page, exchange_sim):  # type: ignore[no-untyped-def]
    """Setup home with Quick Find in use, and Lightning Sync Status after the demo reps'
    first syncs (through the simulated Exchange), with Alice's statuses checked."""
    from syncengine.cycle.runner import sync_user
    from syncengine.tasks import refresh_statuses_task
    from tests.engine.ews_fixtures import point_setup_at

    page = signed_in_page
    call_command("lightningsync_demo")
    admin = User.objects.get(username="admin-persona")
    admin.first_name, admin.last_name = "Avery", "Admin"
    admin.save()
    for change in ({"username": "svc-sync@demo.example"},
                   {"ews_url": "https://mail.demo.example/EWS/Exchange.asmx"}):
        apply_setup({"service_account": change}, user=admin, via="Setup page")
    README_SHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 720})

    page.goto("/admin/")
    page.fill("#quick-find", "sync")
    assert page.locator("#setup-menu a:visible").all_inner_texts() == [
        "Lightning Sync Setup", "Sync Configurations", "Lightning Sync Connection Test",
        "Lightning Sync Status", "Lightning Sync Errors",
    ]
    page.screenshot(path=str(README_SHOTS / "setup-home.png"))

    reps = list(User.objects.filter(username__in=["alice", "bob"]).order_by("username"))
    for rep in reps:
        exchange_sim.sim.add_mailbox(rep.email)
    # As in `make demo`: Alice keeps a contact at a company the CRM has no account for.
    exchange_sim.sim.create_folder(reps[0].email, "Salesforce_Sync")
    exchange_sim.sim.create_contact(reps[0].email, folder="contacts/Salesforce_Sync",
                                    GivenName="Ken", Surname="Thompson", CompanyName="Bell Labs")
    point_setup_at(exchange_sim)
    # The simulator's service account is at its own domain: it serves the demo's too.
    LightningSyncSetup.objects.update(additional_domains="demo.example")
    for rep in reps:
        assert sync_user(rep.pk, sleep=lambda s: None).outcome == "synced"
    refresh_statuses_task()
    page.goto(f"/admin/setup/lightning-sync-status/?q=alice&user={reps[0].pk}")
    assert page.locator("h1").inner_text() == "Lightning Sync Status"
    page.screenshot(path=str(README_SHOTS / "status.png"), full_page=True)


def box(page, selector: str) -> dict[str, float]:  # type: ignore[no-untyped-def]
    found = page.locator(selector).first.bounding_box()
    assert found is not None, selector
    return found


def test_form_labels_sit_above_their_fields_and_urls_fit(page):  # type: ignore[no-untyped-def]
    sign_in_as_superuser(page)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto("/admin/lightningsync/syncconfiguration/add/")
    for field in ("users", "profiles"):
        label, picker = box(page, f"label[for=id_{field}]"), box(page, f"#id_{field}_from")
        assert label["y"] + label["height"] <= picker["y"], field  # it sat to the right
        assert label["x"] <= picker["x"] + 1, field
    # Every choice of a radio list on one line, at full width (they wrapped into a column).
    line = page.evaluate("parseFloat(getComputedStyle(document.body).lineHeight)")
    heights = page.locator("input[type=radio] + *, label:has(> input[type=radio])").evaluate_all(
        "els => els.map(e => e.getBoundingClientRect().height)"
    )
    assert heights and max(heights) < 2 * line, heights

    page.goto("/admin/setup/lightning-sync/")
    url = "https://exchange-frontend.mail.example.com/EWS/Exchange.asmx"
    page.evaluate("document.querySelector('#section-oauth').hidden = false")  # the OAuth URLs
    for field in ("ews_url", "graph_url", "authority_url"):
        page.fill(f"#id_{field}", url)
        fits = page.eval_on_selector(f"#id_{field}", "e => e.scrollWidth <= e.clientWidth")
        assert fits, field
