"""Microsoft Graph error answers: the status, the OData error body and its headers.

Graph wraps every failure as `{"error": {"code", "message", "innerError": {"date",
"request-id", "client-request-id"}}}`. Outlook-backed resources (contacts, events) answer
with Exchange's own codes (ErrorItemNotFound, ErrorInvalidIdMalformed, ErrorAccessDenied,
...), so the same names as the EWS side appear here.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from typing import Any

JSON_TYPE = "application/json; charset=utf-8"
ODATA_TYPE = (
    "application/json;odata.metadata=minimal;odata.streaming=true;"
    "IEEE754Compatible=false;charset=utf-8"
)
ACCESS_DENIED = "Access is denied. Check credentials and try again."
NOT_FOUND = "The specified object was not found in the store."
MALFORMED_ID = "Id is malformed."
# Graph answers 401 with this challenge, naming the Graph resource's app id.
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"


class GraphError(Exception):
    """One failed Graph request: HTTP status, OData error code and message, extra headers."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
        inner: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(status, code, message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        self.inner = dict(inner or {})


def now_stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def error_body(err: GraphError, request_id: str, client_request_id: str) -> dict[str, Any]:
    inner = {**err.inner, "date": now_stamp(), "request-id": request_id}
    inner["client-request-id"] = client_request_id
    return {"error": {"code": err.code, "message": err.message, "innerError": inner}}


def new_request_id() -> str:
    return str(uuid.uuid4())


def dumps(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def retry_after_seconds(back_off_ms: int) -> str:
    """Retry-After in whole seconds, at least 1 (Graph never sends a zero wait)."""
    return str(max(1, math.ceil(back_off_ms / 1000)))


def not_found() -> GraphError:
    return GraphError(404, "ErrorItemNotFound", NOT_FOUND)


def malformed_id() -> GraphError:
    return GraphError(400, "ErrorInvalidIdMalformed", MALFORMED_ID)


def access_denied() -> GraphError:
    return GraphError(403, "ErrorAccessDenied", ACCESS_DENIED)


def bad_request(message: str, code: str = "BadRequest") -> GraphError:
    return GraphError(400, code, message)


def unknown_property(name: str, type_name: str) -> GraphError:
    return GraphError(
        400,
        "RequestBodyRead",
        f"The property '{name}' does not exist on type 'microsoft.graph.{type_name}'. "
        "Make sure to only use property names that are defined by the type or mark the "
        "type as open type.",
    )


def invalid_value(name: str, type_name: str, why: str) -> GraphError:
    return GraphError(
        400,
        "RequestBodyRead",
        f"Cannot convert the value of property '{name}' of type 'microsoft.graph.{type_name}': "
        f"{why}",
    )


def unsupported_query(resource: str, options: list[str]) -> GraphError:
    return GraphError(
        400,
        "ErrorInvalidUrlQuery",
        f"The following parameters are not supported with change tracking over the "
        f"'{resource}' resource: '{', '.join(options)}'.",
    )
