"""The memory transport passes the transport contract."""

from __future__ import annotations

import pytest

from syncengine.transports.contract import ORG_ID, TransportContract
from syncengine.transports.memory import MemoryTransport
from syncengine.transports.protocol import CalendarItemType


class MemoryRep:
    def __init__(self, transport: MemoryTransport) -> None:
        self.t = transport

    def create(self, fields):  # type: ignore[no-untyped-def]
        return self.t.rep_create(fields)

    def update(self, item_id, **fields):  # type: ignore[no-untyped-def]
        self.t.rep_update(item_id, **fields)

    def delete(self, item_id):  # type: ignore[no-untyped-def]
        self.t.rep_delete(item_id)

    def move_out(self, item_id):  # type: ignore[no-untyped-def]
        self.t.rep_move_out(item_id)

    def touch(self, item_id):  # type: ignore[no-untyped-def]
        self.t.touch(item_id)

    def delete_folder(self):  # type: ignore[no-untyped-def]
        self.t.rep_delete_folder()

    def create_event(self, fields, *, categories=(), attendees=(), recurring=False):  # type: ignore[no-untyped-def]
        return self.t.rep_create_event(
            fields, categories=categories, attendees=attendees,
            item_type=CalendarItemType.RECURRING_MASTER if recurring else CalendarItemType.SINGLE)

    def update_event(self, item_id, **fields):  # type: ignore[no-untyped-def]
        self.t.rep_update(item_id, **fields)

    def set_categories(self, item_id, categories):  # type: ignore[no-untyped-def]
        self.t.rep_set_categories(item_id, categories)


class TestMemoryTransport(TransportContract):
    @pytest.fixture
    def transport(self):  # type: ignore[no-untyped-def]
        return MemoryTransport(org_id=ORG_ID)

    @pytest.fixture
    def rep(self, transport):  # type: ignore[no-untyped-def]
        return MemoryRep(transport)
