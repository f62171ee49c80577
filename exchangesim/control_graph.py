"""The control API for the Microsoft cloud side: tenants, app registrations, tokens, ids.

Mixed into `Simulator`, so every method is also `POST /_sim/<method>` (read-only ones
`GET`). Tests use it to register apps the way an Exchange Online admin does, to withdraw
consent or narrow a scope between requests, to hold expired tokens without waiting, and to
translate ids between EWS and Graph.
"""

from __future__ import annotations

from typing import Any

from . import graph_auth
from .apps import App
from .graph_delta import Views
from .graph_ids import ews_id, rest_id, user_object_id
from .store import Store


class GraphControl:
    store: Store
    base_url: str
    graph_views: Views
    token_lifetime: int

    # -- URLs ------------------------------------------------------------------------------
    @property
    def graph_url(self) -> str:
        """Graph's v1.0 root here, e.g. https://127.0.0.1:P/v1.0."""
        return f"{self.base_url}/v1.0"

    def authority(self, tenant: str | None = None) -> str:
        """The msal authority for a tenant (default: the first one registered)."""
        return f"{self.base_url}/{tenant or self._first_tenant()}"

    def token_url(self, tenant: str | None = None) -> str:
        return f"{self.authority(tenant)}/oauth2/v2.0/token"

    def _first_tenant(self) -> str:
        if not self.store.directory.tenants:
            raise ValueError("No tenant registered; call add_tenant first")
        return self.store.directory.tenants[0]

    # -- directory -------------------------------------------------------------------------
    def add_tenant(self, name: str) -> str:
        """Let the organisation answer to a tenant name or GUID; returns the tenant id."""
        return self.store.directory.add_tenant(name)

    def tenant_id(self) -> str:
        return self.store.directory.tenant_id

    def add_app(
        self,
        client_id: str,
        secret: str | None = None,
        cert_pem: str | None = None,
        consent: bool = True,
        roles: list[str] | None = None,
        scope: list[str] | None = None,
    ) -> dict[str, Any]:
        """Register an app (secret and/or certificate); consent=False: tokens without roles."""
        return _app_dict(
            self.store.directory.add_app(client_id, secret, cert_pem, consent, roles, scope)
        )

    def apps(self) -> list[dict[str, Any]]:
        with self.store.directory.lock:
            return [_app_dict(a) for a in self.store.directory.apps.values()]

    def set_app_consent(self, client_id: str, consent: bool) -> None:
        """Grant or withdraw admin consent; tokens issued afterwards carry roles or none."""
        self.store.directory.set_consent(client_id, consent)

    def set_app_scope(self, client_id: str, mailboxes: list[str] | None) -> None:
        """The app's RBAC for Applications scope (None: every mailbox)."""
        self.store.directory.set_scope(client_id, mailboxes)

    def set_app_roles(self, client_id: str, roles: list[str]) -> None:
        """The application permissions an admin granted (Contacts.ReadWrite, ...)."""
        self.store.directory.set_roles(client_id, roles)

    # -- tokens ----------------------------------------------------------------------------
    def issue_token(self, client_id: str, lifetime: int | None = None) -> str:
        """An access token for the app without a token request (lifetime < 0: expired)."""
        app = self.store.directory.require_app(client_id)
        span = self.token_lifetime if lifetime is None else int(lifetime)
        return graph_auth.issue(self.store.directory, app, graph_auth.GRAPH_RESOURCE, span, "1")

    def expire_tokens(self) -> int:
        """Every token issued so far answers 401 from now on; returns how many."""
        return self.store.directory.expire_tokens()

    def set_token_lifetime(self, seconds: int) -> None:
        self.token_lifetime = int(seconds)

    def forget_delta_states(self) -> int:
        """Drop every calendar-view delta state: their tokens answer 410 SyncStateNotFound."""
        return self.graph_views.forget()

    # -- ids -------------------------------------------------------------------------------
    def user_id(self, mailbox: str) -> str:
        """The Graph user id (object id) of a mailbox; /users/{it} works like the SMTP."""
        return user_object_id(self.store.mailbox(mailbox))

    @staticmethod
    def graph_id(ews: str) -> str:
        """An EWS id -> the same item's Graph id."""
        return rest_id(ews)

    @staticmethod
    def ews_id(graph: str) -> str:
        """A Graph id -> the same item's EWS id."""
        return ews_id(graph)


def _app_dict(app: App) -> dict[str, Any]:
    return {
        "client_id": app.client_id,
        "has_secret": app.secret is not None,
        "has_certificate": app.cert_pem is not None,
        "consent": app.consent,
        "roles": list(app.roles),
        "scope": None if app.scope is None else sorted(app.scope),
    }
