"""Our stamps (SPEC §8) on Graph contacts, and how a listing learns them.

A delta answer carries no extended property, so the stamps of listed contacts come from
elsewhere: what this process knows at that change key (`versions`: its own writes and reads
cost nothing), the whole folder's list 1,000 per request when a page holds many unknown
ones (an initial listing, a reset), else a read per contact, 20 per `$batch`.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any

from ..protocol import ExchangeItem, ItemUpdate, WriteResult
from . import contact_json as cj
from . import versions
from .client import Answer, GraphClient, SubRequest

# A page with this many contacts of unknown stamps reads the folder's stamps in full, once
# per listing: 20 per `$batch` would cost 50 requests per 1,000 contacts.
SCAN_FROM = 100
SCAN_PAGE = 1000


class StampLookup:
    def __init__(
        self, client: GraphClient, batch: Callable[[Sequence[SubRequest]], list[Answer]]
    ) -> None:
        self.client = client
        self.batch = batch
        self.mailbox = client.settings.mailbox
        self.scanned: set[str] = set()  # folders read in full during this listing

    def of_page(
        self, folder_path: str, entries: list[dict[str, Any]]
    ) -> dict[str, versions.Version]:
        """The stamps of a delta page's contacts still in the folder, by id."""
        found = self._known(entries)
        if len(entries) - len(found) >= SCAN_FROM and folder_path not in self.scanned:
            self._scan(folder_path)
            found = self._known(entries)
        unknown = [str(e["id"]) for e in entries if str(e["id"]) not in found]
        found.update(self._read(folder_path, unknown))
        return found

    def _known(self, entries: list[dict[str, Any]]) -> dict[str, versions.Version]:
        found: dict[str, versions.Version] = {}
        for entry in entries:
            known = versions.known(self.mailbox, str(entry["id"]),
                                   str(entry.get("changeKey") or ""))
            if known is not None and set(known.extended) >= set(cj.TAGGED):
                found[str(entry["id"])] = known
        return found

    def _scan(self, folder_path: str) -> None:
        """Every contact of the folder, `SCAN_PAGE` per request (a list, unlike a delta,
        expands extended properties)."""
        self.scanned.add(folder_path)
        query = urllib.parse.urlencode({
            "$select": "id,changeKey", "$expand": cj.expand_for(cj.TAGGED),
            "$top": str(SCAN_PAGE),
        })
        url: str | None = f"{folder_path}/contacts?{query}"
        while url:
            answer = self.client.send("GET", url)
            if not answer.ok:
                raise self.client.error(answer)
            body = answer.body or {}
            for entry in body.get("value", []):
                self.remember(cj.read_item(entry, tuple(cj.TAGGED)))
            url = body.get("@odata.nextLink")

    def _read(self, folder_path: str, ids: list[str]) -> dict[str, versions.Version]:
        query = urllib.parse.urlencode(
            {"$select": "id,changeKey", "$expand": cj.expand_for(cj.TAGGED)}
        )
        requests_ = [
            SubRequest("GET", f"{folder_path}/contacts/{urllib.parse.quote(i, safe='')}?{query}")
            for i in ids
        ]
        found: dict[str, versions.Version] = {}
        for item_id, answer in zip(ids, self.batch(requests_), strict=True):
            if answer.ok:
                found[item_id] = self.remember(cj.read_item(answer.body, tuple(cj.TAGGED)))
            elif answer.status != 404:
                raise self.client.error(answer)
        return found

    def remember(self, item: ExchangeItem) -> versions.Version:
        """Note what `item` holds at its change key (the fields kept in extended properties
        only when all were read)."""
        extended = ({f: item.fields[f] for f in cj.TAGGED}
                    if set(cj.TAGGED) <= set(item.fields) else {})
        version = versions.Version(item.change_key, item.org_stamp, item.crm_stamp, extended)
        versions.remember(self.mailbox, item.id, version)
        return version

    def remember_created(self, result: WriteResult, org_id: str, crm_stamp: str,
                         fields: dict[str, Any]) -> None:
        if result.ok and result.id:
            extended = {f: fields.get(f) for f in cj.TAGGED}
            versions.remember(self.mailbox, result.id, versions.Version(
                result.change_key or "", org_id, crm_stamp, extended))

    def remember_update(self, update: ItemUpdate, result: WriteResult, org_id: str,
                        before: versions.Version | None) -> None:
        org: str | None
        crm: str | None
        if not result.ok or not result.change_key:
            versions.forget(self.mailbox, update.ref.id)
            return
        if update.crm_stamp:
            org, crm = org_id, update.crm_stamp
        elif before is not None:
            org, crm = before.org_stamp, before.crm_stamp
        else:
            versions.forget(self.mailbox, update.ref.id)
            return
        extended = dict(before.extended) if before is not None else {}
        extended.update({f: v for f, v in update.fields.items() if f in cj.TAGGED})
        if set(extended) < set(cj.TAGGED):
            extended = {}
        versions.remember(self.mailbox, update.ref.id,
                          versions.Version(result.change_key, org, crm, extended))
