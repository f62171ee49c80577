"""Autodiscover (SPEC §2): a mailbox's EWS URL, asked of its domain's Autodiscover service
through exchangelib's SOAP client (`AutodiscoverProtocol.get_user_settings`).

exchangelib's own `Autodiscovery` walks DNS and follows redirects with sessions of its own;
we ask the two places Microsoft documents for a domain (https://<domain>/autodiscover/... and
https://autodiscover.<domain>/...) or the one Autodiscover address the installation gives
(`LIGHTNINGSYNC_AUTODISCOVER_URL`: split DNS, a lab, the demo), each through sessions that
reach only where SPEC §13 allows and trust Setup's CA bundle, with Setup's authentication
type, and follow no redirect. The URL found is checked by the same rule as a typed one.
"""

from __future__ import annotations

from exchangelib import BASIC, NTLM, Configuration, Credentials, FailFast
from exchangelib import errors as ews
from exchangelib.autodiscover.protocol import AutodiscoverProtocol

from lightningsync import outbound

from ..connect import AutodiscoverSettings
from ..protocol import ErrorKind, TransportError
from .client import secure_sessions
from .errors import EXTERNAL_ERRORS, to_transport_error

SERVICE_PATH = "/autodiscover/autodiscover.svc"
_SETTINGS = ["external_ews_url", "internal_ews_url", "auto_discover_smtp_address"]


def domain_of(email: str) -> str:
    return email.rpartition("@")[2].strip().lower()


def candidate_urls(domain: str, service_url: str = "") -> list[str]:
    """Where the domain's Autodiscover service is asked, in order."""
    if service_url:
        return [service_url]
    return [f"https://{domain}{SERVICE_PATH}", f"https://autodiscover.{domain}{SERVICE_PATH}"]


def discover_ews_url(email: str, settings: AutodiscoverSettings) -> tuple[str, str]:
    """(EWS URL, the Autodiscover address that answered) for `email`'s mailbox.

    Raises TransportError: CONFIGURATION when every candidate answered but none knew the
    mailbox or gave a usable URL, TRANSIENT when none could be reached, AUTHENTICATION when
    the service account was refused.
    """
    failures: list[str] = []
    worst: TransportError | None = None
    for url in candidate_urls(domain_of(email), settings.service_url):
        refusal = outbound.url_refusal(url, "Autodiscover address")
        if refusal:
            failures.append(refusal)
            continue
        try:
            found = _ask(url, email, settings)
        except EXTERNAL_ERRORS as exc:
            error = to_transport_error(exc)
            if isinstance(exc, ews.AutoDiscoverError):  # it answered, without a usable URL
                error = TransportError(ErrorKind.CONFIGURATION, error.message)
            failures.append(f"{url}: {error.message}")
            if worst is None or error.kind is not ErrorKind.TRANSIENT:
                worst = error
            continue
        refusal = outbound.url_refusal(found, "EWS URL")
        if refusal:
            raise TransportError(
                ErrorKind.CONFIGURATION, f"Autodiscover at {url} gave an EWS URL Lightning "
                f"Sync does not use: {refusal}")
        return found, url
    kind = worst.kind if worst is not None else ErrorKind.CONFIGURATION
    if kind not in (ErrorKind.AUTHENTICATION, ErrorKind.TRANSIENT):
        kind = ErrorKind.CONFIGURATION
    raise TransportError(
        kind, f"Autodiscover found no EWS URL for {email}: " + "; ".join(failures))


def _ask(url: str, email: str, settings: AutodiscoverSettings) -> str:
    protocol = AutodiscoverProtocol(config=Configuration(
        service_endpoint=url,
        credentials=Credentials(settings.username, settings.password),
        auth_type=NTLM if settings.auth_type == "ntlm" else BASIC,
        retry_policy=FailFast(),
    ))
    protocol.TIMEOUT = settings.timeout_seconds
    secure_sessions(protocol, settings.ca_bundle)
    try:
        answer = protocol.get_user_settings(user=email, settings=_SETTINGS)
        answer.raise_errors()
    finally:
        protocol.close()
    if answer.redirect_address or answer.redirect_url:
        raise ews.AutoDiscoverFailed(
            "Autodiscover redirects this mailbox elsewhere; Lightning Sync follows no redirect")
    ews_url = answer.user_settings.get("external_ews_url") or answer.user_settings.get(
        "internal_ews_url")
    if not ews_url:
        raise ews.AutoDiscoverFailed("Autodiscover gave no EWS URL for this mailbox")
    return str(ews_url)
