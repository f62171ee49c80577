"""The last connection result of each user (SPEC §7, Tables 4 to 6): the one writer.

The sync cycle records what it saw when it reached (or failed to reach) the user's mailbox;
the connection test records its own findings through the same function. A fact given as
None was not looked at by this writer, so the value stored earlier stands (a sync cycle does
not look at the calendar; the connection test does).
"""

from __future__ import annotations

import datetime as dt
import re

from django.utils import timezone

from lightningsync.models import ConnectionResult

Failure = ConnectionResult.Failure

# EWS response codes (the transport's messages start with them) and what they say.
_FAILURES_BY_CODE = (
    (re.compile(r"ErrorNonExistentMailbox|mailbox .*not found", re.I), Failure.MAILBOX),
    (re.compile(r"ErrorInvalidServerVersion|ErrorInvalidSchemaVersion", re.I), Failure.VERSION),
    (re.compile(r"ErrorImperson|ErrorAccessDenied", re.I), Failure.ACCESS),
)


def failure_of(kind: str, message: str) -> str:
    """A failure's `ConnectionResult.Failure`, from the transport's error kind
    ("authentication", "configuration", "transient", ...) and its message."""
    if kind == "authentication":
        return Failure.AUTHENTICATION
    if kind == "transient":
        return Failure.UNREACHABLE
    for pattern, failure in _FAILURES_BY_CODE:
        if pattern.search(message):
            return failure
    return Failure.CONFIGURATION if kind == "configuration" else Failure.OTHER


def record_connection(
    user_id: int,
    *,
    source: str,
    ok: bool,
    failure: str = "",
    message: str = "",
    server_version: str | None = None,
    version_supported: bool | None = None,
    contacts_folder_found: bool | None = None,
    calendar_folder_found: bool | None = None,
    at: dt.datetime | None = None,
) -> None:
    """Store what `source` ("sync", "connection test") found about the user's mailbox now."""
    values: dict[str, object] = {
        "checked_at": at or timezone.now(), "source": source, "ok": ok,
        "failure": "" if ok else (failure or Failure.OTHER), "message": message[:2000],
    }
    seen = {
        "server_version": server_version, "version_supported": version_supported,
        "contacts_folder_found": contacts_folder_found,
        "calendar_folder_found": calendar_folder_found,
    }
    values.update({name: value for name, value in seen.items() if value is not None})
    ConnectionResult.objects.update_or_create(user_id=user_id, defaults=values)
