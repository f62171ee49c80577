"""The mailbox side of the state machines, on any transport: the rep acting in Outlook, and
the folder as it is. `MemorySide` works on the memory transport; `WireSide` on a mailbox of
exchangesim reached by the engine over EWS (real exchangelib) or Microsoft Graph (real
msal, TLS).

One simulator serves a whole session (`session_sims`): starting one per example would cost
more than the example. Every example gets a fresh mailbox through the control API, so
nothing of a previous example (items, delta states, faults) reaches it.

Fields are in the transport's names (`GivenName`, `BusinessPhone`, `Start`, ...), as the
mapping reads them. A wire side reads a folder through a transport of its own kind (the
same parsing of Exchange's and Graph's answers as the engine's); the stamps it reports are
read from the simulator's store, not through a transport.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import pytest

from exchangesim.pytest_plugin import RunningSim, start_graph_sim, start_sim
from lightningsync.fieldmaps import CONTACT_EXCHANGE_FIELDS
from syncengine.transports.connect import TransportFactory, transport_for
from syncengine.transports.memory import CALENDAR, MemoryTransport
from syncengine.transports.protocol import EVENT_FIELDS, CalendarItemType, ChangeKind

from .ews_fixtures import (
    GRAPH_WRITE_OPERATIONS,
    WRITE_OPERATIONS,
    ews_settings,
    point_setup_at,
    point_setup_at_graph,
    stamps,
)
from .ews_rep import SYNC_FOLDER, SimRep
from .graph_fixtures import GraphRep, grant_app_roles, graph_settings

TRANSPORTS = ("memory", "ews", "graph")
WIRE_TRANSPORTS = ("ews", "graph")
GRAPH_EVENT_WRITES = ("graph:createEvent", "graph:updateEvent", "graph:deleteEvent")
# How far back a wire side lists the calendar: before any window the machines configure.
_LISTING_DAYS = 100
_mailboxes = itertools.count(1)


@dataclass
class SeenItem:
    """An item of a folder: its id as the transport names it, its fields, our stamps."""

    id: str
    fields: dict[str, Any]
    org_stamp: str | None
    crm_stamp: str | None


class MailboxSide(Protocol):
    smtp: str
    org_id: str

    @property
    def transport_factory(self) -> TransportFactory | None: ...
    def create_contact(self, fields: dict[str, Any]) -> str: ...
    def update_contact(self, item_id: str, **fields: Any) -> None: ...
    def create_event(self, fields: dict[str, Any], *, categories: tuple[str, ...] = (),
                     series: bool = False) -> str: ...
    def update_event(self, item_id: str, **fields: Any) -> None: ...
    def set_categories(self, item_id: str, categories: tuple[str, ...]) -> None: ...
    def delete(self, item_id: str) -> None: ...
    def holds(self, item_id: str, calendar: bool = False) -> bool: ...
    def contacts(self) -> list[SeenItem]: ...
    def events(self) -> list[SeenItem]: ...
    def writes(self) -> dict[str, int]: ...
    def reset_counters(self) -> None: ...


class MemorySide:
    def __init__(self, org_id: str, smtp: str) -> None:
        self.org_id, self.smtp = org_id, smtp
        self.mailbox = MemoryTransport(org_id=org_id)

    @property
    def transport_factory(self) -> TransportFactory:
        return lambda settings: self.mailbox

    def create_contact(self, fields: dict[str, Any]) -> str:
        return self.mailbox.rep_create(fields)

    def update_contact(self, item_id: str, **fields: Any) -> None:
        self.mailbox.rep_update(item_id, **fields)

    def create_event(self, fields: dict[str, Any], *, categories: tuple[str, ...] = (),
                     series: bool = False) -> str:
        return self.mailbox.rep_create_event(
            fields, categories=categories,
            item_type=CalendarItemType.RECURRING_MASTER if series else CalendarItemType.SINGLE)

    def update_event(self, item_id: str, **fields: Any) -> None:
        self.mailbox.rep_update(item_id, **fields)

    def set_categories(self, item_id: str, categories: tuple[str, ...]) -> None:
        self.mailbox.rep_set_categories(item_id, categories)

    def delete(self, item_id: str) -> None:
        self.mailbox.rep_delete(item_id)

    def holds(self, item_id: str, calendar: bool = False) -> bool:
        folder = CALENDAR if calendar else self.mailbox.mailbox.contact_folder_id()
        return self.mailbox.mailbox.items[item_id].folder == folder

    def _seen(self, folder: str | None) -> list[SeenItem]:
        return [SeenItem(i.id, dict(i.fields), i.org_stamp, i.crm_stamp)
                for i in self.mailbox.folder_items(folder)]

    def contacts(self) -> list[SeenItem]:
        return self._seen(None)

    def events(self) -> list[SeenItem]:
        return self._seen(CALENDAR)

    def writes(self) -> dict[str, int]:
        return dict(self.mailbox.writes)

    def reset_counters(self) -> None:
        self.mailbox.reset_counters()


class WireSide:
    """A fresh mailbox on a simulator the org's Setup points at (`point_setup`)."""

    def __init__(self, running: RunningSim, transport: str, org_id: str, smtp: str) -> None:
        self.running, self.transport, self.org_id, self.smtp = running, transport, org_id, smtp
        self.sim = running.sim
        self.sim.clear_faults()
        self.sim.add_mailbox(smtp)
        self.rep = (GraphRep if transport == "graph" else SimRep)(self.sim, smtp)

    @property
    def transport_factory(self) -> None:
        return None  # the engine's own: Setup -> connection method -> transport

    def _ews_id(self, item_id: str) -> str:
        return str(self.sim.ews_id(item_id)) if self.transport == "graph" else item_id

    def create_contact(self, fields: dict[str, Any]) -> str:
        if not self._has_sync_folder():  # as the memory side: the rep made the folder
            self.sim.create_folder(self.smtp, "Salesforce_Sync", "contacts", "IPF.Contact")
        return self.rep.create({k: v for k, v in fields.items() if v is not None})

    def update_contact(self, item_id: str, **fields: Any) -> None:
        self.rep.update(item_id, **fields)

    def create_event(self, fields: dict[str, Any], *, categories: tuple[str, ...] = (),
                     series: bool = False) -> str:
        return self.rep.create_event(fields, categories=categories, recurring=series)

    def update_event(self, item_id: str, **fields: Any) -> None:
        self.rep.update_event(item_id, **fields)

    def set_categories(self, item_id: str, categories: tuple[str, ...]) -> None:
        self.rep.set_categories(item_id, categories)

    def delete(self, item_id: str) -> None:
        self.rep.delete(item_id)

    def holds(self, item_id: str, calendar: bool = False) -> bool:
        folder = "calendar" if calendar else SYNC_FOLDER
        if not calendar and not self._has_sync_folder():
            return False
        return self._ews_id(item_id) in {i["id"] for i in self.sim.items(self.smtp, folder)}

    def _has_sync_folder(self) -> bool:
        return any(f.get("path", "").rstrip("/").endswith(SYNC_FOLDER)
                   for f in self.sim.folders(self.smtp))

    def _reader(self) -> Any:
        settings = (graph_settings(self.running, self.smtp, org_id=self.org_id)
                    if self.transport == "graph"
                    else ews_settings(self.running, self.smtp, org_id=self.org_id))
        return transport_for(settings)

    def _stamps(self, folder: str) -> dict[str, dict[str, str]]:
        return {i["id"]: stamps(i) for i in self.sim.items(self.smtp, folder)}

    def _seen(self, item: Any, stamped: dict[str, dict[str, str]],
              extra: dict[str, Any] | None = None) -> SeenItem:
        ours = stamped.get(self._ews_id(item.id), {})
        return SeenItem(item.id, {**item.fields, **(extra or {})},
                        ours.get("LightningSyncOrgId"), ours.get("LightningSyncCrmId"))

    def contacts(self) -> list[SeenItem]:
        if not self._has_sync_folder():
            return []
        reader = self._reader()
        try:
            folder = reader.find_contact_folder()
            ids = [c.id for page in reader.changes(folder, None) for c in page.changes
                   if c.kind != ChangeKind.DELETE]
            got = reader.get_items(folder, ids, list(CONTACT_EXCHANGE_FIELDS)) if ids else []
        finally:
            reader.close()
        stamped = self._stamps(SYNC_FOLDER)
        return [self._seen(i, stamped) for i in got]

    def events(self) -> list[SeenItem]:
        """The calendar's items: singles read in full; a series (or its occurrences, as
        Graph's calendar view lists them) by the fields that decide whether it syncs."""
        since = dt.datetime.now(dt.UTC) - dt.timedelta(days=_LISTING_DAYS)
        reader = self._reader()
        try:
            folder = reader.calendar_folder()
            metas = {c.id: c.event for page in reader.changes(folder, None, since=since)
                     for c in page.changes if c.kind != ChangeKind.DELETE and c.event}
            singles = [i for i, m in metas.items() if m.item_type == CalendarItemType.SINGLE]
            got = reader.get_items(folder, singles, EVENT_FIELDS) if singles else []
        finally:
            reader.close()
        stamped = self._stamps("calendar")
        seen = []
        for item in got:
            assert not isinstance(item, Exception) and hasattr(item, "fields"), item
            meta = metas[item.id]
            seen.append(self._seen(item, stamped, {
                "CalendarItemType": meta.item_type, "Categories": meta.categories}))
        for item_id, meta in metas.items():
            if meta.item_type != CalendarItemType.SINGLE:
                seen.append(SeenItem(item_id, {"CalendarItemType": meta.item_type,
                                               "Categories": meta.categories,
                                               "End": meta.end}, None, None))
        return seen

    def writes(self) -> dict[str, int]:
        ops = (GRAPH_WRITE_OPERATIONS + GRAPH_EVENT_WRITES if self.transport == "graph"
               else WRITE_OPERATIONS)
        counts = {op: self.sim.request_count(op, self.smtp) for op in ops}
        return {op: n for op, n in counts.items() if n}

    def reset_counters(self) -> None:
        self.sim.reset_counters()


@pytest.fixture(scope="session")
def session_sims(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, RunningSim]]:
    """One simulator per transport for the session, started when first asked for."""
    started: dict[str, RunningSim] = {}

    class Lazy(dict[str, RunningSim]):
        def __missing__(self, transport: str) -> RunningSim:
            running = (start_graph_sim(tmp_path_factory.mktemp("graph-sim"))
                       if transport == "graph" else start_sim())
            started[transport] = running
            self[transport] = running
            return running

    yield Lazy()
    for running in started.values():
        running.close()


def point_setup(transport: str, sims: dict[str, RunningSim]) -> Any:
    """Point the org's Setup at the session's simulator for `transport` (memory: enable it);
    returns a factory of sides, each on a fresh mailbox: `side(org_id)`."""
    from lightningsync.models import LightningSyncSetup

    if transport == "memory":
        setup = LightningSyncSetup.load()
        setup.enabled = True
        setup.save()
    else:
        running = sims[transport]
        point_setup_at_graph(running) if transport == "graph" else point_setup_at(running)
        if transport == "graph":
            grant_app_roles(running)

    def side(org_id: str) -> MailboxSide:
        smtp = f"machine{next(_mailboxes)}@example.com"
        if transport == "memory":
            return MemorySide(org_id, smtp)
        return WireSide(sims[transport], transport, org_id, smtp)

    return side


def from_sim_fields(item: dict[str, Any]) -> dict[str, Any]:
    """A simulator item's contact properties in the transport's names (`to_sim_fields`
    the other way round)."""
    from syncengine.transports.ews.contacts import ADDRESS_LABELS
    from syncengine.transports.protocol import Address

    labels = {v: k for k, v in ADDRESS_LABELS.items()}
    out: dict[str, Any] = {}
    for name, value in item.items():
        if name in ("EmailAddresses", "PhoneNumbers"):
            out.update(value or {})
        elif name == "PhysicalAddresses":
            for label, a in (value or {}).items():
                out[labels[label]] = Address(a.get("Street"), a.get("City"), a.get("State"),
                                             a.get("PostalCode"), a.get("CountryOrRegion"))
        else:
            out[name] = value
    return out


class WireMailbox(WireSide):
    """A mailbox on exchangesim with the memory transport's test-facing words
    (`rep_create`, `folder_items`, `writes`, ...), so that a scenario test written against
    the `mailbox` fixture runs on EWS and on Graph unchanged (`ALL_TRANSPORTS`)."""

    _KINDS = {"CreateItem": "create", "UpdateItem": "update", "DeleteItem": "delete",
              "MoveItem": "delete", "graph:createContact": "create",
              "graph:updateContact": "update", "graph:deleteContact": "delete"}

    def __init__(self, running: RunningSim, transport: str, org_id: str, smtp: str) -> None:
        self.running, self.transport, self.org_id, self.smtp = running, transport, org_id, smtp
        self.sim = running.sim
        self.sim.add_mailbox(smtp)
        self.rep = (GraphRep if transport == "graph" else SimRep)(self.sim, smtp)

    def rep_create(self, fields: dict[str, Any], *, org_stamp: str | None = None) -> str:
        item_id = self.create_contact(fields)
        if org_stamp is not None:  # stamped by another org's Lightning Sync
            from syncengine.transports.ews.stamps import PROPERTY_SET_ID

            self.sim.set_extended_property(self.smtp, self._ews_id(item_id), org_stamp,
                                           PropertySetId=PROPERTY_SET_ID,
                                           PropertyName="LightningSyncOrgId")
        return item_id

    def rep_move_out(self, item_id: str) -> None:
        self.rep.move_out(item_id)

    def rep_update(self, item_id: str, **fields: Any) -> None:
        self.update_contact(item_id, **fields)

    def rep_delete(self, item_id: str) -> None:
        self.delete(item_id)

    def touch(self, item_id: str) -> None:
        self.rep.touch(item_id)

    def find_contact_folder(self) -> str | None:
        return SYNC_FOLDER if self._has_sync_folder() else None

    def folder_items(self) -> list[SeenItem]:
        return self.contacts()

    def deleted_items(self) -> list[SeenItem]:
        return [SeenItem(i["id"], from_sim_fields(i), None, None)
                for i in self.sim.items(self.smtp, "deleteditems")]

    @property
    def writes(self) -> dict[str, int]:  # type: ignore[override]
        """Item writes since `reset_counters`, as the memory transport counts them."""
        counts: dict[str, int] = {}
        for op, kind in self._KINDS.items():
            n = self.sim.request_count(op, self.smtp)
            if n:
                counts[kind] = counts.get(kind, 0) + n
        return counts


ALL_TRANSPORTS = pytest.mark.parametrize("mailbox", TRANSPORTS, indirect=True)
