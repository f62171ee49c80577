"""Graph faults and counters through the control API; RBAC for Applications scope refusals."""

from __future__ import annotations

import pytest
import requests

from exchangesim.pytest_plugin import GRAPH_CLIENT_ID

from .conftest import ALICE, BOB, GraphClient


def test_throttling_outage_auth_and_access_faults(graph, graph_sim):
    sim = graph_sim.sim
    url = f"/users/{ALICE}/contactFolders"
    sim.add_fault("graph_throttled", operation="graph:listContactFolders", back_off_ms=30000)
    throttled = graph.get(url)
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "30"
    assert throttled.json()["error"]["code"] == "ApplicationThrottled"
    assert throttled.json()["error"]["message"] == (
        "Application is over its MailboxConcurrency limit."
    )

    sim.add_fault("graph_unavailable", mailbox=ALICE, back_off_ms=5000)
    unavailable = graph.get(url)
    assert (unavailable.status_code, unavailable.headers["Retry-After"]) == (503, "5")
    assert unavailable.json()["error"]["code"] == "serviceNotAvailable"

    sim.add_fault("graph_unauthorized")
    unauthorized = graph.get(url)
    assert unauthorized.status_code == 401
    assert unauthorized.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert unauthorized.headers["WWW-Authenticate"].startswith("Bearer ")

    sim.add_fault("graph_forbidden", mailbox=ALICE)
    assert graph.get(f"/users/{BOB}/contactFolders").status_code == 200  # other mailbox
    forbidden = graph.get(url)
    assert (forbidden.status_code, forbidden.json()["error"]["code"]) == (403, "ErrorAccessDenied")

    # rules are used up; EWS kinds never hit Graph requests
    sim.add_fault("server_busy")
    assert graph.get(url).status_code == 200
    assert sim.counts()["graph:listContactFolders"] == {ALICE: 5, BOB: 1}
    sim.clear_faults()


def test_sync_reset_hits_only_a_delta_request_that_carries_a_token(graph, graph_sim):
    folder = graph_sim.sim.graph_id(graph_sim.sim.create_folder(ALICE, "Salesforce_Sync"))
    url = f"/users/{ALICE}/contactFolders/{folder}/contacts/delta"
    graph_sim.sim.add_fault("graph_sync_reset")
    initial = graph.get(url)
    assert initial.status_code == 200
    reset = graph.get(initial.json()["@odata.deltaLink"])
    assert reset.status_code == 410
    assert reset.headers["Location"].endswith("/contacts/delta?$deltatoken=")


def test_delay_and_connection_reset_apply_to_graph(graph, graph_sim):
    graph_sim.sim.add_fault("connection_reset", operation="graph:getCalendar")
    with pytest.raises(requests.ConnectionError):
        graph.get(f"/users/{ALICE}/calendar")
    graph_sim.sim.add_fault("delay", operation="graph:getCalendar", delay=2.0)
    with pytest.raises(requests.Timeout):
        graph.session.get(
            f"{graph.base}/users/{ALICE}/calendar",
            headers={"Authorization": f"Bearer {graph.token}"},
            timeout=0.3,
        )


def test_mailboxes_outside_the_apps_scope_answer_access_denied(graph_sim):
    graph_sim.sim.set_app_scope(GRAPH_CLIENT_ID, [ALICE])
    graph = GraphClient(graph_sim, graph_sim.token())
    assert graph.get(f"/users/{ALICE}/contactFolders").status_code == 200
    for path in (f"/users/{BOB}/contactFolders", f"/users/{BOB}/calendar"):
        r = graph.get(path)
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "ErrorAccessDenied"
        assert r.json()["error"]["message"] == "Access is denied. Check credentials and try again."
    # widening the scope takes effect without a new token, as Exchange checks it per request
    graph_sim.sim.set_app_scope(GRAPH_CLIENT_ID, None)
    assert graph.get(f"/users/{BOB}/contactFolders").status_code == 200


def test_control_api_registers_apps_over_http(graph_sim):
    base = graph_sim.base_url
    session = graph_sim.session()
    r = session.post(
        f"{base}/_sim/add_app",
        json={"client_id": "aaaa-1", "secret": "pw", "consent": False, "scope": [ALICE]},
        timeout=5,
    )
    assert r.json()["result"] == {
        "client_id": "aaaa-1",
        "has_secret": True,
        "has_certificate": False,
        "consent": False,
        "roles": ["Contacts.ReadWrite", "Calendars.Read"],
        "scope": [ALICE],
    }
    bad = session.post(
        f"{base}/_sim/set_app_roles",
        json={"client_id": "aaaa-1", "roles": ["Mail.Send"]},
        timeout=5,
    )
    assert bad.status_code == 400 and "Unknown application permission" in bad.json()["message"]
    user = session.get(f"{base}/_sim/user_id", params={"mailbox": ALICE}, timeout=5).json()
    assert user["result"] == graph_sim.sim.user_id(ALICE)


def test_a_refused_folder_answers_as_exchange_online_until_allowed(graph, graph_sim):
    """`refuse_folder` over the control API: Graph answers 404 ErrorItemNotFound or 403
    ErrorAccessDenied for the folder (and what lies in it), the rest of the mailbox answers."""
    r = requests.post(f"{graph_sim.base_url}/_sim/refuse_folder", json={
        "mailbox": ALICE, "folder": "calendar", "refusal": "not_found"},
        verify=graph_sim.ca_pem, timeout=5)
    assert r.status_code == 200, r.text
    gone = graph.get(f"/users/{ALICE}/calendar")
    assert (gone.status_code, gone.json()["error"]["code"]) == (404, "ErrorItemNotFound")
    assert graph.get(f"/users/{ALICE}/calendar/events").status_code == 404
    assert graph.get(f"/users/{ALICE}/contactFolders").status_code == 200
    assert graph.get(f"/users/{BOB}/calendar").status_code == 200
    graph_sim.sim.refuse_folder(ALICE, "contacts", "access_denied")
    denied = graph.get(f"/users/{ALICE}/contactFolders")
    assert (denied.status_code, denied.json()["error"]["code"]) == (403, "ErrorAccessDenied")
    graph_sim.sim.refuse_folder(ALICE, "calendar", None)
    assert graph.get(f"/users/{ALICE}/calendar").status_code == 200
    with pytest.raises(ValueError, match="not a distinguished folder"):
        graph_sim.sim.refuse_folder(ALICE, "Salesforce_Sync", "not_found")
