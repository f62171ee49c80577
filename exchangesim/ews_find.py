"""FindItem (MS-OXWSSRCH): plain listing with paging, and CalendarView expansion."""

from __future__ import annotations

import datetime as dt

from .ewsbase import Context, Occurrence, expand, folder_from_elem, render_item
from .itemxml import norm_datetime, parse_dt, parse_shape
from .schema import EVENT
from .soap import M, error, response_messages, success
from .store import Item, SimError


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
