"""Lengths Exchange enforces on item properties, and what it does when a value is longer.

Two behaviours, both measured in UTF-16 code units (the length of a .NET string), so a
character outside the Basic Multilingual Plane (most emoji) counts twice:

- The contact name parts GivenName, MiddleName and Surname are refused past 256. Exchange's
  store schema gives exactly these three properties a string-length constraint of 0..256;
  saving violates it. CreateItem reports the failed save as ErrorItemSavePropertyError and
  UpdateItem as ErrorPropertyUpdate, each naming the property (MS-OXWSCDATA ResponseCodeType;
  Microsoft's "EWS property-related errors" page; exchangelib's live test-suite expects
  ErrorPropertyUpdate for exactly these three names when they are updated to a long value).
- Subject is cut to 255 (the store's maximum subject length) and the save succeeds:
  exchangelib's live test-suite writes 4000 characters to every text property and expects
  Subject to read back at most 255 long. A cut never splits a surrogate pair here.

The rules hold for EWS writes. A rep's edits made through the control API stand for
Outlook, which writes through MAPI and is not held to them: a mailbox can hold a longer
name that a client then reads.

exchangelib itself refuses more than 255 code points in these properties before sending,
so through exchangelib the server refusal is met by names that are short in code points
but long in UTF-16 (e.g. 200 emoji = 400 code units).
"""

from __future__ import annotations

from typing import Any

from .schema import BY_NAME

REFUSED_PAST = {"GivenName": 256, "MiddleName": 256, "Surname": 256}
TRUNCATED_AT = {"Subject": 255}

CREATE_CODE = "ErrorItemSavePropertyError"
UPDATE_CODE = "ErrorPropertyUpdate"


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _cut(text: str, limit: int) -> str:
    if utf16_len(text) <= limit:
        return text
    out, used = [], 0
    for ch in text:
        size = 2 if ord(ch) > 0xFFFF else 1
        if used + size > limit:
            break
        out.append(ch)
        used += size
    return "".join(out)


def too_long(fields: dict[str, Any]) -> list[str]:
    """Names of the properties whose value Exchange refuses for its length."""
    return [
        name
        for name, limit in REFUSED_PAST.items()
        if isinstance(fields.get(name), str) and utf16_len(fields[name]) > limit
    ]


def truncate(fields: dict[str, Any]) -> None:
    for name, limit in TRUNCATED_AT.items():
        value = fields.get(name)
        if isinstance(value, str):
            fields[name] = _cut(value, limit)


def field_uris(names: list[str]) -> str:
    """MessageXml naming the offending properties, as Exchange's property-path errors do."""
    return "".join(f'<t:FieldURI FieldURI="{BY_NAME[n].uri}"/>' for n in names)
