"""The Graph transport passes the transport contract against exchangesim over TLS, with the
real msal acquiring its token."""

from __future__ import annotations

import pytest

from syncengine.transports.contract import TransportContract
from syncengine.transports.graph.transport import GraphTransport

from .graph_fixtures import GraphRep, graph_settings

MAILBOX = "rep@example.com"


class TestGraphTransport(TransportContract):
    tells_creations = False

    @pytest.fixture
    def transport(self, exchange_sim_graph):  # type: ignore[no-untyped-def]
        exchange_sim_graph.sim.add_mailbox(MAILBOX)
        return GraphTransport.open(graph_settings(exchange_sim_graph, MAILBOX))

    @pytest.fixture
    def rep(self, exchange_sim_graph, transport):  # type: ignore[no-untyped-def]
        return GraphRep(exchange_sim_graph.sim, MAILBOX)
