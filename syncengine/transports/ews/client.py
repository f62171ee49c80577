"""The exchangelib connection to one mailbox: Configuration, protocol, Account.

Configured the way ARCHITECTURE.md measured matters: fixed version and auth type (no
probes), explicit impersonation, `FailFast` (the runner owns retries and back-off). One
Configuration is shared by every mailbox reached with the same settings, and so is the
protocol's HTTP connection pool; every session of it reaches only where SPEC §13 allows and
trusts Setup's CA bundle when there is one.

exchangelib keeps one protocol per endpoint and credentials for the whole process, and this
module sets the CA bundle on a protocol once: keyed that way alone, a running worker would
go on with the old authentication type or CA bundle after Setup changed them. The
credentials carry the rest of the settings, so that other settings never share a protocol.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import tempfile
import threading
from pathlib import Path
from typing import Any

from exchangelib import (
    BASIC,
    IMPERSONATION,
    NTLM,
    Account,
    Build,
    Configuration,
    Credentials,
    FailFast,
    Version,
)

from .. import guarded_http
from ..connect import ConnectionSettings
from ..protocol import ErrorKind, TransportError

# Exchange 2013 SP1 is the oldest supported server; every later version accepts this schema.
EWS_VERSION = Version(build=Build(15, 0, 847, 32), api_version="Exchange2013_SP1")

_configs: dict[str, Configuration] = {}
_configs_lock = threading.Lock()


class _SettingsCredentials(Credentials):
    """Credentials that compare equal only under the same connection settings: exchangelib
    keys its process-wide protocols by endpoint and credentials."""

    def __init__(self, username: str, password: str, connection: str) -> None:
        super().__init__(username, password)
        self.connection = connection  # the fingerprint of the settings besides these

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and super().__eq__(other)

    def __hash__(self) -> int:
        return super().__hash__()


def _fingerprint(settings: ConnectionSettings, *, with_credentials: bool) -> str:
    """A digest of everything the connection depends on (the mailbox and the org ID are
    per Account, not per connection)."""
    parts: list[object] = [settings.url, settings.auth_type, settings.ca_bundle,
                           settings.timeout_seconds, settings.max_connections]
    if with_credentials:
        parts += [settings.username, settings.password]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _ca_bundle_path(pem: str) -> str:
    digest = hashlib.sha256(pem.encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"lightningsync-ca-{digest}.pem"
    if not path.exists():
        path.write_text(pem)
    return str(path)


def configuration_for(settings: ConnectionSettings) -> Configuration:
    """One exchangelib Configuration per connection settings, shared by every user's Account.

    Sharing it shares the protocol's HTTP connection pool across mailboxes.
    """
    key = _fingerprint(settings, with_credentials=True)
    with _configs_lock:
        config = _configs.get(key)
        if config is None:
            if not settings.url:
                raise TransportError(
                    ErrorKind.CONFIGURATION,
                    "No EWS URL is set in Lightning Sync Setup.",
                )
            config = Configuration(
                service_endpoint=settings.url,
                credentials=_SettingsCredentials(
                    settings.username, settings.password,
                    _fingerprint(settings, with_credentials=False),
                ),
                auth_type=NTLM if settings.auth_type == "ntlm" else BASIC,
                version=EWS_VERSION,
                retry_policy=FailFast(),
                max_connections=settings.max_connections,
            )
            _configs[key] = config
        return config


def _trust_bundle(protocol: Any, ca_path: str) -> None:
    """Verify against the bundle only (REQUESTS_CA_BUNDLE would otherwise win)."""
    original = protocol.create_session

    def create_session() -> Any:
        session = original()
        session.trust_env = False
        session.verify = ca_path
        return session

    protocol.create_session = create_session


def _guard_sessions(protocol: Any) -> None:
    """Every session of the protocol connects only where SPEC §13 allows (before any request
    carries the service account's credentials)."""
    original = protocol.create_session

    def create_session() -> Any:
        session = guarded_http.guard(original(), pool_size=protocol.CONNECTIONS_PER_SESSION)
        _environment_read_once(session)
        return session

    protocol.create_session = create_session


def _environment_read_once(session: Any) -> None:
    """requests reads the proxy variables (and their exceptions) from the environment again
    for every request (measured here: about 3% of a no-change cycle's CPU), for answers that
    do not change while the session lives: read once per session and URL (every request of
    a protocol goes to its one EWS URL)."""
    merge = session.merge_environment_settings
    known: dict[tuple[Any, ...], dict[str, Any]] = {}

    def merge_environment_settings(url: str, proxies: Any, stream: Any, verify: Any,
                                   cert: Any) -> dict[str, Any]:
        key = (url, tuple(sorted((proxies or {}).items())), stream, verify, cert)
        if key not in known:
            known.clear()  # one URL in practice: never grows
            known[key] = merge(url, proxies, stream, verify, cert)
        found = known[key]
        return {**found, "proxies": dict(found["proxies"])}

    session.merge_environment_settings = merge_environment_settings


def account_for(settings: ConnectionSettings) -> Account:
    """The mailbox `settings.mailbox`, impersonated by the service account."""
    config = configuration_for(settings)
    account = Account(
        primary_smtp_address=settings.mailbox,
        config=config,
        autodiscover=False,
        access_type=IMPERSONATION,
        default_timezone=None,
    )
    protocol = account.protocol
    protocol.TIMEOUT = settings.timeout_seconds
    secure_sessions(protocol, settings.ca_bundle)
    return account


def secure_sessions(protocol: Any, ca_bundle: str) -> None:
    """Make every session of `protocol` (EWS or Autodiscover) reach only where SPEC §13
    allows and trust `ca_bundle` (PEM; "" = the system store). Idempotent."""
    if not getattr(protocol, "_lightningsync_guarded", False):
        _guard_sessions(protocol)
        protocol._lightningsync_guarded = True
    if ca_bundle and not getattr(protocol, "_lightningsync_ca", None):
        _trust_bundle(protocol, _ca_bundle_path(ca_bundle))
        protocol._lightningsync_ca = True


def probe_account(settings: ConnectionSettings, tag: str) -> Account:
    """An Account on a connection of its own (not shared with the sync's), for probes that
    change the protocol's state (the version probe does). Close it with `forget_probe`."""
    config = Configuration(
        service_endpoint=settings.url,
        credentials=_SettingsCredentials(
            settings.username, settings.password,
            f"{_fingerprint(settings, with_credentials=False)}:{tag}",
        ),
        auth_type=NTLM if settings.auth_type == "ntlm" else BASIC,
        version=EWS_VERSION,
        retry_policy=FailFast(),
        max_connections=1,
    )
    account = Account(
        primary_smtp_address=settings.mailbox, config=config, autodiscover=False,
        access_type=IMPERSONATION, default_timezone=None,
    )
    account.protocol.TIMEOUT = settings.timeout_seconds
    secure_sessions(account.protocol, settings.ca_bundle)
    return account


def forget_probe(account: Account) -> None:
    """Close a probe's connection and drop it from exchangelib's process-wide cache."""
    protocol = account.protocol
    with contextlib.suppress(Exception):
        protocol.close()
    with contextlib.suppress(KeyError):
        del type(protocol)[protocol.config]
