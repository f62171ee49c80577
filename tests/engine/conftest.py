"""Engine fixtures: an enabled org, a rep in a configuration, a memory mailbox, `sync()`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lightningsync.fieldmaps import DEFAULT_CONTACT_MAPPING
from lightningsync.models import Contact, LightningSyncSetup
from syncengine.cycle.runner import SyncReport, sync_user
from syncengine.mapping import contacts as mapping
from syncengine.transports.memory import MemoryTransport
from tests.factories import SyncConfigurationFactory, UserFactory

from .mailbox_sides import session_sims  # noqa: F401  (one simulator per transport, per session)


@pytest.fixture
def org(db):  # type: ignore[no-untyped-def]
    setup = LightningSyncSetup.load()
    setup.enabled = True
    setup.save()
    return setup


@pytest.fixture
def rep(db):  # type: ignore[no-untyped-def]
    return UserFactory(username="rep", email="rep@example.com", first_name="Rita", last_name="Rep")


@pytest.fixture
def config(rep):  # type: ignore[no-untyped-def]
    return SyncConfigurationFactory(
        # Contacts only: the event tests turn events on (tests/engine/test_events_*.py).
        name="Reps", users=[rep], contacts_direction="both", events_direction="none")


@pytest.fixture
def mailbox(request, org, rep):  # type: ignore[no-untyped-def]
    """The rep's mailbox: the memory transport; with `ALL_TRANSPORTS`, also a mailbox on
    exchangesim that the engine reaches over EWS or over Graph (`WireMailbox`)."""
    transport = getattr(request, "param", "memory")
    if transport == "memory":
        return MemoryTransport(org_id=str(org.org_id))
    from .ews_fixtures import point_setup_at, point_setup_at_graph
    from .graph_fixtures import grant_app_roles
    from .mailbox_sides import WireMailbox

    running = request.getfixturevalue(
        "exchange_sim_graph" if transport == "graph" else "exchange_sim")
    if transport == "graph":
        point_setup_at_graph(running)
        grant_app_roles(running)
    else:
        point_setup_at(running)
    return WireMailbox(running, transport, str(org.org_id), rep.email)


@pytest.fixture
def sync(mailbox, rep, config):  # type: ignore[no-untyped-def]
    """sync() runs one cycle of the rep (or of `user=`) against the mailbox (over the wire:
    through the engine's own transport for the org's Setup)."""

    def run(
        user: Any = None, transport: MemoryTransport | None = None, **kwargs: Any
    ) -> SyncReport:
        target = transport or mailbox
        factory = (None if getattr(target, "running", None) is not None
                   else lambda settings: target)
        return sync_user((user or rep).pk, transport_factory=factory,
                         sleep=lambda s: None, **kwargs)

    return run


def crm_state() -> list[dict[str, Any]]:
    """Every CRM contact as {owner, mapped fields that are set}, sorted."""
    rows = []
    for c in Contact.objects.select_related("account", "owner"):
        values = mapping.crm_values(c, DEFAULT_CONTACT_MAPPING)
        rows.append(
            {"owner": c.owner.username, **{k: v for k, v in values.items() if v is not None}}
        )
    return sorted(rows, key=repr)


def exchange_state(transport: Any, folder: str | None = None) -> list[dict[str, Any]]:
    """Every item of Salesforce_Sync (or of `folder`) as its set fields, sorted."""
    items = transport.folder_items(folder) if folder else transport.folder_items()
    rows = [{k: v for k, v in i.fields.items() if v is not None} for i in items]
    return sorted(rows, key=repr)


def crm_contact(owner: Any, **fields: Any) -> Contact:
    """A CRM contact with only the given fields set (the factory fills several)."""
    from tests.factories import ContactFactory

    for blank in ("first_name", "email", "title"):
        fields.setdefault(blank, "")
    fields.setdefault("account", None)
    return ContactFactory(owner=owner, **fields)


def a_day_passes() -> None:
    """As if a day went by for the error report: refused items become due for their daily try
    (the engine compares `next_try_at` with the clock)."""
    from django.db.models import F

    from lightningsync.models import LightningSyncError
    from syncengine.errorlog import RETRY_AFTER

    LightningSyncError.objects.filter(next_try_at__isnull=False).update(
        next_try_at=F("next_try_at") - RETRY_AFTER,
        last_occurred_at=F("last_occurred_at") - RETRY_AFTER,
        first_occurred_at=F("first_occurred_at") - RETRY_AFTER,
    )


class OnceAt:
    """A sync checkpoint that runs `action` once, the first time the cycle reaches `step`
    (`done` tells whether it ran): a CRM user acting in the middle of a cycle."""

    def __init__(self, step: str, action: Callable[[], object]) -> None:
        self.step, self.action, self.done = step, action, False

    def __call__(self, step: str) -> None:
        if step == self.step and not self.done:
            self.done = True
            self.action()


def edit_contact(pk: int, **fields: Any) -> Callable[[], None]:
    """An action: a CRM user saves these fields on the contact."""

    def save() -> None:
        contact = Contact.objects.get(pk=pk)
        for name, value in fields.items():
            setattr(contact, name, value)
        contact.save()

    return save


def fields_of(mailbox: Any, item_id: str) -> dict[str, Any]:
    """The fields of an item of Salesforce_Sync, on any `mailbox`."""
    return {i.id: i for i in mailbox.folder_items()}[item_id].fields
