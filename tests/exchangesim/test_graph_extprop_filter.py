"""Listing only the items that hold an extended property: `$filter=singleValueExtendedProperties/
Any(ep: ep/id eq '...' and ...)` on contacts and events, as Microsoft documents it ("Get
singleValueLegacyExtendedProperty"): string values compared without regard to case, items
without the property never listed, the property itself not returned unless expanded."""

from __future__ import annotations

import pytest

from exchangesim.pytest_plugin import GRAPH_CLIENT_ID

from .conftest import ALICE, ORG_GUID, GraphClient

ORG_PROP = f"String {{{ORG_GUID}}} Name LightningSyncOrgId"
CRM_PROP = f"String {{{ORG_GUID}}} Name LightningSyncCrmId"


def holding(prop: str, test: str) -> str:
    return f"singleValueExtendedProperties/Any(ep: ep/id eq '{prop}' and {test})"


def stamped(value: str | None, crm: str | None = None) -> list[dict[str, str]]:
    props = [] if value is None else [{"id": ORG_PROP, "value": value}]
    return props + ([] if crm is None else [{"id": CRM_PROP, "value": crm}])


@pytest.fixture
def folder(graph) -> str:
    r = graph.post(f"/users/{ALICE}/contactFolders", {"displayName": "Salesforce_Sync"})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_contacts_holding_a_stamp_are_listed_by_its_value(graph, folder):
    path = f"/users/{ALICE}/contactFolders/{folder}/contacts"
    made = {}
    for name, org in (("Ours", "ORG-A"), ("Theirs", "org-b"), ("Plain", None), ("Ours2", "org-a")):
        body = {"givenName": name}
        if org is not None:
            body["singleValueExtendedProperties"] = stamped(org, f"crm-{name}")
        made[name] = graph.post(path, body).json()["id"]

    def names(test: str, **extra: str) -> list[str]:
        r = graph.get(path, params={"$filter": holding(ORG_PROP, test),
                                    "$select": "givenName", **extra})
        assert r.status_code == 200, r.text
        return [c["givenName"] for c in r.json()["value"]]

    assert names("ep/value eq 'org-a'") == ["Ours", "Ours2"]  # case-insensitive
    assert names("ep/value ne 'org-a'") == ["Theirs"]  # never the contact without it
    assert names("ep/value ne ''") == ["Ours", "Theirs", "Ours2"]
    assert names("startswith(ep/value, 'ORG-')") == ["Ours", "Theirs", "Ours2"]
    assert names("contains(ep/value, 'G-B')") == ["Theirs"]
    # the lambda variable is the client's choice; Microsoft's own example writes ep/Id
    r = graph.get(path, params={
        "$filter": f"singleValueExtendedProperties/any(x:x/Id eq '{ORG_PROP}' and x/Value eq "
                   "'org-b')"})
    assert [c["id"] for c in r.json()["value"]] == [made["Theirs"]]
    # the matching property is returned only when expanded; pages as any list does
    page = graph.get(path, params={
        "$filter": holding(ORG_PROP, "ep/value ne ''"), "$select": "id,changeKey", "$top": "2",
        "$expand": f"singleValueExtendedProperties($filter=id eq '{ORG_PROP}' or id eq "
                   f"'{CRM_PROP}')"}).json()
    assert [c["id"] for c in page["value"]] == [made["Ours"], made["Theirs"]]
    assert page["value"][0]["singleValueExtendedProperties"] == [
        {"id": ORG_PROP.replace(ORG_GUID, ORG_GUID.lower()), "value": "ORG-A"},
        {"id": CRM_PROP.replace(ORG_GUID, ORG_GUID.lower()), "value": "crm-Ours"},
    ]
    rest = graph.get(page["@odata.nextLink"]).json()
    assert [c["id"] for c in rest["value"]] == [made["Ours2"]]
    assert "@odata.nextLink" not in rest
    plain = graph.get(path, params={"$filter": holding(ORG_PROP, "ep/value eq 'org-a'")}).json()
    assert all("singleValueExtendedProperties" not in c for c in plain["value"])


def test_a_stamp_written_over_ews_is_found_by_the_graph_filter(graph, graph_sim, folder):
    path = f"/users/{ALICE}/contactFolders/{folder}/contacts"
    cid = graph.post(path, {"givenName": "Later"}).json()["id"]
    assert graph.get(path, params={"$filter": holding(ORG_PROP, "ep/value ne ''")}).json()[
        "value"] == []
    graph.patch(f"/users/{ALICE}/contacts/{cid}",
                {"singleValueExtendedProperties": stamped("org-a")})
    found = graph.get(path, params={"$filter": holding(ORG_PROP, "ep/value eq 'org-a'")}).json()
    assert [c["id"] for c in found["value"]] == [cid]


def test_events_holding_a_stamp_and_what_is_refused(graph_sim):
    graph_sim.sim.set_app_roles(GRAPH_CLIENT_ID, ["Contacts.ReadWrite", "Calendars.ReadWrite"])
    graph = GraphClient(graph_sim, graph_sim.token())
    path = f"/users/{ALICE}/calendar/events"
    for n, org in enumerate(("org-a", None, "org-b")):
        body = {
            "subject": f"E{n}",
            "start": {"dateTime": f"2025-01-0{n + 1}T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": f"2025-01-0{n + 1}T10:00:00", "timeZone": "UTC"},
        }
        if org is not None:
            body["singleValueExtendedProperties"] = stamped(org)
        assert graph.post(path, body).status_code == 201
    r = graph.get(path, params={"$filter": holding(ORG_PROP, "ep/value ne ''"),
                                "$select": "subject", "$top": "1000"})
    assert r.status_code == 200, r.text
    assert [e["subject"] for e in r.json()["value"]] == ["E0", "E2"]
    r = graph.get(path, params={"$filter": holding(ORG_PROP, "ep/value eq 'ORG-B'")})
    assert [e["subject"] for e in r.json()["value"]] == ["E2"]

    def refused(filter_: str, where: str = path) -> dict:
        r = graph.get(where, params={"$filter": filter_})
        assert r.status_code == 400, r.text
        return r.json()["error"]

    # Microsoft names the property by id and tests its value: neither alone
    assert refused(f"singleValueExtendedProperties/Any(ep: ep/id eq '{ORG_PROP}')")[
        "code"] == "ErrorInvalidUrlQueryFilter"
    assert refused("singleValueExtendedProperties/Any(ep: ep/value eq 'org-a')")[
        "code"] == "ErrorInvalidUrlQueryFilter"
    # a numeric property is compared through a cast, not as a string
    numeric = "Integer {66f5a359-4659-4830-9070-00047ec6ac6e} Name Pallete"
    assert refused(holding(numeric, "ep/value eq '12'"))["code"] == "ErrorInvalidUrlQueryFilter"
    assert refused(holding("String Name Oops", "ep/value eq 'x'"))[
        "code"] == "ErrorInvalidExtendedPropertyValue"
    # other filters are beyond exchangesim: refused, never ignored
    assert refused("subject eq 'E0'")["code"] == "ErrorInvalidUrlQuery"
    folder = graph.post(f"/users/{ALICE}/contactFolders", {"displayName": "F"}).json()["id"]
    assert refused("givenName eq 'x'", f"/users/{ALICE}/contactFolders/{folder}/contacts")[
        "code"] == "ErrorInvalidUrlQuery"
