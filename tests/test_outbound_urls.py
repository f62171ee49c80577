"""Outbound URLs as saved (SPEC §13): https only unless the host is allowed for http, never a
link-local or cloud metadata address, whichever way Setup is changed (page, command, file)."""

from __future__ import annotations

import html
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.urls import reverse

from lightningsync import outbound
from lightningsync.models import LightningSyncSetup, SetupAuditTrail

pytestmark = pytest.mark.django_db

METADATA = "a link-local address (cloud metadata service): Lightning Sync never connects there."
# Each spelling of the metadata service a resolver accepts, and the address it means.
REFUSED_FORMS = [
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254", METADATA),
    ("https://169.254.169.254/EWS/Exchange.asmx", "169.254.169.254", METADATA),
    ("https://169.254.0.1/EWS/Exchange.asmx", "169.254.0.1", METADATA),
    ("https://2852039166/EWS/Exchange.asmx", "169.254.169.254", METADATA),
    ("https://0xa9fea9fe/EWS/Exchange.asmx", "169.254.169.254", METADATA),
    ("https://0251.0376.0251.0376/EWS/Exchange.asmx", "169.254.169.254", METADATA),
    ("https://169.254.169.254./EWS/Exchange.asmx", "169.254.169.254", METADATA),
    ("https://[::ffff:169.254.169.254]/EWS/Exchange.asmx", "169.254.169.254", METADATA),
    ("https://[::ffff:a9fe:a9fe]/EWS/Exchange.asmx", "169.254.169.254", METADATA),
    ("https://[64:ff9b::a9fe:a9fe]/EWS/Exchange.asmx", "169.254.169.254", METADATA),
    ("https://[2002:a9fe:a9fe::1]/EWS/Exchange.asmx", "169.254.169.254", METADATA),
    (
        "https://[fd00:ec2::254]/EWS/Exchange.asmx",
        "fd00:ec2::254",
        "the cloud metadata service (IPv6): Lightning Sync never connects there.",
    ),
    (
        "https://[fe80::1%25eth0]/EWS/Exchange.asmx",
        "fe80::1",
        "an IPv6 link-local address: Lightning Sync never connects there.",
    ),
]


def refusal(url: str, address: str, what: str) -> str:
    return f"“{url.rstrip('/')}” points at {address}, {what}"


def http_refusal(url: str, what: str = "EWS URL") -> str:
    return (
        f"“{url.rstrip('/')}” uses http://: the {what} must be an https:// address (http:// "
        "is allowed only for hosts listed in LIGHTNINGSYNC_ALLOW_HTTP_HOSTS)."
    )


def saved_url() -> str:
    return LightningSyncSetup.load().ews_url


# --- the three doors --------------------------------------------------------------------------


def via_page(client, url: str) -> list[str]:
    """Save the Setup page with this EWS URL; the errors shown next to the field."""
    data = {
        "connection_method": "service_account",
        "service_account_username": "svc@example.com",
        "service_account_password": "",
        "ews_url": url,
        "auth_type": "basic",
        "graph_url": "https://graph.microsoft.com",
        "authority_url": "https://login.microsoftonline.com",
        "event_category": "Salesforce",
    }
    response = client.post(reverse("admin:lightningsync_setup"), data)
    if response.status_code == 302:
        return []
    assert response.status_code == 200
    return [html.unescape(str(e)) for e in response.context["form"].errors.get("ews_url", [])]


def via_command(url: str) -> list[str]:
    try:
        call_command("lightningsync_setup", "--ews-url", url, stdout=io.StringIO())
    except CommandError as exc:
        prefix = "--ews-url: "
        assert str(exc).startswith(prefix)
        return [str(exc)[len(prefix) :]]
    return []


def via_import(url: str) -> list[str]:
    document = {
        "version": 1, "setup": {"service_account": {"ews_url": url}}, "configurations": []
    }
    try:
        call_command(
            "lightningsync_config", "import", "-", stdin=io.StringIO(json.dumps(document)),
            stdout=io.StringIO(), stderr=io.StringIO(),
        )
    except CommandError as exc:
        prefix = "setup.service_account.ews_url: "
        lines = str(exc).splitlines()
        assert all(line.startswith(prefix) for line in lines), lines
        return [line[len(prefix) :] for line in lines]
    return []


@pytest.fixture(params=["page", "command", "import"])
def save(request, admin_client):
    return {
        "page": lambda url: via_page(admin_client, url),
        "command": via_command,
        "import": via_import,
    }[request.param]


@pytest.mark.parametrize(("url", "address", "what"), REFUSED_FORMS)
def test_it_refuses_every_spelling_of_a_metadata_address(save, url, address, what):
    assert save(url) == [refusal(url, address, what)]
    assert saved_url() == ""
    assert not SetupAuditTrail.objects.exists()


def test_it_refuses_http_for_a_host_not_allowed(save):
    url = "http://mail.example.com/EWS/Exchange.asmx"
    assert save(url) == [http_refusal(url)]
    assert saved_url() == ""


@override_settings(LIGHTNINGSYNC_ALLOW_HTTP_HOSTS=["exchange.lab.example"])
def test_it_accepts_http_only_for_an_allowed_host(save):
    assert save("http://mail.example.com/EWS/Exchange.asmx") == [
        http_refusal("http://mail.example.com/EWS/Exchange.asmx")
    ]
    assert save("http://Exchange.Lab.Example/EWS/Exchange.asmx") == []
    assert saved_url() == "http://Exchange.Lab.Example/EWS/Exchange.asmx"


@override_settings(LIGHTNINGSYNC_ALLOW_HTTP_HOSTS=["169.254.169.254"])
def test_allowing_http_never_allows_a_metadata_address(save):
    url = "http://169.254.169.254/latest/meta-data/"
    assert save(url) == [refusal(url, "169.254.169.254", METADATA)]


def test_it_accepts_https(save):
    assert save("https://mail.example.com/EWS/Exchange.asmx") == []
    assert saved_url() == "https://mail.example.com/EWS/Exchange.asmx"


def test_it_refuses_credentials_in_the_url(save):
    url = "https://svc:Secret-1@mail.example.com/EWS/Exchange.asmx"
    assert save(url) == [
        f"“{url}” holds a user name or password: remove it from the EWS URL; Lightning Sync "
        "signs in with the service account's credentials."
    ]


def test_the_graph_and_authority_urls_follow_the_same_rule():
    def errors(section: dict) -> list[str]:
        document = {"version": 1, "setup": {"oauth2": section}, "configurations": []}
        with pytest.raises(CommandError) as info:
            call_command(
                "lightningsync_config", "import", "-", stdin=io.StringIO(json.dumps(document)),
                stdout=io.StringIO(), stderr=io.StringIO(),
            )
        return str(info.value).splitlines()

    assert errors({"graph_url": "http://169.254.169.254"}) == [
        "setup.oauth2.graph_url: " + refusal("http://169.254.169.254", "169.254.169.254", METADATA)
    ]
    assert errors({"authority_url": "http://login.example.com"}) == [
        "setup.oauth2.authority_url: " + http_refusal("http://login.example.com", "authority host")
    ]


# --- the rule itself ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    ["169.254.169.254", "169.254.0.0", "169.254.255.255", "fe80::1", "fd00:ec2::254",
     "::ffff:169.254.169.254", "::a9fe:a9fe", "64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::",
     "100.100.100.200"],
)
def test_it_refuses_link_local_and_metadata_addresses(address):
    assert outbound.address_refusal(address) is not None


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "10.0.0.5", "192.168.1.10", "8.8.8.8", "::1", "2001:db8::1",
                "169.253.255.255", "169.255.0.0", "fd00:ec2::253"],
)
def test_it_allows_other_addresses(address):
    # On-premises Exchange lives on private networks; only metadata is off limits.
    assert outbound.address_refusal(address) is None


def test_a_host_name_is_not_an_address():
    assert outbound.literal_address("mail.example.com") is None
    assert outbound.literal_address("cafe.be") is None


def test_an_excerpt_is_short_and_without_control_characters():
    body = "<html>\x1b[31m<script>alert(1)</script>\r\n" + "x" * 100_000 + "\u202e</html>\x00"
    text = outbound.excerpt(body)
    assert len(text) == outbound.EXCERPT_CHARS
    assert text.startswith("<html> [31m<script>alert(1)</script> xxx")
    assert text.endswith("xxx </html>")
    assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F or c == "\u202e" for c in text)
    assert outbound.excerpt(b"short \xff bytes") == "short \ufffd bytes"
    assert outbound.excerpt("") == ""


# --- intranet names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://mail/EWS/Exchange.asmx",
        "https://EXCH01:8443/EWS/Exchange.asmx",
        "https://ex-2019/ews/exchange.asmx",
    ],
)
def test_it_accepts_a_single_label_intranet_host(save, url):
    # On premises Exchange is often reached by its short name, resolved by the LAN's DNS.
    assert save(url) == []
    assert saved_url() == url


def test_a_single_label_host_is_held_to_the_same_rules(save):
    assert save("http://mail/EWS/Exchange.asmx") == [http_refusal("http://mail/EWS/Exchange.asmx")]
    # Spelled as a number, it is an address: the metadata service's, or not a URL at all.
    assert save("https://2852039166/EWS/Exchange.asmx") == [
        refusal("https://2852039166/EWS/Exchange.asmx", "169.254.169.254", METADATA)
    ]
    assert save("https://0x1/EWS/Exchange.asmx") == [
        "“https://0x1/EWS/Exchange.asmx” is not a valid EWS URL: enter an https:// address "
        "such as https://mail.example.com/EWS/Exchange.asmx."
    ]
    assert save("https://-mail/EWS/Exchange.asmx") != []
    assert saved_url() == ""


@override_settings(LIGHTNINGSYNC_ALLOW_HTTP_HOSTS=["mail"])
def test_a_single_label_host_may_be_allowed_http(save):
    assert save("http://mail/EWS/Exchange.asmx") == []
    assert saved_url() == "http://mail/EWS/Exchange.asmx"
