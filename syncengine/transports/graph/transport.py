"""`GraphTransport`: a user's contacts over Microsoft Graph v1.0 with an app-only token.

Salesforce_Sync is a contact folder directly under the default Contacts folder. Changes come
from the folder's contacts delta (`$select` of the mapped fields, the page size through
`Prefer: odata.maxpagesize`); each page's link is the cursor the engine saves with the page's
CRM writes. A delta answer carries no extended properties: `stamps` finds each listed
contact's stamps; the page's items are kept until the engine asks for them (`get_items`
then sends nothing). Writes go 20 per `$batch`, each sub-response read on its own. A stale
change key is refused by reading the change keys first (Graph has no conditional update of
contacts). The default Calendar is `calendar`'s (`GraphCalendar`).
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future
from typing import Any

from .. import connect
from ..connect import ConnectionSettings
from ..protocol import (
    Change,
    ChangeKind,
    ChangePage,
    ErrorKind,
    ExchangeItem,
    FolderKind,
    FolderRef,
    ItemFailure,
    ItemRef,
    ItemUpdate,
    NewItem,
    TransportError,
    WriteResult,
    sent_now,
)
from . import contact_json as cj
from . import versions
from .calendar import GraphCalendar
from .client import Answer, GraphClient, SubRequest, page_of_whole_batches
from .stamps import StampLookup

CONTACT_FOLDER_NAME = "Salesforce_Sync"
# The fields a change listing reads (the engine then asks for its mapped fields).
_LISTED_FIELDS = (*cj.SIMPLE, *cj.LISTED, *cj.ADDRESSES, "Birthday")
_LISTABLE = frozenset(_LISTED_FIELDS)


class GraphTransport:
    """One user's mailbox over Graph. Per user and per cycle; not shared across threads."""

    def __init__(self, client: GraphClient, org_id: str) -> None:
        self.client = client
        self.org_id = org_id
        self.user = client.user
        self.mailbox = client.settings.mailbox
        # Items of the last listed page, by id: the entry as listed and its stamps (parsed
        # only when the engine reads it: most of a listing's echo of our own writes is not).
        self._listed: dict[str, tuple[dict[str, Any], versions.Version]] = {}
        self.stamps = StampLookup(client, self._batch)
        self.calendar = GraphCalendar(client, org_id, self._batch, self._failure)

    @classmethod
    def open(cls, settings: ConnectionSettings) -> GraphTransport:
        """The transport of `settings.mailbox` (no request is sent yet)."""
        return cls(GraphClient(settings), settings.org_id)

    # -- helpers ------------------------------------------------------------------------
    def _get(self, url: str, headers: dict[str, str] | None = None) -> Any:
        answer = self.client.send("GET", url, headers=headers)
        if not answer.ok:
            raise self.client.error(answer)
        return answer.body or {}

    def _batch(self, requests_: Sequence[SubRequest]) -> list[Answer]:
        """Sub-answers in order. A sub-request answered 429 (or 503) with Retry-After, or a
        server failure, fails the whole call: the engine keeps the back-off per mailbox, and
        what went through is recognised by its stamps and change keys when the cycle runs
        again. A 5xx that is the item's own (507, a full mailbox) stays the item's answer."""
        answers = self.client.batch(requests_)
        busy = [
            c for c in (self.client.classify(a) for a in answers
                        if a.status == 429 or a.status >= 500)
            if c[0] in (ErrorKind.THROTTLED, ErrorKind.TRANSIENT)
        ]
        if busy:
            throttled = [b for b in busy if b[0] == ErrorKind.THROTTLED]
            kind, message, _ = (throttled or busy)[0]
            longest = max((b[2] or 0.0) for b in busy)
            raise TransportError(kind, message, back_off_seconds=longest or None)
        return answers

    def _failure(self, answer: Answer, item_id: str | None) -> ItemFailure:
        kind, message, _ = self.client.classify(answer)
        if kind in (ErrorKind.AUTHENTICATION, ErrorKind.CONFIGURATION):
            raise TransportError(kind, message)
        return ItemFailure(item_id, kind, message)

    @staticmethod
    def _quote(graph_id: str) -> str:
        return urllib.parse.quote(graph_id, safe="")

    # -- folders ------------------------------------------------------------------------
    def find_contact_folder(self) -> FolderRef | None:
        query = urllib.parse.urlencode(
            {"$filter": f"displayName eq '{CONTACT_FOLDER_NAME}'", "$select": "id,displayName"}
        )
        body = self._get(f"{self.user}/contactFolders?{query}")
        for folder in body.get("value", []):
            if folder.get("displayName") == CONTACT_FOLDER_NAME:
                return FolderRef(FolderKind.CONTACTS, str(folder["id"]))
        return None

    def ensure_contact_folder(self) -> FolderRef:
        found = self.find_contact_folder()
        if found is not None:
            return found
        answer = self.client.send(
            "POST", f"{self.user}/contactFolders", body={"displayName": CONTACT_FOLDER_NAME}
        )
        if answer.status == 409:  # made meanwhile (another worker)
            again = self.find_contact_folder()
            if again is not None:
                return again
        if not answer.ok:
            raise self.client.error(answer)
        return FolderRef(FolderKind.CONTACTS, str(answer.body["id"]), created=True)

    def folder_is_in_place(self, folder: FolderRef) -> bool:
        """One request: is it still among the folders under the default Contacts folder?"""
        found = self.find_contact_folder()
        return found is not None and found.id == folder.id

    def calendar_folder(self) -> FolderRef:
        answer = self.client.send("GET", f"{self.user}/calendar?$select=id")
        if not answer.ok:
            raise self.client.calendar_error(answer)
        return FolderRef(FolderKind.CALENDAR, str((answer.body or {})["id"]))

    def count_items(self, folder: FolderRef) -> int:
        url: str | None = (
            f"{self.user}/contactFolders/{self._quote(folder.id)}/contacts?$select=id&$top=1000"
        )
        count = 0
        while url:
            body = self._get(url)
            count += len(body.get("value", []))
            url = body.get("@odata.nextLink")
        return count

    # -- listing ------------------------------------------------------------------------
    def _delta_path(self, folder: FolderRef) -> str:
        return f"{self.client.root}{self._folder_path(folder)}/contacts/delta"

    def _folder_path(self, folder: FolderRef) -> str:
        return f"{self.user}/contactFolders/{self._quote(folder.id)}"

    def changes(
        self, folder: FolderRef, cursor: str | None, page_size: int = 512,
        *, since: dt.datetime | None = None,
    ) -> Iterator[ChangePage]:
        if folder.kind is FolderKind.CALENDAR:
            yield from self.calendar.changes(folder, cursor, page_size, since)
            return
        initial = not cursor
        if cursor:
            url = cursor
            if not url.startswith(self._delta_path(folder) + "?"):
                raise TransportError(
                    ErrorKind.INVALID_CURSOR, "This delta link is not one of this folder's."
                )
        else:
            select = ",".join(cj.select_for(_LISTED_FIELDS))
            url = f"{self._delta_path(folder)}?{urllib.parse.urlencode({'$select': select})}"
        headers = {"Prefer": f"odata.maxpagesize={page_of_whole_batches(page_size)}"}
        self.stamps.scanned.discard(self._folder_path(folder))
        for entries, link, more in self.client.delta_pages(
                url, headers, "Salesforce_Sync no longer exists."):
            yield ChangePage(self._page_changes(folder, entries, initial), link, more=more)

    def _page_changes(
        self, folder: FolderRef, entries: list[dict[str, Any]], initial: bool
    ) -> list[Change]:
        """A delta page as changes. Graph does not tell a creation from an update: items of
        an initial listing are creations, later ones updates (the engine tells them apart
        by their links)."""
        self._listed = {}
        removed = [str(e["id"]) for e in entries if "@removed" in e]
        present = [e for e in entries if "@removed" not in e and "id" in e]
        found = self.stamps.of_page(self._folder_path(folder), present)
        changes = [Change(ChangeKind.DELETE, item_id) for item_id in removed]
        kind = ChangeKind.CREATE if initial else ChangeKind.UPDATE
        for entry in present:
            item_id = str(entry["id"])
            fresh = found.get(item_id)
            if fresh is None:  # gone since the page was made: its removal comes next round
                continue
            if fresh.change_key == str(entry.get("changeKey") or ""):
                self._listed[item_id] = (entry, fresh)
            changes.append(Change(kind, item_id, fresh.change_key, fresh.org_stamp,
                                  fresh.crm_stamp))
        return changes

    def _kept(self, item_id: str, fields: Sequence[str]) -> ExchangeItem | None:
        """A contact of the last page with `fields`, when the listing holds them all."""
        kept = self._listed.pop(item_id, None)
        if kept is None:
            return None
        entry, fresh = kept
        listed = [f for f in fields if f not in fresh.extended]
        if not _LISTABLE.issuperset(listed):
            return None
        item = cj.read_item(entry, listed)
        values = {f: fresh.extended[f] if f in fresh.extended else item.fields[f] for f in fields}
        return ExchangeItem(item_id, fresh.change_key, fresh.org_stamp, fresh.crm_stamp,
                            item.last_modified, values)

    def _item_path(self, folder: FolderRef, item_id: str) -> str:
        return f"{self._folder_path(folder)}/contacts/{self._quote(item_id)}"

    # -- reading ------------------------------------------------------------------------
    def get_items(
        self, folder: FolderRef, ids: Sequence[str], fields: Sequence[str]
    ) -> list[ExchangeItem | ItemFailure]:
        if folder.kind is FolderKind.CALENDAR:
            return self.calendar.get_items(ids, fields)
        out: dict[str, ExchangeItem | ItemFailure] = {}
        for item_id in ids:
            kept = self._kept(item_id, fields)
            if kept is not None:
                out[item_id] = kept
        missing = [i for i in dict.fromkeys(ids) if i not in out]
        query = urllib.parse.urlencode(
            {"$select": ",".join(cj.select_for(fields)), "$expand": cj.expand_for(fields)}
        )
        requests_ = [SubRequest("GET", f"{self._item_path(folder, i)}?{query}") for i in missing]
        for item_id, answer in zip(missing, self._batch(requests_), strict=True):
            if answer.ok:
                item = cj.read_item(answer.body, fields)
                self.stamps.remember(item)
                out[item_id] = item
            else:
                out[item_id] = self._failure(answer, item_id)
        return [out[i] for i in ids]

    # -- writing ------------------------------------------------------------------------
    def create_items(self, folder: FolderRef, items: Sequence[NewItem]) -> list[WriteResult]:
        url = f"{self.user}/contactFolders/{self._quote(folder.id)}/contacts"
        requests_ = [
            SubRequest("POST", f"{url}?$select=id,changeKey",
                       cj.write_body({k: v for k, v in item.fields.items() if v is not None},
                                     stamps=(self.org_id, item.crm_stamp)))
            for item in items
        ]
        results = []
        for item, answer in zip(items, self._batch(requests_), strict=True):
            result = self._written(answer, None)
            self.stamps.remember_created(result, self.org_id, item.crm_stamp, item.fields)
            results.append(result)
        return results

    def _written(self, answer: Answer, item_id: str | None) -> WriteResult:
        if answer.ok and isinstance(answer.body, dict):
            return WriteResult(str(answer.body.get("id") or item_id),
                               str(answer.body.get("changeKey") or ""))
        return WriteResult(item_id, error=self._failure(answer, item_id))

    def update_items(self, updates: Sequence[ItemUpdate]) -> list[WriteResult]:
        """PATCH each contact, 20 per `$batch`, if it is still at its change key.

        Graph has no conditional update of a contact, so the change keys (and the lists an
        update rewrites) are read first. A stamp-only update of a contact this process read
        at that very change key is sent without that read: it changes none of the rep's
        fields, and the engine read the contact moments ago, in the same page.
        """
        if not updates:
            return []
        if any(u.kind is FolderKind.CALENDAR for u in updates):
            return self.calendar.stamp(updates)
        self._forget(u.ref.id for u in updates)
        before = {u.ref.id: versions.known(self.mailbox, u.ref.id, u.ref.change_key)
                  for u in updates}
        unread = [u for u in updates if u.fields or before[u.ref.id] is None]
        current = self._current(unread)
        results: dict[int, WriteResult] = {}
        writes: list[tuple[int, SubRequest]] = []
        for n, update in enumerate(updates):
            item_id = update.ref.id
            answer = current.get(item_id)
            if answer is not None and not answer.ok:
                results[n] = WriteResult(item_id, error=self._failure(answer, item_id))
            elif answer is not None and answer.body.get("changeKey") != update.ref.change_key:
                results[n] = WriteResult(item_id, error=ItemFailure(
                    item_id, ErrorKind.CONFLICT, "The contact changed since it was read."))
            else:
                stamps = (self.org_id, update.crm_stamp) if update.crm_stamp else None
                body = cj.write_body(update.fields, current=answer.body if answer else None,
                                     stamps=stamps)
                writes.append((n, SubRequest(
                    "PATCH", f"{self.user}/contacts/{self._quote(item_id)}?$select=id,changeKey",
                    body)))
        answers = self._batch([r for _, r in writes])
        for (n, _), answer in zip(writes, answers, strict=True):
            update = updates[n]
            results[n] = result = self._written(answer, update.ref.id)
            self.stamps.remember_update(update, result, self.org_id, before[update.ref.id])
        return [results[n] for n in range(len(updates))]

    def start_update_items(self, updates: Sequence[ItemUpdate]) -> Future[list[WriteResult]]:
        """Sent at once: the transport's stamp and version caches are not shared with a
        thread."""
        updates = list(updates)
        return sent_now(lambda: self.update_items(updates))

    def _current(self, updates: Sequence[ItemUpdate]) -> dict[str, Answer]:
        """Each contact's change key and the lists the updates rewrite, by id."""
        lists = sorted(set().union(*(cj.lists_touched(u.fields) for u in updates)))
        query = urllib.parse.urlencode({"$select": ",".join(["id", "changeKey", *lists])})
        reads = [SubRequest("GET", f"{self.user}/contacts/{self._quote(u.ref.id)}?{query}")
                 for u in updates]
        return {u.ref.id: a for u, a in zip(updates, self._batch(reads), strict=True)}

    def delete_items(self, refs: Sequence[ItemRef]) -> list[WriteResult]:
        """DELETE moves a contact to Deleted Items; a missing one counts as deleted."""
        self._forget(r.id for r in refs)
        requests_ = [SubRequest("DELETE", f"{self.user}/contacts/{self._quote(r.id)}")
                     for r in refs]
        out = []
        for ref, answer in zip(refs, self._batch(requests_), strict=True):
            if answer.ok or answer.status == 404:
                out.append(WriteResult(ref.id))
            else:
                out.append(WriteResult(ref.id, error=self._failure(answer, ref.id)))
        return out

    def _forget(self, ids: Iterable[str]) -> None:
        """Kept items this transport writes are no longer as listed."""
        for item_id in ids:
            self._listed.pop(item_id, None)

    def close(self) -> None:
        self._listed = {}
        self.calendar.close()


connect.register(connect.OAUTH2, GraphTransport.open)
