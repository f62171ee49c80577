"""Per-field three-way merge of one synced record against its last synced snapshot. Pure.

Peers resolve whole records and lose the other side's edits; we merge field by field so a
rep's phone change in Outlook and a colleague's title change in the CRM both survive. Only
a field changed on both sides to different values is a conflict; the policy picks the
winner and the losing value is returned so the caller can keep it in the error report.

One-way directions (SPEC §4) take what the source side changed, field by field: a field the
source changed since the snapshot takes the source's value; the destination's own edit of a
field stays until the source changes that same field, and then its value is returned as the
losing value of a conflict. No direction discards an edit without handing it back.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .normal import Normalized, same


class Side(StrEnum):
    CRM = "crm"
    EXCHANGE = "exchange"


class Policy(StrEnum):
    CRM_WINS = "crm_wins"
    EXCHANGE_WINS = "exchange_wins"
    MOST_RECENT = "most_recent"


class Mode(StrEnum):
    """Who may change whom: the contacts direction of the configuration."""

    BOTH = "both"
    EXCHANGE_TO_CRM = "exchange_to_crm"
    CRM_TO_EXCHANGE = "crm_to_exchange"


@dataclass(frozen=True)
class Conflict:
    field: str
    crm_value: Any
    exchange_value: Any
    winner: Side

    @property
    def losing_value(self) -> Any:
        return self.exchange_value if self.winner == Side.CRM else self.crm_value


@dataclass
class MergeResult:
    """`merged` is the new snapshot: what both sides hold (Both ways), or what the source side
    holds (one-way: the destination may keep its own edits); the patches bring each side to
    its new values."""

    merged: Normalized
    crm_patch: Normalized = field(default_factory=dict)
    exchange_patch: Normalized = field(default_factory=dict)
    conflicts: list[Conflict] = field(default_factory=list)


_MISSING = object()


def _winner(policy: Policy, crm_modified: dt.datetime | None,
            exchange_modified: dt.datetime | None) -> Side:
    if policy == Policy.EXCHANGE_WINS:
        return Side.EXCHANGE
    if policy == Policy.MOST_RECENT and crm_modified and exchange_modified:
        return Side.EXCHANGE if exchange_modified > crm_modified else Side.CRM
    return Side.CRM


def merge(
    base: Normalized | None,
    crm: Normalized,
    exchange: Normalized,
    *,
    mode: Mode = Mode.BOTH,
    policy: Policy = Policy.CRM_WINS,
    crm_modified: dt.datetime | None = None,
    exchange_modified: dt.datetime | None = None,
) -> MergeResult:
    """Merge the fields of `crm` (the mapping's fields) given both sides and the base.

    `base` is the last synced snapshot; None (or a field missing from it) means first sight:
    an empty side takes the other side's value, two different values are a conflict (won by
    the policy, or in a one-way direction by the source).
    """
    if base is None and mode != Mode.CRM_TO_EXCHANGE and all(v is None for v in crm.values()):
        # First sight of an item with nothing on the CRM side (an import): every field takes
        # Exchange's value, which is what the loop below decides field by field.
        merged = {name: exchange.get(name) for name in crm}
        return MergeResult(merged, crm_patch={k: v for k, v in merged.items() if v is not None})
    result = MergeResult(merged={})
    for name, c in crm.items():
        e = exchange.get(name)
        b = _MISSING if base is None else base.get(name, _MISSING)
        if mode == Mode.BOTH:
            value = _merge_field(name, b, c, e, policy, crm_modified, exchange_modified,
                                 result.conflicts)
            new_crm = new_exchange = value
        elif mode == Mode.EXCHANGE_TO_CRM:
            new_crm = _follow(name, b, source=e, destination=c, winner=Side.EXCHANGE,
                              conflicts=result.conflicts)
            new_exchange = e
        else:
            new_exchange = _follow(name, b, source=c, destination=e, winner=Side.CRM,
                                   conflicts=result.conflicts)
            new_crm = c
        result.merged[name] = new_exchange if mode == Mode.EXCHANGE_TO_CRM else new_crm
        if not same(name, new_crm, c):
            result.crm_patch[name] = new_crm
        if not same(name, new_exchange, e):
            result.exchange_patch[name] = new_exchange
    return result


def _changed(name: str, b: Any, value: Any) -> bool:
    """Changed since the snapshot; at first sight (no snapshot) any value counts as a change."""
    return value is not None if b is _MISSING else not same(name, value, b)


def _follow(name: str, b: Any, *, source: Any, destination: Any, winner: Side,
            conflicts: list[Conflict]) -> Any:
    """One-way: the destination's new value. It follows the source only where the source
    changed; an edit of its own that this overwrites is kept as a conflict's losing value."""
    if same(name, source, destination) or not _changed(name, b, source):
        return destination
    if _changed(name, b, destination):
        crm, exchange = (destination, source) if winner == Side.EXCHANGE else (source, destination)
        conflicts.append(Conflict(name, crm, exchange, winner))
    return source


def _merge_field(name: str, b: Any, c: Any, e: Any, policy: Policy,
                 crm_modified: dt.datetime | None, exchange_modified: dt.datetime | None,
                 conflicts: list[Conflict]) -> Any:
    """Both ways: the field's value on both sides."""
    if same(name, c, e):
        return c
    if b is _MISSING:
        if c is None:
            return e
        if e is None:
            return c
    else:
        if same(name, e, b):
            return c  # only the CRM changed
        if same(name, c, b):
            return e  # only Exchange changed
    winner = _winner(policy, crm_modified, exchange_modified)
    conflicts.append(Conflict(name, c, e, winner))
    return c if winner == Side.CRM else e
