"""A rep's EWS URL when Setup says Autodiscover (SPEC §2): resolved per email domain through
`transports.ews.autodiscover`, kept 24 hours in `AutodiscoverResult` (an answer without a
URL is kept `RETRY_FAILED_AFTER`, so a fix on the Exchange side is seen soon). The cycle and
the connection test call `ews_url_for`; the status page calls `autodiscover_status`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from lightningsync.domains import domain_of
from lightningsync.models import AutodiscoverResult, LightningSyncSetup

from .transports.connect import AutodiscoverSettings
from .transports.protocol import ErrorKind, TransportError

KEEP_FOR = dt.timedelta(hours=24)
RETRY_FAILED_AFTER = dt.timedelta(minutes=10)


def autodiscover_settings(setup: LightningSyncSetup) -> AutodiscoverSettings:
    return AutodiscoverSettings(
        username=setup.service_account_username,
        password=setup.service_account_password(),
        auth_type=setup.auth_type,
        ca_bundle=setup.ca_bundle,
        timeout_seconds=settings.LIGHTNINGSYNC_EWS_TIMEOUT_SECONDS,
        service_url=settings.LIGHTNINGSYNC_AUTODISCOVER_URL,
    )


def _fresh(row: AutodiscoverResult, now: dt.datetime) -> bool:
    keep = KEEP_FOR if row.ews_url else RETRY_FAILED_AFTER
    return row.resolved_at + keep > now


def ews_url_for(setup: LightningSyncSetup, email: str, *, refresh: bool = False) -> str:
    """The EWS URL of `email`'s mailbox: Setup's, or Autodiscover's for its domain (from the
    cache unless `refresh`). Raises TransportError when Autodiscover gave none."""
    if not setup.autodiscover:
        return setup.ews_url
    domain = domain_of(email)
    now = timezone.now()
    row = AutodiscoverResult.objects.filter(domain=domain).first()
    if row is None or refresh or not _fresh(row, now) or (
            row.resolved_at < setup.updated_at):  # Setup changed since: ask again
        row = _resolve(setup, email, domain)
    if row.ews_url:
        return row.ews_url
    raise TransportError(ErrorKind(row.error_kind or ErrorKind.CONFIGURATION), row.error)


def _resolve(setup: LightningSyncSetup, email: str, domain: str) -> AutodiscoverResult:
    from .transports.ews.autodiscover import discover_ews_url  # exchangelib: when needed

    values: dict[str, object] = {"resolved_at": timezone.now(), "ews_url": "", "error": "",
                                 "error_kind": "", "service_url": ""}
    try:
        values["ews_url"], values["service_url"] = discover_ews_url(
            email, autodiscover_settings(setup))
    except TransportError as exc:
        values.update(error=exc.message, error_kind=str(exc.kind))
    row, _ = AutodiscoverResult.objects.update_or_create(domain=domain, defaults=values)
    return row


@dataclass(frozen=True)
class AutodiscoverStatus:
    domain: str
    ews_url: str  # "" when unresolved
    error: str
    resolved_at: dt.datetime | None
    expired: bool


def autodiscover_status(domain: str) -> AutodiscoverStatus:
    """What is known of the domain's resolution, from stored state only (no Exchange call)."""
    row = AutodiscoverResult.objects.filter(domain=domain.lower()).first()
    if row is None:
        return AutodiscoverStatus(domain.lower(), "", "", None, True)
    return AutodiscoverStatus(row.domain, row.ews_url, row.error, row.resolved_at,
                              not _fresh(row, timezone.now()))
