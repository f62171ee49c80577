"""`lightningsync.redaction`: what a log line loses, and what it keeps."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote_plus

import pytest

from lightningsync import redaction
from lightningsync.redaction import REDACTED, redact

SECRET = "Tr1cky pa$$/word+&\"é"


@pytest.fixture(autouse=True)
def known_secret() -> None:
    redaction.remember(SECRET)


@pytest.mark.parametrize("prefix", ["", "u", "us", "user@example.com:", "x" * 37])
def test_it_removes_the_secret_inside_any_base64_text(prefix: str) -> None:
    encoded = base64.b64encode(f"{prefix}{SECRET}".encode()).decode()
    urlsafe = base64.urlsafe_b64encode(f"{prefix}{SECRET}tail".encode()).decode()
    assert redact(f"token {encoded} and {urlsafe}.") == f"token {REDACTED} and {REDACTED}."


def test_it_removes_every_escaped_spelling() -> None:
    for spelling in (SECRET, quote_plus(SECRET), json.dumps(SECRET), repr(SECRET)):
        assert SECRET not in redact(f"value={spelling}")
        assert redact(f"<{spelling}>") in (f"<{REDACTED}>", f"<\"{REDACTED}\">",
                                           f"<'{REDACTED}'>")


def test_it_removes_any_ntlm_message_wherever_it_sits() -> None:
    message = b"NTLMSSP\x00\x03\x00\x00\x00" + bytes(range(64))
    for wrapper in (b"", b"\x60\x48\x06", b"\xa1\x81\x9f\x30\x81"):  # bare, or inside SPNEGO
        blob = base64.b64encode(wrapper + message).decode()
        assert redact(f"NTLM step output: {blob}") == f"NTLM step output: {REDACTED}"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("'Authorization': 'Basic dXNlcjpwYXNz'", f"'Authorization': '{REDACTED}'"),
        ("Proxy-Authorization: Negotiate YIIBBgYGKwYBBQUCoIH7", f"Proxy-Authorization: {REDACTED}"),
        ("Set-Cookie: X-BackEndCookie=abc123; path=/", f"Set-Cookie: {REDACTED}"),
        ("sent Bearer eyJhbGciOi.eyJzdWIiOi.c2ln now", f"sent Bearer {REDACTED} now"),
        ('{"access_token": "abc.def", "expires_in": 3599}',
         f'{{"access_token": "{REDACTED}", "expires_in": 3599}}'),
        ("client_id=1&client_secret=s3cr3t&scope=x",
         f"client_id=1&client_secret={REDACTED}&scope=x"),
        ("-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----",
         f"{REDACTED} private key"),
        ("Basic authentication for rep@example.com", "Basic authentication for rep@example.com"),
        ("Changed Service account password", "Changed Service account password"),
    ],
)
def test_it_removes_what_looks_like_a_credential(line: str, expected: str) -> None:
    assert redact(line) == expected
