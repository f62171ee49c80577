"""The runner: claims, skips, and what each TransportError kind does (SPEC §9, §12)."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from lightningsync import outbound
from lightningsync.models import (
    Contact,
    ContactLink,
    LightningSyncError,
    LightningSyncSetup,
    UserSyncState,
)
from syncengine.cycle import claims
from syncengine.cycle.runner import MAX_ATTEMPTS, RETRIES_IN_CYCLE, sync_user
from syncengine.transports.protocol import ErrorKind, TransportError

from .conftest import crm_contact, crm_state, exchange_state


def _state(user) -> UserSyncState:  # type: ignore[no-untyped-def]
    return UserSyncState.objects.get(user=user)




def test_it_skips_while_lightning_sync_is_disabled(sync, org, mailbox) -> None:  # type: ignore[no-untyped-def]
    org.enabled = False
    org.save()
    report = sync()
    assert report.outcome == "skipped" and "not enabled" in report.reason
    assert not mailbox.calls


def test_it_skips_a_user_without_an_active_configuration(sync, config, mailbox) -> None:  # type: ignore[no-untyped-def]
    config.active = False
    config.save()
    assert sync().outcome == "skipped" and not mailbox.calls


def test_a_claimed_user_is_not_synced_twice(sync, rep, mailbox) -> None:  # type: ignore[no-untyped-def]
    held = claims.claim(rep.pk)
    assert held is not None
    assert sync().outcome == "busy" and not mailbox.calls
    assert claims.release(held[0], held[1])
    assert sync().outcome == "synced"


def test_an_expired_claim_is_taken_over(sync, rep) -> None:  # type: ignore[no-untyped-def]
    assert claims.claim(rep.pk) is not None  # a worker that died
    UserSyncState.objects.filter(user=rep).update(
        claimed_until=timezone.now() - dt.timedelta(seconds=1))
    assert sync().outcome == "synced"
    assert _state(rep).claim_token == ""


def test_throttling_persists_a_back_off_for_the_mailbox(sync, rep, mailbox) -> None:  # type: ignore[no-untyped-def]
    mailbox.fail_on("changes", TransportError(ErrorKind.THROTTLED, "busy",
                                              back_off_seconds=120))
    report = sync()
    assert report.outcome == "backing_off"
    until = _state(rep).backoff_until
    assert until is not None and until > timezone.now() + dt.timedelta(seconds=100)
    calls = sum(mailbox.calls.values())
    assert sync().outcome == "backing_off"
    assert sum(mailbox.calls.values()) == calls
    assert LightningSyncError.objects.get().kind == "throttled"


def test_a_transient_failure_is_retried_within_the_cycle(sync, rep, mailbox) -> None:  # type: ignore[no-untyped-def]
    crm_contact(rep, last_name="Eventually")
    mailbox.fail_on("changes", TransportError(ErrorKind.TRANSIENT, "timeout"), times=2)
    assert sync().outcome == "synced"
    assert _state(rep).attempts == 0 and len(exchange_state(mailbox)) == 1


def test_transient_failures_stop_after_ten_attempts_with_an_error_entry(sync, rep, mailbox) -> None:  # type: ignore[no-untyped-def]
    mailbox.fail_on("changes", TransportError(ErrorKind.TRANSIENT, "timeout"), times=1000)
    cycles = 0
    while not LightningSyncError.objects.filter(kind="connection").exists():
        cycles += 1
        assert cycles <= MAX_ATTEMPTS
        sync()
        UserSyncState.objects.filter(user=rep).update(backoff_until=None)
    assert mailbox.calls["changes"] == MAX_ATTEMPTS
    assert cycles == -(-MAX_ATTEMPTS // (RETRIES_IN_CYCLE + 1))
    assert _state(rep).attempts == 0
    mailbox.clear_faults()
    assert sync().outcome == "synced"
    assert LightningSyncError.objects.get(kind="connection").resolved


def test_an_authentication_failure_pauses_until_setup_changes(sync, rep, mailbox, org) -> None:  # type: ignore[no-untyped-def]
    mailbox.fail_on("changes", TransportError(ErrorKind.AUTHENTICATION, "401 Unauthorized"))
    assert sync().outcome == "paused"
    state = _state(rep)
    assert state.paused_reason == "authentication" and "401" in state.paused_message
    calls = sum(mailbox.calls.values())
    assert sync().outcome == "paused" and sum(mailbox.calls.values()) == calls
    LightningSyncSetup.objects.filter(pk=org.pk).update(
        updated_at=timezone.now() + dt.timedelta(seconds=1))
    assert sync().outcome == "synced"
    assert _state(rep).paused_reason == ""
    assert LightningSyncError.objects.get(kind="authentication").resolved


def test_an_invalid_cursor_resyncs_everything_without_duplicates(sync, rep, mailbox) -> None:  # type: ignore[no-untyped-def]
    for n in range(3):
        crm_contact(rep, last_name=f"Crm{n}")
    kept = mailbox.rep_create({"Surname": "Ex0"})
    gone = mailbox.rep_create({"Surname": "Ex1"})
    sync()
    mailbox.invalidate_cursors()
    mailbox.rep_update(kept, JobTitle="Edited")
    mailbox.rep_delete(gone)
    assert sync().outcome == "synced"
    assert Contact.objects.count() == 5
    assert Contact.objects.get(last_name="Ex0").title == "Edited"
    assert ContactLink.objects.filter(state="active").count() == 4
    assert ContactLink.objects.get(contact__last_name="Ex1").state == "detached"
    assert len(exchange_state(mailbox)) == 4


def test_a_stale_change_key_is_fetched_again_and_merged(sync, rep, mailbox) -> None:  # type: ignore[no-untyped-def]
    contact = crm_contact(rep, last_name="Racy", title="Buyer")
    sync()
    (item,) = mailbox.folder_items()
    contact.title = "From CRM"
    contact.save()
    mailbox.rep_update(item.id, BusinessPhone="1")
    original = mailbox.update_items

    def rep_edits_first(updates):  # type: ignore[no-untyped-def]
        mailbox.update_items = original
        mailbox.rep_update(item.id, MobilePhone="2")  # while we merged
        return original(updates)

    mailbox.update_items = rep_edits_first
    assert sync().outcome == "synced"
    assert crm_state() == [{"owner": "rep", "last_name": "Racy", "title": "From CRM",
                            "phone": "1", "mobile_phone": "2"}]
    assert exchange_state(mailbox) == [{"Surname": "Racy", "JobTitle": "From CRM",
                                        "BusinessPhone": "1", "MobilePhone": "2"}]


def test_a_rejected_item_is_reported_and_resolved_when_it_syncs(sync, rep, mailbox) -> None:  # type: ignore[no-untyped-def]
    contact = crm_contact(rep, last_name="Picky")
    mailbox.reject_item(str(contact.pk), message="The item is too large.")
    sync()
    error = LightningSyncError.objects.get()
    assert (error.kind, error.contact, error.resolved) == ("item_rejected", contact, False)
    mailbox.clear_faults()
    contact.title = "Fixed"
    contact.save()
    sync()
    error.refresh_from_db()
    assert error.resolved and len(exchange_state(mailbox)) == 1


def test_a_repeated_error_is_folded_into_one_row(sync, rep, mailbox) -> None:  # type: ignore[no-untyped-def]
    mailbox.rep_create({"Surname": "Foreign"}, org_stamp="another-org")
    sync()
    mailbox.invalidate_cursors()
    sync()
    error = LightningSyncError.objects.get()
    assert error.count == 2 and error.kind == "other_org"


def test_an_unexpected_exception_is_an_internal_error_and_releases_the_claim(
        sync, rep, mailbox) -> None:  # type: ignore[no-untyped-def]
    mailbox.fail_on("changes", TransportError(ErrorKind.TRANSIENT, "x"))
    mailbox.changes = None  # type: ignore[assignment]  (a bug in a transport)
    report = sync()
    assert report.outcome == "failed"
    assert LightningSyncError.objects.get().kind == "internal"
    assert _state(rep).claim_token == ""


def test_an_unexpected_error_is_kept_only_as_an_excerpt(rep, config, org) -> None:  # type: ignore[no-untyped-def]
    # A library's exception may carry anything a server sent, of any size (SPEC §13).
    said = "\x1b]0;owned\x07" + "<html>" + "page " * 2_000 + "</html>\u202e"

    def broken(settings):  # type: ignore[no-untyped-def]
        raise ValueError(said)

    report = sync_user(rep.pk, transport_factory=broken, sleep=lambda s: None)
    assert report.outcome == "failed"
    shown = outbound.excerpt(said)
    assert _state(rep).last_error == shown
    entry = LightningSyncError.objects.get()
    assert entry.message == report.reason == f"The sync stopped on an unexpected error: {shown}"
    for text in (_state(rep).last_error, entry.message):
        assert "\x1b" not in text and "\u202e" not in text
        assert len(text) <= len("The sync stopped on an unexpected error: ") + 200


# A no-change cycle's queries (contacts): the claim, the state with the user and its
# configuration, Setup, the contact filters, the folder's cursor, the refused items due, the
# links of deleted CRM contacts (none), the CRM contacts changed (none), the release. Events
# add their folder's cursor.
NO_CHANGE_QUERIES = 9


def _steady(sync, rep, mailbox) -> None:  # type: ignore[no-untyped-def]
    """Five contacts each way synced, and nothing changed within the watermark's safety
    margin either."""
    for n in range(5):
        crm_contact(rep, last_name=f"Crm{n}")
        mailbox.rep_create({"Surname": f"Ex{n}"})
    sync()
    Contact.objects.update(updated_at=timezone.now() - dt.timedelta(hours=1))
    sync()
    mailbox.reset_counters()


def test_a_no_change_cycle_lists_once_in_nine_queries(
        sync, rep, mailbox, django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    _steady(sync, rep, mailbox)
    with django_assert_num_queries(NO_CHANGE_QUERIES) as queries:
        report = sync()
    # The refused items are looked at once (those due), the configuration with the claim.
    tables = [q["sql"] for q in queries.captured_queries]
    assert sum('"lightningsync_lightningsyncerror"' in sql for sql in tables) == 1
    assert not any('FROM "lightningsync_configurationuser"' in sql for sql in tables)
    assert report.outcome == "synced" and report.contacts.written == 0
    assert mailbox.calls["changes"] == 1 and not mailbox.writes
    assert set(mailbox.calls) <= {"changes", "close"}
    assert Contact.objects.count() == 10 and len(mailbox.folder_items()) == 10


def test_a_no_change_cycle_with_events_lists_each_folder_once_in_ten_queries(
        sync, rep, config, mailbox, django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    config.events_direction = config.EventsDirection.EXCHANGE_TO_CRM
    config.save()
    _steady(sync, rep, mailbox)
    with django_assert_num_queries(NO_CHANGE_QUERIES + 1):
        report = sync()
    assert report.outcome == "synced" and report.contacts.written == 0
    assert report.events is not None and not report.events.written
    assert mailbox.calls["changes"] == 2 and not mailbox.writes  # contacts, calendar
    assert set(mailbox.calls) <= {"changes", "close"}


def test_sync_user_uses_the_registered_transport(rep, config, org, mailbox) -> None:  # type: ignore[no-untyped-def]
    from syncengine.transports import connect

    builtin = connect._registry.get("service_account")
    connect.register("service_account", lambda settings: mailbox)
    try:
        assert sync_user(rep.pk, sleep=lambda s: None).outcome == "synced"
    finally:
        # Put back the EWS transport's registration (its module registers only on import).
        if builtin is None:
            connect._registry.pop("service_account")
        else:
            connect.register("service_account", builtin)
    assert mailbox.calls["changes"] >= 1
