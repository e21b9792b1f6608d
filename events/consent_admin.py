"""Consent changes in admin: what each request asked (kind, channels, list, its addresses
inline) and what Klaviyo answered (status, attempts, last error, job ids). Read only; the
"retry" action is klaviyo_sync's (klaviyo_sync/admin.py registers the page with it)."""

from itertools import combinations
from typing import Any

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from events.admin import CappedCountPaginator, StaffStyles, error_cell, short_time, status_label
from events.models import ConsentChange, ConsentChangeProfile
from klaviyo_client.consent import CHANNELS


class ChannelFilter(admin.SimpleListFilter):
    """Changes of a channel. Channels are stored in one order (email, sms), so a channel's
    changes are those whose list is one of the few that hold it: an exact JSON match, which
    every database does (a JSON `contains` SQLite does not)."""

    title = "channel"
    parameter_name = "channel"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(channel, channel) for channel in CHANNELS]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[ConsentChange]
    ) -> QuerySet[ConsentChange]:
        if self.value() not in CHANNELS:
            return queryset
        holding = Q()
        for size in range(1, len(CHANNELS) + 1):
            for combination in combinations(CHANNELS, size):
                if self.value() in combination:
                    holding |= Q(channels=list(combination))
        return queryset.filter(holding)


class ConsentChangeProfileInline(admin.TabularInline):
    model = ConsentChangeProfile
    fields = ("email", "phone_number", "consented_at", "profile", "klaviyo_id", "sent_at")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False
    verbose_name = "address"
    verbose_name_plural = "addresses (what was asked for each, and when Klaviyo accepted it)"

    def get_queryset(self, request: HttpRequest) -> QuerySet[ConsentChangeProfile]:
        return super().get_queryset(request).select_related("profile")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ConsentChangeAdmin(admin.ModelAdmin):
    Media = StaffStyles
    list_display = (
        "id",
        "kind",
        "channel_list",
        "list_id",
        "profile_count",
        "status_cell",
        "short_error",
        "received",
        "sent",
    )
    list_filter = ("kind", "status", ChannelFilter, ("created_at", admin.DateFieldListFilter))
    search_fields = ("profiles__email",)
    search_help_text = "An exact email or E.164 phone number carried by the change."
    show_full_result_count = False
    paginator = CappedCountPaginator
    list_per_page = 100
    ordering = ("-id",)
    inlines = (ConsentChangeProfileInline,)
    readonly_fields = [field.name for field in ConsentChange._meta.fields]
    fieldsets = (
        (None, {"fields": ("id", "kind", "channels", "list_id", "historical_import")}),
        (
            "Klaviyo",
            {
                "fields": (
                    "status",
                    "attempts",
                    "last_error",
                    "klaviyo_job_ids",
                    "next_attempt_at",
                    "created_at",
                    "sent_at",
                    "profile_count",
                )
            },
        ),
    )

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[ConsentChange], search_term: str
    ) -> tuple[QuerySet[ConsentChange], bool]:
        # Exact lookups on the addresses' email and phone indexes, never a substring scan.
        term = search_term.strip()
        if not term:
            return queryset, False
        carrying = ConsentChangeProfile.objects.filter(
            Q(email=term.lower()) | Q(phone_number=term)
        ).values("change_id")
        return queryset.filter(id__in=carrying), False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # consent changes come through the API, which validates them

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a record of what was asked and answered: read only

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # legal data: kept as the audit of consent

    @admin.display(description="channels")
    def channel_list(self, change: ConsentChange) -> str:
        return ", ".join(change.channels) or "-"

    @admin.display(description="status", ordering="status")
    def status_cell(self, change: ConsentChange) -> str:
        return status_label(change.status, attempts=change.attempts)

    @admin.display(description="last error")
    def short_error(self, change: ConsentChange) -> str:
        return error_cell(change.last_error)

    @admin.display(description="received", ordering="created_at")
    def received(self, change: ConsentChange) -> str:
        return short_time(change.created_at)

    @admin.display(description="sent", ordering="sent_at")
    def sent(self, change: ConsentChange) -> str:
        return short_time(change.sent_at)
