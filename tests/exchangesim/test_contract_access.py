"""Authentication, impersonation scope, folders, versions and ConvertId through exchangelib."""

from __future__ import annotations

import pytest
import requests
from exchangelib import BASIC, Build, Configuration, Credentials, FailFast, Version
from exchangelib.errors import (
    ErrorFolderExists,
    ErrorImpersonateUserDenied,
    ErrorNonExistentMailbox,
    UnauthorizedError,
)
from exchangelib.fields import FieldPath
from exchangelib.folders import Calendar, Contacts, DeletedItems, Inbox, Root
from exchangelib.items import Contact
from exchangelib.protocol import Protocol
from exchangelib.services import ConvertId, FindFolder, GetFolder

from .conftest import ALICE, BOB, create_sync_folder


def test_it_challenges_anonymous_requests(sim):
    r = requests.post(sim.ews_url, data=b"<x/>", timeout=5)
    assert r.status_code == 401
    challenges = r.raw.headers.getlist("WWW-Authenticate")
    assert any(c.startswith("Basic realm=") for c in challenges) and "NTLM" in challenges


def test_a_wrong_password_is_unauthorized(sim):
    acc = sim.account(ALICE, password="wrong")
    with pytest.raises(UnauthorizedError):
        acc.contacts.all().count()


def test_impersonation_outside_scope_is_denied(sim):
    sim.sim.add_service_account("scoped@example.com", "pw", scope=[BOB])
    with pytest.raises(ErrorImpersonateUserDenied):
        sim.account(ALICE, username="scoped@example.com", password="pw").contacts.all().count()
    assert (
        sim.account(BOB, username="scoped@example.com", password="pw").contacts.all().count() == 0
    )


def test_an_unknown_mailbox_does_not_exist(sim):
    with pytest.raises(ErrorNonExistentMailbox):
        sim.account("nobody@example.com").contacts.all().count()


def test_distinguished_folders_exist(alice):
    got = list(
        GetFolder(account=alice).call(
            folders=[
                Root(account=alice),
                Inbox(root=alice.root),
                Contacts(root=alice.root),
                Calendar(root=alice.root),
                DeletedItems(root=alice.root),
            ],
            additional_fields=[
                FieldPath(field=f)
                for f in Contacts.FIELDS
                if f.name in ("name", "folder_class", "total_count")
            ],
            shape="IdOnly",
        )
    )
    assert [type(f).__name__ for f in got] == [
        "Root",
        "Inbox",
        "Contacts",
        "Calendar",
        "DeletedItems",
    ]
    assert got[2].name == "Contacts" and got[2].folder_class == "IPF.Contact"
    assert alice.msg_folder_root.name == "Top of Information Store"


def test_create_folder_then_find_it(alice, sim):
    fid = create_sync_folder(alice)
    assert sim.sim.folder_id(ALICE, "contacts/Salesforce_Sync") == fid.id
    with pytest.raises(AssertionError, match="ErrorFolderExists"):
        create_sync_folder(alice)
    assert ErrorFolderExists
    folders = list(
        FindFolder(account=alice).call(
            folders=[alice.contacts],
            additional_fields=[FieldPath(field=f) for f in Contacts.FIELDS if f.name == "name"],
            restriction=None,
            shape="IdOnly",
            depth="Shallow",
            max_items=None,
            offset=0,
        )
    )
    assert [f.name for f in folders] == ["Salesforce_Sync"]
    sub = alice.contacts / "Salesforce_Sync"
    assert sub.id == fid.id
    Contact(folder=sub, given_name="In", display_name="In").save()
    assert sub.all().count() == 1 and alice.contacts.all().count() == 0


def test_every_response_carries_server_version_info(sim):
    cfg = Configuration(
        service_endpoint=sim.ews_url,
        credentials=Credentials(sim.username, sim.password),
        auth_type=BASIC,
        retry_policy=FailFast(),
    )
    # No version given: exchangelib probes (with ConvertId) and reads ServerVersionInfo.
    proto = Protocol(config=cfg)
    assert proto.version.build == Build(15, 1, 2507, 6)
    assert proto.version.api_version == "Exchange2016"
    assert sim.sim.request_count("ConvertId") >= 1


def test_an_unknown_request_server_version_is_refused(sim):
    body = (
        b'<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
        b'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types" '
        b'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"><s:Header>'
        b'<t:RequestServerVersion Version="Exchange2099"/></s:Header><s:Body>'
        b'<m:ConvertId DestinationFormat="EwsId"><m:SourceIds/></m:ConvertId></s:Body></s:Envelope>'
    )
    r = requests.post(sim.ews_url, data=body, auth=(sim.username, sim.password), timeout=5)
    assert r.status_code == 500
    assert b"ErrorInvalidServerVersion" in r.content and b"ServerVersionInfo" in r.content


def test_convert_id(alice):
    c = Contact(folder=alice.contacts, given_name="X", display_name="X")
    c.save()
    from exchangelib.properties import AlternateId

    res = list(
        ConvertId(protocol=alice.protocol).call(
            items=[AlternateId(id=c.id, format="EwsId", mailbox=ALICE)], destination_format="EwsId"
        )
    )
    assert res[0].id == c.id


def test_version_fixed_means_no_probe(sim):
    acc = sim.account(ALICE)
    sim.sim.reset_counters()
    acc.contacts.all().count()
    assert sim.sim.request_count("ConvertId") == 0
    assert Version(build=Build(15, 1, 2507, 6)).api_version == "Exchange2016"
