"""A rep working in Outlook on a simulated mailbox, in the transport's field names."""

from __future__ import annotations

from typing import Any

from syncengine.transports.ews.contacts import ADDRESS_LABELS, EMAIL_LABELS, PHONE_LABELS
from syncengine.transports.protocol import Address

SYNC_FOLDER = "contacts/Salesforce_Sync"


def to_sim_fields(fields: dict[str, Any], current: dict[str, Any] | None = None) -> dict[str, Any]:
    """Transport field names -> the simulator's EWS element names (indexed as dicts)."""
    current = current or {}
    out: dict[str, Any] = {}
    emails = dict(current.get("EmailAddresses") or {})
    phones = dict(current.get("PhoneNumbers") or {})
    addresses = dict(current.get("PhysicalAddresses") or {})
    for name, value in fields.items():
        if name in EMAIL_LABELS:
            emails[name] = value
            out["EmailAddresses"] = emails
        elif name in PHONE_LABELS:
            phones[name] = value
            out["PhoneNumbers"] = phones
        elif name in ADDRESS_LABELS:
            a = value if isinstance(value, Address) else Address()
            addresses[ADDRESS_LABELS[name]] = {
                "Street": a.street,
                "City": a.city,
                "State": a.state,
                "PostalCode": a.postal_code,
                "CountryOrRegion": a.country,
            }
            out["PhysicalAddresses"] = addresses
        else:
            out[name] = value
    return out


def to_sim_event(fields: dict[str, Any], *, categories: tuple[str, ...] = (),
                 attendees: tuple[str, ...] = (), recurring: bool = False) -> dict[str, Any]:
    """Transport event fields -> the simulator's: all-day dates become midnights UTC
    (the simulator's all-day form); a series is weekly, three occurrences."""
    out = dict(fields)
    if categories:
        out["Categories"] = list(categories)
    if attendees:
        out["RequiredAttendees"] = list(attendees)
    if recurring:
        start = fields["Start"]
        out["Recurrence"] = {
            "Pattern": "Weekly", "Interval": 1, "DaysOfWeek": start.strftime("%A"),
            "Range": "Numbered", "StartDate": start.date().isoformat(),
            "NumberOfOccurrences": 3,
        }
    return out


class SimRep:
    def __init__(self, sim: Any, mailbox: str) -> None:
        self.sim = sim
        self.mailbox = mailbox

    def create(self, fields: dict[str, Any], folder: str = SYNC_FOLDER) -> str:
        return self.sim.create_contact(self.mailbox, folder=folder, **to_sim_fields(fields))

    def update(self, item_id: str, **fields: Any) -> None:
        current = self.sim.item(self.mailbox, item_id)
        self.sim.update_item(self.mailbox, item_id, **to_sim_fields(fields, current))

    def delete(self, item_id: str) -> None:
        self.sim.delete_item(self.mailbox, item_id)

    def move_out(self, item_id: str) -> None:
        self.sim.move_item(self.mailbox, item_id, "contacts")

    def touch(self, item_id: str) -> None:
        self.sim.update_item(self.mailbox, item_id)

    def create_event(self, fields: dict[str, Any], *, categories: tuple[str, ...] = (),
                     attendees: tuple[str, ...] = (), recurring: bool = False) -> str:
        """A calendar item as Outlook makes it (see `to_sim_event`)."""
        return self.sim.create_event(self.mailbox, **to_sim_event(
            fields, categories=categories, attendees=attendees, recurring=recurring))

    def update_event(self, item_id: str, **fields: Any) -> None:
        self.sim.update_item(self.mailbox, item_id, **to_sim_event(fields))

    def set_categories(self, item_id: str, categories: tuple[str, ...]) -> None:
        self.sim.set_categories(self.mailbox, item_id, list(categories))

    def delete_folder(self, path: str = SYNC_FOLDER) -> None:
        """Outlook's folder delete: the folder moves, id and items, under Deleted Items."""
        with self.sim.store.lock:
            mbx = self.sim.store.mailbox(self.mailbox)
            folder = self.sim.store.find_folder_by_path(mbx, path)
            folder.parent = mbx.distinguished["deleteditems"]
