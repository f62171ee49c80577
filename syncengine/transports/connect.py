"""Which transport reaches a mailbox: a registry keyed by Setup's connection method, and the
plain settings a transport is opened with.

The cycle reads Setup and the user and hands the transport a `ConnectionSettings`: a
transport never reads a model, so that it can be built, cached and tested from values alone.
Backends register themselves (`register("service_account", factory)`) when their module is
imported; the built-in ones are imported on first use, so the engine does not import
exchangelib or msal before it needs them. Tests pass their own factory to the runner.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field

from .protocol import ErrorKind, MailboxTransport, TransportError

# Setup's connection methods (`LightningSyncSetup.ConnectionMethod`), as plain values.
SERVICE_ACCOUNT = "service_account"
OAUTH2 = "oauth2"


@dataclass(frozen=True)
class ConnectionSettings:
    """Everything a transport needs to open one user's mailbox, as Setup holds it now.

    Two settings that compare equal reach the same mailbox the same way: a transport may
    share connections between equal settings, never between different ones.
    """

    method: str  # SERVICE_ACCOUNT or OAUTH2
    mailbox: str  # the user's primary SMTP address
    org_id: str  # stamped on every item the engine writes (SPEC §8)
    url: str  # the EWS URL ("" when Setup has none)
    username: str
    password: str = field(repr=False)
    auth_type: str  # "basic" or "ntlm"
    ca_bundle: str = field(repr=False)  # PEM certificates trusted for the server; "" = system
    timeout_seconds: float  # one request to Exchange
    max_connections: int  # HTTP connections per server and worker
    read_concurrency: int  # reads of one mailbox in flight
    # OAuth 2.0 (Microsoft Graph, app-only); empty under the service account.
    tenant_id: str = ""
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    certificate: str = field(default="", repr=False)  # PEM: certificate + private key
    graph_url: str = ""  # e.g. https://graph.microsoft.com (without /v1.0)
    authority_url: str = ""  # e.g. https://login.microsoftonline.com


@dataclass(frozen=True)
class AutodiscoverSettings:
    """What Autodiscover is asked with (SPEC §2): the service account, as Setup holds it."""

    username: str
    password: str = field(repr=False)
    auth_type: str  # "basic" or "ntlm"
    ca_bundle: str = field(repr=False)
    timeout_seconds: float
    service_url: str = ""  # one fixed Autodiscover address instead of the domain's


TransportFactory = Callable[[ConnectionSettings], MailboxTransport]

_registry: dict[str, TransportFactory] = {}
# Modules that register a factory for a connection method when imported.
BUILTIN_BACKENDS: dict[str, str] = {
    SERVICE_ACCOUNT: "syncengine.transports.ews.transport",
    OAUTH2: "syncengine.transports.graph",
}


def register(method: str, factory: TransportFactory) -> None:
    _registry[method] = factory


def transport_for(settings: ConnectionSettings) -> MailboxTransport:
    """The transport for `settings.mailbox` under its connection method."""
    method = settings.method
    module = BUILTIN_BACKENDS.get(method)
    if method not in _registry and module and importlib.util.find_spec(module) is not None:
        importlib.import_module(module)  # registers itself
    factory = _registry.get(method)
    if factory is None:
        raise TransportError(
            ErrorKind.CONFIGURATION,
            f"No transport is available for the connection method “{method}”.",
        )
    return factory(settings)
