"""FindItem (MS-OXWSSRCH): listing with Restriction, SortOrder and paging, or CalendarView."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from lxml import etree

from .ewsbase import Context, Occurrence, expand, folder_from_elem, render_item
from .itemxml import norm_datetime, parse_dt, parse_shape
from .restriction import reader, restrict
from .schema import EVENT
from .soap import M, error, response_messages, success
from .store import Item, SimError


def _sort_value(value: Any) -> tuple[int, Any]:
    # Items without the property come first in ascending order; text compares as Exchange
    # does, without regard to case.
    if value in (None, "", [], {}):
        return (0, "")
    if isinstance(value, str):
        return (1, value.casefold())
    if isinstance(value, list):
        return (1, [str(v).casefold() for v in value])
    return (1, value)


def sort_items(items: list[Item], order: etree._Element | None) -> list[Item]:
    """Items in the order of m:SortOrder: by its first FieldOrder, then the next, ..."""
    if order is None:
        return items
    out = list(items)
    for field_order in reversed(list(order)):
        if len(field_order) == 0:
            raise SimError("ErrorInvalidRequest", "A FieldOrder needs a property path.")
        get = reader(field_order[0], "ErrorUnsupportedPathForSortGroup")

        def key(it: Item, get: Callable[[Item], Any] = get) -> tuple[int, Any]:
            return _sort_value(get(it))

        out.sort(key=key, reverse=field_order.get("Order", "Ascending") == "Descending")
    return out


def _calendar_view(
    ctx: Context, items: list[Item], view: object
) -> tuple[list[Item | Occurrence], int, bool]:
    start = parse_dt(norm_datetime(view.get("StartDate", "")))  # type: ignore[attr-defined]
    end = parse_dt(norm_datetime(view.get("EndDate", "")))  # type: ignore[attr-defined]
    if end < start:
        raise SimError("ErrorInvalidRequest", "EndDate is earlier than StartDate.")
    found: list[Item | Occurrence] = []
    for it in items:
        if it.type != EVENT:
            continue
        if "Recurrence" in it.fields:
            found.extend(expand(it, start, end))
            continue
        s, e = parse_dt(it.fields["Start"]), parse_dt(it.fields["End"])
        if s < end and (e > start or (s == e and s >= start)):
            found.append(it)

    def key(x: Item | Occurrence) -> dt.datetime:
        return parse_dt(x.fields["Start"])

    found.sort(key=key)
    limit = view.get("MaxEntriesReturned")  # type: ignore[attr-defined]
    total = len(found)
    if limit is not None and int(limit) < total:
        return found[: int(limit)], total, False
    return found, total, True


def find_item(ctx: Context) -> str:
    req = ctx.request
    shape = parse_shape(req.find(M + "ItemShape"), for_sync=True)
    mbx = ctx.mailbox
    messages = []
    for elem in req.find(M + "ParentFolderIds"):
        try:
            folder = folder_from_elem(ctx, elem)
            with ctx.store.lock:
                items = restrict([mbx.items[i] for i in folder.items], req.find(M + "Restriction"))
                cal = req.find(M + "CalendarView")
                paged = req.find(M + "IndexedPageItemView")
                if cal is not None:
                    page, total, last = _calendar_view(ctx, items, cal)
                    flag = "true" if last else "false"
                    attrs = f'TotalItemsInView="{total}" IncludesLastItemInRange="{flag}"'
                else:
                    items = sort_items(items, req.find(M + "SortOrder"))
                    total = len(items)
                    offset, limit = 0, total
                    if paged is not None:
                        offset = int(paged.get("Offset", "0"))
                        limit = int(paged.get("MaxEntriesReturned", str(total)))
                    page = list(items[offset : offset + limit])
                    last = offset + len(page) >= total
                    attrs = (
                        f'IndexedPagingOffset="{offset + len(page)}" TotalItemsInView="{total}" '
                        f'IncludesLastItemInRange="{"true" if last else "false"}"'
                    )
                body = "".join(render_item(x, shape, mbx) for x in page)
            messages.append(
                success(
                    "FindItem", f"<m:RootFolder {attrs}><t:Items>{body}</t:Items></m:RootFolder>"
                )
            )
        except SimError as e:
            messages.append(error("FindItem", e.code, e.text))
    return response_messages("FindItem", messages)
