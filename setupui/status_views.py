"""Lightning Sync Status, a first version: is sync on, and whom does it sync?

It does not compute per-user statuses (SPEC §7) yet; it says what events sync and how many
are in sync.
"""

from __future__ import annotations

from collections import Counter

from django.contrib.admin import AdminSite
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET

from lightningsync.availability import EVENTS_SYNC_SCOPE
from lightningsync.effective import syncing_users
from lightningsync.models import EventLink, LightningSyncSetup

from .access import require_view_setup


@require_GET
def status_page(request: HttpRequest, *, site: AdminSite) -> HttpResponse:
    require_view_setup(request.user)
    setup = LightningSyncSetup.load()
    governed = syncing_users()
    per_configuration = Counter(config.name for config in governed.values())
    context = {
        **site.each_context(request),
        "setup": setup,
        "syncing_user_count": len(governed),
        "per_configuration": sorted(per_configuration.items()),
        "events_scope": EVENTS_SYNC_SCOPE,
        # "Records in sync" for events: CRM events linked to a calendar item.
        "linked_events": EventLink.objects.filter(
            state=EventLink.State.ACTIVE, event__isnull=False).count(),
    }
    return TemplateResponse(request, "setupui/status.html", context)
