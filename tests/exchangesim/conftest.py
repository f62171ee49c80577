"""Shared set-up for the exchangesim contract tests: two reps' mailboxes, exchangelib helpers."""

from __future__ import annotations

import pytest
from exchangelib.extended_properties import ExtendedProperty
from exchangelib.folders import Folder
from exchangelib.items import CalendarItem, Contact
from exchangelib.properties import DistinguishedFolderId, FolderId, Mailbox
from exchangelib.services import CreateFolder

from exchangesim.pytest_plugin import exchange_sim, exchange_sim_graph, exchange_sim_tls  # noqa: F401

ALICE = "alice@example.com"
BOB = "bob@example.com"
ORG_GUID = "9e1c2a3b-4d5e-4f60-8a7b-1c2d3e4f5a6b"


class OrgId(ExtendedProperty):
    """The org-ID stamp of SPEC §8, registered the way the engine will (lower-case GUID)."""

    property_set_id = ORG_GUID
    property_name = "LightningSyncOrgId"
    property_type = "String"


if "org_id" not in {f.name for f in Contact.FIELDS}:
    Contact.register("org_id", OrgId)
    CalendarItem.register("org_id", OrgId)


@pytest.fixture
def sim(exchange_sim):  # noqa: F811
    exchange_sim.sim.add_mailbox(ALICE, "Alice Rep")
    exchange_sim.sim.add_mailbox(BOB, "Bob Rep")
    return exchange_sim


@pytest.fixture
def alice(sim):
    return sim.account(ALICE)


def create_sync_folder(account, name: str = "Salesforce_Sync"):
    """Salesforce_Sync under Contacts through the CreateFolder service, as the engine does."""
    parent = DistinguishedFolderId(
        id="contacts", mailbox=Mailbox(email_address=account.primary_smtp_address)
    )
    folder = Folder(root=account.root, name=name, folder_class="IPF.Contact")
    res = list(CreateFolder(account=account).call(parent_folder=parent, folders=[folder]))
    assert not isinstance(res[0], Exception), res
    return res[0]


def folder_ref(account, folder_id: str):
    """An exchangelib folder object for an id, without walking the folder tree."""
    from exchangelib.folders import Contacts

    return Contacts(root=account.root, _id=FolderId(id=folder_id))


class GraphClient:
    """Requests to Graph as Microsoft's documentation writes them: absolute URLs, a bearer token.

    The session trusts only the simulator's CA (see ARCHITECTURE.md, "TLS and tokens").
    """

    def __init__(self, running, token: str) -> None:
        self.running = running
        self.base = running.graph_url
        self.session = running.session()
        self.token = token

    def request(self, method: str, path: str, headers=None, **kwargs):
        url = path if path.startswith("https://") else f"{self.base}{path}"
        all_headers = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        return self.session.request(method, url, headers=all_headers, timeout=10, **kwargs)

    def get(self, path: str, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body, **kwargs):
        return self.request("POST", path, json=body, **kwargs)

    def patch(self, path: str, body, **kwargs):
        return self.request("PATCH", path, json=body, **kwargs)

    def delete(self, path: str, **kwargs):
        return self.request("DELETE", path, **kwargs)


@pytest.fixture
def graph_sim(exchange_sim_graph):  # noqa: F811
    exchange_sim_graph.sim.add_mailbox(ALICE, "Alice Rep")
    exchange_sim_graph.sim.add_mailbox(BOB, "Bob Rep")
    return exchange_sim_graph


@pytest.fixture
def graph(graph_sim):
    """A Graph client holding a token msal acquired for the default app."""
    return GraphClient(graph_sim, graph_sim.token())
