"""vdirsyncer-style state machine: reps edit both sides, admins change the configuration,
syncs run; after every sync the invariants of SPEC §4 hold."""

from __future__ import annotations

import pytest
from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    rule,
)

from lightningsync.fieldmaps import DEFAULT_CONTACT_MAPPING
from lightningsync.models import (
    Contact,
    ContactFilter,
    ContactLink,
    FolderCursor,
    LightningSyncSetup,
)
from syncengine.cycle.runner import sync_user
from syncengine.mapping import contacts as mapping
from syncengine.mapping.normal import content_hash
from syncengine.transports.memory import MemoryTransport
from tests.factories import AccountFactory, SyncConfigurationFactory, UserFactory

from .conftest import crm_contact

names = st.sampled_from(["Ann", "Bo", "Cy", "Di"])
titles = st.sampled_from(["", "Buyer", "Chief", "Owner"])
companies = st.sampled_from(["", "Acme", "Globex"])


class ContactSyncMachine(RuleBasedStateMachine):
    crm = Bundle("crm")
    items = Bundle("items")

    def __init__(self) -> None:
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        setup = LightningSyncSetup.load()
        setup.enabled = True
        setup.save()
        self.accounts = {n: AccountFactory(name=n) for n in ("Acme", "Globex")}
        self.rep = UserFactory(username="sm-rep", email="sm-rep@example.com")
        self.config = SyncConfigurationFactory(users=[self.rep], contacts_direction="both",
                                               events_direction="none")
        self.mailbox = MemoryTransport(org_id=str(setup.org_id))
        self.serial = 0
        self.synced = False

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    def _next(self) -> int:
        self.serial += 1
        return self.serial

    # --- reps ---------------------------------------------------------------------------
    @rule(target=crm, first=names, title=titles, company=companies)
    def crm_create(self, first: str, title: str, company: str) -> int:
        n = self._next()
        return crm_contact(self.rep, first_name=first, last_name=f"C{n}", title=title,
                           email=f"c{n}@x.test", account=self.accounts.get(company)).pk

    @rule(pk=crm, title=titles)
    def crm_edit(self, pk: int, title: str) -> None:
        for contact in Contact.objects.filter(pk=pk):
            contact.title = title
            contact.save()

    @rule(pk=consumes(crm))
    def crm_delete(self, pk: int) -> None:
        Contact.objects.filter(pk=pk).delete()

    @rule(target=items, first=names, title=titles, company=companies)
    def exchange_create(self, first: str, title: str, company: str) -> str:
        n = self._next()
        return self.mailbox.rep_create({"GivenName": first, "Surname": f"E{n}",
                                        "JobTitle": title or None,
                                        "EmailAddress1": f"e{n}@x.test",
                                        "CompanyName": company or None})

    @rule(item=items, phone=st.sampled_from(["1", "2", None]))
    def exchange_edit(self, item: str, phone: str | None) -> None:
        if self.mailbox.mailbox.items[item].folder == self.mailbox.mailbox.contact_folder_id():
            self.mailbox.rep_update(item, BusinessPhone=phone)

    @rule(item=consumes(items))
    def exchange_delete(self, item: str) -> None:
        if self.mailbox.mailbox.items[item].folder == self.mailbox.mailbox.contact_folder_id():
            self.mailbox.rep_delete(item)

    # --- admins -------------------------------------------------------------------------
    @rule(direction=st.sampled_from(["both", "crm_to_exchange", "exchange_to_crm"]))
    def change_direction(self, direction: str) -> None:
        self.config.contacts_direction = direction
        self.config.save()

    @rule(title=titles)
    def change_filter(self, title: str) -> None:
        ContactFilter.objects.filter(configuration=self.config).delete()
        if title:
            ContactFilter.objects.create(configuration=self.config, field="title",
                                         operator="equals", value=title)

    # --- syncs --------------------------------------------------------------------------
    @rule()
    def sync(self) -> None:
        before = set(Contact.objects.values_list("pk", flat=True))
        report = sync_user(self.rep.pk, transport_factory=lambda settings: self.mailbox,
                           sleep=lambda s: None, page_size=3)
        assert report.outcome == "synced", report.reason
        assert before <= set(Contact.objects.values_list("pk", flat=True)), "sync deleted"
        self.synced = True
        self._check_linked_equal()
        self.mailbox.reset_counters()
        again = sync_user(self.rep.pk, transport_factory=lambda settings: self.mailbox,
                          sleep=lambda s: None, page_size=3)
        assert again.contacts is not None and again.contacts.written == 0, again.summary()
        assert not self.mailbox.writes, dict(self.mailbox.writes)

    def _check_linked_equal(self) -> None:
        """Every link's snapshot is what its source side holds: both sides (Both ways), or
        the source (one-way: the destination may keep edits of its own, SPEC §4)."""
        linked = ContactLink.objects.filter(state="active", exchange_id__isnull=False).count()
        (cursor,) = FolderCursor.objects.filter(user=self.rep)
        assert cursor.linked_count == linked, (cursor.linked_count, linked)
        items = {i.id: i for i in self.mailbox.folder_items()}
        direction = self.config.contacts_direction
        for link in ContactLink.objects.filter(state="active", contact__isnull=False,
                                               exchange_id__isnull=False).select_related(
                                                   "contact__account"):
            item = items.get(link.exchange_id or "")
            assert item is not None, f"link to a missing item {link.exchange_id}"
            crm = mapping.crm_values(link.contact, DEFAULT_CONTACT_MAPPING)
            ex = mapping.exchange_values(item.fields, DEFAULT_CONTACT_MAPPING)
            if direction != "exchange_to_crm":
                assert content_hash(crm) == link.snapshot_hash, (crm, link.snapshot)
            if direction != "crm_to_exchange":
                assert content_hash(ex) == link.snapshot_hash, (ex, link.snapshot)

    @invariant()
    def no_duplicates(self) -> None:
        links = ContactLink.objects.filter(exchange_id__isnull=False)
        ids = list(links.values_list("exchange_id", flat=True))
        assert len(ids) == len(set(ids))
        stamps = [i.crm_stamp for i in self.mailbox.folder_items() if i.crm_stamp]
        assert len(stamps) == len(set(stamps)), "two Exchange copies of one CRM contact"


TestContactSyncMachine = ContactSyncMachine.TestCase
TestContactSyncMachine.settings = settings(
    max_examples=15, stateful_step_count=20, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
TestContactSyncMachine = pytest.mark.django_db(TestContactSyncMachine)
