"""FindItem (MS-OXWSSRCH): plain listing with SortOrder and paging, and CalendarView expansion."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from lxml import etree

from .ewsbase import Context, Occurrence, expand, folder_from_elem, render_item
from .itemxml import ext_uri, norm_datetime, parse_dt, parse_shape
from .schema import ADDRESS_URIS, BY_URI, COMPUTED, EVENT, INDEXED_URIS, ext_key
from .soap import M, error, local, response_messages, success
from .store import Item, SimError

# Read-only properties a view can be sorted on, and where the item keeps them.
SORTABLE_COMPUTED: dict[str, Callable[[Item], str]] = {
    "DateTimeCreated": lambda it: it.created,
    "DateTimeReceived": lambda it: it.created,
    "LastModifiedTime": lambda it: it.modified,
}


def _getter(path: etree._Element) -> Callable[[Item], Any]:
    """How to read the property a t:FieldOrder names from an item."""
    kind, uri = local(path.tag), path.get("FieldURI", "")
    if kind == "ExtendedFieldURI":
        key = ext_key(ext_uri(path))
        return lambda it: (it.ext.get(key) or {}).get("value")
    if kind == "IndexedFieldURI":
        index = path.get("FieldIndex", "")
        if uri in INDEXED_URIS:
            name = INDEXED_URIS[uri]
            return lambda it: (it.fields.get(name) or {}).get(index)
        if uri in ADDRESS_URIS:
            part = ADDRESS_URIS[uri]
            return lambda it: ((it.fields.get("PhysicalAddresses") or {}).get(index) or {}).get(
                part
            )
    spec = BY_URI.get(uri)
    if spec is not None and spec.type != COMPUTED:
        return lambda it: it.fields.get(spec.name)
    if spec is not None and spec.name in SORTABLE_COMPUTED:
        return SORTABLE_COMPUTED[spec.name]
    raise SimError("ErrorUnsupportedPathForSortGroup", f"Cannot sort on {uri or kind}.")


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
        get = _getter(field_order[0])

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
                items = [mbx.items[i] for i in folder.items]
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
