"""The organisation's Microsoft Entra side: tenant names and app registrations.

An app registration is what an Exchange Online admin creates for a daemon that reaches
mailboxes over Microsoft Graph: a client id with a secret and/or a certificate, the
application permissions an admin consented to, and (optionally) an RBAC for Applications
scope naming the mailboxes it may reach. Tokens are signed with `token_key`, a secret of
this simulator, so they survive a restart with `--data`.

How consent and scope are modelled (see README, "Microsoft Graph"): consent puts the
granted application permissions in the token's `roles` claim; without consent the token
carries no `roles` and every mailbox answers 403. A scope restricts the consented
permissions to its mailboxes (the product's documented set-up: the app registration's
permissions plus a management scope); mailboxes outside it answer 403 ErrorAccessDenied.
"""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

# What the product asks an admin to grant (SPEC §0): contacts read/write, calendars read.
DEFAULT_ROLES = ("Contacts.ReadWrite", "Calendars.Read")
KNOWN_ROLES = frozenset(
    {
        "Contacts.Read",
        "Contacts.ReadWrite",
        "Calendars.Read",
        "Calendars.ReadBasic.All",
        "Calendars.ReadWrite",
    }
)


class DirectoryError(ValueError):
    """A control-API request the directory cannot honour (unknown app, bad certificate)."""


@dataclass
class App:
    client_id: str
    secret: str | None = None
    cert_pem: str | None = None  # public certificate for client assertions
    consent: bool = True
    roles: list[str] = field(default_factory=lambda: list(DEFAULT_ROLES))
    scope: set[str] | None = None  # RBAC for Applications: mailboxes it may reach; None = all
    display_name: str = ""

    @property
    def object_id(self) -> str:
        """The service principal's object id: stable for a client id, like Entra's."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"exchangesim:sp:{self.client_id.lower()}"))

    def granted_roles(self) -> list[str]:
        return list(self.roles) if self.consent else []

    def may_reach(self, smtp: str) -> bool:
        return self.scope is None or smtp.lower() in self.scope


def tenant_id_for(name: str) -> str:
    """A tenant GUID: the name itself when it is one, else derived from the domain name."""
    try:
        return str(uuid.UUID(name))
    except ValueError:
        return str(uuid.uuid5(uuid.NAMESPACE_DNS, name.lower()))


class Directory:
    """Tenants (names one organisation answers to) and its app registrations."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.tenants: list[str] = []
        self.apps: dict[str, App] = {}
        self.token_key = os.urandom(32)
        self.issued: set[str] = set()  # `uti` of tokens issued and not expired early
        self.expired: set[str] = set()  # `uti` of tokens expired by expire_tokens()
        self.dirty = False

    # -- tenants ---------------------------------------------------------------------------
    def add_tenant(self, name: str) -> str:
        with self.lock:
            if not name or "/" in name:
                raise DirectoryError(f"Not a tenant name: {name!r}")
            if name.lower() not in {t.lower() for t in self.tenants}:
                self.tenants.append(name)
                self.dirty = True
            return self.tenant_id

    def knows_tenant(self, name: str) -> bool:
        with self.lock:
            wanted = name.lower()
            return any(wanted in (t.lower(), tenant_id_for(t)) for t in self.tenants)

    @property
    def tenant_id(self) -> str:
        """The organisation's tenant GUID (from the first tenant name)."""
        return tenant_id_for(self.tenants[0]) if self.tenants else ""

    # -- apps ------------------------------------------------------------------------------
    def add_app(
        self,
        client_id: str,
        secret: str | None = None,
        cert_pem: str | None = None,
        consent: bool = True,
        roles: list[str] | None = None,
        scope: list[str] | None = None,
        display_name: str = "",
    ) -> App:
        """Register (or update) an app; a given secret or certificate is added to it."""
        with self.lock:
            if not client_id:
                raise DirectoryError("An app needs a client id")
            app = self.apps.get(client_id.lower())
            if app is None:
                app = App(client_id=client_id, display_name=display_name or client_id)
                self.apps[client_id.lower()] = app
            if secret is not None:
                app.secret = secret
            if cert_pem is not None:
                app.cert_pem = _checked_cert(cert_pem)
            app.consent = consent
            if roles is not None:
                app.roles = _checked_roles(roles)
            if scope is not None:
                app.scope = {s.lower() for s in scope}
            self.dirty = True
            return app

    def app(self, client_id: str) -> App | None:
        with self.lock:
            return self.apps.get((client_id or "").lower())

    def require_app(self, client_id: str) -> App:
        found = self.app(client_id)
        if found is None:
            raise DirectoryError(f"No app registration with client id {client_id!r}")
        return found

    def set_consent(self, client_id: str, consent: bool) -> None:
        with self.lock:
            self.require_app(client_id).consent = bool(consent)
            self.dirty = True

    def set_scope(self, client_id: str, mailboxes: list[str] | None) -> None:
        with self.lock:
            app = self.require_app(client_id)
            app.scope = None if mailboxes is None else {m.lower() for m in mailboxes}
            self.dirty = True

    def set_roles(self, client_id: str, roles: list[str]) -> None:
        with self.lock:
            self.require_app(client_id).roles = _checked_roles(roles)
            self.dirty = True

    def expire_tokens(self) -> int:
        """Make every token issued so far answer 401 as expired; returns how many."""
        with self.lock:
            count = len(self.issued)
            self.expired |= self.issued
            self.issued = set()
            return count

    # -- persistence -------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        with self.lock:
            self.dirty = False
            return {
                "tenants": list(self.tenants),
                "token_key": self.token_key.hex(),
                "apps": [
                    {
                        "client_id": a.client_id,
                        "secret": a.secret,
                        "cert_pem": a.cert_pem,
                        "consent": a.consent,
                        "roles": a.roles,
                        "scope": None if a.scope is None else sorted(a.scope),
                        "display_name": a.display_name,
                    }
                    for a in self.apps.values()
                ],
            }

    def load_json(self, data: dict[str, Any]) -> None:
        with self.lock:
            self.tenants = list(data.get("tenants", []))
            if data.get("token_key"):
                self.token_key = bytes.fromhex(data["token_key"])
            self.apps = {}
            for a in data.get("apps", []):
                scope = a.get("scope")
                self.apps[a["client_id"].lower()] = App(
                    client_id=a["client_id"],
                    secret=a.get("secret"),
                    cert_pem=a.get("cert_pem"),
                    consent=a.get("consent", True),
                    roles=list(a.get("roles", DEFAULT_ROLES)),
                    scope=None if scope is None else set(scope),
                    display_name=a.get("display_name", a["client_id"]),
                )
            self.dirty = False


def _checked_roles(roles: list[str]) -> list[str]:
    unknown = [r for r in roles if r not in KNOWN_ROLES]
    if unknown:
        raise DirectoryError(
            f"Unknown application permission(s) {', '.join(unknown)}; "
            f"choose from {', '.join(sorted(KNOWN_ROLES))}"
        )
    return list(dict.fromkeys(roles))


def _checked_cert(pem: str) -> str:
    from cryptography import x509

    try:
        x509.load_pem_x509_certificate(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as e:
        raise DirectoryError(f"Not a PEM certificate: {e}") from None
    return pem


def thumbprints(cert_pem: str) -> tuple[str, str]:
    """(SHA-1, SHA-256) thumbprints of a PEM certificate, as base64url of the DER digest.

    These are the `x5t` and `x5t#S256` header values a client assertion names its
    certificate by (RFC 7515 §4.1.7-8).
    """
    import base64

    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    der = x509.load_pem_x509_certificate(cert_pem.encode("ascii")).public_bytes(Encoding.DER)

    def b64(digest: bytes) -> str:
        return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")

    return b64(hashlib.sha1(der).digest()), b64(hashlib.sha256(der).digest())
