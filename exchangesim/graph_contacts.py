"""Graph contact folders and contacts (`/users/{id}/contactFolders`, `/contacts`).

`/contactFolders` lists and creates the folders directly under the user's default
Contacts folder (where Salesforce_Sync lives). Contacts are read and written through the
same store paths as EWS, so change keys move and the folder's change log records every
write. DELETE moves a contact to Deleted Items, as Graph does.
"""

from __future__ import annotations

import copy
from typing import Any

from . import graph_extprops, limits
from .graph import (
    Ctx,
    GraphResponse,
    body_object,
    check_select,
    collection,
    display_name_filter,
    next_link,
    route,
    select_list,
    selected,
    top_skip,
)
from .graph_contact_json import PROPERTIES, contact_changes, contact_json
from .graph_errors import GraphError, bad_request, not_found, unknown_property
from .graph_ids import parse, rest_id
from .ids import KIND_FOLDER, KIND_ITEM
from .schema import CONTACT
from .store import Folder, Item, apply_change

FOLDER_PROPERTIES = frozenset({"id", "displayName", "parentFolderId"})


def folder_json(f: Folder) -> dict[str, Any]:
    return {
        "id": rest_id(f.id),
        "displayName": f.name,
        "parentFolderId": rest_id(f.parent or ""),
    }


def contact_folder(ctx: Ctx, graph_id: str) -> Folder:
    """A contact folder of the mailbox by Graph id (404 when it names none)."""
    value, kind, mbx_uid = parse(graph_id)
    f = ctx.mbx.folders.get(value)
    if kind != KIND_FOLDER or mbx_uid != ctx.mbx.uid or f is None:
        raise not_found()
    if f.folder_class != "IPF.Contact":
        raise not_found()
    return f


def contact_item(ctx: Ctx, graph_id: str, folder: Folder | None) -> Item:
    value, kind, mbx_uid = parse(graph_id)
    it = ctx.mbx.items.get(value)
    if kind != KIND_ITEM or mbx_uid != ctx.mbx.uid or it is None or it.type != CONTACT:
        raise not_found()
    if folder is not None and it.folder != folder.id:
        raise not_found()
    return it


def _with_expand(ctx: Ctx, it: Item, data: dict[str, Any]) -> dict[str, Any]:
    wanted = graph_extprops.expand_filter(ctx.req.query.get("$expand"))
    if wanted is not None:
        found = graph_extprops.expanded(it.ext, wanted, it.fields)
        if found:
            data["singleValueExtendedProperties"] = found
    return data


def _entity(ctx: Ctx, it: Item, status: int = 200) -> GraphResponse:
    select = select_list(ctx.req)
    check_select(select, PROPERTIES, "contact")
    data = selected(contact_json(it, ctx.mbx), select)
    tail = f"/contactFolders('{rest_id(it.folder)}')/contacts/$entity"
    return GraphResponse(
        status, {"@odata.context": ctx.context(tail), **_with_expand(ctx, it, data)}
    )


# -- folders ---------------------------------------------------------------------------------
@route("GET", "users/{user}/contactFolders", "graph:listContactFolders", "contacts")
def list_folders(ctx: Ctx) -> GraphResponse:
    parent = ctx.mbx.folder("contacts")
    wanted = display_name_filter(ctx.req)
    folders = [
        f for f in ctx.mbx.children(parent.id) if wanted is None or f.name.lower() == wanted.lower()
    ]
    select = select_list(ctx.req)
    check_select(select, FOLDER_PROPERTIES, "contactFolder")
    top, skip = top_skip(ctx.req)
    page = folders[skip : skip + top]
    more = None
    if skip + top < len(folders):
        params = {k: v for k, v in ctx.req.query.items() if k != "$skip"}
        more = next_link(ctx, **params, **{"$skip": str(skip + top)})
    values = [
        {k: v for k, v in folder_json(f).items() if not select or k == "id" or k in select}
        for f in page
    ]
    return collection(ctx, "/contactFolders", values, more)


@route("POST", "users/{user}/contactFolders", "graph:createContactFolder", "contacts", True)
def create_folder(ctx: Ctx) -> GraphResponse:
    body = body_object(ctx.req)
    for prop in body:
        if prop not in ("displayName", "parentFolderId") and not prop.startswith("@odata."):
            raise unknown_property(prop, "contactFolder")
    name = body.get("displayName")
    if not isinstance(name, str) or not name.strip():
        raise bad_request("The contact folder needs a displayName.", "ErrorInvalidRequest")
    parent = ctx.mbx.folder("contacts")
    f = ctx.sim.store.create_folder(ctx.mbx, parent.id, name, "IPF.Contact")
    return GraphResponse(
        201, {"@odata.context": ctx.context("/contactFolders/$entity"), **folder_json(f)}
    )


@route("GET", "users/{user}/contactFolders/{folder}", "graph:getContactFolder", "contacts")
def get_folder(ctx: Ctx) -> GraphResponse:
    f = contact_folder(ctx, ctx.args["folder"])
    return GraphResponse(
        200, {"@odata.context": ctx.context("/contactFolders/$entity"), **folder_json(f)}
    )


# -- contacts --------------------------------------------------------------------------------
def _list(ctx: Ctx, folder: Folder) -> GraphResponse:
    holds = graph_extprops.any_filter(ctx.req.query.get("$filter"))
    if ("$filter" in ctx.req.query and holds is None) or "$orderby" in ctx.req.query:
        raise GraphError(
            400,
            "ErrorInvalidUrlQuery",
            "exchangesim lists contacts with $select, $top, $skip and a $filter on an "
            "extended property only.",
        )
    select = select_list(ctx.req)
    check_select(select, PROPERTIES, "contact")
    contacts = [ctx.mbx.items[i] for i in folder.items if ctx.mbx.items[i].type == CONTACT]
    if holds is not None:
        contacts = [it for it in contacts if holds(it.ext)]
    top, skip = top_skip(ctx.req)
    more = None
    if skip + top < len(contacts):
        params = {k: v for k, v in ctx.req.query.items() if k != "$skip"}
        more = next_link(ctx, **params, **{"$skip": str(skip + top)})
    values = [
        _with_expand(ctx, it, selected(contact_json(it, ctx.mbx), select))
        for it in contacts[skip : skip + top]
    ]
    return collection(ctx, f"/contactFolders('{rest_id(folder.id)}')/contacts", values, more)


def _create(ctx: Ctx, folder: Folder) -> GraphResponse:
    fields: dict[str, Any] = {}
    ext: dict[str, dict[str, Any]] = {}
    for change in contact_changes(body_object(ctx.req)):
        apply_change(fields, ext, change)
    ctx.mbx.check_quota()
    it = ctx.sim.store.create_item(
        ctx.mbx, folder, CONTACT, fields, copy.deepcopy(ext), limits.CREATE_CODE
    )
    return _entity(ctx, it, 201)


def _update(ctx: Ctx, it: Item) -> GraphResponse:
    changes = contact_changes(body_object(ctx.req))
    ctx.mbx.check_quota()
    ctx.sim.store.apply_changes(ctx.mbx, it, changes, limits.UPDATE_CODE)
    return _entity(ctx, it)


def _delete(ctx: Ctx, it: Item) -> GraphResponse:
    deleted = ctx.mbx.folder("deleteditems")
    if it.folder == deleted.id:
        ctx.sim.store.remove_item(ctx.mbx, it)
    else:
        ctx.sim.store.move_item(ctx.mbx, it, deleted)
    return GraphResponse(204)


@route("GET", "users/{user}/contactFolders/{folder}/contacts", "graph:listContacts", "contacts")
def list_in_folder(ctx: Ctx) -> GraphResponse:
    return _list(ctx, contact_folder(ctx, ctx.args["folder"]))


@route(
    "POST", "users/{user}/contactFolders/{folder}/contacts", "graph:createContact", "contacts", True
)
def create_in_folder(ctx: Ctx) -> GraphResponse:
    return _create(ctx, contact_folder(ctx, ctx.args["folder"]))


@route("GET", "users/{user}/contacts", "graph:listContacts", "contacts")
def list_default(ctx: Ctx) -> GraphResponse:
    return _list(ctx, ctx.mbx.folder("contacts"))


@route("POST", "users/{user}/contacts", "graph:createContact", "contacts", True)
def create_default(ctx: Ctx) -> GraphResponse:
    return _create(ctx, ctx.mbx.folder("contacts"))


def _in_folder(ctx: Ctx) -> Item:
    folder = contact_folder(ctx, ctx.args["folder"])
    return contact_item(ctx, ctx.args["contact"], folder)


@route(
    "GET", "users/{user}/contactFolders/{folder}/contacts/{contact}", "graph:getContact", "contacts"
)
def get_in_folder(ctx: Ctx) -> GraphResponse:
    return _entity(ctx, _in_folder(ctx))


@route(
    "PATCH",
    "users/{user}/contactFolders/{folder}/contacts/{contact}",
    "graph:updateContact",
    "contacts",
    True,
)
def update_in_folder(ctx: Ctx) -> GraphResponse:
    return _update(ctx, _in_folder(ctx))


@route(
    "DELETE",
    "users/{user}/contactFolders/{folder}/contacts/{contact}",
    "graph:deleteContact",
    "contacts",
    True,
)
def delete_in_folder(ctx: Ctx) -> GraphResponse:
    return _delete(ctx, _in_folder(ctx))


@route("GET", "users/{user}/contacts/{contact}", "graph:getContact", "contacts")
def get_contact(ctx: Ctx) -> GraphResponse:
    return _entity(ctx, contact_item(ctx, ctx.args["contact"], None))


@route("PATCH", "users/{user}/contacts/{contact}", "graph:updateContact", "contacts", True)
def update_contact(ctx: Ctx) -> GraphResponse:
    return _update(ctx, contact_item(ctx, ctx.args["contact"], None))


@route("DELETE", "users/{user}/contacts/{contact}", "graph:deleteContact", "contacts", True)
def delete_contact(ctx: Ctx) -> GraphResponse:
    return _delete(ctx, contact_item(ctx, ctx.args["contact"], None))
