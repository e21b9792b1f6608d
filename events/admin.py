"""Events and profiles in admin, with what happened when they were sent to Klaviyo (the
actions that send them again are klaviyo_sync's: klaviyo_sync/admin.py).

Built for tables of millions of rows: no COUNT(*) of the whole table (the paginator counts at
most COUNT_CAP rows), filters and search that use indexes, and the list's ordering is the
created-at index.
"""

import sys
from datetime import datetime
from typing import Any

from django.contrib import admin
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.timezone import localtime

from events.failures import FAILURE_STATUSES, failure_groups, reason_of_key
from events.models import Event, Profile, SyncStatus

# Rows the list counts at most: enough pages to browse, bounded cost whatever the table size.
COUNT_CAP = 10_000
EVENT_NAME_CHOICES = 200
REASON_CHOICES = 10
TIMES = "\N{MULTIPLICATION SIGN}"  # after the status: "failed x8" (eight attempts)
# Characters of an error shown in a list (the whole text on hover).
ERROR_CHARS = 60


class CappedCountPaginator(Paginator):
    """Counts at most COUNT_CAP + 1 rows (`SELECT COUNT(*) FROM (... LIMIT n)`): the list
    shows '10001' for anything bigger instead of scanning millions of rows to count them."""

    @cached_property
    def count(self) -> int:
        # Unordered: sorting doesn't change a count, and an ORDER BY would make MariaDB walk
        # the sort's index (created_at) instead of the filter's, reading rows to test them
        # (a common email prefix: 1.1 s for 10,001 rows, in bench/dashboard.py).
        return self.object_list.order_by()[: COUNT_CAP + 1].count()


def prefix_range(prefix: str) -> tuple[str, str]:
    """The strings that start with `prefix` are those >= it and < this successor (the last
    character's code point plus one), in code point order: that of the binary collations of
    the text keys on MariaDB (migration 0003) and of SQLite."""
    head = prefix
    while head and ord(head[-1]) == sys.maxunicode:
        head = head[:-1]
    if not head:
        return prefix, chr(sys.maxunicode) * 2
    return prefix, head[:-1] + chr(ord(head[-1]) + 1)


def profile_exact_keys(term: str) -> list[tuple[str, str]]:
    """The profile columns a search term may name exactly, each with its own index."""
    return [
        ("identity", term),
        ("identity", term.lower()),
        ("phone_number", term),
        ("external_id", term),
        ("klaviyo_id", term),
    ]


def short_time(moment: datetime | None) -> str:
    """`11-29 15:20:16`, the whole date and time on hover: a list of three times fits 1,400 px
    (the retention period is days, not years)."""
    if not moment:
        return "-"
    moment = localtime(moment)
    return format_html(
        '<span class="nowrap" title="{}">{}</span>',
        moment.strftime("%Y-%m-%d %H:%M:%S %Z"),
        moment.strftime("%m-%d %H:%M:%S"),
    )


def status_label(status: str, *, attempts: int | None = None) -> str:
    """A short coloured label (staff.css): `failed`, not `Failed`; `skipped`, not `Skipped
    (no Klaviyo key)`; the long name (and the attempts) on hover, the attempts beside it."""
    label = SyncStatus(status).label
    if attempts:
        label = f"{label}, {attempts} attempt{'s' if attempts != 1 else ''}"
    return format_html(
        '<span class="status status-{}" title="{}">{}</span>{}',
        status,
        label,
        status,
        format_html(' <span class="attempts">{}{}</span>', TIMES, attempts) if attempts else "",
    )


def error_cell(text: str) -> str:
    """The error cut to one line in the list; the whole text on hover."""
    if not text:
        return "-"
    return format_html(
        '<span class="error-text" title="{}">{}</span>', text, Truncator(text).chars(ERROR_CHARS)
    )


class StaffStyles:
    css = {"all": ("core/staff.css",)}


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


class FailureReasonFilter(admin.SimpleListFilter):
    """Failed or skipped events of one reason (events/failures.py), as the dashboard groups
    them: `?reason=<key>`, with the status filter or without."""

    title = "failure reason"
    parameter_name = "reason"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        # Grouping reads every failed row's error: only when the list is about failures.
        if request.GET.get("sync_status__exact") not in FAILURE_STATUSES and not self.value():
            return []
        choices = [
            (group["key"], f"{group['status']}: {Truncator(group['reason']).chars(60)}")
            for group in failure_groups(limit=REASON_CHOICES)
        ]
        if self.value() and self.value() not in {key for key, _ in choices}:
            choices.append((self.value(), "the reason chosen"))
        return choices

    def queryset(self, request: HttpRequest, queryset: QuerySet[Event]) -> QuerySet[Event]:
        if not self.value():
            return queryset
        reason = reason_of_key(key=self.value())
        if reason is None:
            return queryset.none()
        return queryset.filter(sync_status__in=FAILURE_STATUSES, failure_reason=reason)


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    Media = StaffStyles
    list_display = (
        "received",
        "event_name",
        "email",
        "event_time",
        "status",
        "short_error",
        "synced",
    )
    list_filter = (
        "sync_status",
        FailureReasonFilter,
        EventNameFilter,
        ("created_at", admin.DateFieldListFilter),
        ("time", admin.DateFieldListFilter),
    )
    # Both use an index (email's range, unique_id's lookup); a substring search couldn't.
    search_fields = ("email", "unique_id")
    search_help_text = "An exact uniqueId (case matters), else the start of an email (any case)."
    # No join: the list shows the event's own columns. With one, MariaDB read the profiles
    # first and sorted a million joined rows for a page of 100 (minutes; bench/dashboard.py).
    list_select_related = False
    show_full_result_count = False
    paginator = CappedCountPaginator
    list_per_page = 100
    ordering = ("-created_at",)
    readonly_fields = [field.name for field in Event._meta.fields]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Event], search_term: str
    ) -> tuple[QuerySet[Event], bool]:
        # One index each, never an OR of the two (MariaDB scans the table for that): a uniqueId
        # is looked up exactly on its unique index (case matters, as in Klaviyo) and wins;
        # otherwise the emails starting with the lower-cased term (emails are stored
        # lower-cased) are a range of the (email, event_name, time) index: `>= term and <
        # successor`, not Django's LIKE BINARY, which MariaDB can't read as a range.
        # events/tests/test_admin_search_plan.py pins both plans on MariaDB; bench/dashboard.py
        # times them on 1M events.
        term = search_term.strip()
        if not term:
            return queryset, False
        if Event.objects.filter(unique_id=term).exists():
            return queryset.filter(unique_id=term), False
        low, high = prefix_range(term.lower())
        return queryset.filter(email__gte=low, email__lt=high), False

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

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a record of what a client sent: read only (no save buttons)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the purge and erasure delete, with their audit trail

    @admin.display(description="received", ordering="created_at")
    def received(self, event: Event) -> str:
        return short_time(event.created_at)

    @admin.display(description="event time", ordering="time")
    def event_time(self, event: Event) -> str:
        return short_time(event.time)

    @admin.display(description="synced", ordering="synced_at")
    def synced(self, event: Event) -> str:
        return short_time(event.synced_at)

    @admin.display(description="status", ordering="sync_status")
    def status(self, event: Event) -> str:
        return status_label(event.sync_status, attempts=event.attempts)

    @admin.display(description="last error")
    def short_error(self, event: Event) -> str:
        return error_cell(event.last_error)


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    Media = StaffStyles
    list_display = (
        "identity",
        "email",
        "status",
        "klaviyo_link",
        "short_error",
        "synced",
        "updated",
    )
    list_filter = ("sync_status",)
    search_fields = ("email", "identity", "phone_number", "external_id", "klaviyo_id")
    search_help_text = (
        "The start of an email (any case), or an exact phone number, external id or Klaviyo id."
    )
    show_full_result_count = False
    paginator = CappedCountPaginator
    list_per_page = 100
    ordering = ("-id",)
    readonly_fields = [field.name for field in Profile._meta.fields]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Profile], search_term: str
    ) -> tuple[QuerySet[Profile], bool]:
        # Each id is an exact lookup on its own index (an OR of them would scan the table on
        # MariaDB); when none matches, the emails starting with the term, a range of the email
        # index. Emails (and email identities) are stored lower-cased.
        term = search_term.strip()
        if not term:
            return queryset, False
        exact: set[int] = set()
        for field, value in profile_exact_keys(term):
            exact.update(
                Profile.objects.filter(**{field: value}).values_list("id", flat=True)[:100]
            )
        if exact:
            return queryset.filter(id__in=exact), False
        low, high = prefix_range(term.lower())
        return queryset.filter(email__gte=low, email__lt=high), False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # changed by the API only (merges, erasure), never by hand

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="status", ordering="sync_status")
    def status(self, profile: Profile) -> str:
        return status_label(profile.sync_status)

    @admin.display(description="synced", ordering="synced_at")
    def synced(self, profile: Profile) -> str:
        return short_time(profile.synced_at)

    @admin.display(description="updated", ordering="updated_at")
    def updated(self, profile: Profile) -> str:
        return short_time(profile.updated_at)

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
        return error_cell(profile.last_error)
