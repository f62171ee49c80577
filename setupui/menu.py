"""The Setup menu and its Quick Find: what an admin sees on the Setup home and in the sidebar.

Laid out like Salesforce Setup (sections, then groups of pages), so an admin who knows
"enter Lightning Sync Setup in the Quick Find box" finds things where they expect. Entries
for model pages come from the admin site's own app list, so an entry appears exactly when
Django admin would let the user open it; custom pages state the permissions they need.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from lightningsync import permissions as perms
from setupui import words


@dataclass(frozen=True)
class Entry:
    label: str
    url: str
    description: str
    keywords: str = ""
    # Filled in when the entry is placed in a group: what Quick Find matches against.
    search_text: str = ""


@dataclass(frozen=True)
class Group:
    title: str
    entries: tuple[Entry, ...]


@dataclass(frozen=True)
class Section:
    title: str
    groups: tuple[Group, ...]

    @property
    def entry_count(self) -> int:
        return sum(len(g.entries) for g in self.groups)


# --- the declared layout ------------------------------------------------------------------


@dataclass(frozen=True)
class ModelItem:
    """A page Django admin serves for a registered model (shown if the user may view it).

    Its label is the model's list title in `setupui.words`."""

    app_label: str
    object_name: str
    description: str
    keywords: str = ""

    @property
    def label(self) -> str:
        return words.OBJECTS[f"{self.app_label}.{self.object_name.lower()}"].plural


@dataclass(frozen=True)
class ViewItem:
    """A custom Setup page: its URL name in the admin namespace and the permissions it needs.

    Its label is the page's title in `setupui.words`."""

    url_name: str
    description: str
    required: tuple[str, ...]
    keywords: str = ""

    @property
    def label(self) -> str:
        return words.PAGES[self.url_name].title


Item = ModelItem | ViewItem

LAYOUT: tuple[tuple[str, tuple[tuple[str, tuple[Item, ...]], ...]], ...] = (
    (
        "Email",
        (
            (
                "Lightning Sync",
                (
                    ViewItem(
                        "lightningsync_setup",
                        "Turn sync on, choose how Lightning Sync connects to Exchange, and "
                        "enter the service account or OAuth 2.0 credentials.",
                        perms.READ_SETUP,
                        keywords="exchange service account oauth ews autodiscover org id "
                        "configuration file download upload",
                    ),
                    ModelItem(
                        "lightningsync",
                        "SyncConfiguration",
                        "Decide which users and profiles sync contacts and events, in which "
                        "direction and with which filters.",
                        keywords="contacts events users profiles mapping",
                    ),
                    ViewItem(
                        "lightningsync_connection_test",
                        "Test the connection to one rep's mailbox, step by step, read-only.",
                        perms.EDIT_SETUP,
                        keywords="connection test analyzer autodiscover impersonation tls "
                        "certificate exchange version",
                    ),
                    ViewItem(
                        "lightningsync_status",
                        "See how sync is going for the org and for each user, and reset a "
                        "user's sync.",
                        perms.READ_SETUP,
                        keywords="sync status reset check status users chart",
                    ),
                    ModelItem(
                        "lightningsync",
                        "LightningSyncError",
                        "What failed to sync, for whom and why, with what to do about it; "
                        "retry and export.",
                        keywords="errors error report sync errors retry export csv",
                    ),
                ),
            ),
        ),
    ),
    (
        "Administration",
        (
            (
                "Users",
                (
                    ModelItem(
                        "lightningsync",
                        "User",
                        "The people in this org: their email addresses and profiles.",
                    ),
                    ModelItem(
                        "lightningsync",
                        "Profile",
                        "Profiles group users; a sync configuration can cover whole profiles.",
                    ),
                    ModelItem(
                        "auth",
                        "Group",
                        "Sets of permissions such as Customize Application and View Setup "
                        "and Configuration.",
                        keywords="permission sets",
                    ),
                ),
            ),
            (
                "Security",
                (
                    ModelItem(
                        "lightningsync",
                        "SetupAuditTrail",
                        "Who changed which Setup or sync configuration setting, and when.",
                        keywords="setup audit trail history changes",
                    ),
                ),
            ),
        ),
    ),
    (
        "Records",
        (
            (
                "Sales",
                (
                    ModelItem("lightningsync", "Account", "Companies you sell to."),
                    ModelItem(
                        "lightningsync",
                        "Contact",
                        "People at accounts; Lightning Sync keeps them in step with Exchange.",
                    ),
                    ModelItem("lightningsync", "Lead", "Prospects not yet qualified."),
                ),
            ),
            (
                "Activities",
                (
                    ModelItem(
                        "lightningsync",
                        "Event",
                        "Meetings and appointments, including those synced from Exchange.",
                        keywords="calendar meetings",
                    ),
                ),
            ),
        ),
    ),
)
OTHER_SECTION = "Platform Tools"


# --- building the menu for one request ------------------------------------------------------


def _search_text(*parts: str) -> str:
    return " ".join(" ".join(parts).lower().split())


def _resolve(
    item: Item, request: HttpRequest, models: dict[tuple[str, str], dict[str, Any]]
) -> Entry | None:
    if isinstance(item, ModelItem):
        model = models.pop((item.app_label, item.object_name), None)
        if model is None or not model.get("admin_url"):
            return None
        return Entry(item.label, str(model["admin_url"]), item.description, item.keywords)
    if not request.user.has_perms(item.required):
        return None
    try:
        url = reverse(f"admin:{item.url_name}")
    except NoReverseMatch:
        return None
    return Entry(item.label, url, item.description, item.keywords)


def build_menu(request: HttpRequest, available_apps: Sequence[dict[str, Any]]) -> list[Section]:
    """The Setup menu this user may see; `available_apps` is the admin site's app list."""
    models = {
        (app["app_label"], model["object_name"]): model
        for app in available_apps
        for model in app["models"]
    }
    sections: list[Section] = []
    for section_title, groups in LAYOUT:
        built = []
        for group_title, items in groups:
            entries = [
                e for e in (_resolve(item, request, models) for item in items) if e is not None
            ]
            if entries:
                built.append(_group(section_title, group_title, entries))
        if built:
            sections.append(Section(section_title, tuple(built)))
    # Whatever else the site registers (the task queue, ...) stays reachable and findable.
    # Their names come from the apps' own translated (lazy) verbose names: made text here,
    # once (by `words.object_words`), so nothing downstream joins, compares or caches a lazy
    # object.
    others = []
    for app in available_apps:
        entries = [
            Entry(_other_label(app["app_label"], model), str(model["admin_url"]), "")
            for model in app["models"]
            if (app["app_label"], model["object_name"]) in models and model.get("admin_url")
        ]
        if entries:
            others.append(_group(OTHER_SECTION, words.title_case(str(app["name"])), entries))
    if others:
        sections.append(Section(OTHER_SECTION, tuple(others)))
    return sections


def _other_label(app_label: str, model: dict[str, Any]) -> str:
    meta = model["model"]._meta
    return words.object_words(
        app_label, str(meta.model_name), str(meta.verbose_name), str(meta.verbose_name_plural)
    ).plural


def _group(section_title: str, group_title: str, entries: Iterable[Entry]) -> Group:
    return Group(
        group_title,
        tuple(
            replace(
                e,
                search_text=_search_text(e.label, group_title, section_title, e.keywords),
            )
            for e in entries
        ),
    )


def quick_find(sections: Iterable[Section], query: str) -> list[Section]:
    """Keep the entries whose name, group, section or keywords contain every typed word.

    The same rule runs in the browser (static/setupui/quickfind.js) as the admin types.
    """
    terms = query.lower().split()
    if not terms:
        return list(sections)

    def matches(entry: Entry) -> bool:
        return all(term in entry.search_text for term in terms)

    result = []
    for section in sections:
        groups = tuple(
            Group(g.title, kept)
            for g in section.groups
            if (kept := tuple(e for e in g.entries if matches(e)))
        )
        if groups:
            result.append(Section(section.title, groups))
    return result


def current_entry(sections: Iterable[Section], path: str) -> Entry | None:
    """The entry a page belongs to: the one whose URL is the longest start of the page's path
    (a record's page belongs to its list), so the Setup tree opens its group."""
    found: Entry | None = None
    for section in sections:
        for group in section.groups:
            for entry in group.entries:
                longer = found is None or len(entry.url) > len(found.url)
                if path.startswith(entry.url) and longer:
                    found = entry
    return found
