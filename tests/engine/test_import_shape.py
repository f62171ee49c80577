"""SPEC §4, §8, §12: an import costs the same per contact however many it brings in.

Through exchangesim with the real exchangelib: a mailbox of 30 contacts imported in pages
of 10. Each page is linked, then its items stamped; Exchange lists those stamps again further
on. The queries of the import tell what each page costs: the page's links read once (never
for the listing's echo of our own stamps), the user's links counted once for the whole
import (not after each page), the links still waiting for stamps looked for once.
"""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from lightningsync.models import Contact, ContactLink

from .ews_fixtures import ews_fixture, stamps  # noqa: F401

ITEMS, PAGE = 30, 10


def _queries(captured: CaptureQueriesContext, *needles: str) -> list[str]:
    return [q["sql"] for q in captured.captured_queries
            if all(n in q["sql"] for n in needles)]


def test_an_import_reads_each_page_once_and_counts_links_once(ews) -> None:  # type: ignore[no-untyped-def]
    ews.configure(contacts_direction="exchange_to_crm")
    assert ews.sync().outcome == "synced"  # Salesforce_Sync made
    for n in range(ITEMS):
        ews.outlook.create({"GivenName": f"Ann{n}", "Surname": f"Lee{n}",
                            "EmailAddress1": f"ann{n}@acme.test"})
    with CaptureQueriesContext(connection) as captured:
        report = ews.sync(page_size=PAGE)
    assert report.outcome == "synced" and report.contacts.crm_created == ITEMS
    # Both sides: every item imported, linked and stamped with its CRM id.
    assert Contact.objects.filter(owner=ews.rep).count() == ITEMS
    links = {lk.exchange_id: lk for lk in ContactLink.objects.filter(user=ews.rep)}
    assert len(links) == ITEMS and not any(lk.needs_stamp for lk in links.values())
    for item in ews.items():
        assert stamps(item)["LightningSyncCrmId"] == str(links[item["id"]].contact_id)
        assert links[item["id"]].change_key == item["changekey"]
    # The listing showed 30 creates, then the 30 stamps (all but the last page's within
    # this listing): only the pages of creates read their links.
    page_reads = _queries(captured, 'FROM "lightningsync_contactlink"', '"exchange_id" IN (')
    assert len(page_reads) == ITEMS // PAGE, page_reads
    counts = _queries(captured, "COUNT(", 'FROM "lightningsync_contactlink"')
    assert len(counts) <= 2, counts  # before the first page, and for the guard's figure
    waiting = _queries(captured, 'FROM "lightningsync_contactlink"', '."needs_stamp")',
                       "LIMIT 1")
    assert len(waiting) == 1, waiting
    # Nothing is left to do: the next cycle lists what the import's listing had not reached
    # of its own stamps, and reads no item.
    again = ews.sync(page_size=PAGE)
    assert again.outcome == "synced" and again.contacts.written == 0
    assert again.contacts.fetched == 0 and again.contacts.listed <= PAGE
