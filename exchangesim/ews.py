"""The EWS endpoint: envelope checks, impersonation, fault rules, dispatch to operations."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lxml import etree

from . import ews_find, ews_folders, ews_items, ews_sync
from .ewsbase import Context
from .soap import KNOWN_VERSIONS, SOAPNS, M, T, envelope, esc, fault, local, parse
from .store import SchemaViolation, SimError

if TYPE_CHECKING:
    from .control import Simulator

Handler = Callable[[Context], str]
OPERATIONS: dict[str, Handler] = {
    "GetFolder": ews_folders.get_folder,
    "FindFolder": ews_folders.find_folder,
    "CreateFolder": ews_folders.create_folder,
    "SyncFolderHierarchy": ews_folders.sync_folder_hierarchy,
    "GetItem": ews_items.get_item,
    "CreateItem": ews_items.create_item,
    "UpdateItem": ews_items.update_item,
    "DeleteItem": ews_items.delete_item,
    "MoveItem": ews_items.move_item,
    "ConvertId": ews_items.convert_id,
    "FindItem": ews_find.find_item,
    "SyncFolderItems": ews_sync.sync_folder_items,
}
NO_MAILBOX_NEEDED = {"ConvertId"}
IMPERSONATION_KEYS = ("PrimarySmtpAddress", "SmtpAddress", "PrincipalName", "SID")


@dataclass
class Reply:
    """What the HTTP layer must send (or do) for one request."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    action: str = ""  # "", "unauthorized", "reset"
    delay: float = 0.0
    operation: str = ""
    mailbox: str | None = None


def _impersonated(header: etree._Element | None) -> tuple[str, str] | None:
    if header is None:
        return None
    imp = header.find(T + "ExchangeImpersonation")
    if imp is None:
        return None
    sid = imp.find(T + "ConnectingSID")
    if sid is None or len(sid) == 0:
        return ("", "")
    return local(sid[0].tag), (sid[0].text or "").strip()


def process(sim: Simulator, raw: bytes, user: str) -> Reply:
    sv = sim.server_version_info()
    try:
        root = parse(raw)
    except etree.XMLSyntaxError as e:
        return Reply(
            500,
            fault(
                "ErrorSchemaValidation",
                f"The request failed schema validation: {e}",
                server_version=sv,
            ),
        )
    header = root.find(f"{{{SOAPNS}}}Header")
    body = root.find(f"{{{SOAPNS}}}Body")
    if body is None or len(body) == 0:
        return Reply(
            500, fault("ErrorSchemaValidation", "The request has no SOAP body.", server_version=sv)
        )
    request = body[0]
    operation = local(request.tag)
    reply = Reply(operation=operation)

    # Which mailbox: the impersonated one, else the caller's own.
    imp = _impersonated(header)
    smtp: str | None = None
    imp_error: tuple[str, str] | None = None
    if imp is not None:
        kind, value = imp
        smtp = sim.resolve_principal(kind, value)
        if smtp is None:
            imp_error = (
                "ErrorNonExistentMailbox",
                "The SMTP address has no mailbox associated with it.",
            )
            smtp = value
        elif not sim.store.may_impersonate(user, smtp):
            imp_error = (
                "ErrorImpersonateUserDenied",
                "The account does not have permission to impersonate the requested user.",
            )
    elif user.lower() in sim.store.mailboxes:
        smtp = sim.store.mailboxes[user.lower()].smtp
    reply.mailbox = smtp

    rule = sim.faults.take(operation, smtp)
    if rule is not None:
        reply.delay = rule.delay if rule.kind == "delay" else 0.0
        if rule.kind == "server_busy":
            reply.status, reply.body = (
                500,
                fault(
                    "ErrorServerBusy",
                    "The server cannot service this request right now. Try again later.",
                    f'<t:Value Name="BackOffMilliseconds">{rule.back_off_ms}</t:Value>',
                    sv,
                ),
            )
            return reply
        if rule.kind == "http_500":
            reply.status = 500
            reply.headers["Content-Type"] = "text/html; charset=utf-8"
            reply.body = (
                b"<html><head><title>Runtime Error</title></head><body>"
                b"<h1>Server Error in '/EWS' Application.</h1></body></html>"
            )
            return reply
        if rule.kind == "http_503":
            reply.status = 503
            reply.headers["Content-Type"] = "text/html; charset=utf-8"
            reply.body = b"<html><body><h1>Service Unavailable</h1></body></html>"
            return reply
        if rule.kind == "unauthorized":
            reply.action = "unauthorized"
            return reply
        if rule.kind == "connection_reset":
            reply.action = "reset"
            return reply
        if rule.kind == "invalid_sync_state":
            reply.body = envelope(ews_sync.invalid_state(), sv)
            return reply

    version_elem = header.find(T + "RequestServerVersion") if header is not None else None
    version = version_elem.get("Version") if version_elem is not None else "Exchange2007_SP1"
    if version not in KNOWN_VERSIONS or not sim.accepts_schema(version):
        reply.status, reply.body = (
            500,
            fault(
                "ErrorInvalidServerVersion",
                "The specified server version is invalid.",
                server_version=sv,
            ),
        )
        return reply
    if imp_error is not None:
        reply.status, reply.body = 500, fault(imp_error[0], imp_error[1], server_version=sv)
        return reply
    handler = OPERATIONS.get(operation)
    if handler is None:
        reply.status, reply.body = (
            500,
            fault(
                "ErrorInvalidRequest",
                f"The request is invalid: {operation} is not supported here.",
                server_version=sv,
            ),
        )
        return reply
    mbx = sim.store.mailboxes.get(smtp.lower()) if smtp else None
    if mbx is None and operation not in NO_MAILBOX_NEEDED:
        reply.status, reply.body = (
            500,
            fault(
                "ErrorNonExistentMailbox",
                "The SMTP address has no mailbox associated with it.",
                server_version=sv,
            ),
        )
        return reply
    ctx = Context(store=sim.store, mbx=mbx, user=user, request=request)
    try:
        with sim.store.lock:
            out = handler(ctx)
    except SchemaViolation as e:
        mx = (
            f"<t:LineNumber>1</t:LineNumber><t:LinePosition>1</t:LinePosition>"
            f"<t:Violation>{esc(e.violation)}</t:Violation>"
        )
        reply.status, reply.body = (
            500,
            fault("ErrorSchemaValidation", "The request failed schema validation.", mx, sv),
        )
        return reply
    except SimError as e:
        reply.status, reply.body = 500, fault(e.code, e.text, server_version=sv)
        return reply
    reply.body = envelope(out, sv)
    return reply


__all__ = ["OPERATIONS", "M", "Reply", "process"]
