"""Recording Setup Audit Trail entries: one row per changed field; secrets read "changed"."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from lightningsync.models import SetupAuditTrail, User
from lightningsync.models.audit import SECRET_CHANGED


def _display(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list | tuple | set):
        return ", ".join(str(v) for v in value)
    return str(value)


def actor_name(user: User | None) -> str:
    if user is None:
        return "command line"
    return user.email or user.username


def record_changes(
    user: User | None,
    section: str,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    labels: Mapping[str, str] | None = None,
    secret_fields: Iterable[str] = (),
    via: str = "",
) -> list[SetupAuditTrail]:
    """Write one entry per field whose value differs; returns the entries written."""
    labels = labels or {}
    secrets = set(secret_fields)
    entries = []
    for name, new in after.items():
        old = before.get(name)
        if old == new:
            continue
        label = labels.get(name, name.replace("_", " ").capitalize())
        if name in secrets:
            old_text, new_text = "", SECRET_CHANGED
        else:
            old_text, new_text = _display(old), _display(new)
        action = f"Changed {label}" + (f" ({via})" if via else "")
        entries.append(
            SetupAuditTrail(
                user=user,
                actor=actor_name(user),
                section=section,
                action=action,
                field=label,
                old_value=old_text,
                new_value=new_text,
            )
        )
    SetupAuditTrail.objects.bulk_create(entries)
    return entries


def record_action(user: User | None, section: str, action: str) -> SetupAuditTrail:
    return SetupAuditTrail.objects.create(
        user=user, actor=actor_name(user), section=section, action=action
    )
