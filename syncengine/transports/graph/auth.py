"""App-only tokens for Microsoft Graph: one msal `ConfidentialClientApplication` per process
and settings (ARCHITECTURE.md, "TLS and tokens").

The application, and so its token cache, is shared by every user and every cycle reaching
Graph with the same settings: a token is requested once an hour per worker, not per mailbox.
Its authority is Setup's authority host and tenant, its credential the client secret or the
certificate, and its HTTP session trusts exactly Setup's CA bundle (or the system store)
and reaches only where SPEC §13 allows.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from typing import Any

import msal
import requests

from lightningsync.outbound import excerpt

from .. import guarded_http
from ..connect import ConnectionSettings
from ..protocol import ErrorKind, TransportError
from .tls import session_for

# AADSTS error numbers an admin can act on (Microsoft's "Microsoft Entra authentication and
# authorization error codes").
_UNKNOWN_TENANT = (90002, 900023, 90072)
_UNKNOWN_APP = (700016,)
_BAD_SECRET = (7000215, 7000222, 7000218)
_BAD_CERTIFICATE = (700027, 700024, 700025)
_KEY_BLOCK = re.compile(
    r"-----BEGIN ([A-Z ]*)PRIVATE KEY-----.+?-----END \1PRIVATE KEY-----", re.DOTALL
)


def graph_scope(settings: ConnectionSettings) -> str:
    return f"{settings.graph_url.rstrip('/')}/.default"


def _credential(settings: ConnectionSettings) -> str | dict[str, str]:
    if settings.certificate:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes

        cert = x509.load_pem_x509_certificates(settings.certificate.encode())[0]
        key = _KEY_BLOCK.search(settings.certificate)
        if key is None:
            raise TransportError(
                ErrorKind.CONFIGURATION, "The client certificate in Setup holds no private key."
            )
        return {
            "private_key": key.group(0),
            "thumbprint": cert.fingerprint(hashes.SHA1()).hex(),
        }
    if settings.client_secret:
        return settings.client_secret
    raise TransportError(
        ErrorKind.CONFIGURATION,
        "No client secret or certificate is set for OAuth 2.0 in Lightning Sync Setup.",
    )


def _fingerprint(settings: ConnectionSettings) -> str:
    parts = [settings.tenant_id, settings.client_id, settings.client_secret,
             settings.certificate, settings.authority_url, settings.ca_bundle,
             settings.timeout_seconds]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


class TokenSource:
    """The msal application of one set of settings and the lock its cache is read under."""

    def __init__(self, settings: ConnectionSettings) -> None:
        if not (settings.tenant_id and settings.client_id):
            raise TransportError(
                ErrorKind.CONFIGURATION,
                "The tenant ID and the application (client) ID must be set for OAuth 2.0 in "
                "Lightning Sync Setup.",
            )
        self.scope = graph_scope(settings)
        self.settings = settings
        self.lock = threading.Lock()
        self._app: msal.ConfidentialClientApplication | None = None

    @property
    def app(self) -> msal.ConfidentialClientApplication:
        """The msal application, made on first use (it reads the authority's discovery
        document then: a cycle with nothing to do sends nothing)."""
        if self._app is None:
            self._app = self._make_app()
        return self._app

    def _make_app(self) -> msal.ConfidentialClientApplication:
        settings = self.settings
        session = guarded_http.guard(session_for(settings.ca_bundle))
        authority = f"{settings.authority_url.rstrip('/')}/{settings.tenant_id}"
        try:
            return msal.ConfidentialClientApplication(
                settings.client_id,
                client_credential=_credential(settings),
                authority=authority,
                validate_authority=False,
                instance_discovery=False,
                http_client=session,
                timeout=settings.timeout_seconds,
            )
        except TransportError:
            raise
        except ValueError as exc:  # msal refuses the authority's discovery document
            raise TokenRefused(
                ErrorKind.CONFIGURATION,
                f"The authority {authority} did not answer as a Microsoft Entra tenant "
                f"({_short(exc)}).",
                f"Check the tenant ID ({TENANT_ID_WHERE}) and the authority host in Lightning "
                "Sync Setup.",
            ) from None
        except guarded_http.RefusedDestination as exc:
            raise TransportError(ErrorKind.CONFIGURATION, str(exc)) from None
        except (requests.RequestException, OSError) as exc:
            raise unreachable(f"The authority {authority}", exc) from None

    def token(self) -> str:
        """A valid access token (from the cache while it lasts)."""
        with self.lock:
            app = self.app
            try:
                result = app.acquire_token_for_client([self.scope])
            except (requests.RequestException, OSError) as exc:
                raise unreachable("The token endpoint", exc) from None
            except guarded_http.RefusedDestination as exc:
                raise TransportError(ErrorKind.CONFIGURATION, str(exc)) from None
        if "access_token" in result:
            return str(result["access_token"])
        raise token_refusal(result)


TENANT_ID_WHERE = "the Directory (tenant) ID on the app registration's Overview in the " \
    "Microsoft Entra admin center"
UNTRUSTED_FIX = ("If the certificate comes from your own certificate authority (a proxy that "
                 "inspects TLS), paste that CA's certificate (PEM) into Trusted CA bundle in "
                 "Lightning Sync Setup; otherwise check the authority host in Setup.")


class TokenRefused(TransportError):
    """No token: what happened (`what`) and what to fix, in Setup or in Microsoft Entra ID
    (`fix`); the message says both."""

    def __init__(self, kind: ErrorKind, what: str, fix: str) -> None:
        super().__init__(kind, f"{what} {fix}")
        self.what = what
        self.fix = fix


def unreachable(who: str, exc: BaseException) -> TokenRefused:
    """The authority (or its token endpoint) not reached; an untrusted certificate said so."""
    if isinstance(exc, requests.exceptions.SSLError):
        return TokenRefused(ErrorKind.TRANSIENT,
                            f"{who}'s TLS certificate is not trusted ({_short(exc)}).",
                            UNTRUSTED_FIX)
    return TokenRefused(ErrorKind.TRANSIENT, f"{who} could not be reached: {_short(exc)}",
                        "Check the authority host in Lightning Sync Setup and that this server "
                        "may reach it (proxy, firewall).")


def token_refusal(result: dict[str, Any]) -> TokenRefused:
    """msal's error result as a classified error naming what to fix."""
    codes = [int(c) for c in result.get("error_codes") or [] if str(c).isdigit()]
    description = str(result.get("error_description") or result.get("error") or "")
    first_line = excerpt(description.splitlines()[0]) if description else "no reason given"
    if any(c in _UNKNOWN_TENANT for c in codes):
        return TokenRefused(
            ErrorKind.CONFIGURATION,
            f"Microsoft Entra ID does not know this tenant ({first_line}).",
            f"Check the tenant ID in Lightning Sync Setup: it is {TENANT_ID_WHERE}.",
        )
    if any(c in _UNKNOWN_APP for c in codes):
        return TokenRefused(
            ErrorKind.CONFIGURATION,
            "The tenant has no app registration with this application (client) ID "
            f"({first_line}).",
            "Check the client ID in Lightning Sync Setup (the Application (client) ID on the "
            "app registration's Overview), or register the app in this tenant.",
        )
    if any(c in _BAD_SECRET for c in codes):
        return TokenRefused(
            ErrorKind.AUTHENTICATION,
            f"The client secret was refused ({first_line}).",
            "Enter the secret's value (not its ID) in Lightning Sync Setup, or create a new "
            "secret under the app registration's Certificates & secrets if this one expired.",
        )
    if any(c in _BAD_CERTIFICATE for c in codes):
        return TokenRefused(
            ErrorKind.AUTHENTICATION,
            f"The client certificate was refused ({first_line}).",
            "Upload this certificate to the app registration (Certificates & secrets), or "
            "enter the right one in Lightning Sync Setup.",
        )
    if result.get("error") in ("invalid_client", "unauthorized_client"):
        return TokenRefused(ErrorKind.AUTHENTICATION, f"The token was refused: {first_line}.",
                            "Check the client ID and its secret or certificate in Lightning "
                            "Sync Setup.")
    return TokenRefused(ErrorKind.CONFIGURATION, f"No token was issued: {first_line}.",
                        "Check the tenant ID, the client ID and the authority host in "
                        "Lightning Sync Setup.")


def _short(exc: BaseException) -> str:
    return excerpt(str(exc)) or type(exc).__name__


_sources: dict[str, TokenSource] = {}
_sources_lock = threading.Lock()


def token_source(settings: ConnectionSettings) -> TokenSource:
    """The process's TokenSource for these settings (made on first use)."""
    key = _fingerprint(settings)
    with _sources_lock:
        source = _sources.get(key)
        if source is None:
            source = TokenSource(settings)
            _sources[key] = source
        return source


def token_roles(token: str) -> list[str]:
    """The application permissions an access token carries (its `roles` claim).

    Read without verifying the signature: Graph verifies it; the engine only reads what the
    token says it grants, to tell "consent missing" from "mailbox outside the scope".
    """
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return []
    roles = claims.get("roles") if isinstance(claims, dict) else None
    return [str(r) for r in roles] if isinstance(roles, list) else []
