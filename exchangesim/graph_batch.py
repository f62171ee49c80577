"""JSON batching: `POST /v1.0/$batch` with up to 20 requests.

Each request is dispatched exactly as it would be on its own (its own operation, counter,
faults, status and headers, e.g. 429 with Retry-After). A malformed batch (not JSON, more
than 20 requests, duplicate or missing ids, a write without a body and Content-Type, a
dependsOn naming no request) fails whole with 400. Requests run in order; one whose
dependency failed answers 424. Responses come back in an order of their own (sorted by a
checksum of the id), never the request order, so clients must match them by id.
"""

from __future__ import annotations

import json
import time
import zlib
from typing import TYPE_CHECKING, Any

from .graph import GraphRequest, GraphResponse, dispatch, finish, parse_request
from .graph_errors import GraphError, bad_request

if TYPE_CHECKING:
    from .control import Simulator

MAX_REQUESTS = 20
WRITES = ("POST", "PATCH", "PUT")


def _validated(body: Any) -> list[dict[str, Any]]:
    requests = body.get("requests") if isinstance(body, dict) else None
    if not isinstance(requests, list) or not requests:
        raise bad_request("Invalid batch payload format: a non-empty 'requests' array is expected.")
    if len(requests) > MAX_REQUESTS:
        raise bad_request(
            f"The batch holds {len(requests)} requests; at most {MAX_REQUESTS} are allowed."
        )
    seen: set[str] = set()
    for r in requests:
        if not isinstance(r, dict) or not all(
            isinstance(r.get(k), str) and r.get(k) for k in ("id", "method", "url")
        ):
            raise bad_request("Each batch request needs an 'id', a 'method' and a 'url'.")
        key = r["id"].lower()
        if key in seen:
            raise bad_request(f"Batch request id '{r['id']}' is used more than once.")
        for dep in r.get("dependsOn") or []:
            if not isinstance(dep, str) or dep.lower() not in seen:
                raise bad_request(
                    f"Batch request '{r['id']}' depends on '{dep}', which is not an earlier "
                    "request of the batch."
                )
        seen.add(key)
        headers = {k.lower(): v for k, v in (r.get("headers") or {}).items()}
        if r["method"].upper() in WRITES and ("body" not in r or "content-type" not in headers):
            raise bad_request(
                f"Write request id : {r['id']} does not contain Content-Type header or body."
            )
        if r["url"].lower().startswith(("http://", "https://")):
            raise bad_request(f"Batch request '{r['id']}' must use a relative url.")
    return requests


def run(sim: Simulator, outer: GraphRequest) -> GraphResponse:
    requests = _validated(outer.body)
    statuses: dict[str, int] = {}
    responses: list[dict[str, Any]] = []
    for r in requests:
        failed = [d for d in r.get("dependsOn") or [] if statuses.get(d.lower(), 200) >= 400]
        if failed:
            err = GraphError(
                424,
                "FailedDependency",
                f"The request depends on request '{failed[0]}', which failed.",
            )
            response, operation, mailbox = GraphResponse(424, err), "graph:batchDependency", None
        else:
            response, operation, mailbox = _one(sim, outer, r)
        statuses[r["id"].lower()] = response.status
        status, headers, raw = finish(response, outer)
        entry: dict[str, Any] = {"id": r["id"], "status": status, "headers": headers}
        if raw:
            entry["body"] = json.loads(raw)
        responses.append(entry)
        if operation != "graph:batchDependency":
            sim.counters.hit(operation, mailbox)
    responses.sort(key=lambda e: zlib.crc32(e["id"].encode("utf-8")))
    return GraphResponse(200, {"responses": responses})


def _one(
    sim: Simulator, outer: GraphRequest, r: dict[str, Any]
) -> tuple[GraphResponse, str, str | None]:
    headers = {"authorization": outer.headers.get("authorization", "")}
    headers.update({k.lower(): str(v) for k, v in (r.get("headers") or {}).items()})
    url = r["url"] if r["url"].startswith("/") else "/" + r["url"]
    body = r.get("body")
    try:
        if body is not None and not isinstance(body, dict):
            raise bad_request("exchangesim takes JSON object bodies in batch requests.")
        req = parse_request(r["method"], url, headers, b"")
        req.body = body
    except GraphError as e:
        return GraphResponse(e.status, e, dict(e.headers)), "graph:unknown", None
    response, operation, mailbox = dispatch(sim, req)
    if response.status == 0:  # a delay fault: wait here, inside the batch
        time.sleep(float(response.body.get("delay", 0.0)))
        response, operation, mailbox = dispatch(sim, req)
    return response, operation, mailbox
