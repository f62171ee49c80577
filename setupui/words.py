"""Salesforce's words on the Setup pages: page titles, object names, buttons, empty states and
confirmations, in one place.

An admin who knows Salesforce Setup looks for "New", "Save & New" and "Sync Configurations",
not Django's "Add sync configuration" or "Select sync configuration to change". Every page
title, breadcrumb and button label of the Setup site comes from here (field labels stay on the
model fields, where forms, filters and column headers all read them).
"""

from __future__ import annotations

from dataclasses import dataclass

# --- pages of registered models -------------------------------------------------------------


@dataclass(frozen=True)
class ObjectWords:
    """How Setup names one kind of record, its list, and what its list says when empty."""

    plural: str  # the list's title, its Setup menu entry and its breadcrumb
    singular: str  # "New {singular}", "Delete {singular}", the label above a record's name
    icon: str  # a symbol of templates/setupui/icons.html
    new_button: str = "New"
    empty: str = ""  # the list with no record at all

    @property
    def empty_text(self) -> str:
        return self.empty or f"No {self.plural.lower()} to display."

    @property
    def add_title(self) -> str:
        """The new record's page is named like the button that opens it."""
        return self.new_button if self.new_button != "New" else f"New {self.singular}"

    @property
    def delete_title(self) -> str:
        return f"Delete {self.singular}"

    @property
    def history_title(self) -> str:
        return f"{self.singular} History"

    @property
    def delete_question(self) -> str:
        return f"Are you sure you want to delete this {self.singular.lower()}?"

    @property
    def delete_selected_question(self) -> str:
        return f"Are you sure you want to delete the selected {self.plural.lower()}?"


# Keyed by "app_label.model_name". Models not listed (other apps' pages in Platform Tools)
# are named from their verbose names by `object_words`.
OBJECTS: dict[str, ObjectWords] = {
    "lightningsync.syncconfiguration": ObjectWords(
        "Sync Configurations",
        "Sync Configuration",
        "sync",
        new_button="New Lightning Sync Configuration",
        empty="No sync configurations yet. Create one to choose which users and profiles "
        "sync contacts and events.",
    ),
    "lightningsync.setupaudittrail": ObjectWords(
        "View Setup Audit Trail",
        "Setup Change",
        "audit",
        empty="No Setup changes recorded yet.",
    ),
    "lightningsync.lightningsyncerror": ObjectWords(
        "Lightning Sync Errors",
        "Lightning Sync Error",
        "status",
        empty="No sync errors: Lightning Sync has met none.",
    ),
    "lightningsync.user": ObjectWords("Users", "User", "user"),
    "lightningsync.profile": ObjectWords("Profiles", "Profile", "profile"),
    "auth.group": ObjectWords("Permission Groups", "Permission Group", "group"),
    "lightningsync.account": ObjectWords("Accounts", "Account", "account"),
    "lightningsync.contact": ObjectWords("Contacts", "Contact", "contact"),
    "lightningsync.lead": ObjectWords("Leads", "Lead", "lead"),
    "lightningsync.event": ObjectWords("Events", "Event", "event"),
}
FALLBACK_ICON = "custom"


def title_case(text: str) -> str:
    return " ".join(word[:1].upper() + word[1:] for word in str(text).split())


def object_words(app_label: str, model_name: str, verbose: str, verbose_plural: str) -> ObjectWords:
    """The words of a model's pages; other apps' models are named after their verbose names."""
    known = OBJECTS.get(f"{app_label}.{model_name}")
    if known is not None:
        return known
    return ObjectWords(title_case(verbose_plural), title_case(verbose), FALLBACK_ICON)


# --- custom Setup pages ---------------------------------------------------------------------


@dataclass(frozen=True)
class PageWords:
    title: str
    icon: str
    parent: str = ""  # the URL name (admin namespace) of the page above it in the breadcrumbs


# Keyed by URL name in the admin namespace.
PAGES: dict[str, PageWords] = {
    "index": PageWords("Setup Home", "setup"),
    "lightningsync_setup": PageWords("Lightning Sync Setup", "bolt"),
    "lightningsync_config_upload": PageWords(
        "Upload Configuration", "upload", parent="lightningsync_setup"
    ),
    # Not a URL of its own: the upload page once a file is uploaded.
    "lightningsync_config_upload_review": PageWords(
        "Review Configuration Upload", "upload", parent="lightningsync_config_upload"
    ),
    "lightningsync_status": PageWords("Lightning Sync Status", "status"),
    "lightningsync_reset": PageWords("Reset Sync", "status", parent="lightningsync_status"),
    "lightningsync_connection_test": PageWords(
        "Lightning Sync Connection Test", "bolt", parent="lightningsync_setup"
    ),
    "lightningsync_connection_test_run": PageWords(
        "Connection Test Result", "bolt", parent="lightningsync_connection_test"
    ),
    "password_change": PageWords("Change Password", "user"),
    "password_change_done": PageWords("Password Changed", "user"),
}

SETUP = "Setup"  # the first breadcrumb of every page: the Setup home
SITE_NAME = "Lightning Sync"

# --- words shared by every page -------------------------------------------------------------


@dataclass(frozen=True)
class Words:
    """Buttons, list and form texts, as Salesforce Setup spells them."""

    save: str = "Save"
    save_and_new: str = "Save & New"
    quick_save: str = "Quick Save"
    save_as_new: str = "Save as New"
    cancel: str = "Cancel"
    close: str = "Done"
    delete: str = "Delete"
    history: str = "View History"
    search: str = "Search"
    search_label: str = "Search this list"
    run_action: str = "Run"
    action_label: str = "Action"
    filters: str = "Filters"
    clear_filters: str = "Clear All Filters"
    show_counts: str = "Show Counts"
    hide_counts: str = "Hide Counts"
    filter_all: str = "All"
    no_match: str = "No items match your search or filters."
    deleted_too: str = "Deleting it also deletes these related records:"
    deleted_selected_too: str = "Deleting them also deletes these related records:"
    cannot_delete: str = "You can't delete it: it would also delete records you may not delete:"
    protected: str = "You can't delete it while these records depend on it:"
    quick_find: str = "Quick Find"
    quick_find_placeholder: str = "Quick Find"
    quick_find_home_placeholder: str = "Search Setup, such as Lightning Sync Setup"
    quick_find_none: str = "No Setup page matches"
    recent_changes: str = "Recent Setup Changes"
    setup_menu: str = "Setup menu"
    no_setup_pages: str = (
        "You do not have permission to view any Setup page. Ask your administrator for a "
        "permission group such as “Setup Viewers”."
    )
    change_password: str = "Change Password"
    log_out: str = "Log Out"
    breadcrumbs: str = "Breadcrumbs"
    correct_errors: str = "Review the errors on this page."
    required: str = "required"


WORDS = Words()
