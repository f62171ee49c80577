"""The normalized form every synced object is compared, merged, snapshotted and hashed in.

A dict keyed by CRM field name whose values are JSON-native (str, None, or a dict for an
address; dates as ISO strings). Normalizing makes a round trip stable: surrounding blanks
and empty strings mean None, line endings are `\\n`, values are cut to what the CRM column
holds, so reading back what was written never looks like a change. Pure: no database, no
transport; the per-object modules (`contacts`) say which rule applies to which field.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

Normalized = dict[str, Any]
# Compared without regard to case: an email or an account name differing only in case is
# the same value (account names resolve case-insensitively).
CASELESS_FIELDS = frozenset({"email", "account_name"})


def text(value: object, limit: int | None = None) -> str | None:
    """A text value: stripped, `\\n` line endings, cut to `limit`; None when blank."""
    if value is None:
        return None
    cleaned = str(value)
    if "\r" in cleaned:
        cleaned = cleaned.replace("\r\n", "\n").replace("\r", "\n")
    cleaned = cleaned.strip()
    if limit is not None and len(cleaned) > limit:
        cleaned = cleaned[:limit].strip()
    return cleaned or None


def date(value: object) -> str | None:
    """A date as an ISO string (a datetime counts by its date); None when empty."""
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str) and value.strip():
        return dt.date.fromisoformat(value.strip()[:10]).isoformat()
    return None


def comparable(crm_field: str, value: Any) -> Any:
    """The form two values are compared in: equal here means "no change"."""
    if crm_field in CASELESS_FIELDS and isinstance(value, str):
        return value.casefold()
    return value


def same(crm_field: str, a: Any, b: Any) -> bool:
    return comparable(crm_field, a) == comparable(crm_field, b)


def content_hash(values: Normalized) -> str:
    """A stable digest of the compared form: equal hashes mean "nothing to sync"."""
    canonical = {k: comparable(k, v) for k, v in values.items()}
    blob = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()
