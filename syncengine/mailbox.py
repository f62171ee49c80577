"""The connection settings of one mailbox under Setup as it is now: what the cycle and the
connection test hand a transport (transports read no model)."""

from __future__ import annotations

from django.conf import settings

from lightningsync.models import LightningSyncSetup

from .autodiscovery import ews_url_for
from .transports.connect import SERVICE_ACCOUNT, ConnectionSettings


def settings_for(setup: LightningSyncSetup, email: str, *, url: str | None = None,
                 method: str | None = None) -> ConnectionSettings:
    """The connection settings of the mailbox `email` (the EWS URL resolved unless given), under
    Setup's connection method or under `method`, to check a method before it is switched on."""
    method = method or setup.connection_method
    if url is None:
        url = ews_url_for(setup, email) if method == SERVICE_ACCOUNT else setup.ews_url
    return ConnectionSettings(
        method=method,
        mailbox=email,
        org_id=str(setup.org_id),
        url=url,
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
