"""The sync configuration form of the Setup pages (SPEC §3; the seed's 16 steps, in order).

The form only collects what the admin entered and turns it into a `ConfigurationSpec`;
every rule is `lightningsync.configurations.validate`'s, whose path-keyed messages are put
next to the field they concern. So the page and a file import cannot disagree.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from django import forms
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.db.models import Model
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from lightningsync import configurations, contactfilters
from lightningsync.configurations import ConfigurationSpec, ContactsSpec, EventsSpec, FilterSpec
from lightningsync.fieldmaps import CONTACTS, EVENTS, Catalogue, compatible
from lightningsync.models import ContactFilter, Profile, SyncConfiguration, User

_C = SyncConfiguration
LAST_N_DAYS = "LAST_N_DAYS"
DATE_FILTER_CHOICES = [
    ("TODAY", "TODAY: events that end today or later"),
    ("LAST_MONTH", "LAST MONTH: events that ended on or after the 1st of last month"),
    (LAST_N_DAYS, "LAST N DAYS: events that ended at most N days ago"),
]
SCOPE_SELECTED, SCOPE_ALL = "selected", "all"


# --- widgets ----------------------------------------------------------------------------------


class _TemplateWidget(forms.Widget):
    """Renders with the project's template engine (templates/setupui/…), like the pages."""

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> SafeString:
        context = self.get_context(name, value, attrs)
        return mark_safe(render_to_string(str(self.template_name), context))


class MappingWidget(_TemplateWidget):
    """One row per CRM field: a select of the compatible Exchange fields, or "not synced".

    Matching fields are shown read-only: they cannot be remapped.
    """

    template_name = "setupui/configuration_mapping_widget.html"

    def __init__(self, catalogue: Catalogue, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs)
        self.catalogue = catalogue

    def value_from_datadict(self, data: Any, files: Any, name: str) -> dict[str, str]:
        chosen = {
            crm: data.get(f"{name}-{crm}", "")
            for crm in self.catalogue.crm_fields
            if crm not in self.catalogue.fixed
        }
        return {**self.catalogue.fixed, **chosen}

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        mapping: Mapping[str, str] = value or {}
        rows = []
        for crm in self.catalogue.crm_fields.values():
            current = mapping.get(crm.name, "")
            fixed = crm.name in self.catalogue.fixed
            options = [
                (x.name, f"{x.label} ({x.name})")
                for x in self.catalogue.exchange_fields.values()
                if compatible(crm.kind, x.kind) or x.name == current
            ]
            rows.append(
                {
                    "crm": crm,
                    "input_name": f"{name}-{crm.name}",
                    "fixed": fixed,
                    "current": current,
                    "current_label": self.catalogue.exchange_fields[current].label
                    if current in self.catalogue.exchange_fields
                    else current,
                    "options": options,
                }
            )
        context["rows"] = rows
        context["object_label"] = self.catalogue.object_label
        return context


class FilterRowsWidget(_TemplateWidget):
    """An editable table of field / operator / value rows (rows are added and removed in the
    browser; without JavaScript, blank rows stand ready and a row is removed by emptying it)."""

    template_name = "setupui/configuration_filters_widget.html"
    blank_rows = 1

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs)
        # The messages of one form's rows, by row index. Each form gets its own copy of the
        # widget (Django deep-copies a form's fields), so one admin's errors never reach
        # another admin's page.
        self.row_errors: dict[int, list[str]] = {}

    def __deepcopy__(self, memo: dict[int, Any]) -> FilterRowsWidget:
        # Widget.__deepcopy__ is shallow: it would share this dict between every form.
        obj = super().__deepcopy__(memo)
        obj.row_errors = copy.deepcopy(self.row_errors, memo)
        return obj

    def value_from_datadict(self, data: Any, files: Any, name: str) -> list[dict[str, str]]:
        fields = data.getlist(f"{name}-field") if hasattr(data, "getlist") else []
        operators = data.getlist(f"{name}-operator") if hasattr(data, "getlist") else []
        values = data.getlist(f"{name}-value") if hasattr(data, "getlist") else []
        rows = []
        for field, operator, value in zip(fields, operators, values, strict=False):
            if field or value.strip():
                rows.append({"field": field, "operator": operator, "value": value})
        return rows

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        rows = [
            {**row, "errors": self.row_errors.get(i, []), "number": i + 1}
            for i, row in enumerate(value or [])
        ]
        blank = {"field": "", "operator": "equals", "value": "", "errors": []}
        context.update(
            rows=rows,
            blanks=[blank] * self.blank_rows,
            blank=blank,
            fields=[(f.name, f.label) for f in contactfilters.FILTER_FIELDS.values()],
            operators=list(ContactFilter.Operator.choices),
            name=name,
        )
        return context


# --- fields -----------------------------------------------------------------------------------


class MappingField(forms.Field):
    """CRM field -> Exchange field; a row left at "not synced" is simply absent."""

    def __init__(self, catalogue: Catalogue, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(widget=MappingWidget(catalogue), **kwargs)

    def to_python(self, value: Any) -> dict[str, str]:
        return {k: v for k, v in (value or {}).items() if v}


class FilterRowsField(forms.Field):
    widget = FilterRowsWidget

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> list[dict[str, str]]:
        return list(value or [])


class _AssignmentChoiceField(forms.ModelMultipleChoiceField):
    """Choices say where each user or profile is now, so a move is never a surprise."""

    configuration_id: int | None = None

    def label_from_instance(self, obj: Model) -> str:
        label = str(obj)
        if isinstance(obj, User) and not obj.is_active:
            label += " (inactive)"
        assignment = getattr(obj, "configuration_assignment", None)
        if assignment is not None and assignment.configuration_id != self.configuration_id:
            label += f" — now in “{assignment.configuration.name}”"
        return label


# --- the form ---------------------------------------------------------------------------------

# Where each path of `configurations.validate` shows on the page.
FIELD_FOR_PATH = {
    "name": "name",
    "description": "description",
    "active": "active",
    "users": "users",
    "profiles": "profiles",
    "contacts.direction": "contacts_direction",
    "contacts.ownership": "users_records",
    "contacts.conflict_policy": "conflict_policy",
    "contacts.mappings": "contact_field_mappings",
    "events.direction": "events_direction",
    "events.scope": "event_scope",
    "events.sync_private": "sync_private_events",
    "events.auto_remove_deleted": "auto_remove_deleted_events",
    "events.auto_relate": "auto_relate_events",
    "events.mappings": "event_field_mappings",
}


class SyncConfigurationForm(forms.ModelForm):
    # Step 3
    name = forms.CharField(
        label="Configuration name",
        help_text="Unique, for example the region or team whose reps this configuration serves.",
    )
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    active = forms.BooleanField(
        required=False,
        initial=True,
        help_text="Only an active configuration syncs. Saving an active configuration starts "
        "sync for its users.",
    )
    # Step 4
    users = _AssignmentChoiceField(
        queryset=User.objects.none(),
        required=False,
        widget=FilteredSelectMultiple("users", is_stacked=False),
        help_text="A user belongs to one configuration. Choosing a user who is now in another "
        "configuration moves them here when you save. Users are listed by email address, "
        "which must match their Exchange mailbox.",
    )
    profiles = _AssignmentChoiceField(
        queryset=Profile.objects.none(),
        required=False,
        widget=FilteredSelectMultiple("profiles", is_stacked=False),
        help_text="Every user with one of these profiles syncs with this configuration, unless "
        "they are chosen directly in another one. A profile can be in one configuration only.",
    )
    # Step 5
    contacts_direction = forms.ChoiceField(
        label="Sync contacts",
        choices=_C.ContactsDirection.choices,
        initial=_C.ContactsDirection.BOTH,
        widget=forms.RadioSelect,
    )
    # Step 6
    contact_field_mappings = MappingField(
        CONTACTS,
        label="Contact fields",
        help_text="Matching fields are fixed: Lightning Sync uses them to recognise the same "
        "contact on both sides.",
    )
    # Steps 7 and 8
    events_direction = forms.ChoiceField(
        label="Sync events",
        choices=_C.EventsDirection.choices,
        initial=_C.EventsDirection.EXCHANGE_TO_CRM,
        widget=forms.RadioSelect,
    )
    event_scope = forms.ChoiceField(
        label="Which events",
        choices=_C.EventScope.choices,
        initial=_C.EventScope.ALL,
        widget=forms.RadioSelect,
        help_text="To let reps select events, turn on event selection on the Lightning Sync "
        "Setup page; reps then give an event the Outlook category set there.",
    )
    # Step 9
    event_field_mappings = MappingField(
        EVENTS,
        label="Event fields",
        help_text="Subject, start, end and all-day are fixed: they identify the event.",
    )
    # Step 11
    contact_scope = forms.ChoiceField(
        label="Contacts reps sync",
        choices=[(SCOPE_SELECTED, "Selected contacts"), (SCOPE_ALL, "All contacts")],
        initial=SCOPE_SELECTED,
        widget=forms.RadioSelect,
        help_text="All contacts: every contact the rep can see in the CRM.",
    )
    users_records = forms.BooleanField(
        label="User's records",
        required=False,
        initial=True,
        help_text="With Selected contacts, sync the contacts the rep owns. Selected contacts "
        "needs this: without it no contact would sync.",
    )
    filters = FilterRowsField(
        label="Only contacts where",
        help_text="Every row must hold (rows are combined with AND). For “in list”, separate "
        "values with commas; compare dates as YYYY-MM-DD. Text comparisons ignore case.",
    )
    # Steps 12 to 14
    sync_private_events = forms.BooleanField(
        label="Sync private events",
        required=False,
        help_text="Also sync events marked private in Exchange or in the CRM.",
    )
    auto_remove_deleted_events = forms.BooleanField(
        label="Automatically remove deleted Exchange events from the CRM",
        required=False,
        help_text="When a rep deletes a synced event in Exchange, delete its CRM copy too; "
        "otherwise the CRM event is kept.",
    )
    auto_relate_events = forms.BooleanField(
        label="Automatically relate events to CRM contacts and leads",
        required=False,
        help_text="Relate a synced event that has no contact or lead yet to the one whose "
        "email address matches an attendee or the organiser (never for private events).",
    )
    # Step 15
    date_filter = forms.ChoiceField(
        label="Greater or equal to",
        choices=DATE_FILTER_CHOICES,
        initial="TODAY",
        widget=forms.RadioSelect,
        help_text="Events sync when they end on or after this day (00:00 in the org's time "
        "zone). TODAY keeps a rep's past calendar out of the CRM.",
    )
    date_filter_days = forms.CharField(
        label="N (days)",
        required=False,
        widget=forms.TextInput(attrs={"size": 4, "inputmode": "numeric"}),
        help_text="For LAST N DAYS: from 1 to 180.",
    )
    # How conflicts are settled (beyond the seed)
    conflict_policy = forms.ChoiceField(
        label="When both sides changed a contact",
        choices=_C.ConflictPolicy.choices,
        initial=_C.ConflictPolicy.CRM_WINS,
        widget=forms.RadioSelect,
        help_text="Which change is kept when a contact was edited in the CRM and in Exchange "
        "between two syncs.",
    )

    class Meta:
        model = SyncConfiguration
        # Every field is declared above: the model is written by the configuration service,
        # never by this form, so none of the model's own validation may run (it would
        # repeat, or contradict, the service's messages). Excluding every model field is how
        # a ModelForm is told so; the admin keeps a form's `exclude`.
        fields: list[str] = []
        exclude = [  # noqa: DJ006  (excludes everything: see above)
            f.name for f in SyncConfiguration._meta.get_fields() if f.concrete or f.many_to_many
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spec: ConfigurationSpec | None = None
        config_id = self.instance.pk
        users = self.fields["users"]
        profiles = self.fields["profiles"]
        assert isinstance(users, _AssignmentChoiceField)
        assert isinstance(profiles, _AssignmentChoiceField)
        users.queryset = (
            User.objects.exclude(email="")
            .select_related("configuration_assignment__configuration")
            .order_by("last_name", "first_name", "email")
        )
        profiles.queryset = Profile.objects.select_related(
            "configuration_assignment__configuration"
        ).order_by("name")
        users.configuration_id = profiles.configuration_id = config_id
        self.initial.update(self._initial_from(self.instance) if config_id else {})
        self.initial.setdefault("contact_field_mappings", CONTACTS.effective({}))
        self.initial.setdefault("event_field_mappings", EVENTS.effective({}))

    @staticmethod
    def _initial_from(config: SyncConfiguration) -> dict[str, Any]:
        spec = configurations.spec_of(config)
        ownership = spec.contacts.ownership
        date_filter, _, days = spec.events.date_filter.partition(":")
        return {
            "name": spec.name,
            "description": spec.description,
            "active": spec.active,
            "users": [a.user_id for a in config.configurationuser_set.all()],
            "profiles": [a.profile_id for a in config.configurationprofile_set.all()],
            "contacts_direction": spec.contacts.direction,
            "contact_field_mappings": CONTACTS.effective(spec.contacts.mappings),
            "events_direction": spec.events.direction,
            "event_scope": spec.events.scope,
            "event_field_mappings": EVENTS.effective(spec.events.mappings),
            "contact_scope": SCOPE_ALL if ownership == _C.Ownership.ALL else SCOPE_SELECTED,
            "users_records": ownership == _C.Ownership.USERS_RECORDS,
            "filters": [
                {"field": f.field, "operator": f.operator, "value": f.value}
                for f in spec.contacts.filters
            ],
            "sync_private_events": spec.events.sync_private,
            "auto_remove_deleted_events": spec.events.auto_remove_deleted,
            "auto_relate_events": spec.events.auto_relate,
            "date_filter": date_filter,
            "date_filter_days": days,
            "conflict_policy": spec.contacts.conflict_policy,
        }

    def to_spec(self) -> ConfigurationSpec:
        d = self.cleaned_data
        if d["contact_scope"] == SCOPE_ALL:
            ownership = _C.Ownership.ALL.value
        elif d["users_records"]:
            ownership = _C.Ownership.USERS_RECORDS.value
        else:
            ownership = _C.Ownership.SELECTED.value  # refused by the rules, with its message
        date_filter = d["date_filter"]
        if date_filter == LAST_N_DAYS:
            date_filter = f"{LAST_N_DAYS}:{d['date_filter_days'].strip()}"
        return ConfigurationSpec(
            name=d["name"],
            description=d["description"],
            active=d["active"],
            users=tuple(u.email for u in d["users"]),
            profiles=tuple(p.name for p in d["profiles"]),
            contacts=ContactsSpec(
                direction=d["contacts_direction"],
                ownership=ownership,
                filters=tuple(
                    FilterSpec(r["field"], r["operator"], r["value"]) for r in d["filters"]
                ),
                conflict_policy=d["conflict_policy"],
                mappings=d["contact_field_mappings"],
            ),
            events=EventsSpec(
                direction=d["events_direction"],
                scope=d["event_scope"],
                sync_private=d["sync_private_events"],
                auto_remove_deleted=d["auto_remove_deleted_events"],
                auto_relate=d["auto_relate_events"],
                date_filter=date_filter,
                mappings=d["event_field_mappings"],
            ),
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned  # a field could not even be read; fix that first
        self.spec = self.to_spec()
        instance = self.instance if self.instance.pk else None
        for path, messages in configurations.validate(self.spec, instance).items():
            self._place(path, messages)
        return cleaned

    def _place(self, path: str, messages: list[str]) -> None:
        if path.startswith("contacts.filters["):
            index = int(path[len("contacts.filters[") :].split("]", 1)[0])
            widget = self.fields["filters"].widget
            assert isinstance(widget, FilterRowsWidget)
            widget.row_errors.setdefault(index, []).extend(messages)
            for message in messages:
                self.add_error("filters", f"Filter {index + 1}: {message}")
            return
        if path == "events.date_filter":
            days = self.cleaned_data.get("date_filter") == LAST_N_DAYS
            field = "date_filter_days" if days else "date_filter"
        else:
            field = FIELD_FOR_PATH.get(path, "")
        for message in messages:
            self.add_error(field or None, message)

    def validate_unique(self) -> None:
        """Uniqueness is the configuration service's rule (names compare ignoring case)."""
