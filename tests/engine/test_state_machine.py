"""vdirsyncer-style state machine: reps edit both sides, admins change the configuration,
syncs run; after every sync the invariants of SPEC §4 hold. It runs on the memory transport,
and over the wire on EWS and on Microsoft Graph against exchangesim (`mailbox_sides`)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import transaction
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    rule,
    run_state_machine_as_test,
)

from lightningsync.fieldmaps import DEFAULT_CONTACT_MAPPING
from lightningsync.models import (
    Contact,
    ContactFilter,
    ContactLink,
    FolderCursor,
    LightningSyncSetup,
)
from syncengine.cycle.runner import SyncReport, sync_user
from syncengine.mapping import contacts as mapping
from syncengine.mapping.normal import content_hash
from tests.factories import AccountFactory, SyncConfigurationFactory, UserFactory

from .conftest import crm_contact
from .machine_settings import machine_settings
from .mailbox_sides import TRANSPORTS, MailboxSide, point_setup

names = st.sampled_from(["Ann", "Bo", "Cy", "Di"])
titles = st.sampled_from(["", "Buyer", "Chief", "Owner"])
companies = st.sampled_from(["", "Acme", "Globex"])


class ContactSyncMachine(RuleBasedStateMachine):
    crm = Bundle("crm")
    items = Bundle("items")

    def __init__(self, new_side: Callable[[str], MailboxSide]) -> None:
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.accounts = {n: AccountFactory(name=n) for n in ("Acme", "Globex")}
        self.mailbox = new_side(str(LightningSyncSetup.load().org_id))
        self.rep = UserFactory(username="sm-rep", email=self.mailbox.smtp)
        self.config = SyncConfigurationFactory(users=[self.rep], contacts_direction="both",
                                               events_direction="none")
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
        return self.mailbox.create_contact({"GivenName": first, "Surname": f"E{n}",
                                            "JobTitle": title or None,
                                            "EmailAddress1": f"e{n}@x.test",
                                            "CompanyName": company or None})

    @rule(item=items, phone=st.sampled_from(["1", "2", None]))
    def exchange_edit(self, item: str, phone: str | None) -> None:
        if self.mailbox.holds(item):
            self.mailbox.update_contact(item, BusinessPhone=phone)

    @rule(item=consumes(items))
    def exchange_delete(self, item: str) -> None:
        if self.mailbox.holds(item):
            self.mailbox.delete(item)

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
        report = self._cycle()
        assert report.outcome == "synced", report.reason
        assert before <= set(Contact.objects.values_list("pk", flat=True)), "sync deleted"
        self.synced = True
        self._check_linked_equal()
        self.mailbox.reset_counters()
        again = self._cycle()
        assert again.contacts is not None and again.contacts.written == 0, again.summary()
        assert not self.mailbox.writes(), self.mailbox.writes()

    def _cycle(self) -> SyncReport:
        return sync_user(self.rep.pk, transport_factory=self.mailbox.transport_factory,
                         sleep=lambda s: None, page_size=3)

    def _check_linked_equal(self) -> None:
        """Every link's snapshot is what its source side holds: both sides (Both ways), or
        the source (one-way: the destination may keep edits of its own, SPEC §4)."""
        linked = ContactLink.objects.filter(state="active", exchange_id__isnull=False).count()
        (cursor,) = FolderCursor.objects.filter(user=self.rep)
        assert cursor.linked_count == linked, (cursor.linked_count, linked)
        seen = self.mailbox.contacts()
        items = {i.id: i for i in seen}
        # Only a sync stamps items: checked here rather than after every step.
        stamps = [i.crm_stamp for i in seen if i.crm_stamp]
        assert len(stamps) == len(set(stamps)), "two Exchange copies of one CRM contact"
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


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_contact_sync_machine(db, session_sims, transport: str) -> None:  # type: ignore[no-untyped-def]
    new_side = point_setup(transport, session_sims)
    run_state_machine_as_test(lambda: ContactSyncMachine(new_side),
                              settings=machine_settings(transport))
