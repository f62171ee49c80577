"""Setup and every sync configuration as one JSON document (SPEC §14, format version 1).

Admins set up a sandbox, export, and import into production. Import is all-or-nothing and
validates with exactly the rules of the Setup pages: the setup section goes through
`setupservice.apply_setup`, each configuration through `lightningsync.configurations`, and
every string first through `configrules.text_problem`, the rule the pages use too. It
creates and updates the document's configurations and keeps the others unless asked to
prune them. A dry run applies the document and rolls it back, so the plan it shows is
exactly what applying does. Secrets never travel in the file: `manage.py
lightningsync_setup` sets them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from lightningsync import configrules, configurations, setupservice
from lightningsync.configjson import ConfigFileError, loads, path
from lightningsync.models import (
    ConfigurationProfile,
    ConfigurationUser,
    LightningSyncSetup,
    SyncConfiguration,
    User,
)

FORMAT_VERSION = 1
VIA = "import"
_TOP_KEYS = ("version", "setup", "configurations")
# Work an import does grows with the configurations it holds; orgs have tens of them.
MAX_CONFIGURATIONS = 1000
# Reporting stops here: a file with more broken strings than this is broken throughout.
_MAX_TEXT_ERRORS = 50
# The format's keys, and the field names mappings use, are far shorter.
_MAX_KEY_LENGTH = 100
# Where a line break is part of the value.
_MULTILINE_RE = re.compile(
    r"^configurations\[\d+\]\.description$|^setup\.service_account\.ca_bundle$"
)

# Keys that would carry a secret, and how to set that secret instead.
SECRET_KEYS: dict[str, str] = {
    "password": "manage.py lightningsync_setup --password-stdin (or --password-file F)",
    "client_secret": (
        "manage.py lightningsync_setup --client-secret-stdin (or --client-secret-file F)"
    ),
    "certificate": "the Lightning Sync Setup page (OAuth 2.0 client certificate)",
}


@dataclass(frozen=True)
class Move:
    """A user directly assigned to one configuration before the import and another after."""

    user: str
    source: str
    target: str


@dataclass
class ImportPlan:
    """What an import does (or, in a dry run, would do); equal plans mean equal changes."""

    setup_in_file: bool = False
    setup_changed: list[str] = field(default_factory=list)  # labels of changed settings
    created: list[str] = field(default_factory=list)
    updated: dict[str, list[str]] = field(default_factory=dict)  # name -> changed settings
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # not in the file, and not pruned
    moved: list[Move] = field(default_factory=list)

    def counts(self) -> str:
        return (
            f"{len(self.created)} created, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, {len(self.deleted)} deleted, {len(self.kept)} kept"
        )

    def headline(self, *, applied: bool) -> str:
        what = "Setup and sync configurations" if self.setup_in_file else "sync configurations"
        if applied:
            return f"Imported {what}: {self.counts()}."
        return f"Importing would change {what}: {self.counts()}."

    def lines(self, *, applied: bool) -> list[str]:
        """One line per change, in the tense of `applied`."""

        def verb(now: str, done: str) -> str:
            return done if applied else now

        lines = []
        if self.setup_changed:
            lines.append(f"{verb('Change', 'Changed')} Setup: {', '.join(self.setup_changed)}.")
        lines += [f"{verb('Create', 'Created')} “{name}”." for name in self.created]
        lines += [
            f"{verb('Update', 'Updated')} “{name}”: {', '.join(labels)}."
            for name, labels in self.updated.items()
        ]
        lines += [f"{verb('Delete', 'Deleted')} “{name}”." for name in self.deleted]
        lines += [f"{verb('Keep', 'Kept')} “{name}” (not in the file)." for name in self.kept]
        lines += [
            f"{verb('Move', 'Moved')} {m.user} from “{m.source}” to “{m.target}”."
            for m in self.moved
        ]
        return lines

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class PlanChanged(Exception):
    """The database changed since a plan was shown: applying now would do something else."""

    def __init__(self, plan: ImportPlan) -> None:
        super().__init__("The import plan changed.")
        self.plan = plan


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


# --- checks on the whole document -------------------------------------------------------------


def _scan_text(value: Any, where: str, errors: list[str]) -> None:
    """Every key and string of the document passes the text rule (lengths come later, per
    setting): a NUL or a lone surrogate is refused here, before any query could carry it."""
    if len(errors) >= _MAX_TEXT_ERRORS:
        return
    if isinstance(value, str):
        multiline = bool(_MULTILINE_RE.match(where))
        problem = configrules.text_problem(value, max_length=None, multiline=multiline)
        if problem:
            errors.append(f"{where}: {problem}")
    elif isinstance(value, Mapping):
        for key, sub in value.items():
            problem = configrules.text_problem(key, max_length=_MAX_KEY_LENGTH)
            if problem:
                verb = "is " if problem.startswith("Longer") else ""
                problem = f"The key {verb}{problem[0].lower()}{problem[1:]}"
                errors.append(f"{path(where, key)}: {problem}")
            else:
                _scan_text(sub, path(where, key), errors)
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            _scan_text(sub, path(where, i), errors)


def _strip_secrets(value: Any, where: str, errors: list[str]) -> Any:
    """A copy without secret keys, reporting each one found (wherever it is)."""
    if isinstance(value, Mapping):
        kept = {}
        for key, sub in value.items():
            if key in SECRET_KEYS:
                errors.append(
                    f"{path(where, key)}: secrets are never imported from a file; "
                    f"set this one with {SECRET_KEYS[key]}."
                )
            else:
                kept[key] = _strip_secrets(sub, path(where, key), errors)
        return kept
    if isinstance(value, list):
        return [_strip_secrets(v, path(where, i), errors) for i, v in enumerate(value)]
    return value


def _header(document: Mapping[str, Any], errors: list[str]) -> None:
    for key in document:
        if key not in _TOP_KEYS:
            errors.append(f"{path('', key)}: Unknown key. Known keys here: {', '.join(_TOP_KEYS)}.")
    version = document.get("version")
    if type(version) is not int or version != FORMAT_VERSION:
        shown = json.dumps(version)[:40] if "version" in document else "missing"
        errors.append(
            f"version: this file's format version is {shown}; this Lightning Sync reads "
            f"version {FORMAT_VERSION} (export again from the sandbox)."
        )
    raw_list = document.get("configurations")
    if raw_list is None:
        errors.append(
            "configurations: Required. List the configurations to create or update "
            "(an empty list changes none)."
        )
    elif not isinstance(raw_list, list):
        errors.append("configurations: Use a list of configurations.")
    elif len(raw_list) > MAX_CONFIGURATIONS:
        errors.append(
            f"configurations: The file holds {len(raw_list)} configurations; an import takes "
            f"at most {MAX_CONFIGURATIONS}."
        )


def _setup_texts(section: Mapping[str, Any], errors: list[str]) -> None:
    """The text rule for the setup section's strings, with the lengths of the Setup columns
    (`apply_setup` checks what each setting means)."""
    for setting in setupservice.SETTINGS:
        group, _, key = setting.path.rpartition(".")
        holder = section.get(group) if group else section
        if not isinstance(holder, Mapping) or key not in holder:
            continue
        value = holder[key]
        model_field = LightningSyncSetup._meta.get_field(setting.field)
        choices = getattr(model_field, "choices", None)
        where = f"setup.{setting.path}"
        if isinstance(value, str):
            problem = configrules.text_problem(
                value.strip(),
                max_length=getattr(model_field, "max_length", None),
                multiline=bool(_MULTILINE_RE.match(where)),
            )
            if problem:
                errors.append(f"{where}: {problem}")
        elif choices:
            allowed = ", ".join(str(choice[0]) for choice in choices)
            errors.append(f"{where}: Use a text value: one of {allowed}.")


def _prefixed(prefix: str, exc: ValidationError) -> list[str]:
    """Messages keyed by path (a configuration's, or Setup's) under the document's path."""
    if not hasattr(exc, "error_dict"):
        return [f"{prefix}: {message}" for message in exc.messages]
    lines = []
    for sub, messages in exc.message_dict.items():
        where = prefix + ("" if not sub or sub.startswith("[") else ".") + sub
        lines += [f"{where}: {message}" for message in messages]
    return lines


def _parse_all(
    raw_list: list[Any], errors: list[str]
) -> list[tuple[str, configurations.ConfigurationSpec | None]]:
    """(document path, spec) per configuration; also refuses what only a document can break."""
    parsed: list[tuple[str, configurations.ConfigurationSpec | None]] = []
    for i, raw in enumerate(raw_list):
        where = path("configurations", i)
        try:
            parsed.append((where, configurations.spec_from_dict(raw)))
        except ValidationError as exc:
            errors.extend(_prefixed(where, exc))
            parsed.append((where, None))
    seen_names: set[str] = set()
    seen_users: dict[str, str] = {}
    seen_profiles: dict[str, str] = {}
    for where, spec in parsed:
        if spec is None:
            continue
        key = spec.name.strip().lower()
        if key in seen_names:
            errors.append(f"{where}.name: “{spec.name}” appears twice in the document.")
        seen_names.add(key)
        for email in filter(None, spec.users):
            other = seen_users.setdefault(email.lower(), spec.name)
            if other != spec.name:
                errors.append(
                    f"{where}.users: {email} is also listed in “{other}”; "
                    "a user can be in one configuration only."
                )
        for profile in filter(None, spec.profiles):
            other = seen_profiles.setdefault(profile, spec.name)
            if other != spec.name:
                errors.append(
                    f"{where}.profiles: {profile} is also listed in “{other}”; "
                    "a profile can be in one configuration only."
                )
    return parsed


# --- import -----------------------------------------------------------------------------------


def _setup_values(setup: LightningSyncSetup) -> dict[str, Any]:
    return {s.label: getattr(setup, s.field) for s in setupservice.SETTINGS}


def _direct_assignments() -> dict[int, tuple[int, str, str]]:
    """{user id: (configuration id, configuration name, user's email)}."""
    return {
        user_id: (config_id, name, email)
        for user_id, config_id, name, email in ConfigurationUser.objects.values_list(
            "user_id", "configuration_id", "configuration__name", "user__email"
        )
    }


def _moves(
    before: Mapping[int, tuple[int, str, str]], after: Mapping[int, tuple[int, str, str]]
) -> list[Move]:
    moves = [
        Move(after[uid][2], before[uid][1], after[uid][1])
        for uid in before.keys() & after.keys()
        if before[uid][0] != after[uid][0]
    ]
    return sorted(moves, key=lambda m: (m.user.lower(), m.user))


def _import_setup(section: Any, plan: ImportPlan, user: User | None, errors: list[str]) -> None:
    if not isinstance(section, Mapping):
        errors.append("setup: Use an object of settings (or leave “setup” out to keep Setup).")
        return
    text_errors: list[str] = []
    _setup_texts(section, text_errors)
    if text_errors:
        errors.extend(text_errors)
        return
    current = LightningSyncSetup.objects.filter(pk=LightningSyncSetup.SINGLETON_ID).first()
    before = _setup_values(current or LightningSyncSetup())
    try:
        after = _setup_values(setupservice.apply_setup(section, user=user, via=VIA))
    except ValidationError as exc:
        errors.extend(_prefixed("setup", exc))
        return
    plan.setup_changed = [label for label, value in after.items() if before[label] != value]


def import_document(
    document: Mapping[str, Any],
    *,
    user: User | None,
    prune: bool = False,
    dry_run: bool = False,
    expected: Mapping[str, Any] | None = None,
) -> ImportPlan:
    """Apply a whole document, or nothing; returns what it did (a dry run undoes it all).

    Raises `ConfigFileError` listing every problem. Configurations are matched by name
    (ignoring case); those not in the document are kept, or deleted with `prune`.
    `expected` is a plan shown earlier (`ImportPlan.as_dict()`): if applying now would do
    anything else, `PlanChanged` is raised with the new plan and nothing changes.
    """
    if not isinstance(document, Mapping):
        raise ConfigFileError(["The document must be a JSON object."])
    errors: list[str] = []
    _scan_text(document, "", errors)
    if errors:
        raise ConfigFileError(errors)
    document = _strip_secrets(document, "", errors)
    _header(document, errors)
    raw_list = document.get("configurations")
    fits = isinstance(raw_list, list) and len(raw_list) <= MAX_CONFIGURATIONS
    specs = _parse_all(raw_list if isinstance(raw_list, list) and fits else [], errors)
    plan = ImportPlan(setup_in_file="setup" in document)

    with transaction.atomic():
        if "setup" in document:
            _import_setup(document["setup"], plan, user, errors)
        # Matched by name, ignoring case (names are unique that way, see `configurations`).
        existing = {c.name.lower(): c for c in SyncConfiguration.objects.select_for_update()}
        named = {s.name.strip().lower() for _, s in specs if s is not None}
        missing = [config for key, config in sorted(existing.items()) if key not in named]
        holders = {p: s.name for _, s in specs if s is not None for p in s.profiles}
        if not prune:
            # A configuration that stays keeps its profiles: the document may not take them.
            holders.update(
                ConfigurationProfile.objects.filter(configuration__in=missing).values_list(
                    "profile__name", "configuration__name"
                )
            )
        for where, spec in specs:
            if spec is None:
                continue
            instance = existing.get(spec.name.strip().lower())
            problems = configurations.validate(spec, instance, profile_holders=holders)
            if problems:
                errors.extend(_prefixed(where, ValidationError(problems)))
        if errors:
            # Raising inside the transaction undoes everything, a Setup change included.
            raise ConfigFileError(errors)

        before = _direct_assignments()
        for config in missing:
            if prune:
                plan.deleted.append(config.name)
                configurations.delete(config, user=user, via=VIA)
            else:
                plan.kept.append(config.name)
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
                plan.created.append(name)
            elif result.changed:
                plan.updated[name] = result.changed
            else:
                plan.unchanged.append(name)
        plan.moved = _moves(before, _direct_assignments())
        if expected is not None and plan.as_dict() != expected:
            raise PlanChanged(plan)
        if dry_run:
            transaction.set_rollback(True)
    return plan


def import_text(
    text: str,
    *,
    user: User | None,
    prune: bool = False,
    dry_run: bool = False,
    expected: Mapping[str, Any] | None = None,
) -> ImportPlan:
    """Parse a document's text (`configjson.loads`) and import it; see `import_document`."""
    return import_document(loads(text), user=user, prune=prune, dry_run=dry_run, expected=expected)
