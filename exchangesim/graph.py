"""The Microsoft Graph v1.0 endpoint: routing, bearer auth, permissions, faults, dispatch.

Every request (and every request inside a `$batch`) goes through `dispatch`: the route
names an operation (`graph:getContact`, ...) and the permission it needs; the token is
checked (401), fault rules are consulted, the user segment is resolved (404
ErrorInvalidUser), the token's roles and the app's RBAC for Applications scope are checked
(403 ErrorAccessDenied), and the handler runs under the store lock. Handlers raise
GraphError for refusals; the answer is always Graph's OData error body.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import graph_auth
from .graph_errors import (
    JSON_TYPE,
    ODATA_TYPE,
    GraphError,
    access_denied,
    bad_request,
    dumps,
    error_body,
    new_request_id,
    retry_after_seconds,
    unsupported_query,
)
from .graph_ids import invalid_user, user_object_id
from .store import FolderRefused, Mailbox, SimError

if TYPE_CHECKING:
    from .control import Simulator

READ_ROLES = {
    "contacts": {"Contacts.Read", "Contacts.ReadWrite"},
    "calendar": {"Calendars.Read", "Calendars.ReadWrite", "Calendars.ReadBasic.All"},
}
WRITE_ROLES = {"contacts": {"Contacts.ReadWrite"}, "calendar": {"Calendars.ReadWrite"}}
DELTA_OPERATIONS = {"graph:contactsDelta", "graph:calendarViewDelta"}
STATUS_OF = {
    "ErrorItemNotFound": 404,
    "ErrorFolderNotFound": 404,
    "ErrorFolderExists": 409,
    "ErrorNonExistentMailbox": 404,
    "ErrorQuotaExceeded": 507,  # Insufficient Storage: "the maximum storage quota"
}


@dataclass
class GraphRequest:
    method: str
    path: str  # below /v1.0, without the query, e.g. "/users/a@b.c/contactFolders"
    query: dict[str, str]  # keys lower-cased
    headers: dict[str, str]  # keys lower-cased
    body: Any = None  # parsed JSON, or None

    def prefer(self) -> dict[str, str]:
        """Prefer header preferences: {'odata.maxpagesize': '2', 'outlook.timezone': 'UTC'}."""
        out: dict[str, str] = {}
        for part in self.headers.get("prefer", "").split(","):
            name, _, value = part.strip().partition("=")
            if name:
                out[name.strip().lower()] = value.strip().strip('"')
        return out


@dataclass
class GraphResponse:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Ctx:
    """What a handler sees: the simulator, the mailbox, the request and its route values."""

    sim: Simulator
    mbx: Mailbox
    user: str  # the user segment as the client wrote it
    req: GraphRequest
    args: dict[str, str]

    @property
    def root(self) -> str:
        return f"{self.sim.base_url}/v1.0"

    def context(self, tail: str) -> str:
        return f"{self.root}/$metadata#users('{urllib.parse.quote(self.user)}'){tail}"


Handler = Callable[[Ctx], GraphResponse]


@dataclass
class Route:
    method: str
    segments: tuple[str, ...]
    operation: str
    resource: str  # "contacts" | "calendar"
    write: bool
    handler: Handler


ROUTES: list[Route] = []


def route(
    method: str, pattern: str, operation: str, resource: str, write: bool = False
) -> Callable[[Handler], Handler]:
    """Register a handler for `users/{user}/...` paths (segment literals match without case)."""

    def register(fn: Handler) -> Handler:
        ROUTES.append(Route(method, tuple(pattern.split("/")), operation, resource, write, fn))
        return fn

    return register


def _match(segments: list[str]) -> tuple[list[Route], dict[str, str]]:
    """Routes whose path matches (any method) and the placeholder values."""
    found: list[Route] = []
    args: dict[str, str] = {}
    for r in ROUTES:
        if len(r.segments) != len(segments):
            continue
        values: dict[str, str] = {}
        for pat, seg in zip(r.segments, segments, strict=True):
            if pat.startswith("{"):
                if seg.lower() in ("delta", "microsoft.graph.delta()"):
                    break
                values[pat[1:-1]] = seg
            elif pat.lower() != seg.lower() and not (
                pat == "delta" and seg.lower() == "microsoft.graph.delta()"
            ):
                break
        else:
            found.append(r)
            args = values
    return found, args


def _prefix_matches(pattern: tuple[str, ...], segments: list[str]) -> bool:
    if len(segments) > len(pattern):
        return False
    pairs = zip(pattern[: len(segments)], segments, strict=True)
    return all(p.startswith("{") or p.lower() == s.lower() for p, s in pairs)


def _find_route(req: GraphRequest) -> tuple[Route, dict[str, str]]:
    segments = [urllib.parse.unquote(s) for s in req.path.strip("/").split("/") if s]
    if segments and segments[0].lower() == "me":
        raise bad_request("/me request is only valid with delegated authentication flow.")
    candidates, args = _match(segments)
    if not candidates:
        unknown = segments[-1] if segments else ""
        for i in range(1, len(segments) + 1):
            if not any(_prefix_matches(r.segments, segments[:i]) for r in ROUTES):
                unknown = segments[i - 1]
                break
        raise bad_request(f"Resource not found for the segment '{unknown}'.")
    for r in candidates:
        if r.method == req.method:
            return r, args
    raise GraphError(
        405, "BadRequest", "Specified HTTP method is not allowed for the request target."
    )


def resolve_user(sim: Simulator, user: str) -> Mailbox:
    with sim.store.lock:
        found = sim.store.mailboxes.get(user.lower())
        if found is not None:
            return found
        for mbx in sim.store.mailboxes.values():
            if user_object_id(mbx) == user.lower():
                return mbx
    raise invalid_user(user)


def _fault(sim: Simulator, operation: str, smtp: str, req: GraphRequest) -> GraphResponse | None:
    resumed = "$skiptoken" in req.query or "$deltatoken" in req.query
    rule = sim.faults.take(operation, smtp, resumed=resumed)
    if rule is None:
        return None
    if rule.kind == "graph_throttled":
        raise GraphError(
            429,
            "ApplicationThrottled",
            "Application is over its MailboxConcurrency limit.",
            {"Retry-After": retry_after_seconds(rule.back_off_ms)},
        )
    if rule.kind == "graph_unavailable":
        raise GraphError(
            503,
            "serviceNotAvailable",
            "The service is temporarily unavailable. Try again after the time in Retry-After.",
            {"Retry-After": retry_after_seconds(rule.back_off_ms)},
        )
    if rule.kind == "graph_sync_reset":
        from .graph_delta import reset_location  # graph_delta registers routes from here

        raise GraphError(
            410,
            "resyncRequired",
            "The delta token is no longer valid; synchronize the collection again from the "
            "Location given.",
            {"Location": reset_location(sim, req)},
        )
    if rule.kind == "graph_unauthorized":
        raise graph_auth.invalid_token(
            sim.base_url, "Access token has expired or is not yet valid."
        )
    if rule.kind == "graph_forbidden":
        raise access_denied()
    # delay and connection_reset are acted on by the HTTP layer
    return GraphResponse(0, {"fault": rule.kind, "delay": rule.delay})


def dispatch(sim: Simulator, req: GraphRequest) -> tuple[GraphResponse, str, str | None]:
    """One Graph request -> (response, operation, mailbox), errors as Graph's bodies."""
    operation, smtp = "graph:unknown", None
    try:
        r, args = _find_route(req)
        operation = r.operation
        claims = graph_auth.verify_bearer(
            sim.store.directory, req.headers.get("authorization"), sim.base_url
        )
        user = args.get("user", "")
        with sim.store.lock:
            mbx_found = sim.store.mailboxes.get(user.lower())
            smtp = mbx_found.smtp if mbx_found else user
        faulted = _fault(sim, operation, smtp or "", req)
        if faulted is not None:
            return faulted, operation, smtp
        roles = set(claims.get("roles") or [])
        if not roles & (WRITE_ROLES if r.write else READ_ROLES)[r.resource]:
            raise access_denied()
        mbx = resolve_user(sim, user)
        smtp = mbx.smtp
        app = sim.store.directory.app(str(claims.get("appid", "")))
        if app is not None and not app.may_reach(mbx.smtp):
            raise access_denied()
        with sim.store.lock:
            response = r.handler(Ctx(sim, mbx, user, req, args))
    except GraphError as e:
        response = GraphResponse(e.status, e, dict(e.headers))
    except FolderRefused as e:
        response = GraphResponse(e.graph_status, GraphError(e.graph_status, e.graph_code,
                                                            e.graph_text))
    except SimError as e:
        status = STATUS_OF.get(e.code, 400)
        err = GraphError(status, e.code, e.text)
        response = GraphResponse(status, err)
    return response, operation, smtp


def finish(response: GraphResponse, req: GraphRequest) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body bytes of a response, with request ids and the error body."""
    request_id = new_request_id()
    client_id = req.headers.get("client-request-id") or request_id
    headers = {
        "Cache-Control": "private",
        "request-id": request_id,
        "client-request-id": client_id,
        **response.headers,
    }
    body = response.body
    if isinstance(body, GraphError):
        headers["Content-Type"] = JSON_TYPE
        return response.status, headers, dumps(error_body(body, request_id, client_id))
    if body is None:
        return response.status, headers, b""
    headers.setdefault("Content-Type", ODATA_TYPE)
    headers.setdefault("OData-Version", "4.0")
    return response.status, headers, dumps(body)


def parse_request(method: str, target: str, headers: dict[str, str], raw: bytes) -> GraphRequest:
    """An HTTP request below /v1.0 -> GraphRequest; an unreadable JSON body answers 400."""
    parts = urllib.parse.urlsplit(target)
    query = {k.lower(): v for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)}
    lower = {k.lower(): v for k, v in headers.items()}
    body = None
    if raw.strip():
        if "json" not in lower.get("content-type", "").lower():
            raise _unreadable()
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise _unreadable() from None
    return GraphRequest(method.upper(), parts.path, query, lower, body)


def _unreadable() -> GraphError:
    return bad_request(
        "Unable to read JSON request payload. Please ensure Content-Type header is set and "
        "payload is of valid JSON format."
    )


def body_object(req: GraphRequest) -> dict[str, Any]:
    if not isinstance(req.body, dict):
        raise bad_request("A JSON object is expected in the request body.", "RequestBodyRead")
    return req.body


def page_size(req: GraphRequest, default: int = 10, most: int = 1000) -> int:
    raw = req.prefer().get("odata.maxpagesize")
    if raw is None:
        return default
    try:
        return max(1, min(int(raw), most))
    except ValueError:
        return default


def top_skip(req: GraphRequest, default: int = 10) -> tuple[int, int]:
    try:
        top = int(req.query.get("$top", default))
        skip = int(req.query.get("$skip", 0))
    except ValueError:
        raise bad_request("$top and $skip take whole numbers.", "ErrorInvalidUrlQuery") from None
    if top < 1 or skip < 0:
        raise bad_request("$top must be positive and $skip not negative.", "ErrorInvalidUrlQuery")
    return min(top, 1000), skip


def select_list(req: GraphRequest) -> list[str] | None:
    raw = req.query.get("$select")
    if raw is None:
        return None
    return [s.strip() for s in raw.split(",") if s.strip()]


_DISPLAY_NAME_EQ = re.compile(r"^\s*displayName\s+eq\s+'((?:[^']|'')*)'\s*$", re.IGNORECASE)


def display_name_filter(req: GraphRequest) -> str | None:
    raw = req.query.get("$filter")
    if raw is None:
        return None
    m = _DISPLAY_NAME_EQ.match(raw)
    if m is None:
        raise GraphError(
            400,
            "ErrorInvalidUrlQueryFilter",
            f"exchangesim filters contact folders by displayName eq '...' only, not '{raw}'.",
        )
    return m.group(1).replace("''", "'")


def refuse_options(req: GraphRequest, options: tuple[str, ...], resource: str) -> None:
    present = [o for o in options if o in req.query]
    if present:
        raise unsupported_query(resource, present)


def next_link(ctx: Ctx, **params: str) -> str:
    query = urllib.parse.urlencode(params, safe="$")
    return f"{ctx.root}{ctx.req.path}?{query}"


def collection(ctx: Ctx, context_tail: str, values: list[Any], more: str | None) -> GraphResponse:
    body: dict[str, Any] = {"@odata.context": ctx.context(context_tail), "value": values}
    if more:
        body["@odata.nextLink"] = more
    return GraphResponse(200, body)


def selected(data: dict[str, Any], select: list[str] | None) -> dict[str, Any]:
    """Only the $select-ed properties (plus the etag and id Graph always returns)."""
    if not select:
        return data
    keep = {"@odata.etag", "id", *select}
    return {k: v for k, v in data.items() if k in keep}


def check_select(select: list[str] | None, properties: frozenset[str], type_name: str) -> None:
    for name in select or []:
        if name not in properties:
            raise GraphError(
                400,
                "RequestBroker--ParseUri",
                f"Could not find a property named '{name}' on type 'microsoft.graph.{type_name}'.",
            )
