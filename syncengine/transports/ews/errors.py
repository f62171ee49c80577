"""EWS failures classified once: every exchangelib/requests exception becomes an ErrorKind.

The runner acts on the kind (retry, back off, pause the user, resync); nothing above the
transport ever sees an exchangelib exception.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from urllib.parse import urlsplit

import requests
from exchangelib import errors as ews

from lightningsync import outbound
from lightningsync.outbound import excerpt

from ..guarded_http import RefusedDestination
from ..protocol import ErrorKind, FolderKind, ItemFailure, TransportError
from ..words import MAILBOX_FULL

# Per-item response codes: the item is refused, the rest of the batch went through.
_ITEM_CONFLICT = (ews.ErrorIrresolvableConflict, ews.ErrorStaleObject)
_ITEM_NOT_FOUND = (ews.ErrorItemNotFound, ews.ErrorInvalidIdMalformed)

_AUTHENTICATION = (ews.UnauthorizedError,)
_CONFIGURATION = (
    ews.ErrorImpersonateUserDenied,
    ews.ErrorImpersonationDenied,
    ews.ErrorImpersonationFailed,
    ews.ErrorNonExistentMailbox,
    ews.ErrorAccessDenied,
    ews.ErrorInvalidServerVersion,
    ews.ErrorInvalidSchemaVersionForMailboxVersion,
    ews.CASError,
    ews.RedirectError,  # the EWS URL is not the one Exchange answers on
    RefusedDestination,
)
_INVALID_CURSOR = (ews.ErrorInvalidSyncStateData,)
_FOLDER_GONE = (ews.ErrorFolderNotFound, ews.ErrorSyncFolderNotFound)
_TRANSIENT = (
    ews.ErrorInternalServerError,
    ews.ErrorInternalServerTransientError,
    ews.ErrorTimeoutExpired,
    ews.ErrorMailboxStoreUnavailable,
    ews.ErrorMailboxMoveInProgress,
    ews.ErrorConnectionFailed,
    ews.ErrorTooManyObjectsOpened,
    ews.ErrorNoRespondingCASInDestinationSite,
    ews.ErrorExceededConnectionCount,
    ews.ErrorBatchProcessingStopped,
    ews.MalformedResponseError,
    ews.SOAPError,
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    ConnectionError,
    TimeoutError,
)

_SUGGESTED_FIX = {
    ErrorKind.AUTHENTICATION: (
        "Check the service account user name and password in Lightning Sync Setup."
    ),
    ErrorKind.CONFIGURATION: (
        "Check that the mailbox exists and that the service account may impersonate it "
        "(its ApplicationImpersonation management scope)."
    ),
}


def _ntlm_refused(exc: BaseException) -> bool:
    """requests_ntlm's answer to a server that offers no NTLM challenge: a PermissionError
    without an errno (an OSError, which would otherwise read as a network failure)."""
    return isinstance(exc, PermissionError) and exc.errno is None


ntlm_refused = _ntlm_refused


def classify(exc: BaseException) -> ErrorKind:
    """The kind of an exception raised by exchangelib or requests."""
    if isinstance(exc, ews.RateLimitError):
        return ErrorKind.THROTTLED
    if isinstance(exc, ews.ErrorServerBusy):
        # exchangelib re-raises HTTP 500/503, timeouts and resets as ErrorServerBusy "Reraised
        # from ..." with a made-up back-off: only the server's own ErrorServerBusy is throttling.
        return ErrorKind.TRANSIENT if _reraised(exc) else ErrorKind.THROTTLED
    if isinstance(exc, _AUTHENTICATION) or _ntlm_refused(exc):
        return ErrorKind.AUTHENTICATION
    if isinstance(exc, _INVALID_CURSOR):
        return ErrorKind.INVALID_CURSOR
    if isinstance(exc, _ITEM_CONFLICT):
        return ErrorKind.CONFLICT
    if isinstance(exc, _ITEM_NOT_FOUND + _FOLDER_GONE):
        return ErrorKind.NOT_FOUND
    if isinstance(exc, _CONFIGURATION):
        return ErrorKind.CONFIGURATION
    if isinstance(exc, _TRANSIENT):
        return ErrorKind.TRANSIENT
    if isinstance(exc, ews.ResponseMessageError):
        # Any other per-item response code (ErrorItemSave, invalid property values...): the
        # item is refused as it is and waits for someone to fix it.
        return ErrorKind.PERMANENT_ITEM
    if isinstance(exc, ews.TransportError):
        return ErrorKind.TRANSIENT
    return ErrorKind.TRANSIENT if isinstance(exc, OSError) else ErrorKind.PERMANENT_ITEM


# What a transport call may raise for reasons outside our code; anything else is a bug and
# must surface as one, not be filed as an Exchange problem.
EXTERNAL_ERRORS: tuple[type[BaseException], ...] = (
    RefusedDestination,
    ews.EWSError,
    requests.exceptions.RequestException,
    OSError,
)


# Per-item refusals whose cause the rep (not the admin) fixes: said in words, not codes.
# (When the item is tried again is the error report's suggestion, the same for every refusal.)
_REP_FIXES = {
    ews.ErrorQuotaExceeded: MAILBOX_FULL,
}


# exchangelib puts the whole HTTP answer of an unexpected response in its message.
_UNKNOWN_RESPONSE = re.compile(
    r"^Unknown failure in response\. Code: (\d+) headers: .*? content: (.*)$", re.DOTALL
)


def _message(exc: BaseException) -> str:
    """What the admin reads: our words, and of the server's only an excerpt (SPEC §13)."""
    name = type(exc).__name__
    if isinstance(exc, RefusedDestination):
        return str(exc)
    if isinstance(exc, ews.RedirectError):
        return _redirect_message(exc.url)
    if _ntlm_refused(exc):
        return (
            "Exchange did not take NTLM sign-in: it answered without an NTLM challenge "
            f"({name}). Check the authentication type in Lightning Sync Setup: Basic or NTLM, "
            "whichever the server's EWS site allows."
        )
    for cls, words in _REP_FIXES.items():
        if isinstance(exc, cls):
            return f"{words} ({name})"
    text = str(exc).strip()
    unknown = _UNKNOWN_RESPONSE.match(text)
    if unknown:
        return f"{name}: the server answered HTTP {unknown[1]}: {excerpt(unknown[2], quoted=True)}"
    text = excerpt(text)
    return f"{name}: {text}" if text and text != name else name


def _redirect_message(target: str) -> str:
    """A redirect is never followed (it may lead anywhere, SPEC §13): the EWS URL is the
    setting to correct. Its target is the server's word, shown as an excerpt and proposed
    as the EWS URL only when it is one the engine would use as it is."""
    shown = excerpt(target, quoted=True)
    said = f"The EWS URL answers with a redirect to {shown}, and Lightning Sync follows no redirect"
    proposable = (
        excerpt(target) == target
        and outbound.url_refusal(target, "EWS URL") is None
        and urlsplit(target).path.lower().endswith("/ews/exchange.asmx")
    )
    if proposable:
        return (f"{said}: if that is your Exchange server, enter {shown} as the EWS URL in "
                "Lightning Sync Setup.")
    return (f"{said}: enter the address Exchange answers on itself "
            "(https://<server>/EWS/Exchange.asmx) as the EWS URL in Lightning Sync Setup.")


def _reraised(exc: BaseException) -> bool:
    return str(exc).startswith("Reraised from")


def back_off_seconds(exc: BaseException) -> float | None:
    if isinstance(exc, ews.ErrorServerBusy) and not _reraised(exc):
        return float(exc.back_off) if exc.back_off else None
    if isinstance(exc, ews.RateLimitError):
        return float(exc.wait)
    return None


# Answers about one folder of a mailbox that answered: its permissions deny the caller, or
# the folder cannot be found.
_FOLDER_REFUSED = (ews.ErrorAccessDenied, *_FOLDER_GONE)


def folder_refusal(exc: BaseException, folder: FolderKind) -> TransportError | None:
    """The TransportError of `folder` refused, if `exc` is such an answer (else None)."""
    if not isinstance(exc, _FOLDER_REFUSED):
        return None
    return TransportError(ErrorKind.CONFIGURATION, _message(exc), folder=folder)


def to_transport_error(exc: BaseException) -> TransportError:
    kind = classify(exc)
    message = _message(exc)
    # A refused destination, a redirect and a refused NTLM sign-in say what to correct.
    says_fix = isinstance(exc, RefusedDestination | ews.RedirectError) or _ntlm_refused(exc)
    fix = None if says_fix else _SUGGESTED_FIX.get(kind)
    return TransportError(
        kind, f"{message}. {fix}" if fix else message, back_off_seconds=back_off_seconds(exc)
    )


# Kinds that concern the whole mailbox even when EWS reports them item by item.
WHOLE_CALL_KINDS = frozenset(
    {ErrorKind.AUTHENTICATION, ErrorKind.CONFIGURATION, ErrorKind.THROTTLED, ErrorKind.TRANSIENT}
)


# Exchange's answer to a property value it does not store (a name part longer than 256
# UTF-16 code units: create, update); the error names the property.
_PROPERTY_REFUSED = (ews.ErrorItemSavePropertyError, ews.ErrorPropertyUpdate)
_FIELD_URI = re.compile(r"field_uri='[A-Za-z]+:([A-Za-z]+)'")


def item_failure(item_id: str | None, exc: BaseException,
                 text_fields: Collection[str] = ()) -> ItemFailure:
    """A per-item exception as an ItemFailure; raises when it really concerns the whole call.

    A refused value of one of `text_fields` is one too long for Exchange (nothing else
    makes it refuse a plain text value): the failure says which field."""
    kind = classify(exc)
    if kind in WHOLE_CALL_KINDS:
        raise to_transport_error(exc) from exc
    named = _FIELD_URI.search(str(exc)) if isinstance(exc, _PROPERTY_REFUSED) else None
    if named and named[1] in text_fields:
        return ItemFailure(item_id, kind, (
            f"{named[1]} is longer than Exchange takes (it counts most emoji and other "
            f"symbols as two characters); the contact was not saved ({type(exc).__name__})"
        ), too_long=named[1])
    return ItemFailure(item_id, kind, _message(exc))
