"""pytest fixtures: a simulator per test, on a free loopback port, over HTTP or HTTPS.

    def test_it_syncs(exchange_sim):
        exchange_sim.sim.add_mailbox("rep@example.com")
        account = exchange_sim.account("rep@example.com")   # a configured exchangelib Account

`exchange_sim_tls` is the same over https with a throwaway CA (`ca_pem` is its PEM path).
`exchange_sim_graph` adds Microsoft Graph's side to it: a tenant and an app registration
(`.client_id`, `.client_secret`), with `.msal_app()` and `.session()` set up the way the
engine must set them up (the CA file as the only trust).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .control import Simulator
from .server import SimServer
from .tls import make_tls

SERVICE_USER = "svc-sync@example.com"
SERVICE_PASSWORD = "Sync-Pa55!"
GRAPH_TENANT = "contoso.onmicrosoft.com"
GRAPH_CLIENT_ID = "3f2b8c1e-5d4a-4e6f-9a0b-7c8d9e0f1a2b"
GRAPH_CLIENT_SECRET = "Graph~Secret.42"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"


@dataclass
class RunningSim:
    """What a test gets: URLs, the control API (`sim`) and service-account credentials."""

    server: SimServer
    username: str = SERVICE_USER
    password: str = SERVICE_PASSWORD
    ca_pem: str | None = None
    tenant: str = GRAPH_TENANT
    client_id: str = GRAPH_CLIENT_ID
    client_secret: str = GRAPH_CLIENT_SECRET
    _accounts: list[Any] = field(default_factory=list)

    @property
    def sim(self) -> Simulator:
        return self.server.sim

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def ews_url(self) -> str:
        return self.server.ews_url

    @property
    def autodiscover_url(self) -> str:
        return self.sim.autodiscover_url

    def account(
        self,
        smtp: str,
        username: str | None = None,
        password: str | None = None,
        timeout: float | None = None,
        auth_type: str | None = None,
    ) -> Any:
        """An exchangelib Account configured the way the sync engine configures it."""
        from exchangelib import (
            BASIC,
            IMPERSONATION,
            Account,
            Build,
            Configuration,
            Credentials,
            FailFast,
            Version,
        )

        config = Configuration(
            service_endpoint=self.ews_url,
            credentials=Credentials(username or self.username, password or self.password),
            auth_type=auth_type or BASIC,
            version=Version(build=Build(*self.sim.build)),
            retry_policy=FailFast(),
        )
        account = Account(
            primary_smtp_address=smtp, config=config, autodiscover=False, access_type=IMPERSONATION
        )
        if timeout is not None:
            account.protocol.TIMEOUT = timeout
        if self.ca_pem:
            _trust(account.protocol, self.ca_pem)
        self._accounts.append(account)
        return account

    @property
    def graph_url(self) -> str:
        return self.sim.graph_url

    def session(self) -> Any:
        """A requests Session that trusts exactly this simulator's CA (REQUESTS_CA_BUNDLE off)."""
        import requests

        session = requests.Session()
        session.trust_env = False
        session.verify = self.ca_pem or True
        return session

    def msal_app(self, client_id: str | None = None, credential: Any = None) -> Any:
        """msal's ConfidentialClientApplication against this simulator's tenant."""
        import msal

        return msal.ConfidentialClientApplication(
            client_id or self.client_id,
            client_credential=credential if credential is not None else self.client_secret,
            authority=self.sim.authority(self.tenant),
            validate_authority=False,
            instance_discovery=False,
            http_client=self.session(),
        )

    def token(self, client_id: str | None = None, credential: Any = None) -> str:
        """An access token for Graph, acquired through msal (raises with msal's error)."""
        result = self.msal_app(client_id, credential).acquire_token_for_client([GRAPH_SCOPE])
        if "access_token" not in result:
            raise AssertionError(f"no token: {result.get('error_description')}")
        return str(result["access_token"])

    def close(self) -> None:
        for acc in self._accounts:
            with contextlib.suppress(Exception):
                acc.protocol.close()
        self.server.stop()


def _trust(protocol: Any, ca_pem: str) -> None:
    """Make an exchangelib protocol's sessions verify against our CA only.

    REQUESTS_CA_BUNDLE is exported on these machines and would override Session.verify,
    hence trust_env = False (see ARCHITECTURE.md, "TLS and tokens").
    """
    original = protocol.create_session

    def create_session() -> Any:
        session = original()
        session.trust_env = False
        session.verify = ca_pem
        return session

    protocol.create_session = create_session


def start_sim(tls_dir: Path | None = None, **kwargs: Any) -> RunningSim:
    sim = Simulator(**kwargs)
    sim.add_service_account(SERVICE_USER, SERVICE_PASSWORD)
    if tls_dir is None:
        return RunningSim(SimServer(sim, "127.0.0.1", 0).start())
    ca_pem, cert_pem, key_pem = make_tls(tls_dir)
    server = SimServer(sim, "127.0.0.1", 0, certfile=cert_pem, keyfile=key_pem).start()
    return RunningSim(server, ca_pem=ca_pem)


def start_graph_sim(tls_dir: Path, **kwargs: Any) -> RunningSim:
    """A simulator over https with a tenant and one app registration (secret)."""
    running = start_sim(tls_dir=tls_dir, **kwargs)
    running.sim.add_tenant(GRAPH_TENANT)
    running.sim.add_app(GRAPH_CLIENT_ID, secret=GRAPH_CLIENT_SECRET)
    return running


@pytest.fixture
def exchange_sim() -> Iterator[RunningSim]:
    """A fresh simulator over http://127.0.0.1:<free port> with one service account."""
    running = start_sim()
    try:
        yield running
    finally:
        running.close()


@pytest.fixture
def exchange_sim_tls(tmp_path: Path) -> Iterator[RunningSim]:
    """The same over https, certificate from a throwaway trustme CA (`.ca_pem`)."""
    running = start_sim(tls_dir=tmp_path)
    try:
        yield running
    finally:
        running.close()


@pytest.fixture
def exchange_sim_graph(tmp_path: Path) -> Iterator[RunningSim]:
    """Over https, with a tenant and an app registration that may reach every mailbox."""
    running = start_graph_sim(tmp_path)
    try:
        yield running
    finally:
        running.close()
