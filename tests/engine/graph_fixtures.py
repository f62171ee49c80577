"""Graph's side of the engine tests: the settings the cycle hands `GraphTransport` for a
mailbox on exchangesim (over TLS, with the simulator's tenant and app registration), and a
rep in Outlook speaking Graph ids."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from syncengine.transports.connect import OAUTH2, ConnectionSettings
from syncengine.transports.contract import ORG_ID

from .ews_rep import SYNC_FOLDER, SimRep


def graph_settings(running: Any, mailbox: str, **overrides: Any) -> ConnectionSettings:
    """OAuth 2.0 settings for `mailbox` on the simulator: its authority host and tenant, its
    Graph root, the app's secret, its throwaway CA as the only trust."""
    assert running.ca_pem, "Graph needs the simulator over TLS (fixture exchange_sim_graph)"
    with open(running.ca_pem) as ca:
        ca_bundle = ca.read()
    values: dict[str, Any] = {
        "method": OAUTH2, "mailbox": mailbox, "org_id": ORG_ID,
        "url": "", "username": "", "password": "", "auth_type": "basic",
        "ca_bundle": ca_bundle,
        "timeout_seconds": settings.LIGHTNINGSYNC_EWS_TIMEOUT_SECONDS,
        "max_connections": settings.LIGHTNINGSYNC_EWS_MAX_CONNECTIONS,
        "read_concurrency": settings.LIGHTNINGSYNC_EWS_READ_CONCURRENCY,
        "tenant_id": running.tenant, "client_id": running.client_id,
        "client_secret": running.client_secret, "graph_url": running.base_url,
        "authority_url": running.base_url,
    }
    values.update(overrides)
    return ConnectionSettings(**values)


class GraphRep(SimRep):
    """The rep in Outlook, naming items by their Graph ids."""

    def create(self, fields: dict[str, Any], folder: str = SYNC_FOLDER) -> str:
        return str(self.sim.graph_id(super().create(fields, folder)))

    def update(self, item_id: str, **fields: Any) -> None:
        super().update(self.sim.ews_id(item_id), **fields)

    def delete(self, item_id: str) -> None:
        super().delete(self.sim.ews_id(item_id))

    def move_out(self, item_id: str) -> None:
        super().move_out(self.sim.ews_id(item_id))

    def touch(self, item_id: str) -> None:
        super().touch(self.sim.ews_id(item_id))
