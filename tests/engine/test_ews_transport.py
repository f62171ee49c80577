"""The EWS transport passes the transport contract against exchangesim (real exchangelib)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import trustme
from exchangelib import Contact
from exchangelib.services import GetItem, SyncFolderItems
from lxml import etree

from syncengine.transports.contract import FIELDS, ORG_ID, TransportContract
from syncengine.transports.ews.client import EWS_VERSION
from syncengine.transports.ews.contact_xml import new_contact_elem
from syncengine.transports.ews.contacts import (
    ADDRESS_LABELS,
    EMAIL_LABELS,
    PHONE_LABELS,
    TEXT_ATTRIBUTES,
    apply_fields,
    display_name,
    new_contact_entries_only,
    read_fields,
)
from syncengine.transports.ews.services import StampItems, UpdateContacts, contact_paths
from syncengine.transports.ews.stamps import CRM_FIELD, ORG_FIELD, PROPERTY_SET_ID, stamp_paths
from syncengine.transports.ews.transport import EwsTransport
from syncengine.transports.protocol import (
    Address,
    ChangeKind,
    ErrorKind,
    ExchangeItem,
    ItemFailure,
    ItemRef,
    ItemUpdate,
    NewItem,
    TransportError,
)

from .ews_fixtures import ews_settings
from .ews_rep import SimRep

MAILBOX = "rep@example.com"


def ews_transport(running, mailbox: str = MAILBOX, **overrides) -> EwsTransport:  # type: ignore[no-untyped-def]
    return EwsTransport.open(ews_settings(running, mailbox, **overrides))


class TestEwsTransport(TransportContract):
    @pytest.fixture
    def transport(self, exchange_sim):  # type: ignore[no-untyped-def]
        exchange_sim.sim.add_mailbox(MAILBOX)
        return ews_transport(exchange_sim)

    @pytest.fixture
    def rep(self, exchange_sim, transport):  # type: ignore[no-untyped-def]
        return SimRep(exchange_sim.sim, MAILBOX)


@pytest.fixture
def sim(exchange_sim):  # type: ignore[no-untyped-def]
    exchange_sim.sim.add_mailbox(MAILBOX)
    return exchange_sim


def test_updating_one_phone_keeps_the_reps_other_phones(sim):  # type: ignore[no-untyped-def]
    transport = ews_transport(sim)
    folder = transport.ensure_contact_folder()
    rep = SimRep(sim.sim, MAILBOX)
    item_id = rep.create(
        {"Surname": "Keeps", "BusinessPhone": "111", "BusinessPhone2": "222", "HomePhone": "333"}
    )
    (item,) = transport.get_items(folder, [item_id], FIELDS)
    assert isinstance(item, ExchangeItem)
    (result,) = transport.update_items([ItemUpdate(item.ref, {"BusinessPhone": "999"})])
    assert result.ok
    stored = sim.sim.item(MAILBOX, item_id)
    assert stored["PhoneNumbers"] == {
        "BusinessPhone": "999",
        "BusinessPhone2": "222",
        "HomePhone": "333",
    }


LONG = "A" * 300  # more characters than exchangelib sends in a name part (255)
EMOJI = "\U0001f600" * 200  # 200 characters, 400 UTF-16 code units: more than Exchange takes


def test_a_name_too_long_for_exchange_fails_only_its_own_create(sim):  # type: ignore[no-untyped-def]
    transport = ews_transport(sim)
    folder = transport.ensure_contact_folder()
    results = transport.create_items(folder, [
        NewItem("1", {"GivenName": "Ada", "Surname": "Before"}),
        NewItem("2", {"GivenName": LONG, "Surname": "Long"}),
        NewItem("3", {"GivenName": EMOJI, "Surname": "Emoji"}),
        NewItem("4", {"GivenName": "Bo", "Surname": "After"}),
    ])
    assert [r.ok for r in results] == [True, False, False, True]
    for failed in (results[1], results[2]):
        assert failed.error is not None
        assert (failed.error.kind, failed.error.too_long) == (ErrorKind.PERMANENT_ITEM, "GivenName")
    assert "255" in results[1].error.message  # type: ignore[union-attr]
    assert sorted(i["Surname"] for i in sim.sim.items(MAILBOX, "contacts/Salesforce_Sync")) == [
        "After", "Before"]


def test_a_name_too_long_for_exchange_fails_only_its_own_update(sim):  # type: ignore[no-untyped-def]
    transport = ews_transport(sim)
    folder = transport.ensure_contact_folder()
    refs = [ItemRef(r.id or "", r.change_key or "") for r in transport.create_items(
        folder, [NewItem(str(n), {"GivenName": "Ann", "Surname": f"N{n}"}) for n in range(4)])]
    sim.sim.reset_counters()
    results = transport.update_items([
        ItemUpdate(refs[0], {"JobTitle": "CFO"}),
        ItemUpdate(refs[1], {"GivenName": LONG, "JobTitle": "CFO"}),
        ItemUpdate(refs[2], {"GivenName": EMOJI, "JobTitle": "CFO"}),
        ItemUpdate(refs[3], {"Surname": "Renamed"}),
    ])
    assert [r.ok for r in results] == [True, False, False, True]
    assert [r.id for r in results] == [ref.id for ref in refs]
    for failed in (results[1], results[2]):
        assert failed.error is not None
        assert (failed.error.kind, failed.error.too_long) == (ErrorKind.PERMANENT_ITEM, "GivenName")
    assert sim.sim.request_count("UpdateItem", MAILBOX) == 1  # one request for the chunk
    stored = {i["id"]: i for i in sim.sim.items(MAILBOX, "contacts/Salesforce_Sync")}
    assert [(stored[r.id]["GivenName"], stored[r.id]["Surname"], stored[r.id].get("JobTitle"))
            for r in refs] == [
        ("Ann", "N0", "CFO"), ("Ann", "N1", None), ("Ann", "N2", None), ("Ann", "Renamed", None)]


def test_it_reads_html_notes_as_text(sim):  # type: ignore[no-untyped-def]
    transport = ews_transport(sim)
    folder = transport.ensure_contact_folder()
    item_id = sim.sim.create_contact(
        MAILBOX,
        folder="contacts/Salesforce_Sync",
        Surname="Html",
        Body="<html><body><p>Met at <b>Expo</b></p><p>Likes &amp; tea</p></body></html>",
        BodyType="HTML",
    )
    (item,) = transport.get_items(folder, [item_id], ["Body"])
    assert isinstance(item, ExchangeItem)
    assert item.fields["Body"] == "Met at Expo\nLikes & tea"


def test_it_ignores_distribution_lists(sim):  # type: ignore[no-untyped-def]
    transport = ews_transport(sim)
    folder = transport.ensure_contact_folder()
    sim.sim.create_distribution_list(
        MAILBOX, "Team", ["a@example.com"], folder="contacts/Salesforce_Sync"
    )
    contact = SimRep(sim.sim, MAILBOX).create({"Surname": "Real"})
    changes = [c for page in transport.changes(folder, None) for c in page.changes]
    assert [c.id for c in changes] == [contact]


def test_it_asks_only_for_ids_and_stamps_when_listing(sim):  # type: ignore[no-untyped-def]
    transport = ews_transport(sim)
    folder = transport.ensure_contact_folder()
    transport.create_items(folder, [NewItem("1", {"Surname": "One", "Body": "secret notes"})])
    sim.sim.reset_counters()
    pages = list(transport.changes(folder, None))
    assert sim.sim.request_count("SyncFolderItems", MAILBOX) == 1
    assert sim.sim.request_count("GetItem", MAILBOX) == 0
    assert pages[0].changes[0].crm_stamp == "1"


def test_a_session_reads_the_proxy_environment_once_for_its_requests(sim, monkeypatch):  # type: ignore[no-untyped-def]
    import requests.sessions

    read = []
    real = requests.sessions.get_environ_proxies
    monkeypatch.setattr(requests.sessions, "get_environ_proxies",
                        lambda url, **kw: (read.append(url), real(url, **kw))[1])
    # Settings of their own: a protocol and a session of their own.
    transport = ews_transport(sim, timeout_seconds=41)
    folder = transport.ensure_contact_folder()  # three requests
    for _ in range(5):
        assert [page.changes for page in transport.changes(folder, None)] == [[]]
    assert read == [sim.ews_url]


def test_the_proxy_environment_still_routes_the_requests(sim, monkeypatch):  # type: ignore[no-untyped-def]
    from .http_doubles import RecordingServer

    with RecordingServer() as proxy:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        transport = ews_transport(sim, timeout_seconds=43)
        with pytest.raises(TransportError):
            transport.ensure_contact_folder()
    assert [r.path for r in proxy.requests][:1] == [sim.ews_url]  # a proxy sees the full URL


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        ("server_busy", ErrorKind.THROTTLED),
        ("http_500", ErrorKind.TRANSIENT),
        ("http_503", ErrorKind.TRANSIENT),
        ("connection_reset", ErrorKind.TRANSIENT),
        ("unauthorized", ErrorKind.AUTHENTICATION),
        ("invalid_sync_state", ErrorKind.INVALID_CURSOR),
    ],
)
def test_it_classifies_server_faults(sim, fault, kind):  # type: ignore[no-untyped-def]
    transport = ews_transport(sim)
    folder = transport.ensure_contact_folder()
    sim.sim.add_fault(fault, operation="SyncFolderItems", back_off_ms=1500)
    with pytest.raises(TransportError) as caught:
        list(transport.changes(folder, None))
    assert caught.value.kind == kind
    if kind == ErrorKind.THROTTLED:
        assert caught.value.back_off_seconds == pytest.approx(1.5)


@pytest.mark.parametrize("concurrency", [1, 2, 3])
def test_reads_of_several_chunks_keep_their_order(sim, settings, concurrency):  # type: ignore[no-untyped-def]
    settings.LIGHTNINGSYNC_EWS_READ_CONCURRENCY = concurrency
    transport = ews_transport(sim)
    folder = transport.ensure_contact_folder()
    ids = [sim.sim.create_contact(MAILBOX, folder="contacts/Salesforce_Sync", Surname=f"N{i:03d}")
           for i in range(230)]
    missing = ids[150]
    sim.sim.delete_item(MAILBOX, missing)  # a vanished item in the middle chunk
    sim.sim.reset_counters()
    got = transport.get_items(folder, ids, FIELDS)
    assert sim.sim.counts()["GetItem"][MAILBOX] == 3  # chunks of 100
    assert [g.id for g in got] == ids
    assert isinstance(got[150], ItemFailure) and got[150].kind == ErrorKind.NOT_FOUND
    assert [g.fields["Surname"] for g in got if isinstance(g, ExchangeItem)] == [
        f"N{i:03d}" for i in range(230) if i != 150]


def test_a_failed_chunk_fails_the_whole_read(sim, settings):  # type: ignore[no-untyped-def]
    settings.LIGHTNINGSYNC_EWS_READ_CONCURRENCY = 2
    transport = ews_transport(sim)
    folder = transport.ensure_contact_folder()
    ids = [sim.sim.create_contact(MAILBOX, folder="contacts/Salesforce_Sync", Surname=f"N{i}")
           for i in range(250)]
    sim.sim.add_fault("server_busy", operation="GetItem", back_off_ms=2000)
    with pytest.raises(TransportError) as caught:
        transport.get_items(folder, ids, FIELDS)
    assert caught.value.kind == ErrorKind.THROTTLED
    assert caught.value.back_off_seconds == pytest.approx(2.0)


def test_a_wrong_password_is_an_authentication_error(sim):  # type: ignore[no-untyped-def]
    transport = ews_transport(sim, password="wrong")
    with pytest.raises(TransportError) as caught:
        transport.find_contact_folder()
    assert caught.value.kind == ErrorKind.AUTHENTICATION
    assert "wrong" not in caught.value.message


def test_a_refused_ntlm_handshake_is_an_authentication_error(sim):  # type: ignore[no-untyped-def]
    sim.sim.set_ntlm(False)  # NTLM advertised, never a challenge
    transport = ews_transport(sim, auth_type="ntlm")
    with pytest.raises(TransportError) as caught:
        transport.find_contact_folder()
    assert caught.value.kind == ErrorKind.AUTHENTICATION
    assert "NTLM" in caught.value.message


def test_a_mailbox_outside_the_scope_is_a_configuration_error(sim):  # type: ignore[no-untyped-def]
    sim.sim.add_mailbox("other@example.com")
    sim.sim.set_scope(sim.username, [MAILBOX])
    with pytest.raises(TransportError) as caught:
        ews_transport(sim, "other@example.com").find_contact_folder()
    assert caught.value.kind == ErrorKind.CONFIGURATION
    with pytest.raises(TransportError) as caught:
        ews_transport(sim, "nobody@example.com").find_contact_folder()
    assert caught.value.kind == ErrorKind.CONFIGURATION


def test_deleting_a_vanished_item_counts_as_deleted(sim):  # type: ignore[no-untyped-def]
    transport = ews_transport(sim)
    folder = transport.ensure_contact_folder()
    (created,) = transport.create_items(folder, [NewItem("7", {"Surname": "Gone"})])
    sim.sim.delete_item(MAILBOX, created.id, mode="HardDelete")
    (result,) = transport.delete_items([ItemRef(created.id, created.change_key)])
    assert result.ok


def test_it_trusts_a_private_ca_bundle(exchange_sim_tls):  # type: ignore[no-untyped-def]
    exchange_sim_tls.sim.add_mailbox(MAILBOX)
    with open(exchange_sim_tls.ca_pem) as f:
        pem = f.read()
    transport = ews_transport(exchange_sim_tls, ca_bundle=pem)
    assert transport.ensure_contact_folder().created


def test_a_changed_auth_type_takes_effect_without_a_restart(sim):  # type: ignore[no-untyped-def]
    # exchangelib shares one connection setup per endpoint and credentials: the transport
    # must not get the Basic one back once Setup says NTLM (the server refuses NTLM).
    sim.sim.set_ntlm(False)
    assert ews_transport(sim).ensure_contact_folder().created
    with pytest.raises(TransportError) as caught:
        ews_transport(sim, auth_type="ntlm").find_contact_folder()
    assert caught.value.kind == ErrorKind.AUTHENTICATION
    assert ews_transport(sim).find_contact_folder() is not None


def test_a_changed_ca_bundle_takes_effect_without_a_restart(exchange_sim_tls):  # type: ignore[no-untyped-def]
    exchange_sim_tls.sim.add_mailbox(MAILBOX)
    with open(exchange_sim_tls.ca_pem) as f:
        right = f.read()
    other = trustme.CA().cert_pem.bytes().decode()
    assert ews_transport(exchange_sim_tls, ca_bundle=right).ensure_contact_folder().created
    with pytest.raises(TransportError) as caught:
        ews_transport(exchange_sim_tls, ca_bundle=other).find_contact_folder()
    assert caught.value.kind == ErrorKind.TRANSIENT and "certificate" in caught.value.message
    assert ews_transport(exchange_sim_tls, ca_bundle=right).find_contact_folder() is not None


def test_birthdays_round_trip_as_dates(sim):  # type: ignore[no-untyped-def]
    transport = ews_transport(sim)
    folder = transport.ensure_contact_folder()
    (r,) = transport.create_items(
        folder, [NewItem("3", {"Surname": "B", "Birthday": dt.date(1990, 2, 28)})]
    )
    (item,) = transport.get_items(folder, [r.id], ["Birthday"])
    assert isinstance(item, ExchangeItem) and item.fields["Birthday"] == dt.date(1990, 2, 28)


# --- the transport reads responses straight from the XML ---------------------------------------
ALL_CONTACT_FIELDS = [
    *sorted(TEXT_ATTRIBUTES),
    *sorted(EMAIL_LABELS),
    *sorted(PHONE_LABELS),
    *sorted(ADDRESS_LABELS),
    "Birthday",
    "Body",
]


def _rich_contacts(sim, folder, transport) -> list[str]:  # type: ignore[no-untyped-def]
    (ours,) = transport.create_items(
        folder,
        [
            NewItem(
                "42",
                {
                    **{name: f"{name} value" for name in TEXT_ATTRIBUTES},
                    **{name: f"{name.lower()}@example.com" for name in EMAIL_LABELS},
                    **{name: f"+1 555 {i:04d}" for i, name in enumerate(sorted(PHONE_LABELS))},
                    "BusinessAddress": Address("1 Main St", "Springfield", "CA", "90001", "US"),
                    "HomeAddress": Address(city="Shelbyville"),
                    "Birthday": dt.date(1980, 5, 4),
                    "Body": "Plain notes\nsecond line",
                },
            )
        ],
    )
    box = "contacts/Salesforce_Sync"
    html = sim.sim.create_contact(
        MAILBOX,
        folder=box,
        GivenName="  ",
        Surname="Html",
        EmailAddresses={"EmailAddress2": "two@example.com"},
        PhoneNumbers={"MobilePhone": "+1 555 0101"},
        PhysicalAddresses={"Other": {"Street": "2 Side St\nFloor 3", "CountryOrRegion": "DE"}},
        Birthday="1975-12-31",
        Body="<html><head><style>p {}</style></head><body><p>Met &amp; liked</p></body></html>",
        BodyType="HTML",
    )
    bare = sim.sim.create_contact(MAILBOX, folder=box, Surname="Bare")
    return [ours.id, html, bare]


def test_reading_contacts_from_the_xml_matches_exchangelib(sim):  # type: ignore[no-untyped-def]
    transport = ews_transport(sim)
    folder = transport.ensure_contact_folder()
    ids = _rich_contacts(sim, folder, transport)
    fast = transport.get_items(folder, ids, ALL_CONTACT_FIELDS)
    slow = list(
        GetItem(account=transport.account, chunk_size=10).call(
            items=[(i, None) for i in ids],
            additional_fields=contact_paths(ALL_CONTACT_FIELDS),
            shape="IdOnly",
        )
    )
    assert len(fast) == len(slow) == 3
    for mine, theirs in zip(fast, slow, strict=True):
        assert isinstance(mine, ExchangeItem)
        assert mine.fields == read_fields(theirs, ALL_CONTACT_FIELDS)
        assert (mine.id, mine.change_key) == (theirs.id, theirs.changekey)
        assert mine.org_stamp == getattr(theirs, ORG_FIELD)
        assert mine.crm_stamp == getattr(theirs, CRM_FIELD)
        assert mine.last_modified is not None and mine.last_modified.tzinfo is not None
        assert mine.last_modified == theirs.last_modified_time
    assert fast[0].fields["Birthday"] == dt.date(1980, 5, 4)
    assert fast[0].fields["HomeAddress"] == Address(city="Shelbyville")
    assert fast[0].crm_stamp == "42" and fast[0].org_stamp == ORG_ID
    assert fast[1].fields["Body"] == "Met & liked"
    assert fast[1].fields["GivenName"] is None
    assert fast[1].fields["Birthday"] == dt.date(1975, 12, 31)
    assert fast[2].fields["BusinessAddress"] is None and fast[2].crm_stamp is None


def test_listing_from_the_xml_matches_exchangelib(sim):  # type: ignore[no-untyped-def]
    transport = ews_transport(sim)
    folder = transport.ensure_contact_folder()
    ids = _rich_contacts(sim, folder, transport)
    sim.sim.create_distribution_list(
        MAILBOX, "Team", ["a@example.com"], folder="contacts/Salesforce_Sync"
    )
    (page,) = transport.changes(folder, None)
    svc = SyncFolderItems(account=transport.account)
    theirs = [
        item
        for _kind, item in svc.call(
            folder=transport._folder(folder.id),
            shape="IdOnly",
            additional_fields=stamp_paths(),
            sync_state=None,
            ignore=None,
            max_changes_returned=512,
            sync_scope="NormalItems",
        )
        if isinstance(item, Contact)
    ]
    assert [c.id for c in page.changes] == [i.id for i in theirs] == ids
    assert [(c.change_key, c.org_stamp, c.crm_stamp) for c in page.changes] == [
        (i.changekey, getattr(i, ORG_FIELD), getattr(i, CRM_FIELD)) for i in theirs
    ]
    assert page.cursor == svc.sync_state and not page.more

    sim.sim.delete_item(MAILBOX, ids[2], mode="HardDelete")
    (after,) = transport.changes(folder, page.cursor)
    assert [(c.kind, c.id, c.change_key) for c in after.changes] == [
        (ChangeKind.DELETE, ids[2], None)
    ]


def test_stamps_match_their_property_set_in_any_case(sim):  # type: ignore[no-untyped-def]
    transport = ews_transport(sim)
    folder = transport.ensure_contact_folder()
    item_id = sim.sim.create_contact(MAILBOX, folder="contacts/Salesforce_Sync", Surname="Up")
    sim.sim.set_extended_property(
        MAILBOX,
        item_id,
        "99",
        PropertySetId=PROPERTY_SET_ID.upper(),
        PropertyName="LightningSyncCrmId",
    )
    sim.sim.set_extended_property(
        MAILBOX,
        item_id,
        "elsewhere",
        PropertySetId=str(uuid.uuid4()),
        PropertyName="LightningSyncOrgId",
    )
    ((change,),) = [page.changes for page in transport.changes(folder, None)]
    assert (change.crm_stamp, change.org_stamp) == ("99", None)
    (item,) = transport.get_items(folder, [item_id], ["Surname"])
    assert isinstance(item, ExchangeItem)
    assert (item.crm_stamp, item.org_stamp) == ("99", None)


def _exchangelib_create_elem(new: NewItem, org_id: str):  # type: ignore[no-untyped-def]
    contact = Contact()
    apply_fields(contact, dict(new.fields))
    new_contact_entries_only(contact)
    contact.display_name = display_name(new.fields)
    setattr(contact, ORG_FIELD, org_id)
    setattr(contact, CRM_FIELD, new.crm_stamp)
    return contact.to_xml(version=EWS_VERSION)


def _shape(elem):  # type: ignore[no-untyped-def]
    qname = etree.QName(elem)
    return (
        qname.namespace,
        qname.localname,
        dict(elem.attrib),
        elem.text,
        [_shape(c) for c in elem],
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"Surname": "Only"},
        {
            **{name: f"{name} <&> value\x01" for name in TEXT_ATTRIBUTES},
            **{name: f"{name.lower()}@example.com" for name in EMAIL_LABELS},
            **{name: f"+1 555 {i:04d}" for i, name in enumerate(sorted(PHONE_LABELS))},
            "BusinessAddress": Address("1 Main St\nFloor 2", "Springfield", "CA", "90001", "US"),
            "HomeAddress": Address(city="Shelbyville"),
            "OtherAddress": Address(),
            "Birthday": dt.date(1980, 5, 4),
            "Body": "Plain notes\nsecond line",
        },
        {
            "GivenName": "",
            "Surname": None,
            "CompanyName": "Acme",
            "EmailAddress1": None,
            "EmailAddress2": "",
            "BusinessPhone": None,
            "BusinessAddress": None,
            "Birthday": None,
            "Body": "",
        },
    ],
)
def test_new_contacts_are_written_as_exchangelib_writes_them(fields):  # type: ignore[no-untyped-def]
    new = NewItem("42", fields)
    mine = new_contact_elem(
        dict(fields), display_name(fields), {ORG_FIELD: ORG_ID, CRM_FIELD: "42"}, EWS_VERSION
    )
    assert _shape(mine) == _shape(_exchangelib_create_elem(new, ORG_ID))


def test_stamps_are_written_as_exchangelib_writes_them(sim):  # type: ignore[no-untyped-def]
    transport = ews_transport(sim)
    options = {"conflict_resolution": "NeverOverwrite", "message_disposition": "SaveOnly",
               "send_meeting_invitations_or_cancellations": "SendToNone",
               "suppress_read_receipts": True}
    contact = Contact(id="AAMkID=", changekey="CQAAAB")
    setattr(contact, ORG_FIELD, ORG_ID)
    setattr(contact, CRM_FIELD, "42")
    theirs = UpdateContacts(account=transport.account).get_payload(
        items=[(contact, [ORG_FIELD, CRM_FIELD])], **options)
    mine = StampItems(account=transport.account).get_payload(
        items=[(("AAMkID=", "CQAAAB", ORG_ID, "42"), ["stamps"])], **options)
    assert _shape(mine) == _shape(theirs)


def test_stamping_writes_both_stamps_and_nothing_else(sim):  # type: ignore[no-untyped-def]
    transport = ews_transport(sim)
    folder = transport.ensure_contact_folder()
    item_id = sim.sim.create_contact(MAILBOX, folder="contacts/Salesforce_Sync", Surname="Rep",
                                     JobTitle="Buyer")
    before = sim.sim.item(MAILBOX, item_id)
    (item,) = transport.get_items(folder, [item_id], FIELDS)
    assert isinstance(item, ExchangeItem)
    stale = ItemUpdate(item.ref, {}, crm_stamp="8")  # its key is stale after the first write
    ok, refused = transport.update_items([ItemUpdate(item.ref, {}, crm_stamp="7")]) + \
        transport.update_items([stale])
    assert ok.ok and ok.change_key and ok.change_key != item.change_key
    assert refused.error is not None and refused.error.kind == ErrorKind.CONFLICT
    after = sim.sim.item(MAILBOX, item_id)
    assert {k: v for k, v in after.items() if k not in ("changekey", "modified", "extended")} == {
        k: v for k, v in before.items() if k not in ("changekey", "modified", "extended")}
    (again,) = transport.get_items(folder, [item_id], FIELDS)
    assert isinstance(again, ExchangeItem)
    assert (again.org_stamp, again.crm_stamp) == (ORG_ID, "7")
