"""Graph's answers classified once (ARCHITECTURE.md, "Errors are classified once"): a status
and an OData error body -> an `ErrorKind` and a message an admin can act on.

401 and 403 are told apart by what the token says: a token without the application
permissions means admin consent is missing (or was withdrawn); a token with them refused for
one mailbox means that mailbox is outside the app's RBAC for Applications scope. Both
messages name what the Exchange Online admin runs.
"""

from __future__ import annotations

from typing import Any

from lightningsync.outbound import excerpt

from ..protocol import ErrorKind
from ..words import MAILBOX_FULL

NEEDED_ROLES = ("Contacts.ReadWrite",)
CONSENT_FIX = (
    "A global administrator must grant admin consent to the app registration's application "
    "permissions Contacts.ReadWrite and Calendars.ReadWrite (the admin consent link on the "
    "Lightning Sync Setup page), then use “Verify and enable” again."
)


CALENDAR_WRITE_ROLE = "Calendars.ReadWrite"


def calendar_write_refused(roles: list[str], mailbox: str) -> str:
    """The message for a stamp refused to an app granted calendars read-only."""
    return (
        f"The app may read {mailbox}'s calendar but not write to it: stamping synced events "
        f"with the org ID needs the application permission {CALENDAR_WRITE_ROLE} (the token "
        f"carries {', '.join(roles) or 'none'}). Add it to the app registration, grant admin "
        "consent again, and assign \"Application Calendars.ReadWrite\" in the RBAC for "
        "Applications scope (New-ManagementRoleAssignment)."
    )


def scope_fix(client_id: str, mailbox: str) -> str:
    return (
        f"Add {mailbox} to the management scope of the app's RBAC for Applications role "
        "assignments in Exchange Online PowerShell (New-ManagementScope, "
        f"New-ManagementRoleAssignment -App {client_id or '<client ID>'} -Role "
        "\"Application Contacts.ReadWrite\" and \"Application Calendars.ReadWrite\" "
        "-CustomResourceScope <scope>), then check it with Test-ServicePrincipalAuthorization "
        f"-Identity {client_id or '<client ID>'} -Resource {mailbox}."
    )


def calendar_refusal(status: int, body: Any, *, mailbox: str, client_id: str,
                     roles: list[str] | None) -> str | None:
    """What a refusal of the rep's calendar says (None: the answer is not one). The mailbox
    may be in the app's scope for contacts and not for calendars: the role assignment and
    the consent are per permission."""
    code, _ = error_of(body)
    said = said_of(status, body)
    if status == 404 and code in ("ErrorItemNotFound", "ErrorFolderNotFound"):
        return f"Exchange Online found no Calendar in {mailbox} ({said})."
    if status != 403:
        return None
    if roles is not None and not any(r.startswith("Calendars.") for r in roles):
        return (f"The app has no permission to mailboxes' calendars: admin consent for "
                f"{CALENDAR_WRITE_ROLE} is missing ({said}). {CONSENT_FIX}")
    return (f"Microsoft Graph refused {mailbox}'s calendar ({said}): the app's RBAC for "
            "Applications role assignments covering this mailbox must include \"Application "
            f"Calendars.ReadWrite\", not only contacts. {scope_fix(client_id, mailbox)}")


def outside_scope(mailbox: str, said: str) -> str:
    """What a 403 for one mailbox says when the token carries the permissions."""
    return f"The mailbox {mailbox} is outside the app's scope ({said})."


def said_of(status: int, body: Any) -> str:
    """"403 ErrorAccessDenied: message" of an answer (or "HTTP 403")."""
    code, message = error_of(body)
    return f"{status} {code}: {message}" if code else f"HTTP {status}"


def error_of(body: Any) -> tuple[str, str]:
    """(code, message) of Graph's `{"error": {"code", "message"}}` body."""
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        return "", ""
    return excerpt(str(err.get("code") or ""), limit=80), excerpt(str(err.get("message") or ""))


def retry_after(headers: dict[str, str]) -> float | None:
    raw = {k.lower(): v for k, v in headers.items()}.get("retry-after")
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except ValueError:
        return None


def classify(
    status: int,
    headers: dict[str, str],
    body: Any,
    *,
    mailbox: str,
    client_id: str,
    roles: list[str] | None,
) -> tuple[ErrorKind, str, float | None]:
    """(kind, message, back-off seconds) of a failed answer."""
    code, _ = error_of(body)
    said = said_of(status, body)
    wait = retry_after(headers)
    if code == "ErrorQuotaExceeded":  # whatever the status: the rep frees space
        return ErrorKind.PERMANENT_ITEM, f"{MAILBOX_FULL} ({code})", None
    if status == 429 or (status == 503 and wait is not None):
        return ErrorKind.THROTTLED, f"Microsoft Graph asks to wait ({said}).", wait or 60.0
    if status >= 500:
        return ErrorKind.TRANSIENT, f"Microsoft Graph failed ({said}).", None
    if status == 410 or code.lower() in ("syncstatenotfound", "resyncrequired"):
        return ErrorKind.INVALID_CURSOR, f"The delta link is no longer valid ({said}).", None
    if status == 401:
        return (
            ErrorKind.AUTHENTICATION,
            f"Microsoft Graph refused the app's token ({said}). Check the tenant ID and the "
            "authority host in Setup.",
            None,
        )
    if status == 403:
        if roles is not None and not set(NEEDED_ROLES) & set(roles):
            return (
                ErrorKind.CONFIGURATION,
                f"The app has no permission to mailboxes' contacts: admin consent is missing "
                f"({said}). {CONSENT_FIX}",
                None,
            )
        return (
            ErrorKind.CONFIGURATION,
            f"{outside_scope(mailbox, said)} {scope_fix(client_id, mailbox)}",
            None,
        )
    if status == 404 and code in ("ErrorInvalidUser", "ErrorNonExistentMailbox",
                                  "MailboxNotEnabledForRESTAPI", "ResourceNotFound"):
        return (
            ErrorKind.CONFIGURATION,
            f"Exchange Online has no mailbox {mailbox} ({said}). Check the user's email "
            "address.",
            None,
        )
    if status == 404:
        return ErrorKind.NOT_FOUND, f"Not found ({said}).", None
    if status in (409, 412):
        return ErrorKind.CONFLICT, f"The item changed meanwhile ({said}).", None
    return ErrorKind.PERMANENT_ITEM, f"Microsoft Graph refused the request ({said}).", None
