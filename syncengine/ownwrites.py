"""The engine's own writes, listed back (contacts and events): one rule for both.

Exchange lists changes in the order they were made, so a write the engine makes while it
walks a folder's listing (a stamp on an item a page linked) shows up again further on. Such
an entry, with the very change key the write returned, is our own write: it is left out
before anything is read for it. (EWS `Ignore` would leave it out on the server, but only in
the request that reaches it, long after the write, hiding any edit the rep made meanwhile:
a change key names one version of the item, and tells.)
"""

from __future__ import annotations

from .transports.protocol import ChangeKind, ChangePage

OwnWrites = dict[str, str]  # item id → the change key our write returned


def without_own_writes(page: ChangePage, own: OwnWrites | None) -> ChangePage:
    """The page without the entries that are our own writes listed back (deletes stay)."""
    if not own:
        return page
    return ChangePage([c for c in page.changes
                       if c.kind == ChangeKind.DELETE or own.get(c.id) != c.change_key],
                      page.cursor, page.more)
