"""HTTP entry points of the Microsoft cloud side: Graph (`/v1.0/...`) and the identity platform.

`process` turns one HTTP request below /v1.0 into a `Reply` for the server; `auth` serves
`/{tenant}/v2.0/.well-known/openid-configuration` and `/{tenant}/oauth2/v2.0/token`.
Importing this module registers every Graph route.
"""

from __future__ import annotations

import base64
import json
import re
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import graph_auth, graph_batch, graph_contacts, graph_delta, graph_events
from .graph import GraphRequest, GraphResponse, dispatch, finish, parse_request
from .graph_errors import JSON_TYPE, GraphError, dumps, retry_after_seconds

if TYPE_CHECKING:
    from .control import Simulator

ROUTE_MODULES = (graph_contacts, graph_delta, graph_events)
DISCOVERY = re.compile(r"^/([^/]+)/v2\.0/\.well-known/openid-configuration/?$", re.IGNORECASE)
TOKEN = re.compile(r"^/([^/]+)/oauth2/v2\.0/token/?$", re.IGNORECASE)


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    action: str = ""  # "", "reset"
    operation: str = ""
    mailbox: str | None = None


def is_graph(path: str) -> bool:
    return path == "/v1.0" or path.startswith("/v1.0/")


def is_auth(method: str, path: str) -> bool:
    return bool(
        (method == "GET" and DISCOVERY.match(path)) or (method == "POST" and TOKEN.match(path))
    )


def _reply(
    response: GraphResponse, req: GraphRequest, operation: str, mailbox: str | None
) -> Reply:
    status, headers, body = finish(response, req)
    return Reply(status, body, headers, "", operation, mailbox)


def process(sim: Simulator, method: str, target: str, headers: dict[str, str], raw: bytes) -> Reply:
    path = urllib.parse.urlsplit(target).path[len("/v1.0") :]
    try:
        req = parse_request(method, target[len("/v1.0") :] or "/", headers, raw)
    except GraphError as e:
        empty = GraphRequest(method, path, {}, {k.lower(): v for k, v in headers.items()})
        return _reply(GraphResponse(e.status, e, dict(e.headers)), empty, "graph:unknown", None)
    if req.path.rstrip("/").lower() == "/$batch":
        return _batch(sim, req)
    response, operation, mailbox = dispatch(sim, req)
    if response.status == 0:  # a delay or connection_reset rule
        if response.body["fault"] == "connection_reset":
            return Reply(action="reset", operation=operation, mailbox=mailbox)
        time.sleep(float(response.body["delay"]))
        response, operation, mailbox = dispatch(sim, req)
    return _reply(response, req, operation, mailbox)


def _batch(sim: Simulator, req: GraphRequest) -> Reply:
    operation = "graph:batch"
    try:
        if req.method != "POST":
            raise GraphError(
                405, "BadRequest", "Specified HTTP method is not allowed for the request target."
            )
        graph_auth.verify_bearer(
            sim.store.directory, req.headers.get("authorization"), sim.base_url
        )
        rule = sim.faults.take(operation, None)
        if rule is not None:
            if rule.kind == "connection_reset":
                return Reply(action="reset", operation=operation)
            if rule.kind == "delay":
                time.sleep(rule.delay)
            elif rule.kind in ("graph_throttled", "graph_unavailable"):
                status = 429 if rule.kind == "graph_throttled" else 503
                code = "TooManyRequests" if status == 429 else "serviceNotAvailable"
                raise GraphError(
                    status,
                    code,
                    "Please retry again later.",
                    {"Retry-After": retry_after_seconds(rule.back_off_ms)},
                )
        response = graph_batch.run(sim, req)
    except GraphError as e:
        response = GraphResponse(e.status, e, dict(e.headers))
    return _reply(response, req, operation, None)


def auth(sim: Simulator, method: str, target: str, headers: dict[str, str], raw: bytes) -> Reply:
    """The tenant's OIDC discovery document and its token endpoint."""
    path = urllib.parse.urlsplit(target).path
    directory = sim.store.directory
    found = DISCOVERY.match(path) if method == "GET" else TOKEN.match(path)
    assert found is not None
    tenant = urllib.parse.unquote(found.group(1))
    reply_headers = {"Content-Type": JSON_TYPE, "Cache-Control": "no-store, no-cache"}
    try:
        if method == "GET":
            operation, body = (
                "openid-configuration",
                graph_auth.discovery(sim.base_url, tenant, directory),
            )
        else:
            operation = "token"
            form = {k: v for k, v in urllib.parse.parse_qsl(raw.decode("utf-8", "replace"))}
            basic = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
            if basic.lower().startswith("basic ") and "client_secret" not in form:
                user, _, secret = base64.b64decode(basic[6:]).decode("utf-8").partition(":")
                form.setdefault("client_id", urllib.parse.unquote(user))
                form["client_secret"] = urllib.parse.unquote(secret)
            body = graph_auth.token(directory, sim.base_url, tenant, form, sim.token_lifetime)
        return Reply(200, dumps(body), reply_headers, "", operation, None)
    except graph_auth.TokenError as e:
        operation = "openid-configuration" if method == "GET" else "token"
        return Reply(
            e.status, json.dumps(e.body(sim.base_url)).encode(), reply_headers, "", operation, None
        )
