"""The connection test (SPEC §6): read-only checks, in order, of everything between Setup and
one rep's mailbox, each within a time limit, each passing, warning or failing with what to do.
The first failure ends the test (later steps read "Not tested"). Results are stored on a
`ConnectionTestRun` as each step completes, so the Setup page can show them while the
django-q2 task runs; the command prints them as they come.

Under the service account the steps (`STEPS`) go through EWS (`transports.ews.probe`); under
OAuth 2.0 (`GRAPH_STEPS`) through Microsoft Graph with the app registration's token
(`transports.graph.probe`): token, admin consent, mailbox, the app's scope, then the same
folder steps. What the test learns is recorded with `record_connection` either way.

The analyzer (`analyze`) walks the seed's Remote Connectivity Analyzer parameters (target
mailbox, service account, Autodiscover or URL, a predefined folder, impersonation by SMTP
address) over the same probes and says what each saw.

Steps run in a worker thread (so a stuck server costs the step's limit, not the task's);
only the calling thread touches the database.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.utils import timezone

from lightningsync import domains
from lightningsync.connectionfacts import record_connection
from lightningsync.models import (
    AutodiscoverResult,
    ConnectionResult,
    ConnectionTestRun,
    LightningSyncSetup,
    User,
    UserSyncState,
)

from .autodiscovery import autodiscover_settings
from .mailbox import settings_for
from .transports.connect import SERVICE_ACCOUNT, ConnectionSettings
from .transports.probing import NO_ANSWER, ProbeFailed
from .transports.protocol import TransportError

T = TypeVar("T")

PASS, WARNING, FAIL, SKIPPED = "pass", "warning", "fail", "skipped"
Outcome = ConnectionTestRun.Outcome

# (key, title) of every step, in the order they run.
STEPS: tuple[tuple[str, str], ...] = (
    ("enabled", "Lightning Sync enabled"),
    ("credentials", "Service account credentials present"),
    ("domain", "Rep's email domain recognised"),
    ("url", "EWS URL"),
    ("reachable", "Exchange server reachable"),
    ("tls", "TLS certificate trusted"),
    ("auth", "Service account signed in"),
    ("version", "Server version supported"),
    ("mailbox", "Rep's mailbox found"),
    ("impersonation", "Impersonation allowed"),
    ("contacts", "Contacts folder readable, Salesforce_Sync present"),
    ("calendar", "Calendar readable"),
)
# Under OAuth 2.0 (Microsoft Graph): the app registration instead of the service account.
GRAPH_STEPS: tuple[tuple[str, str], ...] = (
    ("enabled", "Lightning Sync enabled"),
    ("settings", "OAuth 2.0 settings present"),
    ("domain", "Rep's email domain recognised"),
    ("token", "Token acquired from Microsoft Entra ID"),
    ("consent", "Admin consent granted"),
    ("mailbox", "Rep's mailbox found"),
    ("scope", "Mailbox in the app's scope"),
    ("contacts", "Contacts folder readable, Salesforce_Sync present"),
    ("calendar", "Calendar readable"),
)
TITLES = {**dict(STEPS), **dict(GRAPH_STEPS)}


def steps_for(method: str) -> tuple[tuple[str, str], ...]:
    """The steps a test runs under a connection method."""
    return STEPS if method == SERVICE_ACCOUNT else GRAPH_STEPS


def steps_of_run(stored: list[dict[str, str]], method: str) -> tuple[tuple[str, str], ...]:
    """The steps of a stored run: those of the method its steps show, else Setup's now."""
    keys = {s.get("key") for s in stored}
    if keys & ({k for k, _ in GRAPH_STEPS} - {k for k, _ in STEPS}):
        return GRAPH_STEPS
    if keys & ({k for k, _ in STEPS} - {k for k, _ in GRAPH_STEPS}):
        return STEPS
    return steps_for(method)
SUMMARIES: dict[str, str] = {
    Outcome.SUCCESSFUL: "Connection test successful",
    Outcome.WARNINGS: "Connection test successful with warnings",
    Outcome.FAILED: "Connection test failed",
    Outcome.RUNNING: "Connection test running",
}


@dataclass
class Step:
    key: str
    title: str
    status: str
    detail: str = ""
    suggestion: str = ""

    def as_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


class StepFailed(Exception):
    def __init__(self, message: str, suggestion: str) -> None:
        super().__init__(message)
        self.message = message
        self.suggestion = suggestion


def step_seconds() -> float:
    return float(settings.LIGHTNINGSYNC_CONNECTION_TEST_STEP_SECONDS)


def within_limit(fn: Callable[[], T], seconds: float) -> T:
    """`fn()`, or StepFailed once `seconds` have passed without an answer."""
    pool = ThreadPoolExecutor(1, thread_name_prefix="connection-test")
    try:
        return pool.submit(fn).result(timeout=seconds)
    except FutureTimeout:
        raise StepFailed(f"No answer within {seconds:g} s.", NO_ANSWER) from None
    finally:
        pool.shutdown(wait=False)


class _Run:
    """The steps of one test, recorded through `record` as they complete."""

    def __init__(self, email: str, record: Callable[[Step], None]) -> None:
        self.email = email.strip()
        self.record = record
        self.setup = LightningSyncSetup.load()
        self.steps: list[Step] = []
        self.probe: Any = None
        self.keys = [key for key, _ in steps_for(self.setup.connection_method)]
        # Whether Exchange (or Microsoft's authority) answered: only then are facts learnt.
        self.answered = False

    def add(self, key: str, status: str, detail: str = "", suggestion: str = "") -> Step:
        step = Step(key, TITLES[key], status, detail, suggestion)
        self.steps.append(step)
        self.record(step)
        return step

    def check(self, key: str, fn: Callable[[], str]) -> bool:
        """Run one step in its time limit; record and return whether it passed."""
        try:
            detail = within_limit(fn, step_seconds())
        except (StepFailed, ProbeFailed) as failed:
            self.add(key, FAIL, failed.message, failed.suggestion)
            return False
        self.add(key, PASS, detail)
        return True

    def outcome(self) -> str:
        statuses = {s.status for s in self.steps}
        if FAIL in statuses:
            return Outcome.FAILED
        return Outcome.WARNINGS if WARNING in statuses else Outcome.SUCCESSFUL

    def skip_rest(self) -> None:
        done = {s.key for s in self.steps}
        for key in self.keys:
            if key not in done:
                self.add(key, SKIPPED, "Not tested: an earlier step failed.")

    # -- the steps ---------------------------------------------------------------------
    def run(self) -> str:
        try:
            self._run()
        finally:
            if self.probe is not None:
                self.probe.close()
        if self.outcome() == Outcome.FAILED:
            self.skip_rest()
        return self.outcome()

    def _run(self) -> None:
        setup = self.setup
        if setup.enabled:
            self.add("enabled", PASS, "Lightning Sync is enabled.")
        else:
            self.add("enabled", WARNING, "Lightning Sync is off: nothing syncs until it is on.",
                     "Turn on Enable Lightning Sync in Lightning Sync Setup once the test "
                     "passes.")
        if setup.connection_method != SERVICE_ACCOUNT:
            self._graph()
            return
        missing = [name for name, present in (
            ("user name", bool(setup.service_account_username)),
            ("password", setup.has_service_account_password)) if not present]
        if missing:
            self.add("credentials", FAIL, f"Setup has no service account {' or '.join(missing)}.",
                     "Enter the service account's user name and password in Lightning Sync "
                     "Setup.")
            return
        self.add("credentials", PASS, f"Service account {setup.service_account_username}.")
        if not self._domain():
            return
        url = self._url()
        if not url:
            return
        settings_ = dataclasses.replace(
            settings_for(setup, self.email, url=url),
            timeout_seconds=min(step_seconds(), settings.LIGHTNINGSYNC_EWS_TIMEOUT_SECONDS))
        if self._server_steps(settings_):
            self._mailbox_steps("Exchange", "impersonation", "the rep's mailbox")

    def _domain(self) -> bool:
        setup = self.setup
        if not domains.domain_of(self.email):
            self.add("domain", FAIL, f"“{self.email}” is not an email address.",
                     "Enter the rep's email address, as Exchange knows their mailbox.")
            return False
        reason = domains.unrecognised_reason(setup, self.email)
        if reason:
            self.add("domain", FAIL, reason, "Add the rep's email domain to Additional domains "
                     "in Lightning Sync Setup, or test a rep of a recognised domain.")
            return False
        domain = domains.domain_of(self.email)
        if setup.connection_method != SERVICE_ACCOUNT:
            self.add("domain", PASS, f"{domain}: under OAuth 2.0 every mailbox in the app "
                     "registration's scope syncs, whatever its domain.")
            return True
        known = ", ".join(domains.recognised_domains(setup)) or "any domain"
        self.add("domain", PASS, f"{domain} is served ({known}).")
        return True

    # -- under OAuth 2.0 (Microsoft Graph) -----------------------------------------------
    def _graph(self) -> None:
        setup = self.setup
        missing = [label for label, value in (
            ("tenant ID", setup.oauth_tenant_id),
            ("application (client) ID", setup.oauth_client_id),
            ("client secret or certificate", setup.has_oauth_credential),
            ("Graph base URL", setup.graph_url),
            ("authority host", setup.authority_url),
        ) if not value]
        if missing:
            self.add("settings", FAIL, f"Setup has no {', no '.join(missing)} for OAuth 2.0.",
                     "Enter them in Lightning Sync Setup: the tenant ID and the application "
                     "(client) ID are on the app registration's Overview in the Microsoft "
                     "Entra admin center, the secret or certificate under its Certificates & "
                     "secrets.")
            return
        credential = "a certificate" if setup.oauth_certificate() else "a client secret"
        self.add("settings", PASS, f"Tenant {setup.oauth_tenant_id}, app "
                 f"{setup.oauth_client_id}, with {credential}.")
        if not self._domain():
            return
        from lightningsync.setupservice import admin_consent_url

        from .transports.connect import OAUTH2
        from .transports.graph.probe import GraphProbe

        conn = dataclasses.replace(
            settings_for(setup, self.email, method=OAUTH2),
            timeout_seconds=min(step_seconds(), settings.LIGHTNINGSYNC_EWS_TIMEOUT_SECONDS))
        try:
            self.probe = GraphProbe(conn, admin_consent_url(setup))
        except TransportError as exc:
            self.add("token", FAIL, exc.message, "Correct the OAuth 2.0 settings in Lightning "
                     "Sync Setup.")
            return
        try:
            detail = within_limit(self.probe.token, step_seconds())
        except (StepFailed, ProbeFailed) as failed:
            # Microsoft's authority answered (and refused) unless it was not reached.
            self.answered = isinstance(failed, ProbeFailed) and failed.where == "authority"
            self.add("token", FAIL, failed.message, failed.suggestion)
            return
        self.answered = True
        self.add("token", PASS, detail)
        if not self.check("consent", self.probe.consent):
            return
        self._mailbox_steps("Exchange Online", "scope", "the mailbox")

    def _url(self) -> str:
        setup = self.setup
        if not setup.autodiscover:
            if not setup.ews_url:
                self.add("url", FAIL, "Setup gives no EWS URL.",
                         "Enter the EWS URL (https://<server>/EWS/Exchange.asmx) or choose "
                         "Autodiscover in Lightning Sync Setup.")
                return ""
            self.add("url", PASS, f"From Setup: {setup.ews_url}")
            return setup.ews_url
        from .transports.ews.autodiscover import discover_ews_url

        domain = domains.domain_of(self.email)
        found: list[tuple[str, str]] = []
        error = ""
        try:
            found.append(within_limit(
                lambda: discover_ews_url(self.email, autodiscover_settings(setup)),
                step_seconds()))
        except TransportError as exc:
            error = exc.message
        except StepFailed as exc:
            error = f"Autodiscover did not answer: {exc.message}"
        AutodiscoverResult.objects.update_or_create(domain=domain, defaults={
            "ews_url": found[0][0] if found else "", "service_url": found[0][1] if found else "",
            "error": error, "error_kind": "" if found else "configuration",
            "resolved_at": timezone.now()})
        if not found:
            self.add("url", FAIL, error,
                     f"Check the Autodiscover records of {domain} (autodiscover.{domain} or "
                     f"{domain}) and that they answer for this mailbox, or enter the EWS URL "
                     "in Lightning Sync Setup instead.")
            return ""
        self.add("url", PASS, f"Autodiscover ({found[0][1]}) gave {found[0][0]} for {domain}.")
        return found[0][0]

    def _server_steps(self, conn: ConnectionSettings) -> bool:
        probe = _probe()
        if not self.check("reachable", lambda: probe.reachable(conn.url, conn.timeout_seconds)):
            return False
        try:
            self.probe = probe.Probe(conn, tag=f"connection-test:{id(self)}")
        except probe.ProbeFailed as failed:
            self.add("tls", FAIL, failed.message, failed.suggestion)
            return False
        if not self.check("tls", self.probe.tls):
            return False
        versions: list[Any] = []

        def sign_in() -> str:
            versions.append(self.probe.server_version())
            return f"Exchange accepted {conn.username} ({conn.auth_type.upper()})."

        signed_in = self.check("auth", sign_in)
        self.answered = True  # Exchange answered the sign-in, accepting it or not
        if not signed_in:
            return False
        found = versions[0]
        if not found.supported:
            self.add("version", FAIL,
                     f"{found.name} (build {found.build}) is not supported: Lightning Sync "
                     "needs Exchange 2013 SP1 or later.",
                     "Point Lightning Sync at a server running Exchange 2013 SP1, 2016 or 2019 "
                     "(or move the mailboxes to one).")
            return False
        self.add("version", PASS, f"{found.name} (build {found.build}).")
        return True

    def _mailbox_steps(self, server: str, access: str, whose: str) -> None:
        """The mailbox step, then the access step (`access`: "impersonation" for the service
        account, "scope" for the app registration), then the folders. Which of them failed
        is told by the probe's `where`."""
        known = f"{server} knows {self.email}."
        try:
            opened = within_limit(self.probe.mailbox, step_seconds())
        except ProbeFailed as failed:
            if failed.where == access:
                self.add("mailbox", PASS, known)
                self.add(access, FAIL, failed.message, failed.suggestion)
            elif failed.where == "folder":  # the mailbox answered; Contacts did not
                self.add("mailbox", PASS, known)
                self.add(access, PASS, f"{server} answered for {whose}.")
                self.add("contacts", FAIL, failed.message, failed.suggestion)
            else:
                self.add("mailbox", FAIL, failed.message, failed.suggestion)
            return
        except StepFailed as failed:
            self.add("mailbox", FAIL, failed.message, failed.suggestion)
            return
        self.add("mailbox", PASS, known)
        self.add(access, PASS, opened)
        self._folder_steps()

    def _folder_steps(self) -> None:
        """Salesforce_Sync (read, never created) and the Calendar, through either probe."""
        def contacts() -> tuple[Any, int, int]:
            folder, count = self.probe.contact_folder()
            return folder, count, (self.probe.count(folder) if folder is not None else 0)

        try:
            folder, count, synced = within_limit(contacts, step_seconds())
        except (StepFailed, ProbeFailed) as failed:
            self.add("contacts", FAIL, failed.message, failed.suggestion)
            return
        said = f"Contacts holds {_items(count)}; "
        if folder is None:
            self.add("contacts", WARNING,
                     said + "Salesforce_Sync is missing: it will be created at the first sync.",
                     "Nothing to do: the first sync creates it; reps then put the contacts "
                     "they want synced in it.")
        else:
            self.add("contacts", PASS, said + f"Salesforce_Sync is there with {_items(synced)}.")
        self.check("calendar", lambda: f"Calendar found ({self.probe.calendar().id[:12]}…).")


def _probe() -> Any:
    """The EWS probes (exchangelib is imported when a test runs, not with the pages)."""
    from .transports.ews import probe

    return probe


def _items(n: int) -> str:
    return f"{n} item{'' if n == 1 else 's'}"


# -- running and recording ----------------------------------------------------------------
def start(email: str, requested_by: Any = None) -> ConnectionTestRun:
    """A new run for `email`, its task enqueued once the row is committed."""
    from django.db import transaction
    from django_q.tasks import async_task

    prune()
    run = ConnectionTestRun.objects.create(email=email.strip(), requested_by=requested_by)
    transaction.on_commit(lambda: async_task(
        "syncengine.tasks.connection_test_task", run.pk, group="lightningsync-connection-test"))
    return run


def perform(run_id: int, on_step: Callable[[Step], None] | None = None) -> ConnectionTestRun:
    """Run the test of a stored run, saving each step as it completes."""
    run = ConnectionTestRun.objects.get(pk=run_id)
    saved: list[Step] = []

    def record(step: Step) -> None:
        if step not in saved:
            saved.append(step)
        run.steps = [s.as_dict() for s in saved]
        ConnectionTestRun.objects.filter(pk=run.pk).update(steps=run.steps)
        if on_step is not None:
            on_step(step)

    test = _Run(run.email, record)
    try:
        outcome = test.run()
    except Exception as exc:  # a bug must not leave the page "running" for ever
        test.add(_next_key(test), FAIL, f"The test stopped on an unexpected error "
                 f"({type(exc).__name__}).", "Report this if it repeats.")
        outcome = Outcome.FAILED
        test.skip_rest()
        raise
    finally:
        run.outcome = test.outcome() if test.steps else Outcome.FAILED
        run.finished_at = timezone.now()
        ConnectionTestRun.objects.filter(pk=run.pk).update(
            outcome=run.outcome, finished_at=run.finished_at)
    _record_facts(run.email, test.steps, run.finished_at, test.answered)
    if outcome == Outcome.SUCCESSFUL or outcome == Outcome.WARNINGS:
        _resume_paused(run.email)
    return run


# A failed step and what it says about the rep's mailbox (the status page's rows).
_FAILURES = {
    "auth": ConnectionResult.Failure.AUTHENTICATION,
    "version": ConnectionResult.Failure.VERSION,
    "mailbox": ConnectionResult.Failure.MAILBOX,
    "impersonation": ConnectionResult.Failure.ACCESS,
    # OAuth 2.0: the app registration's token, its consent and its scope.
    "token": ConnectionResult.Failure.AUTHENTICATION,
    "consent": ConnectionResult.Failure.ACCESS,
    "scope": ConnectionResult.Failure.ACCESS,
}
# The step that says the rep's mailbox opened as the rep (EWS) or to the app (Graph).
_REACHED = ("impersonation", "scope")


def _record_facts(email: str, steps: list[Step], at: Any, answered: bool) -> None:
    """What the test found about the rep's mailbox, as the user's last connection result
    (Lightning Sync Status reads it): the version, the folders, or the step that failed."""
    user = User.objects.filter(email__iexact=email).order_by("pk").first()
    done = {s.key: s for s in steps if s.status != SKIPPED}
    if user is None or not answered:  # Exchange was not reached: nothing learnt
        return
    failed = next((s for s in steps if s.status == FAIL and s.key in _FAILURES), None)
    contacts, calendar = done.get("contacts"), done.get("calendar")
    reached = next((done[k] for k in _REACHED if k in done), None)
    opened = failed is None and reached is not None and reached.status == PASS
    version, supported = _version_seen(done, opened)
    record_connection(
        user.pk, source="connection test",
        # The rep's mailbox opened through the service account (or the app): recognised.
        ok=opened,
        failure=_FAILURES[failed.key] if failed else "",
        message=failed.detail if failed else "",
        server_version=version, version_supported=supported,
        # "Salesforce_Sync is missing: it will be created" is no failure to find it.
        contacts_folder_found=(None if contacts is None or contacts.status == WARNING
                               else contacts.status == PASS),
        calendar_folder_found=None if calendar is None else calendar.status == PASS,
        at=at,
    )


def _version_seen(done: dict[str, Step], opened: bool) -> tuple[str | None, bool | None]:
    """(server version, supported) as the test saw them: EWS's version step; under Graph a
    mailbox that opened is on Exchange Online."""
    version = done.get("version")
    if version is not None:
        return version.detail.split(" (build")[0], version.status == PASS
    if "scope" in done and opened:
        return "Exchange Online", True
    return None, None


def _next_key(test: _Run) -> str:
    done = {s.key for s in test.steps}
    return next((key for key in test.keys if key not in done), test.keys[-1])


def _resume_paused(email: str) -> None:
    """A successful test resumes a rep paused for credentials or access (SPEC §9)."""
    UserSyncState.objects.filter(
        user__email__iexact=email,
        paused_reason__in=(UserSyncState.PauseReason.AUTHENTICATION,
                           UserSyncState.PauseReason.CONFIGURATION),
    ).update(paused_reason="", paused_message="", paused_at=None)


def latest(email: str) -> ConnectionTestRun | None:
    """The last test run for this rep (what the status page may show)."""
    return ConnectionTestRun.objects.filter(email__iexact=email.strip()).first()


KEEP_RUNS = dt.timedelta(days=30)


def prune(keep: dt.timedelta = KEEP_RUNS) -> int:
    """Forget runs older than `keep` (each new run from the page prunes)."""
    deleted, _ = ConnectionTestRun.objects.filter(started_at__lt=timezone.now() - keep).delete()
    return deleted
