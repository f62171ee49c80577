"""The identity platform side: the real msal acquires tokens over TLS; Entra-style refusals."""

from __future__ import annotations

import base64
import datetime as dt
import json

import msal
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from exchangesim.pytest_plugin import GRAPH_CLIENT_ID, GRAPH_SCOPE, GRAPH_TENANT

from .conftest import ALICE, GraphClient

CERT_APP = "0b7d1e2c-3a4f-4b5c-8d6e-9f0a1b2c3d4e"


def claims_of(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def self_signed() -> tuple[str, str, str]:
    """(private key PEM, certificate PEM, SHA-1 thumbprint hex) of a new app certificate."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lightning-sync-app")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    return key_pem, cert_pem, cert.fingerprint(hashes.SHA1()).hex()


def test_msal_acquires_a_token_with_a_secret_over_tls(graph_sim):
    app = graph_sim.msal_app()
    result = app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert result["token_type"] == "Bearer" and result["expires_in"] == 3599
    claims = claims_of(result["access_token"])
    assert claims["appid"] == GRAPH_CLIENT_ID
    assert claims["aud"] == "https://graph.microsoft.com"
    assert claims["tid"] == graph_sim.sim.tenant_id()
    assert claims["idtyp"] == "app" and claims["appidacr"] == "1"
    assert claims["roles"] == ["Contacts.ReadWrite", "Calendars.Read"]
    assert claims["exp"] - claims["iat"] == 3599
    # msal's token cache answers the second call: one token request in all
    again = app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert again["access_token"] == result["access_token"]
    assert graph_sim.sim.request_count("token") == 1
    assert graph_sim.sim.request_count("openid-configuration") == 1
    # and Graph takes it
    folders = GraphClient(graph_sim, result["access_token"]).get(f"/users/{ALICE}/contactFolders")
    assert folders.status_code == 200


def test_discovery_document_names_the_tenant_endpoints(graph_sim):
    url = f"{graph_sim.sim.authority()}/v2.0/.well-known/openid-configuration"
    doc = graph_sim.session().get(url, timeout=5).json()
    assert doc["token_endpoint"] == graph_sim.sim.token_url()
    assert doc["authorization_endpoint"].endswith(f"/{GRAPH_TENANT}/oauth2/v2.0/authorize")
    assert doc["issuer"] == f"{graph_sim.base_url}/{graph_sim.sim.tenant_id()}/v2.0"
    # the tenant GUID is an authority too
    by_id = graph_sim.session().get(
        f"{graph_sim.base_url}/{graph_sim.sim.tenant_id()}/v2.0/.well-known/openid-configuration",
        timeout=5,
    )
    assert by_id.status_code == 200


@pytest.mark.parametrize("with_certificate", [True, False], ids=["PS256-x5t#S256", "RS256-x5t"])
def test_msal_acquires_a_token_with_a_certificate(graph_sim, with_certificate):
    key_pem, cert_pem, sha1 = self_signed()
    graph_sim.sim.add_app(CERT_APP, cert_pem=cert_pem)
    credential = {"private_key": key_pem}
    if with_certificate:
        credential["public_certificate"] = cert_pem
    else:
        credential["thumbprint"] = sha1
    result = graph_sim.msal_app(CERT_APP, credential).acquire_token_for_client([GRAPH_SCOPE])
    assert "access_token" in result, result
    claims = claims_of(result["access_token"])
    assert (claims["appid"], claims["appidacr"]) == (CERT_APP, "2")


def test_a_certificate_that_is_not_registered_is_refused(graph_sim):
    _key, cert_pem, _sha1 = self_signed()
    other_key, other_cert, _ = self_signed()
    graph_sim.sim.add_app(CERT_APP, cert_pem=cert_pem)
    credential = {"private_key": other_key, "public_certificate": other_cert}
    result = graph_sim.msal_app(CERT_APP, credential).acquire_token_for_client([GRAPH_SCOPE])
    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [700027]
    assert result["error_description"].startswith("AADSTS700027: ")


def test_a_wrong_secret_is_invalid_client_7000215(graph_sim):
    result = graph_sim.msal_app(credential="not-the-secret").acquire_token_for_client([GRAPH_SCOPE])
    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [7000215]
    assert result["error_description"].startswith("AADSTS7000215: Invalid client secret")
    assert {"timestamp", "trace_id", "correlation_id", "error_uri"} <= set(result)


def test_an_unknown_app_is_unauthorized_client_700016(graph_sim):
    app = graph_sim.msal_app("99999999-0000-0000-0000-000000000000")
    result = app.acquire_token_for_client([GRAPH_SCOPE])
    assert (result["error"], result["error_codes"]) == ("unauthorized_client", [700016])
    assert "was not found in the directory" in result["error_description"]


def test_an_unknown_tenant_is_refused_at_discovery_and_at_the_token_endpoint(graph_sim):
    with pytest.raises(ValueError, match="Unable to get authority configuration") as raised:
        msal.ConfidentialClientApplication(
            GRAPH_CLIENT_ID,
            client_credential=graph_sim.client_secret,
            authority=f"{graph_sim.base_url}/fabrikam.onmicrosoft.com",
            validate_authority=False,
            instance_discovery=False,
            http_client=graph_sim.session(),
        )
    assert "AADSTS90002: Tenant 'fabrikam.onmicrosoft.com' not found" in str(
        raised.value.__context__
    )
    r = graph_sim.session().post(
        f"{graph_sim.base_url}/fabrikam.onmicrosoft.com/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": GRAPH_CLIENT_ID,
            "client_secret": graph_sim.client_secret,
            "scope": GRAPH_SCOPE,
        },
        timeout=5,
    )
    assert r.status_code == 400
    assert (r.json()["error"], r.json()["error_codes"]) == ("invalid_request", [90002])


def test_scope_must_be_a_resource_dot_default(graph_sim):
    app = graph_sim.msal_app()
    result = app.acquire_token_for_client(["https://graph.microsoft.com/Contacts.ReadWrite"])
    assert (result["error"], result["error_codes"]) == ("invalid_scope", [1002012])
    # the simulator's own base URL names Graph as well
    own = app.acquire_token_for_client([f"{graph_sim.base_url}/.default"])
    assert claims_of(own["access_token"])["aud"] == graph_sim.base_url


def test_consent_missing_gives_a_token_without_roles_and_graph_answers_403(graph_sim):
    graph_sim.sim.set_app_consent(GRAPH_CLIENT_ID, False)
    token = graph_sim.token()
    assert "roles" not in claims_of(token)
    r = GraphClient(graph_sim, token).get(f"/users/{ALICE}/contactFolders")
    assert r.status_code == 403
    error = r.json()["error"]
    assert error["code"] == "ErrorAccessDenied"
    assert error["message"] == "Access is denied. Check credentials and try again."
    assert {"date", "request-id", "client-request-id"} <= set(error["innerError"])


def test_calendars_read_does_not_write_events(graph_sim):
    """The default grant (Contacts.ReadWrite, Calendars.Read) reads calendars, never writes."""
    g = GraphClient(graph_sim, graph_sim.token())
    assert g.get(f"/users/{ALICE}/calendar").status_code == 200
    r = g.post(f"/users/{ALICE}/events", {"subject": "x"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "ErrorAccessDenied"


def test_expired_and_forged_tokens_answer_401_with_a_bearer_challenge(graph_sim):
    expired = graph_sim.sim.issue_token(GRAPH_CLIENT_ID, lifetime=-60)
    r = GraphClient(graph_sim, expired).get(f"/users/{ALICE}/contactFolders")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert r.json()["error"]["message"] == "Access token has expired or is not yet valid."
    challenge = r.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="", authorization_uri="')
    assert 'client_id="00000003-0000-0000-c000-000000000000"' in challenge

    head, body, _sig = graph_sim.token().split(".")
    forged = GraphClient(graph_sim, f"{head}.{body}.{base64.urlsafe_b64encode(b'x').decode()}")
    assert forged.get(f"/users/{ALICE}/contactFolders").status_code == 401

    no_token = graph_sim.session().get(f"{graph_sim.graph_url}/users/{ALICE}/calendar", timeout=5)
    assert no_token.status_code == 401
    assert no_token.json()["error"]["message"] == "Access token is empty."


def test_expire_tokens_makes_a_cached_token_fail_until_a_new_one_is_acquired(graph_sim):
    app = graph_sim.msal_app()
    token = app.acquire_token_for_client([GRAPH_SCOPE])["access_token"]
    g = GraphClient(graph_sim, token)
    assert g.get(f"/users/{ALICE}/calendar").status_code == 200
    assert graph_sim.sim.expire_tokens() == 1
    assert g.get(f"/users/{ALICE}/calendar").status_code == 401
    fresh = graph_sim.token()  # a new msal app: a new token request
    assert GraphClient(graph_sim, fresh).get(f"/users/{ALICE}/calendar").status_code == 200
