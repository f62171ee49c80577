"""Delta queries: contacts in a folder, and events in a calendar view of the default calendar.

Contacts (`/contactFolders/{id}/contacts/delta`): a state token names a point of the
folder's change log (as EWS sync states do), with the initial `$select` encoded in it, so
any earlier token can be replayed and a `@odata.nextLink` retried gives the same page.

Calendar view (`/calendarView/delta?startDateTime&endDateTime`): what a client saw depends
on the window and on how series expand, so the state lives on the server, as Exchange's
does: a round's entries are fixed when it starts (every page of it is a slice, so a retried
nextLink repeats its page) and its deltaLink names the view it leaves the client with. A
later round reports the instances of each item changed since: those in the window as
events, those that left it as `@removed`, and a changed item with nothing in the window as
`@removed` too (Microsoft documents exactly that). States are kept for the most recent
rounds only; an older or unknown token answers 410 SyncStateNotFound.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import datetime as dt
import json
import os
import threading
import urllib.parse
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .ewsbase import Occurrence, expand, occurrence_in
from .graph import (
    Ctx,
    GraphRequest,
    GraphResponse,
    check_select,
    page_size,
    refuse_options,
    route,
    select_list,
    selected,
)
from .graph_contact_json import PROPERTIES, contact_json
from .graph_contacts import contact_folder
from .graph_errors import GraphError
from .graph_event_json import event_json
from .graph_events import render_options
from .graph_ids import parse, rest_id
from .ids import KIND_ITEM, KIND_OCCURRENCE
from .itemxml import fmt_dt, parse_dt
from .schema import CONTACT, EVENT
from .store import Folder, SimError

if TYPE_CHECKING:
    from .control import Simulator

STATES_KEPT = 512
CONTACT_OPTIONS = ("$top", "$skip", "$filter", "$orderby", "$expand", "$search")
VIEW_OPTIONS = ("$select", "$top", "$skip", "$filter", "$orderby", "$expand", "$search")


def _pack(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    raw += zlib.crc32(raw).to_bytes(4, "big")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unpack(token: str) -> dict[str, Any] | None:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        body, crc = raw[:-4], raw[-4:]
        if len(raw) < 5 or zlib.crc32(body).to_bytes(4, "big") != crc:
            return None
        data = json.loads(body)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def state_not_found(sim: Simulator, req: GraphRequest) -> GraphError:
    return GraphError(
        410,
        "SyncStateNotFound",
        "The sync state generation is not found; the delta token is unknown or has expired.",
        {"Location": reset_location(sim, req)},
    )


def reset_location(sim: Simulator, req: GraphRequest) -> str:
    """The initial request of the same delta query, with an empty $deltatoken."""
    params: dict[str, str] = {}
    token = req.query.get("$deltatoken") or req.query.get("$skiptoken")
    data = _unpack(token) if token else None
    if data and data.get("s"):
        params = {"$select": ",".join(data["s"])}
    elif data and data.get("ws") and data.get("we"):
        params = {"startDateTime": str(data["ws"]), "endDateTime": str(data["we"])}
    params["$deltatoken"] = ""
    return f"{sim.base_url}/v1.0{req.path}?{urllib.parse.urlencode(params, safe='$:,')}"


def _links(ctx: Ctx, done: bool, token: str) -> dict[str, str]:
    name = "$deltatoken" if done else "$skiptoken"
    key = "@odata.deltaLink" if done else "@odata.nextLink"
    return {key: f"{ctx.root}{ctx.req.path}?{name}={token}"}


def _removed(odata_type: str, ews_id: str) -> dict[str, Any]:
    return {"@odata.type": odata_type, "id": rest_id(ews_id), "@removed": {"reason": "deleted"}}


# -- contacts ------------------------------------------------------------------------------
@route(
    "GET", "users/{user}/contactFolders/{folder}/contacts/delta", "graph:contactsDelta", "contacts"
)
def contacts_delta(ctx: Ctx) -> GraphResponse:
    refuse_options(ctx.req, CONTACT_OPTIONS, "Contacts")
    mbx = ctx.mbx
    folder = contact_folder(ctx, ctx.args["folder"])
    token = ctx.req.query.get("$skiptoken") or ctx.req.query.get("$deltatoken")
    if token:
        data = _unpack(token)
        if (
            data is None
            or data.get("f") != folder.uid.hex()
            or not isinstance(data.get("p"), int)
            or data["p"] > mbx.seq
        ):
            raise state_not_found(ctx.sim, ctx.req)
        position, select = data["p"], data.get("s")
    else:
        position, select = 0, select_list(ctx.req)
    check_select(select, PROPERTIES, "contact")
    size = page_size(ctx.req)
    changes, new_position, last = ctx.sim.store.sync_changes(mbx, folder, position, size, set())
    values: list[dict[str, Any]] = []
    for kind, iid in changes:
        if kind == "delete":
            values.append(_removed("#microsoft.graph.contact", iid))
            continue
        it = mbx.items[iid]
        if it.type == CONTACT:
            data = selected(contact_json(it, mbx), select)
            values.append({"@odata.type": "#microsoft.graph.contact", **data})
    body: dict[str, Any] = {"@odata.context": f"{ctx.root}/$metadata#Collection(contact)"}
    body.update(_links(ctx, last, _pack({"f": folder.uid.hex(), "p": new_position, "s": select})))
    body["value"] = values
    headers = {}
    if "odata.maxpagesize" in ctx.req.prefer():
        headers["Preference-Applied"] = f"odata.maxpagesize={size}"
    return GraphResponse(200, body, headers)


# -- calendar view ------------------------------------------------------------------------
@dataclass
class View:
    """What a client has of a calendar view: window, log position, instances per item."""

    mailbox: str
    start: str
    end: str
    position: int
    seen: dict[str, tuple[str, ...]]  # item id -> ids of its instances in the window


@dataclass
class Round:
    view_id: str  # the view the round leaves the client with
    entries: list[tuple[str, bool]]  # (instance id, still present)


class Views:
    """Server-side delta states for calendar views, most recent kept (Exchange keeps a cache)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.views: OrderedDict[str, View] = OrderedDict()
        self.rounds: OrderedDict[str, Round] = OrderedDict()

    def _keep(self, table: OrderedDict[str, Any], key: str, value: Any) -> None:
        table[key] = value
        while len(table) > STATES_KEPT:
            table.popitem(last=False)

    def add(self, view: View, entries: list[tuple[str, bool]]) -> tuple[str, Round]:
        """Keep a new view and the round that leads to it; returns (round id, round)."""
        with self.lock:
            view_id, round_id = os.urandom(9).hex(), os.urandom(9).hex()
            new_round = Round(view_id, entries)
            self._keep(self.views, view_id, view)
            self._keep(self.rounds, round_id, new_round)
            return round_id, new_round

    def view(self, view_id: str) -> View | None:
        with self.lock:
            return self.views.get(view_id)

    def round(self, round_id: str) -> Round | None:
        with self.lock:
            return self.rounds.get(round_id)

    def forget(self) -> int:
        """Drop every state (as if the cache had been recycled); returns how many."""
        with self.lock:
            count = len(self.views) + len(self.rounds)
            self.views.clear()
            self.rounds.clear()
            return count


def _instances(it: Any, ws: dt.datetime, we: dt.datetime) -> tuple[str, ...]:
    if it.type != EVENT:
        return ()
    if "Recurrence" in it.fields:
        # A calendar view holds a series' occurrences and exceptions, never its master
        # (Microsoft: "single instances or occurrences and exceptions of a recurring series").
        return tuple(o.id for o in expand(it, ws, we))
    s, e = parse_dt(it.fields["Start"]), parse_dt(it.fields["End"])
    return (it.id,) if s < we and (e > ws or (s == e and s >= ws)) else ()


def _changed_since(folder: Folder, position: int) -> list[str]:
    start = bisect.bisect_right(folder.log, position, key=lambda e: e[0])
    return list(dict.fromkeys(iid for _seq, iid, _present in folder.log[start:]))


def _window(ctx: Ctx) -> tuple[str, str]:
    q = ctx.req.query
    raw = (q.get("startdatetime") or "", q.get("enddatetime") or "")
    if not raw[0] or not raw[1]:
        raise GraphError(
            400,
            "ErrorInvalidParameter",
            "This request requires a time window specified by the query string parameters "
            "StartDateTime and EndDateTime.",
        )
    out = []
    for value in raw:
        try:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise GraphError(
                400, "ErrorInvalidParameter", f"'{value}' is not a valid date and time."
            ) from None
        out.append(fmt_dt(moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)))
    return out[0], out[1]


def _start_round(ctx: Ctx, previous: View | None, window: tuple[str, str]) -> tuple[str, Round]:
    mbx = ctx.mbx
    calendar = mbx.folder("calendar")
    ws, we = parse_dt(window[0]), parse_dt(window[1])
    entries: list[tuple[str, bool]] = []
    if previous is None:
        seen: dict[str, tuple[str, ...]] = {}
        for iid in calendar.items:
            now = _instances(mbx.items[iid], ws, we)
            if now:
                seen[iid] = now
                entries.extend((i, True) for i in now)
    else:
        seen = dict(previous.seen)
        for iid in _changed_since(calendar, previous.position):
            before = seen.pop(iid, ())
            it = mbx.items.get(iid)
            now = _instances(it, ws, we) if it is not None and it.folder == calendar.id else ()
            if now:
                seen[iid] = now
            entries.extend((i, True) for i in now)
            entries.extend((i, False) for i in before if i not in now)
            if not now and not before:
                entries.append((iid, False))
    view = View(mbx.smtp.lower(), window[0], window[1], mbx.seq, seen)
    return ctx.sim.graph_views.add(view, entries)


def _render(ctx: Ctx, instance_id: str, tz_name: str, body_type: str) -> dict[str, Any]:
    mbx = ctx.mbx
    calendar_id = mbx.distinguished["calendar"]
    _value, kind, _uid = parse(rest_id(instance_id))
    target: Any = None
    if kind == KIND_ITEM:
        it = mbx.items.get(instance_id)
        if it is not None and it.folder == calendar_id and it.type == EVENT:
            target = it
    elif kind == KIND_OCCURRENCE:
        try:
            occ = occurrence_in(mbx, instance_id)
            target = occ if occ.master.folder == calendar_id else None
        except SimError:
            target = None
    if target is None:
        return _removed("#microsoft.graph.event", instance_id)
    master, occ_or_none = (
        (target.master, target) if isinstance(target, Occurrence) else (target, None)
    )
    data = event_json(mbx, master, occ_or_none, tz_name, body_type)
    return {"@odata.type": "#microsoft.graph.event", **data}


def calendar_view_delta(ctx: Ctx) -> GraphResponse:
    refuse_options(ctx.req, VIEW_OPTIONS, "Events")
    views = ctx.sim.graph_views
    skip = ctx.req.query.get("$skiptoken")
    delta = ctx.req.query.get("$deltatoken")
    mine = ctx.mbx.smtp.lower()
    if skip:
        data = _unpack(skip) or {}
        round_id, offset = str(data.get("r", "")), data.get("o")
        found = views.round(round_id)
        view = views.view(found.view_id) if found else None
        if found is None or view is None or view.mailbox != mine or not isinstance(offset, int):
            raise state_not_found(ctx.sim, ctx.req)
        current = found
    elif delta:
        data = _unpack(delta) or {}
        previous = views.view(str(data.get("v", "")))
        if previous is None or previous.mailbox != mine or previous.position > ctx.mbx.seq:
            raise state_not_found(ctx.sim, ctx.req)
        (round_id, current), offset = _start_round(ctx, previous, (previous.start, previous.end)), 0
    else:
        (round_id, current), offset = _start_round(ctx, None, _window(ctx)), 0
    size = page_size(ctx.req)
    tz_name, body_type, headers = render_options(ctx)
    page = current.entries[offset : offset + size]
    values = [
        _render(ctx, iid, tz_name, body_type)
        if present
        else _removed("#microsoft.graph.event", iid)
        for iid, present in page
    ]
    done = offset + size >= len(current.entries)
    view = views.view(current.view_id)
    window = {"ws": view.start, "we": view.end} if view else {}
    position = {"v": current.view_id} if done else {"r": round_id, "o": offset + size}
    token = _pack({**position, **window})
    body: dict[str, Any] = {"@odata.context": f"{ctx.root}/$metadata#Collection(event)"}
    body.update(_links(ctx, done, token))
    body["value"] = values
    if "odata.maxpagesize" in ctx.req.prefer():
        applied = headers.get("Preference-Applied")
        size_pref = f"odata.maxpagesize={size}"
        headers["Preference-Applied"] = f"{size_pref}, {applied}" if applied else size_pref
    return GraphResponse(200, body, headers)


for _path in ("users/{user}/calendarView/delta", "users/{user}/calendar/calendarView/delta"):
    route("GET", _path, "graph:calendarViewDelta", "calendar")(calendar_view_delta)
