"""Reads of the events app from the local database.

The counts and emails are range scans on one of Event's indexes (event_name, time, email) or
(email, event_name, time), covering what they select; a page of the event list is a range scan
of the index event_list_index names. None loads more rows than it returns.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Count, F, Max, Min, Q, QuerySet
from django.db.models.functions import Collate

from events.models import ErasureRequest, Event, Metric, Profile, SyncStatus


@dataclass(frozen=True)
class MetricSummary:
    name: str
    klaviyo_id: str | None
    local_count: int


@dataclass(frozen=True)
class ProfileMetricSummary:
    metric: str
    count: int
    first_time: datetime
    last_time: datetime


def day_bounds(*, day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[local midnight, next local midnight) of `day` in `tz`, in UTC: 23 or 25 hours on DST days.

    A midnight that doesn't exist (a zone springing forward at 00:00) resolves to the first
    instant of the day, as zoneinfo's fold=0 does.
    """
    start = datetime.combine(day, time(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def metric_list_with_counts() -> list[MetricSummary]:
    """Every metric name known locally (the Metric table and the events), with Klaviyo's id when
    known and the number of stored events, sorted by name.

    The counts are one GROUP BY over the (event_name, time, email) index: it reads the index,
    not the table, but it does read all of it.
    """
    counts = dict(
        Event.objects.order_by()
        .values("event_name")
        .annotate(n=Count("*"))
        .values_list("event_name", "n")
    )
    klaviyo_ids = dict(Metric.objects.values_list("name", "klaviyo_id"))
    names = sorted(counts.keys() | klaviyo_ids.keys())
    return [
        MetricSummary(name=name, klaviyo_id=klaviyo_ids.get(name), local_count=counts.get(name, 0))
        for name in names
    ]


def metric_klaviyo_id(*, name: str) -> str | None:
    return Metric.objects.filter(name=name).values_list("klaviyo_id", flat=True).first()


def event_count_in_window(*, event_name: str, start: datetime, end: datetime) -> int:
    """Events of `event_name` with start <= time < end, every sync status included."""
    return Event.objects.filter(event_name=event_name, time__gte=start, time__lt=end).count()


def _email_ordered(queryset: QuerySet) -> QuerySet:
    """Orders and compares emails by code point, as Python's sorted() does, so that a cursor
    means the same on the local and the Klaviyo path (MariaDB's default collation doesn't)."""
    if connection.vendor == "mysql":
        return queryset.annotate(email_key=Collate(F("email"), "utf8mb4_bin"))
    return queryset.annotate(email_key=F("email"))


def event_emails_in_window(
    *, event_name: str, start: datetime, end: datetime, after: str | None, limit: int
) -> list[str]:
    """Up to `limit` distinct emails of `event_name` events in [start, end), sorted, each greater
    than `after` (the cursor). Events without an email (phone-only profiles) have none to list."""
    queryset = _email_ordered(
        Event.objects.filter(event_name=event_name, time__gte=start, time__lt=end)
    ).filter(email_key__gt=after or "")
    return list(
        queryset.order_by("email_key").values_list("email_key", flat=True).distinct()[:limit]
    )


def profile_get_by_email(*, email: str) -> Profile | None:
    """Emails are stored lower-case, so the lookup is case-insensitive through the unique index."""
    return Profile.objects.filter(email=email.strip().lower()).first()


def profile_metric_summaries(*, email: str) -> list[ProfileMetricSummary]:
    """Per metric: how many events the email did, first and last time (the email index)."""
    rows = (
        Event.objects.filter(email=email.strip().lower())
        .order_by("event_name")
        .values("event_name")
        .annotate(n=Count("*"), first=Min("time"), last=Max("time"))
    )
    return [
        ProfileMetricSummary(
            metric=row["event_name"],
            count=row["n"],
            first_time=row["first"],
            last_time=row["last"],
        )
        for row in rows
    ]


def metric_names_by_klaviyo_id() -> dict[str, str]:
    """The cached Klaviyo metric ids, reversed; a few hundred rows at most."""
    return {
        klaviyo_id: name
        for name, klaviyo_id in Metric.objects.exclude(klaviyo_id=None).values_list(
            "name", "klaviyo_id"
        )
    }


# --- The sync's backlog (/health, /metrics, GET /cleanup/stats) ---------------------------------


def event_counts_by_sync_status() -> dict[str, int]:
    """Every sync status with its number of stored events (0 for a status none has)."""
    counts = dict.fromkeys(SyncStatus.values, 0)
    rows = Event.objects.order_by().values_list("sync_status").annotate(n=Count("*"))
    counts.update(dict(rows))
    return counts


def event_pending_oldest_created_at() -> datetime | None:
    """When the oldest event not yet sent was stored (the sync-status index); None if none is."""
    return Event.objects.filter(sync_status=SyncStatus.PENDING).aggregate(oldest=Min("created_at"))[
        "oldest"
    ]


def event_failed_count() -> int:
    return Event.objects.filter(sync_status=SyncStatus.FAILED).count()


# --- What became of the events a client posted (GET /events/{id}, GET /events) ---------------


@dataclass(frozen=True)
class EventPosition:
    """Where a page of GET /events ended: the last event's createdAt and id."""

    created_at: datetime
    id: uuid.UUID


def event_get(*, event_id: uuid.UUID) -> Event | None:
    return Event.objects.filter(pk=event_id).first()


def erasure_get(*, erasure_id: str) -> ErasureRequest | None:
    return ErasureRequest.objects.filter(pk=erasure_id).first()


def event_list_queryset(
    *,
    sync_status: str | None = None,
    metric: str | None = None,
    email: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: EventPosition | None = None,
) -> QuerySet:
    """The events matching every filter given, newest stored first (createdAt, then id,
    descending), each after `after`.

    since/until bound createdAt (when the event was stored here): the one order every filter
    shares, so the filters are a range scan of one index ending in created_at
    (event_list_index; InnoDB appends the primary key, the tie-break) read backwards and
    stopped after the page, never a sort of the matches.
    """
    queryset = Event.objects.all()
    if sync_status is not None:
        queryset = queryset.filter(sync_status=sync_status)
    if metric is not None:
        queryset = queryset.filter(event_name=metric)
    if email is not None:
        queryset = queryset.filter(email=email.strip().lower())
    if since is not None:
        queryset = queryset.filter(created_at__gte=since)
    if until is not None:
        queryset = queryset.filter(created_at__lt=until)
    if after is not None:
        # created_at <= x first, a range the index serves; the OR only breaks ties
        # (MariaDB does not range-scan a row comparison such as (created_at, id) < (x, y)).
        queryset = queryset.filter(created_at__lte=after.created_at).filter(
            Q(created_at__lt=after.created_at) | Q(id__lt=after.id)
        )
    return queryset.order_by("-created_at", "-id")


def event_list_index(
    *, sync_status: str | None = None, metric: str | None = None, email: str | None = None
) -> str:
    """The index that holds the events of these filters as one range in createdAt order, or
    the fewest rows to check: an email has few events, a metric many, a status most."""
    if email is not None:
        return "event_email_created"
    if metric is not None:
        return "event_name_status_created" if sync_status is not None else "event_name_created"
    return "event_status_created" if sync_status is not None else "event_created_at"


def event_list_statement(*, limit: int, **filters: Any) -> tuple[str, tuple[Any, ...]]:
    """The SELECT of up to `limit` events of event_list_queryset(**filters), told on MariaDB
    to read event_list_index. Left to choose, for a status's next page its optimizer walked
    event_created_at, reading each row for its status (1M events, 5,500 rows, 300-500 ms:
    bench/queries.py; before migration 0013), or took event_status_requeue and sorted every
    match (events/tests/test_event_reads.py)."""
    sql, params = event_list_queryset(**filters)[:limit].query.sql_with_params()
    if connection.vendor == "mysql":
        index = event_list_index(
            sync_status=filters.get("sync_status"),
            metric=filters.get("metric"),
            email=filters.get("email"),
        )
        table = connection.ops.quote_name(Event._meta.db_table)
        hint = f"FORCE INDEX ({connection.ops.quote_name(index)})"
        sql = sql.replace(f"FROM {table} ", f"FROM {table} {hint} ", 1)
    return sql, params


def event_list(*, limit: int, **filters: Any) -> tuple[list[Event], EventPosition | None]:
    """Up to `limit` events of event_list_queryset(**filters), and the position of the next
    page (None on the last one)."""
    rows = list(Event.objects.raw(*event_list_statement(limit=limit + 1, **filters)))
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], EventPosition(created_at=last.created_at, id=last.id)
