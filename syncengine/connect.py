"""Which transport reaches a user's mailbox: a registry keyed by Setup's connection method.

Backends register themselves (`register("service_account", factory)`) when their module
is imported; the built-in ones are imported on first use, so the engine does not import
exchangelib or msal before it needs them. Tests pass their own factory to the runner.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable

from lightningsync.models import LightningSyncSetup, User

from .transport import ErrorKind, MailboxTransport, TransportError

TransportFactory = Callable[[User, LightningSyncSetup], MailboxTransport]

_registry: dict[str, TransportFactory] = {}
# Modules that register a factory for a connection method when imported.
BUILTIN_BACKENDS: dict[str, str] = {
    LightningSyncSetup.ConnectionMethod.SERVICE_ACCOUNT.value: "syncengine.ews",
    LightningSyncSetup.ConnectionMethod.OAUTH2.value: "syncengine.graph",
}


def register(method: str, factory: TransportFactory) -> None:
    _registry[method] = factory


def transport_for(user: User, setup: LightningSyncSetup) -> MailboxTransport:
    """The transport for `user`'s mailbox under `setup`'s connection method."""
    method = setup.connection_method
    module = BUILTIN_BACKENDS.get(method)
    if method not in _registry and module and importlib.util.find_spec(module) is not None:
        importlib.import_module(module)  # registers itself
    factory = _registry.get(method)
    if factory is None:
        raise TransportError(
            ErrorKind.CONFIGURATION,
            f"No transport is available for the connection method “{method}”.",
        )
    return factory(user, setup)
