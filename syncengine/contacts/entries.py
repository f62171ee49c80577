"""The error report's entries a contact cycle files about items (SPEC §9): refusals, the
contact limit, another org's items, conflicts (with the losing value kept).
"""

from __future__ import annotations

import json

from lightningsync.fieldmaps import CONTACTS
from lightningsync.models import ContactLink

from ..errorlog import Direction, Entry, Kind
from ..mapping.merge import Conflict, MergeResult
from .state import ContactCycle


def item_rejected(cycle: ContactCycle, direction: Direction, item_id: str | None,
                  contact_id: int | None, message: str, too_long: str | None = None) -> None:
    """Exchange refused to read (Exchange to CRM) or write (CRM to Exchange) an item;
    `too_long` names the Exchange field whose value it refused for its length."""
    crm_field = next((crm for crm, ews in cycle.mapping.items() if ews == too_long), None)
    if crm_field is not None:
        suggestion = (
            f"Shorten the {CONTACTS.crm_fields[crm_field].label} in the CRM (Exchange counts "
            "most emoji as two characters); the contact syncs at its next change."
        )
    else:
        suggestion = (
            "Once the cause is fixed (see the message), choose Retry in the error report. "
            "Until then the item waits: it is tried again when it changes in the CRM or in "
            "Exchange, and once a day."
        )
    cycle.errors.add(Entry(
        Kind.ITEM_REJECTED, direction, message, suggestion,
        exchange_item_id=item_id or "", contact_id=contact_id,
    ))


def limit_reached(cycle: ContactCycle, direction: Direction) -> None:
    """No room for a new link: an import or match (Exchange to CRM) or a push."""
    cycle.errors.add(Entry(
        Kind.LIMIT, direction,
        f"This user already syncs {cycle.live_links()} contacts, the most allowed "
        f"({cycle.limit}); new contacts are not added.",
        "Narrow the configuration's contact filters, or remove contacts from the "
        "user's Salesforce_Sync folder.",
        detail="contact-limit",
    ))


def other_org(cycle: ContactCycle, item_id: str, other: str, link: ContactLink | None) -> None:
    cycle.errors.add(Entry(
        Kind.OTHER_ORG, Direction.EXCHANGE_TO_CRM,
        f"This Exchange contact is synced by another org (org ID {other}); "
        "it was not imported.",
        "A mailbox must be synced by one org only: remove this user from the sync "
        "configurations of one of the two orgs, then reset the user's sync there.",
        exchange_item_id=item_id, contact_id=link.contact_id if link else None,
    ))


def keep_losing_values(cycle: ContactCycle, item_id: str | None, contact_id: int | None,
                       result: MergeResult) -> bool:
    """File the merge's conflicts, each with its losing value; True when there were some."""
    for conflict in result.conflicts:
        _conflict_entry(cycle, item_id, contact_id, conflict)
    return bool(result.conflicts)


def _conflict_entry(cycle: ContactCycle, item_id: str | None, contact_id: int | None,
                    conflict: Conflict) -> None:
    cycle.report.conflicts += 1
    label = CONTACTS.crm_fields[conflict.field].label
    loser = "Exchange" if conflict.winner == "crm" else "CRM"
    # Filed as the way the winning value travelled: it overwrote the losing side.
    direction = (Direction.CRM_TO_EXCHANGE if conflict.winner == "crm"
                 else Direction.EXCHANGE_TO_CRM)
    cycle.errors.add(Entry(
        Kind.CONFLICT, direction,
        f"{label} changed on both sides. Kept {conflict.winner.upper()}'s value "
        f"{_show(conflict.crm_value if conflict.winner == 'crm' else conflict.exchange_value)}"
        f"; {loser}'s value was {_show(conflict.losing_value)}.",
        "If the other value was right, enter it again on either side.",
        exchange_item_id=item_id or "", contact_id=contact_id,
        detail=f"{conflict.field}\x1f{json.dumps(conflict.losing_value, sort_keys=True)}",
    ))


def _show(value: object) -> str:
    if value is None:
        return "(empty)"
    if isinstance(value, dict):
        return "“" + ", ".join(str(v) for v in value.values() if v) + "”"
    return f"“{value}”"
