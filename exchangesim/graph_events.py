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
from .graph import Ctx, GraphResponse, body_object, check_select, route, select_list, selected
from .graph_errors import not_found
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


def event_target(ctx: Ctx, graph_id: str) -> Item | Occurrence:
    """A calendar item or an occurrence of a series in this mailbox's calendars (404 if not)."""
    value, kind, mbx_uid = parse(graph_id)
    if mbx_uid != ctx.mbx.uid:
        raise not_found()
    if kind == KIND_OCCURRENCE:
        try:
            return occurrence_in(ctx.mbx, value)
        except SimError:
            raise not_found() from None
    it = ctx.mbx.items.get(value)
    if kind != KIND_ITEM or it is None or it.type != EVENT:
        raise not_found()
    return it


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


def _create(ctx: Ctx) -> GraphResponse:
    fields: dict[str, Any] = {"ReminderIsSet": True, "ReminderMinutesBeforeStart": 15}
    ext: dict[str, dict[str, Any]] = {}
    for change in event_changes(body_object(ctx.req)):
        apply_change(fields, ext, change)
    validate_event(fields)
    fields.setdefault("Organizer", {"Name": ctx.mbx.display_name, "EmailAddress": ctx.mbx.smtp})
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


def _get(ctx: Ctx) -> GraphResponse:
    return _entity(ctx, event_target(ctx, ctx.args["event"]))


def _update(ctx: Ctx) -> GraphResponse:
    target = event_target(ctx, ctx.args["event"])
    changes = event_changes(body_object(ctx.req))
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
    target = event_target(ctx, ctx.args["event"])
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
