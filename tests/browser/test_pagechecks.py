"""The browser suite's page checks catch what the Setup pages once showed: a panel over the
menu's descriptions, a list wider than its box, a field without a label, something clickable
out of the keyboard's reach, and an axe-core violation. Each check runs on a small page made
to have that one problem, and on its fixed twin."""

from __future__ import annotations

import pytest

from tests.browser.test_every_page import check_page

FRAME = (
    "<!doctype html><html lang=en><head><title>t</title>"
    "<style>body{{margin:0}} {css}</style></head><body>{body}</body></html>"
)


@pytest.fixture
def blank(chromium_browser):  # type: ignore[no-untyped-def]
    context = chromium_browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    yield page
    context.close()


def problems(page, body: str, css: str = "") -> list[str]:  # type: ignore[no-untyped-def]
    page.set_content(FRAME.format(css=css, body=body))
    return check_page(page)


MENU = (
    "<table><tr><th><a href='/s'>Lightning Sync Setup</a></th>"
    "<td>Turn sync on and choose how to connect to Exchange</td></tr></table>"
)


def test_it_sees_a_panel_covering_the_menu(blank):  # type: ignore[no-untyped-def]
    panel = "position:absolute;top:0;left:150px;background:#eee"
    covering = MENU + f"<div style='{panel}'>Recent Setup changes</div>"
    found = problems(blank, covering)
    assert [p for p in found if p.startswith("overlaps:")] != []
    beside = MENU + "<div>Recent Setup changes</div>"
    assert problems(blank, beside) == []


def test_it_sees_a_list_wider_than_its_box(blank):  # type: ignore[no-untyped-def]
    row = "<td style='white-space:nowrap'>" + "+1 415 555 1000 " * 40 + "</td>"
    table = f"<table><tr>{row}</tr></table>"
    wide = f"<div class='results' style='overflow-x:auto;width:600px'>{table}</div>"
    found = problems(blank, wide)
    assert any(p.startswith("overflow: div.results") for p in found), found
    fitting = wide.replace("white-space:nowrap", "white-space:normal")
    assert problems(blank, fitting) == []


def test_it_sees_the_page_wider_than_the_window(blank):  # type: ignore[no-untyped-def]
    found = problems(blank, "<div style='width:1400px'>wide</div>")
    assert found == ["overflow: page: 1400px wide in a 1280px window"]


def test_it_sees_a_field_without_a_label(blank):  # type: ignore[no-untyped-def]
    found = problems(blank, "<p>EWS URL</p><input type=url id=ews>")
    assert found == ["unlabelled: input#ews"]
    assert problems(blank, "<label for=ews>EWS URL</label> <input type=url id=ews>") == []


def test_it_sees_an_action_the_keyboard_cannot_reach(blank):  # type: ignore[no-untyped-def]
    found = problems(blank, "<div onclick='1' style='cursor:pointer'>Retry</div>")
    assert any(p.startswith("unreachable: div") for p in found), found
    found = problems(blank, "<a href='/x' tabindex='-1'>Retry</a>")
    assert found == ['unreachable: a "Retry"']
    assert problems(blank, "<button type=button>Retry</button>") == []
