"""The Microsoft identity platform side: OIDC discovery, the v2.0 token endpoint, bearer tokens.

What msal's ConfidentialClientApplication needs for the client credentials grant:
`GET /{tenant}/v2.0/.well-known/openid-configuration` and
`POST /{tenant}/oauth2/v2.0/token` with a client secret or a client assertion (a JWT
signed with the app's certificate key, RS256 with `x5t` or PS256 with `x5t#S256`).
Refusals are AADSTS-style: `{"error", "error_description": "AADSTSnnnn: ...",
"error_codes": [n], "timestamp", "trace_id", "correlation_id", "error_uri"}`.

Access tokens are JWTs signed HS256 with the simulator's own key (Entra signs RS256 with
published keys; nothing here reads those). Claims follow Entra's v1.0 app-only tokens:
aud, iss, iat, nbf, exp, appid, appidacr, idtyp "app", oid, sub, tid, roles (only when an
admin consented), uti, ver.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import time
import urllib.parse
import uuid
from typing import Any

from .apps import App, Directory, thumbprints
from .graph_errors import GRAPH_APP_ID, GraphError

GRAPH_RESOURCE = "https://graph.microsoft.com"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DEFAULT_LIFETIME = 3599


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenError(Exception):
    """A refused token request, answered the way Entra ID answers it."""

    def __init__(self, status: int, error: str, code: int, description: str) -> None:
        super().__init__(code, description)
        self.status = status
        self.error = error
        self.code = code
        self.description = description

    def body(self, base_url: str) -> dict[str, Any]:
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        return {
            "error": self.error,
            "error_description": (
                f"AADSTS{self.code}: {self.description} Trace ID: {trace} "
                f"Correlation ID: {correlation} Timestamp: {stamp}"
            ),
            "error_codes": [self.code],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": f"{base_url}/error?code={self.code}",
        }


def unknown_tenant(tenant: str) -> TokenError:
    return TokenError(
        400,
        "invalid_request",
        90002,
        f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and "
        "are signing into the correct cloud.",
    )


def discovery(base_url: str, tenant: str, directory: Directory) -> dict[str, Any]:
    """The tenant's OpenID Provider configuration (v2.0), as msal reads it."""
    if not directory.knows_tenant(tenant):
        err = unknown_tenant(tenant)
        raise TokenError(400, "invalid_tenant", err.code, err.description)
    tid = directory.tenant_id
    root = f"{base_url}/{tenant}"
    return {
        "token_endpoint": f"{root}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": [
            "client_secret_post",
            "private_key_jwt",
            "client_secret_basic",
        ],
        "jwks_uri": f"{base_url}/{tid}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": f"{base_url}/{tid}/v2.0",
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": f"{base_url}/oidc/userinfo",
        "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "roles"],
        "tenant_region_scope": "EU",
        "cloud_instance_name": "exchangesim",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": urllib.parse.urlsplit(base_url).netloc,
        "rbac_url": "https://pas.windows.net",
    }


def _resource(scope: str, base_url: str) -> str:
    """The resource a client-credentials scope names; only '{resource}/.default' is valid."""
    scopes = scope.split()
    if len(scopes) != 1 or not scopes[0].endswith("/.default"):
        raise TokenError(
            400,
            "invalid_scope",
            1002012,
            f"The provided value for scope {scope} is not valid. Client credential flows must "
            "have a scope value with /.default suffixed to the resource identifier "
            "(application ID URI).",
        )
    resource = scopes[0][: -len("/.default")]
    if resource.rstrip("/") not in (GRAPH_RESOURCE, base_url, GRAPH_APP_ID):
        raise TokenError(
            400,
            "invalid_resource",
            500011,
            f"The resource principal named {resource} was not found in the tenant.",
        )
    return GRAPH_RESOURCE if resource.rstrip("/") == GRAPH_APP_ID else resource.rstrip("/")


def _verify_assertion(app: App, assertion: str, token_url: str) -> None:
    """Check a client assertion as Entra does: certificate, signature, claims, lifetime."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    try:
        head_b64, claims_b64, sig_b64 = assertion.split(".")
        header = json.loads(unb64url(head_b64))
        claims = json.loads(unb64url(claims_b64))
        signature = unb64url(sig_b64)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise TokenError(
            401, "invalid_client", 50027, "JWT token is invalid or malformed."
        ) from None
    if not app.cert_pem:
        raise TokenError(
            401,
            "invalid_client",
            700027,
            "The certificate with identifier used to sign the client assertion is not "
            "registered on application. [Reason - The key was not found., "
            f"App ID: {app.client_id}]",
        )
    sha1, sha256 = thumbprints(app.cert_pem)
    named = (header.get("x5t#S256") or "").rstrip("="), (header.get("x5t") or "").rstrip("=")
    if named[0] != sha256 and named[1] != sha1:
        raise TokenError(
            401,
            "invalid_client",
            700027,
            "The certificate with identifier used to sign the client assertion is not "
            f"registered on application. [Reason - The key was not found., Thumbprint of key "
            f"used by client: '{named[1] or named[0]}']",
        )
    key = x509.load_pem_x509_certificate(app.cert_pem.encode("ascii")).public_key()
    alg = header.get("alg")
    if not isinstance(key, rsa.RSAPublicKey) or alg not in ("RS256", "PS256"):
        raise TokenError(
            401, "invalid_client", 700027, f"Client assertion algorithm {alg} is not supported."
        )
    pad: padding.AsymmetricPadding = (
        padding.PKCS1v15()
        if alg == "RS256"
        else padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    )
    try:
        key.verify(signature, f"{head_b64}.{claims_b64}".encode("ascii"), pad, hashes.SHA256())
    except InvalidSignature:
        raise TokenError(
            401, "invalid_client", 700027, "Client assertion contains an invalid signature."
        ) from None
    if claims.get("iss") != app.client_id or claims.get("sub") != app.client_id:
        raise TokenError(
            401,
            "invalid_client",
            700021,
            "Client assertion application identifier doesn't match 'client_id' parameter.",
        )
    if claims.get("aud") != token_url:
        raise TokenError(
            401,
            "invalid_client",
            700212,
            f"The audience of the client assertion is not the token endpoint {token_url}.",
        )
    now = time.time()
    if not (
        float(claims.get("nbf", claims.get("iat", 0))) - 300 <= now < float(claims.get("exp", 0))
    ):
        raise TokenError(
            401, "invalid_client", 700024, "Client assertion is not within its valid time range."
        )


def issue(directory: Directory, app: App, resource: str, lifetime: int, acr: str) -> str:
    """A signed access token for the app (roles only when an admin consented)."""
    now = int(time.time())
    tid = directory.tenant_id
    claims: dict[str, Any] = {
        "aud": resource,
        "iss": f"https://sts.windows.net/{tid}/",
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "app_displayname": app.display_name,
        "appid": app.client_id,
        "appidacr": acr,
        "idp": f"https://sts.windows.net/{tid}/",
        "idtyp": "app",
        "oid": app.object_id,
        "sub": app.object_id,
        "tid": tid,
        "uti": b64url(uuid.uuid4().bytes),
        "ver": "1.0",
    }
    with directory.lock:
        directory.issued.add(claims["uti"])
    roles = app.granted_roles()
    if roles:
        claims["roles"] = roles
    head = b64url(json.dumps({"typ": "JWT", "alg": "HS256"}, separators=(",", ":")).encode())
    body = b64url(json.dumps(claims, separators=(",", ":")).encode())
    sig = hmac.new(directory.token_key, f"{head}.{body}".encode("ascii"), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(sig)}"


def token(
    directory: Directory, base_url: str, tenant: str, form: dict[str, str], lifetime: int
) -> dict[str, Any]:
    """The client credentials grant: checks in the order Entra reports them."""
    if not directory.knows_tenant(tenant):
        raise unknown_tenant(tenant)
    grant = form.get("grant_type", "")
    if grant != "client_credentials":
        raise TokenError(
            400,
            "unsupported_grant_type",
            70003,
            f"The app requested an unsupported grant type '{grant}'; exchangesim serves "
            "client_credentials only.",
        )
    client_id = form.get("client_id", "")
    app = directory.app(client_id)
    if app is None:
        raise TokenError(
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier '{client_id}' was not found in the directory "
            f"'{tenant}'. This can happen if the application has not been installed by the "
            "administrator of the tenant or consented to by any user in the tenant. You may "
            "have sent your authentication request to the wrong tenant.",
        )
    assertion = form.get("client_assertion")
    if assertion:
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise TokenError(
                401, "invalid_client", 700025, "Client assertion type is missing or not supported."
            )
        _verify_assertion(app, assertion, f"{base_url}/{tenant}/oauth2/v2.0/token")
        acr = "2"
    elif "client_secret" in form:
        if app.secret is None or not hmac.compare_digest(form["client_secret"], app.secret):
            raise TokenError(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is "
                "the client secret value, not the client secret ID, for a secret added to app "
                f"'{app.client_id}'.",
            )
        acr = "1"
    else:
        raise TokenError(
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or "
            "'client_secret'.",
        )
    resource = _resource(form.get("scope", ""), base_url)
    access = issue(directory, app, resource, lifetime, acr)
    return {
        "token_type": "Bearer",
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": access,
    }


def invalid_token(base_url: str, message: str) -> GraphError:
    """401 InvalidAuthenticationToken with the Bearer challenge Graph sends."""
    challenge = (
        f'Bearer realm="", authorization_uri="{base_url}/common/oauth2/authorize", '
        f'client_id="{GRAPH_APP_ID}"'
    )
    return GraphError(401, "InvalidAuthenticationToken", message, {"WWW-Authenticate": challenge})


def verify_bearer(directory: Directory, header: str | None, base_url: str) -> dict[str, Any]:
    """The claims of a valid bearer token, or a 401 InvalidAuthenticationToken."""

    def refuse(message: str) -> GraphError:
        return invalid_token(base_url, message)

    if not header or not header.lower().startswith("bearer ") or not header[7:].strip():
        raise refuse("Access token is empty.")
    value = header[7:].strip()
    parts = value.split(".")
    if len(parts) != 3:
        raise refuse("IDX14100: JWT is not well formed, there are no dots (.).")
    try:
        head = json.loads(unb64url(parts[0]))
        claims = json.loads(unb64url(parts[1]))
        signature = unb64url(parts[2])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise refuse(
            "IDX14102: Unable to decode the header or payload as Base64Url encoded."
        ) from None
    expected = hmac.new(
        directory.token_key, f"{parts[0]}.{parts[1]}".encode("ascii"), hashlib.sha256
    ).digest()
    if head.get("alg") != "HS256" or not hmac.compare_digest(signature, expected):
        raise refuse("Access token validation failure. Invalid signature.")
    if claims.get("aud") not in (GRAPH_RESOURCE, base_url, f"{GRAPH_RESOURCE}/"):
        raise refuse("Access token validation failure. Invalid audience.")
    now = time.time()
    if (
        not (claims.get("nbf", 0) <= now < claims.get("exp", 0))
        or claims.get("uti") in directory.expired
    ):
        raise refuse("Access token has expired or is not yet valid.")
    return dict(claims)
