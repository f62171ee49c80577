"""The default Calendar over Microsoft Graph: its listing by `calendarView/delta`, reads of
events in full, and our stamps on them (SPEC §5, §8).

The listing covers a window (`startDateTime`/`endDateTime`, which Graph needs on the first
call and keeps in its links): from a day before the earliest end the engine wants (`since`)
to the start of a year two years ahead. The cursor names the window it was made for; a
cursor whose window no longer covers what is wanted is refused as invalid, so the engine
lists the calendar again in full. Graph expands a series into its occurrences (and may list
its master): all of a series comes as one change of its master, typed as one, as over EWS.

Graph tells neither why an entry is `@removed` (deleted, or moved out of the window) nor an
event's stamps in a delta page. A removed event is looked up in the calendar: gone, it is a
delete; still there, it is an update with its deciding fields (the engine keeps the CRM copy
of an event that left the window, as over EWS). Stamps come from what this process knows at
that change key (`versions`), from the list of the calendar's stamped events when a page
holds many unknown ones (`StampedEvents`), else from a read, 20 per `$batch`; a page's
events are kept, so that the engine's read of them sends nothing.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ..protocol import (
    EVENT_FIELDS,
    CalendarItemType,
    Change,
    ChangeKind,
    ChangePage,
    ErrorKind,
    ExchangeItem,
    FolderRef,
    ItemFailure,
    ItemUpdate,
    TransportError,
    WriteResult,
)
from . import contact_json as cj
from . import errors, versions
from . import event_json as ej
from .client import Answer, GraphClient, SubRequest, page_of_whole_batches

SLACK = dt.timedelta(days=1)  # all-day events in zones ahead of the org's
YEARS_AHEAD = 2
YEAR = dt.timedelta(days=365)
# Without `since` (the whole calendar): this far back.
YEARS_BACK = 10
# A page with this many events of unknown stamps lists the calendar's stamped events
# (1,000 per request) rather than reading them 20 per `$batch`.
SCAN_FROM = 100
SCAN_PAGE = 1000
# Beyond the request's own duration: how far the clock that dates a change may run ahead of
# the one that dates an answer (Exchange's servers keep time within a second).
CLOCK_MARGIN = dt.timedelta(seconds=5)


def window_for(since: dt.datetime | None, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The window to list when starting over: whole days, UTC."""
    start = (since - SLACK) if since is not None else now - YEARS_BACK * YEAR
    start = dt.datetime.combine(start.astimezone(dt.UTC).date(), dt.time.min, tzinfo=dt.UTC)
    end = dt.datetime(now.year + YEARS_AHEAD, 1, 1, tzinfo=dt.UTC)
    return start, end


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def pack_cursor(window: tuple[dt.datetime, dt.datetime], link: str) -> str:
    return f"{_iso(window[0])}~{_iso(window[1])} {link}"


def unpack_cursor(cursor: str) -> tuple[tuple[dt.datetime, dt.datetime], str]:
    try:
        span, link = cursor.split(" ", 1)
        start, end = span.split("~")
        return (dt.datetime.fromisoformat(start.replace("Z", "+00:00")),
                dt.datetime.fromisoformat(end.replace("Z", "+00:00"))), link
    except ValueError:
        raise TransportError(ErrorKind.INVALID_CURSOR,
                             "This cursor is not one of a calendar view.") from None


def covers(window: tuple[dt.datetime, dt.datetime], since: dt.datetime | None,
           now: dt.datetime) -> bool:
    """Does a listing made for `window` still serve one wanted from `since` on?"""
    wanted_start, _ = window_for(since, now)
    return window[0] <= wanted_start and window[1] >= now + YEAR


def _answered_at(answer: Answer, took: float) -> dt.datetime | None:
    """The earliest moment the server can have read its answer at, by its own clock (its
    `Date` header, less the request's duration and `CLOCK_MARGIN`)."""
    date = next((v for k, v in answer.headers.items() if k.lower() == "date"), None)
    try:
        said = email.utils.parsedate_to_datetime(date) if date else None
    except (TypeError, ValueError):
        return None
    if said is None or said.tzinfo is None:
        return None
    return said - dt.timedelta(seconds=took) - CLOCK_MARGIN


@dataclass
class StampedEvents:
    """The ids of the events a listing of the calendar's stamped ones returned, and when.

    An event of a calendar view page absent from it, and last modified before it was taken,
    held no stamp then and has not changed since: its stamps are known (none) without a read.
    Only a list of one page says so: a later page of a list that changed meanwhile may have
    shifted past an event (Outlook pages by `$skip`), which is then merely unknown.
    """

    ids: set[str] = field(default_factory=set)
    taken: dt.datetime | None = None
    pages: int = 0

    def unstamped(self, entry: dict[str, Any]) -> bool:
        if self.pages != 1 or self.taken is None or str(entry.get("id")) in self.ids:
            return False
        modified = cj.moment(entry.get("lastModifiedDateTime"))
        return modified is not None and modified < self.taken


class GraphCalendar:
    """The calendar half of `GraphTransport` (one mailbox, one cycle)."""

    def __init__(self, client: GraphClient, org_id: str,
                 batch: Callable[[Sequence[SubRequest]], list[Answer]],
                 failure: Callable[[Answer, str | None], ItemFailure]) -> None:
        self.client = client
        self.org_id = org_id
        self.user = client.user
        self.mailbox = client.settings.mailbox
        self._batch = batch
        self._failure = failure
        # The last page's events, by id: as listed, with their stamps (parsed when read).
        self._listed: dict[str, tuple[dict[str, Any], versions.Version]] = {}
        self._stamped: StampedEvents | None = None  # listed once per listing, when needed

    def _event_path(self, item_id: str) -> str:
        return f"{self.user}/calendar/events/{urllib.parse.quote(item_id, safe='')}"

    # -- listing ------------------------------------------------------------------------
    def changes(self, folder: FolderRef, cursor: str | None, page_size: int,
                since: dt.datetime | None) -> Iterator[ChangePage]:
        now = dt.datetime.now(dt.UTC)
        root = f"{self.client.root}{self.user}/calendarView/delta"
        if cursor:
            window, url = unpack_cursor(cursor)
            if not url.startswith(root + "?"):
                raise TransportError(ErrorKind.INVALID_CURSOR,
                                     "This delta link is not one of this calendar's.")
            if not covers(window, since, now):
                raise TransportError(ErrorKind.INVALID_CURSOR,
                                     "The calendar view's window changed: listing it again.")
        else:
            window = window_for(since, now)
            query = urllib.parse.urlencode(
                {"startDateTime": _iso(window[0]), "endDateTime": _iso(window[1])})
            url = f"{root}?{query}"
        initial = not cursor
        headers = {"Prefer": f"odata.maxpagesize={page_of_whole_batches(page_size)}, {ej.PREFER}"}
        series_seen: set[str] = set()
        self._stamped = None
        for values, link, more in self.client.delta_pages(
                url, headers, "The calendar no longer exists.", self.client.calendar_error):
            entries = [e for e in values if isinstance(e, dict) and "id" in e]
            changes = self._page_changes(entries, initial, series_seen)
            yield ChangePage(changes, pack_cursor(window, link), more=more)

    def _page_changes(self, entries: list[dict[str, Any]], initial: bool,
                      series_seen: set[str]) -> list[Change]:
        self._listed = {}
        removed = [str(e["id"]) for e in entries if "@removed" in e]
        present = [e for e in entries if "@removed" not in e]
        still = self._look_up(removed)  # removed from the view, but still in the calendar?
        changes = [Change(ChangeKind.DELETE, i) for i in removed if i not in still]
        singles: list[dict[str, Any]] = []
        kind = ChangeKind.CREATE if initial else ChangeKind.UPDATE
        for entry in [*present, *still.values()]:
            if ej.item_type(entry) == CalendarItemType.SINGLE:
                singles.append(entry)
                continue
            # A series: one change, of its master, whatever of it the page holds.
            master = str(entry.get("seriesMasterId") or entry["id"])
            if master in series_seen:
                continue
            series_seen.add(master)
            meta = ej.read_meta(entry)
            changes.append(Change(kind, master, str(entry.get("changeKey") or ""), event=replace(
                meta, item_type=CalendarItemType.RECURRING_MASTER)))
        found = self._stamps(singles)
        for entry in singles:
            item_id = str(entry["id"])
            version = found.get(item_id)
            if version is None:  # gone since the page was made: the next round says so
                continue
            if str(entry.get("changeKey") or "") == version.change_key:
                self._listed[item_id] = (entry, version)
            changes.append(Change(kind, item_id, version.change_key, version.org_stamp,
                                  version.crm_stamp, ej.read_meta(entry)))
        return changes

    def _look_up(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        """The removed events still in the calendar (they left the window), by id."""
        if not ids:
            return {}
        query = urllib.parse.urlencode({"$select": ",".join(ej.select_for(EVENT_FIELDS)),
                                        "$expand": ej.stamps_expand()})
        requests_ = [SubRequest("GET", f"{self._event_path(i)}?{query}",
                                headers={"Prefer": ej.PREFER}) for i in ids]
        out: dict[str, dict[str, Any]] = {}
        for item_id, answer in zip(ids, self._batch(requests_), strict=True):
            if answer.ok and isinstance(answer.body, dict):
                self._remember(ej.read_event(answer.body, ()))
                out[item_id] = answer.body
            elif answer.status != 404:
                raise self.client.error(answer)
        return out

    def _known(self, entries: list[dict[str, Any]]) -> tuple[dict[str, versions.Version],
                                                             list[str]]:
        found: dict[str, versions.Version] = {}
        unknown: list[str] = []
        for entry in entries:
            item_id = str(entry["id"])
            known = versions.known(self.mailbox, item_id, str(entry.get("changeKey") or ""))
            if known is not None:
                found[item_id] = known
            elif "singleValueExtendedProperties" in entry:
                found[item_id] = self._remember(ej.read_event(entry, ()))
            elif self._stamped is not None and self._stamped.unstamped(entry):
                found[item_id] = self._remember(ExchangeItem(
                    item_id, str(entry.get("changeKey") or ""), None, None, None, {}))
            else:
                unknown.append(item_id)
        return found, unknown

    def _stamps(self, entries: list[dict[str, Any]]) -> dict[str, versions.Version]:
        """The stamps of the page's single events, by id: known ones cost nothing; many
        unknown ones (an initial listing, a reset) list the calendar's stamped events, once
        per listing (one request while they are fewer than 1,000); the rest, 20 per
        `$batch`."""
        found, unknown = self._known(entries)
        if len(unknown) >= SCAN_FROM and self._stamped is None:
            self._stamped = self._scan()
            found, unknown = self._known(entries)
        query = urllib.parse.urlencode({"$select": "id,changeKey",
                                        "$expand": ej.stamps_expand()})
        requests_ = [SubRequest("GET", f"{self._event_path(i)}?{query}") for i in unknown]
        for item_id, answer in zip(unknown, self._batch(requests_), strict=True):
            if answer.ok and isinstance(answer.body, dict):
                found[item_id] = self._remember(ej.read_event(answer.body, ()))
            elif answer.status != 404:
                raise self.client.error(answer)
        return found

    def _scan(self) -> StampedEvents:
        """The calendar's stamped events (single instances and series masters) with their
        stamps: a list, unlike a calendar view, filters and expands extended properties."""
        query = urllib.parse.urlencode({
            "$filter": cj.stamped_filter(), "$select": "id,changeKey",
            "$expand": ej.stamps_expand(), "$top": str(SCAN_PAGE)})
        url: str | None = f"{self.user}/calendar/events?{query}"
        stamped = StampedEvents()
        while url:
            sent = time.monotonic()
            answer = self.client.send("GET", url)
            if not answer.ok:
                raise self.client.error(answer)
            body = answer.body or {}
            for entry in body.get("value", []):
                if isinstance(entry, dict) and "id" in entry:
                    stamped.ids.add(str(entry["id"]))
                    self._remember(ej.read_event(entry, ()))
            url = body.get("@odata.nextLink")
            if stamped.pages == 0:
                stamped.taken = _answered_at(answer, time.monotonic() - sent)
            stamped.pages += 1
        return stamped

    def _remember(self, item: ExchangeItem) -> versions.Version:
        version = versions.Version(item.change_key, item.org_stamp, item.crm_stamp)
        versions.remember(self.mailbox, item.id, version)
        return version

    # -- reading ------------------------------------------------------------------------
    def get_items(self, ids: Sequence[str], fields: Sequence[str]
                  ) -> list[ExchangeItem | ItemFailure]:
        out: dict[str, ExchangeItem | ItemFailure] = {}
        for item_id in ids:
            kept = self._listed.pop(item_id, None)
            if kept is not None:
                entry, version = kept
                out[item_id] = ej.read_event(entry, fields,
                                             (version.org_stamp, version.crm_stamp))
        missing = [i for i in dict.fromkeys(ids) if i not in out]
        query = urllib.parse.urlencode({"$select": ",".join(ej.select_for(fields)),
                                        "$expand": ej.stamps_expand()})
        requests_ = [SubRequest("GET", f"{self._event_path(i)}?{query}",
                                headers={"Prefer": ej.PREFER}) for i in missing]
        for item_id, answer in zip(missing, self._batch(requests_), strict=True):
            if answer.ok and isinstance(answer.body, dict):
                item = ej.read_event(answer.body, fields)
                self._remember(item)
                out[item_id] = item
            else:
                out[item_id] = self._failure(answer, item_id)
        return [out[i] for i in ids]

    # -- stamping -----------------------------------------------------------------------
    def stamp(self, updates: Sequence[ItemUpdate]) -> list[WriteResult]:
        """Write our stamps on events still at their change keys, 20 PATCHes per `$batch`.

        Graph has no conditional update of an event, so change keys this process does not
        know as current are read first: a rep's edit since the listing is a conflict.
        """
        if any(u.fields or not u.crm_stamp for u in updates):
            raise ValueError("Calendar items are only ever stamped (events sync one way).")
        for update in updates:
            self._listed.pop(update.ref.id, None)
        unread = [u for u in updates
                  if versions.known(self.mailbox, u.ref.id, u.ref.change_key) is None]
        reads = [SubRequest("GET", f"{self._event_path(u.ref.id)}?$select=id,changeKey")
                 for u in unread]
        current = {u.ref.id: a for u, a in zip(unread, self._batch(reads), strict=True)}
        results: dict[int, WriteResult] = {}
        writes: list[tuple[int, SubRequest]] = []
        for n, update in enumerate(updates):
            item_id = update.ref.id
            answer = current.get(item_id)
            if answer is not None and not answer.ok:
                results[n] = WriteResult(item_id, error=self._failure(answer, item_id))
            elif answer is not None and answer.body.get("changeKey") != update.ref.change_key:
                results[n] = WriteResult(item_id, error=ItemFailure(
                    item_id, ErrorKind.CONFLICT, "The event changed since it was read."))
            else:
                writes.append((n, SubRequest(
                    "PATCH", f"{self._event_path(item_id)}?$select=id,changeKey",
                    ej.stamp_body(self.org_id, update.crm_stamp or ""))))
        answers = self._batch([r for _, r in writes])
        if any(a.status == 403 for a in answers):
            self._check_write_role()
        for (n, _), answer in zip(writes, answers, strict=True):
            item_id = updates[n].ref.id
            if answer.ok and isinstance(answer.body, dict) and answer.body.get("changeKey"):
                key = str(answer.body["changeKey"])
                versions.remember(self.mailbox, item_id, versions.Version(
                    key, self.org_id, updates[n].crm_stamp))
                results[n] = WriteResult(item_id, key)
            else:
                versions.forget(self.mailbox, item_id)
                results[n] = WriteResult(item_id, error=self._failure(answer, item_id))
        return [results[n] for n in range(len(updates))]

    def _check_write_role(self) -> None:
        """A refused stamp: say so when the app was granted calendars read-only."""
        try:
            roles = self.client.roles()
        except TransportError:
            return
        if errors.CALENDAR_WRITE_ROLE not in roles:
            raise TransportError(ErrorKind.CONFIGURATION,
                                 errors.calendar_write_refused(roles, self.mailbox))

    def close(self) -> None:
        self._listed = {}
