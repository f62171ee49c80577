"""System checks with stable ids: bad configuration is caught at start, not at first sync."""

from __future__ import annotations

from typing import Any

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import Error, Warning, register

from lightningsync import outbound


@register("lightningsync")
def check_encryption_keys(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    keys = list(getattr(settings, "LIGHTNINGSYNC_ENCRYPTION_KEYS", []))
    if not keys:
        return [
            Error(
                "LIGHTNINGSYNC_ENCRYPTION_KEYS is not set: secrets cannot be encrypted at rest.",
                hint="Set it to one or more comma-separated Fernet keys, newest first.",
                id="lightningsync.E001",
            )
        ]
    errors = []
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            errors.append(
                Error(
                    f"Key {position} of LIGHTNINGSYNC_ENCRYPTION_KEYS is not a valid Fernet key.",
                    hint="A Fernet key is 32 bytes, url-safe base64 encoded (44 characters).",
                    id="lightningsync.E002",
                )
            )
    return errors


@register("lightningsync")
def check_sync_interval(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    minutes = settings.LIGHTNINGSYNC_SYNC_INTERVAL_MINUTES
    if not 1 <= minutes <= 1440:
        return [
            Error(
                f"LIGHTNINGSYNC_SYNC_INTERVAL_MINUTES is {minutes}; it must be 1 to 1440.",
                id="lightningsync.E003",
            )
        ]
    return []


@register("lightningsync")
def check_claim_lease(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    seconds = settings.LIGHTNINGSYNC_CLAIM_LEASE_SECONDS
    if not 1 <= seconds <= 120:
        return [
            Error(
                f"LIGHTNINGSYNC_CLAIM_LEASE_SECONDS is {seconds}; it must be 1 to 120.",
                hint="A user whose worker died waits this long before another worker takes "
                "it over (at most 2 minutes); a running cycle renews its claim meanwhile.",
                id="lightningsync.E007",
            )
        ]
    return []


# (setting, lowest, highest): the EWS client's limits.
_EWS_LIMITS = (
    ("LIGHTNINGSYNC_EWS_TIMEOUT_SECONDS", 5, 600),
    ("LIGHTNINGSYNC_EWS_MAX_CONNECTIONS", 1, 64),
    ("LIGHTNINGSYNC_EWS_READ_CONCURRENCY", 1, 8),
    ("LIGHTNINGSYNC_CONNECTION_TEST_STEP_SECONDS", 1, 300),
)


@register("lightningsync")
def check_ews_client(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    errors = []
    for name, low, high in _EWS_LIMITS:
        value = getattr(settings, name)
        if not low <= value <= high:
            errors.append(Error(
                f"{name} is {value}; it must be {low} to {high}.",
                hint="Exchange throttles a mailbox that opens too many concurrent requests."
                if "CONCURRENCY" in name or "CONNECTIONS" in name else None,
                id="lightningsync.E006",
            ))
    autodiscover = settings.LIGHTNINGSYNC_AUTODISCOVER_URL
    refusal = outbound.url_refusal(autodiscover, "Autodiscover address") if autodiscover else None
    if refusal:
        errors.append(Error(f"LIGHTNINGSYNC_AUTODISCOVER_URL: {refusal}",
                            id="lightningsync.E009"))
    return errors


@register("lightningsync")
def check_task_queue(app_configs: Any = None, **kwargs: Any) -> list[Error | Warning]:
    q = settings.Q_CLUSTER
    problems: list[Error | Warning] = []
    if q.get("timeout", 0) >= q.get("retry", 0):
        problems.append(
            Error(
                "Q_TIMEOUT must be smaller than Q_RETRY, or tasks are handed out twice while "
                "still running.",
                id="lightningsync.E004",
            )
        )
    batch = settings.LIGHTNINGSYNC_SYNC_BATCH_SIZE
    if not 1 <= batch <= 1000:
        problems.append(
            Error(
                f"LIGHTNINGSYNC_SYNC_BATCH_SIZE is {batch}; it must be 1 to 1000.",
                hint="A task syncs this many users one after the other.",
                id="lightningsync.E008",
            )
        )
    redis_url = getattr(settings, "REDIS_URL", "")
    if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        problems.append(
            Error(
                "REDIS_URL must start with redis://, rediss:// or unix://.",
                id="lightningsync.E005",
            )
        )
    return problems


@register("lightningsync", deploy=True)
def check_persistent_connections(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """Without persistent connections every sync task, and the task queue's monitor and
    pusher for every task, open new database connections: on a database server that costs
    more than the sync itself."""
    database = settings.DATABASES["default"]
    if database.get("CONN_MAX_AGE") != 0 or database["ENGINE"].endswith("sqlite3"):
        return []
    return [
        Warning(
            "CONN_MAX_AGE is 0: every task of the sync workers opens new database connections.",
            hint="Leave CONN_MAX_AGE unset (300 seconds) or set it to a number of seconds.",
            id="lightningsync.W002",
        )
    ]


@register("lightningsync", deploy=True)
def check_http_hosts(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """Plain http to Exchange is for the demo and tests: in production it sends the service
    account's credentials unencrypted (SPEC §13)."""
    hosts = settings.LIGHTNINGSYNC_ALLOW_HTTP_HOSTS
    if not hosts:
        return []
    return [
        Warning(
            f"LIGHTNINGSYNC_ALLOW_HTTP_HOSTS allows plain http:// to {', '.join(hosts)}: the "
            "service account's credentials would cross the network unencrypted.",
            hint="Leave it empty in production and give Exchange an https:// URL (a private "
            "CA goes in Setup's trusted CA bundle).",
            id="lightningsync.W001",
        )
    ]
