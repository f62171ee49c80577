"""The connection test pages (SPEC §6): a rep's email → Test starts the django-q2 task; the
run's page lists each step as the task stores it (the page refreshes itself while the test
runs: no script needed) and a small JSON view serves the same to scripts.

Running a test needs "Customize Application" (the seed's permission for it); so does reading
a run, whose steps name Setup's connection details.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin import AdminSite
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from lightningsync import permissions as perms
from lightningsync.models import ConnectionTestRun, LightningSyncSetup
from syncengine import connectiontest

from .access import require, signed_in_user

RECENT = 10


class ConnectionTestForm(forms.Form):
    email = forms.EmailField(
        label="Rep's email address", max_length=254,
        help_text="The test signs in as the service account, impersonates this rep and reads "
        "their Contacts and Calendar folders. It changes nothing in the mailbox.")


@require_http_methods(["GET", "POST"])
def connection_test_page(request: HttpRequest, *, site: AdminSite) -> HttpResponse:
    require(request.user, perms.EDIT_SETUP)
    form = ConnectionTestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        run = connectiontest.start(form.cleaned_data["email"], signed_in_user(request))
        return HttpResponseRedirect(
            reverse("admin:lightningsync_connection_test_run", args=[run.pk]))
    context = {
        **site.each_context(request),
        "form": form,
        "recent": list(ConnectionTestRun.objects.order_by("-pk")[:RECENT]),
        "summaries": connectiontest.SUMMARIES,
    }
    return TemplateResponse(request, "setupui/connection_test.html", context)


def _steps(run: ConnectionTestRun) -> list[dict[str, Any]]:
    """Every step of the test: those stored, then those still to come (pending)."""
    done = {s["key"]: s for s in run.steps}
    return [done.get(key, {"key": key, "title": title, "status": "pending", "detail": "",
                           "suggestion": ""}) for key, title in connectiontest.steps_of_run(
                               run.steps, LightningSyncSetup.load().connection_method)]


@require_GET
def connection_test_run(request: HttpRequest, run_id: int, *, site: AdminSite) -> HttpResponse:
    require(request.user, perms.EDIT_SETUP)
    run = get_object_or_404(ConnectionTestRun, pk=run_id)
    context = {
        **site.each_context(request),
        "run": run,
        "steps": _steps(run),
        "running": run.outcome == ConnectionTestRun.Outcome.RUNNING,
        "summary": connectiontest.SUMMARIES[run.outcome],
        "form": ConnectionTestForm(initial={"email": run.email}),
    }
    return TemplateResponse(request, "setupui/connection_test_run.html", context)


@require_GET
def connection_test_steps(request: HttpRequest, run_id: int, *, site: AdminSite) -> HttpResponse:
    require(request.user, perms.EDIT_SETUP)
    run = get_object_or_404(ConnectionTestRun, pk=run_id)
    return JsonResponse({
        "email": run.email, "outcome": run.outcome,
        "summary": connectiontest.SUMMARIES[run.outcome],
        "finished": run.finished_at is not None, "steps": _steps(run),
    })
