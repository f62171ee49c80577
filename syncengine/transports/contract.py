"""The contract every `MailboxTransport` passes (vdirsyncer's StorageTests pattern).

Subclass `TransportContract` in a test module and provide two fixtures: `transport` (a fresh,
empty mailbox whose transport stamps `ORG_ID`) and `rep` (a `RepActions`: what a rep does in
Outlook). The memory transport's subclass is tests/engine/test_memory_transport.py, the EWS
transport's (against exchangesim) tests/engine/test_ews_transport.py. It lives beside the
transports, not in the tests, so that every backend joins the same suite.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

import pytest

from .protocol import (
    EVENT_FIELDS,
    Address,
    CalendarItemType,
    Change,
    ChangeKind,
    ChangePage,
    ErrorKind,
    EventMeta,
    ExchangeItem,
    FieldValue,
    FolderKind,
    FolderRef,
    ItemFailure,
    ItemRef,
    ItemUpdate,
    MailboxTransport,
    NewItem,
    TransportError,
)

ORG_ID = "5d6f1f4e-0000-4000-8000-000000000001"
FIELDS = [
    "GivenName",
    "Surname",
    "EmailAddress1",
    "CompanyName",
    "BusinessPhone",
    "Birthday",
    "BusinessAddress",
    "Body",
]


class RepActions(Protocol):
    """A rep working in Outlook on the transport's mailbox (never through the transport)."""

    def create(self, fields: dict[str, object]) -> str: ...
    def update(self, item_id: str, **fields: object) -> None: ...
    def delete(self, item_id: str) -> None: ...
    def move_out(self, item_id: str) -> None: ...
    def touch(self, item_id: str) -> None: ...
    def delete_folder(self) -> None:
        """Delete Salesforce_Sync in Outlook: it moves, id and items, under Deleted Items."""
        ...

    def create_event(self, fields: dict[str, object], *, categories: tuple[str, ...] = (),
                     attendees: tuple[str, ...] = (), recurring: bool = False) -> str:
        """A calendar item in the default Calendar (`EVENT_FIELDS` names; Start/End aware,
        or dates with IsAllDayEvent, End exclusive); `recurring`: a weekly series of 3."""
        ...

    def update_event(self, item_id: str, **fields: object) -> None: ...
    def set_categories(self, item_id: str, categories: tuple[str, ...]) -> None: ...


def _contact(n: int, **extra: FieldValue) -> NewItem:
    return NewItem(
        str(1000 + n),
        {
            "GivenName": f"Ada{n}",
            "Surname": "Lovelace",
            "EmailAddress1": f"ada{n}@example.com",
            **extra,
        },
    )


def _listing(
    transport: MailboxTransport, folder: FolderRef, cursor: str | None, page_size: int = 512
) -> tuple[list[Change], str]:
    changes: list[Change] = []
    last: ChangePage | None = None
    for page in transport.changes(folder, cursor, page_size):
        changes += page.changes
        last = page
    assert last is not None and not last.more
    return changes, last.cursor


def _create(transport: MailboxTransport, folder: FolderRef, items: list[NewItem]) -> list[ItemRef]:
    """Create `items`; each must succeed."""
    refs = []
    for result in transport.create_items(folder, items):
        assert result.ok and result.id and result.change_key, result
        refs.append(ItemRef(result.id, result.change_key))
    return refs


def _one(transport: MailboxTransport, folder: FolderRef, item_id: str) -> ExchangeItem:
    (got,) = transport.get_items(folder, [item_id], FIELDS)
    assert isinstance(got, ExchangeItem), got
    return got


# --- the calendar (SPEC §5): listed with the deciding fields, read in full on demand --------

_AT = dt.datetime(2026, 3, 10, 15, 30, tzinfo=dt.UTC)


def _event(**extra: object) -> dict[str, object]:
    return {"Subject": "Pipeline review", "Start": _AT, "End": _AT + dt.timedelta(hours=1),
            "Location": "Room 4", "Body": "Agenda: Q2", "LegacyFreeBusyStatus": "Busy",
            **extra}


class CalendarContract:
    """The calendar half of the contract; mixed into `TransportContract`."""

    def _calendar(self, transport: MailboxTransport) -> FolderRef:
        return transport.calendar_folder()

    def test_the_calendar_lists_items_with_the_deciding_fields(
        self, transport: MailboxTransport, rep: RepActions
    ) -> None:
        calendar = self._calendar(transport)
        plain = rep.create_event(_event())
        private = rep.create_event(_event(Subject="Doctor", Sensitivity="Private"),
                                   categories=("Salesforce", "Blue"))
        all_day = rep.create_event({"Subject": "Offsite", "IsAllDayEvent": True,
                                    "Start": dt.date(2026, 3, 12), "End": dt.date(2026, 3, 14)})
        series = rep.create_event(_event(Subject="Weekly 1:1"), recurring=True)
        changes, cursor = _listing(transport, calendar, None)
        by_id = {c.id: c for c in changes}
        assert set(by_id) == {plain, private, all_day, series}
        assert all(c.kind == ChangeKind.CREATE and c.change_key for c in changes)
        meta = {i: by_id[i].event for i in by_id}
        assert meta[plain] == EventMeta(_AT, _AT + dt.timedelta(hours=1), False, "Normal", (),
                                        CalendarItemType.SINGLE)
        private_meta, series_meta = meta[private], meta[series]
        assert private_meta is not None and private_meta.sensitivity == "Private"
        assert private_meta.categories == ("Salesforce", "Blue")
        assert meta[all_day] == EventMeta(dt.date(2026, 3, 12), dt.date(2026, 3, 14), True)
        assert series_meta is not None
        assert series_meta.item_type == CalendarItemType.RECURRING_MASTER
        assert _listing(transport, calendar, cursor)[0] == []

    def test_a_calendar_change_and_delete_are_listed(
        self, transport: MailboxTransport, rep: RepActions
    ) -> None:
        calendar = self._calendar(transport)
        kept = rep.create_event(_event())
        gone = rep.create_event(_event(Subject="Cancelled"))
        _, cursor = _listing(transport, calendar, None)
        rep.set_categories(kept, ("salesforce",))
        rep.delete(gone)
        changes, _ = _listing(transport, calendar, cursor)
        assert {(c.kind, c.id) for c in changes} == {
            (ChangeKind.UPDATE, kept), (ChangeKind.DELETE, gone)}
        (update,) = [c for c in changes if c.kind == ChangeKind.UPDATE]
        assert update.event is not None and update.event.categories == ("salesforce",)

    def test_calendar_items_are_read_in_full_in_chunks(
        self, transport: MailboxTransport, rep: RepActions
    ) -> None:
        calendar = self._calendar(transport)
        ids = [rep.create_event(_event(Subject=f"Call {n}"),
                                attendees=(f"client{n}@customer.example",))
               for n in range(105)]
        all_day = rep.create_event({"Subject": "Offsite", "IsAllDayEvent": True,
                                    "Start": dt.date(2026, 3, 12), "End": dt.date(2026, 3, 13)})
        got = transport.get_items(calendar, [*ids, all_day], EVENT_FIELDS)
        assert all(isinstance(g, ExchangeItem) for g in got)
        first = got[0]
        assert isinstance(first, ExchangeItem)
        assert first.fields == {
            "Subject": "Call 0", "Start": _AT, "End": _AT + dt.timedelta(hours=1),
            "IsAllDayEvent": False, "Location": "Room 4", "Body": "Agenda: Q2",
            "LegacyFreeBusyStatus": "Busy", "Sensitivity": "Normal",
        }
        assert "client0@customer.example" in first.addresses
        assert [g.fields["Subject"] for g in got if isinstance(g, ExchangeItem)][:3] == [
            "Call 0", "Call 1", "Call 2"]
        last = got[-1]
        assert isinstance(last, ExchangeItem)
        assert (last.fields["Start"], last.fields["End"], last.fields["IsAllDayEvent"]) == (
            dt.date(2026, 3, 12), dt.date(2026, 3, 13), True)

    def test_a_calendar_item_is_stamped_and_the_listing_shows_it(
        self, transport: MailboxTransport, rep: RepActions
    ) -> None:
        calendar = self._calendar(transport)
        item_id = rep.create_event(_event())
        (listed,), cursor = _listing(transport, calendar, None)
        assert (listed.org_stamp, listed.crm_stamp) == (None, None)
        assert listed.change_key is not None
        (result,) = transport.update_items([ItemUpdate(
            ItemRef(item_id, listed.change_key), {}, crm_stamp="77", kind=FolderKind.CALENDAR)])
        assert result.ok and result.change_key and result.change_key != listed.change_key
        (again,), _ = _listing(transport, calendar, cursor)
        assert (again.kind, again.org_stamp, again.crm_stamp) == (
            ChangeKind.UPDATE, ORG_ID, "77")
        assert again.change_key == result.change_key
        (read,) = transport.get_items(calendar, [item_id], EVENT_FIELDS)
        assert isinstance(read, ExchangeItem) and read.fields["Subject"] == "Pipeline review"
        assert (read.org_stamp, read.crm_stamp) == (ORG_ID, "77")


    def test_stamps_started_while_the_calendar_is_listed_are_answered_in_order(
        self, transport: MailboxTransport, rep: RepActions
    ) -> None:
        """`start_update_items` gives the answers `update_items` would (a stale change key
        refused per item), while the caller lists and reads meanwhile."""
        calendar = self._calendar(transport)
        ids = [rep.create_event(_event()) for _ in range(3)]
        listed, cursor = _listing(transport, calendar, None)
        keys = {c.id: c.change_key or "" for c in listed}
        first = transport.start_update_items([ItemUpdate(
            ItemRef(i, keys[i]), {}, crm_stamp=str(n), kind=FolderKind.CALENDAR)
            for n, i in enumerate(ids[:2])])
        stale = transport.start_update_items([ItemUpdate(
            ItemRef(ids[2], keys[ids[0]]), {}, crm_stamp="9", kind=FolderKind.CALENDAR)])
        read = transport.get_items(calendar, ids, EVENT_FIELDS)
        assert all(isinstance(r, ExchangeItem) for r in read)
        a, b = first.result()
        (refused,) = stale.result()
        assert a.ok and b.ok and a.change_key != keys[ids[0]]
        assert refused.error is not None and refused.error.kind == ErrorKind.CONFLICT
        again, _ = _listing(transport, calendar, cursor)
        assert {(c.id, c.change_key, c.crm_stamp) for c in again} == {
            (ids[0], a.change_key, "0"), (ids[1], b.change_key, "1")}


class TransportContract(CalendarContract):
    # Whether a change listing tells an item created since the cursor from one updated.
    # Graph's delta does not: after the initial listing it reports both as updates (the
    # engine tells them apart by its links, so nothing depends on it).
    tells_creations = True

    @pytest.fixture
    def transport(self) -> MailboxTransport:
        raise NotImplementedError

    @pytest.fixture
    def rep(self, transport: MailboxTransport) -> RepActions:
        raise NotImplementedError

    @pytest.fixture
    def folder(self, transport: MailboxTransport) -> FolderRef:
        return transport.ensure_contact_folder()

    def test_it_creates_salesforce_sync_once(self, transport: MailboxTransport) -> None:
        assert transport.find_contact_folder() is None
        first = transport.ensure_contact_folder()
        again = transport.ensure_contact_folder()
        assert first.created and not again.created
        assert first.id == again.id and first.kind == FolderKind.CONTACTS
        found = transport.find_contact_folder()
        assert found is not None and found.id == first.id

    def test_it_tells_whether_salesforce_sync_is_still_under_contacts(
        self, transport: MailboxTransport, rep: RepActions, folder: FolderRef
    ) -> None:
        item_id = rep.create({"Surname": "Inside"})
        assert transport.folder_is_in_place(folder)
        rep.delete_folder()
        assert not transport.folder_is_in_place(folder)
        assert transport.find_contact_folder() is None
        # Its listing shows nothing: only asking where it is tells.
        assert [c.id for c in _listing(transport, folder, None)[0]] == [item_id]
        fresh = transport.ensure_contact_folder()
        assert fresh.created and fresh.id != folder.id
        assert transport.folder_is_in_place(fresh)

    def test_it_has_a_calendar(self, transport: MailboxTransport) -> None:
        assert transport.calendar_folder().kind == FolderKind.CALENDAR

    def test_it_creates_and_reads_back_with_stamps(
        self, transport: MailboxTransport, folder: FolderRef
    ) -> None:
        address = Address("1 Main St", "Springfield", "IL", "62701", "USA")
        (result,) = transport.create_items(
            folder,
            [
                _contact(
                    1,
                    Birthday=dt.date(1815, 12, 10),
                    BusinessAddress=address,
                    Body="line 1\nline 2",
                )
            ],
        )
        assert result.ok and result.id and result.change_key
        item = _one(transport, folder, result.id)
        assert item.change_key == result.change_key
        assert item.org_stamp == ORG_ID and item.crm_stamp == "1001"
        assert item.fields["GivenName"] == "Ada1"
        assert item.fields["Birthday"] == dt.date(1815, 12, 10)
        assert item.fields["BusinessAddress"] == address
        assert item.fields["Body"] == "line 1\nline 2"
        assert item.fields["CompanyName"] is None
        assert item.last_modified is not None and item.last_modified.tzinfo is not None

    def test_it_lists_everything_then_nothing(
        self, transport: MailboxTransport, folder: FolderRef
    ) -> None:
        ids = [r.id for r in _create(transport, folder, [_contact(n) for n in range(3)])]
        changes, cursor = _listing(transport, folder, None)
        assert sorted(c.id for c in changes) == sorted(ids)
        assert {c.kind for c in changes} == {ChangeKind.CREATE}
        assert all(c.org_stamp == ORG_ID and c.change_key for c in changes)
        assert _listing(transport, folder, cursor)[0] == []

    def test_it_pages_and_resumes_from_any_page(
        self, transport: MailboxTransport, folder: FolderRef
    ) -> None:
        ids = [r.id for r in _create(transport, folder, [_contact(n) for n in range(5)])]
        pages = list(transport.changes(folder, None, 2))
        assert [len(p.changes) for p in pages] == [2, 2, 1]
        assert [p.more for p in pages] == [True, True, False]
        rest, _ = _listing(transport, folder, pages[0].cursor)
        assert {c.id for c in pages[0].changes} | {c.id for c in rest} == set(ids)

    def test_it_collapses_create_and_update(
        self, transport: MailboxTransport, rep: RepActions, folder: FolderRef
    ) -> None:
        _, cursor = _listing(transport, folder, None)
        created = rep.create({"GivenName": "Bo", "Surname": "Diddley"})
        rep.update(created, Surname="Diddly")
        doomed = rep.create({"Surname": "Gone"})
        rep.delete(doomed)
        changes, _ = _listing(transport, folder, cursor)
        kind = ChangeKind.CREATE if self.tells_creations else ChangeKind.UPDATE
        assert [(c.kind, c.id) for c in changes] == [(kind, created)]

    def test_it_updates_with_the_change_key_and_moves_it(
        self, transport: MailboxTransport, folder: FolderRef
    ) -> None:
        (r,) = _create(transport, folder, [_contact(1, BusinessPhone="555")])
        _, cursor = _listing(transport, folder, None)
        (u,) = transport.update_items([ItemUpdate(r, {"Surname": "Byron", "BusinessPhone": None})])
        assert u.ok and u.change_key and u.change_key != r.change_key
        item = _one(transport, folder, r.id)
        assert (item.fields["Surname"], item.fields["BusinessPhone"]) == ("Byron", None)
        assert item.change_key == u.change_key
        changes, _ = _listing(transport, folder, cursor)
        assert [(c.kind, c.change_key) for c in changes] == [(ChangeKind.UPDATE, u.change_key)]

    def test_a_stale_change_key_fails_only_that_item(
        self, transport: MailboxTransport, rep: RepActions, folder: FolderRef
    ) -> None:
        a, b = _create(transport, folder, [_contact(1), _contact(2)])
        rep.update(a.id, Surname="Edited by the rep")
        ra, rb = transport.update_items(
            [ItemUpdate(a, {"Surname": "Ours"}), ItemUpdate(b, {"Surname": "Ours"})]
        )
        assert ra.error is not None and ra.error.kind == ErrorKind.CONFLICT
        assert rb.ok
        assert _one(transport, folder, a.id).fields["Surname"] == "Edited by the rep"

    def test_an_update_stamps_the_crm_id(
        self, transport: MailboxTransport, rep: RepActions, folder: FolderRef
    ) -> None:
        item_id = rep.create({"Surname": "Unstamped"})
        item = _one(transport, folder, item_id)
        assert item.org_stamp is None and item.crm_stamp is None
        (u,) = transport.update_items([ItemUpdate(item.ref, {}, crm_stamp="42")])
        assert u.ok
        item = _one(transport, folder, item_id)
        assert (item.org_stamp, item.crm_stamp) == (ORG_ID, "42")

    def test_a_delete_goes_to_deleted_items(
        self, transport: MailboxTransport, folder: FolderRef
    ) -> None:
        (r,) = _create(transport, folder, [_contact(1)])
        _, cursor = _listing(transport, folder, None)
        (d,) = transport.delete_items([r])
        assert d.ok
        (got,) = transport.get_items(folder, [r.id], FIELDS)
        assert isinstance(got, ItemFailure) and got.kind == ErrorKind.NOT_FOUND
        changes, _ = _listing(transport, folder, cursor)
        assert [(c.kind, c.id) for c in changes] == [(ChangeKind.DELETE, r.id)]
        assert transport.count_items(folder) == 0

    def test_moving_out_is_a_delete(
        self, transport: MailboxTransport, rep: RepActions, folder: FolderRef
    ) -> None:
        item_id = rep.create({"Surname": "Mover"})
        _, cursor = _listing(transport, folder, None)
        rep.move_out(item_id)
        changes, _ = _listing(transport, folder, cursor)
        assert [(c.kind, c.id) for c in changes] == [(ChangeKind.DELETE, item_id)]

    def test_opening_an_item_moves_only_its_change_key(
        self, transport: MailboxTransport, rep: RepActions, folder: FolderRef
    ) -> None:
        item_id = rep.create({"Surname": "Opened"})
        before = _one(transport, folder, item_id)
        rep.touch(item_id)
        after = _one(transport, folder, item_id)
        assert after.change_key != before.change_key and after.fields == before.fields

    def test_a_foreign_cursor_is_invalid(
        self, transport: MailboxTransport, folder: FolderRef
    ) -> None:
        with pytest.raises(TransportError) as caught:
            list(transport.changes(folder, "not-a-cursor"))
        assert caught.value.kind == ErrorKind.INVALID_CURSOR

    def test_it_counts_items(self, transport: MailboxTransport, folder: FolderRef) -> None:
        _create(transport, folder, [_contact(n) for n in range(4)])
        assert transport.count_items(folder) == 4
