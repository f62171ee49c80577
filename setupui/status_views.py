"""Lightning Sync Status: a first version that reports what is known before the engine runs.

Per-user statuses (SPEC §7) arrive with the sync engine; until then the page answers the two
questions an admin asks first: is sync on, and whom would it sync?
"""

from __future__ import annotations

from collections import Counter

from django.contrib.admin import AdminSite
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET

from lightningsync.effective import syncing_users
from lightningsync.models import LightningSyncSetup

from .access import require_view_setup


@require_GET
def status_page(request: HttpRequest, *, site: AdminSite) -> HttpResponse:
    require_view_setup(request.user)
    setup = LightningSyncSetup.load()
    governed = syncing_users()
    per_configuration = Counter(config.name for config in governed.values())
    context = {
        **site.each_context(request),
        "title": "Lightning Sync Status",
        "setup": setup,
        "syncing_user_count": len(governed),
        "per_configuration": sorted(per_configuration.items()),
    }
    return TemplateResponse(request, "setupui/status.html", context)
