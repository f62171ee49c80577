"""SPEC §12: a cycle costs the same per user whatever the org's size.

A rep with a few contacts syncs (Both ways, through exchangesim) in an org whose other users,
who do not sync now, own many contacts, links and error entries. Every query of a no-change
cycle is captured and its plan read: PostgreSQL's `EXPLAIN (ANALYZE, FORMAT JSON)` gives the
rows each scan read (kept plus filtered out); SQLite's `EXPLAIN QUERY PLAN` tells a search
through an index from a scan of a whole table. Growing the org a hundredfold must not make the
cycle read one row more of the tables that grew.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from lightningsync.models import (
    Account,
    Contact,
    ContactFilter,
    ContactLink,
    LightningSyncError,
    User,
)

from .ews_fixtures import crm_contact, ews_fixture  # noqa: F401

# The tables that grow with the org (the rep's own rows stay the same).
GROWING = ("lightningsync_contact", "lightningsync_contactlink", "lightningsync_lightningsyncerror",
           "lightningsync_account")
SMALL, LARGE = 200, 20_000
OTHER_USERS = 20
SCAN_NODES = {"Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Heap Scan", "Tid Scan"}


def grow_org(start: int, stop: int, *, changed_at: dt.datetime | None = None) -> None:
    """Contacts `start`..`stop` of the org's other users (who do not sync now): one in ten in
    an account of its own, one in two linked to its owner's mailbox, one in twenty
    refused by Exchange and due for another try. Then fresh planner statistics."""
    owners = list(User.objects.filter(username__startswith="other-").order_by("pk"))
    if not owners:
        owners = User.objects.bulk_create(
            [User(username=f"other-{n}", email=f"other-{n}@example.com")
             for n in range(OTHER_USERS)])
    accounts = Account.objects.bulk_create(
        [Account(name=f"Org account {n}") for n in range(start // 10, stop // 10)])
    contacts = Contact.objects.bulk_create([
        Contact(owner=owners[n % OTHER_USERS], first_name=f"Org{n}", last_name=f"Contact{n}",
                email=f"org{n}@elsewhere.test",
                account=accounts[(n - start) // 10] if n % 10 == 0 else None)
        for n in range(start, stop)], batch_size=5000)
    ContactLink.objects.bulk_create([
        ContactLink(user_id=c.owner_id, contact=c, exchange_id=f"item-{c.pk}", origin="crm",
                    snapshot={}, snapshot_hash="x")
        for c in contacts[::2]], batch_size=5000)
    now = timezone.now()
    LightningSyncError.objects.bulk_create([
        LightningSyncError(user_id=c.owner_id, direction="crm_to_exchange",
                           kind="item_rejected", exchange_item_id=f"item-{c.pk}", contact=c,
                           message="Refused.", first_occurred_at=now, last_occurred_at=now,
                           fingerprint=f"refused-{c.pk}", next_try_at=now - dt.timedelta(hours=1))
        for c in contacts[::20]], batch_size=5000)
    # The accounts changed long before the rep's last cycle (each cycle looks at the
    # accounts changed since the one before: a matter of the org's activity, not its size).
    Account.objects.filter(pk__in=[a.pk for a in accounts]).update(
        updated_at=now - dt.timedelta(days=3))
    if changed_at is not None:
        Contact.objects.filter(pk__in=[c.pk for c in contacts]).update(updated_at=changed_at)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def reads(sql: str) -> Counter[str]:
    """Rows each growing table gave a query's plan: read through an index or scanned, kept or
    filtered out (PostgreSQL); on SQLite, one "row" per whole-table scan of it."""
    counted: Counter[str] = Counter()
    with transaction.atomic(), connection.cursor() as cursor:  # a write is rolled back
        if connection.vendor == "postgresql":
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql)
            raw = cursor.fetchone()[0]
            plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
            _count(plan, counted)
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + sql)
            aliases = {alias: table for table, alias in re.findall(r'"(\w+)" (U\d+)\b', sql)}
            for row in cursor.fetchall():
                # "SCAN [TABLE] name [USING [COVERING] INDEX ...]": every row, or every entry
                # of an index; "SEARCH ..." goes through an index to the rows it wants.
                words = str(row[-1]).replace("SCAN TABLE ", "SCAN ").split()
                if words[:1] == ["SCAN"] and aliases.get(words[1], words[1]) in GROWING:
                    counted[aliases.get(words[1], words[1])] += 1
        transaction.set_rollback(True)
    return counted


def _count(node: dict[str, Any], counted: Counter[str]) -> None:
    table = node.get("Relation Name")
    if node["Node Type"] in SCAN_NODES and table in GROWING:
        per_loop = (node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)
                    + node.get("Rows Removed by Index Recheck", 0))
        counted[table] += int(per_loop * node.get("Actual Loops", 1))
    for child in node.get("Plans", []):
        _count(child, counted)


def no_change_cycle(ews: Any) -> tuple[Counter[str], list[str]]:
    """A cycle that finds nothing to do; what it read of the growing tables, and how."""
    items = ews.exchange()
    with CaptureQueriesContext(connection) as captured:
        report = ews.sync()
    assert report.outcome == "synced", report.reason
    assert report.contacts.written == 0 and report.contacts.listed == 0
    assert ews.exchange() == items
    total: Counter[str] = Counter()
    where: list[str] = []
    for query in captured.captured_queries:
        sql = query["sql"]
        if not sql.lstrip("( ").upper().startswith(("SELECT", "UPDATE", "DELETE")):
            continue  # savepoints
        counted = reads(sql)
        total += counted
        where += [f"{table}: {n} in {sql[:300]}" for table, n in counted.items()]
    return total, where


# (configuration, links of the rep after the first cycles: its 5 contacts, Outlook's one,
# and with every contact in scope the org's too)
CONFIGURATIONS: dict[str, tuple[dict[str, Any], int]] = {
    "both ways, the user's records": ({}, 6),
    "Exchange to CRM": ({"contacts_direction": "exchange_to_crm"}, 1),
    "CRM to Exchange, filtered": ({"contacts_direction": "crm_to_exchange",
                                   "filters": [("title", "equals", "Buyer")]}, 5),
    "both ways, all contacts": ({"contacts_ownership": "all"}, 6 + SMALL),
}


@pytest.mark.parametrize("configuration", CONFIGURATIONS)
def test_a_no_change_cycle_reads_no_more_rows_in_a_hundredfold_org(ews, configuration) -> None:  # type: ignore[no-untyped-def]
    fields, linked = CONFIGURATIONS[configuration]
    fields = dict(fields)
    for position, (field, operator, value) in enumerate(fields.pop("filters", [])):
        ContactFilter.objects.create(configuration=ews.config, position=position, field=field,
                                     operator=operator, value=value)
    ews.configure(**fields)
    every_contact = fields.get("contacts_ownership") == "all"
    mine = Account.objects.create(name="Mine")
    for n in range(5):
        crm_contact(ews.rep, first_name=f"Mine{n}", last_name=f"Own{n}", email=f"m{n}@mine.test",
                    title="Buyer", account=mine if n % 2 else None)
    # With every contact in scope, the others' contacts must be older than the rep's last
    # cycle (each of them changed since then would be examined, rightly); otherwise they are
    # as fresh as can be: changed since the rep's last cycle, but none of the rep's business.
    old = timezone.now() - dt.timedelta(days=3) if every_contact else None
    grow_org(0, SMALL, changed_at=old)
    assert ews.sync().outcome == "synced"  # the first cycle: the rep's contacts pushed
    ews.outlook.create({"GivenName": "Rex", "Surname": "Outlook", "EmailAddress1": "rex@out.test"})
    assert ews.sync().outcome == "synced"  # the rep's own Exchange contact, linked
    assert ews.sync().outcome == "synced"  # (and the stamps that write put on it, listed)
    assert ContactLink.objects.filter(user=ews.rep).count() == linked
    # The rep's last change, a day ago: nothing to do now.
    a_day_ago = timezone.now() - dt.timedelta(days=1)
    Contact.objects.filter(owner=ews.rep).update(updated_at=a_day_ago)
    mine.__class__.objects.filter(pk=mine.pk).update(updated_at=a_day_ago)
    small, _ = no_change_cycle(ews)
    grow_org(SMALL, LARGE, changed_at=old)
    large, where = no_change_cycle(ews)
    for table in GROWING:
        assert large[table] <= small[table], (table, small, large, "\n".join(where))
    if connection.vendor == "postgresql":
        assert max(large.values(), default=0) <= 50, (large, where)
    else:
        assert not large, f"whole-table scans: {where}"
