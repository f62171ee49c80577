"""Every Setup page in a real browser, as a superuser and as each permission group: nothing
overflows sideways, nothing covers text, no serious or critical accessibility violation
(axe-core), every field labelled, every action reachable from the keyboard, no server error.

The pages are found, not listed: each role's crawl starts at the Setup home and at every
admin page of every registered model (tests/setup_pages.py) and follows every link it is
shown, so a page added later is checked without touching this file. One page of each kind is
opened (the first contact's page stands for all contacts').

The matrix, kept within the suite's time (about three minutes on two cores): the superuser,
who sees every page there is, opens each at 1280 px and resizes it to 1366 and 1920 px (the
layout follows the width as on a fresh load; nothing on these pages measures the window when
it loads), since what breaks with width is the layout, and the layout is the same for
everyone. Each group opens every page it can reach at the narrowest width, 1280 px, where
overflow shows first: what differs between roles is content (read-only forms, fewer buttons,
other menu entries), not width. axe-core reads each distinct page content and each role's
Setup tree once (its rules read the DOM, which does not change with width, and the same
content has the same violations whoever sees it). Every page and width leaves a full-page
screenshot in build/screenshots/<role>/ for a reviewer (never compared).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tests.conftest import restore_migration_groups
from tests.setup_pages import ROLES, crawl, model_pages, org, page_shape, sign_in

WIDTHS = (1280, 1366, 1920)
NARROWEST = WIDTHS[0]
HEIGHT = 900
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
CHECKS = (Path(__file__).with_name("pagechecks.js")).read_text()
SERIOUS = ("serious", "critical")
AXE = Axe()


def widths_for(role: str) -> tuple[int, ...]:
    return WIDTHS if role == "superuser" else (NARROWEST,)


def screenshot_name(url: str, width: int) -> str:
    """Named after the kind of page (lightningsync-contact-n-change-1280.png), so the names
    stay the same from run to run."""
    slug = re.sub(r"[^a-z0-9]+", "-", page_shape(url).removeprefix("/admin/").lower()).strip("-")
    return f"{slug or 'setup-home'}-{width}.png"


def axe_problems(page: Any, context: dict[str, Any]) -> list[str]:
    results = AXE.run(page, context=context or None)
    return [
        f"axe {v['id']} ({v['impact']}): {v['help']}: "
        + "; ".join(
            f"{', '.join(node['target'])} ({node['failureSummary'].splitlines()[-1].strip()})"
            for node in v["nodes"][:5]
        )
        for v in results.response["violations"]
        if v["impact"] in SERIOUS
    ]


# What axe-core has read, by what it showed: a page's content (#content) and the Setup tree
# beside it. Content a role sees exactly as another role (or the superuser) saw it has the
# same violations, and so has a tree already read, so each is read once; the page's frame
# (header, skip link) is read with the first content of each role.
AXED: set[str] = set()
PARTS = """() => {
    const html = (selector) => {
        const el = document.querySelector(selector);
        // Each role's org is made anew: ids, counts and times differ, nothing axe reads.
        const plain = el ? el.outerHTML.replace(/value="[^"]*"/g, '') : '';
        return plain.replace(/[0-9a-f]{32}|\\d+/g, 'N');
    };
    return [html('#content'), html('#setup-tree').replace(/ aria-current="page"| open=""/g, '')];
}"""


def axe_context(page: Any) -> dict[str, Any] | None:
    """What axe-core still has to read on this page: all of it, the Setup tree, or nothing."""
    content, tree = page.evaluate(PARTS)
    new_content, new_tree = content not in AXED, tree not in AXED
    AXED.update((content, tree))
    if new_content:
        return {}
    if new_tree:
        return {"include": [["#setup-tree"]]}
    return None


def check_page(page: Any) -> list[str]:
    found = page.evaluate(CHECKS)
    return [
        f"{kind}: {detail}"
        for kind in ("overflow", "overlaps", "unlabelled", "unreachable")
        for detail in found[kind]
    ]


@pytest.mark.parametrize("role", ROLES)
def test_every_page_reads_well_at_every_width_for_every_role(role, chromium_browser, live_server):  # type: ignore[no-untyped-def]
    restore_migration_groups()
    objects = org()
    client = Client(raise_request_exception=False)
    sign_in(client, role)
    found = crawl(client, [reverse("admin:index"), *model_pages(objects)])
    assert {url: code for url, code in found.status.items() if code >= 500} == {}
    pages = found.one_page_per_shape()
    assert reverse("admin:index") in pages

    context = chromium_browser.new_context(
        base_url=live_server.url, viewport={"width": NARROWEST, "height": HEIGHT}
    )
    context.set_default_timeout(15_000)
    context.add_cookies([{
        "name": settings.SESSION_COOKIE_NAME,
        "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
        "url": live_server.url,
    }])
    page = context.new_page()
    folder = SCREENSHOTS / role
    shutil.rmtree(folder, ignore_errors=True)  # only this run's pages
    folder.mkdir(parents=True)
    problems: list[str] = []
    try:
        for url in pages:
            page.set_viewport_size({"width": widths_for(role)[0], "height": HEIGHT})
            response = page.goto(url)
            assert response is not None
            if response.status != 200:
                problems.append(f"{url}: HTTP {response.status} in the browser")
                continue
            unread = axe_context(page)
            if unread is not None:
                problems += [f"{url}: {p}" for p in axe_problems(page, unread)]
            for width in widths_for(role):
                # The same page, resized: the layout follows the width as on a fresh load.
                page.set_viewport_size({"width": width, "height": HEIGHT})
                problems += [f"{url} @{width}px: {p}" for p in check_page(page)]
                page.screenshot(path=str(folder / screenshot_name(url, width)), full_page=True)
    finally:
        context.close()
    assert problems == [], f"{len(pages)} pages checked as {role}:\n" + "\n".join(problems)
