"""The per-item results of an EWS write, in the order of the request: Exchange's answer for
each item sent, and the failure of each item left out before sending."""

from __future__ import annotations

from typing import Any

from ..protocol import ErrorKind, FieldValue, ItemFailure, WriteResult
from .contacts import TEXT_ATTRIBUTES, too_long_to_send
from .errors import item_failure


def written(item_id: str | None, result: Any) -> WriteResult:
    """A create/update service's per-item result: (id, change key), or the item's failure."""
    if isinstance(result, Exception):
        return WriteResult(id=item_id, error=item_failure(item_id, result, TEXT_ATTRIBUTES))
    new_id, change_key = result
    return WriteResult(id=new_id, change_key=change_key)


def refused(item_id: str | None, fields: dict[str, FieldValue]) -> WriteResult | None:
    """The item's failure when exchangelib would refuse to send one of its values: left out
    of the request (exchangelib would fail the whole request), the others go."""
    found = too_long_to_send(fields)
    if found is None:
        return None
    field, why = found
    return WriteResult(id=item_id, error=ItemFailure(
        item_id, ErrorKind.PERMANENT_ITEM, why, too_long=field))


def in_order(left_out: list[WriteResult | None], sent: list[WriteResult]) -> list[WriteResult]:
    """The results in the order of the request: those of the items left out where they were."""
    results = iter(sent)
    out = [r if r is not None else next(results) for r in left_out]
    assert next(results, None) is None, "one result per item sent"
    return out
