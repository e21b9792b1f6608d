"""Events and profiles in admin, with what happened when they were sent to Klaviyo (the
actions that send them again are klaviyo_sync's: klaviyo_sync/admin.py).

Built for tables of millions of rows: no COUNT(*) of the whole table (the paginator counts at
most COUNT_CAP rows), filters and search that use indexes, and the list's ordering is the
created-at index.
"""

from typing import Any

from django.contrib import admin
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.text import Truncator

from events.models import Event, Profile

# Rows the list counts at most: enough pages to browse, bounded cost whatever the table size.
COUNT_CAP = 10_000
EVENT_NAME_CHOICES = 200


class CappedCountPaginator(Paginator):
    """Counts at most COUNT_CAP + 1 rows (`SELECT COUNT(*) FROM (... LIMIT n)`): the list
    shows '10001' for anything bigger instead of scanning millions of rows to count them."""

    @cached_property
    def count(self) -> int:
        return self.object_list[: COUNT_CAP + 1].count()


class EventNameFilter(admin.SimpleListFilter):
    """Event names from the (event_name, time, email) index, not a scan of the events."""

    title = "event name"
    parameter_name = "event_name"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        names = (
            Event.objects.order_by("event_name")
            .values_list("event_name", flat=True)
            .distinct()[:EVENT_NAME_CHOICES]
        )
        return [(name, name) for name in names]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Event]) -> QuerySet[Event]:
        return queryset.filter(event_name=self.value()) if self.value() else queryset


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "event_name",
        "email",
        "time",
        "sync_status",
        "attempts",
        "short_error",
        "synced_at",
    )
    list_filter = (
        "sync_status",
        EventNameFilter,
        ("created_at", admin.DateFieldListFilter),
        ("time", admin.DateFieldListFilter),
    )
    # Exact matches only: they use the email and unique_id indexes, a substring search can't.
    search_fields = ("=email", "=unique_id")
    search_help_text = "Exact email (any case) or uniqueId (case matters, as in Klaviyo)."
    list_select_related = ("profile",)
    show_full_result_count = False
    paginator = CappedCountPaginator
    list_per_page = 100
    ordering = ("-created_at",)
    readonly_fields = [field.name for field in Event._meta.fields]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Event], search_term: str
    ) -> tuple[QuerySet[Event], bool]:
        # Django's "=field" is iexact, a LIKE that the exact (binary) collation of these columns
        # makes case-sensitive on MariaDB and SQLite makes case-insensitive: say what we mean.
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(Q(email=term.lower()) | Q(unique_id=term)), False

    fieldsets = (
        (None, {"fields": ("id", "event_name", "email", "profile", "time", "value", "unique_id")}),
        ("Data", {"fields": ("event_attributes", "profile_attributes")}),
        (
            "Klaviyo sync",
            {
                "fields": (
                    "sync_status",
                    "attempts",
                    "last_error",
                    "klaviyo_response",
                    "last_attempt_at",
                    "next_attempt_at",
                    "synced_at",
                    "created_at",
                )
            },
        ),
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # events come through the API, which validates them

    @admin.display(description="last error")
    def short_error(self, event: Event) -> str:
        return Truncator(event.last_error).chars(80)


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = (
        "identity",
        "email",
        "sync_status",
        "klaviyo_link",
        "short_error",
        "synced_at",
        "updated_at",
    )
    list_filter = ("sync_status",)
    search_fields = ("=email", "=identity", "=phone_number", "=external_id", "=klaviyo_id")
    search_help_text = "Exact email (any case), phone number, external id or Klaviyo id."
    show_full_result_count = False
    paginator = CappedCountPaginator
    list_per_page = 100
    ordering = ("-id",)
    readonly_fields = [field.name for field in Profile._meta.fields]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Profile], search_term: str
    ) -> tuple[QuerySet[Profile], bool]:
        # Emails (and email identities) are stored lower-cased; the other ids are exact.
        term = search_term.strip()
        if not term:
            return queryset, False
        exact = Q(identity=term) | Q(phone_number=term) | Q(external_id=term) | Q(klaviyo_id=term)
        return queryset.filter(exact | Q(email=term.lower()) | Q(identity=term.lower())), False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="Klaviyo id")
    def klaviyo_link(self, profile: Profile) -> str:
        if not profile.klaviyo_id:
            return "-"
        return format_html(
            '<a href="https://www.klaviyo.com/profile/{}" rel="noopener">{}</a>',
            profile.klaviyo_id,
            profile.klaviyo_id,
        )

    @admin.display(description="last error")
    def short_error(self, profile: Profile) -> str:
        return Truncator(profile.last_error).chars(80)
