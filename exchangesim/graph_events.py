"""Graph calendar and events (`/users/{id}/calendar`, `/events/{id}`).

An event id is a calendar item (single or series master) or one of a series' occurrences;
PATCH on an occurrence turns it into an exception and DELETE removes that occurrence from
the series, as Exchange does for EWS. `Prefer: outlook.timezone` picks the zone times are
rendered in and `Prefer: outlook.body-content-type="text"` the body's format.
"""

from __future__ import annotations

import copy
from typing import Any

from . import graph_extprops, limits
from .ews_items import delete_occurrence, update_occurrence, validate_event
from .ewsbase import Occurrence, occurrence_in
from .graph import (
    Ctx,
    GraphResponse,
    body_object,
    check_select,
    collection,
    next_link,
    refuse_options,
    route,
    select_list,
    selected,
    top_skip,
)
from .graph_errors import GraphError, not_found
from .graph_event_json import event_changes, event_json, zone
from .graph_ids import etag, parse, rest_id
from .ids import KIND_ITEM, KIND_OCCURRENCE
from .schema import EVENT
from .store import Item, SimError, apply_change

EVENT_PROPERTIES = frozenset(
    {
        "id",
        "createdDateTime",
        "lastModifiedDateTime",
        "changeKey",
        "categories",
        "transactionId",
        "originalStartTimeZone",
        "originalEndTimeZone",
        "iCalUId",
        "reminderMinutesBeforeStart",
        "isReminderOn",
        "hasAttachments",
        "subject",
        "bodyPreview",
        "importance",
        "sensitivity",
        "isAllDay",
        "isCancelled",
        "isOrganizer",
        "responseRequested",
        "seriesMasterId",
        "showAs",
        "type",
        "webLink",
        "onlineMeetingUrl",
        "isOnlineMeeting",
        "onlineMeetingProvider",
        "allowNewTimeProposals",
        "isDraft",
        "hideAttendees",
        "responseStatus",
        "body",
        "start",
        "end",
        "location",
        "locations",
        "recurrence",
        "attendees",
        "organizer",
        "onlineMeeting",
        "originalStart",
    }
)


def render_options(ctx: Ctx) -> tuple[str, str, dict[str, str]]:
    """(time zone, body type, Preference-Applied header) from the Prefer header."""
    prefer = ctx.req.prefer()
    applied = []
    tz_name = prefer.get("outlook.timezone", "UTC")
    if zone(tz_name) is None:
        tz_name = "UTC"
    elif "outlook.timezone" in prefer:
        applied.append(f'outlook.timezone="{tz_name}"')
    body_type = prefer.get("outlook.body-content-type", "html").lower()
    if body_type not in ("text", "html"):
        body_type = "html"
    elif "outlook.body-content-type" in prefer:
        applied.append(f'outlook.body-content-type="{body_type}"')
    headers = {"Preference-Applied": ", ".join(applied)} if applied else {}
    return tz_name, body_type, headers


def event_target(ctx: Ctx, graph_id: str, *, default_calendar: bool = False
                 ) -> Item | Occurrence:
    """A calendar item or an occurrence of a series in this mailbox (404 if not).

    `/events/{id}` reaches an event in any folder (Deleted Items too); `/calendar/events/{id}`
    only one in the default calendar, as Microsoft's navigation does.
    """
    value, kind, mbx_uid = parse(graph_id)
    if mbx_uid != ctx.mbx.uid:
        raise not_found()
    target: Item | Occurrence
    if kind == KIND_OCCURRENCE:
        try:
            target = occurrence_in(ctx.mbx, value)
        except SimError:
            raise not_found() from None
    else:
        it = ctx.mbx.items.get(value)
        if kind != KIND_ITEM or it is None or it.type != EVENT:
            raise not_found()
        target = it
    master = target.master if isinstance(target, Occurrence) else target
    if default_calendar and master.folder != ctx.mbx.distinguished["calendar"]:
        raise not_found()
    return target


def _entity(ctx: Ctx, target: Item | Occurrence, status: int = 200) -> GraphResponse:
    tz_name, body_type, headers = render_options(ctx)
    master, occ = (target.master, target) if isinstance(target, Occurrence) else (target, None)
    select = select_list(ctx.req)
    check_select(select, EVENT_PROPERTIES, "event")
    data = selected(event_json(ctx.mbx, master, occ, tz_name, body_type), select)
    wanted = graph_extprops.expand_filter(ctx.req.query.get("$expand"))
    if wanted is not None:
        found = graph_extprops.expanded(master.ext, wanted)
        if found:
            data["singleValueExtendedProperties"] = found
    body = {"@odata.context": ctx.context("/events/$entity"), **data}
    return GraphResponse(status, body, headers)


@route("GET", "users/{user}/calendar", "graph:getCalendar", "calendar")
def get_calendar(ctx: Ctx) -> GraphResponse:
    f = ctx.mbx.folder("calendar")
    return GraphResponse(
        200,
        {
            "@odata.context": ctx.context("/calendar/$entity"),
            "@odata.etag": etag(f.changekey()),
            "id": rest_id(f.id),
            "name": f.name,
            "color": "auto",
            "hexColor": "",
            "isDefaultCalendar": True,
            "changeKey": f.changekey(),
            "canShare": True,
            "canViewPrivateItems": True,
            "canEdit": True,
            "allowedOnlineMeetingProviders": ["teamsForBusiness"],
            "defaultOnlineMeetingProvider": "teamsForBusiness",
            "isTallyingResponses": True,
            "isRemovable": False,
            "owner": {"name": ctx.mbx.display_name, "address": ctx.mbx.smtp},
        },
    )


@route("GET", "users/{user}/calendar/events", "graph:listEvents", "calendar")
def list_events(ctx: Ctx) -> GraphResponse:
    """The default calendar's events: single instances and series masters (never their
    occurrences), `$top` at most 1,000, `$select`, `$expand` of extended properties and a
    `$filter` on one (`graph_extprops.any_filter`)."""
    refuse_options(ctx.req, ("$search",), "Events")
    holds = graph_extprops.any_filter(ctx.req.query.get("$filter"))
    if "$filter" in ctx.req.query and holds is None:
        raise GraphError(
            400,
            "ErrorInvalidUrlQuery",
            "exchangesim filters events on an extended property only.",
        )
    select = select_list(ctx.req)
    check_select(select, EVENT_PROPERTIES, "event")
    tz_name, body_type, headers = render_options(ctx)
    calendar = ctx.mbx.folder("calendar")
    events = [ctx.mbx.items[i] for i in calendar.items if ctx.mbx.items[i].type == EVENT]
    if holds is not None:
        events = [it for it in events if holds(it.ext)]
    top, skip = top_skip(ctx.req)
    more = None
    if skip + top < len(events):
        params = {k: v for k, v in ctx.req.query.items() if k != "$skip"}
        more = next_link(ctx, **params, **{"$skip": str(skip + top)})
    wanted = graph_extprops.expand_filter(ctx.req.query.get("$expand"))
    values = []
    for it in events[skip : skip + top]:
        data = selected(event_json(ctx.mbx, it, None, tz_name, body_type), select)
        found = graph_extprops.expanded(it.ext, wanted) if wanted is not None else None
        if found:
            data["singleValueExtendedProperties"] = found
        values.append(data)
    answer = collection(ctx, "/calendar/events", values, more)
    answer.headers.update(headers)
    return answer


def _create(ctx: Ctx) -> GraphResponse:
    fields: dict[str, Any] = {"ReminderIsSet": True, "ReminderMinutesBeforeStart": 15}
    ext: dict[str, dict[str, Any]] = {}
    for change in event_changes(body_object(ctx.req)):
        apply_change(fields, ext, change)
    validate_event(fields)
    fields.setdefault("Organizer", {"Name": ctx.mbx.display_name, "EmailAddress": ctx.mbx.smtp})
    ctx.mbx.check_quota()
    it = ctx.sim.store.create_item(
        ctx.mbx, ctx.mbx.folder("calendar"), EVENT, fields, copy.deepcopy(ext), limits.CREATE_CODE
    )
    return _entity(ctx, it, 201)


@route("POST", "users/{user}/events", "graph:createEvent", "calendar", True)
def create_event(ctx: Ctx) -> GraphResponse:
    return _create(ctx)


@route("POST", "users/{user}/calendar/events", "graph:createEvent", "calendar", True)
def create_calendar_event(ctx: Ctx) -> GraphResponse:
    return _create(ctx)


def _in_calendar(ctx: Ctx) -> bool:
    return "/calendar/events/" in ctx.req.path.lower()


def _get(ctx: Ctx) -> GraphResponse:
    return _entity(ctx, event_target(ctx, ctx.args["event"], default_calendar=_in_calendar(ctx)))


def _update(ctx: Ctx) -> GraphResponse:
    target = event_target(ctx, ctx.args["event"], default_calendar=_in_calendar(ctx))
    changes = event_changes(body_object(ctx.req))
    ctx.mbx.check_quota()
    if isinstance(target, Occurrence):
        update_occurrence(ctx.sim.store, ctx.mbx, target, changes)
        return _entity(ctx, occurrence_in(ctx.mbx, target.id))
    probe = dict(target.fields)
    probe_ext: dict[str, dict[str, Any]] = {}
    for change in changes:
        if change[1][0] in ("Start", "End"):
            apply_change(probe, probe_ext, change)
    validate_event(probe)
    ctx.sim.store.apply_changes(ctx.mbx, target, changes, limits.UPDATE_CODE)
    return _entity(ctx, target)


def _delete(ctx: Ctx) -> GraphResponse:
    target = event_target(ctx, ctx.args["event"], default_calendar=_in_calendar(ctx))
    if isinstance(target, Occurrence):
        delete_occurrence(ctx.sim.store, ctx.mbx, target)
        return GraphResponse(204)
    deleted = ctx.mbx.folder("deleteditems")
    if target.folder == deleted.id:
        ctx.sim.store.remove_item(ctx.mbx, target)
    else:
        ctx.sim.store.move_item(ctx.mbx, target, deleted)
    return GraphResponse(204)


for _prefix in ("users/{user}/events/{event}", "users/{user}/calendar/events/{event}"):
    route("GET", _prefix, "graph:getEvent", "calendar")(_get)
    route("PATCH", _prefix, "graph:updateEvent", "calendar", True)(_update)
    route("DELETE", _prefix, "graph:deleteEvent", "calendar", True)(_delete)
