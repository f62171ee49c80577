"""The Setup site: Django's admin, presented as Salesforce-style Setup.

Custom Setup pages are mounted here (before the model pages) through `admin_view`, so they
get the admin's login, staff check and CSRF handling; every page receives the Setup menu for
the Setup tree, its page header (setupui/pageheader.py) and Salesforce's words
(setupui/words.py), and the home page is the Setup menu with its Quick Find. How a new page
adopts the look and the words: setupui/README.md.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import URLPattern, URLResolver, path

from lightningsync import permissions as perms
from lightningsync.models import SetupAuditTrail
from setupui import connection_test_views, pageheader, setup_views, status_views
from setupui.access import can_view_setup
from setupui.menu import build_menu, current_entry, quick_find
from setupui.words import PAGES, SITE_NAME, WORDS


def recent_setup_changes(request: HttpRequest, limit: int = 6) -> list[SetupAuditTrail]:
    """The latest audit entries, for those allowed to read the Setup Audit Trail."""
    if not (request.user.has_perm(perms.VIEW_AUDIT_TRAIL) or can_view_setup(request.user)):
        return []
    return list(SetupAuditTrail.objects.all()[:limit])


class SetupSite(admin.AdminSite):
    site_header = SITE_NAME
    site_title = SITE_NAME
    index_title = PAGES["index"].title

    def get_urls(self) -> list[URLResolver | URLPattern]:
        def view(func: Any) -> Any:
            return self.admin_view(partial(func, site=self))

        custom = [
            path(
                "setup/lightning-sync/",
                view(setup_views.setup_page),
                name="lightningsync_setup",
            ),
            path(
                "setup/lightning-sync/configuration/download/",
                view(setup_views.download_configuration),
                name="lightningsync_config_download",
            ),
            path(
                "setup/lightning-sync/configuration/upload/",
                view(setup_views.upload_configuration),
                name="lightningsync_config_upload",
            ),
            path(
                "setup/lightning-sync/connection-test/",
                view(connection_test_views.connection_test_page),
                name="lightningsync_connection_test",
            ),
            path(
                "setup/lightning-sync/connection-test/<int:run_id>/",
                view(connection_test_views.connection_test_run),
                name="lightningsync_connection_test_run",
            ),
            path(
                "setup/lightning-sync/connection-test/<int:run_id>/steps.json",
                view(connection_test_views.connection_test_steps),
                name="lightningsync_connection_test_steps",
            ),
            path(
                "setup/lightning-sync-status/",
                view(status_views.status_page),
                name="lightningsync_status",
            ),
            path(
                "setup/lightning-sync-status/reset/<int:user_id>/",
                view(status_views.reset_sync),
                name="lightningsync_reset",
            ),
        ]
        return custom + super().get_urls()

    def each_context(self, request: HttpRequest) -> dict[str, Any]:
        context = super().each_context(request)
        menu = build_menu(request, context["available_apps"])
        context["setup_menu"] = menu
        context["setup_current"] = current_entry(menu, request.path)
        context["page_header"] = pageheader.for_request(request, menu)
        context["words"] = WORDS
        return context

    def index(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> TemplateResponse:
        """The Setup home: the menu, filtered server-side by `?q=` (Quick Find without JS)."""
        query = request.GET.get("q", "").strip()[:100]
        context = {
            **(extra_context or {}),
            "quick_find_query": query,
            "recent_setup_changes": recent_setup_changes(request),
        }
        response = super().index(request, context)
        if response.context_data is not None:
            menu = response.context_data["setup_menu"]
            response.context_data["setup_menu_found"] = quick_find(menu, query)
        return response
