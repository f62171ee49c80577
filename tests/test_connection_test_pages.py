"""The connection test pages: a rep's email → Test runs the task and the run's page lists
its steps (refreshing itself while it runs); the JSON view; who may use them (SPEC §11)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from lightningsync.models import ConnectionTestRun
from syncengine import connectiontest
from tests.engine.ews_fixtures import point_setup_at

PERSONAS = ("admin", "viewer", "config_manager", "reporter", "nobody")
REP = "rep@example.com"


@pytest.fixture
def org(db, exchange_sim):  # type: ignore[no-untyped-def]
    exchange_sim.sim.add_mailbox(REP)
    point_setup_at(exchange_sim)
    return exchange_sim


def test_it_runs_the_test_and_shows_every_step(org, admin_client,
                                               django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:lightningsync_connection_test"),
                                     {"email": REP})
    run = ConnectionTestRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:lightningsync_connection_test_run",
                                           args=[run.pk])
    page = admin_client.get(response["Location"]).content.decode()
    assert "Connection test successful with warnings" in page
    assert 'http-equiv="refresh"' not in page  # finished: no more refreshing
    for _, title in connectiontest.STEPS:
        assert escape(title) in page
    assert "Salesforce_Sync is missing: it will be created at the first sync." in page
    assert run.requested_by is not None and run.requested_by.username == "admin-persona"


def test_starting_a_test_forgets_runs_older_than_thirty_days(admin_client):
    old = ConnectionTestRun.objects.create(email=REP)
    recent = ConnectionTestRun.objects.create(email=REP)
    ConnectionTestRun.objects.filter(pk=old.pk).update(
        started_at=timezone.now() - dt.timedelta(days=31))
    admin_client.post(reverse("admin:lightningsync_connection_test"), {"email": REP})
    kept = set(ConnectionTestRun.objects.values_list("pk", flat=True))
    assert old.pk not in kept and recent.pk in kept and len(kept) == 2


def test_a_running_test_refreshes_and_lists_the_steps_still_to_come(admin_client):
    run = ConnectionTestRun.objects.create(email=REP, steps=[
        {"key": "enabled", "title": "Lightning Sync enabled", "status": "pass",
         "detail": "Lightning Sync is enabled.", "suggestion": ""}])
    page = admin_client.get(reverse("admin:lightningsync_connection_test_run", args=[run.pk]))
    text = page.content.decode()
    assert '<meta http-equiv="refresh" content="1">' in text
    assert text.count('data-status="pending"') == len(connectiontest.STEPS) - 1
    data = admin_client.get(reverse("admin:lightningsync_connection_test_steps",
                                    args=[run.pk])).json()
    assert data["outcome"] == "running" and data["finished"] is False
    assert [s["status"] for s in data["steps"]][:2] == ["pass", "pending"]


def test_under_oauth_the_page_runs_and_lists_the_graph_steps(
        db, exchange_sim_graph, admin_client, django_capture_on_commit_callbacks):
    from tests.engine.ews_fixtures import point_setup_at_graph
    from tests.engine.graph_fixtures import grant_app_roles

    exchange_sim_graph.sim.add_mailbox(REP)
    grant_app_roles(exchange_sim_graph)
    point_setup_at_graph(exchange_sim_graph)
    pending = ConnectionTestRun.objects.create(email=REP)
    text = admin_client.get(reverse("admin:lightningsync_connection_test_run",
                                    args=[pending.pk])).content.decode()
    assert text.count('data-status="pending"') == len(connectiontest.GRAPH_STEPS)
    assert "Admin consent granted" in text and "Service account signed in" not in text
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:lightningsync_connection_test"),
                                     {"email": REP})
    page = admin_client.get(response["Location"]).content.decode()
    assert "Connection test successful with warnings" in page
    for _, title in connectiontest.GRAPH_STEPS:
        assert escape(title) in page


def test_a_failed_step_shows_its_suggestion(org, admin_client):
    run = ConnectionTestRun.objects.create(email="ghost@example.com")
    connectiontest.perform(run.pk)
    text = admin_client.get(reverse("admin:lightningsync_connection_test_run",
                                    args=[run.pk])).content.decode()
    assert "Connection test failed" in text
    assert "Exchange has no mailbox for ghost@example.com." in text
    assert "primary SMTP address of their Exchange mailbox" in text


def test_it_refuses_an_address_that_is_not_an_email(admin_client):
    response = admin_client.post(reverse("admin:lightningsync_connection_test"),
                                 {"email": "not an address"})
    assert response.status_code == 200
    assert "Enter a valid email address." in response.content.decode()
    assert not ConnectionTestRun.objects.exists()


def test_the_setup_page_has_the_test_form_for_editors_only(client, persona):
    client.force_login(persona("admin"))
    assert 'id="connection-test-form"' in client.get(
        reverse("admin:lightningsync_setup")).content.decode()
    client.force_login(persona("viewer"))
    assert 'id="connection-test-form"' not in client.get(
        reverse("admin:lightningsync_setup")).content.decode()


@pytest.mark.parametrize("persona_name", PERSONAS)
def test_only_customize_application_runs_or_reads_a_test(client, persona, persona_name,
                                                          django_capture_on_commit_callbacks):
    run = ConnectionTestRun.objects.create(email=REP)
    client.force_login(persona(persona_name))
    ok = persona_name == "admin"
    for url in (reverse("admin:lightningsync_connection_test_run", args=[run.pk]),
                reverse("admin:lightningsync_connection_test_steps", args=[run.pk])):
        assert client.get(url).status_code == (200 if ok else 403)
    if not ok:
        response = client.post(reverse("admin:lightningsync_connection_test"), {"email": REP})
        assert response.status_code == 403
        assert ConnectionTestRun.objects.count() == 1


def test_anonymous_visitors_are_sent_to_sign_in(client, db):
    run = ConnectionTestRun.objects.create(email=REP)
    for url in (reverse("admin:lightningsync_connection_test"),
                reverse("admin:lightningsync_connection_test_run", args=[run.pk]),
                reverse("admin:lightningsync_connection_test_steps", args=[run.pk])):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))
