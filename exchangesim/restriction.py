"""Property paths of FindItem views, and the search restrictions built on them (MS-OXWSSRCH).

A path (t:FieldURI, t:IndexedFieldURI, t:ExtendedFieldURI) reads one value of an item; a
restriction (t:IsEqualTo, t:Contains, t:Exists, t:And, t:Or, t:Not, ...) keeps the items it
holds for. Text compares without regard to case unless a Contains asks for Exact; a
multi-valued property (Categories) holds when one of its values does; an item without the
property matches no comparison, as in Exchange.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from lxml import etree

from .itemxml import ext_uri, norm_datetime
from .schema import ADDRESS_URIS, BY_URI, COMPUTED, INDEXED_URIS, ITEM_CLASS, ext_key
from .soap import TNS, local, parse_bool
from .store import Item, SimError

T = f"{{{TNS}}}"
PATHS = ("FieldURI", "IndexedFieldURI", "ExtendedFieldURI")
# Read-only properties a view can sort or search on, and where the item keeps them.
COMPUTED_READERS: dict[str, Callable[[Item], Any]] = {
    "DateTimeCreated": lambda it: it.created,
    "DateTimeReceived": lambda it: it.created,
    "LastModifiedTime": lambda it: it.modified,
    "ItemClass": lambda it: it.fields.get("ItemClass") or ITEM_CLASS[it.type],
}
_DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "IsEqualTo": lambda a, b: a == b,
    "IsNotEqualTo": lambda a, b: a != b,
    "IsGreaterThan": lambda a, b: a > b,
    "IsGreaterThanOrEqualTo": lambda a, b: a >= b,
    "IsLessThan": lambda a, b: a < b,
    "IsLessThanOrEqualTo": lambda a, b: a <= b,
}


def reader(path: etree._Element, unsupported: str) -> Callable[[Item], Any]:
    """How to read the property a path names; `unsupported` is the code for one we cannot."""
    kind, uri = local(path.tag), path.get("FieldURI", "")
    if kind == "ExtendedFieldURI":
        key = ext_key(ext_uri(path))
        return lambda it: (it.ext.get(key) or {}).get("value")
    if kind == "IndexedFieldURI":
        index = path.get("FieldIndex", "")
        if uri in INDEXED_URIS:
            name = INDEXED_URIS[uri]
            return lambda it: (it.fields.get(name) or {}).get(index)
        if uri in ADDRESS_URIS:
            part = ADDRESS_URIS[uri]
            return lambda it: ((it.fields.get("PhysicalAddresses") or {}).get(index) or {}).get(
                part
            )
    spec = BY_URI.get(uri)
    if spec is not None and spec.name in COMPUTED_READERS:
        return COMPUTED_READERS[spec.name]
    if spec is not None and spec.type != COMPUTED:
        return lambda it: it.fields.get(spec.name)
    raise SimError(unsupported, f"The property {uri or kind} cannot be used here.")


def _path_of(expr: etree._Element) -> etree._Element:
    for child in expr:
        if local(child.tag) in PATHS:
            return child
    raise SimError("ErrorInvalidRestriction", f"{local(expr.tag)} needs a property path.")


def _like(stored: Any, text: str) -> Any:
    """The restriction's constant as the same kind of value the item stores."""
    if isinstance(stored, bool):
        return parse_bool(text)
    if isinstance(stored, int | float):
        return float(text)
    if isinstance(stored, str) and _DATETIME.match(stored):
        return norm_datetime(text)
    return text.casefold()


def _values(value: Any) -> list[Any]:
    if value in (None, "", [], {}):
        return []
    items = value if isinstance(value, list) else [value]
    return [v.casefold() if isinstance(v, str) and not _DATETIME.match(v) else v for v in items]


def _compare(expr: etree._Element, it: Item) -> bool:
    test = _COMPARE[local(expr.tag)]
    values = _values(reader(_path_of(expr), "ErrorUnsupportedPathForQuery")(it))
    other = expr.find(T + "FieldURIOrConstant")
    if other is None or len(other) == 0:
        raise SimError("ErrorInvalidRestriction", "A comparison needs FieldURIOrConstant.")
    operand = other[0]
    if local(operand.tag) == "Constant":
        text = operand.get("Value", "")
        return any(test(v, _like(v, text)) for v in values)
    right = _values(reader(operand, "ErrorUnsupportedPathForQuery")(it))
    return any(test(v, r) for v in values for r in right)


def _contains(expr: etree._Element, it: Item) -> bool:
    constant = expr.find(T + "Constant")
    wanted = "" if constant is None else constant.get("Value", "")
    exact = expr.get("ContainmentComparison", "Exact") == "Exact"
    mode = expr.get("ContainmentMode", "FullString")
    raw = reader(_path_of(expr), "ErrorUnsupportedPathForQuery")(it)
    texts = [str(v) for v in (raw if isinstance(raw, list) else [raw]) if v not in (None, "")]
    if not exact:
        wanted, texts = wanted.casefold(), [t.casefold() for t in texts]
    if mode == "Substring":
        return any(wanted in t for t in texts)
    if mode == "Prefixed":
        return any(t.startswith(wanted) for t in texts)
    if mode == "PrefixOnWords":
        return any(w.startswith(wanted) for t in texts for w in t.split())
    if mode == "ExactPhrase":
        return any(wanted in t for t in texts)
    return any(t == wanted for t in texts)


def matches(expr: etree._Element, it: Item) -> bool:
    """Whether one search expression holds for an item."""
    kind = local(expr.tag)
    if kind == "And":
        return all(matches(e, it) for e in expr)
    if kind == "Or":
        return any(matches(e, it) for e in expr)
    if kind == "Not":
        return not matches(expr[0], it)
    if kind == "Exists":
        return bool(_values(reader(_path_of(expr), "ErrorUnsupportedPathForQuery")(it)))
    if kind in _COMPARE:
        return _compare(expr, it)
    if kind == "Contains":
        return _contains(expr, it)
    if kind == "Excludes":
        bitmask = expr.find(T + "Bitmask")
        mask = int((bitmask.get("Value") if bitmask is not None else "0") or "0", 0)
        value = reader(_path_of(expr), "ErrorUnsupportedPathForQuery")(it)
        return isinstance(value, int) and not value & mask
    raise SimError("ErrorInvalidRestriction", f"Unknown search expression {kind}.")


def restrict(items: list[Item], restriction: etree._Element | None) -> list[Item]:
    """The items an m:Restriction keeps (all of them without one)."""
    if restriction is None or len(restriction) == 0:
        return items
    return [it for it in items if matches(restriction[0], it)]
