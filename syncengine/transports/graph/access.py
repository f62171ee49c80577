""""Verify and enable" for OAuth 2.0 (SPEC §2): a token, the permissions it carries, and one
read of a mailbox in the app's scope. Each step fails with what to fix."""

from __future__ import annotations

import urllib.parse

from ..connect import ConnectionSettings
from ..protocol import ErrorKind, TransportError
from .auth import token_roles
from .client import GraphClient
from .errors import CONSENT_FIX, NEEDED_ROLES


def check_access(settings: ConnectionSettings) -> list[str]:
    """Acquire a token and read `settings.mailbox`'s contact folders; returns the token's
    application permissions. Raises TransportError naming the step that failed."""
    client = GraphClient(settings)
    roles = token_roles(client.token())
    if not set(NEEDED_ROLES) & set(roles):
        raise TransportError(
            ErrorKind.CONFIGURATION,
            "A token was acquired, but admin consent is missing: it carries no permission to "
            f"mailboxes' contacts (application permissions: {', '.join(roles) or 'none'}). "
            f"{CONSENT_FIX}",
        )
    query = urllib.parse.urlencode({"$select": "id", "$top": "1"})
    answer = client.send("GET", f"{client.user}/contactFolders?{query}")
    if not answer.ok:
        raise client.error(answer)
    return roles
