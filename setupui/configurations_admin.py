"""Setup → Sync Configurations: list, create, edit and delete (SPEC §3, §11).

A plain ModelAdmin whose form hands a `ConfigurationSpec` to `lightningsync.configurations`
and whose save and delete go through that service too, so the page, import and the audit
trail share one set of rules. Reading needs "View Setup and Configuration" (or the manage
permissions); changing needs Manage Exchange Configurations AND Manage Users.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from lightningsync import configurations
from lightningsync import permissions as perms
from lightningsync.availability import EVENTS_SYNC_SCOPE
from lightningsync.contactfilters import FILTER_FIELDS
from lightningsync.fieldmaps import CONTACTS, EVENTS, Catalogue
from lightningsync.models import ContactFilter, SyncConfiguration, User
from setupui.configuration_forms import SyncConfigurationForm

VIA = "Setup page"

# The seed's steps, in order (step 10's intermediate Save is not needed on one page).
_STEP_FIELDSETS: list[tuple[str, dict[str, Any]]] = [
    (
        "Name and status",
        {
            "fields": ("name", "description", "active"),
            "description": "Name the configuration after the reps it serves, such as a region.",
        },
    ),
    (
        "Users and profiles",
        {
            "fields": ("users", "profiles"),
            "description": "Choose who syncs with these settings: users one by one, or whole "
            "profiles. A user chosen directly here is governed by this configuration even if "
            "their profile belongs to another one.",
        },
    ),
    ("Contacts", {"fields": ("contacts_direction",)}),
    (
        "Edit Field Mappings: contacts",
        {"fields": ("contact_field_mappings",), "classes": ("collapse",)},
    ),
    (
        "Events",
        {
            "fields": ("events_direction", "event_scope"),
            "description": format_html(
                '<p class="ls-notice ls-notice--info">{}</p>', EVENTS_SYNC_SCOPE
            ),
        },
    ),
    (
        "Edit Field Mappings: events",
        {"fields": ("event_field_mappings",), "classes": ("collapse",)},
    ),
    (
        "Contacts sent from the CRM to Exchange",
        {
            "fields": (("contact_scope", "users_records"), "filters"),
            "description": "Which CRM contacts reps sync to Exchange. These filters do not apply "
            "to contacts coming from Exchange.",
        },
    ),
    (
        "Event options",
        {"fields": ("sync_private_events", "auto_remove_deleted_events", "auto_relate_events")},
    ),
    (
        "Event date filter",
        {
            "fields": (("date_filter", "date_filter_days"),),
            "description": "Limit the Exchange events that sync to the CRM by when they end.",
        },
    ),
    ("Conflicts", {"fields": ("conflict_policy",)}),
]


def _read_only_fieldsets() -> list[tuple[str, dict[str, Any]]]:
    """The same sections for readers; the date filter reads as one value."""
    sets = []
    for title, options in _STEP_FIELDSETS:
        fields = tuple(
            "date_filter" if f == ("date_filter", "date_filter_days") else f
            for f in options["fields"]
        )
        sets.append((title, {**options, "fields": fields}))
    return sets


def _mapping_table(catalogue: Catalogue, stored: dict[str, str]) -> str:
    effective = catalogue.effective(stored)
    rows = format_html_join(
        "",
        "<tr><th scope='row'>{}</th><td>{}</td></tr>",
        (
            (crm.label, catalogue.exchange_fields[effective[crm.name]].label)
            if crm.name in effective and effective[crm.name] in catalogue.exchange_fields
            else (crm.label, "not synced")
            for crm in catalogue.crm_fields.values()
        ),
    )
    note = "defaults" if not stored else "customized"
    return format_html("<p>{}</p><table class='ls-mapping'>{}</table>", note.capitalize(), rows)


@admin.register(SyncConfiguration)
class SyncConfigurationAdmin(admin.ModelAdmin):
    form = SyncConfigurationForm
    list_display = (
        "name",
        "active",
        "user_count",
        "profile_count",
        "contacts_direction",
        "events_direction",
    )
    list_display_links = ("name",)
    list_filter = ("active", "contacts_direction", "events_direction")
    search_fields = ("name", "description")
    ordering = ("name",)

    class Media:
        css = {"all": ("setupui/configurations.css",)}
        js = ("setupui/configurations.js",)

    # --- permissions (SPEC §11) -------------------------------------------------------------

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        user = request.user
        return user.has_perm(perms.VIEW_SETUP) or user.has_perms(perms.MANAGE_CONFIGURATIONS)

    def _can_manage(self, request: HttpRequest) -> bool:
        return request.user.has_perms(perms.MANAGE_CONFIGURATIONS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._can_manage(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._can_manage(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._can_manage(request)

    # --- list -------------------------------------------------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet[SyncConfiguration]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                users_total=Count("configurationuser", distinct=True),
                profiles_total=Count("configurationprofile", distinct=True),
            )
        )

    @admin.display(description="Users", ordering="users_total")
    def user_count(self, obj: SyncConfiguration) -> int:
        return int(getattr(obj, "users_total", 0))

    @admin.display(description="Profiles", ordering="profiles_total")
    def profile_count(self, obj: SyncConfiguration) -> int:
        return int(getattr(obj, "profiles_total", 0))

    # --- the form ---------------------------------------------------------------------------

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: str | None = None
    ) -> SyncConfiguration | None:
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            configurations.prefetch_relations([obj])
        return obj

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None and not self.has_change_permission(request, obj):
            return _read_only_fieldsets()
        return _STEP_FIELDSETS

    def save_model(
        self, request: HttpRequest, obj: SyncConfiguration, form: Any, change: bool
    ) -> None:
        assert isinstance(form, SyncConfigurationForm) and form.spec is not None
        actor = request.user if isinstance(request.user, User) else None
        result = configurations.save(
            form.spec, user=actor, instance=obj if change else None, via=VIA
        )
        obj.pk = result.configuration.pk
        obj.refresh_from_db()
        for user, former in result.moved_users:
            who = user.get_full_name() or user.email
            self.message_user(request, f"Moved {who} from “{former}”.", messages.INFO)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """Users, profiles and filters were written by the service in `save_model`."""

    def delete_model(self, request: HttpRequest, obj: SyncConfiguration) -> None:
        actor = request.user if isinstance(request.user, User) else None
        configurations.delete(obj, user=actor, via=VIA)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[SyncConfiguration]) -> None:
        for obj in queryset:
            self.delete_model(request, obj)

    # --- read-only display (for "View Setup and Configuration") ------------------------------

    @admin.display(description="Contact fields")
    def contact_field_mappings(self, obj: SyncConfiguration) -> str:
        return _mapping_table(CONTACTS, obj.contact_mappings)

    @admin.display(description="Event fields")
    def event_field_mappings(self, obj: SyncConfiguration) -> str:
        return _mapping_table(EVENTS, obj.event_mappings)

    @admin.display(description="Contacts reps sync")
    def contact_scope(self, obj: SyncConfiguration) -> str:
        return str(SyncConfiguration.Ownership(obj.contacts_ownership).label)

    @admin.display(description="User's records", boolean=True)
    def users_records(self, obj: SyncConfiguration) -> bool:
        return obj.contacts_ownership == SyncConfiguration.Ownership.USERS_RECORDS

    @admin.display(description="Only contacts where")
    def filters(self, obj: SyncConfiguration) -> str:
        rows: list[ContactFilter] = list(obj.contact_filters.all())
        if not rows:
            return "No extra filters"
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li>{} {} “{}”</li>",
                (
                    (
                        FILTER_FIELDS[f.field].label if f.field in FILTER_FIELDS else f.field,
                        f.get_operator_display(),
                        f.value,
                    )
                    for f in rows
                ),
            ),
        )

    @admin.display(description="Greater or equal to")
    def date_filter(self, obj: SyncConfiguration) -> str:
        value = obj.event_date_filter
        if value.startswith("LAST_N_DAYS:"):
            return f"LAST {value.split(':', 1)[1]} DAYS"
        return value.replace("_", " ")
