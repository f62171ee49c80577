"""Setup Audit Trail: a read-only list. Nobody adds, edits or deletes history from the UI."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from lightningsync import permissions as perms
from lightningsync.models import SetupAuditTrail


@admin.register(SetupAuditTrail)
class SetupAuditTrailAdmin(admin.ModelAdmin):
    list_display = ("date", "who", "section", "action", "old_value", "new_value")
    list_filter = ("section", "field", "created_at", ("user", admin.RelatedOnlyFieldListFilter))
    search_fields = ("actor", "section", "action", "field", "old_value", "new_value")
    date_hierarchy = "created_at"
    actions = None
    list_per_page = 100
    fields = ("created_at", "actor", "user", "section", "action", "field", "old_value", "new_value")
    readonly_fields = fields

    @admin.display(description="Date", ordering="created_at")
    def date(self, obj: SetupAuditTrail) -> Any:
        return obj.created_at

    @admin.display(description="User", ordering="actor")
    def who(self, obj: SetupAuditTrail) -> str:
        return obj.actor

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        user = request.user
        return user.has_perm(perms.VIEW_AUDIT_TRAIL) or user.has_perm(perms.VIEW_SETUP)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
