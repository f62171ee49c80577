"""NTLM sign-in (MS-NLMP) as IIS does it for EWS, verified for real with pyspnego's acceptor.

NTLM authenticates a connection, not a request: the client sends NEGOTIATE, the server
answers 401 with a CHALLENGE, the client sends AUTHENTICATE (with the request's body) on the
same keep-alive connection. One `NtlmSession` lives per connection.

pyspnego's acceptor reads the accounts from the file named by the NTLM_USER_FILE environment
variable (one `DOMAIN:USER:PASSWORD` line each; a UPN has an empty domain). That variable is
process-wide, so every handshake step runs under one lock with the variable pointing at
this simulator's file, written afresh from its accounts.
"""

from __future__ import annotations

import base64
import binascii
import os
import tempfile
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .store import Store

_LOCK = threading.Lock()


def _account_lines(store: Store) -> str:
    with store.lock:
        accounts = dict(store.accounts)
    lines = []
    for user, password in accounts.items():
        domain, _, name = user.rpartition("\\")
        lines.append(f"{domain}:{name}:{password}")
    return "\n".join(lines) + "\n"


class NtlmSession:
    """The NTLM state of one HTTP connection."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._context: object | None = None
        self.user: str | None = None

    def step(self, header_token: str) -> tuple[str | None, str | None]:
        """Feed the client's token: (signed-in user or None, challenge token to send or None).

        (None, None) means the handshake failed: answer with a fresh 401."""
        try:
            token = base64.b64decode(header_token, validate=True)
        except (binascii.Error, ValueError):
            return None, None
        import spnego
        from spnego.exceptions import SpnegoError

        with _LOCK:
            with tempfile.NamedTemporaryFile("w", suffix=".ntlm", delete=False) as fh:
                fh.write(_account_lines(self.store))
            previous = os.environ.get("NTLM_USER_FILE")
            os.environ["NTLM_USER_FILE"] = fh.name
            try:
                if token[8:12] == b"\x01\x00\x00\x00" or self._context is None:
                    self._context = spnego.server(protocol="ntlm")  # a new handshake
                out = self._context.step(token)  # type: ignore[attr-defined]
            except (SpnegoError, ValueError):
                self._context = None
                return None, None
            finally:
                if previous is None:
                    os.environ.pop("NTLM_USER_FILE", None)
                else:
                    os.environ["NTLM_USER_FILE"] = previous
                os.unlink(fh.name)
        context = self._context
        if out:  # the CHALLENGE
            return None, base64.b64encode(out).decode("ascii")
        if context is not None and context.complete:  # type: ignore[attr-defined]
            principal = context.client_principal or ""  # type: ignore[attr-defined]
            self.user = principal.lower()
            self._context = None
            return self.user, None
        return None, None
