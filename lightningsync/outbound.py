"""Where Lightning Sync may connect, and how a remote server's words are shown (SPEC §13).

One rule for every outbound URL (the EWS URL, the Graph base URL, the authority host, and
wherever a server sends the engine on from them): https, or http for a host listed in
`LIGHTNINGSYNC_ALLOW_HTTP_HOSTS`; never a link-local or cloud metadata address, whatever the
spelling. Setup (page, command, configuration import) checks the URL as typed; the engine
checks every request and every resolved address again at connection time
(`syncengine.transports.guarded_http`), since a host name may resolve anywhere.
Whatever answers is shown only as `excerpt()`: it may be anything, of any size.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import unicodedata
from urllib.parse import SplitResult, urlsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Addresses no configured URL may reach: instance metadata services hand out the server's
# cloud credentials to anyone who asks from the machine.
REFUSED_NETWORKS: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...] = (
    (ipaddress.ip_network("169.254.0.0/16"), "a link-local address (cloud metadata service)"),
    (ipaddress.ip_network("fe80::/10"), "an IPv6 link-local address"),
    (ipaddress.ip_network("fd00:ec2::254/128"), "the cloud metadata service (IPv6)"),
    (ipaddress.ip_network("100.100.100.200/32"), "a cloud metadata service"),
)
# IPv6 forms that carry an IPv4 address the network stack may end up using.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")

EXCERPT_CHARS = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]+")


def allowed_http_hosts() -> frozenset[str]:
    return frozenset(
        _normalize_host(h) for h in settings.LIGHTNINGSYNC_ALLOW_HTTP_HOSTS if h
    )


def _normalize_host(host: str) -> str:
    return unicodedata.normalize("NFKC", host).strip().strip("[]").rstrip(".").lower()


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    found = [a for a in (ip.ipv4_mapped, ip.sixtofour) if a is not None]
    if ip.teredo:
        found.append(ip.teredo[1])
    if ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def address_refusal(address: str | IPAddress) -> str | None:
    """Why Lightning Sync never connects to this IP address, or None when it may."""
    if isinstance(address, str):
        try:
            ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0].strip("[]"))
        except ValueError:
            return None
    else:
        ip = address
    candidates: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        candidates += _embedded_ipv4(ip)
    for candidate in candidates:
        for network, what in REFUSED_NETWORKS:
            if candidate.version == network.version and candidate in network:
                return f"{candidate}, {what}"
    return None


def literal_address(host: str) -> IPAddress | None:
    """The IP address a host name spells, in any form a resolver accepts (169.254.169.254,
    2852039166, 0xa9fea9fe, 0251.0376.0251.0376, [::ffff:a9fe:a9fe]...), or None for a name."""
    text = _normalize_host(host)
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        pass
    if not re.fullmatch(r"[0-9a-fx.]+", text):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except OSError:
        return None


def url_refusal(url: str, what: str) -> str | None:
    """Why `url` may not be used as the `what` (EWS URL, Graph base URL...), or None.

    Checks the URL as written, without resolving it: saving never depends on DNS.
    """
    parts = _split(url)
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None  # not a URL at all: the caller's format check says so
    shown = excerpt(url, quoted=True)
    if parts.username is not None or parts.password is not None:
        return (
            f"{shown} holds a user name or password: remove it from the {what}; Lightning "
            "Sync signs in with the service account's credentials."
        )
    address = literal_address(parts.hostname)
    refusal = address_refusal(address) if address is not None else None
    if refusal:
        return f"{shown} points at {refusal}: Lightning Sync never connects there."
    host = _normalize_host(parts.hostname)
    if parts.scheme.lower() == "http" and host not in allowed_http_hosts():
        return (
            f"{shown} uses http://: the {what} must be an https:// address (http:// is "
            f"allowed only for hosts listed in LIGHTNINGSYNC_ALLOW_HTTP_HOSTS)."
        )
    return None


def _split(url: str) -> SplitResult | None:
    try:
        parts = urlsplit(url.strip())
        _ = parts.port  # raises on a malformed port
    except ValueError:
        return None
    return parts


def excerpt(text: str | bytes | None, *, limit: int = EXCERPT_CHARS, quoted: bool = False) -> str:
    """A remote server's text as admins may see it: control and invisible characters gone,
    white space collapsed, at most `limit` characters (its beginning and its end, where
    libraries put the cause). Pages escape it as any text; it is safe in a terminal too.
    Never store or show a server's answer any other way."""
    if not text:
        return ""
    window = limit * 8
    if isinstance(text, bytes):
        if len(text) > 2 * window:
            text = text[:window] + text[-window:]
        text = text.decode("utf-8", errors="replace")
    elif len(text) > 2 * window:
        text = text[:window] + text[-window:]
    clean = " ".join(_CONTROL.sub(" ", text).split())
    if len(clean) > limit:
        head = limit * 2 // 3
        clean = clean[:head].rstrip() + "…" + clean[-(limit - head - 1) :].lstrip()
    return f"“{clean}”" if quoted else clean
