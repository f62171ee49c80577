"""The HTTP session Graph and the token endpoint are reached with: trusting exactly Setup's
CA bundle when there is one (REQUESTS_CA_BUNDLE would otherwise win: `trust_env` off)."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import requests


def ca_bundle_path(pem: str) -> str:
    """A file holding `pem` (requests verifies against a path), named by its digest."""
    digest = hashlib.sha256(pem.encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"lightningsync-ca-{digest}.pem"
    if not path.exists():
        path.write_text(pem)
    return str(path)


def session_for(ca_bundle: str) -> requests.Session:
    session = requests.Session()
    if ca_bundle:
        session.trust_env = False
        session.verify = ca_bundle_path(ca_bundle)
    return session
