"""Read-only probes of Microsoft Graph for one mailbox, for the connection test under OAuth 2.0
(SPEC §6): a token from the authority, the permissions it carries, the mailbox, whether it is
in the app's scope, Salesforce_Sync and the Calendar. Each answers what it saw or raises
`ProbeFailed` with what went wrong and what to fix (in Setup, Microsoft Entra ID or Exchange
Online). Failures are those of the Graph client and `errors.classify`; nothing here writes.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from typing import TypeVar

import requests

from ..connect import ConnectionSettings
from ..probing import FOLDER_FIX, NO_ANSWER, ProbeFailed
from ..protocol import ErrorKind, FolderRef, TransportError
from .auth import TokenRefused, token_roles
from .client import Answer, GraphClient
from .errors import CONSENT_FIX, NEEDED_ROLES, outside_scope, said_of, scope_fix
from .transport import GraphTransport

T = TypeVar("T")

CHECK_ADDRESS = ("Check that the rep's email address in the CRM is the primary SMTP address of "
                 "their Exchange Online mailbox.")


class GraphProbe:
    """The app's view of `settings.mailbox` over Graph, one step at a time."""

    def __init__(self, settings: ConnectionSettings, consent_url: str = "") -> None:
        self.settings = settings
        self.consent_url = consent_url
        self.client = GraphClient(settings)
        self.transport = GraphTransport(self.client, settings.org_id)
        self.roles: list[str] = []

    def token(self) -> str:
        """A token from the authority (the tenant knows the app; the secret or certificate is
        accepted; the authority's certificate is trusted)."""
        try:
            self.roles = token_roles(self.client.token())
        except TokenRefused as refused:  # "authority": Microsoft answered, and refused
            where = "" if refused.kind is ErrorKind.TRANSIENT else "authority"
            raise ProbeFailed(refused.what, refused.fix, where) from refused
        except TransportError as exc:
            raise ProbeFailed(exc.message, "Check the OAuth 2.0 settings in Lightning Sync "
                              "Setup.") from exc
        authority = f"{self.settings.authority_url.rstrip('/')}/{self.settings.tenant_id}"
        return f"{authority} issued a token to the app {self.settings.client_id}."

    def consent(self) -> str:
        """The token carries the application permissions admin consent grants."""
        if not set(NEEDED_ROLES) & set(self.roles):
            link = f" Admin consent link: {self.consent_url}" if self.consent_url else ""
            raise ProbeFailed(
                "The token carries no permission to mailboxes' contacts: admin consent is "
                f"missing (application permissions: {', '.join(self.roles) or 'none'}).",
                CONSENT_FIX + link)
        return f"Application permissions: {', '.join(sorted(self.roles))}."

    def mailbox(self) -> str:
        """One read of the mailbox's contact folders: 404 says no such mailbox (`where`
        "mailbox"), 403 with the permissions granted says outside the scope ("scope")."""
        query = urllib.parse.urlencode({"$select": "id", "$top": "1"})
        answer = self._send(f"{self.client.user}/contactFolders?{query}")
        if answer.ok:
            return f"The app may read {self.settings.mailbox}'s mailbox."
        kind, message, _ = self.client.classify(answer)
        if answer.status == 403:
            raise ProbeFailed(outside_scope(self.settings.mailbox,
                                            said_of(answer.status, answer.body)),
                              scope_fix(self.settings.client_id, self.settings.mailbox),
                              "scope")
        if answer.status == 404 and kind is ErrorKind.CONFIGURATION:
            raise ProbeFailed(f"Exchange Online has no mailbox {self.settings.mailbox}.",
                              CHECK_ADDRESS, "mailbox")
        if kind is ErrorKind.NOT_FOUND:  # the mailbox answered: its Contacts folder did not
            raise ProbeFailed(f"Exchange Online did not find the Contacts folder of "
                              f"{self.settings.mailbox} ({said_of(answer.status, answer.body)}).",
                              FOLDER_FIX, "folder")
        raise ProbeFailed(message, "Check the Graph base URL in Lightning Sync Setup.",
                          "mailbox")

    def contact_folder(self) -> tuple[FolderRef | None, int]:
        """(Salesforce_Sync or None, contacts in the default Contacts folder)."""
        found = self._call(self.transport.find_contact_folder)
        return found, self._call(self._count_contacts)

    def count(self, folder: FolderRef) -> int:
        return self._call(lambda: self.transport.count_items(folder))

    def count_calendar(self) -> int:
        """Events in the rep's Calendar (the analyzer's "Calendar items")."""
        return self._call(lambda: self._count(f"{self.client.user}/calendar/events"))

    def _count_contacts(self) -> int:
        return self._count(f"{self.client.user}/contacts")

    def _count(self, collection: str) -> int:
        url: str | None = f"{collection}?$select=id&$top=1000"
        count = 0
        while url:
            answer = self.client.send("GET", url)
            if not answer.ok:
                raise self.client.error(answer)
            count += len((answer.body or {}).get("value", []))
            url = (answer.body or {}).get("@odata.nextLink")
        return count

    def calendar(self) -> FolderRef:
        return self._call(self.transport.calendar_folder)

    def close(self) -> None:
        """Nothing to release: the client's session and token cache are the process's."""

    def _send(self, url: str) -> Answer:
        try:
            return self.client.send("GET", url)
        except TransportError as exc:
            raise ProbeFailed(exc.message, "Check the Graph base URL in Lightning Sync Setup "
                              "and that this server may reach it.") from exc

    def _call(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except TransportError as exc:
            if isinstance(exc.__cause__, requests.Timeout):
                # Said as the step's own time limit says it: whichever fires first.
                raise ProbeFailed(f"No answer within {self.settings.timeout_seconds:g} s.",
                                  NO_ANSWER) from exc
            raise ProbeFailed(exc.message, _fix(exc, self.settings)) from exc


def _fix(exc: TransportError, settings: ConnectionSettings) -> str:
    if exc.kind is ErrorKind.NOT_FOUND:
        return FOLDER_FIX
    if "outside the app's scope" in exc.message:
        return scope_fix(settings.client_id, settings.mailbox)
    return "Check the app's permissions and scope for this mailbox, then test again."

