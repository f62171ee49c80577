"""Read-only probes of an Exchange server and one mailbox over EWS, for the connection test
and the analyzer (SPEC §6): each answers what it saw or raises `ProbeFailed` with what went
wrong and what to do about it. Nothing here writes to a mailbox.

The probes run on a connection of their own (`client.probe_account`): the version probe
changes the protocol's version, which the sync's shared connection must never see.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from exchangelib import Account, Build, Version
from exchangelib import errors as ews

from lightningsync.outbound import excerpt

from ..connect import ConnectionSettings
from ..guarded_http import RefusedDestination, checked_addresses
from ..probing import ADD_CA, FOLDER_FIX, NO_ANSWER, ProbeFailed
from ..protocol import FolderKind, FolderRef, TransportError
from .client import EWS_VERSION, forget_probe, probe_account
from .errors import EXTERNAL_ERRORS, ntlm_refused, to_transport_error
from .transport import EwsTransport

OLDEST_SUPPORTED = Build(15, 0, 847, 32)  # Exchange 2013 SP1

# Marketing names of Exchange builds (major, minor) -> name.
_PRODUCTS = {
    (8, 0): "Exchange 2007", (8, 1): "Exchange 2007 SP1", (8, 2): "Exchange 2007 SP2",
    (8, 3): "Exchange 2007 SP3", (14, 0): "Exchange 2010", (14, 1): "Exchange 2010 SP1",
    (14, 2): "Exchange 2010 SP2", (14, 3): "Exchange 2010 SP3", (15, 0): "Exchange 2013",
    (15, 1): "Exchange 2016", (15, 2): "Exchange 2019",
}

CHECK_PASSWORD = ("Check the service account user name (user@domain.tld or DOMAIN\\user), its "
                  "password and the authentication type (Basic or NTLM, as the EWS site "
                  "allows) in Lightning Sync Setup.")
GRANT_IMPERSONATION = (
    "Give the service account the ApplicationImpersonation role with a management scope that "
    "includes this mailbox (New-ManagementRoleAssignment -Role ApplicationImpersonation "
    "-User <service account> -CustomRecipientWriteScope <scope>), then test again.")
CHECK_ADDRESS = ("Check that the rep's email address in the CRM is the primary SMTP address of "
                 "their Exchange mailbox, and that the mailbox exists on this server.")


@dataclass(frozen=True)
class ServerVersion:
    build: str  # "15.1.2507.6"
    name: str  # "Exchange 2016"
    supported: bool


def product_name(build: Build) -> str:
    return _PRODUCTS.get((build.major_version, build.minor_version), f"Exchange {build}")


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    return parts.hostname or "", port


def reachable(url: str, timeout: float) -> str:
    """Open (and close) a TCP connection to the URL's host and port."""
    host, port = _host_port(url)
    try:
        addresses = checked_addresses(host, port)
    except RefusedDestination as exc:
        raise ProbeFailed(str(exc), "Correct the EWS URL in Lightning Sync Setup.") from exc
    except OSError as exc:
        raise ProbeFailed(
            f"The host name {host} does not resolve ({excerpt(str(exc))}).",
            "Check the EWS URL's host name, and this server's DNS.") from exc
    last: OSError | None = None
    for family, address in addresses:
        try:
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                sock.settimeout(timeout)
                sock.connect(address)
            return f"Connected to {host} port {port} ({address[0]})."
        except OSError as exc:
            last = exc
    raise ProbeFailed(
        f"Could not connect to {host} port {port}: {excerpt(str(last))}.",
        "Check that the Exchange server is running and that a firewall lets this server "
        "reach it on that port; check the EWS URL in Lightning Sync Setup.")


class Probe:
    """A throwaway EWS connection as the service account, impersonating `settings.mailbox`."""

    def __init__(self, settings: ConnectionSettings, tag: str) -> None:
        self.settings = settings
        try:
            self.account: Account = probe_account(settings, tag)
        except EXTERNAL_ERRORS as exc:
            error = to_transport_error(exc)
            raise ProbeFailed(error.message, "Correct the connection in Setup.") from exc
        self.transport = EwsTransport(self.account, settings.org_id, read_concurrency=1)

    def close(self) -> None:
        forget_probe(self.account)

    def tls(self) -> str:
        """Does the server's certificate chain to a trusted CA (Setup's bundle or the
        system's)? Answered by a plain GET through the sync's own kind of session."""
        url = self.settings.url
        if urlsplit(url).scheme.lower() != "https":
            return ("Plain HTTP: no certificate to check (this host is allowed in "
                    "LIGHTNINGSYNC_ALLOW_HTTP_HOSTS).")
        protocol: Any = self.account.protocol
        session = protocol.create_session()
        try:
            session.get(url, timeout=self.settings.timeout_seconds, allow_redirects=False,
                        headers={"Connection": "close"})
        except requests.exceptions.SSLError as exc:
            raise ProbeFailed(
                f"The server's TLS certificate is not trusted: {excerpt(str(exc))}.",
                ADD_CA) from exc
        except (requests.exceptions.RequestException, RefusedDestination, OSError) as exc:
            raise ProbeFailed(f"The TLS handshake failed: {excerpt(str(exc))}.",
                              "Check the EWS URL and the server's TLS set-up.") from exc
        finally:
            session.close()
        trusted = "the CA bundle in Setup" if self.settings.ca_bundle else "the system's CAs"
        return f"The certificate is valid for this host and trusted through {trusted}."

    def server_version(self) -> ServerVersion:
        """Sign in and ask the server's version (exchangelib's own probe: a ConvertId whose
        answer carries ServerVersionInfo). A 401 is the credentials' fault."""
        protocol: Any = self.account.protocol
        try:
            version = Version.guess(protocol, api_version_hint=EWS_VERSION.api_version)
        except EXTERNAL_ERRORS as exc:
            raise self._failure(exc) from exc
        build = version.build
        supported = build >= OLDEST_SUPPORTED
        if supported:
            protocol.config.version = EWS_VERSION
        return ServerVersion(str(build), product_name(build), supported)

    def mailbox(self) -> str:
        """Open the rep's Contacts folder by impersonation: the mailbox exists and the
        service account may act as the rep."""
        try:
            self.transport.find_contact_folder()
        except TransportError as exc:
            raise self._failure(exc.__cause__ or exc) from exc
        return f"Exchange opened {self.settings.mailbox}'s mailbox as the rep."

    def contact_folder(self) -> tuple[FolderRef | None, int]:
        """(Salesforce_Sync or None, items in the default Contacts folder)."""
        try:
            found = self.transport.find_contact_folder()
            parent = self.transport._contacts_parent
            assert parent is not None
            count = self.transport.count_items(FolderRef(FolderKind.CONTACTS, parent.id))
        except TransportError as exc:
            raise self._failure(exc.__cause__ or exc) from exc
        return found, count

    def count(self, folder: FolderRef) -> int:
        try:
            return self.transport.count_items(folder)
        except TransportError as exc:
            raise self._failure(exc.__cause__ or exc) from exc

    def calendar(self) -> FolderRef:
        try:
            return self.transport.calendar_folder()
        except TransportError as exc:
            raise self._failure(exc.__cause__ or exc) from exc

    def count_calendar(self) -> int:
        """Items in the rep's Calendar (the analyzer's "Calendar items")."""
        return self.count(FolderRef(FolderKind.CALENDAR, self.calendar().id))

    def _failure(self, exc: BaseException) -> ProbeFailed:
        mailbox = self.settings.mailbox
        if _timed_out(exc):
            return ProbeFailed(f"No answer within {self.settings.timeout_seconds:g} s.", NO_ANSWER)
        if isinstance(exc, ews.UnauthorizedError):
            return ProbeFailed(
                f"Exchange refused the service account's sign-in ({type(exc).__name__}).",
                CHECK_PASSWORD, "auth")
        if isinstance(exc, ews.ErrorNonExistentMailbox):
            return ProbeFailed(f"Exchange has no mailbox for {mailbox}.", CHECK_ADDRESS, "mailbox")
        if isinstance(exc, ews.ErrorFolderNotFound):
            return ProbeFailed(f"Exchange did not find the folder in {mailbox}'s mailbox "
                               "(ErrorFolderNotFound).", FOLDER_FIX, "folder")
        if isinstance(exc, ews.ErrorImpersonateUserDenied | ews.ErrorImpersonationDenied
                      | ews.ErrorImpersonationFailed):
            return ProbeFailed(
                f"The service account may not impersonate {mailbox} ({type(exc).__name__}).",
                GRANT_IMPERSONATION, "impersonation")
        if isinstance(exc, ews.ErrorAccessDenied):
            return ProbeFailed(f"Exchange denied access to {mailbox}'s folder.",
                               GRANT_IMPERSONATION, "impersonation")
        if isinstance(exc, requests.exceptions.SSLError):
            return ProbeFailed(f"The server's TLS certificate is not trusted: "
                               f"{excerpt(str(exc))}.", ADD_CA, "tls")
        if ntlm_refused(exc):
            return ProbeFailed(to_transport_error(exc).message, CHECK_PASSWORD, "auth")
        error = exc if isinstance(exc, TransportError) else to_transport_error(exc)
        return ProbeFailed(error.message, "Check the Exchange server and the connection "
                           "settings in Lightning Sync Setup, then test again.")


def _timed_out(exc: BaseException) -> bool:
    """Whether the server did not answer in time. exchangelib sometimes reports a read timeout
    only inside its own error's text ("No valid version headers found in response
    (ErrorTimeoutExpired(...))"), so the text is read as well as the chain of causes."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ews.ErrorTimeoutExpired | requests.exceptions.Timeout
                      | socket.timeout):
            return True
        if "ErrorTimeoutExpired(" in str(seen) or "Read timed out" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
