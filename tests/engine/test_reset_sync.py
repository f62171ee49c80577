"""Reset Sync through exchangesim (SPEC §10): what the rep decided survives it, and a reset
asked for while the user cannot sync waits, says what for, and completes once the user can."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from lightningsync.models import Contact, ContactLink, LightningSyncSetup, UserSyncState
from syncengine.cycle.reset import mark_for_reset

from .conftest import OnceAt
from .ews_fixtures import BOTH_TRANSPORTS, DELETED, EwsWorld, crm_contact, crm_state, ews_fixture  # noqa: F401


def _reset(ews: EwsWorld) -> tuple[str, str]:
    state = ews.state()
    return state.reset_state, state.reset_waiting_for


@BOTH_TRANSPORTS
def test_a_contact_the_rep_removed_is_not_pushed_back_after_a_reset(ews) -> None:  # type: ignore[no-untyped-def]
    kept = crm_contact(ews.rep, last_name="Kept", email="kept@x.test")
    removed = crm_contact(ews.rep, last_name="Removed", email="removed@x.test")
    assert ews.sync().outcome == "synced"
    (item,) = [i for i in ews.items() if i["Surname"] == "Removed"]
    ews.outlook.delete(item["id"])  # the rep does not want it in Outlook
    ews.sync()
    assert ContactLink.objects.get(contact=removed).state == ContactLink.State.DETACHED
    mark_for_reset(ews.rep)
    ews.sim.reset_counters()
    assert ews.sync().outcome == "synced"
    assert [i["Surname"] for i in ews.items()] == ["Kept"]
    assert "CreateItem" not in ews.writes()
    links = {lk.contact_id: lk.state for lk in ews.links()}
    assert links == {kept.pk: "active", removed.pk: "detached"}
    assert crm_state() == [
        {"owner": "rep", "account": None, "last_name": "Kept", "email": "kept@x.test"},
        {"owner": "rep", "account": None, "last_name": "Removed", "email": "removed@x.test"},
    ]
    assert _reset(ews) == ("", "")
    # The rep may still take it back into Salesforce_Sync: it is matched, not duplicated.
    ews.outlook.create({"Surname": "Removed", "EmailAddress1": "removed@x.test"})
    ews.sync()
    assert ContactLink.objects.get(contact=removed).state == ContactLink.State.ACTIVE
    assert Contact.objects.count() == 2


def _crash_at(step: str) -> OnceAt:
    class Crash(BaseException):
        pass

    def crash() -> None:
        raise Crash(step)

    return OnceAt(step, crash)


@BOTH_TRANSPORTS
def test_a_contact_deleted_in_the_crm_is_not_reimported_after_a_reset(ews) -> None:  # type: ignore[no-untyped-def]
    """Even for an item that never got its stamps (the worker died right after linking it):
    the link that records the CRM delete survives the reset."""
    ews.sim.create_folder("rep@example.com", "Salesforce_Sync", parent="contacts")
    ews.outlook.create({"Surname": "Doomed", "EmailAddress1": "doomed@x.test"})
    with pytest.raises(BaseException, match="page_committed"):
        ews.sync(checkpoint=_crash_at("page_committed"))  # imported, linked, not yet stamped
    (doomed,) = Contact.objects.all()
    doomed.delete()  # deleted in the CRM ...
    mark_for_reset(ews.rep)  # ... and the user reset before the next cycle
    assert ews.sync().outcome == "synced"
    assert Contact.objects.count() == 0
    assert ews.exchange() == []
    assert [i["Surname"] for i in ews.items(DELETED)] == ["Doomed"]
    assert _reset(ews) == ("", "")


def _lightning_sync_off(ews: EwsWorld) -> tuple[Any, str]:
    ews.setup.enabled = False
    ews.setup.save()

    def undo() -> None:
        ews.setup.enabled = True
        ews.setup.save()

    return undo, "Cannot sync: Lightning Sync is not enabled in Setup."


def _no_configuration(ews: EwsWorld) -> tuple[Any, str]:
    ews.configure(active=False)
    return (lambda: ews.configure(active=True)), (
        "Cannot sync: The user is in no active sync configuration.")


def _paused(ews: EwsWorld) -> tuple[Any, str]:
    ews.fault("refused", count=20)
    assert ews.sync().outcome == "paused"

    def fixed() -> None:  # the admin corrects the password: Setup is saved
        ews.sim.clear_faults()
        LightningSyncSetup.objects.filter(pk=ews.setup.pk).update(
            updated_at=timezone.now() + dt.timedelta(seconds=1))

    return fixed, ("Paused: The mailbox rep@example.com is outside the app's scope"
                   if ews.transport == "graph" else "Paused: UnauthorizedError")


@BOTH_TRANSPORTS
@pytest.mark.parametrize("cannot_sync", [_lightning_sync_off, _no_configuration, _paused])
def test_a_reset_waits_until_the_user_can_sync_and_says_what_for(ews, cannot_sync) -> None:  # type: ignore[no-untyped-def]
    crm_contact(ews.rep, last_name="Synced", email="synced@x.test")
    assert ews.sync().outcome == "synced"
    before = (crm_state(), ews.exchange())
    undo, waiting_for = cannot_sync(ews)
    mark_for_reset(ews.rep)
    links = list(ContactLink.objects.values_list("pk", flat=True))
    for _ in range(2):
        report = ews.sync()
        assert report.outcome in ("skipped", "paused")
        state, why = _reset(ews)
        assert state == UserSyncState.ResetState.MARKED and why.startswith(waiting_for), why
    assert list(ContactLink.objects.values_list("pk", flat=True)) == links  # not performed
    undo()
    assert ews.sync().outcome == "synced"
    assert _reset(ews) == ("", "")
    assert ContactLink.objects.get().pk not in links  # performed: relinked by matching
    assert (crm_state(), ews.exchange()) == before


@BOTH_TRANSPORTS
def test_a_reset_marked_again_during_its_cycle_runs_again(ews) -> None:  # type: ignore[no-untyped-def]
    crm_contact(ews.rep, last_name="Synced")
    ews.sync()
    mark_for_reset(ews.rep)
    again = OnceAt("page_committed", lambda: mark_for_reset(ews.rep))
    assert ews.sync(checkpoint=again).outcome == "synced" and again.done
    assert _reset(ews)[0] == UserSyncState.ResetState.MARKED
    assert ews.sync().outcome == "synced"
    assert _reset(ews) == ("", "")
