"""No log line carries a secret, at any level, whoever logs it (SPEC §13).

exchangelib, requests/urllib3, requests_ntlm/pyspnego and msal log request headers, NTLM
messages and whole request and response dumps at DEBUG. Rather than trust each library's
current log statements, `RedactSecrets` is a filter on every handler of `LOGGING`: it
rewrites each record's final text (message, exception, stack) before any handler writes it.

It removes two things:
- every secret this process has encrypted or decrypted (`remember()`, called by
  `lightningsync.secrets`), in the spellings a log may carry: as is, URL-, JSON- and
  XML-escaped, and inside any base64 text (so in Basic credentials `user:password`);
- credentials recognisable by their shape: Authorization and Cookie header values, the
  token of an HTTP authentication scheme, NTLM messages (hash material), JSON Web Tokens,
  PEM private keys, and values of keys such as `password` or `client_secret`.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import re
import threading
from collections import OrderedDict
from urllib.parse import quote, quote_plus

REDACTED = "[REDACTED]"
# Secrets kept for redaction per process: the current ones and a few rotated-out ones.
_MAX_SECRETS = 32
# Shorter secrets are still removed as typed; their base64 fragments would be too short to
# tell apart from other base64 text.
_MIN_BASE64_SECRET = 6
_MIN_SECRET = 3

_BASE64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-")


def _base64_fragments(raw: bytes) -> set[str]:
    """The characters that encode `raw` wherever it sits in base64 text (three alignments),
    standard and URL-safe."""
    fragments: set[str] = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode()
        start = -(-8 * offset // 6)  # first character made only of `raw`'s bits
        end = (8 * (offset + len(raw)) - 6) // 6  # last such character
        fragment = encoded[start : end + 1]
        fragments.add(fragment)
        fragments.add(fragment.replace("+", "-").replace("/", "_"))
    return fragments


def _spellings(secret: str) -> set[str]:
    forms = {
        secret,
        quote(secret, safe=""),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        repr(secret)[1:-1],
        html.escape(secret),
    }
    return {f for f in forms if len(f) >= _MIN_SECRET}


# "NTLMSSP\0" opens every NTLM message; wherever one sits in base64 text, the text goes.
_NTLM_FRAGMENTS = _base64_fragments(b"NTLMSSP\0")

_HEADER_MARKERS = ("authorization", "authenticate", "cookie")
_HEADER_VALUE = re.compile(
    r"(?P<key>\b(?:proxy-)?(?:authorization|authenticate|cookie|set-cookie)\b['\"]?\s*[:=]\s*"
    r"['\"]?)(?P<value>[^'\"\r\n]+)",
    re.IGNORECASE,
)
_SCHEMES = ("Basic", "Bearer", "NTLM", "Negotiate", "Digest")
_SCHEME_TOKEN = re.compile(
    rf"\b(?P<scheme>{'|'.join(_SCHEMES)})\s+"
    r"(?P<token>[A-Za-z0-9+/._~-]{6,}=*)(?![A-Za-z0-9+/=._~-])"
)
_KEYS = (
    "password", "passwd", "pwd", "client_secret", "access_token", "refresh_token", "id_token",
    "client_assertion", "code_verifier",
)
_KEY_VALUE = re.compile(
    rf"(?P<key>\b(?:{'|'.join(_KEYS)})\b['\"]?\s*[:=]\s*['\"]?)(?P<value>[^'\"&\s,;}}\]]+)",
    re.IGNORECASE,
)
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", re.DOTALL
)


def _token(match: re.Match[str]) -> str:
    token = match["token"]
    # "Basic authentication" is words; a credential has digits, symbols or length.
    if len(token) < 20 and not re.search(r"[0-9+/=_~.-]", token):
        return match[0]
    return f"{match['scheme']} {REDACTED}"


def _run_around(text: str, start: int, end: int) -> tuple[int, int]:
    """The base64 run (with its padding) that text[start:end] belongs to."""
    while start > 0 and text[start - 1] in _BASE64_CHARS:
        start -= 1
    while end < len(text) and text[end] in _BASE64_CHARS:
        end += 1
    while end < len(text) and text[end] == "=":
        end += 1
    return start, end


class _Secrets:
    """The secrets to remove, kept as plain strings: `str.find` scans a large debug dump far
    faster than a pattern of alternatives would."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: OrderedDict[str, None] = OrderedDict()
        self._plain: tuple[str, ...] = ()
        self._fragments: tuple[str, ...] = tuple(_NTLM_FRAGMENTS)

    def remember(self, secret: str) -> None:
        if len(secret) < _MIN_SECRET:
            return
        with self._lock:
            if secret in self._known:
                self._known.move_to_end(secret)
                return
            self._known[secret] = None
            while len(self._known) > _MAX_SECRETS:
                self._known.popitem(last=False)
            plain: set[str] = set()
            fragments = set(_NTLM_FRAGMENTS)
            for known in self._known:
                plain |= _spellings(known)
                raw = known.encode()
                if len(raw) >= _MIN_BASE64_SECRET:
                    fragments |= _base64_fragments(raw)
            self._plain = tuple(sorted(plain, key=len, reverse=True))
            self._fragments = tuple(fragments)

    def redact(self, text: str) -> str:
        for spelling in self._plain:
            if spelling in text:
                text = text.replace(spelling, REDACTED)
        # The whole base64 run around a fragment goes: it is the credential's encoding.
        spans = []
        for fragment in self._fragments:
            at = text.find(fragment)
            while at != -1:
                spans.append(_run_around(text, at, at + len(fragment)))
                at = text.find(fragment, at + 1)
        if not spans:
            return text
        parts, done = [], 0
        for start, end in sorted(spans):
            if end <= done:
                continue
            parts += [text[done:max(start, done)], REDACTED]
            done = end
        return "".join(parts) + text[done:]


_secrets = _Secrets()


def remember(secret: str) -> None:
    """Never log this value (nor its encodings) from now on in this process."""
    _secrets.remember(secret)


def redact(text: str) -> str:
    """`text` without any secret known to this process or recognisable by its shape."""
    text = _secrets.redact(text)
    # Each shape only where its marker occurs: a debug dump of EWS XML is large, and a plain
    # substring test costs far less than a pattern scan.
    lower = text.lower()
    if "private key" in lower:
        text = _PRIVATE_KEY.sub(f"{REDACTED} private key", text)
    if "eyJ" in text:
        text = _JWT.sub(REDACTED, text)
    if any(marker in lower for marker in _HEADER_MARKERS):
        text = _HEADER_VALUE.sub(lambda m: m["key"] + REDACTED, text)
    if any(marker in text for marker in _SCHEMES):
        text = _SCHEME_TOKEN.sub(_token, text)
    if any(marker in lower for marker in _KEYS):
        text = _KEY_VALUE.sub(lambda m: m["key"] + REDACTED, text)
    return text


_formatter = logging.Formatter()


class RedactSecrets(logging.Filter):
    """Logging filter for handlers: the record leaves with its text redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format: the handler reports it as usual
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = _formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
