"""A configuration file's text read into JSON values, or refused with a reason (SPEC §14).

Whatever an admin uploads, reading it ends in a value or in a `ConfigFileError`, never in a
traceback: the size and the nesting depth are checked on the text before the parser (which
recurses once per level) sees it; numbers no setting could hold, NaN and Infinity (not JSON)
and a key given twice in one object are refused while parsing. `path` names a place in the
document the way every error message does (`configurations[0].contacts.filters[2].value`).
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

from lightningsync.configrules import quoted

MAX_BYTES = 5 * 1024 * 1024
# The format itself nests 6 deep (document, configurations, one configuration, contacts,
# filters, one filter); the margin leaves room for the format to grow.
MAX_DEPTH = 16
_MAX_DIGITS = 30
TOO_LARGE = (
    f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB; a configuration file is far smaller."
)

# A string, or what is left of the text after an unterminated one: the closing quote is
# optional so that each character is looked at once (a required quote makes a text full of
# escaped quotes take quadratic time).
_STRING = r'"[^"\\]*(?:\\.[^"\\]*)*"?'
_STRING_RE = re.compile(_STRING, re.DOTALL)
_NOT_BRACKET_RE = re.compile(r"[^\[\]{}]+")
_BRACKET_RE = re.compile(_STRING + r"|[\[\]{}]", re.DOTALL)
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
_PLAIN_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,39}$")


class ConfigFileError(Exception):
    """The document was refused; `errors` lists every problem, each with its path."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class _Refused(Exception):
    """Raised from inside the parser's hooks: the parse stops with this message."""


def path(parent: str, key: str | int) -> str:
    """The path of `key` under `parent`; odd keys are shown JSON-quoted, escaped and clipped."""
    if isinstance(key, int):
        return f"{parent}[{key}]"
    if _PLAIN_KEY_RE.match(key):
        return f"{parent}.{key}" if parent else key
    shown = json.dumps(key[:40])
    if len(key) > 40:
        shown = shown[:-1] + '…"'
    return f"{parent}[{shown}]"


def _position(text: str, index: int) -> str:
    line = text.count("\n", 0, index) + 1
    return f"line {line}, column {index - text.rfind(chr(10), 0, index)}"


def _check_depth(text: str) -> None:
    skeleton = _NOT_BRACKET_RE.sub("", _STRING_RE.sub("", text))
    if max(accumulate(map(_STEP.__getitem__, skeleton)), default=0) <= MAX_DEPTH:
        return
    depth = 0
    for match in _BRACKET_RE.finditer(text):
        char = match.group()[0]
        if char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise ConfigFileError(
                    [
                        f"The file nests lists and objects more than {MAX_DEPTH} deep (at "
                        f"{_position(text, match.start())}); a configuration file nests 6 deep "
                        "at most."
                    ]
                )
        elif char in "]}":
            depth -= 1


def _int(digits: str) -> int:
    if len(digits.lstrip("-")) > _MAX_DIGITS:
        raise _Refused(
            f"The file holds a number with more than {_MAX_DIGITS} digits; no setting takes one."
        )
    return int(digits)


def _constant(name: str) -> Any:
    raise _Refused(f"The file is not valid JSON: {name} is not a JSON value.")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _Refused(f"The file gives the key {quoted(key)} twice in one object; keep one.")
        result[key] = value
    return result


def loads(text: str) -> dict[str, Any]:
    """Parse a document's text; refuses anything else naming the reason (and where, if known)."""
    if len(text) > MAX_BYTES:
        raise ConfigFileError([TOO_LARGE])
    text = text.removeprefix("\ufeff")
    _check_depth(text)
    try:
        document = json.loads(
            text, parse_int=_int, parse_constant=_constant, object_pairs_hook=_object
        )
    except json.JSONDecodeError as exc:
        # "Unterminated string starting at" already ends with the word the position needs.
        reason = exc.msg.removesuffix(" at")
        raise ConfigFileError(
            [f"The file is not valid JSON: {reason} at line {exc.lineno}, column {exc.colno}."]
        ) from None
    except _Refused as exc:
        raise ConfigFileError([str(exc)]) from None
    if not isinstance(document, dict):
        raise ConfigFileError(
            ["The file must hold one JSON object with “version”, “setup” and “configurations”."]
        )
    return document
