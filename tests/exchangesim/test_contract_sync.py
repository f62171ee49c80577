"""SyncFolderItems driven page by page with exchangelib's low-level service."""

from __future__ import annotations

import pytest
from exchangelib.errors import ErrorInvalidSyncStateData, ErrorSchemaValidation
from exchangelib.fields import FieldPath
from exchangelib.items import Contact
from exchangelib.properties import ItemId
from exchangelib.services import SyncFolderItems

from .conftest import ALICE, create_sync_folder, folder_ref

ORG_FIELD = [FieldPath(field=Contact.get_field_by_fieldname("org_id"))]


def sync_page(account, folder, state, max_changes=512, fields=ORG_FIELD, shape="IdOnly",
              ignore=None):
    """One SyncFolderItems call: (changes, new state, includes last)."""
    svc = SyncFolderItems(account=account)
    changes = list(
        svc.call(
            folder=folder,
            shape=shape,
            additional_fields=fields,
            sync_state=state,
            ignore=[ItemId(id=i) for i in ignore] if ignore else None,
            max_changes_returned=max_changes,
            sync_scope="NormalItems",
        )
    )
    for c in changes:
        if isinstance(c, Exception):
            raise c
    return changes, svc.sync_state, svc.includes_last_item_in_range


def sync_all(account, folder, state=None, max_changes=512):
    out, pages = [], 0
    while True:
        changes, state, last = sync_page(account, folder, state, max_changes)
        out.extend(changes)
        pages += 1
        if last:
            return out, state, pages


@pytest.fixture
def sync_folder(alice, sim):
    fid = create_sync_folder(alice)
    return fid.id, folder_ref(alice, fid.id)


def test_it_pages_with_a_state_per_page(alice, sim, sync_folder):
    fid, folder = sync_folder
    made = {sim.sim.create_contact(ALICE, folder=fid, GivenName=f"C{i}") for i in range(25)}
    states, seen = [], []
    state, last = None, False
    while not last:
        changes, state, last = sync_page(alice, folder, state, max_changes=10)
        states.append(state)
        seen.extend(item.id for kind, item in changes)
    assert len(states) == 3 and len(set(states)) == 3
    assert sorted(seen) == sorted(made)
    changes, _, last = sync_page(alice, folder, state)
    assert changes == [] and last is True


def test_it_returns_ids_change_keys_and_the_stamp_only(alice, sim, sync_folder):
    fid, folder = sync_folder
    sim.sim.create_contact(
        ALICE,
        folder=fid,
        GivenName="Ann",
        Body="secret notes",
        extended=[
            {
                "PropertySetId": "9e1c2a3b-4d5e-4f60-8a7b-1c2d3e4f5a6b",
                "PropertyName": "LightningSyncOrgId",
                "Value": "org-1",
            }
        ],
    )
    ((kind, item),) = sync_page(alice, folder, None)[0]
    assert kind == "create" and item.id and item.changekey
    assert item.org_id == "org-1" and item.given_name is None and item.body is None


def test_it_never_returns_body(alice, sim, sync_folder):
    fid, folder = sync_folder
    sim.sim.create_contact(ALICE, folder=fid, GivenName="Ann", Body="secret notes")
    fields = [FieldPath(field=Contact.get_field_by_fieldname(n)) for n in ("body", "given_name")]
    ((_kind, item),) = sync_page(alice, folder, None, fields=fields)[0]
    assert item.given_name == "Ann" and item.body is None
    ((_kind, item),) = sync_page(alice, folder, None, fields=None, shape="AllProperties")[0]
    assert item.given_name == "Ann" and item.body is None


def test_it_resumes_from_any_earlier_state(alice, sim, sync_folder):
    fid, folder = sync_folder
    a = sim.sim.create_contact(ALICE, folder=fid, GivenName="A")
    _, s1, _ = sync_all(alice, folder)
    b = sim.sim.create_contact(ALICE, folder=fid, GivenName="B")
    _, s2, _ = sync_all(alice, folder, s1)
    sim.sim.update_item(ALICE, a, GivenName="A2")
    c = sim.sim.create_contact(ALICE, folder=fid, GivenName="C")
    from_s2 = {(k, i.id) for k, i in sync_all(alice, folder, s2)[0]}
    from_s1 = {(k, i.id) for k, i in sync_all(alice, folder, s1)[0]}
    assert from_s2 == {("update", a), ("create", c)}
    assert from_s1 == {("update", a), ("create", b), ("create", c)}
    # Replaying the same old state again gives the same answer.
    assert {(k, i.id) for k, i in sync_all(alice, folder, s1)[0]} == from_s1


def test_it_collapses_changes_like_exchange(alice, sim, sync_folder):
    fid, folder = sync_folder
    keep = sim.sim.create_contact(ALICE, folder=fid, GivenName="Keep")
    gone = sim.sim.create_contact(ALICE, folder=fid, GivenName="Gone")
    _, state, _ = sync_all(alice, folder)
    new = sim.sim.create_contact(ALICE, folder=fid, GivenName="New")
    sim.sim.update_item(ALICE, new, GivenName="New2")  # create + update -> create
    brief = sim.sim.create_contact(ALICE, folder=fid, GivenName="Brief")
    sim.sim.delete_item(ALICE, brief, "HardDelete")  # create + delete -> nothing
    sim.sim.update_item(ALICE, gone, GivenName="Gone2")
    sim.sim.delete_item(ALICE, gone, "HardDelete")  # update + delete -> delete
    sim.sim.update_item(ALICE, keep, GivenName="K2")
    sim.sim.update_item(ALICE, keep, GivenName="K3")  # update + update -> one update
    changes, _, _ = sync_all(alice, folder, state)
    assert sorted((k, i.id) for k, i in changes) == sorted(
        [("create", new), ("delete", gone), ("update", keep)]
    )


def test_ignored_items_are_left_out_of_that_call_and_passed_over(alice, sim, sync_folder):
    """MS-OXWSSYNC Ignore: the items it names are skipped by that call (a client's own
    writes); the state returned is past them, and they count for no page's maximum."""
    fid, folder = sync_folder
    made = [sim.sim.create_contact(ALICE, folder=fid, GivenName=f"C{i}") for i in range(5)]
    _, state, _ = sync_all(alice, folder)
    for item_id in made:
        sim.sim.update_item(ALICE, item_id, GivenName="Changed")
    ignored = [made[1], made[3]]
    first, state, last = sync_page(alice, folder, state, max_changes=2, ignore=ignored)
    assert [i.id for _k, i in first] == [made[0], made[2]] and last is False
    rest, state, last = sync_page(alice, folder, state, max_changes=2)
    assert [i.id for _k, i in rest] == [made[4]] and last is True
    assert sync_all(alice, folder, state)[0] == []
    # Only that call: a later change of an ignored item is listed.
    sim.sim.update_item(ALICE, made[1], GivenName="Again")
    assert [(k, i.id) for k, i in sync_all(alice, folder, state)[0]] == [("update", made[1])]


def test_a_move_out_is_a_delete_here_and_a_create_there(alice, sim, sync_folder):
    fid, folder = sync_folder
    cid = sim.sim.create_contact(ALICE, folder=fid, GivenName="Mover")
    _, state, _ = sync_all(alice, folder)
    contacts = alice.contacts
    _, cstate, _ = sync_all(alice, contacts)
    new_id = sim.sim.move_item(ALICE, cid, "contacts")
    assert [(k, i.id) for k, i in sync_all(alice, folder, state)[0]] == [("delete", cid)]
    assert [(k, i.id) for k, i in sync_all(alice, contacts, cstate)[0]] == [("create", new_id)]


@pytest.mark.parametrize("bad", [513, 100000])  # exchangelib itself refuses < 1
def test_max_changes_out_of_range_is_a_schema_error(alice, sync_folder, bad):
    with pytest.raises(ErrorSchemaValidation, match="MaxChangesReturned"):
        sync_page(alice, sync_folder[1], None, max_changes=bad)


def test_a_forged_state_is_invalid(alice, sim, sync_folder):
    with pytest.raises(ErrorInvalidSyncStateData):
        sync_page(
            alice,
            sync_folder[1],
            "H4sIAAAAAAAEAO29B2AcSZYlJi9tynt/SvVK1+B0oQiAYBMk2JBAEOzBiM3mkuwdaUcjKasqgcplVmVdZhZAzO2dvPfee++999577733",
        )
    # A state of another folder is refused too.
    _, contacts_state, _ = sync_all(alice, alice.contacts)
    with pytest.raises(ErrorInvalidSyncStateData):
        sync_page(alice, sync_folder[1], contacts_state)


def test_folder_sync_items_helper_works_too(alice, sim, sync_folder):
    fid, folder = sync_folder
    sim.sim.create_contact(ALICE, folder=fid, GivenName="A")
    changes = list(folder.sync_items(only_fields=["given_name"]))
    assert [(k, i.given_name) for k, i in changes] == [("create", "A")]
