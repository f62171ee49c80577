"""Setup and every sync configuration as one JSON document (SPEC §14, format version 1).

Admins set up a sandbox, export, and import into production. Import is all-or-nothing and
validates with exactly the rules of the Setup pages: the setup section goes through
`setupservice.apply_setup`, each configuration through `lightningsync.configurations`.
Secrets never travel in the file: they are set with `manage.py lightningsync_setup`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from lightningsync import configurations, setupservice
from lightningsync.models import LightningSyncSetup, SyncConfiguration, User

FORMAT_VERSION = 1
VIA = "import"
_TOP_KEYS = ("version", "setup", "configurations")

# Keys that would carry a secret, and how to set that secret instead.
SECRET_KEYS: dict[str, str] = {
    "password": "manage.py lightningsync_setup --password-stdin (or --password-file F)",
    "client_secret": (
        "manage.py lightningsync_setup --client-secret-stdin (or --client-secret-file F)"
    ),
    "certificate": "the Lightning Sync Setup page (OAuth 2.0 client certificate)",
}


class ConfigFileError(Exception):
    """The document was refused; `errors` lists every problem, each with its path."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass
class ImportSummary:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    # "Moved Alice <alice@example.com> from “East reps” to “West reps”."
    moved: list[str] = field(default_factory=list)
    setup_imported: bool = False

    def __str__(self) -> str:
        counts = (
            f"{len(self.created)} created, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, {len(self.deleted)} deleted"
        )
        setup = "Setup and " if self.setup_imported else ""
        return f"Imported {setup}sync configurations: {counts}."

    def as_dict(self) -> dict[str, Any]:
        return {
            "setup_imported": self.setup_imported,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "moved": self.moved,
        }


# --- export -----------------------------------------------------------------------------------


def export_document() -> dict[str, Any]:
    """Setup (without secrets) and every configuration, sorted by name."""
    setup = LightningSyncSetup.objects.filter(pk=LightningSyncSetup.SINGLETON_ID).first()
    return {
        "version": FORMAT_VERSION,
        "setup": setupservice.export_setup(setup or LightningSyncSetup()),
        "configurations": [
            configurations.spec_to_dict(c) for c in configurations.with_relations().order_by("name")
        ],
    }


def dumps(document: Mapping[str, Any]) -> str:
    """Deterministic text: export -> import -> export gives the same bytes."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def loads(text: str) -> dict[str, Any]:
    """Parse a document's text; refuses invalid JSON naming the line and column."""
    try:
        document = json.loads(text.lstrip("\ufeff"))
    except json.JSONDecodeError as exc:
        raise ConfigFileError(
            [f"The file is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."]
        ) from None
    if not isinstance(document, dict):
        raise ConfigFileError(
            ["The file must hold one JSON object with “version”, “setup” and “configurations”."]
        )
    return document


# --- import -----------------------------------------------------------------------------------


def _strip_secrets(value: Any, path: str, errors: list[str]) -> Any:
    """A copy without secret keys, reporting each one found (wherever it is)."""
    if isinstance(value, Mapping):
        kept = {}
        for key, sub in value.items():
            where = f"{path}.{key}" if path else str(key)
            if key in SECRET_KEYS:
                errors.append(
                    f"{where}: secrets are never imported from a file; "
                    f"set this one with {SECRET_KEYS[key]}."
                )
            else:
                kept[key] = _strip_secrets(sub, where, errors)
        return kept
    if isinstance(value, list):
        return [_strip_secrets(v, f"{path}[{i}]", errors) for i, v in enumerate(value)]
    return value


def _prefixed(prefix: str, exc: ValidationError) -> list[str]:
    if hasattr(exc, "error_dict"):
        return [
            f"{prefix}{path}: {message}"
            for path, messages in exc.message_dict.items()
            for message in messages
        ]
    return [f"{prefix.rstrip(': ')}: {message}" for message in exc.messages]


def _header(document: Mapping[str, Any], errors: list[str]) -> None:
    for key in document:
        if key not in _TOP_KEYS:
            errors.append(f"{key}: Unknown key. Known keys here: {', '.join(_TOP_KEYS)}.")
    version = document.get("version")
    if version != FORMAT_VERSION:
        shown = "missing" if version is None else json.dumps(version)
        errors.append(
            f"version: this file's format version is {shown}; this Lightning Sync reads "
            f"version {FORMAT_VERSION} (export again from the sandbox)."
        )
    if "configurations" not in document:
        errors.append(
            "configurations: Required. List every configuration the org should have "
            "(an empty list deletes them all)."
        )
    elif not isinstance(document["configurations"], list):
        errors.append("configurations: Use a list of configurations.")


def _parse_all(
    raw_list: list[Any], errors: list[str]
) -> list[tuple[str, configurations.ConfigurationSpec | None]]:
    """(error prefix, spec) per configuration; also refuses what only a document can break."""
    parsed: list[tuple[str, configurations.ConfigurationSpec | None]] = []
    for i, raw in enumerate(raw_list):
        name = raw.get("name") if isinstance(raw, Mapping) else None
        prefix = f"configurations[{i}]" + (f" “{name}”" if isinstance(name, str) else "") + ": "
        try:
            parsed.append((prefix, configurations.spec_from_dict(raw)))
        except ValidationError as exc:
            errors.extend(_prefixed(prefix, exc))
            parsed.append((prefix, None))
    seen_names: dict[str, str] = {}
    seen_users: dict[str, str] = {}
    seen_profiles: dict[str, str] = {}
    for prefix, spec in parsed:
        if spec is None:
            continue
        key = spec.name.strip().lower()
        if key in seen_names:
            errors.append(f"{prefix}name: “{spec.name}” appears twice in the document.")
        seen_names.setdefault(key, spec.name)
        for email in spec.users:
            other = seen_users.setdefault(email.lower(), spec.name)
            if other != spec.name:
                errors.append(
                    f"{prefix}users: {email} is also listed in “{other}”; "
                    "a user can be in one configuration only."
                )
        for profile in spec.profiles:
            other = seen_profiles.setdefault(profile, spec.name)
            if other != spec.name:
                errors.append(
                    f"{prefix}profiles: {profile} is also listed in “{other}”; "
                    "a profile can be in one configuration only."
                )
    return parsed


def import_document(document: Mapping[str, Any], *, user: User | None) -> ImportSummary:
    """Apply a whole document, or nothing: raises `ConfigFileError` listing every problem.

    Configurations are matched by name; those in the database but not in the document are
    deleted, so the org ends up with exactly the document's configurations.
    """
    errors: list[str] = []
    if not isinstance(document, Mapping):
        raise ConfigFileError(["The document must be a JSON object."])
    document = _strip_secrets(document, "", errors)
    _header(document, errors)
    raw_list = document.get("configurations")
    specs = _parse_all(raw_list if isinstance(raw_list, list) else [], errors)
    summary = ImportSummary()

    with transaction.atomic():
        if "setup" in document and not isinstance(document["setup"], Mapping):
            errors.append("setup: Use an object of settings (or leave “setup” out to keep Setup).")
        elif "setup" in document:
            try:
                setupservice.apply_setup(document["setup"], user=user, via=VIA)
                summary.setup_imported = True
            except ValidationError as exc:
                errors.extend(_prefixed("setup.", exc))
        # Matched by name, ignoring case (names are unique that way, see `configurations`).
        existing = {c.name.lower(): c for c in SyncConfiguration.objects.select_for_update()}
        holders = {p: s.name for _, s in specs if s is not None for p in s.profiles}
        for prefix, spec in specs:
            if spec is None:
                continue
            instance = existing.get(spec.name.strip().lower())
            problems = configurations.validate(spec, instance, profile_holders=holders)
            errors.extend(
                f"{prefix}{path}: {message}"
                for path, messages in problems.items()
                for message in messages
            )
        if errors:
            # Raising inside the transaction undoes everything, a Setup change included.
            raise ConfigFileError(errors)

        names = {s.name.strip().lower() for _, s in specs if s is not None}
        for key, config in sorted(existing.items()):
            if key not in names:
                summary.deleted.append(config.name)
                configurations.delete(config, user=user, via=VIA)
        for _, spec in specs:
            assert spec is not None  # every parse error was raised above
            result = configurations.save(
                spec,
                user=user,
                instance=existing.get(spec.name.strip().lower()),
                via=VIA,
                profile_holders=holders,
            )
            name = result.configuration.name
            if result.created:
                summary.created.append(name)
            elif result.changed:
                summary.updated.append(name)
            else:
                summary.unchanged.append(name)
            summary.moved.extend(
                f"Moved {moved_user.email} from “{former}” to “{name}”."
                for moved_user, former in result.moved_users
            )
    return summary
