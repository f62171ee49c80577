"""App-only tokens (ARCHITECTURE.md, "TLS and tokens"): the real msal against exchangesim
over TLS; one application per process and settings, its token cache shared by every mailbox
and cycle; its HTTP session trusts exactly Setup's CA bundle."""

from __future__ import annotations

import logging

import pytest
import trustme

from syncengine.transports.graph import auth
from syncengine.transports.graph.transport import GraphTransport
from syncengine.transports.protocol import ErrorKind, TransportError

from .graph_fixtures import graph_settings


@pytest.fixture
def sim(exchange_sim_graph):  # type: ignore[no-untyped-def]
    for mailbox in ("rep@example.com", "other@example.com"):
        exchange_sim_graph.sim.add_mailbox(mailbox)
    return exchange_sim_graph


def test_one_token_serves_every_mailbox_and_cycle(sim):  # type: ignore[no-untyped-def]
    for _cycle in range(3):
        for mailbox in ("rep@example.com", "other@example.com"):
            transport = GraphTransport.open(graph_settings(sim, mailbox))
            transport.ensure_contact_folder()
            transport.close()
    assert sim.sim.request_count("token") == 1
    assert sim.sim.request_count("graph:createContactFolder") == 2
    assert auth.token_source(graph_settings(sim, "rep@example.com")) is auth.token_source(
        graph_settings(sim, "other@example.com")
    )


def test_other_settings_get_their_own_application(sim):  # type: ignore[no-untyped-def]
    sim.sim.add_app("88888888-2222-3333-4444-555555555555", secret="Another~One")
    first = graph_settings(sim, "rep@example.com")
    second = graph_settings(
        sim, "rep@example.com", client_id="88888888-2222-3333-4444-555555555555",
        client_secret="Another~One",
    )
    assert auth.token_source(first) is not auth.token_source(second)
    GraphTransport.open(first).find_contact_folder()
    GraphTransport.open(second).find_contact_folder()
    assert sim.sim.request_count("token") == 2


def test_an_expired_token_is_replaced_once(sim):  # type: ignore[no-untyped-def]
    settings = graph_settings(sim, "rep@example.com")
    GraphTransport.open(settings).find_contact_folder()
    sim.sim.expire_tokens()
    assert GraphTransport.open(settings).find_contact_folder() is None
    assert sim.sim.request_count("token") == 2


def test_the_session_trusts_exactly_setups_bundle(sim, monkeypatch):  # type: ignore[no-untyped-def]
    # The environment trusts the simulator's CA; Setup names another one: refused.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", sim.ca_pem)
    stranger = trustme.CA().cert_pem.bytes().decode()
    settings = graph_settings(sim, "rep@example.com", ca_bundle=stranger)
    with pytest.raises(TransportError) as caught:
        GraphTransport.open(settings).find_contact_folder()
    assert caught.value.kind in (ErrorKind.TRANSIENT, ErrorKind.CONFIGURATION)
    assert "certificate" in caught.value.message.lower() or "ssl" in caught.value.message.lower()
    assert sim.sim.request_count("token") == 0


def test_a_certificate_credential_signs_its_assertion(sim):  # type: ignore[no-untyped-def]
    ca = trustme.CA(key_type=trustme.KeyType.RSA)
    cert = ca.issue_cert("app.example.com", key_type=trustme.KeyType.RSA)
    cert_pem = cert.cert_chain_pems[0].bytes().decode()
    sim.sim.add_app("66666666-2222-3333-4444-555555555555", cert_pem=cert_pem)
    settings = graph_settings(
        sim, "rep@example.com", client_id="66666666-2222-3333-4444-555555555555",
        client_secret="", certificate=cert_pem + cert.private_key_pem.bytes().decode(),
    )
    assert GraphTransport.open(settings).ensure_contact_folder().created


@pytest.mark.parametrize(
    ("override", "kind", "words"),
    [
        ({"client_secret": "Wrong~Secret"}, ErrorKind.AUTHENTICATION, "client secret was refused"),
        ({"tenant_id": "fabrikam.onmicrosoft.com"}, ErrorKind.CONFIGURATION, "tenant"),
    ],
)
def test_a_refused_token_is_classified_and_never_leaks_the_secret(  # type: ignore[no-untyped-def]
    sim, caplog, override, kind, words
):
    with caplog.at_level(logging.DEBUG), pytest.raises(TransportError) as caught:
        settings = graph_settings(sim, "rep@example.com", **override)
        GraphTransport.open(settings).find_contact_folder()
    assert caught.value.kind == kind and words in caught.value.message
    for secret in ("Wrong~Secret", sim.client_secret):
        assert secret not in caught.value.message and secret not in caplog.text
