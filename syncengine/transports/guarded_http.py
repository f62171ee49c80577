"""HTTP sessions that reach only where `lightningsync.outbound` allows (SPEC §13).

Setup checks a URL as typed, but a host name may resolve to a metadata address, and a server
may redirect anywhere. So every request a transport sends (redirects and authentication
round trips included) passes the URL rule again, and every new connection resolves its host
once, refuses it when any address is refused, and connects only to the addresses it
checked: no request, and so no credential, ever reaches a refused address. Through a
proxy, the target host is resolved and checked here as well (the proxy connects to it).
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.utils import select_proxy
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import connection as urllib3_connection
from urllib3.util.connection import allowed_gai_family

from lightningsync import outbound


class RefusedDestination(Exception):
    """A request was about to go where Lightning Sync never connects; nothing was sent.

    Not an OSError on purpose: urllib3 and exchangelib would take it for a network failure
    and retry, when it is a setting to correct."""


def checked_addresses(host: str, port: int) -> list[tuple[int, Any]]:
    """(family, socket address) for every address `host` resolves to, all of them allowed.

    Raises RefusedDestination when any address is refused (a name that leads to a metadata
    service is not trusted for its other addresses either) and socket.gaierror when the
    name does not resolve.
    """
    results = socket.getaddrinfo(host.strip("[]"), port, allowed_gai_family(), socket.SOCK_STREAM)
    for *_, address in results:
        refusal = outbound.address_refusal(str(address[0]))
        if refusal:
            raise RefusedDestination(
                f"{host} resolves to {refusal}: Lightning Sync never connects there. "
                "Check the URL in Lightning Sync Setup and the DNS record of the host."
            )
    return [(family, address) for family, _type, _proto, _name, address in results]


class _CheckedConnectionMixin:
    """urllib3 connection that connects only to addresses `checked_addresses` allowed."""

    _dns_host: str
    host: str
    port: int
    timeout: Any
    source_address: Any
    socket_options: Any

    def _new_conn(self) -> socket.socket:
        try:
            addresses = checked_addresses(self._dns_host, self.port)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc  # type: ignore[arg-type]
        error: OSError | None = None
        for _family, address in addresses:
            try:
                # A numeric address: urllib3 connects to exactly this one.
                return urllib3_connection.create_connection(
                    (address[0], self.port), self.timeout,
                    source_address=self.source_address, socket_options=self.socket_options,
                )
            except TimeoutError as exc:
                raise ConnectTimeoutError(
                    self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})"
                ) from exc
            except OSError as exc:
                error = exc
        raise NewConnectionError(
            self, f"Failed to establish a new connection: {error}"  # type: ignore[arg-type]
        )


class _CheckedHTTPConnection(_CheckedConnectionMixin, HTTPConnection):
    pass


class _CheckedHTTPSConnection(_CheckedConnectionMixin, HTTPSConnection):
    pass


class _CheckedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _CheckedHTTPConnection


class _CheckedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _CheckedHTTPSConnection


_POOLS = {"http": _CheckedHTTPPool, "https": _CheckedHTTPSPool}


class GuardedAdapter(HTTPAdapter):
    """requests adapter applying the outbound URL rule per request and the address rule per
    connection."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = dict(_POOLS)
        return manager

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        url = request.url or ""
        refusal = outbound.url_refusal(url, "URL")
        if refusal:
            raise RefusedDestination(refusal)
        if select_proxy(url, kwargs.get("proxies")):
            parts = urlsplit(url)
            default_port = 443 if parts.scheme == "https" else 80
            # The proxy resolves the name itself; one this machine cannot resolve is its call.
            with contextlib.suppress(socket.gaierror):
                checked_addresses(parts.hostname or "", parts.port or default_port)
        return super().send(request, *args, **kwargs)


def guard(session: requests.Session, *, pool_size: int = 1) -> requests.Session:
    """Route every URL of `session` through a GuardedAdapter (replacing its adapters)."""
    adapter = GuardedAdapter(
        pool_connections=pool_size, pool_maxsize=pool_size, pool_block=True, max_retries=0
    )
    for prefix, old in list(session.adapters.items()):
        old.close()
        session.mount(prefix, adapter)
    return session
