"""Lightning Sync statuses (SPEC §7): every row of the seed's Tables 1 to 6, computed here
and nowhere else.

Each row carries the seed's label and value, and what the value means and what to do next,
in this product's words. Under OAuth 2.0 the rows about the service account speak of the
app registration. Inputs are stored state only, never an Exchange call:

- the org's figures (last sync activity, records synced, users whose addresses are linked,
  whether the service account is recognised) come from `OrgStatusSnapshot`, which the
  status task (`refresh_org_snapshot`, every minute) computes, so the page costs the same
  few queries at any org size;
- a user's rows come from the user's sync state, folder cursors, links, sync activity
  (`SyncActivity`) and last connection result (`ConnectionResult`), in a fixed number of
  queries.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from django.db.models import Max, Q, Sum
from django.db.models.functions import TruncHour
from django.utils import timezone

from lightningsync import domains
from lightningsync.effective import effective_configuration, syncing_users
from lightningsync.models import (
    ConnectionResult,
    ContactLink,
    EventLink,
    FolderCursor,
    LightningSyncSetup,
    OrgStatusSnapshot,
    SyncActivity,
    SyncConfiguration,
    User,
    UserSyncState,
)

YES, NO, CHECK, CROSS = "Yes", "No", "✓", "✗"
NOT_CHECKED = "Not checked yet"
NEVER = "Never"

# The states of one object's sync in one direction (Tables 5 and 6).
NOT_STARTED = "Not started"
INITIAL_IN_PROGRESS = "Initial sync in progress"
INITIAL_COMPLETED = "Initial sync completed"
IN_PROGRESS = "Sync in progress"
IN_SYNC = "In sync"
NOT_SET = "Exchange configuration not set to sync"

# "Last sync activity": how recent is recent.
FEW_MINUTES = dt.timedelta(minutes=15)
PAST_DATE = dt.timedelta(hours=24)
# The status task keeps this much activity (the chart's 24 hours and a margin); the rows of
# an initial sync stay longer, since they tell "Initial sync completed" from "In sync".
KEEP_ACTIVITY = dt.timedelta(hours=25)
KEEP_INITIAL_ACTIVITY = dt.timedelta(days=90)
CHART_HOURS = 24
OUTSIDE_SHOWN = 20

Failure = ConnectionResult.Failure
Activity = SyncActivity
CONTACT, EVENT = SyncActivity.Object.CONTACT.value, SyncActivity.Object.EVENT.value
TO_EXCHANGE = SyncActivity.Direction.CRM_TO_EXCHANGE.value
TO_CRM = SyncActivity.Direction.EXCHANGE_TO_CRM.value
OAUTH = LightningSyncSetup.ConnectionMethod.OAUTH2


@dataclass(frozen=True)
class Status:
    """One row: the seed's label and value, the case of the seed's table it falls in, what
    it means and what to do next. `ok` is True (fine), False (needs attention) or None."""

    key: str
    label: str
    value: str
    meaning: str
    next_step: str = ""
    ok: bool | None = None
    case: str = ""

    @property
    def mark(self) -> str:
        return {True: "ok", False: "problem"}.get(self.ok, "info")  # type: ignore[arg-type]


@dataclass(frozen=True)
class Table:
    key: str
    title: str
    rows: tuple[Status, ...]


# --- the org's figures: computed by the status task into the snapshot ----------------------


@dataclass
class ObjectFigures:
    last_activity: str | None = None  # ISO time of the last completed cycle that synced it
    last_hour: int = 0
    last_day: int = 0
    hourly: list[int] = field(default_factory=lambda: [0] * CHART_HOURS)  # oldest first


@dataclass
class OrgFigures:
    computed_at: str
    chart_start: str = ""  # the first hour of the chart (ISO)
    syncing_users: int = 0
    expected_linked: int = 0  # the syncing users inside the recognised domains
    linked_users: int = 0
    recognized: bool | None = None  # the service account (or app registration), last seen
    recognized_message: str = ""
    # Syncing reps whose email domain the service account does not serve: (email, reason),
    # the first OUTSIDE_SHOWN of them, and how many in all.
    outside_domains: list[list[str]] = field(default_factory=list)
    outside_count: int = 0
    contact: ObjectFigures = field(default_factory=ObjectFigures)
    event: ObjectFigures = field(default_factory=ObjectFigures)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OrgFigures:
        """The figures of a snapshot (values a newer or older version stored are ignored)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for obj in ("contact", "event"):
            stored = values.get(obj) or {}
            values[obj] = ObjectFigures(**{k: v for k, v in stored.items()
                                           if k in {f.name for f in fields(ObjectFigures)}})
        values.setdefault("computed_at", "")
        # A snapshot stored before the outside users were set apart: its best guess.
        values.setdefault("expected_linked", values.get("syncing_users", 0))
        return cls(**values)


def compute_org_figures(now: dt.datetime | None = None) -> OrgFigures:
    """The org's figures from stored state (the status task's work: it reads every syncing
    user once)."""
    now = now or timezone.now()
    figures = OrgFigures(computed_at=now.isoformat(), chart_start=(
        now.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
        - dt.timedelta(hours=CHART_HOURS - 1)).isoformat())
    syncing = set(syncing_users())
    figures.syncing_users = len(syncing)
    outside = domains.recognised_domains_status()
    figures.outside_count = len(outside.outside)
    figures.outside_domains = [[email, reason] for _, email, reason in
                               outside.outside[:OUTSIDE_SHOWN]]
    # A user outside the recognised domains is never synced (its own row says so): the
    # linked count is not expected to include them.
    syncing.difference_update(user_id for user_id, _, _ in outside.outside)
    figures.expected_linked = len(syncing)
    ok_users = ConnectionResult.objects.filter(ok=True).values_list("user_id", flat=True)
    figures.linked_users = len(syncing.intersection(ok_users.iterator()))
    # Credentials are the org's: the latest result that says something about them decides.
    latest = (ConnectionResult.objects.filter(Q(ok=True) | Q(failure=Failure.AUTHENTICATION))
              .order_by("-checked_at").first())
    if latest is not None:
        figures.recognized = latest.ok
        figures.recognized_message = "" if latest.ok else latest.message
    # A quiet cycle syncs too (it found nothing to write): the last completed cycle of a user
    # whose initial sync of the object is done, for both objects alike.
    last = UserSyncState.objects.aggregate(
        contact=Max("last_success_at", filter=Q(contacts_initial_sync_done=True)),
        event=Max("last_success_at", filter=Q(events_initial_sync_done=True)),
    )
    day_ago = now - dt.timedelta(hours=CHART_HOURS)
    hour_ago = now - dt.timedelta(hours=1)
    recent = SyncActivity.objects.filter(finished_at__gte=day_ago).values("object").annotate(
        day=Sum("records"), hour=Sum("records", filter=Q(finished_at__gte=hour_ago)))
    for row in recent:
        target = figures.contact if row["object"] == CONTACT else figures.event
        target.last_day, target.last_hour = row["day"] or 0, row["hour"] or 0
    # The chart: one bar per clock hour, the current hour last.
    first_hour = now.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0) - (
        dt.timedelta(hours=CHART_HOURS - 1))
    hourly = (
        SyncActivity.objects.filter(finished_at__gte=first_hour)
        .annotate(hour=TruncHour("finished_at", tzinfo=dt.UTC))
        .values("object", "hour").annotate(records=Sum("records"))
    )
    for bar in hourly:
        target = figures.contact if bar["object"] == CONTACT else figures.event
        index = int((bar["hour"] - first_hour).total_seconds() // 3600)
        if 0 <= index < CHART_HOURS:
            target.hourly[index] += bar["records"] or 0
    if last["contact"] is not None:
        figures.contact.last_activity = last["contact"].isoformat()
    if last["event"] is not None:
        figures.event.last_activity = last["event"].isoformat()
    return figures


def refresh_org_snapshot(now: dt.datetime | None = None) -> OrgStatusSnapshot:
    """Compute the org's figures into the snapshot row (the status task)."""
    now = now or timezone.now()
    figures = compute_org_figures(now)
    snapshot, _ = OrgStatusSnapshot.objects.update_or_create(
        id=OrgStatusSnapshot.SINGLETON_ID,
        defaults={"computed_at": now, "figures": asdict(figures)},
    )
    return snapshot


def prune_activity(now: dt.datetime | None = None) -> int:
    """Forget activity the page no longer shows; the number of rows deleted."""
    now = now or timezone.now()
    deleted, _ = SyncActivity.objects.filter(
        Q(initial=False, finished_at__lt=now - KEEP_ACTIVITY)
        | Q(finished_at__lt=now - KEEP_INITIAL_ACTIVITY)
    ).delete()
    return deleted


def org_figures() -> OrgFigures:
    """The snapshot's figures (computed now if the status task has not run yet)."""
    snapshot = OrgStatusSnapshot.objects.filter(id=OrgStatusSnapshot.SINGLETON_ID).first()
    if snapshot is None:
        snapshot = refresh_org_snapshot()
    return OrgFigures.from_json(snapshot.figures)


# --- Table 1 to 3: the org ------------------------------------------------------------------


def _account_words(setup: LightningSyncSetup) -> str:
    return "app registration" if setup.connection_method == OAUTH else "service account"


def org_tables(setup: LightningSyncSetup | None = None, figures: OrgFigures | None = None,
               now: dt.datetime | None = None) -> list[Table]:
    """Tables 1 to 3 (system statuses): two queries (Setup and the snapshot)."""
    setup = setup or LightningSyncSetup.load()
    figures = figures or org_figures()
    now = now or timezone.now()
    return [
        Table("system-setup", "Configuration Setup Statuses", (
            _account_provided(setup), _lightning_for_outlook(setup),
            _account_recognized(setup, figures), _linked_users(figures),
            *_outside_domains(setup, figures),
        )),
        Table("system-contacts", "Contacts Statuses", _object_rows(CONTACT, figures.contact, now)),
        Table("system-events", "Events Statuses", _object_rows(EVENT, figures.event, now)),
    ]


def _account_provided(setup: LightningSyncSetup) -> Status:
    words = _account_words(setup)
    label = f"Microsoft Exchange {words} provided:"
    if setup.connection_method == OAUTH:
        name = setup.oauth_client_id if setup.has_oauth_credential else ""
    else:
        name = setup.service_account_username if setup.has_service_account_password else ""
    if name:
        return Status(
            "account_provided", label, name,
            f"Lightning Sync has the {words}'s credentials; this does not prove yet that "
            "Exchange accepts them for every rep.",
            "If reps still fail to sync, run the connection test for one of them.",
            ok=True, case=f"Your {words} name")
    what = ("tenant, application (client) ID and a client secret or certificate"
            if setup.connection_method == OAUTH else "user name and password")
    return Status(
        "account_provided", label, "None",
        f"No {words} is saved: nothing can sync.",
        f"Enter the {words}'s {what} in Lightning Sync Setup.", ok=False, case="None")


def _lightning_for_outlook(setup: LightningSyncSetup) -> Status:
    label = "Lightning for Outlook enabled:"
    if setup.event_selection_enabled:
        return Status(
            "lightning_for_outlook", label, YES,
            "Event selection is on: reps choose the Exchange events to sync by giving them "
            f"the Outlook category “{setup.event_category}”.",
            "Tell reps whose configuration syncs only selected events which category to use.",
            ok=True, case=YES)
    return Status(
        "lightning_for_outlook", label, NO,
        "Event selection is off: reps in a configuration that syncs only the events they "
        "select have no way to select any.",
        "Turn on event selection in Lightning Sync Setup if a configuration syncs only "
        "selected events.", ok=None, case=NO)


def _account_recognized(setup: LightningSyncSetup, figures: OrgFigures) -> Status:
    words = _account_words(setup)
    label = f"Salesforce recognizes Microsoft Exchange {words}:"
    recognized = figures.recognized
    if recognized is None and setup.connection_method == OAUTH and setup.oauth_token_acquired_at:
        recognized = True  # Microsoft issued the app registration a token
    if recognized is True:
        return Status(
            "account_recognized", label, CHECK,
            f"Exchange accepted the {words}'s credentials the last time Lightning Sync "
            "connected. A rep may still be out of its reach (impersonation or application "
            "access).",
            "For a rep who does not sync, check the rep's statuses below.", ok=True, case=CHECK)
    if recognized is False:
        said = f" Exchange said: {figures.recognized_message}" if figures.recognized_message \
            else ""
        return Status(
            "account_recognized", label, CROSS,
            f"Exchange refused the {words}'s credentials the last time Lightning Sync "
            f"connected.{said}",
            f"Correct the {words}'s credentials in Lightning Sync Setup; saving Setup resumes "
            "the sync.", ok=False, case=CROSS)
    return Status(
        "account_recognized", label, NOT_CHECKED,
        "Lightning Sync has not connected to Exchange since it was set up.",
        "Turn sync on and assign users to an active configuration, or run the connection "
        "test.", case=NOT_CHECKED)


def _linked_users(figures: OrgFigures) -> Status:
    label = "Users with linked Microsoft Exchange and Salesforce email addresses:"
    n, expected = figures.linked_users, figures.expected_linked
    k = figures.outside_count
    outside = (f" ({k} more, outside the recognised domains, {'is' if k == 1 else 'are'} "
               "not synced: see below)") if k else ""
    if n == 0:
        return Status(
            "linked_users", label, "0",
            "No syncing user's email address has been found as an Exchange mailbox yet.",
            "If users are assigned and sync is on, wait for the next cycle; if it stays 0, "
            "run the connection test for one of them.", ok=False if expected else None,
            case="0")
    if n == expected:
        return Status(
            "linked_users", label, str(n),
            f"Every one of the {expected} syncing users has an Exchange mailbox at their "
            f"email address{outside}.", ok=True, case="The expected number of Lightning Sync users")
    return Status(
        "linked_users", label, str(n),
        f"{n} of the {expected} syncing users have been found in Exchange by their email "
        f"address; the others have not (yet){outside}.",
        "Check the statuses of the users who do not sync: their email address must be the "
        "address of their Exchange mailbox.", ok=False,
        case="An unexpected number of Lightning Sync users")


def _outside_domains(setup: LightningSyncSetup, figures: OrgFigures) -> tuple[Status, ...]:
    """Beyond the seed: the syncing reps the service account's domains leave out (SPEC §2)."""
    if not domains.applies(setup):
        return ()
    served = ", ".join(domains.recognised_domains(setup))
    label = "Users outside the recognised domains:"
    if not figures.outside_count:
        return (Status("outside_domains", label, "0",
                       f"Every syncing user's email domain is served by the service account "
                       f"({served}).", ok=True, case="0"),)
    names = ", ".join(email for email, _ in figures.outside_domains)
    more = figures.outside_count - len(figures.outside_domains)
    more_said = f" and {more} more" if more > 0 else ""
    return (Status("outside_domains", label, str(figures.outside_count),
                   f"Not synced, their email domain is not served ({served}): "
                   f"{names}{more_said}.",
                   "Add their domains to Additional domains in Lightning Sync Setup if "
                   "Exchange hosts their mailboxes.", ok=False,
                   case="The number of users outside the recognised domains"),)


_OBJECT_WORDS = {CONTACT: ("contact", "contacts"), EVENT: ("event", "events")}
# Where a sync writes each object: events go one way (SPEC §5), so "either way" would mislead.
_WRITTEN_WHERE = {CONTACT: ("in the CRM or in Exchange", "either way"),
                  EVENT: ("in the CRM", "to the CRM")}


def _object_rows(obj: str, figures: ObjectFigures, now: dt.datetime) -> tuple[Status, ...]:
    one, many = _OBJECT_WORDS[obj]
    where, way = _WRITTEN_WHERE[obj]
    rows = [_last_activity(obj, figures, now)]
    for key, label, n, span in (
        ("last_hour", "Records synced in last 60 minutes:", figures.last_hour, "60 minutes"),
        ("last_day", "Records synced in last 24 hours:", figures.last_day, "24 hours"),
    ):
        if n:
            rows.append(Status(
                f"{obj}_{key}", label, str(n),
                f"Lightning Sync wrote {n} {one if n == 1 else many} ({where}) in the "
                f"last {span}.", ok=True,
                case=f"The number of {many} that were synced in the last {span}"))
        else:
            rows.append(Status(
                f"{obj}_{key}", label, "0",
                f"No {one} was written {way} in the last {span}. That is normal when "
                "nothing changed.",
                "If reps report changes that do not sync, check the error report and run the "
                "connection test.", case="0"))
    return tuple(rows)


def _last_activity(obj: str, figures: ObjectFigures, now: dt.datetime) -> Status:
    one, many = _OBJECT_WORDS[obj]
    a_time = f"{'An' if one[0] in 'aeiou' else 'A'} {one} sync time"
    label = "Last sync activity:"
    if figures.last_activity is None:
        return Status(
            f"{obj}_last_activity", label, NEVER,
            f"No user's {many} have synced yet.",
            f"Turn sync on and assign users to a configuration that syncs {many}.",
            case=NEVER)
    at = dt.datetime.fromisoformat(figures.last_activity)
    value = f"{at.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC"
    age = now - at
    if age <= FEW_MINUTES:
        return Status(
            f"{obj}_last_activity", label, value,
            f"{many.capitalize()} synced a few minutes ago: Lightning Sync is working.",
            "If one user's records do not sync, check that user's statuses below.", ok=True,
            case=f"{a_time} within the last few minutes")
    if age < PAST_DATE:
        return Status(
            f"{obj}_last_activity", label, value,
            f"{many.capitalize()} last synced a few hours ago. An initial sync of many "
            "records can take hours; otherwise sync may have stopped.",
            "Watch this time over the next hours; if it does not move, check the error "
            "report and run the connection test.", ok=None,
            case=f"{a_time} within a few hours")
    return Status(
        f"{obj}_last_activity", label, value,
        f"No {one} has synced for more than a day.",
        "Check the credentials in Lightning Sync Setup, the error report, and run the "
        "connection test.", ok=False, case=f"{a_time} on a past date")


# --- Table 4 to 6: one user -----------------------------------------------------------------


@dataclass
class UserFacts:
    """Everything a user's rows are computed from, read in a fixed number of queries."""

    user: User
    setup: LightningSyncSetup
    config: SyncConfiguration | None
    state: UserSyncState | None
    result: ConnectionResult | None
    cursors: set[str]
    contacts_in_sync: int
    events_in_sync: int
    # {(object, direction): (last activity, last initial activity)}
    activity: dict[tuple[str, str], tuple[dt.datetime | None, dt.datetime | None]]
    now: dt.datetime


def user_facts(user: User, setup: LightningSyncSetup | None = None,
               now: dt.datetime | None = None) -> UserFacts:
    setup = setup or LightningSyncSetup.load()
    activity = {
        (row["object"], row["direction"]): (row["last"], row["last_initial"])
        for row in SyncActivity.objects.filter(user=user).values("object", "direction")
        .annotate(last=Max("finished_at"), last_initial=Max("finished_at", filter=Q(initial=True)))
    }
    return UserFacts(
        user=user, setup=setup, config=effective_configuration(user),
        state=UserSyncState.objects.filter(user=user).first(),
        result=ConnectionResult.objects.filter(user=user).first(),
        cursors=set(FolderCursor.objects.filter(user=user).values_list("kind", flat=True)),
        contacts_in_sync=ContactLink.objects.filter(
            user=user, state=ContactLink.State.ACTIVE, contact__isnull=False,
            exchange_id__isnull=False).count(),
        events_in_sync=_events_in_sync(user),
        activity=activity, now=now or timezone.now(),
    )


def _events_in_sync(user: User) -> int:
    """CRM events linked to an item of the user's calendar."""
    return EventLink.objects.filter(user=user, state=EventLink.State.ACTIVE,
                                    event__isnull=False).count()


def user_tables(user: User, setup: LightningSyncSetup | None = None,
                now: dt.datetime | None = None) -> list[Table]:
    """Tables 4 to 6 (the user's statuses)."""
    facts = user_facts(user, setup, now)
    setup_rows = [_assigned(facts), _version(facts), _recognized(facts)]
    reset = _reset(facts)
    if reset is not None:
        setup_rows.append(reset)
    held = _held(facts)
    if held is not None:
        setup_rows.append(held)
    setup_rows.append(_outlook(facts))
    return [
        Table("user-setup", "Configuration Setup Statuses", tuple(setup_rows)),
        Table("user-contacts", "Contacts Statuses", (
            _contacts_folder(facts), _addresses_linked(facts, CONTACT),
            _direction(facts, CONTACT, TO_EXCHANGE), _direction(facts, CONTACT, TO_CRM),
            _in_sync(facts, CONTACT),
        )),
        Table("user-events", "Event Statuses", (
            _calendar_folder(facts), _addresses_linked(facts, EVENT),
            _direction(facts, EVENT, TO_EXCHANGE), _direction(facts, EVENT, TO_CRM),
            _in_sync(facts, EVENT),
        )),
    ]


def _assigned(f: UserFacts) -> Status:
    label = "User assigned to active Exchange configuration:"
    if f.config is not None:
        return Status("assigned", label, CHECK,
                      f"The user syncs under the active configuration “{f.config.name}”.",
                      ok=True, case=CHECK)
    why = ("the user is inactive" if not f.user.is_active
           else "no active sync configuration names the user or the user's profile")
    return Status("assigned", label, CROSS, f"The user does not sync: {why}.",
                  "Add the user (or the user's profile) to an active sync configuration.",
                  ok=False, case=CROSS)


def _version(f: UserFacts) -> Status:
    label = "User mailbox is running on supported version of Microsoft Exchange:"
    supported = f.result.version_supported if f.result else None
    version = f" ({f.result.server_version})" if f.result and f.result.server_version else ""
    if supported is True:
        return Status("version", label, CHECK,
                      f"The mailbox's server{version} speaks Exchange 2013 SP1 or later.",
                      ok=True, case=CHECK)
    if supported is False:
        return Status("version", label, CROSS,
                      f"The mailbox's server{version} is older than Exchange 2013 SP1, which "
                      "Lightning Sync needs.",
                      "Move the mailbox to Exchange 2013 SP1 or later (or Exchange Online).",
                      ok=False, case=CROSS)
    return Status("version", label, NOT_CHECKED,
                  "Lightning Sync has not reached this mailbox yet.",
                  "Wait for the user's next sync, or run the connection test for the user.",
                  case=NOT_CHECKED)


def _recognized(f: UserFacts) -> Status:
    words = _account_words(f.setup)
    label = f"User recognized by Exchange {words}:"
    outside = domains.unrecognised_reason(f.setup, f.user.email) if f.user.email else ""
    if outside:
        return Status("recognized", label, CROSS,
                      f"The user is not synced: {outside.split('. Add ')[0]}.",
                      "Add the domain to Additional domains in Lightning Sync Setup if Exchange "
                      "hosts that mailbox.", ok=False, case=CROSS)
    r = f.result
    if r is not None and r.ok:
        return Status("recognized", label, CHECK,
                      f"The {words} reached this user's mailbox at the last connection "
                      f"({r.checked_at.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC).",
                      ok=True, case=CHECK)
    if r is not None and r.failure in (Failure.AUTHENTICATION, Failure.ACCESS, Failure.MAILBOX):
        fix = {
            Failure.AUTHENTICATION: f"Correct the {words}'s credentials in Lightning Sync Setup.",
            Failure.ACCESS: (
                "Give the app registration application access to this mailbox (RBAC for "
                "Applications)" if f.setup.connection_method == OAUTH else
                "Include the mailbox in the service account's impersonation management scope"
            ) + "; then choose Retry in the error report.",
            Failure.MAILBOX: "Check that the user's email address is the address of an "
                             "Exchange mailbox.",
        }[Failure(r.failure)]
        return Status("recognized", label, CROSS,
                      f"The {words} could not reach this user's mailbox: {r.message}", fix,
                      ok=False, case=CROSS)
    return Status("recognized", label, NOT_CHECKED,
                  "Lightning Sync has not reached this mailbox yet.",
                  "Wait for the user's next sync, or run the connection test for the user.",
                  case=NOT_CHECKED)


def _reset(f: UserFacts) -> Status | None:
    s = f.state
    if s is None or not s.reset_state:
        return None
    label = "User's reset sync status:"
    waiting = f" It waits for this: {s.reset_waiting_for}" if s.reset_waiting_for else ""
    if s.reset_state == UserSyncState.ResetState.MARKED:
        return Status("reset", label, "Marked for reset",
                      "The reset is queued: it runs at the start of the user's next sync "
                      f"cycle.{waiting}",
                      "Nothing to do unless it waits for something named here." if not waiting
                      else "Fix what it waits for; the reset then completes by itself.",
                      case="Marked for reset")
    return Status("reset", label, "Reset in progress",
                  "The user's links and cursors were cleared and the initial sync is running "
                  f"again; this row goes away when it completes.{waiting}",
                  "Nothing to do: matching relinks records without duplicates.",
                  case="Reset in progress")


def _held(f: UserFacts) -> Status | None:
    """Beyond the seed: why the user's sync is on hold (SPEC §9, "the status page says
    which")."""
    s = f.state
    if s is None:
        return None
    label = "Sync on hold:"
    if s.paused_reason:
        return Status("held", label, s.get_paused_reason_display(), s.paused_message,
                      "Fix the cause; saving Setup or choosing Retry in the error report "
                      "resumes the sync.", ok=False)
    if s.contacts_paused_reason:
        return Status("held", label, s.get_contacts_paused_reason_display(),
                      f"Contact sync is paused: {s.contacts_paused_message}",
                      "Check the user's Salesforce_Sync folder, then choose Reset Sync.",
                      ok=False)
    if s.backoff_until and s.backoff_until > f.now:
        return Status("held", label, "Backing off",
                      f"Exchange could not be reached or asked to wait; the next try is after "
                      f"{s.backoff_until.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC. "
                      f"{s.last_error}".strip(),
                      "Nothing to do: sync resumes by itself.", ok=None)
    return None


def _outlook(f: UserFacts) -> Status:
    label = "User set up Lightning for Outlook:"
    selects = (f.config is not None and f.config.events_direction != "none"
               and f.config.event_scope == SyncConfiguration.EventScope.SELECTED)
    if f.setup.event_selection_enabled and selects:
        return Status("outlook", label, YES,
                      "The user selects the events to sync with the Outlook category "
                      f"“{f.setup.event_category}”.", ok=True, case=YES)
    why = ("event selection is off in Lightning Sync Setup"
           if not f.setup.event_selection_enabled
           else "the user's configuration does not sync selected events")
    return Status("outlook", label, NO, f"The user does not select events: {why}.",
                  "If the user should choose the events that sync, turn on event selection "
                  "and choose “Sync only events reps select” in the configuration.", case=NO)


def _contacts_folder(f: UserFacts) -> Status:
    label = "Salesforce_Sync folder found:"
    found = f.result.contacts_folder_found if f.result else None
    if found is None and CONTACT in f.cursors:
        found = True
    if found is True:
        return Status("contacts_folder", label, CHECK,
                      "The user's Salesforce_Sync folder is under Contacts.", ok=True,
                      case=CHECK)
    if found is False:
        return Status("contacts_folder", label, CROSS,
                      "Salesforce_Sync is missing and could not be created.",
                      "Create a Salesforce_Sync folder under the user's Contacts, or give the "
                      "service account the right to create it.", ok=False, case=CROSS)
    return Status("contacts_folder", label, NOT_CHECKED,
                  "Lightning Sync has not looked for Salesforce_Sync in this mailbox yet.",
                  "Wait for the user's next sync; it creates the folder when missing.",
                  case=NOT_CHECKED)


def _calendar_folder(f: UserFacts) -> Status:
    label = "Calendar folder found:"
    found = f.result.calendar_folder_found if f.result else None
    if found is None and "calendar" in f.cursors:
        found = True
    if found is True:
        return Status("calendar_folder", label, CHECK, "The user's Calendar was found.",
                      ok=True, case=CHECK)
    if found is False:
        return Status("calendar_folder", label, CROSS,
                      "Lightning Sync could not open the user's Calendar.",
                      "Check the user's access rights (impersonation or application access "
                      "to calendars).", ok=False, case=CROSS)
    return Status("calendar_folder", label, NOT_CHECKED,
                  "Lightning Sync has not opened this user's Calendar yet.",
                  "Run the connection test for the user.", case=NOT_CHECKED)


def _addresses_linked(f: UserFacts, obj: str) -> Status:
    label = "Salesforce and Exchange email addresses linked:"
    r = f.result
    if r is not None and r.ok:
        return Status(f"{obj}_linked", label, CHECK,
                      f"The user's email address {f.user.email} is the address of their "
                      "Exchange mailbox.", ok=True, case=CHECK)
    if r is not None and r.failure == Failure.MAILBOX:
        return Status(f"{obj}_linked", label, CROSS,
                      f"Exchange has no mailbox at {f.user.email}: {r.message}",
                      "Correct the user's email address in Users (or the mailbox's address in "
                      "Exchange), then choose Reset Sync.", ok=False, case=CROSS)
    return Status(f"{obj}_linked", label, NOT_CHECKED,
                  "Lightning Sync has not reached this mailbox yet.",
                  "Wait for the user's next sync, or run the connection test for the user.",
                  case=NOT_CHECKED)


_DIRECTION_LABELS = {TO_EXCHANGE: "Salesforce to Exchange sync status:",
                     TO_CRM: "Exchange to Salesforce sync status:"}
_DIRECTION_WORDS = {TO_EXCHANGE: "from the CRM to Exchange", TO_CRM: "from Exchange to the CRM"}


def direction_state(f: UserFacts, obj: str, direction: str) -> str:
    """Where the user's sync of `obj` stands in `direction`: one of the seed's six values."""
    config = f.config
    if config is None:
        return NOT_SET
    way = config.contacts_direction if obj == CONTACT else config.events_direction
    if way not in ("both", direction):
        return NOT_SET
    state = f.state
    _last, last_initial = f.activity.get((obj, direction), (None, None))
    done = bool(state and (state.contacts_initial_sync_done if obj == CONTACT
                           else state.events_initial_sync_done))
    running = bool(state and state.claimed_until and state.claimed_until > f.now)
    if not done:
        kind = (FolderCursor.FolderKind.CONTACTS if obj == CONTACT
                else FolderCursor.FolderKind.CALENDAR)
        if running or kind in f.cursors:  # a listing begun (and cut short) leaves its cursor
            return INITIAL_IN_PROGRESS
        return NOT_STARTED
    if running:
        return IN_PROGRESS
    if (last_initial is not None and state is not None and state.last_success_at is not None
            and last_initial >= state.last_success_at):
        return INITIAL_COMPLETED
    return IN_SYNC


def _direction(f: UserFacts, obj: str, direction: str) -> Status:
    _one, many = _OBJECT_WORDS[obj]
    value = direction_state(f, obj, direction)
    way = _DIRECTION_WORDS[direction]
    meaning, step, ok = {
        NOT_SET: (f"The user's configuration does not sync {many} {way}.",
                  "Change the user's sync configuration if it should.", None),
        NOT_STARTED: (f"The user's {many} have not started syncing {way}.",
                      "The first cycle starts within the sync interval once the user can "
                      "sync; check the rows above if it does not.", None),
        INITIAL_IN_PROGRESS: (f"The user's {many} are syncing {way} for the first time; with "
                              "many records this can take hours.", "", None),
        INITIAL_COMPLETED: (f"The user's first sync of {many} {way} completed.", "", True),
        IN_PROGRESS: (f"A sync cycle of the user's {many} {way} is running now.", "", True),
        IN_SYNC: (f"The user's {many} are up to date {way} as of the last cycle.", "", True),
    }[value]
    return Status(f"{obj}_{direction}", _DIRECTION_LABELS[direction], value, meaning, step,
                  ok=ok, case=value)


def _in_sync(f: UserFacts, obj: str) -> Status:
    _one, many = _OBJECT_WORDS[obj]
    n = f.contacts_in_sync if obj == CONTACT else f.events_in_sync
    where = "Salesforce_Sync folder" if obj == CONTACT else "calendar"
    return Status(f"{obj}_in_sync", "Records in sync", str(n),
                  f"{n} of the user's {many} are linked between the CRM and the user's "
                  f"{where}.",
                  "If the user expects a different number, check the error report for the "
                  "user and the configuration's filters.", case=f"The number of {many} "
                  "that are syncing for this user")


# --- for the command and tests --------------------------------------------------------------


def as_json(tables: list[Table]) -> list[dict[str, Any]]:
    return [
        {"key": t.key, "title": t.title,
         "rows": [{"key": r.key, "label": r.label, "value": r.value, "case": r.case,
                   "meaning": r.meaning, "next_step": r.next_step} for r in t.rows]}
        for t in tables
    ]


def values(tables: list[Table]) -> dict[str, str]:
    """{row key: value} of the tables."""
    return {r.key: r.value for t in tables for r in t.rows}
