"""The error report (SPEC §9): Lightning Sync Errors as an admin list.

Filters (user, object, direction, kind, date, resolved), search, a "Grand Totals (N
records)" line, an Export of the filtered rows as CSV (streamed: memory stays flat at any
size), links to the CRM record, and the Retry action. Reading and exporting need "Run
Reports"; Retry changes what the engine does next, so it needs Manage Users and Manage
Exchange Configurations too (as Reset Sync does). Nobody adds, edits or deletes rows here.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from lightningsync import permissions as perms
from lightningsync.models import Contact, LightningSyncError
from syncengine.cycle.retry import retry_errors

from .access import require

EXPORT_COLUMNS = (
    ("Last occurred (UTC)", "last_occurred_at"),
    ("First occurred (UTC)", "first_occurred_at"),
    ("User", "user__email"),
    ("Object", "object"),
    ("Direction", "direction"),
    ("Kind", "kind"),
    ("Message", "message"),
    ("Suggestion", "suggestion"),
    ("Count", "count"),
    ("Resolved", "resolved"),
    ("CRM record", "crm_record_id"),
    ("Exchange item ID", "exchange_item_id"),
)
EXPORT_CHUNK = 2000


def _csv_lines(rows: QuerySet[LightningSyncError]) -> Iterator[str]:
    """The CSV text, a few hundred rows per piece (one piece per row would cost more in the
    server than the rows themselves)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    labels = {
        "object": dict(LightningSyncError.Object.choices),
        "direction": dict(LightningSyncError.Direction.choices),
        "kind": dict(LightningSyncError.Kind.choices),
    }
    writer.writerow([title for title, _ in EXPORT_COLUMNS])
    names = [name for _, name in EXPORT_COLUMNS]
    convert = [_converter(name, labels.get(name)) for name in names]
    for n, values in enumerate(rows.values_list(*names).iterator(chunk_size=EXPORT_CHUNK), 1):
        writer.writerow([f(v) for f, v in zip(convert, values, strict=True)])
        if n % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _converter(name: str, labels: dict[str, str] | None) -> Any:
    """How a column's value is written: choices by their label, times in UTC, Yes/No."""
    if labels is not None:
        return lambda value: labels.get(value, value)
    if name.endswith("_at"):
        return lambda value: "" if value is None else value.astimezone(dt.UTC).strftime(
            "%Y-%m-%d %H:%M:%S")
    if name == "resolved":
        return lambda value: "Yes" if value else "No"
    return _safe_cell


def _safe_cell(value: Any) -> Any:
    """A cell a spreadsheet will not run as a formula (text Exchange sent may start with =)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


@admin.register(LightningSyncError)
class LightningSyncErrorAdmin(admin.ModelAdmin):
    # The suggestion reads under its message: one column of sentences leaves the table
    # narrow enough for a laptop's screen (two such columns pushed Count, CRM record and
    # Resolved out of sight). The CSV keeps them apart.
    list_display = ("last_occurred_at", "user_name", "object", "direction", "kind",
                    "message_and_suggestion", "count", "crm_record", "resolved")
    list_display_links = None
    list_select_related = ("user", "contact")
    list_filter = (
        ("user", admin.RelatedOnlyFieldListFilter),
        "object", "direction", "kind", "last_occurred_at", "resolved",
    )
    search_fields = ("message", "suggestion", "user__email", "user__first_name",
                     "user__last_name", "exchange_item_id", "crm_record_id")
    actions = ["retry"]
    # A row's own page: read-only text (the user and the CRM record are named, not linked:
    # the reader may not be allowed to open them).
    fields = ("last_occurred_at", "first_occurred_at", "user_name", "object", "direction",
              "kind", "message", "suggestion", "count", "resolved", "resolved_at",
              "exchange_item_id", "crm_record_id")
    readonly_fields = fields
    list_per_page = 100
    # "Grand Totals" counts the filtered rows; the unfiltered total is not counted as well.
    show_full_result_count = False
    change_list_template = "admin/lightningsync/lightningsyncerror/change_list.html"

    # -- permissions --------------------------------------------------------------------
    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perms(perms.ERROR_REPORT)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perms(perms.ERROR_REPORT + perms.RESET_USERS)

    # -- columns ------------------------------------------------------------------------
    def get_list_display(self, request: HttpRequest) -> Any:
        """The CRM record links to the contact for those who may open it, else its id."""
        contacts = self.admin_site._registry.get(Contact)
        if contacts is not None and contacts.has_view_permission(request):
            return self.list_display
        return tuple("crm_record_id" if c == "crm_record" else c for c in self.list_display)

    @admin.display(description="User", ordering="user__last_name")
    def user_name(self, obj: LightningSyncError) -> str:
        user = obj.user
        return f"{user.get_full_name() or user.username} <{user.email}>"

    @admin.display(description="Message", ordering="message")
    def message_and_suggestion(self, obj: LightningSyncError) -> str:
        if not obj.suggestion:
            return obj.message
        return format_html('{}<span class="ls-error__suggestion"><b>Suggestion:</b> {}</span>',
                           obj.message,
                           obj.suggestion)

    @admin.display(description="CRM record")
    def crm_record(self, obj: LightningSyncError) -> str:
        if obj.contact_id is None:
            return obj.crm_record_id
        try:
            url = reverse("admin:lightningsync_contact_change", args=[obj.contact_id])
        except NoReverseMatch:
            return obj.crm_record_id
        # The contact's name, as the report's readers know it (its id when it has none).
        return format_html('<a href="{}">{}</a>', url,
                           str(obj.contact).strip() or f"Contact {obj.contact_id}")

    # -- Retry --------------------------------------------------------------------------
    @admin.action(description="Retry the selected errors", permissions=["retry"])
    def retry(self, request: HttpRequest, queryset: QuerySet[LightningSyncError]) -> None:
        done = retry_errors(queryset.values_list("pk", flat=True))
        said = [f"{done.items} refused item{'s' if done.items != 1 else ''} will be tried "
                "again at the next cycle",
                f"{done.users_resumed} paused user{'s' if done.users_resumed != 1 else ''} "
                "resumed"]
        if done.not_retryable:
            said.append(f"{done.not_retryable} row{'s' if done.not_retryable != 1 else ''} "
                        "left as they were (they retry by themselves, or need Reset Sync or "
                        "a fix in the CRM)")
        messages.success(request, "; ".join(said) + ".")

    # -- export -------------------------------------------------------------------------
    def get_urls(self) -> list[URLPattern]:
        export = path("export/", self.admin_site.admin_view(self.export_csv),
                      name="lightningsync_lightningsyncerror_export")
        return [export, *super().get_urls()]

    def export_csv(self, request: HttpRequest) -> StreamingHttpResponse:
        """The rows the list shows with the same filters and search, every page, as CSV."""
        require(request.user, perms.ERROR_REPORT)
        changelist = self.get_changelist_instance(request)
        rows = changelist.get_queryset(request).order_by("-last_occurred_at", "-pk")
        response = StreamingHttpResponse(_csv_lines(rows), content_type="text/csv; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = (
            f'attachment; filename="lightning-sync-errors-{stamp}.csv"')
        return response

    def changelist_view(self, request: HttpRequest,
                        extra_context: dict[str, Any] | None = None) -> Any:
        query = request.GET.urlencode()
        export_url = reverse("admin:lightningsync_lightningsyncerror_export")
        context = {**(extra_context or {}),
                   "export_url": f"{export_url}?{query}" if query else export_url}
        return super().changelist_view(request, context)
