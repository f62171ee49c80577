"""Throughput of exchangesim with the real exchangelib client (prints figures, asserts nothing).

Two workloads the sync engine leans on: a full 512-change SyncFolderItems page (ids, change
keys and the org-ID stamp), and GetItem of 100 contacts with the mapped fields. For each it
prints requests/s and how the wall time splits between the simulator's handler (measured
in-process) and the client (exchangelib building, sending and parsing).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exchangelib.extended_properties import ExtendedProperty
from exchangelib.fields import FieldPath
from exchangelib.items import Contact
from exchangelib.services import GetItem, SyncFolderItems

from exchangesim.pytest_plugin import start_sim

MAILBOX = "bench@example.com"
MAPPED = (
    "given_name",
    "surname",
    "email_addresses",
    "company_name",
    "job_title",
    "department",
    "phone_numbers",
    "assistant_name",
    "birthday",
    "physical_addresses",
    "body",
)


class OrgId(ExtendedProperty):
    property_set_id = "9e1c2a3b-4d5e-4f60-8a7b-1c2d3e4f5a6b"
    property_name = "LightningSyncOrgId"
    property_type = "String"


def seed(sim, n: int) -> list[str]:
    sim.create_folder(MAILBOX, "Salesforce_Sync")
    out = []
    for i in range(n):
        out.append(
            sim.create_contact(
                MAILBOX,
                folder="contacts/Salesforce_Sync",
                GivenName=f"First{i}",
                Surname=f"Last{i}",
                CompanyName="Acme",
                JobTitle="Buyer",
                Department="Ops",
                AssistantName="Pat",
                EmailAddresses={"EmailAddress1": f"c{i}@acme.test"},
                PhoneNumbers={"BusinessPhone": "+1 555 0100", "MobilePhone": "+1 555 0101"},
                PhysicalAddresses={
                    "Business": {
                        "Street": f"{i} Main St",
                        "City": "Springfield",
                        "State": "CA",
                        "PostalCode": "90001",
                    }
                },
                Birthday="1980-05-04",
                Body=f"Notes for contact {i}",
                extended=[
                    {
                        "PropertySetId": OrgId.property_set_id,
                        "PropertyName": OrgId.property_name,
                        "Value": "org-1",
                    }
                ],
            )
        )
    return out


def measure(label: str, running, fn, rounds: int) -> None:
    sim = running.sim
    fn()  # warm up connections and caches
    sim.reset_counters()
    started = time.perf_counter()
    for _ in range(rounds):
        fn()
    wall = time.perf_counter() - started
    server = sim.counters.handler_seconds
    print(
        f"{label}: {rounds / wall:7.1f} requests/s  ({wall / rounds * 1000:6.1f} ms each; "
        f"simulator {server / wall:5.1%}, client + HTTP {1 - server / wall:5.1%})"
    )


def main() -> None:
    if "org_id" not in {f.name for f in Contact.FIELDS}:
        Contact.register("org_id", OrgId)
    running = start_sim()
    try:
        sim = running.sim
        sim.add_mailbox(MAILBOX)
        ids = seed(sim, 512)
        account = running.account(MAILBOX)
        folder = account.contacts / "Salesforce_Sync"
        stamp = [FieldPath(field=Contact.get_field_by_fieldname("org_id"))]

        def sync_page() -> None:
            svc = SyncFolderItems(account=account)
            changes = list(
                svc.call(
                    folder=folder,
                    shape="IdOnly",
                    additional_fields=stamp,
                    sync_state=None,
                    ignore=None,
                    max_changes_returned=512,
                    sync_scope="NormalItems",
                )
            )
            assert len(changes) == 512

        fields = [FieldPath(field=Contact.get_field_by_fieldname(n)) for n in MAPPED]
        batch = [(i, None) for i in ids[:100]]

        def get_items() -> None:
            got = list(
                GetItem(account=account).call(items=batch, additional_fields=fields, shape="IdOnly")
            )
            assert len(got) == 100

        print(f"exchangesim bench ({sys.version.split()[0]}, loopback HTTP/1.1 keep-alive)")
        measure("SyncFolderItems, 512-change page", running, sync_page, 20)
        measure("GetItem, 100 contacts, mapped fields", running, get_items, 40)
        per_item_start = time.perf_counter()
        for _ in range(5):
            get_items()
        per_item = (time.perf_counter() - per_item_start) / 500
        print(f"client wall time per fetched contact: {per_item * 1000:.2f} ms")
    finally:
        running.close()


if __name__ == "__main__":
    main()
