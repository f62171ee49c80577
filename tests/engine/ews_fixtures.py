"""Fixtures for end-to-end engine tests through exchangesim with the real exchangelib.

`ews` is an enabled org whose Setup points at a fresh simulator (service account, EWS URL,
Basic auth), a rep (`rep@example.com`) with a mailbox, in a Both-ways configuration. It
runs cycles through `sync_user` with the default transport factory (Setup → connect →
EwsTransport), records the runner's sleeps instead of sleeping, and reads both sides' whole
state: CRM contacts as dicts of mapped fields + owner + account, and a mailbox folder as
dicts of the EWS properties a rep sees.

Import the fixture into a test module with `from .ews_fixtures import ews_fixture  # noqa: F401`
(the fixture is named `ews`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.conf import settings

from lightningsync.fieldmaps import DEFAULT_CONTACT_MAPPING
from lightningsync.models import (
    Contact,
    ContactLink,
    LightningSyncError,
    LightningSyncSetup,
    SyncConfiguration,
    User,
    UserSyncState,
)
from syncengine.cycle.runner import SyncReport, sync_user
from syncengine.mapping import contacts as mapping
from syncengine.transports.connect import SERVICE_ACCOUNT, ConnectionSettings
from syncengine.transports.contract import ORG_ID
from syncengine.transports.ews.stamps import PROPERTY_SET_ID
from tests.factories import SyncConfigurationFactory, UserFactory

from .ews_rep import SYNC_FOLDER, SimRep

MAILBOX = "rep@example.com"
DELETED = "deleteditems"
WRITE_OPERATIONS = ("CreateItem", "UpdateItem", "DeleteItem", "MoveItem", "CreateFolder")
# What `sim.items()` returns besides the properties a rep sees.
_BOOKKEEPING = {"id", "changekey", "item_type", "folder", "created", "modified", "extended"}
# Properties Exchange (or exchangelib's defaults on create) fills in on every contact; they
# carry nothing the sync decides.
_COMPUTED = {
    "DisplayName", "FileAs", "Subject", "Importance", "Sensitivity", "ReminderIsSet",
    "ReminderMinutesBeforeStart", "PostalAddressIndex",
}


def point_setup_at(running: Any, *, password: str | None = None) -> LightningSyncSetup:
    """The org's Setup, enabled, using the simulator's service account (Basic, explicit URL)."""
    setup = LightningSyncSetup.load()
    setup.enabled = True
    setup.connection_method = LightningSyncSetup.ConnectionMethod.SERVICE_ACCOUNT
    setup.ews_url = running.ews_url
    setup.service_account_username = running.username
    setup.auth_type = LightningSyncSetup.AuthType.BASIC
    setup.set_service_account_password(password or running.password)
    setup.save()
    return setup


def ews_settings(running: Any, mailbox: str = MAILBOX, **overrides: Any) -> ConnectionSettings:
    """The settings the cycle would hand the EWS transport for `mailbox` on the simulator
    (service account, Basic, the engine's timeouts), with `overrides`."""
    values: dict[str, Any] = {
        "method": SERVICE_ACCOUNT, "mailbox": mailbox, "org_id": ORG_ID,
        "url": running.ews_url, "username": running.username, "password": running.password,
        "auth_type": "basic", "ca_bundle": "",
        "timeout_seconds": settings.LIGHTNINGSYNC_EWS_TIMEOUT_SECONDS,
        "max_connections": settings.LIGHTNINGSYNC_EWS_MAX_CONNECTIONS,
        "read_concurrency": settings.LIGHTNINGSYNC_EWS_READ_CONCURRENCY,
    }
    values.update(overrides)
    return ConnectionSettings(**values)


def stamps(item: dict[str, Any]) -> dict[str, str]:
    """Our extended properties on a simulator item: {"LightningSyncOrgId": ..., ...}."""
    return {
        p["PropertyName"]: p["Value"]
        for p in item.get("extended", [])
        if p.get("PropertySetId", "").lower() == PROPERTY_SET_ID
    }


def visible(item: dict[str, Any]) -> dict[str, Any]:
    """A contact's own properties: all but ids, change keys, times, stamps, computed ones."""
    return {k: v for k, v in item.items() if k not in _BOOKKEEPING | _COMPUTED}


def _key(row: dict[str, Any]) -> str:
    return json.dumps(row, sort_keys=True, default=str)


def ordered(rows: Any) -> list[dict[str, Any]]:
    """Rows in a canonical order (whatever the order of their keys)."""
    return sorted(rows, key=_key)


def crm_state() -> list[dict[str, Any]]:
    """Every CRM contact: owner, account (by name) and its set mapped fields, sorted."""
    rows = []
    for c in Contact.objects.select_related("account", "owner"):
        values = mapping.crm_values(c, DEFAULT_CONTACT_MAPPING)
        rows.append(
            {
                "owner": c.owner.username,
                "account": c.account.name if c.account else None,
                **{k: v for k, v in values.items() if v is not None and k != "account_name"},
            }
        )
    return ordered(rows)


def errors(kind: str | None = None) -> list[LightningSyncError]:
    qs = LightningSyncError.objects.order_by("pk")
    return list(qs.filter(kind=kind) if kind else qs)


@dataclass
class EwsWorld:
    running: Any
    setup: LightningSyncSetup
    rep: User
    config: SyncConfiguration
    sleeps: list[float] = field(default_factory=list)

    @property
    def sim(self) -> Any:
        return self.running.sim

    @property
    def outlook(self) -> SimRep:
        """The rep acting in Outlook, in transport field names."""
        return SimRep(self.sim, MAILBOX)

    def configure(self, **fields: Any) -> SyncConfiguration:
        for name, value in fields.items():
            setattr(self.config, name, value)
        self.config.save()
        return self.config

    def add_user(self, username: str, **kwargs: Any) -> User:
        """Another CRM user with a mailbox, in the same configuration."""
        user = UserFactory(username=username, email=f"{username}@example.com", **kwargs)
        self.sim.add_mailbox(user.email)
        SyncConfiguration.users.through.objects.update_or_create(
            user=user, defaults={"configuration": self.config}
        )
        return user

    def sync(self, user: User | None = None, **kwargs: Any) -> SyncReport:
        kwargs.setdefault("sleep", self.sleeps.append)
        return sync_user((user or self.rep).pk, **kwargs)

    # -- the mailbox ----------------------------------------------------------------------
    def items(self, folder: str = SYNC_FOLDER, mailbox: str = MAILBOX) -> list[dict[str, Any]]:
        return self.sim.items(mailbox, folder)

    def exchange(self, folder: str = SYNC_FOLDER, mailbox: str = MAILBOX) -> list[dict[str, Any]]:
        """A folder's contacts as the rep sees them, sorted."""
        return ordered(visible(i) for i in self.items(folder, mailbox))

    def deleted(self, mailbox: str = MAILBOX) -> list[dict[str, Any]]:
        return self.exchange(DELETED, mailbox)

    def has_sync_folder(self, mailbox: str = MAILBOX) -> int:
        """How many Salesforce_Sync folders sit under Contacts."""
        return sum(
            1
            for f in self.sim.folders(mailbox)
            if f.get("path", "").rstrip("/").endswith("contacts/Salesforce_Sync")
        )

    def writes(self, mailbox: str = MAILBOX) -> dict[str, int]:
        """Write requests since the last `reset_counters()`, per operation (zeros omitted)."""
        counts = {op: self.sim.request_count(op, mailbox) for op in WRITE_OPERATIONS}
        return {op: n for op, n in counts.items() if n}

    def state(self, user: User | None = None) -> UserSyncState:
        return UserSyncState.objects.get(user=user or self.rep)

    def links(self, state: str | None = None) -> list[ContactLink]:
        qs = ContactLink.objects.order_by("pk")
        return list(qs.filter(state=state) if state else qs)


@pytest.fixture(name="ews")
def ews_fixture(db, exchange_sim):  # type: ignore[no-untyped-def]
    exchange_sim.sim.add_mailbox(MAILBOX, "Rita Rep")
    setup = point_setup_at(exchange_sim)
    rep = UserFactory(username="rep", email=MAILBOX, first_name="Rita", last_name="Rep")
    config = SyncConfigurationFactory(
        # Contacts only: the event tests turn events on (tests/engine/test_events_*.py).
        name="Reps", users=[rep], contacts_direction="both", events_direction="none")
    return EwsWorld(exchange_sim, setup, rep, config)


def crm_contact(owner: Any, **fields: Any) -> Contact:
    """A CRM contact with only the given fields set (the factory fills several)."""
    from tests.factories import ContactFactory

    for blank in ("first_name", "email", "title"):
        fields.setdefault(blank, "")
    fields.setdefault("account", None)
    return ContactFactory(owner=owner, **fields)


def remove_folder(sim: Any, mailbox: str, path: str = SYNC_FOLDER) -> None:
    """The rep deletes a folder for good (the simulator's control API has no folder delete)."""
    with sim.store.lock:
        mbx = sim.store.mailbox(mailbox)
        folder = sim.store.find_folder_by_path(mbx, path)
        sim.store.delete_folder_contents(mbx, folder)
        del mbx.folders[folder.id]
        sim.store.dirty = True
