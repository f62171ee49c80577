"""Auto-relate (SPEC §5): an event's `who` becomes the CRM contact, else lead, whose email
is the organiser's or an attendee's, preferring the user's own records; never the user nor
an address of the org's own domains; only when `who` is empty; never for private events.

Two queries per page at most (contacts, then leads for what is left), whatever its size.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db.models import Model
from django.db.models.functions import Lower

from lightningsync.models import Contact, Event, Lead, LightningSyncSetup, User


def own_domains(setup: LightningSyncSetup, user: User) -> frozenset[str]:
    """The org's email domains: the service account's, the additional ones, the user's."""
    domains = {d.casefold() for d in setup.additional_domain_list}
    for address in (setup.service_account_username, user.email):
        if address and "@" in address:
            domains.add(address.rsplit("@", 1)[1].casefold())
    return frozenset(domains)


def candidates(addresses: Iterable[str], user: User, domains: frozenset[str]) -> list[str]:
    """The addresses an event may relate to, casefolded, in their order, once each."""
    mine = (user.email or "").casefold()
    out: list[str] = []
    for address in addresses:
        a = address.strip().casefold()
        if not a or "@" not in a or a == mine or a.rsplit("@", 1)[1] in domains or a in out:
            continue
        out.append(a)
    return out


def _owners_by_email(model: type[Model], emails: set[str]) -> dict[str, list[tuple[int, int]]]:
    """{email: [(owner id, pk), ...]} of the records with these emails (one query)."""
    found: dict[str, list[tuple[int, int]]] = {}
    rows = (model._default_manager.annotate(email_ci=Lower("email"))
            .filter(email_ci__in=sorted(emails)).order_by("pk")
            .values_list("email_ci", "owner_id", "pk"))
    for email, owner, pk in rows:
        found.setdefault(email, []).append((owner, pk))
    return found


def _pick(addresses: Sequence[str], found: dict[str, list[tuple[int, int]]],
          user_id: int) -> int | None:
    owned = [pk for a in addresses for owner, pk in found.get(a, []) if owner == user_id]
    if owned:
        return owned[0]
    anyone = [pk for a in addresses for _owner, pk in found.get(a, [])]
    return anyone[0] if anyone else None


def relate(events: Sequence[tuple[Event, list[str]]], user: User) -> list[Event]:
    """Set `who` of these events (each with its candidate addresses) where one matches;
    returns the events changed. The caller checked that each may be related."""
    todo = [(e, a) for e, a in events if a and e.who_contact_id is None and e.who_lead_id is None]
    if not todo:
        return []
    changed: list[Event] = []
    contacts = _owners_by_email(Contact, {a for _, addrs in todo for a in addrs})
    left: list[tuple[Event, list[str]]] = []
    for event, addrs in todo:
        pk = _pick(addrs, contacts, user.pk)
        if pk is None:
            left.append((event, addrs))
        else:
            event.who_contact_id = pk
            changed.append(event)
    if left:
        leads = _owners_by_email(Lead, {a for _, addrs in left for a in addrs})
        for event, addrs in left:
            pk = _pick(addrs, leads, user.pk)
            if pk is not None:
                event.who_lead_id = pk
                changed.append(event)
    return changed
