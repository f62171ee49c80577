"""A state machine for event sync (SPEC §5): the rep edits the calendar and the CRM's
relations, admins change the event settings, syncs run. After every sync: the CRM's linked
events equal the filtered Exchange set under the mapping, no item is imported twice, a rep's
relations are never lost, and another sync writes nothing. It runs on the memory transport,
and over the wire on EWS and on Microsoft Graph against exchangesim (`mailbox_sides`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    rule,
    run_state_machine_as_test,
)

from lightningsync.configrules import event_window_start
from lightningsync.fieldmaps import DEFAULT_EVENT_MAPPING
from lightningsync.models import Event, EventLink, LightningSyncSetup
from syncengine.cycle.runner import SyncReport, sync_user
from syncengine.events.rules import org_time_zone
from syncengine.mapping import events as mapping
from syncengine.transports.protocol import CalendarItemType
from tests.factories import ContactFactory, SyncConfigurationFactory, UserFactory

from .machine_settings import machine_settings
from .mailbox_sides import TRANSPORTS, MailboxSide, point_setup

TODAY = dt.datetime.now(dt.UTC).replace(hour=12, minute=0, second=0, microsecond=0)
subjects = st.sampled_from(["Call", "Demo", "Lunch"])
offsets = st.sampled_from([-45, -20, -1, 0, 1, 5])  # days from today
sensitivities = st.sampled_from(["Normal", "Normal", "Private", "Confidential"])
categories = st.sampled_from([(), ("Salesforce",), ("SALESFORCE", "Blue"), ("Blue",)])
filters = st.sampled_from(["TODAY", "LAST_N_DAYS:30", "LAST_MONTH"])


class EventSyncMachine(RuleBasedStateMachine):
    items = Bundle("items")
    events = Bundle("events")

    def __init__(self, new_side: Callable[[str], MailboxSide]) -> None:
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        setup = LightningSyncSetup.load()
        setup.event_category = "Salesforce"
        setup.save()
        self.mailbox = new_side(str(setup.org_id))
        self.rep = UserFactory(username="ev-rep", email=self.mailbox.smtp)
        self.config = SyncConfigurationFactory(users=[self.rep], contacts_direction="none",
                                               events_direction="exchange_to_crm")
        self.contact = ContactFactory(owner=self.rep, email="client@customer.test")
        self.relations: dict[int, int] = {}  # event pk -> contact pk the rep chose
        self.ever_synced: set[str] = set()

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    # --- the rep in Outlook ---------------------------------------------------------------
    @rule(target=items, subject=subjects, offset=offsets, sensitivity=sensitivities,
          cats=categories, series=st.booleans())
    def exchange_create(self, subject: str, offset: int, sensitivity: str,
                        cats: tuple[str, ...], series: bool) -> str:
        start = TODAY + dt.timedelta(days=offset)
        return self.mailbox.create_event(
            {"Subject": subject, "Start": start, "End": start + dt.timedelta(hours=1),
             "Sensitivity": sensitivity, "Location": "Room"},
            categories=cats, series=series)

    @rule(item=items, location=st.sampled_from(["Room", "Cafe", None]),
          sensitivity=sensitivities)
    def exchange_edit(self, item: str, location: str | None, sensitivity: str) -> None:
        if self.mailbox.holds(item, calendar=True):
            self.mailbox.update_event(item, Location=location, Sensitivity=sensitivity)

    @rule(item=items, cats=categories)
    def exchange_categorise(self, item: str, cats: tuple[str, ...]) -> None:
        if self.mailbox.holds(item, calendar=True):
            self.mailbox.set_categories(item, cats)

    @rule(item=consumes(items))
    def exchange_delete(self, item: str) -> None:
        if self.mailbox.holds(item, calendar=True):
            self.mailbox.delete(item)

    # --- the rep in the CRM ---------------------------------------------------------------
    @rule(target=events, subject=subjects, offset=offsets)
    def crm_create(self, subject: str, offset: int) -> int:
        start = TODAY + dt.timedelta(days=offset)
        return Event.objects.create(owner=self.rep, subject=subject, start=start,
                                    end=start + dt.timedelta(hours=1)).pk

    @rule(pk=events)
    def crm_relate(self, pk: int) -> None:
        if Event.objects.filter(pk=pk).update(who_contact=self.contact):
            self.relations[pk] = self.contact.pk

    @rule(pk=consumes(events))
    def crm_delete(self, pk: int) -> None:
        Event.objects.filter(pk=pk).delete()
        self.relations.pop(pk, None)

    @rule()
    def crm_delete_a_synced_event(self) -> None:
        link = EventLink.objects.filter(event__isnull=False).order_by("pk").first()
        if link is not None and link.event_id is not None:
            self.relations.pop(link.event_id, None)
            Event.objects.filter(pk=link.event_id).delete()

    # --- admins ---------------------------------------------------------------------------
    @rule(date_filter=filters, selected=st.booleans(), private=st.booleans(),
          auto_remove=st.booleans())
    def configure(self, date_filter: str, selected: bool, private: bool,
                  auto_remove: bool) -> None:
        self.config.event_date_filter = date_filter
        self.config.event_scope = "selected" if selected else "all"
        self.config.sync_private_events = private
        self.config.auto_remove_deleted_events = auto_remove
        self.config.save()

    # --- syncs ----------------------------------------------------------------------------
    @rule()
    def sync(self) -> None:
        report = self._cycle()
        assert report.outcome == "synced", report.reason
        self._check()
        self.mailbox.reset_counters()
        again = self._cycle()
        assert again.events is not None and again.events.written == 0, again.summary()
        assert not self.mailbox.writes(), self.mailbox.writes()

    def _cycle(self) -> SyncReport:
        return sync_user(self.rep.pk, transport_factory=self.mailbox.transport_factory,
                         sleep=lambda s: None, page_size=3)

    def _passes(self, fields: dict[str, Any]) -> bool:
        """SPEC §5's filters, written out again here."""
        if fields.get("CalendarItemType") != CalendarItemType.SINGLE:
            return False
        if self.config.event_scope == "selected" and "salesforce" not in {
                c.casefold() for c in fields.get("Categories") or ()}:
            return False
        window = event_window_start(self.config.event_date_filter, timezone.now(),
                                    org_time_zone())
        if fields["End"] < window:
            return False
        private = fields.get("Sensitivity") in ("Private", "Confidential")
        return not private or self.config.sync_private_events

    def _check(self) -> None:
        links = {lk.exchange_id: lk for lk in EventLink.objects.filter(
            exchange_id__isnull=False).select_related("event")}
        deleted_in_crm = {i for i, lk in links.items() if lk.event_id is None}
        calendar = self.mailbox.events()
        for item in calendar:
            if not self._passes(item.fields) or item.id in deleted_in_crm:
                continue
            link = links.get(item.id)
            assert link is not None and link.event is not None, f"{item.fields} not synced"
            want = mapping.exchange_values(item.fields, DEFAULT_EVENT_MAPPING)
            assert mapping.crm_values(link.event, DEFAULT_EVENT_MAPPING) == want
            self.ever_synced.add(item.id)
        # Nothing outside the set was imported: every linked item passed the filters at a
        # sync (narrowing keeps what was synced).
        for item_id, link in links.items():
            if link.event_id is not None:
                assert item_id in self.ever_synced, f"{item_id} synced outside the filters"
        # No item imported twice; every linked item carries our stamps.
        ids = [lk.exchange_id for lk in links.values()]
        assert len(ids) == len(set(ids))
        for item in calendar:
            link = links.get(item.id)
            if link is not None and link.event_id is not None:
                assert (item.org_stamp, item.crm_stamp) == (self.mailbox.org_id,
                                                            str(link.event_id))
        # A rep's relations are never lost (unless the event itself was removed).
        for pk, contact in self.relations.items():
            for event in Event.objects.filter(pk=pk):
                assert event.who_contact_id == contact


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_event_sync_machine(db, session_sims, transport: str) -> None:  # type: ignore[no-untyped-def]
    new_side = point_setup(transport, session_sims)
    run_state_machine_as_test(lambda: EventSyncMachine(new_side),
                              settings=machine_settings(transport))
