"""JSON batching: limits, per-request statuses and headers, order, dependsOn."""

from __future__ import annotations

from .conftest import ALICE, BOB


def batch(graph, requests):
    return graph.post("/$batch", {"requests": requests})


def create(i: int, folder: str, given: str | None = None) -> dict:
    return {
        "id": str(i),
        "method": "POST",
        "url": f"/users/{ALICE}/contactFolders/{folder}/contacts",
        "body": {"givenName": given or f"C{i}"},
        "headers": {"Content-Type": "application/json"},
    }


def test_batch_answers_each_request_with_its_own_status(graph, graph_sim):
    folder = graph_sim.sim.graph_id(graph_sim.sim.create_folder(ALICE, "Salesforce_Sync"))
    requests = [create(i, folder) for i in range(1, 19)]
    requests.append({"id": "19", "method": "GET", "url": f"/users/{ALICE}/contacts/AAMkAA=="})
    requests.append({"id": "20", "method": "GET", "url": f"users/{BOB}/contactFolders"})
    r = batch(graph, requests)
    assert r.status_code == 200
    responses = r.json()["responses"]
    assert sorted(int(x["id"]) for x in responses) == list(range(1, 21))
    assert [x["id"] for x in responses] != [q["id"] for q in requests]  # any order
    by_id = {x["id"]: x for x in responses}
    assert {by_id[str(i)]["status"] for i in range(1, 19)} == {201}
    assert by_id["1"]["body"]["givenName"] == "C1"
    assert by_id["1"]["headers"]["Content-Type"].startswith("application/json")
    assert by_id["19"]["status"] == 400
    assert by_id["19"]["body"]["error"]["code"] == "ErrorInvalidIdMalformed"
    assert (by_id["20"]["status"], by_id["20"]["body"]["value"]) == (200, [])
    names = sorted(i["GivenName"] for i in graph_sim.sim.items(ALICE, "contacts/Salesforce_Sync"))
    assert names == sorted(f"C{i}" for i in range(1, 19))
    counts = graph_sim.sim.counts()
    assert counts["graph:batch"] == {"": 1}
    assert counts["graph:createContact"] == {ALICE: 18}


def test_malformed_batches_fail_whole(graph, graph_sim):
    folder = graph_sim.sim.graph_id(graph_sim.sim.create_folder(ALICE, "Salesforce_Sync"))
    too_many = batch(graph, [create(i, folder) for i in range(21)])
    assert too_many.status_code == 400
    assert too_many.json()["error"]["code"] == "BadRequest"
    assert "at most 20" in too_many.json()["error"]["message"]

    no_type = create(1, folder)
    del no_type["headers"]
    missing = batch(graph, [no_type])
    assert missing.status_code == 400
    assert missing.json()["error"]["message"] == (
        "Write request id : 1 does not contain Content-Type header or body."
    )
    twice = batch(graph, [create(1, folder), create(1, folder)])
    assert twice.status_code == 400
    unknown_dependency = batch(graph, [{**create(1, folder), "dependsOn": ["9"]}])
    assert unknown_dependency.status_code == 400
    assert graph.post("/$batch", {"nothing": []}).status_code == 400
    assert graph_sim.sim.items(ALICE, "contacts/Salesforce_Sync") == []  # nothing ran


def test_depends_on_runs_in_order_and_a_failed_dependency_is_424(graph, graph_sim):
    folder = graph_sim.sim.graph_id(graph_sim.sim.create_folder(ALICE, "Salesforce_Sync"))
    first = create(1, folder)
    bad = {**create(2, folder), "body": {"givenName": "X", "noSuchProperty": 1}, "dependsOn": ["1"]}
    after_bad = {**create(3, folder), "dependsOn": ["2"]}
    responses = {x["id"]: x for x in batch(graph, [first, bad, after_bad]).json()["responses"]}
    assert [responses[i]["status"] for i in ("1", "2", "3")] == [201, 400, 424]
    assert responses["3"]["body"]["error"]["code"] == "FailedDependency"
    names = [i["GivenName"] for i in graph_sim.sim.items(ALICE, "contacts/Salesforce_Sync")]
    assert names == ["C1"]


def test_a_throttled_request_in_a_batch_gets_429_with_retry_after(graph, graph_sim):
    folder = graph_sim.sim.graph_id(graph_sim.sim.create_folder(ALICE, "Salesforce_Sync"))
    graph_sim.sim.add_fault(
        "graph_throttled", operation="graph:createContact", mailbox=ALICE, back_off_ms=2500
    )
    responses = {
        x["id"]: x for x in batch(graph, [create(i, folder) for i in (1, 2)]).json()["responses"]
    }
    assert [responses[i]["status"] for i in ("1", "2")] == [429, 201]
    assert responses["1"]["headers"]["Retry-After"] == "3"
    assert responses["1"]["body"]["error"]["code"] == "ApplicationThrottled"
    names = [i["GivenName"] for i in graph_sim.sim.items(ALICE, "contacts/Salesforce_Sync")]
    assert names == ["C2"]


def test_a_batch_needs_a_token_and_may_itself_be_throttled(graph, graph_sim):
    unauthenticated = graph_sim.session().post(
        f"{graph_sim.graph_url}/$batch", json={"requests": []}, timeout=5
    )
    assert unauthenticated.status_code == 401
    graph_sim.sim.add_fault("graph_throttled", operation="graph:batch", back_off_ms=1000)
    throttled = batch(graph, [{"id": "1", "method": "GET", "url": f"/users/{ALICE}/calendar"}])
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "1"
