"""Admin pages of the CRM records (SPEC §1), so an admin can see what sync did.

Lists join their foreign keys up front (`list_select_related`), so a page costs the same
number of queries with 10 rows or 100. Besides Django's own model permissions, "View Setup
and Configuration" lets an admin read the records: they check sync results with it.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from lightningsync import permissions as perms
from lightningsync.models import Account, Contact, Event, Lead, Profile, User

OWNER_FILTER = ("owner", admin.RelatedOnlyFieldListFilter)


def owner_column(model: type[Account | Contact | Lead | Event]) -> Any:
    """The record owner's name as a list column, headed by the field's label ("Contact
    Owner"): a name, not "Alice Nguyen <alice@example.com>", keeps the column narrow."""

    @admin.display(description=model._meta.get_field("owner").verbose_name,
                   ordering="owner__last_name")
    def owner_name(self: admin.ModelAdmin, obj: Any) -> str:
        owner = obj.owner
        return (owner.get_full_name() or owner.username) if owner is not None else ""

    return owner_name


class SetupReadableAdmin(admin.ModelAdmin):
    """Readable with "View Setup and Configuration"; changing needs the model permissions."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj) or request.user.has_perm(perms.VIEW_SETUP)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return super().has_module_permission(request) or request.user.has_perm(perms.VIEW_SETUP)


@admin.register(Account)
class AccountAdmin(SetupReadableAdmin):
    list_display = ("name", "owner_name", "contact_count", "updated_at")
    list_select_related = ("owner",)
    list_filter = (OWNER_FILTER, "created_at", "updated_at")
    search_fields = ("name", "owner__email", "owner__last_name")
    autocomplete_fields = ("owner",)
    readonly_fields = ("created_at", "updated_at")
    owner_name = owner_column(Account)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Account]:
        return super().get_queryset(request).annotate(contact_count=Count("contacts"))

    @admin.display(description="Contacts", ordering="contact_count")
    def contact_count(self, obj: Account) -> int:
        return obj.contact_count  # type: ignore[attr-defined]


@admin.register(Contact)
class ContactAdmin(SetupReadableAdmin):
    list_display = ("name", "account", "title", "phone", "email", "owner_name", "updated_at")
    list_display_links = ("name",)
    list_select_related = ("owner", "account")
    list_filter = (
        OWNER_FILTER,
        ("account", admin.RelatedOnlyFieldListFilter),
        "mailing_country",
        "updated_at",
        "created_at",
    )
    search_fields = ("first_name", "last_name", "email", "account__name", "title", "phone")
    autocomplete_fields = ("owner", "account")
    readonly_fields = ("created_at", "updated_at")
    owner_name = owner_column(Contact)
    fieldsets = (
        (None, {"fields": ("owner", ("first_name", "last_name"), "email", "account")}),
        ("Work", {"fields": ("title", "department", ("assistant_name", "assistant_phone"))}),
        ("Phones", {"fields": (("phone", "mobile_phone"), ("home_phone", "fax"))}),
        (
            "Mailing address",
            {
                "fields": (
                    "mailing_street",
                    ("mailing_city", "mailing_state"),
                    ("mailing_postal_code", "mailing_country"),
                )
            },
        ),
        ("More", {"fields": ("birthdate", "description", ("created_at", "updated_at"))}),
    )

    @admin.display(description="Name", ordering="last_name")
    def name(self, obj: Contact) -> str:
        return str(obj)


@admin.register(Lead)
class LeadAdmin(SetupReadableAdmin):
    list_display = ("name", "company", "email", "owner_name", "created_at")
    list_select_related = ("owner",)
    list_filter = (OWNER_FILTER, "created_at")
    search_fields = ("first_name", "last_name", "email", "company")
    autocomplete_fields = ("owner",)
    readonly_fields = ("created_at", "updated_at")
    owner_name = owner_column(Lead)

    @admin.display(description="Name", ordering="last_name")
    def name(self, obj: Lead) -> str:
        return " ".join(p for p in (obj.first_name, obj.last_name) if p)


@admin.register(Event)
class EventAdmin(SetupReadableAdmin):
    list_display = (
        "subject",
        "start",
        "end",
        "owner_name",
        "who",
        "what_account",
        "show_as",
        "is_private",
    )
    list_select_related = ("owner", "who_contact", "who_lead", "what_account")
    list_filter = (
        OWNER_FILTER,
        "show_as",
        "is_private",
        "is_all_day",
        "start",
        "updated_at",
    )
    search_fields = ("subject", "location", "who_contact__last_name", "what_account__name")
    date_hierarchy = "start"
    autocomplete_fields = ("owner", "who_contact", "who_lead", "what_account")
    readonly_fields = ("created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("owner", "subject", ("start", "end"), "is_all_day", "location")}),
        ("Related to", {"fields": ("who_contact", "who_lead", "what_account")}),
        ("Details", {"fields": ("show_as", "is_private", "description")}),
        ("System", {"fields": (("created_at", "updated_at"),)}),
    )
    owner_name = owner_column(Event)

    @admin.display(description="Name")
    def who(self, obj: Event) -> str:
        return str(obj.who_contact or obj.who_lead or "")


@admin.register(Profile)
class ProfileAdmin(SetupReadableAdmin):
    list_display = ("name", "user_count", "sync_configuration")
    list_select_related = ("configuration_assignment__configuration",)
    search_fields = ("name",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Profile]:
        return super().get_queryset(request).annotate(user_count=Count("users"))

    @admin.display(description="Users", ordering="user_count")
    def user_count(self, obj: Profile) -> int:
        return obj.user_count  # type: ignore[attr-defined]

    @admin.display(description="Sync configuration")
    def sync_configuration(self, obj: Profile) -> str:
        assignment = getattr(obj, "configuration_assignment", None)
        return str(assignment.configuration) if assignment is not None else ""


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "email", "first_name", "last_name", "profile", "is_active")
    list_select_related = ("profile",)
    list_filter = ("profile", "is_active", "is_staff", "is_superuser", "groups")
    search_fields = ("username", "first_name", "last_name", "email", "profile__name")
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name", "email", "profile")}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    # Django's own add fieldset starts with the user name too: a field shown twice is two
    # inputs with one id, the second without a label.
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "email", "first_name", "last_name", "profile"),
            },
        ),
        *(
            (title, {**options, "fields": tuple(f for f in options["fields"] if f != "username")})
            for title, options in DjangoUserAdmin.add_fieldsets
        ),
    )

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj) or request.user.has_perm(perms.VIEW_SETUP)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        """Readers do not see the password row: all it offers them is "Reset password", a
        page that needs the change permission they lack."""
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or self.has_change_permission(request, obj):
            return fieldsets
        return [
            (title, {**options, "fields": tuple(f for f in options["fields"] if f != "password")})
            for title, options in fieldsets
        ]
