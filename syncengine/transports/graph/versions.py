"""What this process last knew of a contact at a change key: its stamps and the fields kept
in extended properties.

A delta page carries no extended property, so a listed contact's stamps cost one more read
(20 per `$batch`), unless its change key is one this process wrote or read: Exchange moves
the change key on every change, so the same key means the same stamps. The contacts the
engine wrote itself (every push, every stamp) are listed in the next cycle without a read.
Bounded: the oldest entries go first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from ..protocol import FieldValue

MOST = 200_000


@dataclass(frozen=True)
class Version:
    change_key: str
    org_stamp: str | None
    crm_stamp: str | None
    extended: dict[str, FieldValue] = field(default_factory=dict)  # TAGGED fields' values


_known: OrderedDict[tuple[str, str], Version] = OrderedDict()
_lock = threading.Lock()


def remember(mailbox: str, item_id: str, version: Version) -> None:
    key = (mailbox.lower(), item_id)
    with _lock:
        _known[key] = version
        _known.move_to_end(key)
        while len(_known) > MOST:
            _known.popitem(last=False)


def known(mailbox: str, item_id: str, change_key: str) -> Version | None:
    """The version of `item_id` at `change_key`, when this process knows it."""
    with _lock:
        found = _known.get((mailbox.lower(), item_id))
    return found if found is not None and found.change_key == change_key else None


def forget(mailbox: str, item_id: str) -> None:
    with _lock:
        _known.pop((mailbox.lower(), item_id), None)


def forget_all() -> None:
    """As a new process starts (tests)."""
    with _lock:
        _known.clear()
