"""Single-value extended properties in Graph's form, on the same storage as EWS's.

Graph names a MAPI property by a string id: `"{Type} {guid} Name {name}"`,
`"{Type} {guid} Id 0x{hex}"` or `"{Type} 0x{tag}"` (Microsoft's "Outlook extended
properties overview"). It maps onto the EWS ExtendedFieldURI the item store keys by
(`schema.ext_key`), so a property stamped over EWS is the one Graph reads and vice versa.
The GUID compares without regard to case; the name is case-sensitive.

Graph returns them only through `$expand=singleValueExtendedProperties($filter=id eq
'...')` and writes them from the item JSON (`"singleValueExtendedProperties": [{"id",
"value"}]`), values always as strings. A collection can be narrowed to the items holding a
string property (`$filter=singleValueExtendedProperties/Any(ep: ep/id eq '...' and ep/value
eq|ne '...')`, or `contains(ep/value, '...')`, `startswith(ep/value, '...')`): the value
compares without regard to case ("Get singleValueLegacyExtendedProperty").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .graph_errors import GraphError, bad_request
from .schema import DISTINGUISHED_SETS, ext_key
from .store import Change

TYPES = (
    "String",
    "Integer",
    "Boolean",
    "SystemTime",
    "Double",
    "Float",
    "Currency",
    "Long",
    "Short",
    "CLSID",
    "Binary",
    "ApplicationTime",
    "Null",
    "Object",
    "Error",
)
_ID = re.compile(
    r"^(?P<type>\w+)\s+(?:\{(?P<guid>[0-9A-Fa-f-]{36})\}\s+(?:(?:Name\s+(?P<name>.+))|"
    r"(?:Id\s+(?P<pid>0x[0-9A-Fa-f]{1,4})))|(?P<tag>0x[0-9A-Fa-f]{1,4}))$"
)
_FILTER = re.compile(r"^\s*id\s+eq\s+'((?:[^']|'')*)'\s*$", re.IGNORECASE)
_ANY = re.compile(
    r"^\s*singleValueExtendedProperties\s*/\s*any\s*\(\s*(?P<var>\w+)\s*:\s*(?P<body>.*)\)\s*$",
    re.IGNORECASE | re.DOTALL,
)
_QUOTED = r"'((?:[^']|'')*)'"
_EXPAND = re.compile(r"^\s*singleValueExtendedProperties\s*\(\s*\$filter\s*=\s*(.*)\)\s*$")


def parse_id(text: str) -> dict[str, str]:
    """A Graph extended-property id -> the ExtendedFieldURI attributes it names."""
    m = _ID.match((text or "").strip())
    if m is None or m.group("type") not in TYPES:
        raise bad_request(
            f"The extended property id '{text}' is not valid. Use '{{Type}} {{guid}} Name "
            "{name}', '{Type} {guid} Id 0x{id}' or '{Type} 0x{tag}'.",
            "ErrorInvalidExtendedPropertyValue",
        )
    uri = {"PropertyType": m.group("type")}
    if m.group("tag"):
        uri["PropertyTag"] = m.group("tag").lower()
    else:
        uri["PropertySetId"] = m.group("guid").lower()
        if m.group("name") is not None:
            uri["PropertyName"] = m.group("name")
        else:
            uri["PropertyId"] = str(int(m.group("pid"), 16))
    return uri


def graph_id(uri: dict[str, str]) -> str:
    """Stored ExtendedFieldURI attributes -> Graph's id string (GUIDs lower-case)."""
    ptype = uri.get("PropertyType", "String")
    tag = uri.get("PropertyTag")
    if tag:
        number = int(tag, 16) if tag.lower().startswith("0x") else int(tag)
        return f"{ptype} 0x{number:04x}"
    pset = uri.get("DistinguishedPropertySetId")
    guid = DISTINGUISHED_SETS.get(pset, "") if pset else uri.get("PropertySetId", "").lower()
    if "PropertyName" in uri:
        return f"{ptype} {{{guid}}} Name {uri['PropertyName']}"
    pid = uri.get("PropertyId", "0")
    number = int(pid, 16) if pid.lower().startswith("0x") else int(pid)
    return f"{ptype} {{{guid}}} Id 0x{number:x}"


# MAPI properties Exchange also shows as EWS elements: the phone numbers Graph's contact has
# no property for (PidTagBusinessFaxNumber, ...). Read and written by tag, they are the
# item's PhoneNumbers entries, as on a real mailbox.
PHONE_TAGS = {
    "0x3a24": "BusinessFax",
    "0x3a25": "HomeFax",
    "0x3a1f": "OtherTelephone",
    "0x3a2e": "AssistantPhone",
}


def _phone_key(uri: dict[str, str]) -> str | None:
    tag = uri.get("PropertyTag")
    if tag is None or uri.get("PropertyType") != "String":
        return None
    return PHONE_TAGS.get(f"0x{int(tag, 16):04x}")


def changes_from_json(value: Any) -> list[Change]:
    """`singleValueExtendedProperties` of a POST/PATCH body -> store changes."""
    if not isinstance(value, list):
        raise bad_request("singleValueExtendedProperties must be an array.", "RequestBodyRead")
    out: list[Change] = []
    for entry in value:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise bad_request(
                "Each singleValueExtendedProperties entry needs an 'id' and a 'value'.",
                "RequestBodyRead",
            )
        uri = parse_id(entry["id"])
        raw = entry.get("value")
        if raw is None:
            raise bad_request(
                f"The extended property '{entry['id']}' has no value.",
                "ErrorInvalidExtendedPropertyValue",
            )
        text = str(raw).lower() if isinstance(raw, bool) else str(raw)
        phone = _phone_key(uri)
        if phone is not None:
            out.append(("set", ("PhoneNumbers", phone), text) if text
                       else ("del", ("PhoneNumbers", phone)))
            continue
        out.append(("set", ("ext", ext_key(uri), uri), text))
    return out


def expand_filter(expand: str | None) -> list[dict[str, str]] | None:
    """`$expand=singleValueExtendedProperties($filter=id eq '...' [or id eq '...'])`.

    Returns the requested property URIs, or None when nothing is expanded. Graph has no
    way to list an item's extended properties without naming them, so an expand without
    a filter on id is refused.
    """
    if not expand:
        return None
    m = _EXPAND.match(expand)
    if m is None:
        raise GraphError(
            400,
            "ErrorInvalidUrlQuery",
            f"Parsing OData Select and Expand failed: '{expand}' is not supported here; "
            "expand singleValueExtendedProperties with a $filter on id.",
        )
    uris = []
    for clause in re.split(r"\s+or\s+", m.group(1), flags=re.IGNORECASE):
        fm = _FILTER.match(clause)
        if fm is None:
            raise GraphError(
                400,
                "ErrorInvalidUrlQueryFilter",
                "The $filter on singleValueExtendedProperties must be id eq '{id}'.",
            )
        uris.append(parse_id(fm.group(1).replace("''", "'")))
    return uris


def expanded(
    ext: dict[str, dict[str, Any]],
    wanted: list[dict[str, str]],
    fields: dict[str, Any] | None = None,
) -> list[dict[str, str]]:
    """The item's values of the wanted properties, in Graph's entry form."""
    out = []
    for uri in wanted:
        phone = _phone_key(uri)
        if phone is not None:
            number = ((fields or {}).get("PhoneNumbers") or {}).get(phone)
            if number:
                out.append({"id": graph_id(uri), "value": str(number)})
            continue
        prop = ext.get(ext_key(uri))
        if prop is None or isinstance(prop["value"], list):
            continue
        if prop["uri"].get("PropertyType", "String") != uri["PropertyType"]:
            continue
        out.append({"id": graph_id(prop["uri"]), "value": str(prop["value"])})
    return out


def any_filter(text: str | None) -> Callable[[dict[str, dict[str, Any]]], bool] | None:
    """`$filter=singleValueExtendedProperties/Any(ep: ep/id eq '{id}' and {value test})` ->
    a test of an item's extended properties; None when `text` filters on something else.

    The value tests Microsoft documents for string properties: `ep/value eq|ne '{v}'`,
    `contains(ep/value, '{v}')`, `startswith(ep/value, '{v}')`, case-insensitive. An item
    without the property never matches (`Any` over no property). Numeric comparisons
    (`cast(ep/value, Edm.Int32) ...`) are refused: exchangesim stores no numeric stamps.
    """
    m = _ANY.match(text or "")
    if m is None:
        return None
    var = re.escape(m.group("var"))
    body = m.group("body")
    id_clause = rf"{var}\s*/\s*id\s+eq\s+{_QUOTED}"
    tests = {
        "eq": rf"{var}\s*/\s*value\s+eq\s+{_QUOTED}",
        "ne": rf"{var}\s*/\s*value\s+ne\s+{_QUOTED}",
        "contains": rf"contains\s*\(\s*{var}\s*/\s*value\s*,\s*{_QUOTED}\s*\)",
        "startswith": rf"startswith\s*\(\s*{var}\s*/\s*value\s*,\s*{_QUOTED}\s*\)",
    }
    for op, test in tests.items():
        found = re.fullmatch(rf"\s*{id_clause}\s+and\s+{test}\s*", body, re.IGNORECASE)
        if found is not None:
            uri = parse_id(found.group(1).replace("''", "'"))
            wanted = found.group(2).replace("''", "'").lower()
            return _value_test(uri, op, wanted)
    raise GraphError(
        400,
        "ErrorInvalidUrlQueryFilter",
        "The filter on singleValueExtendedProperties must be ep/id eq '{id}' and one of "
        "ep/value eq '{value}', ep/value ne '{value}', contains(ep/value, '{value}') or "
        "startswith(ep/value, '{value}').",
    )


def _value_test(
    uri: dict[str, str], op: str, wanted: str
) -> Callable[[dict[str, dict[str, Any]]], bool]:
    if uri["PropertyType"] != "String":
        raise GraphError(
            400,
            "ErrorInvalidUrlQueryFilter",
            f"'{graph_id(uri)}' is not string-typed: compare it with cast(ep/value, Edm.…).",
        )
    key = ext_key(uri)

    def test(ext: dict[str, dict[str, Any]]) -> bool:
        prop = ext.get(key)
        if prop is None or isinstance(prop["value"], list):
            return False
        if prop["uri"].get("PropertyType", "String") != "String":
            return False
        value = str(prop["value"]).lower()
        if op == "eq":
            return value == wanted
        if op == "ne":
            return value != wanted
        if op == "contains":
            return wanted in value
        return value.startswith(wanted)

    return test
