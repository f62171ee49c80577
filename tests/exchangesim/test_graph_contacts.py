"""Graph contact folders and contacts: Microsoft's shapes, and one store shared with EWS."""

from __future__ import annotations

from exchangelib import EWSDate
from exchangelib.indexed_properties import EmailAddress, PhoneNumber, PhysicalAddress
from exchangelib.items import Contact

from exchangesim.pytest_plugin import GRAPH_CLIENT_ID

from .conftest import ALICE, BOB, ORG_GUID, create_sync_folder, folder_ref

ORG_PROP = f"String {{{ORG_GUID}}} Name LightningSyncOrgId"
CONTACT_KEYS = [
    "@odata.context",
    "@odata.etag",
    "id",
    "createdDateTime",
    "lastModifiedDateTime",
    "changeKey",
    "categories",
    "parentFolderId",
    "birthday",
    "fileAs",
    "displayName",
    "givenName",
    "initials",
    "middleName",
    "nickName",
    "surname",
    "title",
    "yomiGivenName",
    "yomiSurname",
    "yomiCompanyName",
    "generation",
    "imAddresses",
    "jobTitle",
    "companyName",
    "department",
    "officeLocation",
    "profession",
    "businessHomePage",
    "assistantName",
    "manager",
    "homePhones",
    "mobilePhone",
    "businessPhones",
    "spouseName",
    "personalNotes",
    "children",
    "emailAddresses",
    "homeAddress",
    "businessAddress",
    "otherAddress",
]


def make_folder(graph, user=ALICE, name="Salesforce_Sync") -> str:
    r = graph.post(f"/users/{user}/contactFolders", {"displayName": name})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_contact_folders_are_children_of_the_default_contacts_folder(graph, graph_sim):
    created = graph.post(f"/users/{ALICE}/contactFolders", {"displayName": "Salesforce_Sync"})
    assert created.status_code == 201
    folder = created.json()
    assert folder["@odata.context"].endswith("/contactFolders/$entity")
    assert folder["displayName"] == "Salesforce_Sync"
    contacts_id = graph_sim.sim.folder_id(ALICE, "contacts")
    assert folder["parentFolderId"] == graph_sim.sim.graph_id(contacts_id)
    assert graph_sim.sim.folder_id(ALICE, "contacts/Salesforce_Sync") == graph_sim.sim.ews_id(
        folder["id"]
    )
    make_folder(graph, name="Other")

    found = graph.get(
        f"/users/{ALICE}/contactFolders",
        params={"$filter": "displayName eq 'salesforce_sync'"},
    )
    assert [f["id"] for f in found.json()["value"]] == [folder["id"]]
    listed = graph.get(f"/users/{ALICE}/contactFolders", params={"$top": "1"}).json()
    assert len(listed["value"]) == 1 and "$skip=1" in listed["@odata.nextLink"]
    second = graph.get(listed["@odata.nextLink"]).json()
    assert [f["displayName"] for f in second["value"]] == ["Other"]

    again = graph.post(f"/users/{ALICE}/contactFolders", {"displayName": "Salesforce_Sync"})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "ErrorFolderExists"
    assert graph.get(f"/users/{BOB}/contactFolders").json()["value"] == []


def test_a_contact_created_over_graph_has_every_documented_property(graph, graph_sim):
    folder = make_folder(graph)
    body = {
        "givenName": "Pavel",
        "surname": "Bansky",
        "emailAddresses": [{"address": "pavelb@contoso.com", "name": "Pavel Bansky"}],
        "businessPhones": ["+1 732 555 0102"],
        "mobilePhone": "+1 732 555 0199",
        "homePhones": ["+1 732 555 0150"],
        "companyName": "Contoso",
        "jobTitle": "CFO",
        "department": "Finance",
        "assistantName": "Ann",
        "birthday": "1974-07-22T00:00:00Z",
        "businessAddress": {
            "street": "1 Main St",
            "city": "Redmond",
            "state": "WA",
            "postalCode": "98052",
            "countryOrRegion": "USA",
        },
        "personalNotes": "Met at the fair",
        "title": "Dr.",
        "singleValueExtendedProperties": [{"id": ORG_PROP, "value": "org-1"}],
    }
    r = graph.post(f"/users/{ALICE}/contactFolders/{folder}/contacts", body)
    assert r.status_code == 201, r.text
    contact = r.json()
    assert list(contact) == CONTACT_KEYS
    assert contact["@odata.etag"] == f'W/"{contact["changeKey"]}"'
    assert contact["parentFolderId"] == folder
    assert contact["displayName"] == "Pavel Bansky" and contact["fileAs"] == "Bansky, Pavel"
    for name in ("givenName", "surname", "emailAddresses", "businessPhones", "mobilePhone"):
        assert contact[name] == body[name]
    assert contact["businessAddress"] == body["businessAddress"]
    assert contact["homeAddress"] == {} and contact["imAddresses"] == []
    assert (contact["birthday"], contact["title"]) == ("1974-07-22T00:00:00Z", "Dr.")
    assert (contact["personalNotes"], contact["initials"]) == ("Met at the fair", None)
    assert "singleValueExtendedProperties" not in contact  # only through $expand

    fetched = graph.get(
        f"/users/{ALICE}/contactFolders/{folder}/contacts/{contact['id']}",
        params={
            "$select": "givenName,emailAddresses",
            "$expand": f"singleValueExtendedProperties($filter=id eq '{ORG_PROP}')",
        },
    ).json()
    assert fetched["singleValueExtendedProperties"] == [{"id": ORG_PROP, "value": "org-1"}]
    assert set(fetched) == {
        "@odata.context",
        "@odata.etag",
        "id",
        "givenName",
        "emailAddresses",
        "singleValueExtendedProperties",
    }
    other = graph.get(
        f"/users/{ALICE}/contacts/{contact['id']}",
        params={
            "$expand": "singleValueExtendedProperties($filter=id eq 'String {"
            "00000000-0000-0000-0000-000000000001} Name Nothing')"
        },
    ).json()
    assert "singleValueExtendedProperties" not in other


def test_contacts_written_over_graph_are_read_over_ews(graph, graph_sim):
    folder = make_folder(graph)
    created = graph.post(
        f"/users/{ALICE}/contactFolders/{folder}/contacts",
        {
            "givenName": "Ann",
            "surname": "Lee",
            "emailAddresses": [{"address": "ann@acme.test"}],
            "businessPhones": ["+1 555 0100", "+1 555 0101"],
            "businessAddress": {"city": "Paris", "countryOrRegion": "France"},
            "personalNotes": "VIP",
            "singleValueExtendedProperties": [{"id": ORG_PROP, "value": "org-1"}],
        },
    ).json()
    account = graph_sim.account(ALICE)
    ews_id = graph_sim.sim.ews_id(created["id"])
    (item,) = account.fetch(ids=[(ews_id, None)])
    assert item.changekey == created["changeKey"]
    assert (item.given_name, item.surname, item.body) == ("Ann", "Lee", "VIP")
    assert [e.email for e in item.email_addresses] == ["ann@acme.test"]
    assert {p.label: p.phone_number for p in item.phone_numbers} == {
        "BusinessPhone": "+1 555 0100",
        "BusinessPhone2": "+1 555 0101",
    }
    (address,) = item.physical_addresses
    assert (address.label, address.city, address.country) == ("Business", "Paris", "France")
    assert item.org_id == "org-1"

    patched = graph.patch(
        f"/users/{ALICE}/contacts/{created['id']}", {"jobTitle": "COO", "businessPhones": []}
    ).json()
    assert patched["changeKey"] != created["changeKey"]
    (item,) = account.fetch(ids=[(ews_id, None)])
    assert (item.job_title, item.phone_numbers, item.changekey) == (
        "COO",
        None,
        patched["changeKey"],
    )


def test_contacts_written_over_ews_are_read_over_graph(graph, graph_sim):
    account = graph_sim.account(ALICE)
    folder = create_sync_folder(account)
    contact = Contact(
        folder=folder_ref(account, folder.id),
        given_name="Bea",
        surname="Ng",
        company_name="Acme",
        email_addresses=[EmailAddress(email="bea@acme.test", label="EmailAddress1")],
        phone_numbers=[PhoneNumber(label="MobilePhone", phone_number="+1 555 0111")],
        physical_addresses=[PhysicalAddress(label="Home", street="2 Rue", city="Lyon")],
        display_name="Bea Ng",
        birthday=EWSDate(1980, 5, 4),
        org_id="org-ews",
    )
    contact.save()
    graph_id = graph_sim.sim.graph_id(contact.id)
    got = graph.get(
        f"/users/{ALICE}/contactFolders/{graph_sim.sim.graph_id(folder.id)}/contacts/{graph_id}",
        params={"$expand": f"singleValueExtendedProperties($filter=id eq '{ORG_PROP}')"},
    ).json()
    assert got["changeKey"] == contact.changekey
    assert (got["givenName"], got["surname"], got["companyName"]) == ("Bea", "Ng", "Acme")
    assert got["emailAddresses"] == [{"name": "bea@acme.test", "address": "bea@acme.test"}]
    assert got["mobilePhone"] == "+1 555 0111"
    assert got["homeAddress"] == {"street": "2 Rue", "city": "Lyon"}
    assert got["birthday"].startswith("1980-05-04T")
    assert got["singleValueExtendedProperties"] == [{"id": ORG_PROP, "value": "org-ews"}]

    contact.job_title = "Buyer"
    contact.save(update_fields=["job_title"])
    assert graph.get(f"/users/{ALICE}/contacts/{graph_id}").json()["jobTitle"] == "Buyer"


def test_list_delete_and_errors(graph, graph_sim):
    folder = make_folder(graph)
    path = f"/users/{ALICE}/contactFolders/{folder}/contacts"
    ids = [graph.post(path, {"givenName": f"C{i}"}).json()["id"] for i in range(3)]
    graph_sim.sim.create_distribution_list(
        ALICE, "Team", ["x@example.com"], "contacts/Salesforce_Sync"
    )
    page = graph.get(path, params={"$top": "2", "$select": "givenName"}).json()
    assert [c["givenName"] for c in page["value"]] == ["C0", "C1"]
    rest = graph.get(page["@odata.nextLink"]).json()
    assert [c["id"] for c in rest["value"]] == [ids[2]]  # a distribution list is no contact

    gone = graph.delete(f"{path}/{ids[0]}")
    assert gone.status_code == 204 and gone.content == b""
    assert [i["GivenName"] for i in graph_sim.sim.items(ALICE, "deleteditems")] == ["C0"]
    missing = graph.get(f"{path}/{ids[0]}")
    assert missing.status_code == 404
    assert missing.json()["error"] == {
        "code": "ErrorItemNotFound",
        "message": "The specified object was not found in the store.",
        "innerError": missing.json()["error"]["innerError"],
    }
    malformed = graph.get(f"/users/{ALICE}/contacts/not-an-id")
    assert (malformed.status_code, malformed.json()["error"]["code"]) == (
        400,
        "ErrorInvalidIdMalformed",
    )
    unknown = graph.post(path, {"givenName": "X", "favouriteColour": "red"})
    assert unknown.status_code == 400
    assert unknown.json()["error"]["code"] == "RequestBodyRead"
    assert (
        "'favouriteColour' does not exist on type 'microsoft.graph.contact'"
        in (unknown.json()["error"]["message"])
    )
    # Bob's mailbox does not hold Alice's contacts
    assert graph.get(f"/users/{BOB}/contacts/{ids[1]}").status_code == 404
    # and nothing was written by the refused request
    assert len(graph_sim.sim.items(ALICE, "contacts/Salesforce_Sync")) == 3


def test_users_by_object_id_unknown_users_and_me(graph, graph_sim):
    user_id = graph_sim.sim.user_id(ALICE)
    assert graph.get(f"/users/{user_id}/contactFolders").status_code == 200
    nobody = graph.get("/users/nobody@example.com/contactFolders")
    assert nobody.status_code == 404
    assert nobody.json()["error"]["code"] == "ErrorInvalidUser"
    me = graph.get("/me/contactFolders")
    assert me.status_code == 400
    assert me.json()["error"]["message"] == (
        "/me request is only valid with delegated authentication flow."
    )
    segment = graph.get(f"/users/{ALICE}/mailFolders")
    assert segment.json()["error"]["message"] == "Resource not found for the segment 'mailFolders'."
    assert graph_sim.sim.request_count("graph:listContactFolders", ALICE) == 1
    assert graph_sim.client_id == GRAPH_CLIENT_ID


def test_birthday_and_lengths_are_held_to_exchanges_rules(graph):
    folder = make_folder(graph)
    path = f"/users/{ALICE}/contactFolders/{folder}/contacts"
    bad_date = graph.post(path, {"givenName": "X", "birthday": "yesterday"})
    assert (bad_date.status_code, bad_date.json()["error"]["code"]) == (400, "RequestBodyRead")
    too_long = graph.post(path, {"givenName": "x" * 257})
    assert too_long.status_code == 400
    assert too_long.json()["error"]["code"] == "ErrorItemSavePropertyError"
    assert graph.get(path).json()["value"] == []
