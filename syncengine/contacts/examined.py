"""Which CRM contacts a push examines (SPEC §4, §12), read through indexes only.

The push looks at the contacts changed since the cycle's watermark (every one after a
configuration change or a reset: no watermark) that are linked to the user or pass the
configuration's filters (`scope`), plus those whose write Exchange refused and that are due
for another try. Written as one query, (changed OR account changed OR refused) AND (linked OR
in scope), no index serves it: PostgreSQL walks the whole contact table in key order, so a
cycle with nothing to do costs in proportion to the org, not to the user.

So the set is read as the union of parts that one index each serves, every part in key
order, a page at a time, merged here:

- linked contacts changed, or whose account changed: from the user's links (or from the
  contacts and accounts changed since the watermark, when the planner finds those fewer);
- contacts in scope changed: by (owner, updated_at) when the configuration takes the user's
  own records, by updated_at when it takes every contact;
- contacts in scope whose account changed: accounts by updated_at, their contacts by
  (account, owner);
- refused contacts due for another try, linked or in scope: from the user's open entries.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import Any

from django.db import connection
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery

from lightningsync.models import Contact, ContactLink

from ..errorlog import due_refusals
from ..mapping.merge import Mode
from .state import ContactCycle

# Contact ids read per query.
KEY_PAGE = 2000
# A part of the union: a queryset, and its column that holds the contact's id.
Part = tuple[QuerySet[Contact] | QuerySet[ContactLink], str]


def examined_keys(cycle: ContactCycle, page: int = KEY_PAGE) -> Iterator[int]:
    """The CRM ids of the contacts the push examines, ascending, each once.

    Since the last cycle (a watermark), the first `page` of them come from one query, the
    union of the parts: most cycles find none or a few, and stop there. Otherwise (or after
    that page) each part is read on its own, a page at a time, and the parts merged.

    Every page is read whole by a query of its own. No read stays open while the push writes
    a chunk: on SQLite an open read turns the connection's next write into "database is
    locked" as soon as another connection (the claim's heartbeat, another worker) has
    committed meanwhile."""
    parts = _parts(cycle)
    after: int | None = None
    if cycle.state.contacts_crm_watermark is not None:
        first = _union(parts, page)
        yield from first
        if len(first) < page:
            return
        after = first[-1]
    streams = [_ascending(qs, column, page, after) for qs, column in parts]
    last = after
    for pk in heapq.merge(*streams):
        if last is None or pk > last:
            yield pk
            last = pk


def _parts(cycle: ContactCycle) -> list[Part]:
    """(queryset, the column holding the contact's id) for each part of the union."""
    watermark = cycle.state.contacts_crm_watermark
    inbound_only = cycle.mode == Mode.EXCHANGE_TO_CRM  # only linked contacts are examined
    every_contact = cycle.scope is None and not inbound_only  # linked ones included
    linked = ContactLink.objects.filter(user=cycle.user, contact__isnull=False)
    in_scope = Contact.objects.filter(cycle.scope) if cycle.scope is not None \
        else Contact.objects.all()
    parts: list[Part] = []
    if watermark is None:
        if not every_contact:
            parts.append((linked, "contact_id"))
        if not inbound_only:
            parts.append((in_scope, "pk"))
        return parts
    if not every_contact:
        parts.append((linked.filter(contact__updated_at__gte=watermark), "contact_id"))
        parts.append((linked.filter(contact__account__updated_at__gte=watermark), "contact_id"))
    if not inbound_only:
        parts.append((in_scope.filter(updated_at__gte=watermark), "pk"))
        parts.append((in_scope.filter(account__updated_at__gte=watermark), "pk"))
    # Refused by Exchange (a full mailbox, a failed removal...) and due for another try: a
    # day later, or after an admin's Retry. The pull looked for those due this cycle first:
    # when it found none, neither would this part (no entry becomes due during a cycle).
    if cycle.refusals_due is False:
        return parts
    refused = Contact.objects.filter(pk__in=Subquery(
        due_refusals(cycle.user, cycle.started).filter(contact__isnull=False)
        .order_by().values("contact_id")))
    if not every_contact:
        is_linked = Exists(ContactLink.objects.filter(user=cycle.user, contact=OuterRef("pk")))
        refused = refused.filter(Q(is_linked) | cycle.scope if cycle.scope is not None
                                 and not inbound_only else Q(is_linked))
    parts.append((refused, "pk"))
    return parts


def _union(parts: list[Part], size: int) -> list[int]:
    """The first `size` contact ids of the parts together, ascending.

    One statement, the union of the parts' own (an ORDER BY on the union itself makes SQLite
    merge parts read in key order: whole-table scans of the contacts)."""
    selects: list[str] = []
    params: list[Any] = []
    for qs, column in parts:
        sql, part_params = (qs.order_by().annotate(examined_id=F(column))
                            .values_list("examined_id").query.sql_with_params())
        selects.append(sql)
        params.extend(part_params)
    key = connection.ops.quote_name("examined_id")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {key} FROM ({' UNION '.join(selects)}) AS examined "
                       f"ORDER BY {key} LIMIT %s", [*params, size])
        return [row[0] for row in cursor.fetchall()]


def _ascending(qs: QuerySet[Contact] | QuerySet[ContactLink], column: str, size: int,
               after: int | None) -> Iterator[int]:
    """The contact ids `column` holds in `qs` after `after`, ascending, `size` at a time."""
    ordered = qs.order_by(column).values_list(column, flat=True)
    while True:
        rows = list((ordered if after is None else ordered.filter(**{f"{column}__gt": after}))
                    [:size])
        yield from rows
        if len(rows) < size:
            return
        after = rows[-1]
