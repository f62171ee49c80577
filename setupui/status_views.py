"""Lightning Sync Status (SPEC §7, §10): the system statuses first, then find a user by name
or email, Check Status (the user's statuses) and Reset Sync (after a confirmation page).

Every value comes from `lightningsync.statuses`, from stored state only: the page costs the
same few queries whatever the org's size, and never calls Exchange.
"""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.admin import AdminSite
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods

from lightningsync import permissions as perms
from lightningsync import statuses, userlookup
from lightningsync.availability import EVENTS_SYNC_SCOPE
from lightningsync.models import LightningSyncSetup, User
from syncengine.tasks import request_reset

from .access import require, require_view_setup
from .status_chart import hourly_chart

SEARCH_LIMIT = 20


def _status_url(user: User | None = None, query: str = "") -> str:
    params = {}
    if query:
        params["q"] = query
    if user is not None:
        params["user"] = str(user.pk)
    url = reverse("admin:lightningsync_status")
    return f"{url}?{urlencode(params)}" if params else url


@require_GET
def status_page(request: HttpRequest, *, site: AdminSite) -> HttpResponse:
    require_view_setup(request.user)
    setup = LightningSyncSetup.load()
    figures = statuses.org_figures()
    query = request.GET.get("q", "").strip()[:100]
    found = list(userlookup.search(query, SEARCH_LIMIT)) if query else []
    checked = None
    user_id = request.GET.get("user", "")
    if user_id.isdigit():
        checked = User.objects.filter(pk=int(user_id)).first()
    context = {
        **site.each_context(request),
        "setup": setup,
        "system_tables": statuses.org_tables(setup, figures),
        "figures": figures,
        "computed_at": dt.datetime.fromisoformat(figures.computed_at),
        "chart": hourly_chart(figures),
        "query": query,
        "found": found,
        "search_limit": SEARCH_LIMIT,
        "checked": checked,
        "user_tables": statuses.user_tables(checked, setup) if checked else [],
        "may_reset": request.user.has_perms(perms.RESET_USERS),
        "events_scope": EVENTS_SYNC_SCOPE,
        "status_url": _status_url(None, query),
    }
    return TemplateResponse(request, "setupui/status.html", context)


@require_http_methods(["GET", "POST"])
def reset_sync(request: HttpRequest, user_id: int, *, site: AdminSite) -> HttpResponse:
    """Reset Sync: GET asks for confirmation, POST marks the user and enqueues the reset."""
    require_view_setup(request.user)
    require(request.user, perms.RESET_USERS)
    user = get_object_or_404(User, pk=user_id)
    back = _status_url(user, request.GET.get("q", "").strip()[:100])
    if request.method == "POST":
        with transaction.atomic():
            request_reset(user)
        messages.success(
            request, f"Sync was reset for {user.get_full_name() or user.email}: its links to "
            "Exchange are rebuilt at the next sync cycle.")
        return HttpResponseRedirect(back)
    context = {
        **site.each_context(request),
        "target": user,
        "back_url": back,
    }
    return TemplateResponse(request, "setupui/status_reset.html", context)
