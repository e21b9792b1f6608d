from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from cleanup.models import PurgeRun


@admin.register(PurgeRun)
class PurgeRunAdmin(admin.ModelAdmin):
    """The audit trail: read-only, newest first. Runs start from the API, the command or beat."""

    list_display = (
        "id",
        "trigger",
        "outcome",
        "dry_run",
        "cutoff",
        "events_deleted",
        "unsynced_events_deleted",
        "profiles_deleted",
        "started_at",
        "finished_at",
    )
    list_filter = ("outcome", "trigger", "dry_run")
    ordering = ("-id",)
    readonly_fields = (
        "trigger",
        "outcome",
        "dry_run",
        "retention_days",
        "batch_size",
        "cutoff",
        "events_deleted",
        "unsynced_events_deleted",
        "profiles_deleted",
        "summary",
        "error",
        "created_at",
        "started_at",
        "heartbeat_at",
        "finished_at",
    )
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
