"""The header of every Setup page: its icon, title and breadcrumbs, worked out from the URL.

The site computes it in `each_context`, so Django's model pages, other apps' pages and the
custom Setup pages all get the same header without each view saying anything. Breadcrumbs
follow the Setup menu: Setup, the menu group holding the page, the page (then the record and
the action), e.g. "Setup > Lightning Sync > Sync Configurations".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.db.models.options import Options
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from setupui import words as w
from setupui.menu import Section

# Django admin's URL names for a model's pages end with one of these.
_MODEL_VIEWS = ("changelist", "add", "change", "delete", "history")


@dataclass(frozen=True)
class Crumb:
    label: str
    url: str = ""


@dataclass(frozen=True)
class PageHeader:
    title: str  # empty on a record's own page: the record's name is its title
    icon: str
    trail: tuple[Crumb, ...]  # the pages above this one, Setup first
    label: str = w.SETUP  # the small line above the title
    record_in_trail: bool = False  # a record's delete and history pages
    objects: w.ObjectWords | None = None  # on a model's pages: the words of its list


def for_request(request: HttpRequest, menu: Iterable[Section]) -> PageHeader | None:
    match = request.resolver_match
    if match is None or match.namespace != "admin" or not match.url_name:
        return None
    model_admin = getattr(match.func, "model_admin", None)
    if model_admin is not None:
        return _model_page(model_admin.opts, match.url_name, menu)
    return for_page(match.url_name, menu)


def for_page(key: str, menu: Iterable[Section]) -> PageHeader | None:
    """The header of a custom page (a key of `words.PAGES`), its parents in the trail."""
    page = w.PAGES.get(key)
    if page is None:
        return None
    if key == "index":
        return PageHeader(page.title, page.icon, trail=())
    parents: list[Crumb] = []
    top, parent = key, page.parent
    while parent:
        parents.insert(0, Crumb(w.PAGES[parent].title, _reverse(parent)))
        top, parent = parent, w.PAGES[parent].parent
    trail = (*_menu_trail(_reverse(top), menu), *parents)
    return PageHeader(page.title, page.icon, trail=trail)


def _model_page(opts: Options[Any], url_name: str, menu: Iterable[Section]) -> PageHeader:
    app_label, model_name = opts.app_label, str(opts.model_name)
    words = w.object_words(
        app_label, model_name, str(opts.verbose_name), str(opts.verbose_name_plural)
    )
    list_url = _reverse(f"{app_label}_{model_name}_changelist")
    trail = _menu_trail(list_url, menu, fallback_group=str(opts.app_config.verbose_name))
    view = next((v for v in _MODEL_VIEWS if url_name.endswith(f"_{v}")), "changelist")
    if view == "changelist":
        return PageHeader(words.plural, words.icon, trail=trail, objects=words)
    trail = (*trail, Crumb(words.plural, list_url))
    if view == "add":
        return PageHeader(words.add_title, words.icon, trail=trail, objects=words)
    if view == "change":
        return PageHeader("", words.icon, trail=trail, label=words.singular, objects=words)
    title = words.delete_title if view == "delete" else words.history_title
    return PageHeader(
        title, words.icon, trail=trail, label=words.singular, record_in_trail=True,
        objects=words,
    )


def _menu_trail(url: str, menu: Iterable[Section], fallback_group: str = "") -> tuple[Crumb, ...]:
    """Setup, then the menu group that lists `url` (its link shows that group on the Setup
    home)."""
    home = reverse("admin:index")
    group = next(
        (g.title for s in menu for g in s.groups for e in g.entries if e.url == url),
        fallback_group,
    )
    if not group:
        return (Crumb(w.SETUP, home),)
    return (Crumb(w.SETUP, home), Crumb(group, f"{home}?{urlencode({'q': group})}"))


def _reverse(name: str) -> str:
    try:
        return reverse(f"admin:{name}")
    except NoReverseMatch:
        return ""
