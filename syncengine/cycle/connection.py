"""How the cycle reaches a user's mailbox: Setup and the user read here, once per cycle, and
handed to the transport as plain `ConnectionSettings` (transports read no model)."""

from __future__ import annotations

from django.conf import settings

from lightningsync.models import LightningSyncSetup, User

from ..transports.connect import ConnectionSettings
from ..transports.protocol import ErrorKind, TransportError


def connection_settings(setup: LightningSyncSetup, user: User) -> ConnectionSettings:
    """The settings of `user`'s mailbox under Setup as it is now."""
    if not user.email:
        raise TransportError(
            ErrorKind.CONFIGURATION, f"User {user.username} has no email address."
        )
    return settings_for_mailbox(setup, user.email)


def settings_for_mailbox(
    setup: LightningSyncSetup, mailbox: str, *, method: str | None = None
) -> ConnectionSettings:
    """The settings of `mailbox` under Setup (under `method` instead of Setup's, to check a
    method before it is switched on)."""
    method = method or setup.connection_method
    return ConnectionSettings(
        method=method,
        mailbox=mailbox,
        org_id=str(setup.org_id),
        url=setup.ews_url,
        username=setup.service_account_username,
        password=setup.service_account_password(),
        auth_type=setup.auth_type,
        ca_bundle=setup.ca_bundle,
        timeout_seconds=settings.LIGHTNINGSYNC_EWS_TIMEOUT_SECONDS,
        max_connections=settings.LIGHTNINGSYNC_EWS_MAX_CONNECTIONS,
        read_concurrency=settings.LIGHTNINGSYNC_EWS_READ_CONCURRENCY,
        **(_oauth(setup) if method == LightningSyncSetup.ConnectionMethod.OAUTH2 else {}),
    )


def _oauth(setup: LightningSyncSetup) -> dict[str, str]:
    """The OAuth 2.0 settings (decrypted only under that method)."""
    return {
        "tenant_id": setup.oauth_tenant_id,
        "client_id": setup.oauth_client_id,
        "client_secret": setup.oauth_client_secret(),
        "certificate": setup.oauth_certificate(),
        "graph_url": setup.graph_url,
        "authority_url": setup.authority_url,
    }
