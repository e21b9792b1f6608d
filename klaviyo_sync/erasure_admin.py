"""Erasure requests in admin: read-only, with their state (and, once Klaviyo accepted them, only
the identifier's SHA-256); failed ones can be sent again."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from events.admin import StaffStyles, error_cell, short_time
from events.models import ErasureRequest
from klaviyo_sync.erasure_sync import erasures_retry
from klaviyo_sync.erasure_tasks import queue_erasure_send

RETRY_CAP = 1000  # requests one "retry" takes at most


@admin.register(ErasureRequest)
class ErasureRequestAdmin(admin.ModelAdmin):
    Media = StaffStyles
    list_display = (
        "id",
        "state",
        "identifier_kind",
        "identifier_shown",
        "deleted_profiles",
        "deleted_events",
        "short_error",
        "requested",
        "sent",
    )
    list_filter = ("status", "identifier_kind")
    search_fields = ("=identifier_sha256",)
    search_help_text = "The SHA-256 (hex) of an email, phone number or external id."
    list_per_page = 100
    ordering = ("-requested_at",)
    readonly_fields = [field.name for field in ErasureRequest._meta.fields]
    actions = ("retry",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # an audit trail: made by the API, moved on by the worker

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="status", ordering="status")
    def state(self, erasure: ErasureRequest) -> str:
        attempts = f" \N{MULTIPLICATION SIGN}{erasure.attempts}" if erasure.attempts else ""
        return format_html(
            '<span class="status status-{}" title="{}">{}</span>{}',
            erasure.status,
            erasure.get_status_display(),
            erasure.status,
            attempts,
        )

    @admin.display(description="identifier")
    def identifier_shown(self, erasure: ErasureRequest) -> str:
        if erasure.identifier:
            return erasure.identifier
        return format_html(
            '<span title="SHA-256 {}">sha256:{}…</span>',
            erasure.identifier_sha256,
            erasure.identifier_sha256[:16],
        )

    @admin.display(description="last error")
    def short_error(self, erasure: ErasureRequest) -> str:
        return error_cell(erasure.last_error)

    @admin.display(description="requested", ordering="requested_at")
    def requested(self, erasure: ErasureRequest) -> str:
        return short_time(erasure.requested_at)

    @admin.display(description="sent", ordering="sent_at")
    def sent(self, erasure: ErasureRequest) -> str:
        return short_time(erasure.sent_at)

    @admin.action(description="Send the selected failed erasures to Klaviyo again")
    def retry(self, request: HttpRequest, queryset: QuerySet[ErasureRequest]) -> None:
        chosen = [str(pk) for pk in queryset.values_list("id", flat=True)[:RETRY_CAP]]
        ids = erasures_retry(erasure_ids=chosen)
        not_queued = sum(1 for erasure_id in ids if not queue_erasure_send(erasure_id))
        if not ids:
            self.message_user(
                request, "None of the selected erasures had failed.", messages.WARNING
            )
            return
        self.message_user(request, f"{len(ids)} erasures queued for Klaviyo again.")
        if not_queued:
            self.message_user(
                request,
                f"{not_queued} could not be queued (broker down): the sweeper will send them.",
                messages.WARNING,
            )
