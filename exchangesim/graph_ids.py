"""Graph ids are the store's EWS ids in their REST form.

Exchange Online gives an item one identity on both protocols: the REST (Graph) id is the
EWS id with '/' written '-' and '+' written '_' (what Graph's translateExchangeIds converts
between `ewsId` and `restId`). Change keys are the same string on both sides, and Graph's
`@odata.etag` is `W/"{changeKey}"`. A user is named by SMTP address (userPrincipalName)
or by a stable object id derived from the mailbox.
"""

from __future__ import annotations

import uuid

from . import ids
from .graph_errors import GraphError, malformed_id
from .store import Mailbox


def rest_id(ews_id: str) -> str:
    return ews_id.replace("/", "-").replace("+", "_")


def ews_id(graph_id: str) -> str:
    return graph_id.replace("-", "/").replace("_", "+")


def parse(graph_id: str) -> tuple[str, int, bytes]:
    """(EWS id, kind, mailbox uid) of a Graph id; a malformed one answers 400."""
    value = ews_id(graph_id)
    try:
        kind, mbx_uid, _uid, _extra = ids.parse_id(value)
    except ids.MalformedId:
        raise malformed_id() from None
    return value, kind, mbx_uid


def etag(change_key: str) -> str:
    return f'W/"{change_key}"'


def user_object_id(mbx: Mailbox) -> str:
    """The Entra object id of the mailbox's user: stable, derived from the mailbox."""
    return str(uuid.UUID(bytes=mbx.uid))


def invalid_user(user: str) -> GraphError:
    return GraphError(404, "ErrorInvalidUser", f"The requested user '{user}' is invalid.")
