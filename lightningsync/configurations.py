"""Sync configurations (SPEC §3, §14): the one service the Setup pages and import both use.

A configuration arrives as a `ConfigurationSpec` (built by a page's form, or parsed from a
file by `spec_from_dict`), is checked by `validate` with the rules of `configrules` and
`contactfilters`, and is written by `save`, which also moves users, replaces filter rows and
records the Setup Audit Trail. Because pages and import share this door, whatever one accepts
the other accepts, with the same messages.

Errors are keyed by the configuration file's paths (`"contacts.ownership"`,
`"contacts.filters[1].value"`, ...) so an import can say where, and a page can put each
message next to its field.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Model, Prefetch, QuerySet, prefetch_related_objects
from django.db.models.functions import Lower

from lightningsync import configrules, contactfilters
from lightningsync.audit import record_action, record_changes
from lightningsync.configjson import path as child_path
from lightningsync.fieldmaps import CONTACTS, EVENTS, Catalogue
from lightningsync.models import (
    ConfigurationProfile,
    ConfigurationUser,
    ContactFilter,
    Profile,
    SyncConfiguration,
    User,
)
from lightningsync.signals import configuration_saved

logger = logging.getLogger(__name__)

Errors = dict[str, list[str]]
_C = SyncConfiguration


def _max_length(model: type[Model], field_name: str) -> int:
    max_length = getattr(model._meta.get_field(field_name), "max_length", None)
    assert max_length is not None, f"{model.__name__}.{field_name} has no max_length"
    return max_length


# How long each text may be: the columns that store it (or, for a lookup, that it must match).
NAME_MAX_LENGTH = _max_length(SyncConfiguration, "name")
DESCRIPTION_MAX_LENGTH = 2000  # a TextField: the limit is the product's, not the column's
EMAIL_MAX_LENGTH = _max_length(User, "email")
PROFILE_NAME_MAX_LENGTH = _max_length(Profile, "name")
FILTER_FIELD_MAX_LENGTH = _max_length(ContactFilter, "field")
FILTER_OPERATOR_MAX_LENGTH = _max_length(ContactFilter, "operator")
FILTER_VALUE_MAX_LENGTH = _max_length(ContactFilter, "value")
CHOICE_MAX_LENGTH = _max_length(SyncConfiguration, "contacts_direction")
DATE_FILTER_MAX_LENGTH = _max_length(SyncConfiguration, "event_date_filter")
# Audit columns are bounded; a long e-mail address must not break an audited save.
_AUDIT_TEXT_MAX = 255


# --- the spec ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FilterSpec:
    field: str
    operator: str
    value: str = ""


@dataclass(frozen=True)
class ContactsSpec:
    direction: str = _C.ContactsDirection.BOTH.value
    ownership: str = _C.Ownership.USERS_RECORDS.value
    filters: tuple[FilterSpec, ...] = ()
    conflict_policy: str = _C.ConflictPolicy.CRM_WINS.value
    # CRM field -> Exchange field; empty means the catalogue's defaults.
    mappings: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EventsSpec:
    direction: str = _C.EventsDirection.EXCHANGE_TO_CRM.value
    scope: str = _C.EventScope.ALL.value
    sync_private: bool = False
    auto_remove_deleted: bool = False
    auto_relate: bool = False
    date_filter: str = "TODAY"
    mappings: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ConfigurationSpec:
    """One element of the configuration file's `"configurations"` list, typed."""

    name: str
    description: str = ""
    active: bool = True
    users: tuple[str, ...] = ()  # e-mail addresses
    profiles: tuple[str, ...] = ()  # profile names
    contacts: ContactsSpec = field(default_factory=ContactsSpec)
    events: EventsSpec = field(default_factory=EventsSpec)


# The values each choice accepts, in the order the file format documents them.
CHOICES: dict[str, tuple[str, ...]] = {
    "contacts.direction": tuple(_C.ContactsDirection.values),
    "contacts.ownership": tuple(_C.Ownership.values),
    "contacts.conflict_policy": tuple(_C.ConflictPolicy.values),
    "events.direction": tuple(_C.EventsDirection.values),
    "events.scope": tuple(_C.EventScope.values),
}

_TOP_KEYS = ("name", "description", "active", "users", "profiles", "contacts", "events")
_CONTACT_KEYS = ("direction", "ownership", "filters", "conflict_policy", "mappings")
_EVENT_KEYS = (
    "direction",
    "scope",
    "sync_private",
    "auto_remove_deleted",
    "auto_relate",
    "date_filter",
    "mappings",
)
_FILTER_KEYS = ("field", "operator", "value")


def _choice_error(path: str, value: str) -> str | None:
    allowed = CHOICES[path]
    if value in allowed:
        return None
    return configrules.text_problem(value, max_length=CHOICE_MAX_LENGTH) or (
        f"{configrules.quoted(value)} is not one of {', '.join(allowed)}."
    )


# --- from and to the file format ------------------------------------------------------------


class _Reader:
    """Reads untrusted JSON into typed values, collecting every problem with its path."""

    def __init__(self) -> None:
        self.errors: Errors = {}

    def add(self, path: str, message: str) -> None:
        self.errors.setdefault(path, []).append(message)

    def obj(self, value: Any, path: str, keys: Sequence[str]) -> Mapping[str, Any]:
        """`path` "" is the configuration itself."""
        if not isinstance(value, Mapping):
            self.add(path, "Use an object ({...}) here.")
            return {}
        for key in value:
            if key not in keys:
                self.add(child_path(path, key), f"Unknown key. Known keys here: {', '.join(keys)}.")
        return value

    def text(self, d: Mapping[str, Any], key: str, path: str, default: str = "") -> str:
        value = d.get(key, default)
        if not isinstance(value, str):
            self.add(path, "Use a text value.")
            return default
        return value

    def boolean(self, d: Mapping[str, Any], key: str, path: str, default: bool) -> bool:
        value = d.get(key, default)
        if not isinstance(value, bool):
            self.add(path, "Use true or false.")
            return default
        return value

    def choice(self, d: Mapping[str, Any], key: str, path: str, default: str) -> str:
        value = d.get(key, default)
        if not isinstance(value, str):
            self.add(path, f"Use a text value: one of {', '.join(CHOICES[path])}.")
            return default
        problem = _choice_error(path, value)
        if problem:
            self.add(path, problem)
            return default
        return str(value)

    def texts(self, d: Mapping[str, Any], key: str, path: str) -> tuple[str, ...]:
        """Items keep their places, so `users[2]` in a message is the document's third."""
        value = d.get(key, [])
        if not isinstance(value, list):
            self.add(path, "Use a list of text values.")
            return ()
        wrong = [i for i, v in enumerate(value) if not isinstance(v, str)]
        for i in wrong:
            self.add(f"{path}[{i}]", "Use a text value.")
        return () if wrong else tuple(v.strip() for v in value)

    def mapping(self, d: Mapping[str, Any], key: str, path: str) -> dict[str, str]:
        value = d.get(key, {})
        if not isinstance(value, Mapping):
            self.add(path, "Use an object mapping CRM field names to Exchange field names.")
            return {}
        wrong = [k for k, v in value.items() if not isinstance(v, str)]
        for k in wrong:
            self.add(child_path(path, k), "Use a text value: the name of an Exchange field.")
        return {} if wrong else dict(value)


def spec_from_dict(data: Any) -> ConfigurationSpec:
    """Parse one configuration of a file; raises `ValidationError` keyed by path.

    Only `name` is required; a missing key takes the value a new configuration gets on the
    page. Unknown keys and values are refused rather than ignored, so a typo never silently
    changes what syncs.
    """
    r = _Reader()
    top = r.obj(data, "", _TOP_KEYS)
    if "name" not in top and isinstance(data, Mapping):
        r.add("name", "Required: give the configuration a name.")
    contacts = r.obj(top.get("contacts", {}), "contacts", _CONTACT_KEYS)
    events = r.obj(top.get("events", {}), "events", _EVENT_KEYS)
    defaults_c, defaults_e = ContactsSpec(), EventsSpec()

    filters: list[FilterSpec] = []
    raw_filters = contacts.get("filters", [])
    if not isinstance(raw_filters, list):
        r.add("contacts.filters", "Use a list of {field, operator, value} objects.")
        raw_filters = []
    for i, raw in enumerate(raw_filters):
        path = f"contacts.filters[{i}]"
        row = r.obj(raw, path, _FILTER_KEYS)
        for key in ("field", "operator"):
            if row and key not in row:
                r.add(f"{path}.{key}", "Required.")
        filters.append(
            FilterSpec(
                field=r.text(row, "field", f"{path}.field"),
                operator=r.text(row, "operator", f"{path}.operator"),
                value=r.text(row, "value", f"{path}.value"),
            )
        )

    spec = ConfigurationSpec(
        name=r.text(top, "name", "name"),
        description=r.text(top, "description", "description"),
        active=r.boolean(top, "active", "active", True),
        users=r.texts(top, "users", "users"),
        profiles=r.texts(top, "profiles", "profiles"),
        contacts=ContactsSpec(
            direction=r.choice(contacts, "direction", "contacts.direction", defaults_c.direction),
            ownership=r.choice(contacts, "ownership", "contacts.ownership", defaults_c.ownership),
            filters=tuple(filters),
            conflict_policy=r.choice(
                contacts, "conflict_policy", "contacts.conflict_policy", defaults_c.conflict_policy
            ),
            mappings=r.mapping(contacts, "mappings", "contacts.mappings"),
        ),
        events=EventsSpec(
            direction=r.choice(events, "direction", "events.direction", defaults_e.direction),
            scope=r.choice(events, "scope", "events.scope", defaults_e.scope),
            sync_private=r.boolean(events, "sync_private", "events.sync_private", False),
            auto_remove_deleted=r.boolean(
                events, "auto_remove_deleted", "events.auto_remove_deleted", False
            ),
            auto_relate=r.boolean(events, "auto_relate", "events.auto_relate", False),
            date_filter=r.text(events, "date_filter", "events.date_filter", "TODAY"),
            mappings=r.mapping(events, "mappings", "events.mappings"),
        ),
    )
    if r.errors:
        raise ValidationError(r.errors)
    return spec


def _relations() -> list[Prefetch]:
    return [
        Prefetch(
            "configurationuser_set",
            queryset=ConfigurationUser.objects.select_related("user").order_by(
                Lower("user__email")
            ),
        ),
        Prefetch(
            "configurationprofile_set",
            queryset=ConfigurationProfile.objects.select_related("profile").order_by(
                "profile__name"
            ),
        ),
        Prefetch("contact_filters", queryset=ContactFilter.objects.order_by("position", "id")),
    ]


def with_relations(
    queryset: QuerySet[SyncConfiguration] | None = None,
) -> QuerySet[SyncConfiguration]:
    """Configurations with everything `spec_of` reads, in a constant number of queries."""
    qs = SyncConfiguration.objects.all() if queryset is None else queryset
    return qs.prefetch_related(*_relations())


def prefetch_relations(configs: Sequence[SyncConfiguration]) -> None:
    """The same prefetch for configurations already loaded (an admin page's object)."""
    prefetch_related_objects(list(configs), *_relations())


def _ordered_mapping(catalogue: Catalogue, mapping: Mapping[str, str]) -> dict[str, str]:
    """Catalogue order, so exports are stable (PostgreSQL's jsonb does not keep key order)."""
    known = [k for k in catalogue.crm_fields if k in mapping]
    others = sorted(k for k in mapping if k not in catalogue.crm_fields)
    return {k: mapping[k] for k in [*known, *others]}


def spec_of(config: SyncConfiguration) -> ConfigurationSpec:
    """The spec a stored configuration corresponds to (uses prefetched relations if present)."""
    users = sorted(
        (a.user.email for a in config.configurationuser_set.all()), key=lambda e: (e.lower(), e)
    )
    profiles = sorted(p.profile.name for p in config.configurationprofile_set.all())
    filters = sorted(config.contact_filters.all(), key=lambda f: (f.position, f.pk))
    return ConfigurationSpec(
        name=config.name,
        description=config.description,
        active=config.active,
        users=tuple(users),
        profiles=tuple(profiles),
        contacts=ContactsSpec(
            direction=config.contacts_direction,
            ownership=config.contacts_ownership,
            filters=tuple(FilterSpec(f.field, f.operator, f.value) for f in filters),
            conflict_policy=config.conflict_policy,
            mappings=_ordered_mapping(CONTACTS, config.contact_mappings or {}),
        ),
        events=EventsSpec(
            direction=config.events_direction,
            scope=config.event_scope,
            sync_private=config.sync_private_events,
            auto_remove_deleted=config.auto_remove_deleted_events,
            auto_relate=config.auto_relate_events,
            date_filter=config.event_date_filter,
            mappings=_ordered_mapping(EVENTS, config.event_mappings or {}),
        ),
    )


def spec_as_dict(spec: ConfigurationSpec) -> dict[str, Any]:
    """A spec in the file format's shape and key order."""
    c, e = spec.contacts, spec.events
    return {
        "name": spec.name,
        "description": spec.description,
        "active": spec.active,
        "users": list(spec.users),
        "profiles": list(spec.profiles),
        "contacts": {
            "direction": c.direction,
            "ownership": c.ownership,
            "filters": [
                {"field": f.field, "operator": f.operator, "value": f.value} for f in c.filters
            ],
            "conflict_policy": c.conflict_policy,
            "mappings": dict(c.mappings),
        },
        "events": {
            "direction": e.direction,
            "scope": e.scope,
            "sync_private": e.sync_private,
            "auto_remove_deleted": e.auto_remove_deleted,
            "auto_relate": e.auto_relate,
            "date_filter": e.date_filter,
            "mappings": dict(e.mappings),
        },
    }


def spec_to_dict(config: SyncConfiguration) -> dict[str, Any]:
    """Export one configuration in the file format (empty mappings stay `{}` = defaults)."""
    return spec_as_dict(spec_of(config))


# --- validation -------------------------------------------------------------------------------


@dataclass
class _Clean:
    """A spec after validation: names resolved to rows, values normalized."""

    spec: ConfigurationSpec
    name: str
    users: list[User]
    profiles: list[Profile]
    filters: list[tuple[str, str, str]]
    contact_mappings: dict[str, str]
    event_mappings: dict[str, str]
    date_filter: str


_FILTER_ERROR_PART = {
    "filter_field": "field",
    "filter_operator": "operator",
    "filter_value": "value",
}


def _text_ok(
    errors: Errors, path: str, value: str, max_length: int | None, *, multiline: bool = False
) -> bool:
    """The text rule every stored (or looked-up) string passes first, so a database never
    sees a value it would refuse, and no later message echoes one."""
    problem = configrules.text_problem(value, max_length=max_length, multiline=multiline)
    if problem:
        errors.setdefault(path, []).append(problem)
    return problem is None


def _texts_ok(values: Sequence[str], path: str, max_length: int, errors: Errors) -> list[str]:
    return [
        v for i, v in enumerate(values) if _text_ok(errors, f"{path}[{i}]", v.strip(), max_length)
    ]


def _mapping(
    catalogue: Catalogue, mapping: Mapping[str, str], path: str, errors: Errors
) -> dict[str, str]:
    texts_ok = [
        _text_ok(errors, child_path(path, k), text, None)
        for k, v in mapping.items()
        for text in (k, v)
    ]
    if not all(texts_ok):
        return {}
    try:
        cleaned = configrules.validate_mapping(catalogue, mapping)
    except ValidationError as exc:
        errors.setdefault(path, []).extend(exc.messages)
        return {}
    # A table equal to the defaults is stored as "the defaults", so it follows them if the
    # catalogue's defaults improve.
    return {} if cleaned == catalogue.default else cleaned


def _users(emails: Sequence[str], errors: Errors) -> list[User]:
    emails = _texts_ok(emails, "users", EMAIL_MAX_LENGTH, errors)
    wanted = list(dict.fromkeys(e.strip().lower() for e in emails if e.strip()))
    if not wanted:
        return []
    found = {
        u.email.lower(): u
        for u in User.objects.annotate(email_ci=Lower("email")).filter(email_ci__in=wanted)
    }
    unknown = [e for e in wanted if e not in found]
    if unknown:
        errors.setdefault("users", []).append(
            "No user has the email address "
            + ", ".join(f"“{e}”" for e in unknown)
            + ". Users are named by their email address."
        )
    return [found[e] for e in wanted if e in found]


def _profiles(
    names: Sequence[str],
    configuration_name: str,
    instance: SyncConfiguration | None,
    holders: Mapping[str, str] | None,
    errors: Errors,
) -> list[Profile]:
    names = _texts_ok(names, "profiles", PROFILE_NAME_MAX_LENGTH, errors)
    wanted = list(dict.fromkeys(n.strip() for n in names if n.strip()))
    if not wanted:
        return []
    found = {p.name: p for p in Profile.objects.filter(name__in=wanted)}
    unknown = [n for n in wanted if n not in found]
    if unknown:
        errors.setdefault("profiles", []).append(
            "No profile is named " + ", ".join(f"“{n}”" for n in unknown) + "."
        )
    if holders is None:
        taken = ConfigurationProfile.objects.filter(profile__name__in=wanted).select_related(
            "configuration", "profile"
        )
        if instance is not None and instance.pk is not None:
            taken = taken.exclude(configuration=instance)
        holders = {a.profile.name: a.configuration.name for a in taken}
    try:
        configrules.validate_profiles_free(
            {n: holders[n] for n in wanted if n in holders}, configuration_name
        )
    except ValidationError as exc:
        errors.setdefault("profiles", []).extend(exc.messages)
    return [found[n] for n in wanted if n in found]


def _name(spec: ConfigurationSpec, instance: SyncConfiguration | None, errors: Errors) -> str:
    name = spec.name.strip()
    if not name:
        errors.setdefault("name", []).append("Enter a name for the configuration.")
    elif _text_ok(errors, "name", name, NAME_MAX_LENGTH):
        clash = SyncConfiguration.objects.filter(name__iexact=name)
        if instance is not None and instance.pk is not None:
            clash = clash.exclude(pk=instance.pk)
        other = clash.first()
        if other is not None:
            errors.setdefault("name", []).append(
                f"A configuration named “{other.name}” already exists; choose another name."
            )
    return name


def _filters(filters: Sequence[FilterSpec], errors: Errors) -> list[tuple[str, str, str]]:
    rows = []
    for i, f in enumerate(filters):
        path = f"contacts.filters[{i}]"
        texts_ok = [
            _text_ok(errors, f"{path}.field", f.field, FILTER_FIELD_MAX_LENGTH),
            _text_ok(errors, f"{path}.operator", f.operator, FILTER_OPERATOR_MAX_LENGTH),
            _text_ok(errors, f"{path}.value", f.value.strip(), FILTER_VALUE_MAX_LENGTH),
        ]
        if not all(texts_ok):
            continue
        try:
            value = contactfilters.validate_filter(f.field, f.operator, f.value)
        except ValidationError as exc:
            part = _FILTER_ERROR_PART.get(exc.code or "", "value")
            errors.setdefault(f"{path}.{part}", []).extend(exc.messages)
            continue
        # An "in" list is stored as "a, b, c": the stored form must fit its column too.
        if _text_ok(errors, f"{path}.value", value, FILTER_VALUE_MAX_LENGTH):
            rows.append((f.field, f.operator, value))
    return rows


def _clean(
    spec: ConfigurationSpec,
    instance: SyncConfiguration | None,
    profile_holders: Mapping[str, str] | None,
) -> tuple[_Clean, Errors]:
    errors: Errors = {}
    name = _name(spec, instance, errors)
    _text_ok(errors, "description", spec.description, DESCRIPTION_MAX_LENGTH, multiline=True)
    for path, value in (
        ("contacts.direction", spec.contacts.direction),
        ("contacts.conflict_policy", spec.contacts.conflict_policy),
        ("events.direction", spec.events.direction),
        ("events.scope", spec.events.scope),
    ):
        problem = _choice_error(path, value)
        if problem:
            errors.setdefault(path, []).append(problem)
    ownership = spec.contacts.ownership
    if _text_ok(errors, "contacts.ownership", ownership, CHOICE_MAX_LENGTH):
        try:
            configrules.validate_ownership(ownership)
        except ValidationError as exc:
            errors.setdefault("contacts.ownership", []).extend(exc.messages)
    date_filter = spec.events.date_filter
    if _text_ok(errors, "events.date_filter", date_filter, DATE_FILTER_MAX_LENGTH):
        try:
            date_filter = configrules.normalize_date_filter(date_filter)
        except ValidationError as exc:
            errors.setdefault("events.date_filter", []).extend(exc.messages)
    clean = _Clean(
        spec=spec,
        name=name,
        users=_users(spec.users, errors),
        profiles=_profiles(spec.profiles, name, instance, profile_holders, errors),
        filters=_filters(spec.contacts.filters, errors),
        contact_mappings=_mapping(CONTACTS, spec.contacts.mappings, "contacts.mappings", errors),
        event_mappings=_mapping(EVENTS, spec.events.mappings, "events.mappings", errors),
        date_filter=date_filter,
    )
    return clean, errors


def validate(
    spec: ConfigurationSpec,
    instance: SyncConfiguration | None = None,
    *,
    profile_holders: Mapping[str, str] | None = None,
) -> Errors:
    """Every rule of SPEC §3 for one configuration; `{path: [messages]}`, empty when valid.

    `instance` is the configuration being edited (None for a new one). `profile_holders`
    (profile name -> configuration name) replaces the database's assignments when a whole
    document is applied at once, where a profile may move between two configurations.
    """
    return _clean(spec, instance, profile_holders)[1]


# --- saving -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SaveResult:
    configuration: SyncConfiguration
    # Users assigned here who were directly in another configuration, with its name.
    moved_users: list[tuple[User, str]]
    created: bool = False
    # Labels of the settings that changed (empty for an unchanged or a new configuration).
    changed: list[str] = field(default_factory=list)


LABELS: dict[str, str] = {
    "name": "Name",
    "description": "Description",
    "active": "Active",
    "users": "Assigned users",
    "profiles": "Assigned profiles",
    "contacts.direction": "Contacts direction",
    "contacts.ownership": "Contact ownership",
    "contacts.filters": "Contact filters",
    "contacts.conflict_policy": "Conflict policy",
    "contacts.mappings": "Contact field mappings",
    "events.direction": "Events direction",
    "events.scope": "Event scope",
    "events.sync_private": "Sync private events",
    "events.auto_remove_deleted": "Automatically remove deleted Exchange events",
    "events.auto_relate": "Automatically relate events",
    "events.date_filter": "Event date filter",
    "events.mappings": "Event field mappings",
}
_CHOICE_LABELS: dict[str, dict[str, str]] = {
    "contacts.direction": dict(_C.ContactsDirection.choices),
    "contacts.ownership": dict(_C.Ownership.choices),
    "contacts.conflict_policy": dict(_C.ConflictPolicy.choices),
    "events.direction": dict(_C.EventsDirection.choices),
    "events.scope": dict(_C.EventScope.choices),
}


def audit_section(name: str) -> str:
    return f"Sync configuration “{name}”"


def _audit_values(spec: ConfigurationSpec) -> dict[str, Any]:
    """What the audit trail shows: one readable value per setting."""
    flat: dict[str, Any] = {}
    for key, value in spec_as_dict(spec).items():
        if isinstance(value, dict):
            for sub, sub_value in value.items():
                flat[f"{key}.{sub}"] = sub_value
        else:
            flat[key] = value
    for path, labels in _CHOICE_LABELS.items():
        flat[path] = labels.get(flat[path], flat[path])
    flat["contacts.filters"] = [
        f"{f['field']} {f['operator']} {f['value']!r}" for f in flat["contacts.filters"]
    ]
    for path in ("contacts.mappings", "events.mappings"):
        mapping = flat[path]
        flat[path] = [f"{k} → {v}" for k, v in mapping.items()] if mapping else "defaults"
    return flat


def _fresh(pk: int) -> SyncConfiguration:
    return with_relations().get(pk=pk)


def _clip(text: str) -> str:
    return text if len(text) <= _AUDIT_TEXT_MAX else text[: _AUDIT_TEXT_MAX - 1] + "…"


def _via(via: str) -> str:
    return f" ({via})" if via else ""


def _assign_users(
    config: SyncConfiguration, users: list[User], actor: User | None, via: str
) -> list[tuple[User, str]]:
    """Direct assignment: a user chosen here leaves whichever configuration held them."""
    ConfigurationUser.objects.filter(configuration=config).exclude(user__in=users).delete()
    existing = {
        a.user_id: a
        for a in ConfigurationUser.objects.filter(user__in=users).select_related("configuration")
    }
    moved: list[tuple[User, str]] = []
    new_rows = []
    for user in users:
        assignment = existing.get(user.pk)
        if assignment is None:
            new_rows.append(ConfigurationUser(configuration=config, user=user))
        elif assignment.configuration_id != config.pk:
            former = assignment.configuration.name
            moved.append((user, former))
            record_action(
                actor,
                audit_section(former),
                _clip(f"Moved {user.email} to “{config.name}”{_via(via)}"),
            )
    if moved:
        ConfigurationUser.objects.filter(user__in=[u for u, _ in moved]).update(
            configuration=config
        )
    ConfigurationUser.objects.bulk_create(new_rows)
    return moved


def _assign_profiles(
    config: SyncConfiguration, profiles: list[Profile], actor: User | None, via: str
) -> None:
    """Profiles are validated free beforehand; a whole-document import may still move one."""
    ConfigurationProfile.objects.filter(configuration=config).exclude(profile__in=profiles).delete()
    existing = {
        a.profile_id: a
        for a in ConfigurationProfile.objects.filter(profile__in=profiles).select_related(
            "configuration"
        )
    }
    new_rows = []
    for profile in profiles:
        assignment = existing.get(profile.pk)
        if assignment is None:
            new_rows.append(ConfigurationProfile(configuration=config, profile=profile))
        elif assignment.configuration_id != config.pk:
            record_action(
                actor,
                audit_section(assignment.configuration.name),
                _clip(f"Moved profile {profile.name} to “{config.name}”{_via(via)}"),
            )
            assignment.configuration = config
            assignment.save(update_fields=["configuration"])
    ConfigurationProfile.objects.bulk_create(new_rows)


def _replace_filters(config: SyncConfiguration, rows: list[tuple[str, str, str]]) -> None:
    ContactFilter.objects.filter(configuration=config).delete()
    ContactFilter.objects.bulk_create(
        ContactFilter(configuration=config, position=i, field=f, operator=o, value=v)
        for i, (f, o, v) in enumerate(rows)
    )


def save(
    spec: ConfigurationSpec,
    *,
    user: User | None,
    instance: SyncConfiguration | None = None,
    via: str = "",
    profile_holders: Mapping[str, str] | None = None,
) -> SaveResult:
    """Validate and write one configuration in one transaction; raises `ValidationError`
    (keyed by path, nothing written) when a rule is broken.

    `user` is who acts (None: the command line), `via` how ("Setup page", "import"); both go
    to the audit trail. After the commit, `on_saved` tells the engine.
    """
    with transaction.atomic():
        if instance is not None:
            instance = SyncConfiguration.objects.select_for_update().get(pk=instance.pk)
        clean, errors = _clean(spec, instance, profile_holders)
        if errors:
            raise ValidationError(errors)
        before = _audit_values(spec_of(_fresh(instance.pk))) if instance is not None else None
        config = instance if instance is not None else SyncConfiguration()
        c, e = spec.contacts, spec.events
        config.name = clean.name
        config.description = spec.description
        config.active = spec.active
        config.contacts_direction = c.direction
        config.contacts_ownership = c.ownership
        config.conflict_policy = c.conflict_policy
        config.contact_mappings = clean.contact_mappings
        config.events_direction = e.direction
        config.event_scope = e.scope
        config.sync_private_events = e.sync_private
        config.auto_remove_deleted_events = e.auto_remove_deleted
        config.auto_relate_events = e.auto_relate
        config.event_date_filter = clean.date_filter
        config.event_mappings = clean.event_mappings
        config.save()
        moved = _assign_users(config, clean.users, user, via)
        _assign_profiles(config, clean.profiles, user, via)
        _replace_filters(config, clean.filters)

        config = _fresh(config.pk)
        changed: list[str] = []
        if before is None:
            record_action(
                user, audit_section(config.name), f"Created sync configuration{_via(via)}"
            )
        else:
            entries = record_changes(
                user,
                audit_section(config.name),
                before,
                _audit_values(spec_of(config)),
                labels=LABELS,
                via=via,
            )
            changed = [entry.field for entry in entries]
        saved = config
        transaction.on_commit(lambda: on_saved(saved))
    return SaveResult(saved, moved, created=before is None, changed=changed)


def delete(config: SyncConfiguration, *, user: User | None, via: str = "") -> None:
    """Delete a configuration, leaving an audit entry; its users stop syncing through it
    (they fall back to their profile's configuration, if any)."""
    with transaction.atomic():
        users = ConfigurationUser.objects.filter(configuration=config).count()
        profiles = ConfigurationProfile.objects.filter(configuration=config).count()
        record_action(
            user,
            audit_section(config.name),
            f"Deleted sync configuration ({users} user{'s' if users != 1 else ''}, "
            f"{profiles} profile{'s' if profiles != 1 else ''}){_via(via)}",
        )
        config.delete()


def on_saved(configuration: SyncConfiguration) -> None:
    """Called once after every committed save of a configuration (page or import).

    SPEC §3: "saving an active configuration starts sync for its users". The engine listens
    to `lightningsync.signals.configuration_saved` and enqueues a cycle for each user this
    configuration now governs; the domain layer never imports the engine.
    """
    logger.debug("Sync configuration %s saved (active=%s)", configuration.pk, configuration.active)
    configuration_saved.send(sender=SyncConfiguration, configuration=configuration)
