"""Fixtures for end-to-end engine tests through exchangesim with the real exchangelib.

`ews` is an enabled org whose Setup points at a fresh simulator (service account, EWS URL,
Basic auth; or, parametrised with `BOTH_TRANSPORTS`, also OAuth 2.0 over Microsoft Graph on
the simulator over TLS), a rep (`rep@example.com`) with a mailbox, in a Both-ways configuration. It
runs cycles through `sync_user` with the default transport factory (Setup → connect →
EwsTransport), records the runner's sleeps instead of sleeping, and reads both sides' whole
state: CRM contacts as dicts of mapped fields + owner + account, and a mailbox folder as
dicts of the EWS properties a rep sees.

Import the fixture into a test module with `from .ews_fixtures import ews_fixture  # noqa: F401`
(the fixture is named `ews`). `@BOTH_TRANSPORTS` runs a test on EWS and on Graph: the
world's `op()`, `writes()`, `fault()` and `id_of()` speak the transport's words.
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
from .graph_fixtures import grant_app_roles

MAILBOX = "rep@example.com"
DELETED = "deleteditems"
WRITE_OPERATIONS = ("CreateItem", "UpdateItem", "DeleteItem", "MoveItem", "CreateFolder")
GRAPH_WRITE_OPERATIONS = ("graph:createContact", "graph:updateContact", "graph:deleteContact",
                          "graph:createContactFolder")
# The simulator's fault for a cause, per transport: (kind, operation).
FAULTS = {
    "ews": {"throttled": ("server_busy", "SyncFolderItems"),
            "invalid_cursor": ("invalid_sync_state", None),
            "refused": ("unauthorized", None)},
    "graph": {"throttled": ("graph_throttled", "graph:contactsDelta"),
              "unavailable": ("graph_unavailable", "graph:contactsDelta"),
              "invalid_cursor": ("graph_sync_reset", "graph:contactsDelta"),
              "refused": ("graph_forbidden", None)},
}
# The simulator's request names, per transport.
OPERATIONS = {
    "ews": {"listing": "SyncFolderItems", "create_folder": "CreateFolder",
            "get_item": "GetItem", "folder_check": "GetFolder", "update": "UpdateItem",
            "create": "CreateItem"},
    "graph": {"listing": "graph:contactsDelta", "create_folder": "graph:createContactFolder",
              "get_item": "graph:getContact", "folder_check": "graph:listContactFolders",
              "update": "graph:updateContact", "create": "graph:createContact"},
}
BOTH_TRANSPORTS = pytest.mark.parametrize("ews", ["ews", "graph"], indirect=True)
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


def point_setup_at_graph(running: Any) -> LightningSyncSetup:
    """The org's Setup, enabled, under OAuth 2.0 with the simulator's tenant and app (its
    authority host and Graph root are the simulator's; its CA the only trust)."""
    from django.utils import timezone

    with open(running.ca_pem) as ca:
        ca_bundle = ca.read()
    setup = LightningSyncSetup.load()
    setup.enabled = True
    setup.connection_method = LightningSyncSetup.ConnectionMethod.OAUTH2
    setup.oauth_tenant_id = running.tenant
    setup.oauth_client_id = running.client_id
    setup.set_oauth_client_secret(running.client_secret)
    setup.graph_url = running.base_url
    setup.authority_url = running.base_url
    setup.ca_bundle = ca_bundle
    setup.oauth_token_acquired_at = timezone.now()
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
    transport: str = "ews"  # or "graph"

    def op(self, name: str) -> str:
        """The simulator's name of a request (`listing`, `create_folder`, `get_item`, ...)."""
        return OPERATIONS[self.transport][name]

    def id_of(self, item: dict[str, Any]) -> str:
        """A simulator item's id as the transport (and so the links) name it."""
        return str(self.sim.graph_id(item["id"])) if self.transport == "graph" else item["id"]

    def fault(self, cause: str, **kwargs: Any) -> None:
        """Make the simulator answer the next matching request with `cause`."""
        kind, operation = FAULTS[self.transport][cause]
        self.sim.add_fault(kind, operation=operation, mailbox=MAILBOX, **kwargs)

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
        ops = GRAPH_WRITE_OPERATIONS if self.transport == "graph" else WRITE_OPERATIONS
        counts = {op: self.sim.request_count(op, mailbox) for op in ops}
        return {op: n for op, n in counts.items() if n}

    def state(self, user: User | None = None) -> UserSyncState:
        return UserSyncState.objects.get(user=user or self.rep)

    def links(self, state: str | None = None) -> list[ContactLink]:
        qs = ContactLink.objects.order_by("pk")
        return list(qs.filter(state=state) if state else qs)


@pytest.fixture(name="ews")
def ews_fixture(request, db):  # type: ignore[no-untyped-def]
    transport = getattr(request, "param", "ews")
    running = request.getfixturevalue("exchange_sim_graph" if transport == "graph"
                                      else "exchange_sim")
    running.sim.add_mailbox(MAILBOX, "Rita Rep")
    setup = point_setup_at_graph(running) if transport == "graph" else point_setup_at(running)
    if transport == "graph":
        grant_app_roles(running)
    rep = UserFactory(username="rep", email=MAILBOX, first_name="Rita", last_name="Rep")
    config = SyncConfigurationFactory(
        # Contacts only: the event tests turn events on (tests/engine/test_events_*.py).
        name="Reps", users=[rep], contacts_direction="both", events_direction="none")
    return EwsWorld(running, setup, rep, config, transport=transport)


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
