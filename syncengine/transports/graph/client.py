"""One mailbox on Microsoft Graph v1.0: requests with the app's token, and `$batch`.

Every request carries a token from the process's `TokenSource` (a 401 drops the cached
token and the request is sent once more with a new one: tokens expire, an admin may rotate
the secret). The session trusts exactly Setup's CA bundle and reaches only where SPEC §13
allows. Failures come back classified (`errors.classify`); the transport decides whether a
failure is the whole call's or one item's.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import requests

from lightningsync.outbound import excerpt

from .. import guarded_http
from ..connect import ConnectionSettings
from ..protocol import ErrorKind, FolderKind, TransportError
from . import auth, errors
from .tls import session_for

BATCH_LIMIT = 20  # Graph's most requests per $batch
PAGE_LIMIT = 1000  # Outlook's largest page (`$top`, `Prefer: odata.maxpagesize`)


def page_of_whole_batches(size: int) -> int:
    """The page size to ask for instead of `size`: a whole number of `$batch`es (a page's
    items are stamped together: a page of 512 would cost 26 batches where 500 cost 25).
    Pages smaller than a batch stay as asked."""
    if size < BATCH_LIMIT:
        return max(1, size)
    return min(size, PAGE_LIMIT) // BATCH_LIMIT * BATCH_LIMIT


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class SubRequest:
    method: str
    url: str  # relative to /v1.0, e.g. "/users/a@b/contacts/ID"
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


_sessions: dict[tuple[str, int], requests.Session] = {}
_sessions_lock = threading.Lock()


def _session(settings: ConnectionSettings) -> requests.Session:
    """One pooled session per CA bundle and pool size, shared by every mailbox."""
    key = (settings.ca_bundle, settings.max_connections)
    with _sessions_lock:
        session = _sessions.get(key)
        if session is None:
            session = guarded_http.guard(
                session_for(settings.ca_bundle), pool_size=max(1, settings.max_connections)
            )
            _sessions[key] = session
        return session


class GraphClient:
    def __init__(self, settings: ConnectionSettings) -> None:
        if not settings.graph_url:
            raise TransportError(
                ErrorKind.CONFIGURATION, "No Graph base URL is set in Lightning Sync Setup."
            )
        self.settings = settings
        self.root = f"{settings.graph_url.rstrip('/')}/v1.0"
        self.user = f"/users/{urllib.parse.quote(settings.mailbox, safe='@')}"
        self.tokens = auth.token_source(settings)
        self.session = _session(settings)
        self.requests_sent = 0
        self._token: str | None = None

    # -- tokens -------------------------------------------------------------------------
    def token(self) -> str:
        if self._token is None:
            self._token = self.tokens.token()
        return self._token

    def roles(self) -> list[str]:
        return auth.token_roles(self.token())

    def _renew(self) -> None:
        with self.tokens.lock:
            self.tokens.app.remove_tokens_for_client()
        self._token = None

    # -- requests -----------------------------------------------------------------------
    def send(
        self,
        method: str,
        url: str,
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """One request (a path below /v1.0, or an absolute next/delta link)."""
        target = url if url.startswith("https://") or url.startswith("http://") else self.root + url
        for attempt in (1, 2):
            answer = self._send_once(method, target, body, headers or {})
            if answer.status != 401 or attempt == 2:
                return answer
            self._renew()
        return answer  # pragma: no cover

    def _send_once(self, method: str, target: str, body: Any, headers: dict[str, str]) -> Answer:
        sent = {"Authorization": f"Bearer {self.token()}", "Accept": "application/json",
                **headers}
        data = None
        if body is not None:
            sent["Content-Type"] = "application/json"
            data = json.dumps(body)
        self.requests_sent += 1
        try:
            response = self.session.request(
                method, target, data=data, headers=sent, timeout=self.settings.timeout_seconds
            )
        except guarded_http.RefusedDestination as exc:
            raise TransportError(ErrorKind.CONFIGURATION, str(exc)) from None
        except requests.Timeout as exc:
            raise TransportError(
                ErrorKind.TRANSIENT, "Microsoft Graph did not answer within "
                f"{self.settings.timeout_seconds:g} s."
            ) from exc  # the cause tells a timeout from other failures (the probe's words)
        except requests.RequestException as exc:
            said = excerpt(str(exc)) or type(exc).__name__
            raise TransportError(
                ErrorKind.TRANSIENT, f"Microsoft Graph could not be reached: {said}"
            ) from None
        try:
            parsed = response.json() if response.content else None
        except ValueError:
            parsed = None
        return Answer(response.status_code, dict(response.headers), parsed)

    def batch(self, requests_: Sequence[SubRequest]) -> list[Answer]:
        """The answers of `requests_`, in their order, sent `BATCH_LIMIT` per `$batch`.

        A sub-request answered 429 (or 503) with Retry-After is its own answer: the caller
        sees it per item. A failure of a `$batch` request itself fails the whole call.
        """
        answers: list[Answer] = []
        for start in range(0, len(requests_), BATCH_LIMIT):
            chunk = requests_[start : start + BATCH_LIMIT]
            payload = {"requests": [self._sub(str(n), r) for n, r in enumerate(chunk)]}
            answer = self.send("POST", "/$batch", body=payload)
            if not answer.ok:
                raise self.error(answer)
            by_id = {
                str(r.get("id")): r
                for r in (answer.body or {}).get("responses", [])
                if isinstance(r, dict)
            }
            for n in range(len(chunk)):
                sub = by_id.get(str(n))
                if sub is None:
                    answers.append(Answer(500, {}, {"error": {
                        "code": "missingResponse",
                        "message": "The $batch answer has no response for this request."}}))
                    continue
                headers = {str(k): str(v) for k, v in (sub.get("headers") or {}).items()}
                answers.append(Answer(int(sub.get("status", 500)), headers, sub.get("body")))
        return answers

    @staticmethod
    def _sub(request_id: str, r: SubRequest) -> dict[str, Any]:
        entry: dict[str, Any] = {"id": request_id, "method": r.method, "url": r.url}
        headers = dict(r.headers)
        if r.body is not None:
            entry["body"] = r.body
            headers["Content-Type"] = "application/json"
        if headers:
            entry["headers"] = headers
        return entry

    # -- failures -----------------------------------------------------------------------
    def _roles_if_refused(self, answer: Answer) -> list[str] | None:
        """The token's roles when a 403 needs them to say why (None: unknown or not asked)."""
        if answer.status != 403:
            return None
        try:
            return self.roles()
        except TransportError:
            return None

    def classify(self, answer: Answer) -> tuple[ErrorKind, str, float | None]:
        return errors.classify(
            answer.status, answer.headers, answer.body, mailbox=self.settings.mailbox,
            client_id=self.settings.client_id, roles=self._roles_if_refused(answer),
        )

    def error(self, answer: Answer) -> TransportError:
        kind, message, wait = self.classify(answer)
        return TransportError(kind, message, back_off_seconds=wait)

    def calendar_error(self, answer: Answer) -> TransportError:
        """The error of a failed request on the rep's calendar: a refusal of the calendar
        itself names that folder (the mailbox may still be reachable); anything else is
        classified as any answer."""
        refused = errors.calendar_refusal(answer.status, answer.body,
                                          mailbox=self.settings.mailbox,
                                          client_id=self.settings.client_id,
                                          roles=self._roles_if_refused(answer))
        if refused is None:
            return self.error(answer)
        return TransportError(ErrorKind.CONFIGURATION, refused, folder=FolderKind.CALENDAR)

    def delta_pages(self, url: str, headers: dict[str, str], gone: str,
                    refused: Callable[[Answer], TransportError] | None = None,
                    ) -> Iterator[tuple[list[Any], str, bool]]:
        """The pages of a delta listing from `url`: (entries, the link to keep, more to come).
        A 404 means the folder is gone (`gone` says which); a page without a next or delta
        link is a transient fault.

        The next page is asked for as soon as a page arrives, so that the server prepares it
        while the engine writes this one (a delta GET changes nothing: asked early or late,
        it is the same request). Its failure is raised when the engine asks for that page.
        """
        prefetch: ThreadPoolExecutor | None = None
        try:
            answer = self.send("GET", url, headers=headers)
            while True:
                if answer.status == 404:
                    raise TransportError(ErrorKind.NOT_FOUND, gone)
                if not answer.ok:
                    raise (refused or self.error)(answer)
                body = answer.body or {}
                next_link = body.get("@odata.nextLink")
                link = next_link or body.get("@odata.deltaLink")
                if not link:
                    raise TransportError(
                        ErrorKind.TRANSIENT,
                        "Microsoft Graph answered a delta page without a link.",
                    )
                coming: Future[Answer] | None = None
                if next_link:
                    if prefetch is None:
                        prefetch = ThreadPoolExecutor(1, thread_name_prefix="graph-delta")
                    coming = prefetch.submit(self.send, "GET", str(next_link), headers=headers)
                yield body.get("value", []), str(link), bool(next_link)
                if coming is None:
                    return
                answer = coming.result()
        finally:
            if prefetch is not None:
                prefetch.shutdown(wait=False, cancel_futures=True)
