"""The CRM side of one calendar page, in one transaction (SPEC §5): new, matched and changed
CRM events, auto-relate, deletes, links with their snapshots, error entries and the cursor
after the page, so that a crash resumes at the first unfinished page without duplicates.

First sight of an item: its link; else the CRM event its stamps name (ours, after a crash or
a Reset Sync); else a CRM event of the user with the same subject, start and end not linked
to another item; else a new CRM event owned by the user. Exchange wins for mapped fields
when the item changed them; unmapped fields (who, what) are never written, but `who` may be
filled by auto-relate when empty.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Q
from django.utils import timezone

from lightningsync.models import Event, EventLink

from ..bulkinsert import insert_returning_pks
from ..linkstore import insert_links
from ..mapping import events as m
from ..mapping.normal import Normalized, content_hash
from ..transports.protocol import ChangePage, ExchangeItem
from .relate import candidates, relate
from .state import EventCycle, Stamp


@dataclass
class Work:
    """An item read in full that passes: its values, and its link if it has one."""

    item: ExchangeItem
    values: Normalized
    private: bool  # the item is private (auto-relate never touches it)
    link: EventLink | None


def commit_page(cycle: EventCycle, page: ChangePage, works: list[Work],
                gone: list[EventLink], ids: list[str]) -> list[Stamp]:
    """Commit the page; returns the items it linked that wait for our stamps."""
    report = cycle.report
    with cycle.transaction():
        now = timezone.now()
        matched = _first_sight(cycle, [w for w in works if w.link is None])
        new_events: list[Event] = []
        changed: dict[int, Event] = {}
        links: list[tuple[EventLink, Work]] = []
        for work in works:
            link = work.link or matched.get(work.item.id)
            event = link.event if link is not None else None
            if event is None:
                event = Event(owner=cycle.user, created_at=now, updated_at=now,
                              **m.event_attributes(work.values))
                if work.private and "is_private" not in cycle.mapping:
                    event.is_private = True
                new_events.append(event)
            elif (work.link is None or work.values != work.link.snapshot) and (
                m.crm_values(event, cycle.mapping) != work.values
            ):
                # Matched at first sight, or changed in Exchange: Exchange wins.
                for name, value in m.event_attributes(work.values).items():
                    setattr(event, name, value)
                event.updated_at = now
                changed[event.pk] = event
                report.updated += work.link is not None
            if link is None:
                link = EventLink(user=cycle.user)
            elif work.link is None:
                report.linked += 1  # an existing CRM event, found at first sight
            link.event = event
            links.append((link, work))
        insert_returning_pks(Event, new_events, now)
        report.created += len(new_events)
        if changed:
            Event.objects.bulk_update(list(changed.values()), [*cycle.mapping, "updated_at"])
        related = _relate(cycle, links)
        if related:
            Event.objects.bulk_update(related, ["who_contact", "who_lead"])
        _save_links(cycle, links)
        _gone(cycle, gone)
        if cycle.cursor.full_listing and ids:
            written = {w.item.id for w in works}
            unwritten = [i for i in ids if i not in written]
            if unwritten:
                EventLink.objects.filter(user=cycle.user, exchange_id__in=unwritten).update(
                    seen_generation=cycle.cursor.listing_generation)
        for work in works:
            cycle.errors.item_synced(work.item.id, None)
        cycle.cursor.cursor = page.cursor
        if cycle.cursor.full_listing and not page.more:
            cycle.cursor.full_listing = False
        stamps = [(link.exchange_id or "", link.change_key, link.event_id)
                  for link, _ in links if link.needs_stamp and link.event_id]
        if stamps:
            cycle.cursor.stamps_pending = True  # cleared once stamped (stamps.py)
        cycle.cursor.save()
        cycle.errors.flush()
    cycle.progress("written", len(new_events) + len(changed) + len(gone))
    return stamps


def _save_links(cycle: EventCycle, links: list[tuple[EventLink, Work]]) -> None:
    """Every link of the page at its item's version, in two bulk writes."""
    gen = cycle.cursor.listing_generation
    new: list[EventLink] = []
    old: list[EventLink] = []
    for link, work in links:
        assert link.event is not None
        link.event_id = link.event.pk
        link.state = EventLink.State.ACTIVE
        link.exchange_id = work.item.id
        link.change_key = work.item.change_key
        link.snapshot = work.values
        link.snapshot_hash = content_hash(work.values)
        link.seen_generation = gen
        link.needs_stamp = (work.item.org_stamp != cycle.org_id
                            or work.item.crm_stamp != str(link.event_id))
        (old if link.pk else new).append(link)
    insert_links(EventLink, new, timezone.now())
    if old:
        EventLink.objects.bulk_update(old, [
            "event", "state", "exchange_id", "change_key", "snapshot", "snapshot_hash",
            "seen_generation", "needs_stamp"])


def _first_sight(cycle: EventCycle, works: list[Work]) -> dict[str, EventLink]:
    """Existing CRM events for unlinked items: {item id: a link holding the event (a new
    one, or the event's detached link reused)}. Two queries, whatever the page's size."""
    if not works:
        return {}
    stamped = {w.item.id: int(w.item.crm_stamp or "") for w in works
               if w.item.org_stamp == cycle.org_id and (w.item.crm_stamp or "").isdigit()}
    subjects = {w.values.get("subject") or "" for w in works}
    starts = {_time(w.values["start"]) for w in works}
    pool = list(Event.objects.filter(owner=cycle.user).filter(
        Q(pk__in=set(stamped.values())) | Q(subject__in=subjects, start__in=starts)))
    if not pool:
        return {}
    taken = {lk.event_id: lk for lk in EventLink.objects.filter(
        user=cycle.user, event_id__in=[e.pk for e in pool])}
    by_pk = {e.pk: e for e in pool}
    by_key: dict[tuple[str, dt.datetime, dt.datetime], list[Event]] = {}
    for e in sorted(pool, key=lambda e: e.pk):
        by_key.setdefault((e.subject, e.start, e.end), []).append(e)
    used: set[int] = set()

    def available(event: Event) -> bool:
        link = taken.get(event.pk)
        return event.pk not in used and (link is None or link.state == EventLink.State.DETACHED)

    out: dict[str, EventLink] = {}
    for work in works:
        choice = by_pk.get(stamped.get(work.item.id, 0))
        if choice is None or not available(choice):
            key = (work.values.get("subject") or "", _time(work.values["start"]),
                   _time(work.values["end"]))
            choice = next((e for e in by_key.get(key, []) if available(e)), None)
        if choice is None:
            continue
        used.add(choice.pk)
        link = taken.get(choice.pk) or EventLink(user=cycle.user)
        link.event = choice
        out[work.item.id] = link
    return out


def _time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


def _relate(cycle: EventCycle, links: list[tuple[EventLink, Work]]) -> list[Event]:
    """Auto-relate (when on) the page's events that are not private."""
    if not cycle.config.auto_relate_events:
        return []
    todo = []
    for link, work in links:
        event = link.event
        if event is None or work.private or event.is_private:
            continue
        todo.append((event, candidates(work.item.addresses, cycle.user, cycle.own_domains)))
    related = relate(todo, cycle.user)
    cycle.report.related += len(related)
    return related


def _gone(cycle: EventCycle, gone: list[EventLink]) -> None:
    """Items deleted in Exchange: their CRM events deleted (auto-remove) or kept unlinked."""
    if not gone:
        return
    pks = [lk.pk for lk in gone]
    if cycle.config.auto_remove_deleted_events:
        events = [lk.event_id for lk in gone if lk.event_id is not None]
        EventLink.objects.filter(pk__in=pks).delete()
        cycle.report.deleted += Event.objects.filter(pk__in=events).delete()[1].get(
            Event._meta.label, 0)
    else:
        cycle.report.unlinked += EventLink.objects.filter(pk__in=pks).update(
            state=EventLink.State.DETACHED, exchange_id=None, needs_stamp=False)
