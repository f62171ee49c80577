"""A state machine for event sync (SPEC §5): the rep edits the calendar and the CRM's
relations, admins change the event settings, syncs run. After every sync: the CRM's linked
events equal the filtered Exchange set under the mapping, no item is imported twice, a rep's
relations are never lost, and another sync writes nothing."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, rule

from lightningsync.configrules import event_window_start
from lightningsync.fieldmaps import DEFAULT_EVENT_MAPPING
from lightningsync.models import Event, EventLink, LightningSyncSetup
from syncengine.cycle.runner import sync_user
from syncengine.events.rules import org_time_zone
from syncengine.mapping import events as mapping
from syncengine.transports.memory import CALENDAR, MemoryTransport
from syncengine.transports.protocol import CalendarItemType
from tests.factories import ContactFactory, SyncConfigurationFactory, UserFactory

TODAY = dt.datetime.now(dt.UTC).replace(hour=12, minute=0, second=0, microsecond=0)
subjects = st.sampled_from(["Call", "Demo", "Lunch"])
offsets = st.sampled_from([-45, -20, -1, 0, 1, 5])  # days from today
sensitivities = st.sampled_from(["Normal", "Normal", "Private", "Confidential"])
categories = st.sampled_from([(), ("Salesforce",), ("SALESFORCE", "Blue"), ("Blue",)])
filters = st.sampled_from(["TODAY", "LAST_N_DAYS:30", "LAST_MONTH"])


class EventSyncMachine(RuleBasedStateMachine):
    items = Bundle("items")
    events = Bundle("events")

    def __init__(self) -> None:
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        setup = LightningSyncSetup.load()
        setup.enabled = True
        setup.event_category = "Salesforce"
        setup.save()
        self.rep = UserFactory(username="ev-rep", email="ev-rep@example.com")
        self.config = SyncConfigurationFactory(users=[self.rep], contacts_direction="none",
                                               events_direction="exchange_to_crm")
        self.mailbox = MemoryTransport(org_id=str(setup.org_id))
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
        return self.mailbox.rep_create_event(
            {"Subject": subject, "Start": start, "End": start + dt.timedelta(hours=1),
             "Sensitivity": sensitivity, "Location": "Room"},
            categories=cats,
            item_type=CalendarItemType.RECURRING_MASTER if series else CalendarItemType.SINGLE)

    @rule(item=items, location=st.sampled_from(["Room", "Cafe", None]),
          sensitivity=sensitivities)
    def exchange_edit(self, item: str, location: str | None, sensitivity: str) -> None:
        if self.mailbox.mailbox.items[item].folder == CALENDAR:
            self.mailbox.rep_update(item, Location=location, Sensitivity=sensitivity)

    @rule(item=items, cats=categories)
    def exchange_categorise(self, item: str, cats: tuple[str, ...]) -> None:
        if self.mailbox.mailbox.items[item].folder == CALENDAR:
            self.mailbox.rep_set_categories(item, cats)

    @rule(item=consumes(items))
    def exchange_delete(self, item: str) -> None:
        if self.mailbox.mailbox.items[item].folder == CALENDAR:
            self.mailbox.rep_delete(item)

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
        report = sync_user(self.rep.pk, transport_factory=lambda s: self.mailbox,
                           sleep=lambda s: None, page_size=3)
        assert report.outcome == "synced", report.reason
        self._check()
        self.mailbox.reset_counters()
        again = sync_user(self.rep.pk, transport_factory=lambda s: self.mailbox,
                          sleep=lambda s: None, page_size=3)
        assert again.events is not None and again.events.written == 0, again.summary()
        assert not self.mailbox.writes, dict(self.mailbox.writes)

    def _passes(self, fields: dict) -> bool:  # type: ignore[type-arg]
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
        for item in self.mailbox.folder_items(CALENDAR):
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
        for item in self.mailbox.folder_items(CALENDAR):
            link = links.get(item.id)
            if link is not None and link.event_id is not None:
                assert (item.org_stamp, item.crm_stamp) == (self.mailbox.org_id,
                                                            str(link.event_id))
        # A rep's relations are never lost (unless the event itself was removed).
        for pk, contact in self.relations.items():
            for event in Event.objects.filter(pk=pk):
                assert event.who_contact_id == contact


TestEventSyncMachine = EventSyncMachine.TestCase
TestEventSyncMachine.settings = settings(
    max_examples=int(os.environ.get("EVENT_MACHINE_EXAMPLES", "15")),
    stateful_step_count=20, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
TestEventSyncMachine = pytest.mark.django_db(TestEventSyncMachine)
