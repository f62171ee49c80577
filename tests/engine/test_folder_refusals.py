"""A folder of a mailbox that answers is refused during a sync (SPEC §9, §7): the user pauses
with an error naming that folder, and the statuses say which folder, not that the mailbox is
out of reach; once the folder is readable again, Retry resumes the sync."""

from __future__ import annotations

import pytest

from lightningsync import statuses
from lightningsync.models import Event, LightningSyncError, UserSyncState
from syncengine.cycle.retry import retry_errors
from tests.engine.event_fixtures import add_event, events_on
from tests.engine.ews_fixtures import BOTH_TRANSPORTS, MAILBOX, EwsWorld, ews_fixture  # noqa: F401

CHECK, CROSS = "✓", "✗"


def user_values(user) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {r.key: r.value for t in statuses.user_tables(user) for r in t.rows}


@BOTH_TRANSPORTS
@pytest.mark.parametrize("refusal", ["access_denied", "not_found"])
def test_a_refused_calendar_pauses_the_user_naming_the_calendar(ews: EwsWorld, refusal) -> None:  # type: ignore[no-untyped-def]
    events_on(ews)
    add_event(ews, "Kick-off")
    ews.sync()
    assert user_values(ews.rep)["calendar_folder"] == CHECK
    add_event(ews, "Review")
    ews.sim.refuse_folder(MAILBOX, "calendar", refusal)

    report = ews.sync()

    assert report.outcome == "paused"
    [row] = LightningSyncError.objects.filter(resolved=False)
    assert (row.kind, row.object, row.direction) == ("impersonation", "event", "exchange_to_crm")
    assert row.message.startswith(f"Exchange refused the Calendar folder of {MAILBOX}'s "
                                  "mailbox: ")
    code = {("ews", "access_denied"): "ErrorAccessDenied",
            ("ews", "not_found"): "ErrorFolderNotFound",
            ("graph", "access_denied"): "403 ErrorAccessDenied",
            ("graph", "not_found"): "404 ErrorItemNotFound"}[ews.transport, refusal]
    assert code in row.message
    assert "impersonate" not in row.message + row.suggestion
    if (ews.transport, refusal) == ("graph", "access_denied"):
        assert "Application Calendars.ReadWrite" in row.message  # the role the scope lacks
    assert "access to the user's Calendar folder" in row.suggestion
    values = user_values(ews.rep)
    assert values["calendar_folder"] == CROSS
    assert values["recognized"] == CHECK  # the mailbox itself answered
    assert values["contacts_folder"] == CHECK
    assert UserSyncState.objects.get(user=ews.rep).paused_reason == "configuration"
    assert sorted(Event.objects.values_list("subject", flat=True)) == ["Kick-off"]

    ews.sim.refuse_folder(MAILBOX, "calendar", None)
    assert ews.sync().outcome == "paused"  # paused until something changes
    retry_errors([row.pk])
    assert ews.sync().outcome == "synced"
    assert sorted(Event.objects.values_list("subject", flat=True)) == ["Kick-off", "Review"]
    assert user_values(ews.rep)["calendar_folder"] == CHECK
    assert not LightningSyncError.objects.filter(resolved=False).exists()


@BOTH_TRANSPORTS
def test_a_calendar_refused_before_the_first_event_sync(ews: EwsWorld) -> None:
    ews.sync()  # contacts only, so far
    events_on(ews)
    ews.sim.refuse_folder(MAILBOX, "calendar", "not_found")
    assert ews.sync().outcome == "paused"
    [row] = LightningSyncError.objects.filter(resolved=False)
    assert row.object == "event" and "refused the Calendar folder" in row.message
    values = user_values(ews.rep)
    assert (values["calendar_folder"], values["recognized"]) == (CROSS, CHECK)


def test_a_refused_contacts_folder_before_salesforce_sync_exists(ews: EwsWorld) -> None:
    ews.sim.refuse_folder(MAILBOX, "contacts", "access_denied")
    assert ews.sync().outcome == "paused"
    [row] = LightningSyncError.objects.filter(resolved=False)
    assert (row.object, row.direction) == ("contact", "both")
    assert "refused the Contacts folder of rep@example.com's mailbox: ErrorAccessDenied" in (
        row.message)
    values = user_values(ews.rep)
    assert (values["contacts_folder"], values["recognized"]) == (CROSS, CHECK)
    ews.sim.refuse_folder(MAILBOX, "contacts", None)
    retry_errors([row.pk])
    assert ews.sync().outcome == "synced"
    assert user_values(ews.rep)["contacts_folder"] == CHECK
