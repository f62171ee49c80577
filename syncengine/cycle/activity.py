"""What a cycle leaves for the status page (SPEC §7): its sync activity, per object and
direction, and what it found about the mailbox (the user's last connection result).

Both are written with the claim's release, in one transaction (`write_after_cycle`): a
cycle that lost its claim writes neither.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from lightningsync.connectionfacts import failure_of, record_connection
from lightningsync.models import ConnectionResult, SyncActivity, SyncConfiguration

Failure = ConnectionResult.Failure
Object = SyncActivity.Object
Direction = SyncActivity.Direction

SOURCE = "sync"

# A contact report's counts of records written one way or the other.
_TO_CRM = ("crm_created", "crm_updated", "unlinked")
_TO_EXCHANGE = ("exchange_created", "exchange_updated", "exchange_deleted")


def written(report: Any, direction: str) -> int:
    """Records the report's object wrote in `direction`. A report that syncs one way only
    (events: Exchange to CRM) counts everything it wrote (`written`) in that direction."""
    if not hasattr(report, "crm_created"):
        one_way = int(getattr(report, "written", 0) or 0)
        return one_way if direction == Direction.EXCHANGE_TO_CRM else 0
    names = _TO_CRM if direction == Direction.EXCHANGE_TO_CRM else _TO_EXCHANGE
    return sum(int(getattr(report, name, 0) or 0) for name in names)


def directions(config: SyncConfiguration, obj: str) -> tuple[str, ...]:
    """The directions `config` syncs `obj` in."""
    way = config.contacts_direction if obj == Object.CONTACT else config.events_direction
    return {
        "both": (Direction.EXCHANGE_TO_CRM, Direction.CRM_TO_EXCHANGE),
        "exchange_to_crm": (Direction.EXCHANGE_TO_CRM,),
        "crm_to_exchange": (Direction.CRM_TO_EXCHANGE,),
    }.get(way, ())


def activity(user_id: int, config: SyncConfiguration, obj: str, report: Any, *,
             initial: bool, started: dt.datetime, finished: dt.datetime) -> list[SyncActivity]:
    """The rows of one object's part of a cycle: one per direction that wrote records, or
    every direction when this cycle completed the initial sync."""
    if report is None or str(getattr(report, "skipped", "") or ""):
        return []
    rows = []
    for direction in directions(config, obj):
        records = written(report, direction)
        if records or initial:
            rows.append(SyncActivity(
                user_id=user_id, object=obj, direction=direction, records=records,
                initial=initial, started_at=started, finished_at=finished,
            ))
    return rows


@dataclass
class Connection:
    """What the cycle found about the mailbox: reached (with the contact folder's fate when
    contacts synced), or refused for a reason that is about the mailbox or its access."""

    ok: bool
    kind: str = ""
    message: str = ""
    contacts_folder_found: bool | None = None
    calendar_folder_found: bool | None = None


def reached(report: Any) -> Connection:
    def synced(part: Any) -> bool | None:
        return True if part is not None and not getattr(part, "skipped", "") else None

    return Connection(ok=True, contacts_folder_found=synced(getattr(report, "contacts", None)),
                      calendar_folder_found=synced(getattr(report, "events", None)))


# A connection result the cycle finds unchanged is rewritten (for its time) at most this often:
# a quiet cycle writes nothing but the claim's release.
RECHECK_STORED = dt.timedelta(hours=1)


def _same_as_stored(user: Any, connection: Connection, at: dt.datetime) -> bool:
    try:
        stored = user.connection_result
    except ConnectionResult.DoesNotExist:
        return False
    contacts, calendar = connection.contacts_folder_found, connection.calendar_folder_found
    return (
        connection.ok and stored.ok and stored.version_supported is True
        and (contacts is None or stored.contacts_folder_found == contacts)
        and (calendar is None or stored.calendar_folder_found == calendar)
        and at - stored.checked_at < RECHECK_STORED
    )


def write_after_cycle(release: Any, rows: list[SyncActivity], user: Any,
                      connection: Connection | None, at: dt.datetime) -> bool:
    """Release the claim (`release()` → held or not) and, if it was still held, store the
    cycle's activity and connection result, in one transaction."""
    if connection is not None and _same_as_stored(user, connection, at):
        connection = None
    if not rows and connection is None:
        return bool(release())
    user_id = user.pk
    with transaction.atomic():
        if not release():
            return False
        if rows:
            SyncActivity.objects.bulk_create(rows)
        if connection is not None:
            failure = "" if connection.ok else failure_of(connection.kind, connection.message)
            # A mailbox that answered requests of the Exchange 2013 SP1 schema (Graph:
            # Exchange Online) runs a supported version; one that refused the schema does not.
            supported = True if connection.ok else (False if failure == Failure.VERSION else None)
            record_connection(
                user_id, source=SOURCE, ok=connection.ok, failure=failure,
                message=connection.message, version_supported=supported,
                contacts_folder_found=connection.contacts_folder_found,
                calendar_folder_found=connection.calendar_folder_found, at=at,
            )
    return True
